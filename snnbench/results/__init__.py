"""Stage 3, results: the store that holds rows, and what is read from it: the
leaderboard, the regression gate and its statistics, the A/B compare of two
commits, and the static report. Nothing here trains a model."""
