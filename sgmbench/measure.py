r"""Measure one setting: the glue from a :class:`~sgmbench.setting.Setting` to metric records.

:func:`measure` is what ``sgmbench measure`` prints and what every study cell computes
(:func:`measure_cell`). Its result is the ``--json`` contract, kept exactly:

``{"setting": {...every resolved parameter...},
"metrics": {"w2": {"value": float, "exact": bool, "stderr": float|None, "floor": float|None}, ...}}``

- **exact** path, when the target is Gaussian and the score is affine (``score.affine(t)`` is not
  ``None``): the generated law is computed exactly (:func:`sgmbench.exact.exact_law`) and compared by
  closed forms with the reference law (:func:`sgmbench.exact.reference_law`, $p_0$ or $p_\delta$):
  ``exact`` is true, ``stderr`` and ``floor`` are 0;
- **sample** path otherwise: ``samples`` points are generated from the prior with the sampler
  (seeded by ``seed``: initial points and noise), and each metric is estimated against the reference
  law with its standard error and noise floor (:mod:`sgmbench.metrics`).

The reference is $p_0$ (``reference=data``) or $p_\delta$ (``reference=early-stopped``; with
$\delta = 0$ both are $p_0$). Metric names follow ``DESIGN.md``: ``w2`` ($W_2$), ``w2_sq``, ``kl``
(KL(target ‖ generated)), ``kl_reverse``, ``tv``, ``hellinger``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from sgmbench.errors import SgmbenchError
from sgmbench.setting import Setting

EXACT_METRICS = ("w2", "w2_sq", "kl", "kl_reverse", "tv", "hellinger")
"""Metrics with a closed form between Gaussian laws (the others, e.g. ``sliced_w2``, are always estimated)."""
CONTRACT_FIELDS = ("value", "exact", "stderr", "floor")


@dataclass
class Resolved:
    """The objects a setting names, built once: target, process, horizon, score, sampler, grid, reference."""

    setting: Setting
    target: Any
    process: Any
    horizon: float
    score: Any
    sampler: Any
    grid: torch.Tensor
    reference_time: float

    def as_dict(self) -> dict[str, Any]:
        """Every resolved parameter: the setting (horizon filled in), ``dim``, each object's parameters."""
        d = self.setting.as_dict()
        d["horizon"] = self.horizon
        d["dim"] = int(self.target.dim)
        d["reference_time"] = self.reference_time
        d["target_params"] = dict(self.target.params)
        d["process_params"] = dict(getattr(self.process, "params", {}))
        d["score_params"] = _plain(self.score.describe().get("params", {}))
        d["sampler_params"] = dict(getattr(self.sampler, "params", {}))
        return d


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in params.items() if isinstance(v, (int, float, str, bool, type(None), tuple, list))
    }


def check_metrics(metrics: Sequence[str]) -> tuple[str, ...]:
    """The metric names, checked against the registry :data:`sgmbench.metrics.metrics` (one-line error)."""
    from sgmbench.metrics import get_metric
    from sgmbench.metrics import metrics as registry

    metrics = tuple(m.strip() for m in metrics)
    if not metrics:
        raise SgmbenchError("no metric given; valid: " + ", ".join(registry.names()))
    for m in metrics:
        get_metric(m)
    if len(set(metrics)) != len(metrics):
        raise SgmbenchError(f"metric listed twice in {','.join(metrics)}")
    return metrics


def resolve(setting: Setting) -> Resolved:
    """Build every object the setting names; any bad name, spec or number raises :class:`SgmbenchError`."""
    from sgmbench.grids import make_grid
    from sgmbench.samplers import get_sampler
    from sgmbench.scores import build_score

    if setting.device != "cpu" and not torch.cuda.is_available():
        raise SgmbenchError(f"device {setting.device!r} is not available on this machine (no CUDA)")
    target, process, horizon = setting.resolve()
    score = build_score(setting.score, target, process, seed=setting.seed)
    sampler = get_sampler(setting.sampler)
    grid = make_grid(setting.grid, process, horizon, setting.early_stop, setting.steps)
    ref_t = setting.early_stop if setting.reference == "early-stopped" else 0.0
    return Resolved(setting, target, process, float(horizon), score, sampler, grid, float(ref_t))


def validate(setting: Setting, metrics: Sequence[str] = ("w2",)) -> Resolved:
    """Check a setting and metrics without measuring (``sgmbench compare`` checks every spec first)."""
    check_metrics(metrics)
    return resolve(setting)


def is_exactly_computable(r: Resolved) -> bool:
    """Gaussian target and a score that is affine in the target's eigenbasis."""
    if not getattr(r.target, "is_gaussian", False):
        return False
    try:
        return r.score.affine(float(r.grid[0])) is not None
    except SgmbenchError:
        return False


# ------------------------------------------------------------------------------------------------
# Exact path
# ------------------------------------------------------------------------------------------------
def exact_metric_records(generated, reference, metrics: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Closed-form records (:func:`sgmbench.metrics.gaussian_record`) between two Gaussian laws:
    ``kl`` is KL(reference ‖ generated), ``kl_reverse`` the other direction."""
    from sgmbench.metrics import gaussian_record

    return {m: _record_dict(gaussian_record(m, reference, generated)) for m in metrics}


def _measure_exact(r: Resolved, metrics: Sequence[str]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    from sgmbench.exact import exact_law, reference_law

    generated = exact_law(r.target, r.process, r.grid, r.sampler, r.score, prior=r.setting.prior)
    reference = reference_law(r.target, r.process, r.reference_time)
    nfe = r.setting.steps * int(getattr(r.sampler.info, "score_evals_per_step", 1))
    return exact_metric_records(generated, reference, metrics), {"path": "exact", "nfe": nfe}


# ------------------------------------------------------------------------------------------------
# Sample path
# ------------------------------------------------------------------------------------------------
def generate_samples(r: Resolved) -> tuple[torch.Tensor, int]:
    """``samples`` points from the sampler, seeded by ``seed`` (initial points and noise); raises
    :class:`~sgmbench.errors.DivergenceError` if the sampler diverged."""
    from sgmbench.brownian import IndependentNoise
    from sgmbench.samplers import initial_points

    s = r.setting
    gen = torch.Generator().manual_seed(int(s.seed))
    x0 = initial_points(
        r.process, r.horizon, s.samples, prior=s.prior, target=r.target, generator=gen, device=s.device
    )
    noise = IndependentNoise(s.samples, r.target.dim, generator=gen)
    result = r.sampler(r.process, r.grid, r.score, x0, noise).raise_for_failure()
    return result.samples.detach().to("cpu", torch.float64), int(result.nfe)


def reference_distribution(r: Resolved):
    """The reference law: the target at $t=0$, else its noised law at $\\delta$."""
    if r.reference_time == 0.0:
        return r.target
    return r.target.noised(r.process, r.reference_time)


def sample_metric_records(
    samples: torch.Tensor, reference, metrics: Sequence[str], seed: int
) -> dict[str, dict[str, Any]]:
    """Estimate each metric between generated ``samples`` and the ``reference`` law (stderr, floor)."""
    from sgmbench import metrics as M

    estimate = getattr(M, "estimate", None)
    if estimate is None:
        raise SgmbenchError(
            "sample-based metrics are not available yet (sgmbench.metrics.estimate is missing)"
        )
    out = {}
    for m in metrics:
        rec = estimate(m, samples, reference, seed=seed)
        out[m] = _record_dict(rec)
    return out


def _record_dict(rec: Any) -> dict[str, Any]:
    d = rec.as_dict() if hasattr(rec, "as_dict") else dict(rec)
    d.pop("metric", None)
    for k in ("stderr", "floor"):
        v = d.get(k)
        if v is not None and isinstance(v, float) and math.isnan(v):
            d[k] = None
    d["exact"] = bool(d.get("exact", False))
    return d


def _measure_samples(r: Resolved, metrics: Sequence[str]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    samples, nfe = generate_samples(r)
    records = sample_metric_records(samples, reference_distribution(r), metrics, seed=int(r.setting.seed))
    return records, {"path": "samples", "nfe": nfe, "num_samples": int(samples.shape[0])}


# ------------------------------------------------------------------------------------------------
# Public API
# ------------------------------------------------------------------------------------------------
def measure(setting: Setting, metrics: Sequence[str] = ("w2",), *, details: bool = False) -> dict[str, Any]:
    """Measure ``metrics`` for one setting: ``{"setting": {...}, "metrics": {name: record}}``.

    Each record has exactly ``value``, ``exact``, ``stderr`` and ``floor`` (the CLI contract) unless
    ``details`` is true, which keeps every field the estimator reports (estimator, CI, n, note, ...)
    and adds ``info`` (path, NFE, timings): what the store keeps for a study cell.
    """
    metrics = check_metrics(metrics)
    r = resolve(setting)
    t0 = time.perf_counter()
    records: dict[str, dict[str, Any]] = {}
    info: dict[str, Any] = {}
    closed = [m for m in metrics if m in EXACT_METRICS] if is_exactly_computable(r) else []
    if closed:
        exact_records, info = _measure_exact(r, closed)
        records.update(exact_records)
    rest = [m for m in metrics if m not in records]
    if rest:
        sampled, sample_info = _measure_samples(r, rest)
        records.update(sampled)
        info = {**sample_info, "path": "mixed" if closed else "samples"}
    info["runtime_s"] = time.perf_counter() - t0
    if not details:
        records = {m: {k: rec.get(k) for k in CONTRACT_FIELDS} for m, rec in records.items()}
    out: dict[str, Any] = {"setting": r.as_dict(), "metrics": {m: records[m] for m in metrics}}
    if details:
        out["info"] = info
    return out


BOUND_FIELDS = (
    "bound",
    "metric",
    "reference",
    "compares",
    "direction",
    "applicable",
    "value",
    "terms",
    "failed",
    "measured",
    "measured_key",
    "ratio",
    "holds",
    "constant",
    "constant_unspecified",
    "vacuous",
    "provenance",
    "source",
    "exponents",
    "notes",
)


def evaluate_bounds(setting: Setting, measured: Mapping[str, Any], names: Sequence[str] | None = None):
    """:func:`sgmbench.bounds.bounds_table` rows (the fields of :data:`BOUND_FIELDS`) for one setting."""
    try:
        from sgmbench.bounds import bounds_table
    except ImportError:
        raise SgmbenchError(
            "bounds are not available in this installation (sgmbench.bounds is missing)"
        ) from None
    rows = bounds_table(setting, measured, names=list(names) if names is not None else None)
    return [{k: row.get(k) for k in BOUND_FIELDS} for row in rows]


def measure_cell(cell) -> dict[str, Any]:
    """The default cell function of a study: :func:`measure` with details (the store keeps them all),
    and the cell's bounds evaluated on the same setting beside the measured metrics (``bounds``)."""
    out = measure(cell.setting, cell.metrics, details=True)
    if cell.bounds:
        try:
            out["bounds"] = evaluate_bounds(cell.setting, out["metrics"], cell.bounds)
        except Exception as exc:  # a bound's failure must not lose the measured metrics
            out["bounds_error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return out


def bounds_report(setting: Setting, metrics: Sequence[str] | None = None) -> dict[str, Any]:
    r"""Every bound for a setting (``sgmbench bounds``): the applicable ones (value and terms) beside the
    measured metric, and the inapplicable ones with the assumptions that failed.

    Measures ``metrics`` (default: those of ``w2``, ``kl``, ``tv`` that some bound controls) against the
    setting's reference and, when $\delta > 0$, against the other reference too (``"w2@data"``-style
    keys), so that every bound is compared with the law it speaks about.
    """
    from sgmbench.bounds import bounds as registry

    if metrics is None:
        wanted = {registry.create(n).metric for n in registry.names()}
        metrics = [m for m in ("w2", "kl", "tv") if m in wanted]
    metrics = check_metrics(metrics)
    result = measure(setting, metrics)
    measured: dict[str, Any] = dict(result["metrics"])
    if setting.early_stop > 0:
        other = "data" if setting.reference == "early-stopped" else "early-stopped"
        for m, rec in measure(setting.replace(reference=other), metrics)["metrics"].items():
            measured[f"{m}@{other}"] = rec
        for m in metrics:
            measured[f"{m}@{setting.reference}"] = measured[m]
    rows = evaluate_bounds(setting, measured)
    return {
        "setting": result["setting"],
        "measured": measured,
        "applicable": [r for r in rows if r["applicable"]],
        "inapplicable": [r for r in rows if not r["applicable"]],
    }
