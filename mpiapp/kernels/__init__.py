"""Kernels: pure functions on arrays (no MPI, no files, no config objects).

numpy reference: pivots, windows, score, reference. Numba (`numba_scan`) and array-module
(`xp_scan`) backends are separate modules, imported only when used (numba and cupy stay unimported
until then).
"""
