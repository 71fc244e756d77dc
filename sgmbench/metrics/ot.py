r"""W2 from samples: exact OT (POT), sliced W2, the Gaussian-fit (Bures) lower bound, 1-D semi-discrete.

Conventions: ``w2`` is $W_2$ (not squared), ``w2_sq`` its square, cost $\|x-y\|^2$.

* :func:`w2_exact` / :func:`w2_sq_exact`: the plug-in $\widehat W_2^2=\min_\pi\sum_{ij}\pi_{ij}\|X_i-Y_j\|^2$
  by POT's
  network simplex ``ot.emd2`` on ``ot.dist`` (uniform weights, ``numItermax`` raised to 1e9: the
  default 1e5 stops early at n ≈ 4000 with only a warning, ANCHORS §4.2). A solve that is not
  optimal raises :class:`SgmbenchError` (``strict=True``) or returns a record flagged not meaningful.
  Biased upward by the noise floor, which decays like $n^{-2/d}$ ($d\ge5$): in $d\ge10$ the floor
  exceeds most signals (metrics-and-exact §4.1).
* :func:`sliced_w2`: $SW_2=(E_\theta W_2^2(\theta_\#P,\theta_\#Q))^{1/2}$ (POT
  ``ot.sliced_wasserstein_distance``,
  seeded projections); floor $\approx 6/n$ in $SW_2^2$ in any $d$; $\sqrt d\,SW_2\le W_2$.
* :func:`w2_bures_fit`: Bures W2 between moment-matched Gaussians: a lower bound on $W_2$ (Gelbrich
  1990), exact when both laws are Gaussian.
* :func:`w2_semi_discrete_1d`: $W_2$ between a 1-D sample and a known 1-D Gaussian or Gaussian mixture,
  by the quantile-function integral (no second sample, half the noise).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import ot
from scipy import special

from sgmbench.errors import SgmbenchError
from sgmbench.metrics._util import (
    GaussianView,
    as_samples,
    check_same_dim,
    gaussian_from_moments,
    try_gaussian,
)
from sgmbench.metrics.gaussian import _bures_w2_sq_views
from sgmbench.metrics.record import MetricRecord, make_record, timer

__all__ = [
    "cost_matrix",
    "w2_exact",
    "w2_sq_exact",
    "sliced_w2",
    "w2_bures_fit",
    "w2_semi_discrete_1d",
    "batch_means_stderr",
    "OT_MAX_N",
    "OT_MEANINGLESS_DIM",
    "FLOOR_DECIDES",
]

#: default largest sample size for the dense exact solver (8 n^2 bytes per matrix; ANCHORS §4.3)
OT_MAX_N = 10_000
#: from this dimension on, plug-in W2 is flagged unless the measured floor shows a resolvable signal
OT_MEANINGLESS_DIM = 10
BATCHES = 10
#: marks a "not meaningful" prediction that a measured floor may overturn (see floor.judge)
FLOOR_DECIDES = "meaningful only if the measured floor says so"
EMD_RESULT = {0: "INFEASIBLE", 1: "OPTIMAL", 2: "UNBOUNDED", 3: "MAX_ITER_REACHED"}


def batch_means_stderr(fn: Callable[..., float], *arrays: np.ndarray, batches: int = BATCHES) -> float:
    r"""Standard error of ``fn(*arrays)`` from ``batches`` disjoint interleaved batches: ${\rm sd}_b/\sqrt B$.

    Assumes the estimator's variance scales like $1/n$ (true for $\sqrt n$-consistent estimators away
    from degenerate points; conservative at $P=Q$ where OT fluctuations are smaller). Derived by us.
    Returns ``nan`` when a batch would have fewer than 20 points.
    """
    if min(a.shape[0] for a in arrays) < 20 * batches:
        return math.nan
    vals = [fn(*(a[b::batches] for a in arrays)) for b in range(batches)]
    return float(np.std(vals, ddof=1) / math.sqrt(batches))


# ------------------------------------------------------------------------------------------------
# Exact OT
# ------------------------------------------------------------------------------------------------
def cost_matrix(x: Any, y: Any) -> np.ndarray:
    r"""$M_{ij}=\|x_i-y_j\|^2$ by ``ot.dist`` (sqeuclidean) after centring both samples on their pooled mean.

    Centring removes the cancellation error $\epsilon_{\rm mach}(\|x\|^2+\|y\|^2)$ of the BLAS identity
    (metrics-and-exact §6) and leaves every $M_{ij}$ unchanged in exact arithmetic.
    """
    x, y = as_samples(x, "x", min_n=1), as_samples(y, "y", min_n=1)
    check_same_dim(x, y)
    c = (x.sum(axis=0) + y.sum(axis=0)) / (x.shape[0] + y.shape[0])
    return ot.dist(x - c, y - c)


def _emd(x: np.ndarray, y: np.ndarray, num_iter_max: int) -> tuple[float, dict, np.ndarray]:
    M = cost_matrix(x, y)
    a = np.full(x.shape[0], 1.0 / x.shape[0])
    b = np.full(y.shape[0], 1.0 / y.shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # we read result_code instead
        cost, log = ot.emd2(a, b, M, numItermax=int(num_iter_max), log=True)
    return float(cost), log, M


def _ot_meaningful(d: int) -> tuple[bool, str]:
    if d >= OT_MEANINGLESS_DIM:
        return False, (
            f"plug-in W2 in d = {d}: its floor (bias ~ n^(-2/d); W2^2 floor 3.6 at d = 10, n = 2000) "
            f"exceeds most signals; {FLOOR_DECIDES}"
        )
    if d >= 5:
        return True, f"plug-in W2 in d = {d} is biased by ~n^(-2/d): compare with the floor"
    return True, ""


def w2_sq_exact(
    x: Any,
    y: Any,
    num_iter_max: int = 10**9,
    strict: bool = True,
    max_n: int = OT_MAX_N,
    metric: str = "w2_sq",
) -> MetricRecord:
    r"""Plug-in $\widehat W_2^2$ between two samples by exact OT (POT ``ot.emd2``), with a CLT standard error.

    $$\widehat W_2^2 = \min_{\pi\in\Pi(\frac1n\mathbf 1,\frac1m\mathbf 1)}\sum_{ij}\pi_{ij}\|x_i-y_j\|^2$$
    (network simplex, Bonneel et al. 2011, via POT; ``numItermax`` 1e9). ``result_code`` must be
    OPTIMAL: otherwise :class:`SgmbenchError` (``strict``) or a record with ``meaningful=False``.
    stderr$^2={\rm Var}(u)/n+{\rm Var}(v)/m$ with $(u,v)$ the optimal dual potentials: the CLT for the
    empirical transport cost when $P\ne Q$ (del Barrio & Loubes 2019, Ann. Probab.; two-sample form: del
    Barrio, González-Sanz & Loubes 2021, hal-03136113);
    it describes the fluctuation around $E\widehat W_2^2$, whose bias is the noise floor.
    """
    x, y = as_samples(x, "x"), as_samples(y, "y")
    d = check_same_dim(x, y)
    n, m = x.shape[0], y.shape[0]
    if max(n, m) > max_n:
        raise SgmbenchError(
            f"exact OT with n = {max(n, m)} > max_n = {max_n} needs ~{8 * n * m / 1e9:.1f} GB per matrix; "
            "subsample, raise max_n, or use sliced W2"
        )
    with timer() as t:
        cost, log, _ = _emd(x, y, num_iter_max)
        code = int(log.get("result_code", -1))
        u, v = np.asarray(log["u"]), np.asarray(log["v"])
        se = math.sqrt(u.var(ddof=1) / n + v.var(ddof=1) / m)
    ok, note = _ot_meaningful(d)
    if code != 1:
        msg = (
            f"ot.emd2 stopped at result_code {code} ({EMD_RESULT.get(code, '?')}) with num_iter_max = "
            f"{num_iter_max}: the value is not the optimum; raise num_iter_max"
        )
        if strict:
            raise SgmbenchError(msg)
        ok, note, se = False, msg + ("; " + note if note else ""), math.nan
    if metric == "w2":
        value = math.sqrt(max(cost, 0.0))
        se = se / (2 * value) if value > 0 else math.nan
    elif metric == "w2_sq":
        value = cost
    else:
        raise SgmbenchError(f"exact OT measures w2 or w2_sq, not {metric!r}")
    return make_record(
        metric, value, se, lo=0.0, n=n, estimator="ot-exact", runtime_s=t(), dim=d, meaningful=ok, note=note
    )


def w2_exact(
    x: Any, y: Any, num_iter_max: int = 10**9, strict: bool = True, max_n: int = OT_MAX_N
) -> MetricRecord:
    r"""Plug-in $\widehat W_2=\sqrt{\widehat W_2^2}$ (not squared); see :func:`w2_sq_exact`."""
    return w2_sq_exact(x, y, num_iter_max, strict, max_n, metric="w2")


# ------------------------------------------------------------------------------------------------
# Sliced W2
# ------------------------------------------------------------------------------------------------
def _projections(d: int, n_projections: int, seed: int) -> np.ndarray:
    return ot.sliced.get_random_projections(d, n_projections, seed=seed)


def sliced_w2(
    x: Any, y: Any, n_projections: int = 200, seed: int = 0, metric: str = "sliced_w2"
) -> MetricRecord:
    r"""Sliced $SW_2$: root mean of $W_2^2(\theta_\#\hat P,\theta_\#\hat Q)$ over seeded projections $\theta$.

    POT ``ot.sliced_wasserstein_distance(x, y, n_projections=L, p=2, projections=...)`` with projections
    drawn from ``seed`` (common random numbers across settings). $SW_2^2 \le W_2^2/d$ (metrics-and-exact §2),
    so ``metric="w2"`` returns $\sqrt d\,SW_2$ as a (population) lower bound on $W_2$. Rate $n^{-1/2}$ in any
    $d$; floor $\approx6/n$ in $SW_2^2$ (Nadjahi et al. 2020; metrics-and-exact §4.1).
    stderr (of $SW_2^2$, then delta method): batch means over the samples plus the Monte Carlo error over
    projections ${\rm Var}_l(W_{2,l}^2)/L$.
    """
    x, y = as_samples(x, "x"), as_samples(y, "y")
    d = check_same_dim(x, y)
    if (
        isinstance(n_projections, bool)
        or not isinstance(n_projections, (int, np.integer))
        or n_projections < 2
    ):
        raise SgmbenchError(f"n_projections must be an integer >= 2, got {n_projections!r}")
    with timer() as t:
        proj = _projections(d, int(n_projections), int(seed))
        c = (x.sum(axis=0) + y.sum(axis=0)) / (x.shape[0] + y.shape[0])
        x, y = x - c, y - c
        sw, log = ot.sliced_wasserstein_distance(x, y, p=2, projections=proj, log=True)
        sw2 = float(sw) ** 2
        per = np.asarray(log["projected_emds"], dtype=float)
        var_proj = per.var(ddof=1) / per.shape[0]

        def sq(a, b):
            return float(ot.sliced_wasserstein_distance(a, b, p=2, projections=proj)) ** 2

        se_batch = batch_means_stderr(sq, x, y)
        se_sq = math.sqrt(se_batch**2 + var_proj) if math.isfinite(se_batch) else math.nan
    kind, note = "value", f"{n_projections} projections, seed {seed}"
    value = math.sqrt(sw2)
    if metric == "w2":
        value, kind = math.sqrt(d) * value, "lower_bound"
        se_sq *= d
        sw2 *= d
        note = "sqrt(d)*SW2 <= W2 (population lower bound); " + note
    elif metric == "w2_sq":
        kind = "lower_bound"
        note = "d*SW2^2 <= W2^2 (population lower bound); " + note
        return make_record(
            metric,
            d * sw2,
            d * se_sq,
            lo=0.0,
            n=x.shape[0],
            estimator=f"sliced:n_projections={n_projections}",
            runtime_s=t(),
            dim=d,
            kind=kind,
            note=note,
        )
    elif metric != "sliced_w2":
        raise SgmbenchError(f"sliced W2 measures sliced_w2 (or bounds w2, w2_sq), not {metric!r}")
    se = se_sq / (2 * value) if value > 0 else math.nan
    return make_record(
        metric,
        value,
        se,
        lo=0.0,
        n=x.shape[0],
        estimator=f"sliced:n_projections={n_projections}",
        runtime_s=t(),
        dim=d,
        kind=kind,
        note=note,
    )


# ------------------------------------------------------------------------------------------------
# Gaussian fit (Bures) lower bound
# ------------------------------------------------------------------------------------------------
def _moments(x: np.ndarray) -> GaussianView:
    mean = x.mean(axis=0)
    cov = np.atleast_2d(np.cov(x, rowvar=False, ddof=1))
    return gaussian_from_moments(mean, cov)


def w2_bures_fit(x: Any, y: Any = None, target: Any = None, metric: str = "w2") -> MetricRecord:
    r"""$W_2$ between Gaussians with the sample moments of ``x`` and ``y`` (or ``target``'s exact ones).

    $$W_2^2\big(N(\bar x,\hat S_x),N(\bar y,\hat S_y)\big)=\|\bar x-\bar y\|^2+{\rm tr}\big(\hat S_x+\hat
    S_y-2(\hat S_x^{1/2}\hat S_y\hat S_x^{1/2})^{1/2}\big)$$
    (the FID formula; POT ``ot.gaussian.empirical_bures_wasserstein_distance`` without its ``reg``),
    computed by :func:`~sgmbench.metrics.gaussian.bures_w2_sq`. By Gelbrich (1990, Math. Nachr. 147) this
    is a **lower bound** on $W_2(P,Q)$ for any laws with these moments (``kind="lower_bound"``), exact when
    both are Gaussian. ``target``: a Gaussian law whose exact mean and covariance replace ``y``'s.
    Bias $O(d/n)$ in $W_2^2$, rate $n^{-1/2}$. stderr: batch means.
    """
    x = as_samples(x, "x")
    if (y is None) == (target is None):
        raise SgmbenchError("w2_bures_fit needs exactly one of y (a sample) or target (a Gaussian law)")
    exact_target = None
    if target is not None:
        exact_target = try_gaussian(target)
        if exact_target is None:
            raise SgmbenchError(
                f"target {type(target).__name__} is not a known Gaussian; pass a sample y instead"
            )
        if exact_target.dim != x.shape[1]:
            raise SgmbenchError(
                f"shape mismatch: x has dimension {x.shape[1]}, target has {exact_target.dim}"
            )
    else:
        y = as_samples(y, "y")
        check_same_dim(x, y)
    d = x.shape[1]
    with timer() as t:
        if exact_target is not None:

            def fn(a):
                return _bures_w2_sq_views(_moments(a), exact_target)

            value = fn(x)
            se = batch_means_stderr(fn, x)
        else:

            def fn(a, b):
                return _bures_w2_sq_views(_moments(a), _moments(b))

            value = fn(x, y)
            se = batch_means_stderr(fn, x, y)
    note = "Gelbrich lower bound on W2 (moment-matched Gaussians); exact when both laws are Gaussian"
    est = "bures-fit" + (":target_moments=exact" if exact_target is not None else "")
    if metric == "w2":
        w = math.sqrt(max(value, 0.0))
        se = se / (2 * w) if w > 0 else math.nan
        value = w
    elif metric != "w2_sq":
        raise SgmbenchError(f"bures-fit measures w2 or w2_sq, not {metric!r}")
    return make_record(
        metric,
        value,
        se,
        lo=0.0,
        n=x.shape[0],
        estimator=est,
        runtime_s=t(),
        dim=d,
        kind="lower_bound",
        note=note,
    )


# ------------------------------------------------------------------------------------------------
# 1-D semi-discrete
# ------------------------------------------------------------------------------------------------
Components = Sequence[tuple[float, float, float]]


def components_1d(law: Any) -> list[tuple[float, float, float]]:
    """``[(weight, mean, variance)]`` of a 1-D Gaussian or Gaussian-mixture law.

    Accepts a list of such triples, a Gaussian (:func:`~sgmbench.metrics._util.try_gaussian`), or an
    object with ``gaussian_components()`` returning ``[(weight, mean, eigenvalues, basis)]``.
    """
    if (
        isinstance(law, (list, tuple))
        and law
        and all(isinstance(c, (list, tuple)) and len(c) == 3 for c in law)
    ):
        comps = [(float(w), float(m), float(v)) for w, m, v in law]
    elif try_gaussian(law) is not None:
        g = try_gaussian(law)
        if g.dim != 1:
            raise SgmbenchError(f"semi-discrete W2 needs a 1-D law, got dimension {g.dim}")
        comps = [(1.0, float(g.full_mean()[0]), float(g.var[0]))]
    elif hasattr(law, "gaussian_components"):
        comps = []
        for w, mean, lam, _basis in law.gaussian_components():
            mean = np.asarray(mean.cpu() if hasattr(mean, "cpu") else mean, dtype=float).reshape(-1)
            lam = np.asarray(lam.cpu() if hasattr(lam, "cpu") else lam, dtype=float).reshape(-1)
            if mean.size != 1:
                raise SgmbenchError(f"semi-discrete W2 needs a 1-D law, got dimension {mean.size}")
            comps.append((float(w), float(mean[0]), float(lam[0])))
    else:
        raise SgmbenchError(
            f"semi-discrete W2 needs a 1-D Gaussian or Gaussian mixture, got {type(law).__name__}"
        )
    w = np.array([c[0] for c in comps])
    if (w <= 0).any() or not math.isclose(w.sum(), 1.0, rel_tol=1e-9):
        raise SgmbenchError(f"mixture weights must be positive and sum to 1, got {w.tolist()}")
    if any(not (c[2] > 0) for c in comps):
        raise SgmbenchError("mixture variances must be > 0")
    return comps


def _mixture_quantiles(comps: Components, u: np.ndarray) -> np.ndarray:
    w = np.array([c[0] for c in comps])
    mu = np.array([c[1] for c in comps])
    s = np.sqrt(np.array([c[2] for c in comps]))
    if len(comps) == 1:
        return mu[0] + s[0] * special.ndtri(u)
    lo = np.full(u.shape, float(np.min(mu - 40 * s)))
    hi = np.full(u.shape, float(np.max(mu + 40 * s)))
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        f = special.ndtr((mid[:, None] - mu) / s) @ w
        left = f < u
        lo = np.where(left, mid, lo)
        hi = np.where(left, hi, mid)
        if np.all(hi - lo <= 4 * np.finfo(float).eps * np.maximum(1.0, np.abs(mid))):
            break
    return 0.5 * (lo + hi)


def _semi_discrete_sq(x_sorted: np.ndarray, comps: Components) -> float:
    n = x_sorted.shape[0]
    q = _mixture_quantiles(comps, np.arange(1, n) / n)
    edges = np.concatenate([[-np.inf], q, [np.inf]])
    total = 0.0
    for w, m, v in comps:
        s = math.sqrt(v)
        a, b = (edges[:-1] - m) / s, (edges[1:] - m) / s
        # P(a < Z < b) with tail accuracy
        mass = np.where(a > 0, special.ndtr(-a) - special.ndtr(-b), special.ndtr(b) - special.ndtr(a))
        pa, pb = np.exp(-0.5 * a * a) / math.sqrt(2 * math.pi), np.exp(-0.5 * b * b) / math.sqrt(2 * math.pi)
        with np.errstate(invalid="ignore"):
            apa = np.where(np.isfinite(a), a * pa, 0.0)
            bpb = np.where(np.isfinite(b), b * pb, 0.0)
        delta = x_sorted - m
        # \int_a^b (delta - s z)^2 phi(z) dz
        cell = delta**2 * mass - 2 * delta * s * (pa - pb) + v * (mass + apa - bpb)
        total += w * float(np.sum(np.maximum(cell, 0.0)))
    return total


def w2_semi_discrete_1d(x: Any, law: Any, metric: str = "w2") -> MetricRecord:
    r"""$W_2$ between the empirical law of a 1-D sample and a known 1-D Gaussian or Gaussian mixture $Q$.

    $$W_2^2(\hat P_n,Q)=\sum_{i=1}^n\int_{(i-1)/n}^{i/n}\big(x_{(i)}-F_Q^{-1}(u)\big)^2du$$
    (the 1-D quantile coupling; metrics-and-exact §4.1 gives the Gaussian case in closed form). For a
    mixture $\sum_kw_kN(\mu_k,s_k^2)$ each cell is $\sum_kw_k\int_{a_k}^{b_k}(x_{(i)}-\mu_k-s_kz)^2\phi(z)dz$
    in closed
    form (truncated-normal moments), with the quantiles $F_Q^{-1}(i/n)$ by bisection (derived by us).
    stderr: batch means. No second sample, so half the noise of the two-sample estimator.
    """
    x = as_samples(x, "x")
    if x.shape[1] != 1:
        raise SgmbenchError(f"semi-discrete W2 needs 1-D samples, got dimension {x.shape[1]}")
    comps = components_1d(law)
    with timer() as t:
        xs = np.sort(x[:, 0])

        def fn(a):
            return _semi_discrete_sq(np.sort(a[:, 0]), comps)

        value = _semi_discrete_sq(xs, comps)
        se = batch_means_stderr(fn, x)
    if metric == "w2":
        w = math.sqrt(max(value, 0.0))
        se = se / (2 * w) if w > 0 else math.nan
        value = w
    elif metric != "w2_sq":
        raise SgmbenchError(f"semi-discrete OT measures w2 or w2_sq, not {metric!r}")
    return make_record(
        metric,
        value,
        se,
        lo=0.0,
        n=x.shape[0],
        estimator="semi-discrete-1d",
        runtime_s=t(),
        dim=1,
        note="quantile coupling against the exact 1-D law",
    )
