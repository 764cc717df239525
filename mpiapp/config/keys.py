"""One configuration key: type, default, allowed values, one line of documentation.

Why a module of its own: every section module (runtime, work, output, data and one per job) declares
its keys with this one class, and the loader in `mpiapp.config` assembles them into one schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: the largest magnitude of an int key without an explicit bound (int64 holds 9.2e18)
INT_LIMIT = 10**18


@dataclass(frozen=True)
class Key:
    path: str
    type: type | tuple
    default: Any
    doc: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple | None = None
    item_choices: tuple | None = None  # for list-valued keys
    nullable: bool = False

    def allowed(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(map(repr, self.choices))
        if self.item_choices is not None:
            return "a list drawn from " + ", ".join(map(repr, self.item_choices))
        tname = _type_name(self.type)
        lo, hi = self.bounds()
        if lo is not None or hi is not None:
            lo = "-inf" if lo is None else lo
            hi = "inf" if hi is None else hi
            return f"{tname} in [{lo}, {hi}]"
        return tname + (" or null" if self.nullable else "")

    def bounds(self) -> tuple:
        """(lo, hi) as checked: an int key without its own bounds stays within INT_LIMIT (what
        the kernels and HDF5 int64 columns hold, with room for arithmetic)."""
        if self.type is int:
            return (-INT_LIMIT if self.lo is None else self.lo,
                    INT_LIMIT if self.hi is None else self.hi)
        return self.lo, self.hi


def _type_name(t) -> str:
    if isinstance(t, tuple):
        return " or ".join(x.__name__ for x in t)
    return t.__name__
