"""Logging with rank prefixes: rank 0 speaks; other ranks only warn, unless all ranks are asked."""

from __future__ import annotations

import logging
import sys

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def setup(rank: int, size: int, level: str = "info", all_ranks: bool = False) -> logging.Logger:
    logger = logging.getLogger("mpiapp")
    for h in list(logger.handlers):
        logger.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    width = len(str(max(size - 1, 0)))
    handler.setFormatter(logging.Formatter(f"[mpiapp rank {rank:>{width}}/{size}] %(levelname)s %(message)s"))
    logger.addHandler(handler)
    want = LEVELS[level]
    logger.setLevel(want if (rank == 0 or all_ranks) else max(want, logging.WARNING))
    logger.propagate = False
    return logger
