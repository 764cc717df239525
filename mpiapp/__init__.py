"""mpiapp: one SPMD program for market-data research at cluster scale."""

__version__ = "0.1.0"
