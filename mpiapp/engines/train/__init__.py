"""The train engine (issue 9, DESIGN §6): per-symbol models, purged walk-forward CV, no look-ahead.

Pure functions on arrays (features, targets, folds, metrics) and the model families; no MPI here.
"""
