r"""Published convergence bounds, evaluated on exactly the settings that are measured.

Registry :data:`bounds` (name → :class:`~sgmbench.bounds.base.Bound`; the factory takes the universal
constant, ``bounds.create("chen2023-thm2:constant=2")``). One module per paper:

| module | bounds | metric |
| --- | --- | --- |
| :mod:`.chen2023` | ``chen2023-thm2``, ``chen2023-cor3`` | TV |
| :mod:`.benton2024` | ``benton2024-thm1`` | KL to $p_\delta$ |
| :mod:`.gnz` | ``gnz2025-w2`` (our explicit constants), ``gnz2025-gaussian-lower`` | $W_2$ |
| :mod:`.kfl` | ``kfl2022-thm1``, ``kfl2022-cor1`` (continuous time) | $W_2$ |
| :mod:`.llt` | ``llt2023-thm7.2``, ``llt2023-thm7.2-hessian`` | TV to $p_\delta$ |
| :mod:`.conforti` | ``conforti2025-kl``, ``strasman2025-kl`` | KL |
| :mod:`.lcl` | ``lcl2024-score-error`` (asymptotic $J(t)/n$) | score error |
| :mod:`.early_stopping` | ``early-stop-w2``, ``llt2023-early-stop-w2`` | $W_2(p_\delta, p_0)$ |

Public API: :func:`evaluate_bounds` (every bound on one context), :func:`bounds_table` (what ``sgmbench
bounds`` prints: each bound beside the measured metric, JSON-serialisable), :func:`complexity_statements` (the
complexity tables of GNZ and Lee–Lu–Tan as data), :class:`BoundContext`, :class:`Bound`, :class:`BoundResult`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from sgmbench.bounds import benton2024, chen2023, conforti, early_stopping, gnz, kfl, lcl, llt
from sgmbench.bounds.base import (
    DERIVED,
    FROM_MEMORY,
    PROVENANCES,
    STRUCTURE_VERIFIED,
    VERIFIED,
    VERIFIED_SECONDARY,
    Assumption,
    Bound,
    BoundContext,
    BoundResult,
    Check,
    Exponent,
    Source,
    Term,
)
from sgmbench.errors import SgmbenchError
from sgmbench.registry import Registry

__all__ = [
    "DERIVED",
    "FROM_MEMORY",
    "PROVENANCES",
    "STRUCTURE_VERIFIED",
    "VERIFIED",
    "VERIFIED_SECONDARY",
    "Assumption",
    "Bound",
    "BoundContext",
    "BoundResult",
    "Check",
    "Exponent",
    "Source",
    "Term",
    "available_bounds",
    "bounds",
    "bounds_table",
    "complexity_statements",
    "evaluate_bounds",
    "get_bound",
]

bounds: Registry[Bound] = Registry("bound")

ALL_BOUNDS: tuple[Bound, ...] = (
    *chen2023.BOUNDS,
    *benton2024.BOUNDS,
    *gnz.BOUNDS,
    *kfl.BOUNDS,
    *llt.BOUNDS,
    *conforti.BOUNDS,
    *lcl.BOUNDS,
    *early_stopping.BOUNDS,
)


def _register(bound: Bound) -> None:
    def factory(constant: float = 1.0) -> Bound:
        from dataclasses import replace

        c = float(constant)
        if not (math.isfinite(c) and c > 0):
            raise SgmbenchError(f"bound {bound.name!r}: constant must be finite and > 0, got {constant!r}")
        return bound if c == bound.constant else replace(bound, constant=c)

    factory.__doc__ = f"{bound.compares}: {bound.source.cite()}"
    bounds.register(bound.name, summary=f"{bound.compares} [{bound.provenance}]", source=bound.source.cite())(
        factory
    )


for _b in ALL_BOUNDS:
    _register(_b)


def get_bound(spec: str | Bound) -> Bound:
    """The bound a spec names (``chen2023-thm2`` or ``chen2023-thm2:constant=2``), or the bound itself."""
    return spec if isinstance(spec, Bound) else bounds.create(spec)


def available_bounds() -> list[str]:
    return bounds.names()


def evaluate_bounds(
    context: BoundContext | Any, names: Sequence[str | Bound] | None = None, **context_options: Any
) -> list[BoundResult]:
    """Evaluate bounds (default: all registered) on a :class:`BoundContext` or a
    :class:`~sgmbench.setting.Setting`.

    Each result is applicable (value and terms) or inapplicable (the failed assumption checks).
    ``context_options`` go to :meth:`BoundContext.from_setting` when a Setting is given.
    """
    ctx = (
        context
        if isinstance(context, BoundContext)
        else BoundContext.from_setting(context, **context_options)
    )
    chosen = [get_bound(n) for n in names] if names is not None else [get_bound(n) for n in bounds.names()]
    return [b.evaluate(ctx) for b in chosen]


def _measured_value(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, Mapping):
        v = v.get("value")
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _lookup(measured: Mapping[str, Any], key: str, reference: str, ctx: BoundContext, setting_ref: str):
    """The measured value a bound is compared with: ``key@reference`` first, then ``key`` if it was
    measured against the same reference (or $\\delta = 0$, where $p_\\delta = p_0$), then quantities the
    context knows exactly (score error, Gaussian early-stopping bias)."""
    if f"{key}@{reference}" in measured:
        return _measured_value(measured[f"{key}@{reference}"]), f"{key}@{reference}"
    if key in measured and (
        key not in ("w2", "w2_sq", "kl", "kl_reverse", "tv", "hellinger")
        or reference == setting_ref
        or ctx.delta == 0.0
    ):
        return _measured_value(measured[key]), key
    if key == "score_error_sq":
        return float(ctx.score_error_sq.mean()), "score_error_sq (context)"
    gaussian = getattr(ctx.target, "is_gaussian", False) and ctx.constants.cov_eigenvalues is not None
    if key in ("w2_early_stop", "w2_early_stop_rescaled") and gaussian and ctx.delta > 0:
        v = early_stopping.early_stop_w2_gaussian(
            ctx.constants, ctx.process, ctx.delta, key.endswith("rescaled")
        )
        return v, f"{key} (exact, Gaussian)"
    return None, None


def bounds_table(
    setting: Any,
    measured: Mapping[str, Any] | None = None,
    *,
    names: Sequence[str | Bound] | None = None,
    context: BoundContext | None = None,
    **context_options: Any,
) -> list[dict[str, Any]]:
    """Every bound for one setting beside the measured metric: a JSON-serialisable row per bound.

    ``measured`` maps metric names to values (or ``{"value": ...}`` records, the ``sgmbench measure``
    contract) measured against ``setting.reference``; ``"w2@data"``-style keys name the reference explicitly.
    Row fields: everything of :meth:`BoundResult.as_dict` (``applicable``, ``value``, ``terms``, ``failed``,
    ``provenance``, ``constant_unspecified``, ``source``, ...) plus ``measured`` (value or ``None``),
    ``measured_key``, ``ratio`` = bound/measured (tightness), ``holds`` (measured <= bound for an upper bound;
    ``None`` where not comparable: no measurement, inapplicable, a lower bound with unspecified constant, an
    asymptotic envelope) and ``exponents``.

    ``context_options`` go to :meth:`BoundContext.from_setting`: pass ``score=`` the score object the
    measurement used (a learned score is then not rebuilt), ``iterate_laws=`` if known.
    """
    measured = dict(measured or {})
    ctx = context if context is not None else BoundContext.from_setting(setting, **context_options)
    setting_ref = getattr(setting, "reference", "data") if setting is not None else "data"
    chosen = [get_bound(n) for n in names] if names is not None else [get_bound(n) for n in bounds.names()]
    rows = []
    for b in chosen:
        res = b.evaluate(ctx)
        row = res.as_dict()
        value, key = _lookup(measured, b.measured, b.reference, ctx, setting_ref)
        row["measured"] = value
        row["measured_key"] = key or b.measured
        row["ratio"] = None
        row["holds"] = None
        if res.applicable and value is not None and res.value is not None:
            if value > 0:
                row["ratio"] = res.value / value
            if b.direction == "upper":
                row["holds"] = bool(value <= res.value)
            elif b.direction == "lower" and not b.constant_unspecified:
                row["holds"] = bool(value >= res.value)
        row["exponents"] = [e.as_dict() for e in b.exponents]
        row["score_error"] = b.score_error
        if ctx.score_error_note:
            row["notes"] = "; ".join(x for x in (row["notes"], ctx.score_error_note) if x)
        rows.append(row)
    return rows


def complexity_statements() -> list[dict[str, Any]]:
    """The complexity statements that have no value on a single setting, as data rows.

    GNZ's per-process table (iterations $K$, score level $M$, step $\\eta$ as exponents of $d$ and
    $\\varepsilon$; verified from the authors' README image) and Lee–Lu–Tan Theorems 2.1–2.3 (step counts: our
    derivation; required score accuracies: verified).
    """
    rows = []
    for proc, row in gnz.COMPLEXITY_TABLE.items():
        rows.append({"name": "gnz2025-complexity", "process": proc, "source": gnz.SOURCE.cite(), **row})
    for name, row in llt.COMPLEXITY.items():
        rows.append({"name": name, "source": llt.SOURCE.cite(), **row})
    return rows
