"""Registries by name, and the ``name:key=value,...`` spec strings that select an entry.

A registry maps a CLI string to a factory (a class or function taking keyword parameters). The spec
``vp-linear:beta_min=0.1,beta_max=20`` means ``registry["vp-linear"](beta_min=0.1, beta_max=20)``.
Parameters are parsed as int, float, bool or str (in that order); lists are written with ``;``
separators, e.g. ``mixture:weights=0.3;0.7``. A miss raises :class:`SgmbenchError` listing valid names.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from sgmbench.errors import SgmbenchError

T = TypeVar("T")


def parse_value(text: str) -> Any:
    """Parse one spec value: ``int``, ``float``, ``bool``, a ``;``-separated list of those, or ``str``."""
    text = text.strip()
    if ";" in text:
        return tuple(parse_value(part) for part in text.split(";") if part.strip() != "")
    low = text.lower()
    if low in ("true", "yes"):
        return True
    if low in ("false", "no"):
        return False
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Split ``name:k=v,k=v`` into ``(name, {k: v})``; raise :class:`SgmbenchError` if it does not parse."""
    if not isinstance(spec, str) or not spec.strip():
        raise SgmbenchError(f"empty spec {spec!r}: expected 'name' or 'name:key=value,...'")
    name, _, rest = spec.strip().partition(":")
    name = name.strip()
    if not name:
        raise SgmbenchError(f"spec {spec!r} has no name before ':'")
    params: dict[str, Any] = {}
    if rest.strip():
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            key = key.strip().replace("-", "_")
            if not eq or not key or not value.strip():
                raise SgmbenchError(f"spec {spec!r}: cannot parse {item.strip()!r}, expected key=value")
            if key in params:
                raise SgmbenchError(f"spec {spec!r}: parameter {key!r} given twice")
            params[key] = parse_value(value)
    return name, params


def format_spec(name: str, params: dict[str, Any]) -> str:
    """Inverse of :func:`parse_spec` (canonical: keys sorted)."""
    if not params:
        return name

    def fmt(v: Any) -> str:
        if isinstance(v, (tuple, list)):
            return ";".join(fmt(x) for x in v) + (";" if len(v) == 1 else "")
        return repr(v) if isinstance(v, float) else str(v)

    return name + ":" + ",".join(f"{k}={fmt(v)}" for k, v in sorted(params.items()))


@dataclasses.dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered object: its name, factory, one-line summary and source."""

    name: str
    factory: Callable[..., T]
    summary: str
    source: str

    def parameters(self) -> dict[str, Any]:
        """Keyword parameters of the factory with their defaults (``inspect.Parameter.empty`` if required)."""
        sig = inspect.signature(self.factory)
        out = {}
        for p in sig.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name == "self":
                continue
            out[p.name] = p.default
        return out


class Registry(Generic[T]):
    """A name → factory map for one kind of object (processes, targets, scores, ...)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, *, summary: str = "", source: str = "") -> Callable:
        """Decorator: register ``factory`` under ``name``."""

        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise RuntimeError(f"{self.kind} {name!r} registered twice")
            doc = (inspect.getdoc(factory) or "").strip().splitlines()
            self._entries[name] = Entry(name, factory, summary or (doc[0] if doc else ""), source)
            return factory

        return deco

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entry(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise SgmbenchError(f"unknown {self.kind} {name!r}; valid: {', '.join(self.names())}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries[n] for n in self.names())

    def create(self, spec: str, **overrides: Any) -> T:
        """Build the object a spec string names; unknown or bad parameters raise :class:`SgmbenchError`."""
        name, params = parse_spec(spec)
        params.update(overrides)
        return self.build(name, params)

    def build(self, name: str, params: dict[str, Any]) -> T:
        entry = self.entry(name)
        allowed = entry.parameters()
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            valid = ", ".join(allowed) or "none"
            raise SgmbenchError(
                f"{self.kind} {name!r} has no parameter {', '.join(map(repr, unknown))}; valid: {valid}"
            )
        missing = [k for k, d in allowed.items() if d is inspect.Parameter.empty and k not in params]
        if missing:
            raise SgmbenchError(f"{self.kind} {name!r} needs parameter(s) {', '.join(missing)}")
        try:
            return entry.factory(**params)
        except SgmbenchError:
            raise
        except (TypeError, ValueError) as exc:
            raise SgmbenchError(f"{self.kind} {name!r}: {exc}") from None

    def describe(self) -> list[dict[str, Any]]:
        """Rows for ``sgmbench list``: name, parameters with defaults, summary, source."""
        rows = []
        for e in self:
            params = {
                k: ("<required>" if v is inspect.Parameter.empty else v) for k, v in e.parameters().items()
            }
            rows.append({"name": e.name, "parameters": params, "summary": e.summary, "source": e.source})
        return rows


def check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    """Return ``float(value)`` if finite and > 0 (or ≥ 0); else raise :class:`SgmbenchError`."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise SgmbenchError(f"{name} must be a number, got {value!r}") from None
    ok = math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        raise SgmbenchError(f"{name} must be {'>= 0' if allow_zero else '> 0'} and finite, got {value!r}")
    return v
