"""Job processes import numba's CPU target without its scipy BLAS probe and its cffi typing; results
are unchanged."""

import subprocess
import sys

PROG = r"""
import sys
lean = sys.argv[1] == "lean"
if lean:
    from mpiapp.runtime.lean import import_numba_kernels
    import_numba_kernels()
import numpy as np
from mpiapp import config
from mpiapp.engines.scan import ScanParams, scan_symbol
from mpiapp.io import synthetic
series, _ = synthetic.generate(0, 0, 3000, 1.0, 0.1, 1)
params = ScanParams.from_config(config.load(overrides=["scan.window_bars=300", "scan.up_to=4"]).scan)
res = scan_symbol(series, params, "numba").patterns
scipy_seen = "scipy" in sys.modules or "cffi" in sys.modules
import scipy.linalg  # importable again once the import is done
import cffi
print(scipy_seen, len(res["score"]), float(np.sum(res["score"])).hex(), int(np.sum(res["t5"])))
"""


def _run(mode):
    p = subprocess.run([sys.executable, "-c", PROG, mode], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout.split()


def test_numba_without_scipy_gives_the_same_scan():
    lean, plain = _run("lean"), _run("plain")
    assert lean[0] == "False" and plain[0] == "True"  # numba imports scipy and cffi unless blocked
    assert int(lean[1]) > 0 and lean[1:] == plain[1:]
