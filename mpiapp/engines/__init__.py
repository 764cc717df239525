"""Domain engines, one package per job: scan (score), train, optbench, hpo, ddp.

Each takes its typed parameters from the config, calls the kernels and the io layer, and runs on the
work layer (a JobSpec of units, or `run` for a job without units: ddp's training phase, hpo); no raw
MPI here (tests/test_layering.py). Each has a report.py that reads its results file back.
"""
