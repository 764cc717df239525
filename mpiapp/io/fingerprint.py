"""Content hashes of input files: what a job records of the files it reads, to refuse a reuse or a
resume over changed inputs (a path says where a file is, never what it holds).

BLAKE2b (hashlib), read in 1 MiB blocks: about 1 GB/s on one core, so hashing a data folder costs
about as long as reading it once.
"""

from __future__ import annotations

import hashlib
import os

BLOCK = 1 << 20


def file_digest(path: str) -> str:
    """The content hash of one file (32 hex characters). Raises OSError when it cannot be read."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while True:
            block = fh.read(BLOCK)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def file_digests(paths) -> dict[str, str]:
    """{file name relative to the files' common folder: content hash} of `paths` (sorted)."""
    full = sorted(os.path.abspath(str(p)) for p in paths)
    if not full:
        return {}
    base = os.path.dirname(full[0]) if len(full) == 1 else os.path.commonpath(full)
    return {os.path.relpath(p, base): file_digest(p) for p in full}


def combined(digests: dict[str, str]) -> str:
    """One hash of {name: hash} (names included: a renamed file is another input)."""
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(digests):
        h.update(name.encode("utf-8", "surrogateescape") + b"\0" + digests[name].encode() + b"\n")
    return h.hexdigest()


def changes(old: dict[str, str], new: dict[str, str], shown: int = 3) -> str:
    """'changed: A.csv, B.csv; added: C.csv; removed: D.csv' (at most `shown` names each)."""
    parts = []
    for what, names in (
        ("changed", [n for n in new if n in old and old[n] != new[n]]),
        ("added", [n for n in new if n not in old]),
        ("removed", [n for n in old if n not in new]),
    ):
        if names:
            more = f" and {len(names) - shown} more" if len(names) > shown else ""
            parts.append(f"{what}: {', '.join(sorted(names)[:shown])}{more}")
    return "; ".join(parts) or "no file differs (another source)"
