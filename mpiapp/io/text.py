"""Text in fixed-width table columns: UTF-8 bytes cut at a character boundary, widths sized to the data.

Why a module of its own: the results files hold text (symbol names, skip reasons, failure messages) as
fixed-width UTF-8 bytes (io/results.py), and every job writes some. A cut in the middle of a
character leaves bytes that no reader decodes (`mpiapp.results.load` fails on the whole column), so
every cut goes through `cut`.
"""

from __future__ import annotations

from typing import Iterable


def cut(text, nbytes: int) -> bytes:
    """`text` (str, or UTF-8 bytes) as UTF-8 bytes, at most `nbytes` of them, never ending inside a
    character: a character that does not fit whole is left out."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="ignore")
    return str(text).encode()[:nbytes].decode("utf-8", errors="ignore").encode()


def width(texts: Iterable, least: int = 8, most: int | None = None) -> int:
    """Bytes of a text column that holds every one of `texts` whole (their longest UTF-8 form), at
    least `least`, at most `most` (None: no limit; longer texts are then cut to it)."""
    n = max([least] + [len(t if isinstance(t, (bytes, bytearray)) else str(t).encode()) for t in texts])
    return n if most is None else min(n, most)
