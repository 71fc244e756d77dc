r"""Registries of metrics and of sample estimators, so that a CLI string or a Study names either.

``metrics.create("tv")`` gives a :class:`Metric` (name, conventions, range, symmetry);
``estimators.create("knn:k=5")`` gives an :class:`Estimator`: a sample-based estimator with its
parameters bound, which says which metrics it serves and what it needs besides the generated
samples (``needs``):

* ``"reference"``: a sample of the target (two-sample estimators: exact OT, sliced, k-NN, histogram,
  classifier, Bures fit);
* ``"target"``: the target law itself (semi-discrete 1-D OT, bias-cancelled k-NN with the target's
  log-density, which also uses a reference sample);
* ``"density"``: the generated law's exact log-density at the samples and the target's ``log_prob``
  (Monte Carlo with known densities).

Calling an estimator returns a :class:`~sgmbench.metrics.record.MetricRecord` without a floor; the
floor and the "meaningful" verdict are added by :func:`sgmbench.metrics.estimate`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from sgmbench.errors import SgmbenchError
from sgmbench.metrics import knn, montecarlo, ot, tv
from sgmbench.metrics._util import has_log_prob, log_prob, try_gaussian
from sgmbench.metrics.record import MetricRecord, make_record, timer
from sgmbench.registry import Registry, format_spec


# ------------------------------------------------------------------------------------------------
# Metrics
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Metric:
    """A distance or divergence: its name, meaning, range and whether it is symmetric."""

    name: str
    summary: str
    symmetric: bool
    lower: float = 0.0
    upper: float = math.inf
    squared: bool = False  # floor comparisons happen on value**2 when False and the metric is a W2


metrics: Registry[Metric] = Registry("metric")

_METRICS = {
    "w2": ("W2 (not squared) for the cost |x - y|^2", True, math.inf),
    "w2_sq": ("W2 squared", True, math.inf),
    "kl": ("KL(target || generated) in nats (the direction Girsanov-type bounds control)", False, math.inf),
    "kl_reverse": ("KL(generated || target) in nats", False, math.inf),
    "tv": ("total variation sup_A |P(A) - Q(A)| in [0, 1]", True, 1.0),
    "hellinger": ("Hellinger distance H = sqrt(1 - BC) in [0, 1], BC = int sqrt(p q)", True, 1.0),
    "sliced_w2": (
        "sliced W2: (E_theta W2^2(theta#P, theta#Q))^(1/2), theta uniform on the sphere",
        True,
        math.inf,
    ),
}


def _register_metric(name: str, summary: str, symmetric: bool, upper: float) -> None:
    def factory() -> Metric:
        return Metric(name, summary, symmetric, 0.0, upper, squared=name == "w2_sq")

    factory.__doc__ = summary
    metrics.register(name, summary=summary, source="DESIGN.md conventions")(factory)


for _name, (_summary, _sym, _upper) in _METRICS.items():
    _register_metric(_name, _summary, _sym, _upper)

METRIC_NAMES = tuple(_METRICS)


def get_metric(name: str | Metric) -> Metric:
    """The :class:`Metric` a name denotes; unknown names raise :class:`SgmbenchError`."""
    return name if isinstance(name, Metric) else metrics.create(name)


# ------------------------------------------------------------------------------------------------
# Estimators
# ------------------------------------------------------------------------------------------------
NEEDS = ("reference", "target", "density")


@dataclasses.dataclass(frozen=True)
class Estimator:
    """A sample estimator with bound parameters: ``est(metric, x, y=..., target=..., x_log_prob=...)``."""

    name: str
    metrics: tuple[str, ...]
    needs: str
    run: Callable[..., MetricRecord]
    params: tuple[tuple[str, Any], ...] = ()
    summary: str = ""
    uses_reference: bool = True  # whether it consumes a reference sample of the target

    @property
    def spec(self) -> str:
        """Canonical spec string (``name:k=v,...``), the estimator's cache key."""
        return format_spec(self.name, dict(self.params))

    def check_metric(self, metric: str) -> None:
        if metric not in self.metrics:
            raise SgmbenchError(
                f"estimator {self.name!r} does not measure {metric!r}; it measures {', '.join(self.metrics)}"
            )

    def __call__(
        self,
        metric: str,
        x: np.ndarray,
        *,
        y: np.ndarray | None = None,
        target: Any = None,
        x_log_prob: np.ndarray | None = None,
        seed: int = 0,
    ) -> MetricRecord:
        self.check_metric(metric)
        if self.needs in ("reference",) and y is None:
            raise SgmbenchError(f"estimator {self.name!r} needs a reference sample of the target")
        if self.needs == "target" and target is None:
            raise SgmbenchError(f"estimator {self.name!r} needs the target law")
        if self.needs == "density" and (x_log_prob is None or target is None):
            raise SgmbenchError(
                f"estimator {self.name!r} needs the generated log-density at the samples (samples_log_prob) "
                "and a target with log_prob"
            )
        with timer() as t:
            rec = self.run(
                metric, x, y=y, target=target, x_log_prob=x_log_prob, seed=seed, **dict(self.params)
            )
        runtime = rec.runtime_s if math.isfinite(rec.runtime_s) else t()
        return rec.replace(estimator=self.spec, metric=metric, runtime_s=runtime)


estimators: Registry[Estimator] = Registry("estimator")


def get_estimator(spec: str | Estimator) -> Estimator:
    """The :class:`Estimator` a spec string names (``"knn:k=5"``), or the estimator itself."""
    return spec if isinstance(spec, Estimator) else estimators.create(spec)


def _make(
    name: str, metrics_: tuple[str, ...], needs: str, run: Callable, params: dict, summary: str
) -> Estimator:
    return Estimator(name, metrics_, needs, run, tuple(sorted(params.items())), summary)


# --- W2 ---------------------------------------------------------------------------------------
def _run_ot_exact(metric, x, *, y, num_iter_max, strict, max_n, **_):
    return ot.w2_sq_exact(x, y, num_iter_max=num_iter_max, strict=strict, max_n=max_n, metric=metric)


@estimators.register("ot-exact", source="POT ot.emd2 (network simplex); metrics-and-exact §4.1")
def ot_exact(num_iter_max: int = 10**9, strict: bool = True, max_n: int = ot.OT_MAX_N) -> Estimator:
    """Plug-in W2 by exact OT between the samples and a reference sample (POT emd2, result code checked)."""
    params = dict(num_iter_max=num_iter_max, strict=strict, max_n=max_n)
    return _make("ot-exact", ("w2", "w2_sq"), "reference", _run_ot_exact, params, ot_exact.__doc__)


def _run_sliced(metric, x, *, y, n_projections, projection_seed, **_):
    return ot.sliced_w2(x, y, n_projections=n_projections, seed=projection_seed, metric=metric)


@estimators.register("sliced", source="POT ot.sliced_wasserstein_distance; Nadjahi et al. 2020")
def sliced(n_projections: int = 200, projection_seed: int = 0) -> Estimator:
    """Sliced W2 with seeded projections; for w2/w2_sq it returns the lower bound sqrt(d) SW2."""
    params = dict(n_projections=n_projections, projection_seed=projection_seed)
    return _make("sliced", ("sliced_w2", "w2", "w2_sq"), "reference", _run_sliced, params, sliced.__doc__)


def _run_bures(metric, x, *, y, target, target_moments, **_):
    use_exact = target_moments == "exact" or (target_moments == "auto" and try_gaussian(target) is not None)
    if use_exact:
        return ot.w2_bures_fit(x, target=target, metric=metric)
    if target_moments not in ("auto", "sample"):
        raise SgmbenchError(f"target_moments must be auto, exact or sample, got {target_moments!r}")
    return ot.w2_bures_fit(x, y, metric=metric)


@estimators.register(
    "bures-fit", source="Gelbrich 1990; POT ot.gaussian.empirical_bures_wasserstein_distance"
)
def bures_fit(target_moments: str = "auto") -> Estimator:
    """Bures W2 between moment-matched Gaussians: a Gelbrich lower bound on W2."""
    return _make(
        "bures-fit",
        ("w2", "w2_sq"),
        "reference",
        _run_bures,
        dict(target_moments=target_moments),
        bures_fit.__doc__,
    )


def _run_semi_discrete(metric, x, *, target, **_):
    return ot.w2_semi_discrete_1d(x, target, metric=metric)


@estimators.register("semi-discrete-1d", source="quantile coupling; metrics-and-exact §4.1")
def semi_discrete_1d() -> Estimator:
    """W2 between a 1-D sample and the exact 1-D target (Gaussian or Gaussian mixture)."""
    return _make(
        "semi-discrete-1d", ("w2", "w2_sq"), "target", _run_semi_discrete, {}, semi_discrete_1d.__doc__
    )


# --- KL -----------------------------------------------------------------------------------------
def _run_knn(metric, x, *, y, k, **_):
    # kl = KL(target || generated): the target sample goes first
    if metric == "kl":
        return knn.kl_knn(y, x, k=k, metric=metric)
    return knn.kl_knn(x, y, k=k, metric=metric)


@estimators.register("knn", source="Wang, Kulkarni & Verdu 2009, eq. 5")
def knn_kl(k: int = 1) -> Estimator:
    """k-NN two-sample KL (either direction) between the samples and a reference sample of the target."""
    return _make("knn", ("kl", "kl_reverse"), "reference", _run_knn, dict(k=k), knn_kl.__doc__)


def _run_knn_known(metric, x, *, y, target, k, **_):
    if not has_log_prob(target):
        raise SgmbenchError(f"target {target!r} has no log_prob; use the 'knn' estimator")
    return knn.kl_knn_known_density(
        x, log_prob(target, x, "target"), y, log_prob(target, y, "target"), k=k, metric=metric
    )


@estimators.register("knn-known-density", source="metrics-and-exact §4.2 (bias-cancelled)")
def knn_known_density(k: int = 1) -> Estimator:
    """KL(generated || target): exact target log-density, k-NN entropies, bias cancelled by a reference."""
    return _make(
        "knn-known-density", ("kl_reverse",), "target", _run_knn_known, dict(k=k), knn_known_density.__doc__
    )


# --- TV and known densities ---------------------------------------------------------------------
def _run_mc(metric, x, *, target, x_log_prob, control_variate, **_):
    lq = np.asarray(x_log_prob, dtype=np.float64).reshape(-1)
    if lq.shape[0] != x.shape[0]:
        raise SgmbenchError(f"samples_log_prob has {lq.shape[0]} values for {x.shape[0]} samples")
    lp = log_prob(target, x, "target")
    n, d = x.shape
    note = "unbiased Monte Carlo with the exact generated and target log-densities"
    if metric == "tv":  # E_q[(1 - p/q)_+]
        value, se = montecarlo.tv_from_log_densities(lq, lp)
        return make_record("tv", value, se, lo=0.0, hi=1.0, n=n, dim=d, note=note)
    if metric == "kl_reverse":  # E_q[log q - log p]
        value, se = montecarlo.kl_from_log_densities(lq, lp, control_variate)
        return make_record("kl_reverse", value, se, lo=0.0, n=n, dim=d, note=note)
    h2, se2 = montecarlo.hellinger_sq_from_log_densities(lq, lp)
    h = math.sqrt(max(h2, 0.0))
    return make_record(
        "hellinger", h, se2 / (2 * h) if h > 0 else math.nan, lo=0.0, hi=1.0, n=n, dim=d, note=note
    )


@estimators.register("mc-known-density", source="metrics-and-exact §1.4f, §4.2")
def mc_known_density(control_variate: bool = False) -> Estimator:
    """TV, KL(generated || target), Hellinger by Monte Carlo over the samples, both log-densities exact."""
    return _make(
        "mc-known-density",
        ("tv", "kl_reverse", "hellinger"),
        "density",
        _run_mc,
        dict(control_variate=control_variate),
        mc_known_density.__doc__,
    )


def _run_histogram(metric, x, *, y, bins, **_):
    return tv.tv_histogram(x, y, bins=None if bins in (None, 0) else bins)


@estimators.register("histogram", source="metrics-and-exact §4.3")
def histogram(bins: int = 0) -> Estimator:
    """TV from equal-mass histograms (d <= 2); bins = 0 picks about n^(1/3)."""
    return _make("histogram", ("tv",), "reference", _run_histogram, dict(bins=bins), histogram.__doc__)


def _run_classifier(metric, x, *, y, model, test_fraction, seed, **_):
    return tv.tv_classifier(x, y, model=model, test_fraction=test_fraction, seed=seed)


@estimators.register("classifier", source="Lopez-Paz & Oquab 2017 (C2ST); TV >= 2 acc - 1")
def classifier(model: str = "auto", test_fraction: float = 0.5) -> Estimator:
    """Lower bound TV >= 2 acc - 1 from a held-out classifier (logistic on quadratic features by default)."""
    return _make(
        "classifier",
        ("tv",),
        "reference",
        _run_classifier,
        dict(model=model, test_fraction=test_fraction),
        classifier.__doc__,
    )


def default_estimator(metric: str, dim: int, target: Any = None, has_samples_log_prob: bool = False) -> str:
    """The estimator :func:`sgmbench.metrics.estimate` uses for ``metric`` in dimension ``dim`` by default.

    * ``w2``/``w2_sq``: 1-D Gaussian or mixture target: ``semi-discrete-1d``; d ≤ 4: ``ot-exact``;
      d ≥ 5: ``bures-fit`` (a Gelbrich lower bound: plug-in OT is dominated by its n^(-2/d) floor there);
    * ``sliced_w2``: ``sliced``;
    * ``kl``: ``knn``; ``kl_reverse``: ``mc-known-density`` with the generated log-density, else
      ``knn-known-density`` when the target has ``log_prob``, else ``knn``;
    * ``tv``: ``mc-known-density`` with the generated log-density, else ``histogram`` (d ≤ 2), else
      ``classifier`` (a lower bound);
    * ``hellinger``: ``mc-known-density`` only.
    """
    get_metric(metric)
    if metric in ("w2", "w2_sq"):
        if dim == 1 and target is not None:
            try:
                ot.components_1d(target)
                return "semi-discrete-1d"
            except SgmbenchError:
                pass
        return "ot-exact" if dim <= 4 else "bures-fit"
    if metric == "sliced_w2":
        return "sliced"
    if metric == "kl":
        return "knn"
    if metric == "kl_reverse":
        if has_samples_log_prob and target is not None and has_log_prob(target):
            return "mc-known-density"
        return "knn-known-density" if target is not None and has_log_prob(target) else "knn"
    if metric == "tv":
        if has_samples_log_prob and target is not None and has_log_prob(target):
            return "mc-known-density"
        return "histogram" if dim <= 2 else "classifier"
    if metric == "hellinger":
        if not has_samples_log_prob:
            raise SgmbenchError("hellinger from samples needs samples_log_prob (the generated log-density)")
        return "mc-known-density"
    raise SgmbenchError(f"no default estimator for metric {metric!r}")  # pragma: no cover
