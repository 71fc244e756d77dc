r"""Metrics: exact and estimated W2, KL, TV (and Hellinger), each with its uncertainty and noise floor.

Conventions (``DESIGN.md``): ``w2`` is $W_2$ (not squared; ``w2_sq`` squared), ``kl`` is
KL(target ‖ generated) in nats, ``kl_reverse`` the other direction, ``tv`` is $\sup_A|P(A)-Q(A)|\in[0,1]$,
``hellinger`` is $\sqrt{1-{\rm BC}}\in[0,1]$, ``sliced_w2`` the sliced $W_2$. Every result is a
:class:`MetricRecord`.

Entry points::

    measure_between_laws("tv", target_law, generated_law)        # exact / Monte Carlo, no samples
    estimate("w2", samples, target, n=2000, seed=0)               # samples vs a known target
    estimate("kl", samples, target, estimator="knn:k=5")

Module map: ``gaussian`` (closed forms), ``montecarlo`` (known densities), ``ot`` (W2 from samples),
``knn`` (KL from samples), ``tv`` (histogram, classifier), ``floor`` (noise floors), ``estimators``
(registries ``metrics`` and ``estimators``), ``dispatch`` (the entry points), ``record``.
Formulas and sources: ``/work/shared/papers/metrics-and-exact.md``.
"""

from sgmbench.metrics.dispatch import estimate, gaussian_record, measure_between_laws
from sgmbench.metrics.estimators import (
    Estimator,
    Metric,
    default_estimator,
    estimators,
    get_estimator,
    get_metric,
    metrics,
)
from sgmbench.metrics.floor import Floor, clear_floor_cache, judge, noise_floor
from sgmbench.metrics.gaussian import (
    bures_w2,
    bures_w2_sq,
    hellinger_diag,
    hellinger_gaussian,
    kl_diag,
    kl_gaussian,
    quadratic_form_abs_mean,
    quadratic_form_sf0,
    tv_diag,
    tv_gaussian,
    tv_gaussian_1d,
    tv_gaussian_equal_cov,
    tv_gaussian_isotropic,
    w2_diag,
    w2_sq_diag,
)
from sgmbench.metrics.knn import entropy_knn, kl_knn, kl_knn_known_density
from sgmbench.metrics.montecarlo import (
    hellinger_monte_carlo,
    kl_from_log_densities,
    kl_monte_carlo,
    tv_from_log_densities,
    tv_monte_carlo,
)
from sgmbench.metrics.ot import (
    cost_matrix,
    sliced_w2,
    w2_bures_fit,
    w2_exact,
    w2_semi_discrete_1d,
    w2_sq_exact,
)
from sgmbench.metrics.record import MetricRecord
from sgmbench.metrics.tv import tv_classifier, tv_histogram


def available_metrics() -> list[str]:
    """Names of the registered metrics."""
    return metrics.names()


def available_estimators() -> list[str]:
    """Names of the registered sample estimators."""
    return estimators.names()


__all__ = [
    "MetricRecord",
    "Metric",
    "Estimator",
    "Floor",
    "metrics",
    "estimators",
    "available_metrics",
    "available_estimators",
    "get_metric",
    "get_estimator",
    "default_estimator",
    "measure_between_laws",
    "estimate",
    "gaussian_record",
    "noise_floor",
    "judge",
    "clear_floor_cache",
    # closed forms
    "w2_diag",
    "w2_sq_diag",
    "bures_w2",
    "bures_w2_sq",
    "kl_diag",
    "kl_gaussian",
    "hellinger_diag",
    "hellinger_gaussian",
    "tv_diag",
    "tv_gaussian",
    "tv_gaussian_1d",
    "tv_gaussian_equal_cov",
    "tv_gaussian_isotropic",
    "quadratic_form_sf0",
    "quadratic_form_abs_mean",
    # Monte Carlo with known densities
    "kl_monte_carlo",
    "tv_monte_carlo",
    "hellinger_monte_carlo",
    "kl_from_log_densities",
    "tv_from_log_densities",
    # sample estimators
    "cost_matrix",
    "w2_exact",
    "w2_sq_exact",
    "sliced_w2",
    "w2_bures_fit",
    "w2_semi_discrete_1d",
    "kl_knn",
    "kl_knn_known_density",
    "entropy_knn",
    "tv_histogram",
    "tv_classifier",
]
