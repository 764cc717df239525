"""The train engine (docs/train.md): per-symbol models, purged walk-forward CV, no look-ahead.

Pure functions on arrays (features, targets, folds, metrics, significance) and the model families;
the job on the work layer in job.py, unit.py and final_job.py (collectives only through the work
layer and runtime helpers, no raw MPI).
"""
