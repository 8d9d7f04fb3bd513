"""Stage 1, defining a benchmark: a suite file, its components' params, the
plugin manager that finds the components, and the record of every metric.
Nothing here runs a model or reads a store."""
