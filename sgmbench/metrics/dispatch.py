r"""The two entry points the rest of the suite calls: exact laws and samples.

* :func:`measure_between_laws` — between two *known* laws: closed forms (Gaussians; W2, KL both
  directions, Hellinger, exact TV) or Monte Carlo with exact log-densities (any laws with
  ``log_prob`` and ``sample``: mixtures, KDE laws, noised targets).
* :func:`estimate` — generated *samples* against a known target: a sample estimator (default chosen
  per metric and dimension, see :func:`~sgmbench.metrics.estimators.default_estimator`), with its
  standard error, 95 % interval and noise floor, and a verdict on whether the value is meaningful.

Direction conventions (``DESIGN.md``): ``kl`` is KL(target ‖ generated), ``kl_reverse`` is
KL(generated ‖ target).
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from sgmbench.errors import SgmbenchError
from sgmbench.metrics import gaussian as gauss
from sgmbench.metrics import montecarlo
from sgmbench.metrics._util import (
    as_samples,
    check_pd,
    child_seeds,
    has_log_prob,
    law_dim,
    sample_law,
    try_gaussian,
)
from sgmbench.metrics.estimators import Estimator, default_estimator, get_estimator, get_metric
from sgmbench.metrics.floor import FLOOR_SEED, judge, noise_floor
from sgmbench.metrics.record import MetricRecord, exact_record, timer

__all__ = ["measure_between_laws", "estimate", "gaussian_record"]


# ------------------------------------------------------------------------------------------------
# Exact laws
# ------------------------------------------------------------------------------------------------
def gaussian_record(metric: str, target: Any, generated: Any, tv_method: str = "auto") -> MetricRecord:
    r"""``metric`` between two known Gaussian laws in closed form (:mod:`sgmbench.metrics.gaussian`).

    Two laws in the same orthonormal basis (e.g. :class:`~sgmbench.laws.DiagGaussian` with equal
    ``basis``) cost $O(d)$; otherwise $O(d^3)$. The record's interval is the numerical tolerance.
    """
    get_metric(metric)
    p, q = try_gaussian(target), try_gaussian(generated)
    if p is None or q is None:
        raise SgmbenchError("gaussian_record needs two known Gaussian laws")
    if p.dim != q.dim:
        raise SgmbenchError(f"shape mismatch: target has dimension {p.dim}, generated has {q.dim}")
    d = p.dim
    same = p.same_basis(q)
    with timer() as t:
        if metric in ("w2", "w2_sq", "sliced_w2"):
            check_pd(p, "target", allow_zero=True)
            check_pd(q, "generated", allow_zero=True)
            sq = gauss._bures_w2_sq_views(p, q)
            rel = 1e-13 if same else 1e-10
            if metric == "sliced_w2":
                raise SgmbenchError("sliced_w2 between Gaussian laws has no closed form here; use estimate()")
            value = math.sqrt(sq) if metric == "w2" else sq
            tol, method = rel * value, "bures-diag" if same else "bures-sylvester"
        elif metric in ("kl", "kl_reverse"):
            ref, other = (q, p) if metric == "kl" else (p, q)  # KL(other || ref)
            eps, a = gauss.standardize_pair(ref, other)
            value = gauss._kl_standardized(eps, a, "qp")
            tol, method = (1e-13 if same else 1e-10) * value, "eigen-log1p"
        elif metric == "hellinger":
            eps, a = gauss.standardize_pair(p, q)
            value = math.sqrt(-math.expm1(gauss._log_bc_standardized(eps, a)))
            tol, method = (1e-13 if same else 1e-10) * max(value, 1e-300), "bhattacharyya"
        else:  # tv
            eps, a = gauss.standardize_pair(p, q)
            value, method, tol = gauss.tv_standardized(eps, a, tv_method)
    return exact_record(
        metric,
        value,
        tol,
        estimator=f"exact-gaussian:method={method}",
        runtime_s=t(),
        dim=d,
        note="closed form between Gaussian laws" + ("" if same else " (full covariances)"),
    )


def measure_between_laws(
    metric: str,
    target: Any,
    generated: Any,
    *,
    n: int = 100_000,
    seed: int = 0,
    tv_method: str = "auto",
    control_variate: bool = False,
) -> MetricRecord:
    r"""``metric`` between two known laws: exact where possible, else Monte Carlo with exact densities.

    ``target`` is the reference law $p$ (data or $p_\delta$), ``generated`` the model's law $q$:
    ``kl`` $={\rm KL}(p\|q)$, ``kl_reverse`` $={\rm KL}(q\|p)$. Two Gaussians (``DiagGaussian``, Gaussian
    targets and their noised laws, ``(mean, cov)`` pairs): :func:`gaussian_record`, ``exact=True``.
    Otherwise both need ``log_prob`` and ``sample``: KL, TV, Hellinger by unbiased Monte Carlo with ``n``
    points (:mod:`sgmbench.metrics.montecarlo`); W2 has no such estimator (use :func:`estimate`).
    """
    m = get_metric(metric).name
    dt, dg = law_dim(target), law_dim(generated)
    if dt is not None and dg is not None and dt != dg:
        raise SgmbenchError(f"shape mismatch: target has dimension {dt}, generated has {dg}")
    if try_gaussian(target) is not None and try_gaussian(generated) is not None:
        return gaussian_record(m, target, generated, tv_method=tv_method)
    if m in ("w2", "w2_sq", "sliced_w2"):
        raise SgmbenchError(
            f"{m} between non-Gaussian laws has no closed form; draw samples and call estimate()"
        )
    for law, name in ((target, "target"), (generated, "generated")):
        if not (has_log_prob(law) and hasattr(law, "sample")):
            raise SgmbenchError(f"{name} law needs log_prob and sample for Monte Carlo {m}")
    if m == "kl":
        return montecarlo.kl_monte_carlo(target, generated, n, seed, control_variate, metric="kl")
    if m == "kl_reverse":
        return montecarlo.kl_monte_carlo(generated, target, n, seed, control_variate, metric="kl_reverse")
    if m == "tv":
        return montecarlo.tv_monte_carlo(target, generated, n, seed)
    return montecarlo.hellinger_monte_carlo(target, generated, n, seed)


# ------------------------------------------------------------------------------------------------
# Samples
# ------------------------------------------------------------------------------------------------
def estimate(
    metric: str,
    samples: Any,
    target: Any,
    n: int | None = None,
    seed: int = 0,
    estimator: str | Estimator | None = None,
    *,
    reference: Any = None,
    samples_log_prob: Any = None,
    floor: bool = True,
    floor_replicates: int = 3,
    floor_seed: int = FLOOR_SEED,
    floor_cache_dir: str | os.PathLike | None = None,
) -> MetricRecord:
    r"""``metric`` between the law of ``samples`` and the known ``target``, with floor and verdict.

    ``samples``: ``[N, d]`` (numpy or torch); the first ``n`` rows are used (default all). ``target``:
    anything with ``sample(n, generator)`` (and ``log_prob`` for the density-based estimators).
    ``estimator``: a spec such as ``"ot-exact"``, ``"knn:k=5"``, ``"classifier:model=mlp"``, or ``None`` for
    the default per metric and dimension. ``reference``: a pre-drawn target sample (common random
    numbers across settings); otherwise ``n`` points are drawn from ``target`` with ``seed``.
    ``samples_log_prob``: the generated law's exact log-density at ``samples`` (enables Monte Carlo
    with known densities). ``floor``: measure the noise floor (cached; see :mod:`sgmbench.metrics.floor`)
    and decide ``meaningful``.
    """
    m = get_metric(metric).name
    x = as_samples(samples, "samples")
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
            raise SgmbenchError(f"n must be an integer >= 2, got {n!r}")
        if n > x.shape[0]:
            raise SgmbenchError(f"n = {n} but only {x.shape[0]} samples were given")
        x = x[: int(n)]
    n = x.shape[0]
    d = x.shape[1]
    td = law_dim(target)
    if td is not None and td != d:
        raise SgmbenchError(f"shape mismatch: samples have dimension {d}, target has {td}")
    lq = None
    if samples_log_prob is not None:
        lq = np.asarray(
            samples_log_prob.detach().cpu().double().numpy()
            if hasattr(samples_log_prob, "detach")
            else samples_log_prob,
            dtype=np.float64,
        ).reshape(-1)[:n]
        if lq.shape[0] != n:
            raise SgmbenchError(f"samples_log_prob has {lq.shape[0]} values for {n} samples")
    est = get_estimator(
        estimator if estimator is not None else default_estimator(m, d, target, lq is not None)
    )
    est.check_metric(m)
    ref_seed, run_seed = child_seeds(seed, 2, 0xE5)
    y = None
    if est.uses_reference:
        if reference is not None:
            y = as_samples(reference, "reference")
            if y.shape[1] != d:
                raise SgmbenchError(f"shape mismatch: samples have dimension {d}, reference has {y.shape[1]}")
            if y.shape[0] < n:
                raise SgmbenchError(f"reference has {y.shape[0]} points, fewer than n = {n}")
            y = y[:n]
        else:
            y = sample_law(target, n, ref_seed, "target")
    rec = est(m, x, y=y, target=target, x_log_prob=lq, seed=run_seed)
    if floor:
        fl = noise_floor(
            m, target, n, est, replicates=floor_replicates, seed=floor_seed, cache_dir=floor_cache_dir
        )
        rec = judge(rec, fl)
    return rec
