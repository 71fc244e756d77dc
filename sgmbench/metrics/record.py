r"""The one result type of every metric: :class:`MetricRecord`, a flat, frozen row.

A record says what was measured (``metric``: ``w2``, ``w2_sq``, ``kl``, ``kl_reverse``, ``tv``,
``hellinger``, ``sliced_w2``; conventions in ``DESIGN.md``), how (``estimator``, ``exact``), how well
(``stderr``, the 95 % interval ``[ci_low, ci_high]``, the noise ``floor`` of the same estimator between
two independent samples of the target at the same ``n``) and what kind of number it is: ``kind`` is
``"value"``, ``"lower_bound"`` (e.g. a classifier's $2\,{\rm acc}-1$ for TV, the Gelbrich/Bures W2 from
sample moments) or ``"upper_bound"``. ``meaningful`` is ``False`` when the estimator is known to be
useless in this setting (its floor exceeds the signal, or the dimension is too high for it); ``note``
then says why.
"""

from __future__ import annotations

import dataclasses
import math
import time
from contextlib import contextmanager
from typing import Any

KINDS = ("value", "lower_bound", "upper_bound")
Z95 = 1.959963984540054  # Phi^{-1}(0.975)


@dataclasses.dataclass(frozen=True)
class MetricRecord:
    """One measured metric: value, uncertainty, noise floor and provenance (see the module docstring).

    ``stderr`` is the standard error of ``value`` around the estimator's expectation (``0`` for closed
    forms, whose numerical tolerance is the half-width of ``[ci_low, ci_high]``); ``nan`` when unknown.
    ``floor`` is in the units of ``value`` (``nan``: not measured; ``0``: none, e.g. closed forms).
    ``n`` is the number of samples used (``None`` for closed forms).
    """

    metric: str
    value: float
    stderr: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    floor: float = math.nan
    n: int | None = None
    estimator: str = ""
    exact: bool = False
    runtime_s: float = math.nan
    note: str = ""
    kind: str = "value"
    meaningful: bool = True
    floor_stderr: float = math.nan
    dim: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")

    def as_dict(self) -> dict[str, Any]:
        """The record as a flat ``dict`` (one row of a results table)."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> MetricRecord:
        """A copy with ``changes`` applied (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def with_note(self, text: str) -> MetricRecord:
        """A copy with ``text`` appended to ``note`` (``; ``-separated)."""
        if not text:
            return self
        return dataclasses.replace(self, note=f"{self.note}; {text}" if self.note else text)


def normal_ci(
    value: float, stderr: float, lo: float = -math.inf, hi: float = math.inf
) -> tuple[float, float]:
    """The 95 % normal interval ``value ± 1.96·stderr`` clipped to ``[lo, hi]`` (``nan`` if stderr is)."""
    if not math.isfinite(stderr):
        return math.nan, math.nan
    return max(lo, value - Z95 * stderr), min(hi, value + Z95 * stderr)


def make_record(
    metric: str,
    value: float,
    stderr: float,
    *,
    lo: float = -math.inf,
    hi: float = math.inf,
    **fields: Any,
) -> MetricRecord:
    """A :class:`MetricRecord` whose interval is the normal 95 % interval clipped to ``[lo, hi]``."""
    ci_low, ci_high = normal_ci(float(value), float(stderr), lo, hi)
    return MetricRecord(metric, float(value), float(stderr), ci_low, ci_high, **fields)


def exact_record(metric: str, value: float, tol: float = 0.0, **fields: Any) -> MetricRecord:
    """A closed-form record: ``stderr = 0``, ``floor = 0``, interval ``value ± tol`` (numerical tolerance)."""
    value = float(value)
    fields.setdefault("floor", 0.0)
    fields.setdefault("floor_stderr", 0.0)
    return MetricRecord(metric, value, 0.0, value - tol, value + tol, exact=True, meaningful=True, **fields)


@contextmanager
def timer():
    """``with timer() as t: ...`` then ``t()`` is the elapsed wall time in seconds."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())
