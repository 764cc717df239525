"""CuPy backend on a real GPU (skipped where cupy.cuda.is_available() is not True)."""

from __future__ import annotations

import pytest

from mpiapp.engines.scan import ScanParams, scan_symbol
from mpiapp.engines.scan.backends import cupy_status
from test_scan_helpers import random_walk

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not cupy_status()[0], reason=cupy_status()[1])]


def test_cupy_matches_numba():
    for seed in range(6):
        s = random_walk(1500, seed, vol=0.015)
        p = ScanParams(up_to=4, max_start_points=4, gpu_batch_size=1000, max_combinations=2000)
        a = scan_symbol(s, p, "numba")
        g = scan_symbol(s, p, "cupy")
        assert g.backend == "cupy"
        # same IEEE operations in the same order: integers exact, scores to 1e-6 (docs/scan.md, "Backends")
        assert a.equals(g, rtol=1e-6)
