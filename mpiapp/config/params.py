"""Params: the typed, frozen object an engine reads, generated from its section of the schema.

Why: a key is declared once, in its section module (mpiapp/config/<section>.py) — type, bounds,
choices, default, items of a list, documentation. An engine's params class names its section and
gets one dataclass field per key of that section (the key's leaf name, its schema default; lists
become tuples, so the object is hashable and can key a cache) and its checks: every value and the
section's cross-key rules (the section module's CHECKS) are checked when the object is made, from a
config or in code, with the loader's own messages. The class adds only what the engine derives from
the values (properties, methods) and fields that are not keys:

    class ScanParams(Params, section="scan"):
        @property
        def step(self) -> int: ...

    ScanParams.from_config(cfg.scan)            # a loaded section (or any mapping); missing keys: defaults
    ScanParams(window_bars=300)                  # in code; the same checks (ConfigError, a ValueError)

Only the section's own keys become fields; a nested block (train.cv.*) is a params class of its own
(section="train.cv").
"""

from __future__ import annotations

import dataclasses

from .keys import ConfigError, Key  # noqa: F401  (ConfigError: what a bad value raises)


def section_keys(section: str) -> list[Key]:
    """The keys directly under `section` (train -> train.horizon, not train.cv.scheme), schema order."""
    from . import SCHEMA

    head = section + "."
    return [k for k in SCHEMA if k.path.startswith(head) and "." not in k.path[len(head) :]]


def block(values, section: str) -> dict:
    """The keys directly under `section` as a plain dict of leaf name -> value, read from `values`
    (the loaded section, e.g. cfg.train.lgbm); lists copied as lists."""
    out = {}
    for k in section_keys(section):
        name = k.path.rsplit(".", 1)[1]
        v = values[name]
        out[name] = list(v) if isinstance(v, (list, tuple)) else v
    return out


def _field_default(key: Key):
    d = key.default
    return tuple(d) if isinstance(d, list) else d


def _annotation(key: Key) -> str:
    if key.type is list:
        return "tuple"
    t = " | ".join(x.__name__ for x in key.type) if isinstance(key.type, tuple) else key.type.__name__
    return t + (" | None" if key.nullable else "")


class Params:
    """Base of the generated params classes (see the module docstring)."""

    #: the config section the fields come from, and leaf name -> Key
    section = None
    keys: dict = {}

    def __init_subclass__(cls, section: str | None = None, **kw):
        super().__init_subclass__(**kw)
        if section is None:
            return
        keys = section_keys(section)
        if not keys:
            raise TypeError(f"{cls.__name__}: the schema has no section {section!r}")
        own = dict(cls.__dict__.get("__annotations__", {}))
        clash = [k.path for k in keys if k.path.rsplit(".", 1)[1] in own]
        if clash:
            raise TypeError(f"{cls.__name__}: {clash} are keys of the schema; declare them only there")
        ann = {}
        for k in keys:
            name = k.path.rsplit(".", 1)[1]
            ann[name] = _annotation(k)
            setattr(cls, name, _field_default(k))
        cls.__annotations__ = {**ann, **own}  # the keys first (in schema order), then the class's own fields
        cls.section = section
        cls.keys = {k.path.rsplit(".", 1)[1]: k for k in keys}
        dataclasses.dataclass(frozen=True)(cls)

    def __post_init__(self):
        origin = type(self).__name__
        for name, key in self.keys.items():
            v = getattr(self, name)
            if isinstance(v, list):
                v = tuple(v)
            checked = key.check(v, origin)
            if checked is not getattr(self, name):
                object.__setattr__(self, name, checked)
        from . import section_checks

        for check in section_checks(self.section):
            check(self)

    @classmethod
    def from_config(cls, values, **overrides):
        """From a loaded config section (`config.load().scan`) or any mapping with some of the keys;
        keys it lacks take their defaults; keyword arguments win. Raises ConfigError (a ValueError)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: values[k] for k in values if k in names} if hasattr(values, "keys") else {}
        kw.update(overrides)
        return cls(**kw)
