"""Checkpoints: everything an exact resume needs, written atomically by rank 0.

Contents (tensors and plain Python values only, so `torch.load(..., weights_only=True)` reads it
and nothing is unpickled): the model's state_dict, the optimizer, learning-rate scheduler and
gradient scaler states, torch's RNG states (CPU, and CUDA where used), the data cursor (epoch, step
in the epoch, global step), the loss history, the per-epoch metrics so far, early stopping's state
(best validation loss, its epoch and weights, epochs without improvement), the running sums of the
current epoch, and the configuration it was made with (a resume with another configuration is
refused, naming the keys). The sample order is a function of (seed, epoch, index), so the cursor
is all the data pipeline needs.

Written to PATH.tmp, flushed and fsynced, then renamed over PATH: a kill at any moment leaves the
old checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import io
import os

#: the config sections whose keys must match for --resume (others, e.g. runtime, may change)
RESUME_SECTIONS = ("data", "ddp")
#: keys of those sections that may change on resume: they do not change what is computed
FREE_ON_RESUME = ("ddp.checkpoint_steps", "ddp.timeout_s", "ddp.threads", "ddp.buffer_rows")


def save(state: dict, path: str, torch) -> int:
    """Write `state` atomically to `path` (rank 0 only). Returns the bytes written."""
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return len(data)


def load(path: str, torch, device: str = "cpu") -> dict:
    """Read a checkpoint with weights_only=True (tensors and plain values; never arbitrary pickles)."""
    return torch.load(path, map_location=device, weights_only=True)


def config_differences(saved: dict, current: dict) -> list[str]:
    """Keys of RESUME_SECTIONS whose values differ: ['ddp.batch_size: 512 -> 256', ...]. Pure.

    saved / current: flat {key path: value} maps.
    """
    out = []
    for k in sorted(set(saved) | set(current)):
        if k in FREE_ON_RESUME or k.split(".", 1)[0] not in RESUME_SECTIONS:
            continue
        if saved.get(k) != current.get(k):
            out.append(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}")
    return out
