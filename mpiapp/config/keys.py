"""One configuration key: type, default, allowed values, one line of documentation.

Why a module of its own: every section module (runtime, work, output, data and one per job) declares
its keys with this one class, and the loader in `mpiapp.config` assembles them into one schema. The
same declaration checks a value wherever it comes from — a YAML file, `--set`, the environment, or
a params object an engine builds in code (`mpiapp.config.params.Params`) — so a rule is written once.

A list-valued key says what its values must be (`Items`: type, bounds, choices, length, order,
uniqueness); a bad value stops the load naming the key. A shared key may have a default of its own
for one job (`by_job`), e.g. the data source of the pooled model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: the largest magnitude of an int key without an explicit bound (int64 holds 9.2e18)
INT_LIMIT = 10**18


class ConfigError(ValueError):
    """A configuration value or key is wrong; the message names the key and what is allowed."""


_COUNT = {1: "one", 2: "two", 3: "three", 4: "four"}
_NOUN = {int: "integer", float: "number", str: "name", bool: "flag"}


@dataclass(frozen=True)
class Items:
    """What every value of a list-valued key must be, and what the list as a whole must be.

    type: int, float (ints are taken as floats) or str; lo/hi: bounds, inclusive unless lo_open /
    hi_open; choices: the allowed values; min_len/max_len: how many values; unique: no value twice;
    ascending: strictly increasing."""

    type: type = str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple | None = None
    min_len: int = 1
    max_len: int | None = None
    unique: bool = False
    ascending: bool = False

    def allowed(self) -> str:
        noun = _NOUN.get(self.type, self.type.__name__)
        if self.max_len is not None and self.max_len == self.min_len:
            head = f"{_COUNT.get(self.min_len, self.min_len)} {noun}{'s' if self.min_len != 1 else ''}"
        elif self.max_len is not None:
            head = f"a list of {self.min_len} to {self.max_len} {noun}s"
        else:
            head = (
                "a non-empty list of "
                if self.min_len == 1
                else "a list of "
                if self.min_len == 0
                else f"a list of at least {self.min_len} "
            ) + f"{noun}s"
        if self.choices is not None:
            head += " drawn from " + ", ".join(map(repr, self.choices))
        if self.lo is not None or self.hi is not None:
            lo = "-inf" if self.lo is None else f"{self.lo:g}"
            hi = "inf" if self.hi is None else f"{self.hi:g}"
            head += (
                f" in {'(' if self.lo_open or self.lo is None else '['}{lo}, {hi}"
                f"{')' if self.hi_open or self.hi is None else ']'}"
            )
        if self.ascending:
            head += ", ascending"
        if self.unique:
            head += ", each once"
        return head

    def problem(self, value) -> tuple[Any, str | None]:
        """(the list with ints of float items made floats, None) or (value, what is wrong with it)."""
        if not isinstance(value, (list, tuple)):
            return value, f"a {type(value).__name__}, not a list"
        out = []
        for i, v in enumerate(value, 1):
            given = v
            if self.type is float and isinstance(v, int) and not isinstance(v, bool):
                v = float(v)
            if not isinstance(v, self.type) or (self.type in (int, float) and isinstance(v, bool)):
                return value, f"value {i} ({v!r}) is a {type(v).__name__}"
            if self.type is float and not math.isfinite(v):
                return value, f"value {i} ({v!r}) is not a finite number"
            if self.choices is not None and v not in self.choices:
                return value, f"value {i} ({v!r}) is not allowed"
            if self.type is str and "\0" in v:
                return value, f"value {i} holds a NUL character"
            lo, hi = self.lo, self.hi
            if self.type is int:
                lo = -INT_LIMIT if lo is None else lo
                hi = INT_LIMIT if hi is None else hi
            if (
                lo is not None
                and (v < lo or (self.lo_open and v == lo))
                or hi is not None
                and (v > hi or (self.hi_open and v == hi))
            ):
                return value, f"value {i} ({given!r}) is out of range"
            out.append(v)
        n = len(out)
        if n < self.min_len or (self.max_len is not None and n > self.max_len):
            return value, f"it has {n}"
        if self.ascending and any(b <= a for a, b in zip(out, out[1:])):
            return value, "not ascending"
        return out, None

    def twice(self, value) -> list:
        """The values a `unique` list gives more than once (in order of first appearance)."""
        if not self.unique:
            return []
        return [v for i, v in enumerate(value) if value.index(v) == i and value.count(v) > 1]


@dataclass(frozen=True)
class Key:
    """path: section.name; type; default; doc: one line; lo/hi: inclusive bounds; choices: allowed
    values; items: what a list's values must be (list-valued keys; item_choices=(...) is short for
    items=Items(str, choices=(...))); nullable: None allowed; by_job: ((job, default), ...) — the
    key's default when that job runs (a shared key whose sensible default differs by job)."""

    path: str
    type: type | tuple
    default: Any
    doc: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple | None = None
    item_choices: tuple | None = None
    nullable: bool = False
    items: Items | None = None
    by_job: tuple = ()

    def __post_init__(self):
        if self.item_choices is not None and self.items is None:
            object.__setattr__(self, "items", Items(str, choices=tuple(self.item_choices)))

    def default_for(self, job: str | None = None):
        """The default when `job` runs (by_job), else the key's own."""
        return dict(self.by_job).get(job, self.default) if job is not None else self.default

    def allowed(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(map(repr, self.choices))
        if self.items is not None:
            return self.items.allowed()
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
            return (-INT_LIMIT if self.lo is None else self.lo, INT_LIMIT if self.hi is None else self.hi)
        return self.lo, self.hi

    def check(self, value, origin: str):
        """The value as the key holds it (an int of a float key made a float; a list's float items
        likewise), or ConfigError naming `origin`, the key, the value and what is allowed. A list
        key also takes a tuple (a params object's form) and gives back the same kind."""
        where = f"{origin}: {self.path}"
        if value is None and self.nullable:
            return None
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            try:
                value = float(value)
            except OverflowError:
                raise ConfigError(f"{where} = {value!r} is out of range; expected {self.allowed()}") from None
        kind = tuple if self.type is list and isinstance(value, tuple) else self.type
        ok = isinstance(value, kind) and not (self.type in (int, float) and isinstance(value, bool))
        if not ok:
            raise ConfigError(
                f"{where} = {value!r} has type {type(value).__name__}; expected {self.allowed()}"
            )
        if (
            self.choices is not None
            and isinstance(value, str)
            and value not in self.choices
            and value.lower() in self.choices
        ):
            value = value.lower()  # the choices are lower-case words: DEBUG means debug
        if self.choices is not None and value not in self.choices:
            raise ConfigError(f"{where} = {value!r} is not allowed; expected {self.allowed()}")
        if self.items is not None:
            checked, problem = self.items.problem(value)
            if problem is not None:
                raise ConfigError(f"{where} = {_plain(value)!r}: expected {self.allowed()} ({problem})")
            twice = self.items.twice(checked)
            if twice:
                raise ConfigError(f"{where} lists {', '.join(map(repr, twice))} twice: {_plain(value)!r}")
            value = type(value)(checked)
        if self.type is float and not math.isfinite(value):
            raise ConfigError(f"{where} = {value!r} is not a finite number; expected {self.allowed()}")
        lo, hi = self.bounds()
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ConfigError(f"{where} = {value!r} is out of range; expected {self.allowed()}")
        if self.type is str and "\0" in value:
            raise ConfigError(f"{where}: the value holds a NUL character")
        return value


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def _type_name(t) -> str:
    if isinstance(t, tuple):
        return " or ".join(x.__name__ for x in t)
    return t.__name__
