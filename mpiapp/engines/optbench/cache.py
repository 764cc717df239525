"""Cross-run cache of cell results: one small JSON file per cell, keyed by content.

key = SHA-256 of (the cell, every parameter that changes its result, the problem's data
fingerprint, the code version, the environment fingerprint). Code version: a hash of this
engine's result-bearing source files (not summaries or figures) and the package version, so an
edited optimizer never reads old results.
Environment: Python, NumPy, torch and JAX versions, CPU model, machine, thread count and GPU name —
times measured elsewhere are not reused here. Only cells whose status is in cell.CACHEABLE are
stored: a failed, diverged or parity-failed cell is always run again. Files are written under a
temporary name and renamed (a reader never sees half a file); JSON only, never pickle. An entry is
checked when the job starts (`read`, from the job's prepare): one that is not a whole cell result of
its key — edited by hand, or damaged — stops the job with exit 2 naming it, rather than giving a
wrong or a failing cell.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
from pathlib import Path

import numpy as np

from .cell import CACHEABLE
from .recorder import Curve

#: BenchParams fields that change a cell's result (the grid lists and I/O places do not)
RESULT_FIELDS = (
    "max_iters",
    "max_epochs",
    "checkpoints",
    "stop_rel",
    "diverge_factor",
    "targets",
    "adam_lr",
    "adamw_weight_decay",
    "seed",
    "rows_ratio",
    "informative",
    "noise",
    "l2",
    "qr_max_dim",
    "finance_lags",
    "parity_steps",
    "memory_steps",
    "momentum",
    "adam_betas",
)
CURVE_FIELDS = ("time", "iteration", "epoch", "subopt", "grad_norm", "test_loss")


#: engine modules that do not change a cell's result (summaries, figures, the job's plumbing)
NOT_RESULT_CODE = {"summary.py", "report.py", "job.py", "stats.py", "__init__.py"}


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """Hash of the package version and every engine source that can change a cell's result."""
    from mpiapp import __version__

    h = hashlib.sha256(str(__version__).encode())
    for f in sorted(p for p in Path(__file__).parent.glob("*.py") if p.name not in NOT_RESULT_CODE):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def env_fingerprint(backend, threads: int) -> dict:
    """What the timing of a cell depends on besides the code: versions, CPU, threads, device."""
    fp = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "threads": int(threads),
        "backend": backend.name,
        "device": str(backend.device),
    }
    if backend.name == "torch":
        fp["torch"] = backend.torch.__version__
    if backend.name == "cupy":
        fp["cupy"] = backend.xp.__version__
    if backend.name == "jax":
        fp["jax"] = backend.version
    if str(backend.device).startswith("cuda"):
        try:
            if backend.name == "torch":
                fp["gpu"] = backend.torch.cuda.get_device_name(backend.device)
            elif backend.name == "jax":
                fp["gpu"] = backend.dev.device_kind
            else:
                fp["gpu"] = backend.xp.cuda.runtime.getDeviceProperties(backend.device_index)["name"].decode()
        except Exception:  # a name is a nicety; the device string already separates GPUs from CPUs
            fp["gpu"] = "?"
    return fp


def cell_key(params, cell, data_fingerprint: str, env: dict) -> str:
    doc = {
        "cell": [cell.problem, cell.optimizer, cell.backend, cell.step_scale, cell.batch, cell.seed],
        "params": {f: getattr(params, f) for f in RESULT_FIELDS},
        "data": data_fingerprint,
        "code": code_version(),
        "env": env,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=list).encode()).hexdigest()


class CacheError(ValueError):
    """A cache entry that exists but is not a whole cell result (edited or damaged); the message
    names the file and says how to start over."""


class CellCache:
    """A folder of <key>.json files (two-character fan-out)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str):
        """(status, scalars, Curve) or None when absent or unreadable."""
        try:
            return self.read(key)
        except (OSError, CacheError):
            return None

    def read(self, key: str):
        """(status, scalars, Curve), or None when there is no entry. Raises CacheError naming the
        file for an entry that is not a whole cell result of this key (not JSON, another key, a
        status that is never cached, curves of unequal length or without points, a field missing),
        OSError when it cannot be read."""
        path = self._path(key)
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except FileNotFoundError:
            return None
        try:
            d = json.loads(raw)
            c = d["curve"]
            arrays = {
                f: np.asarray(c[f], dtype=np.int64 if f == "iteration" else np.float64) for f in CURVE_FIELDS
            }
            lengths = {f: int(a.shape[0]) if a.ndim == 1 else -1 for f, a in arrays.items()}
            problem = None
            if d.get("key") != key:
                problem = f"it holds key {str(d.get('key'))[:16]}..., not {key[:16]}..."
            elif d["status"] not in CACHEABLE:
                problem = f"status {d['status']!r} is never cached"
            elif len(set(lengths.values())) != 1 or min(lengths.values()) < 1:
                problem = f"curves of unequal length or without points ({lengths})"
            elif not isinstance(d["scalars"], dict):
                problem = "its scalars are not a mapping"
            if problem is None:
                curve = Curve(
                    **arrays,
                    status=d["status"],
                    f0_gap=float(c["f0_gap"]),
                    steps_per_epoch=int(c["steps_per_epoch"]),
                )
                return d["status"], d["scalars"], curve
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            problem = f"not a cell result ({type(exc).__name__}: {exc})"[:200]
        raise CacheError(
            f"optbench cache entry {path}: {problem}; it was changed since it was written: remove it "
            f"(the cell is run again), or the whole cache folder {self.folder}"
        )

    def put(self, key: str, status: str, scalars: dict, curve: Curve, cell) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "key": key,
            "status": status,
            "scalars": scalars,
            "cell": [cell.problem, cell.optimizer, cell.backend, cell.step_scale, cell.batch, cell.seed],
            "curve": {
                **{f: np.asarray(getattr(curve, f)).tolist() for f in CURVE_FIELDS},
                "f0_gap": curve.f0_gap,
                "steps_per_epoch": curve.steps_per_epoch,
            },
        }
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(tmp, "w") as fh:
            json.dump(doc, fh, default=_plain)
        os.replace(tmp, path)

    def __len__(self) -> int:
        return sum(1 for _ in self.folder.glob("*/*.json")) if self.folder.is_dir() else 0


def _plain(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
