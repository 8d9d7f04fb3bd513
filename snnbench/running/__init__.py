"""Stage 2, running cells: a cell of a suite becomes a result row (assembly,
training session, metrics), executors run many cells, lifecycle hooks watch
them, and the runner writes each finished row to the store."""
