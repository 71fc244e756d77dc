r"""Exact W2, KL, Hellinger and TV between Gaussian laws (no sampling; float64).

Conventions (``DESIGN.md``): $W_2$ is not squared; ${\rm KL}(P\|Q)$ in nats;
${\rm TV}=\sup_A|P(A)-Q(A)|\in[0,1]$; Hellinger $H$ with $H^2 = 1-{\rm BC}$, ${\rm BC}=\int\sqrt{pq}$,
so $H\in[0,1]$.

Two families of functions:

* ``*_diag`` take two Gaussians **in the same orthonormal basis** as coordinate means and variances
  $(m_1, v_1), (m_2, v_2)$ and cost $O(d)$ (``d = 1000`` TV in milliseconds);
* the others take full means and covariance matrices and cost $O(d^3)$.

All of them avoid the cancellations of the textbook formulas, so they stay accurate for laws that are
almost equal (the regime where convergence rates are measured):

* W2: per coordinate $(\sqrt{v_1}-\sqrt{v_2})^2 = (v_1-v_2)^2/(\sqrt{v_1}+\sqrt{v_2})^2$; for full
  covariances a Sylvester form of the Bures term (derived by us, see :func:`bures_w2_sq`).
* KL: the eigen/log1p form with $\epsilon-\log(1+\epsilon)$ by its series for small $\epsilon$
  (accurate to a relative $10^{-14}$ for KL down to $10^{-30}$).
* TV: closed forms for equal covariances, 1-D and isotropic pairs; Gil-Pelaez/Imhof inversion of the
  log-likelihood ratio's characteristic function for any pair; a first-order expansion for TV < 1e-6
  (relative error ~1.5 TV).

Source: ``/work/shared/papers/metrics-and-exact.md`` §1 (formulas and the numerical recipe of §1.4e).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from scipy import integrate, special, stats

from sgmbench.errors import SgmbenchError
from sgmbench.metrics._util import GaussianView, as_vector, check_pd, gaussian_from_moments

__all__ = [
    "bures_w2",
    "bures_w2_sq",
    "w2_diag",
    "w2_sq_diag",
    "kl_gaussian",
    "kl_diag",
    "hellinger_gaussian",
    "hellinger_diag",
    "tv_gaussian",
    "tv_diag",
    "tv_gaussian_equal_cov",
    "tv_gaussian_1d",
    "tv_gaussian_isotropic",
    "quadratic_form_sf0",
    "quadratic_form_abs_mean",
]

# relative size of W2/TV/KL below which we call two laws "equal" (returns 0 exactly)
_TINY = 1e-300
TV_SERIES_THRESHOLD = 1e-6


# ------------------------------------------------------------------------------------------------
# Input handling
# ------------------------------------------------------------------------------------------------
def _diag_inputs(m1: Any, v1: Any, m2: Any, v2: Any, *, allow_zero: bool = False):
    m1, v1, m2, v2 = (as_vector(a, n) for a, n in ((m1, "m1"), (v1, "v1"), (m2, "m2"), (v2, "v2")))
    d = m1.shape[0]
    if v1.shape[0] == 1 and d > 1:
        v1 = np.full(d, v1[0])
    if v2.shape[0] == 1 and d > 1:
        v2 = np.full(d, v2[0])
    for arr, name in ((v1, "v1"), (m2, "m2"), (v2, "v2")):
        if arr.shape[0] != d:
            raise SgmbenchError(f"shape mismatch: m1 has dimension {d}, {name} has {arr.shape[0]}")
    check_pd(GaussianView(m1, v1, None), "first", allow_zero=allow_zero)
    check_pd(GaussianView(m2, v2, None), "second", allow_zero=allow_zero)
    return m1, v1, m2, v2


def _full_inputs(m1: Any, S1: Any, m2: Any, S2: Any, *, allow_zero: bool = False):
    p = gaussian_from_moments(m1, S1, "S1")
    q = gaussian_from_moments(m2, S2, "S2")
    if p.dim != q.dim:
        raise SgmbenchError(f"shape mismatch: first Gaussian has dimension {p.dim}, second has {q.dim}")
    check_pd(p, "first", allow_zero=allow_zero)
    check_pd(q, "second", allow_zero=allow_zero)
    return p, q


def standardize_pair(p: GaussianView, q: GaussianView) -> tuple[np.ndarray, np.ndarray]:
    r"""$(\epsilon, a)$: TV/KL/H$(P, Q)$ equal those between $N(0, I)$ and $N(a, {\rm diag}(1+\epsilon))$.

    Affine invariance: with $V$ from the generalized eigenproblem $(S_Q - S_P)V = S_P V{\rm diag}(\epsilon)$,
    $V^\top S_P V = I$, $a = V^\top(m_Q - m_P)$ (metrics-and-exact §1.4e), solved as the symmetric
    eigenproblem of $W^\top(S_Q-S_P)W$ with $W=U_P{\rm diag}(v_P)^{-1/2}$ from $P$'s eigenbasis.
    $S_Q - S_P$ is formed directly, so $\epsilon$ keeps its relative accuracy when the laws are close.
    Same basis: $O(d)$.
    """
    check_pd(p, "first")
    check_pd(q, "second")
    if p.same_basis(q):
        sp = np.sqrt(p.var)
        return (q.var - p.var) / p.var, (q.mean - p.mean) / sp
    # whiten with P's own eigenbasis, W = U diag(v^{-1/2}) (W^T S_P W = I): one symmetric eigensolve of
    # W^T (S_Q - S_P) W, no Cholesky or generalized solver needed
    u = np.eye(p.dim) if p.basis is None else p.basis
    w = u / np.sqrt(p.var)[None, :]
    diff = q.full_cov() - p.full_cov()
    c = w.T @ diff @ w
    eps, v = np.linalg.eigh(0.5 * (c + c.T))
    return eps, v.T @ (w.T @ (q.full_mean() - p.full_mean()))


# ------------------------------------------------------------------------------------------------
# W2
# ------------------------------------------------------------------------------------------------
def w2_sq_diag(m1: Any, v1: Any, m2: Any, v2: Any) -> float:
    r"""Squared $W_2$ between $N(m_1,{\rm diag}\,v_1)$ and $N(m_2,{\rm diag}\,v_2)$ in one orthonormal basis.

    $$W_2^2 = \|m_1-m_2\|^2 + \sum_i \frac{(v_{1,i}-v_{2,i})^2}{(\sqrt{v_{1,i}}+\sqrt{v_{2,i}})^2}$$

    (the commuting case of the Bures formula, written without cancellation). Source: Dowson & Landau
    1982; Olkin & Pukelsheim 1982; metrics-and-exact §1.1. Variances may be 0 (degenerate laws).
    """
    m1, v1, m2, v2 = _diag_inputs(m1, v1, m2, v2, allow_zero=True)
    return _w2_sq_diag(m1, v1, m2, v2)


def _w2_sq_diag(m1, v1, m2, v2) -> float:
    den = (np.sqrt(v1) + np.sqrt(v2)) ** 2
    cov = np.divide((v1 - v2) ** 2, den, out=np.zeros_like(den), where=den > 0)
    return float(np.sum((m1 - m2) ** 2) + np.sum(cov))


def w2_diag(m1: Any, v1: Any, m2: Any, v2: Any) -> float:
    r"""$W_2$ (not squared) between two Gaussians in one basis; see :func:`w2_sq_diag`."""
    return math.sqrt(w2_sq_diag(m1, v1, m2, v2))


def bures_w2_sq(m1: Any, S1: Any, m2: Any, S2: Any) -> float:
    r"""Squared $W_2$ between $N(m_1,S_1)$ and $N(m_2,S_2)$ (full covariances), without cancellation.

    $$W_2^2 = \|m_1-m_2\|^2 + {\rm tr}\big(S_1+S_2-2(S_1^{1/2}S_2S_1^{1/2})^{1/2}\big)$$
    (Dowson & Landau 1982; Givens & Shortt 1984; POT ``ot.gaussian.bures_wasserstein_distance``).

    The trace term is computed as ${\rm tr}(X S_1^{-1} X)$ where $X = M^{1/2} - S_1$, $M =
    S_1^{1/2}S_2S_1^{1/2}$,
    solves the Sylvester equation $M^{1/2}X + XS_1 = S_1^{1/2}(S_2-S_1)S_1^{1/2}$ (derived by us: expand
    ${\rm tr}(XS_1^{-1}X) = {\rm tr}S_2 - 2{\rm tr}M^{1/2} + {\rm tr}S_1$). Its right-hand side is formed
    from $S_2 - S_1$ directly, so the result keeps its relative accuracy when $S_1\approx S_2$, where the
    textbook form loses everything below $\sim 10^{-16}{\rm tr}\,S$. Needs one of $S_1, S_2$ positive
    definite (the other may be singular); if both are singular the nuclear-norm form
    ${\rm tr}S_1+{\rm tr}S_2-2\|L_1^\top L_2\|_*$ is used.
    """
    p, q = _full_inputs(m1, S1, m2, S2, allow_zero=True)
    return _bures_w2_sq_views(p, q)


def bures_w2(m1: Any, S1: Any, m2: Any, S2: Any) -> float:
    r"""$W_2$ (not squared) between $N(m_1,S_1)$ and $N(m_2,S_2)$; see :func:`bures_w2_sq`."""
    return math.sqrt(bures_w2_sq(m1, S1, m2, S2))


def _bures_w2_sq_views(p: GaussianView, q: GaussianView) -> float:
    if p.same_basis(q):
        return _w2_sq_diag(p.mean, p.var, q.mean, q.var)
    mean_part = float(np.sum((p.full_mean() - q.full_mean()) ** 2))
    scale = max(float(np.max(p.var)), float(np.max(q.var)), _TINY)
    if float(np.min(p.var)) <= 1e-14 * scale:
        if float(np.min(q.var)) > 1e-14 * scale:
            p, q = q, p
        else:  # both singular: nuclear-norm form (loses relative accuracy for close laws)
            l1 = _psd_sqrt_factor(p)
            l2 = _psd_sqrt_factor(q)
            nuc = np.linalg.svd(l1.T @ l2, compute_uv=False).sum()
            return mean_part + max(float(p.var.sum() + q.var.sum() - 2 * nuc), 0.0)
    s = p.var
    u = np.eye(p.dim) if p.basis is None else p.basis
    a = (u * np.sqrt(s)) @ u.T  # S1^{1/2}
    s2 = q.full_cov()
    m = a @ s2 @ a
    mu, w = np.linalg.eigh(0.5 * (m + m.T))
    mu = np.clip(mu, 0.0, None)
    c = a @ (s2 - p.full_cov()) @ a
    y = (w.T @ c @ u) / (np.sqrt(mu)[:, None] + s[None, :])
    return mean_part + float(np.sum(y**2 / s[None, :]))


def _psd_sqrt_factor(g: GaussianView) -> np.ndarray:
    u = np.eye(g.dim) if g.basis is None else g.basis
    return u * np.sqrt(np.clip(g.var, 0.0, None))


# ------------------------------------------------------------------------------------------------
# KL and Hellinger
# ------------------------------------------------------------------------------------------------
def x_minus_log1p(e: np.ndarray) -> np.ndarray:
    r"""$\epsilon - \log(1+\epsilon)\ge0$ elementwise; a series for $|\epsilon|<0.1$ (no cancellation)."""
    e = np.asarray(e, dtype=np.float64)
    out = np.empty_like(e)
    small = np.abs(e) < 0.1
    es = e[small]
    acc = np.zeros_like(es)
    for k in range(20, 1, -1):  # Horner on sum_{k=2}^{20} (-1)^k e^k / k
        acc = acc * es + ((-1) ** k) / k
    out[small] = acc * es * es
    big = ~small
    out[big] = e[big] - np.log1p(e[big])
    return out


def _kl_standardized(eps: np.ndarray, a: np.ndarray, direction: str) -> float:
    """KL between $P=N(0,I)$ and $Q=N(a,{\\rm diag}(1+\\epsilon))$; ``direction`` 'pq' or 'qp'."""
    if direction == "qp":  # KL(Q||P) = 1/2 sum[eps - log1p(eps) + a^2]
        return 0.5 * float(np.sum(x_minus_log1p(eps)) + np.sum(a * a))
    eta = -eps / (1.0 + eps)  # 1/lambda - 1
    return 0.5 * float(np.sum(x_minus_log1p(eta)) + np.sum(a * a / (1.0 + eps)))


def kl_diag(m1: Any, v1: Any, m2: Any, v2: Any) -> float:
    r"""${\rm KL}(N(m_1,{\rm diag}v_1)\,\|\,N(m_2,{\rm diag}v_2))$ in nats, Gaussians in one basis, $O(d)$.

    $${\rm KL} = \tfrac12\sum_i\big[\epsilon_i - \log(1+\epsilon_i)\big] +
    \tfrac12\sum_i\frac{(m_{1,i}-m_{2,i})^2}{v_{2,i}},
    \qquad \epsilon_i = \frac{v_{1,i}-v_{2,i}}{v_{2,i}}$$
    (the eigen/log1p form of the standard formula; metrics-and-exact §1.2). $\epsilon-\log(1+\epsilon)$ is
    evaluated by its series for small $\epsilon$, so KL is accurate (relative ~1e-14) down to 1e-30.
    """
    m1, v1, m2, v2 = _diag_inputs(m1, v1, m2, v2)
    return _kl_standardized((v1 - v2) / v2, (m1 - m2) / np.sqrt(v2), "qp")


def kl_gaussian(m1: Any, S1: Any, m2: Any, S2: Any) -> float:
    r"""${\rm KL}(N(m_1,S_1)\,\|\,N(m_2,S_2))$ in nats (full covariances, $O(d^3)$).

    $${\rm KL} = \tfrac12\Big[\sum_i(\epsilon_i - \log(1+\epsilon_i)) + (m_1-m_2)^\top
    S_2^{-1}(m_1-m_2)\Big],\quad
    \epsilon = {\rm eig}\big(S_2^{-1}(S_1-S_2)\big)$$
    (standard; metrics-and-exact §1.2 eigen form). $\epsilon$ from $S_2^{-1/2}(S_1-S_2)S_2^{-1/2}$ (formed
    from $S_1-S_2$) has
    full relative accuracy when $S_1\approx S_2$.
    """
    p, q = _full_inputs(m1, S1, m2, S2)
    eps, a = standardize_pair(q, p)
    return _kl_standardized(eps, a, "qp")


def _log_bc_standardized(eps: np.ndarray, a: np.ndarray) -> float:
    # log BC = -1/2 sum log cosh(u_i) - 1/4 sum a_i^2/(2+eps_i), u = 1/2 log(1+eps);
    # log cosh u = log1p(2 sinh^2(u/2)) (no cancellation for small u). Derived by us from §1.3.
    u = 0.5 * np.log1p(eps)
    logcosh = np.log1p(2.0 * np.sinh(0.5 * u) ** 2)
    return float(-0.5 * np.sum(logcosh) - 0.25 * np.sum(a * a / (2.0 + eps)))


def hellinger_diag(m1: Any, v1: Any, m2: Any, v2: Any) -> float:
    r"""Hellinger distance $H=\sqrt{1-{\rm BC}}\in[0,1]$ between two Gaussians in one basis, $O(d)$.

    $${\rm BC} = \prod_i\Big(\frac{\sqrt{v_{1,i}v_{2,i}}}{\bar v_i}\Big)^{1/2}
    \exp\Big(-\frac18\sum_i\frac{(m_{1,i}-m_{2,i})^2}{\bar v_i}\Big),\quad \bar v = \tfrac{v_1+v_2}2$$
    (Bhattacharyya 1943; metrics-and-exact §1.3), with $\sqrt{v_1v_2}/\bar v = 1/\cosh(\tfrac12\log(v_2/v_1))$
    and $H^2 = -{\rm expm1}(\log{\rm BC})$ so that tiny $H$ keeps its digits (derived by us).
    """
    m1, v1, m2, v2 = _diag_inputs(m1, v1, m2, v2)
    return math.sqrt(-math.expm1(_log_bc_standardized((v2 - v1) / v1, (m2 - m1) / np.sqrt(v1))))


def hellinger_gaussian(m1: Any, S1: Any, m2: Any, S2: Any) -> float:
    r"""Hellinger distance $H=\sqrt{1-{\rm BC}}$ between $N(m_1,S_1)$ and $N(m_2,S_2)$ (full covariances).

    $${\rm BC}=\frac{\det(S_1)^{1/4}\det(S_2)^{1/4}}{\det(\bar S)^{1/2}}\exp\Big(-\tfrac18(m_1-m_2)^\top\bar
    S^{-1}(m_1-m_2)\Big),
    \quad\bar S = \tfrac{S_1+S_2}2$$
    (metrics-and-exact §1.3), evaluated in the generalized eigenbasis as in :func:`hellinger_diag`.
    """
    p, q = _full_inputs(m1, S1, m2, S2)
    eps, a = standardize_pair(p, q)
    return math.sqrt(-math.expm1(_log_bc_standardized(eps, a)))


# ------------------------------------------------------------------------------------------------
# TV: closed forms
# ------------------------------------------------------------------------------------------------
def tv_gaussian_equal_cov(m1: Any, m2: Any, S: Any) -> float:
    r"""TV between $N(m_1,S)$ and $N(m_2,S)$ (equal covariances), exact.

    $${\rm TV} = 2\Phi(\Delta/2)-1 = {\rm erf}\big(\Delta/(2\sqrt2)\big),\qquad \Delta =
    \|S^{-1/2}(m_1-m_2)\|$$
    (MathOverflow 29054, stated there for $\int|p-q| = 2\,{\rm TV}$; metrics-and-exact §1.4a).
    ``S`` is a scalar, a variance vector or a matrix.
    """
    p, q = _full_inputs(m1, S, m2, S)
    _, a = standardize_pair(p, q)
    return float(special.erf(np.linalg.norm(a) / (2 * math.sqrt(2))))


def tv_gaussian_1d(m1: float, s1: float, m2: float, s2: float) -> float:
    r"""TV between the 1-D laws $N(m_1,s_1^2)$ and $N(m_2,s_2^2)$ (standard deviations!), exact.

    For $s_1\ne s_2$ the densities cross at the roots $x_1<x_2$ of $Ax^2+Bx+C=0$, $A=s_2^{-2}-s_1^{-2}$,
    $B=2(m_1/s_1^2-m_2/s_2^2)$, $C=m_2^2/s_2^2-m_1^2/s_1^2+2\log(s_2/s_1)$, and
    $${\rm TV}=\big|[\Phi(\tfrac{x_2-m_1}{s_1})-\Phi(\tfrac{x_1-m_1}{s_1})]
    -[\Phi(\tfrac{x_2-m_2}{s_2})-\Phi(\tfrac{x_1-m_2}{s_2})]\big|$$
    (metrics-and-exact §1.4b). Equal $s$: :func:`tv_gaussian_equal_cov`. Absolute accuracy ~1e-15; for
    TV < 1e-6 the first-order expansion of :func:`tv_diag` is used (relative error ~1.5 TV).
    """
    m1, s1, m2, s2 = (float(v) for v in (m1, s1, m2, s2))
    if not (s1 > 0 and s2 > 0 and all(map(math.isfinite, (m1, s1, m2, s2)))):
        raise SgmbenchError(f"tv_gaussian_1d needs finite means and positive std devs, got s1={s1}, s2={s2}")
    return tv_diag([m1], [s1 * s1], [m2], [s2 * s2])


def _tv_1d_standardized(eps: float, a: float) -> float:
    """TV(N(0,1), N(a, 1+eps)) by the two crossing points (metrics-and-exact §1.4b)."""
    lam = 1.0 + eps
    s2 = math.sqrt(lam)
    # log p - log q = 0  <=>  (1/lam - 1) x^2 - 2 a x / lam + a^2/lam + log(lam) = 0
    A = 1.0 / lam - 1.0  # = -eps/lam
    B = -2.0 * a / lam
    C = a * a / lam + math.log1p(eps)
    disc = B * B - 4 * A * C
    if disc <= 0:
        return 0.0
    r = math.sqrt(disc)
    # stable roots
    qq = -0.5 * (B + math.copysign(r, B)) if B != 0 else -0.5 * r
    x1, x2 = sorted((qq / A, C / qq) if qq != 0 else (-r / (2 * A), r / (2 * A)))
    sf = stats.norm.sf
    cdf = stats.norm.cdf

    def mass(lo, hi, m, s):  # P(lo < m + s Z < hi) with tail-accurate evaluation
        zl, zh = (lo - m) / s, (hi - m) / s
        if zl > 0:
            return sf(zl) - sf(zh)
        return cdf(zh) - cdf(zl)

    return float(abs(mass(x1, x2, 0.0, 1.0) - mass(x1, x2, a, s2)))


def tv_gaussian_isotropic(m1: Any, s1: float, m2: Any, s2: float) -> float:
    r"""TV between isotropic $N(m_1,s_1^2I_d)$ and $N(m_2,s_2^2I_d)$ (standard deviations), exact.

    With $s_1<s_2$ (relabel), $a=s_1^{-2}$, $b=s_2^{-2}$, the set $\{p>q\}$ is the ball $\|x-c\|<R$ with
    $c=(am_1-bm_2)/(a-b)$, $K=\tfrac12(b\|m_2\|^2-a\|m_1\|^2)+d\log(s_2/s_1)-\tfrac12(b-a)\|c\|^2$,
    $R^2=2K/(a-b)$, and
    $${\rm TV}=F_{\chi'^2_d(\|c-m_1\|^2/s_1^2)}(R^2/s_1^2)-F_{\chi'^2_d(\|c-m_2\|^2/s_2^2)}(R^2/s_2^2)$$
    (noncentral $\chi^2$ CDFs; metrics-and-exact §1.4c). Equal $s$: :func:`tv_gaussian_equal_cov`.
    Absolute accuracy ~1e-13 (scipy's ``ncx2``); tiny TV (< 1e-6) goes through :func:`tv_diag`'s expansion.
    """
    m1, m2 = as_vector(m1, "m1"), as_vector(m2, "m2")
    if m1.shape != m2.shape:
        raise SgmbenchError(f"shape mismatch: m1 has dimension {m1.shape[0]}, m2 has {m2.shape[0]}")
    s1, s2 = float(s1), float(s2)
    if not (s1 > 0 and s2 > 0):
        raise SgmbenchError(f"standard deviations must be > 0, got s1={s1}, s2={s2}")
    d = m1.shape[0]
    return tv_diag(m1, np.full(d, s1 * s1), m2, np.full(d, s2 * s2))


def _tv_isotropic_standardized(lam: float, a: np.ndarray) -> float:
    """TV(N(0, I), N(a, lam I)) by noncentral chi^2 CDFs (metrics-and-exact §1.4c)."""
    d = a.shape[0]
    m1, m2 = np.zeros(d), a
    s1, s2 = 1.0, math.sqrt(lam)
    if s1 > s2:
        m1, s1, m2, s2 = m2, s2, m1, s1
    ia, ib = 1 / s1**2, 1 / s2**2
    c = (ia * m1 - ib * m2) / (ia - ib)
    K = 0.5 * (ib * m2 @ m2 - ia * m1 @ m1) + d * math.log(s2 / s1) - 0.5 * (ib - ia) * (c @ c)
    R2 = 2 * K / (ia - ib)
    if R2 <= 0:
        return 0.0

    def cdf(x, nc):
        return stats.ncx2.cdf(x, d, nc) if nc > 0 else stats.chi2.cdf(x, d)

    def sf(x, nc):
        return stats.ncx2.sf(x, d, nc) if nc > 0 else stats.chi2.sf(x, d)

    x1, nc1 = R2 / s1**2, float(np.sum((c - m1) ** 2)) / s1**2
    x2, nc2 = R2 / s2**2, float(np.sum((c - m2) ** 2)) / s2**2
    v = cdf(x1, nc1) - cdf(x2, nc2)
    if v > 0.5:  # use the upper tails when both CDFs are near 1
        v = sf(x2, nc2) - sf(x1, nc1)
    return float(min(max(v, 0.0), 1.0))


# ------------------------------------------------------------------------------------------------
# TV: Gil-Pelaez / Imhof for any pair
# ------------------------------------------------------------------------------------------------
def _logphi(t: float, a: np.ndarray, b: np.ndarray, c: float) -> complex:
    z = 1.0 - 2j * t * a
    return 1j * t * c - 0.5 * np.sum(np.log(z)) - np.sum(b * b * (t * t) / (2.0 * z))


def _head_edges(a, b, c, tol):
    edges = [0.0, 0.5]
    while edges[-1] < 1e3 and math.exp(_logphi(edges[-1], a, b, c).real) / edges[-1] > tol:
        edges.append(2 * edges[-1])
    return edges


def _tail_phase(a, b, c, t0):
    big = np.abs(a) * t0 > 10
    return c - float(np.sum(b[big] ** 2 / (4 * a[big]))) if big.any() else c


def _quad(f, lo, hi, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        val, err = integrate.quad(f, lo, hi, **kw)
    return val, err


def quadratic_form_sf0(a: Any, b: Any, c: float) -> float:
    r"""$P\big(\sum_i a_iZ_i^2 + b_iZ_i + c > 0\big)$ for iid $Z_i\sim N(0,1)$, by Gil-Pelaez inversion.

    $$P(L>0) = \tfrac12 + \tfrac1\pi\int_0^\infty\frac{{\rm Im}\,\varphi(t)}{t}dt,\qquad
    \varphi(t) = e^{itc}\prod_i(1-2ia_it)^{-1/2}\exp\Big(-\frac{b_i^2t^2}{2(1-2ia_it)}\Big)$$
    (Gil-Pelaez 1951; Imhof 1961). Numerics as in metrics-and-exact §1.4e: $L$ standardized to unit
    variance, the head on doubling intervals until $|\varphi(t)|/t<10^{-14}$, an algebraically decaying
    tail by QAWF after removing its linear phase. Absolute accuracy ~1e-12.
    """
    a, b = as_vector(a, "a"), as_vector(b, "b")
    sd = math.sqrt(float(np.sum(2 * a * a + b * b)))
    if sd < 1e-12 * max(1.0, abs(c)):
        return float(c > 0) if c != 0 else 0.5
    a, b, c = a / sd, b / sd, c / sd

    def f(t):
        return math.exp(_logphi(t, a, b, c).real) * math.sin(_logphi(t, a, b, c).imag) / t

    edges = _head_edges(a, b, c, 1e-14)
    head = sum(
        _quad(f, lo, hi, limit=500, epsabs=1e-14, epsrel=1e-12)[0] for lo, hi in zip(edges[:-1], edges[1:])
    )
    t0, tail = edges[-1], 0.0
    if math.exp(_logphi(t0, a, b, c).real) / t0 > 1e-14:  # slow algebraic decay
        om = _tail_phase(a, b, c, t0)

        def psi(t):
            return np.exp(_logphi(t, a, b, c) - 1j * om * t)

        if abs(om) * t0 < 1e-6:
            tail = _quad(f, t0, np.inf, limit=500)[0]
        else:
            w = abs(om)
            t1 = _quad(lambda t: psi(t).real / t, t0, np.inf, weight="sin", wvar=w, limlst=500)[0]
            t2 = _quad(lambda t: psi(t).imag / t, t0, np.inf, weight="cos", wvar=w, limlst=500)[0]
            tail = math.copysign(1.0, om) * t1 + t2
    return float(min(max(0.5 + (head + tail) / math.pi, 0.0), 1.0))


def quadratic_form_abs_mean(a: Any, b: Any, c: float) -> float:
    r"""$E\big|\sum_i a_iZ_i^2 + b_iZ_i + c\big|$ for iid $Z_i\sim N(0,1)$, by inverting the CF.

    $$E|L| = \frac2\pi\int_0^\infty\frac{1-{\rm Re}\,\varphi(t)}{t^2}dt$$
    (take expectations in $|x| = \frac2\pi\int_0^\infty(1-\cos tx)\,t^{-2}dt$), with
    $1-{\rm Re}\,e^{w} = 2\sin^2(\tfrac12{\rm Im}\,w) - \cos({\rm Im}\,w)\,{\rm expm1}({\rm Re}\,w)$ to avoid
    cancellation near $t=0$, and the head/tail scheme of :func:`quadratic_form_sf0` (derived by us).
    Relative accuracy ~1e-10.
    """
    a, b = as_vector(a, "a"), as_vector(b, "b")
    sd = math.sqrt(float(np.sum(2 * a * a + b * b)))
    if sd < 1e-300 or sd < 1e-14 * abs(c):
        return abs(c)
    a, b, c = a / sd, b / sd, c / sd

    def g(t):
        w = _logphi(t, a, b, c)
        return (2 * math.sin(0.5 * w.imag) ** 2 - math.cos(w.imag) * math.expm1(w.real)) / (t * t)

    edges = _head_edges(a, b, c, 1e-15)
    head = sum(
        _quad(g, lo, hi, limit=500, epsabs=1e-15, epsrel=1e-12)[0] for lo, hi in zip(edges[:-1], edges[1:])
    )
    t0 = edges[-1]
    tail = 1.0 / t0  # \int_{t0}^\infty dt/t^2 ; minus \int Re(phi)/t^2 below
    if math.exp(_logphi(t0, a, b, c).real) > 1e-15:
        om = _tail_phase(a, b, c, t0)

        def psi(t):
            return np.exp(_logphi(t, a, b, c) - 1j * om * t)

        if abs(om) * t0 < 1e-6:
            tail -= _quad(lambda t: np.exp(_logphi(t, a, b, c)).real / (t * t), t0, np.inf, limit=500)[0]
        else:
            w = abs(om)
            r1 = _quad(lambda t: psi(t).real / (t * t), t0, np.inf, weight="cos", wvar=w, limlst=500)[0]
            r2 = _quad(lambda t: psi(t).imag / (t * t), t0, np.inf, weight="sin", wvar=w, limlst=500)[0]
            tail -= r1 - math.copysign(1.0, om) * r2
    return float(sd * 2.0 / math.pi * (head + tail))


def _lr_coefficients(eps: np.ndarray, a: np.ndarray):
    """$L=\\log p-\\log q$, $P=N(0,I)$, $Q=N(a,{\\rm diag}(1+\\epsilon))$: quadratic forms under P and Q."""
    lam = 1.0 + eps
    half_log = 0.5 * np.log1p(eps)
    alpha_p = -0.5 * eps / lam
    beta_p = -a / lam
    c_p = float(np.sum(a * a / (2 * lam) + half_log))
    alpha_q = -0.5 * eps
    beta_q = -a * np.sqrt(lam)
    c_q = float(np.sum(-0.5 * a * a + half_log))
    return (alpha_p, beta_p, c_p), (alpha_q, beta_q, c_q)


def tv_standardized(eps: np.ndarray, a: np.ndarray, method: str = "auto") -> tuple[float, str, float]:
    r"""TV between $N(0,I)$ and $N(a,{\rm diag}(1+\epsilon))$: ``(value, method used, absolute tolerance)``.

    ``method``: ``auto`` (closed form when one applies, else Imhof; first-order expansion below 1e-6),
    ``imhof``, ``series``, ``equal_cov``, ``1d``, ``isotropic``.
    """
    eps, a = np.asarray(eps, float), np.asarray(a, float)
    active = (eps != 0) | (a != 0)
    eps, a = eps[active], a[active]
    if eps.size == 0:
        return 0.0, "identical", 0.0
    if np.any(1.0 + eps <= 0):
        raise SgmbenchError("covariance is not positive definite")
    valid = ("auto", "imhof", "series", "equal_cov", "1d", "isotropic")
    if method not in valid:
        raise SgmbenchError(f"unknown TV method {method!r}; valid: {', '.join(valid)}")
    equal_cov = bool(np.all(eps == 0))
    if method == "equal_cov" or (method == "auto" and equal_cov):
        if not equal_cov:
            raise SgmbenchError("tv method 'equal_cov' needs equal covariances")
        return float(special.erf(np.linalg.norm(a) / (2 * math.sqrt(2)))), "equal_cov", 1e-16
    (ap, bp, cp), (aq, bq, cq) = _lr_coefficients(eps, a)
    if method == "series" or method == "auto":
        var_p = float(np.sum(2 * ap * ap + bp * bp))
        kl = cp + float(np.sum(ap))
        if method == "series" or 0.5 * math.sqrt(var_p + kl * kl) < 1e-4:
            tv1 = 0.5 * quadratic_form_abs_mean(ap, bp, cp)
            if method == "series" or tv1 < TV_SERIES_THRESHOLD:
                return float(tv1), "series", 10.0 * tv1 * tv1
    if method == "1d" or (method == "auto" and eps.size == 1):
        if eps.size != 1:
            raise SgmbenchError("tv method '1d' needs a one-dimensional pair")
        return _tv_1d_standardized(float(eps[0]), float(a[0])), "1d", 1e-15
    # coordinates with a_i = 0 and lambda_i = 1 are identical factors and drop out of TV, so the
    # isotropic formula applies whenever the remaining variance ratios are all equal
    isotropic = bool(np.all(eps == eps[0]))
    if method == "isotropic" or (method == "auto" and isotropic):
        if not isotropic:
            raise SgmbenchError("tv method 'isotropic' needs isotropic covariances")
        return _tv_isotropic_standardized(1.0 + float(eps[0]), a), "isotropic", 1e-13
    tv = quadratic_form_sf0(ap, bp, cp) - quadratic_form_sf0(aq, bq, cq)
    return float(min(max(tv, 0.0), 1.0)), "imhof", 2e-12


def tv_diag(m1: Any, v1: Any, m2: Any, v2: Any, method: str = "auto") -> float:
    r"""TV between $N(m_1,{\rm diag}v_1)$ and $N(m_2,{\rm diag}v_2)$ in one orthonormal basis, $O(d)$.

    Reduced to $N(0,I)$ vs $N(a,{\rm diag}\lambda)$, $a=(m_2-m_1)/\sqrt{v_1}$, $\lambda=v_2/v_1$ (TV is affine
    invariant); coordinates with $a_i=0,\lambda_i=1$ are dropped. Then:
    equal covariances: $2\Phi(\Delta/2)-1$; 1-D: the two-crossing formula; isotropic: noncentral $\chi^2$;
    otherwise ${\rm TV}=P(L>0)-Q(L>0)$ for the log-likelihood ratio $L=\log p-\log q$, a sum of independent
    quadratics in standard normals under both laws, by Gil-Pelaez/Imhof (:func:`quadratic_form_sf0`)
    (metrics-and-exact §1.4a–e). When TV < 1e-6 the difference of two near-½ probabilities would lose
    digits, so the first-order expansion ${\rm TV}\approx\tfrac12E_P|L|$ (relative error $O({\rm TV})$;
    metrics-and-exact §1.4e) is used, with $E_P|L|$ by :func:`quadratic_form_abs_mean`.
    """
    m1, v1, m2, v2 = _diag_inputs(m1, v1, m2, v2)
    return tv_standardized((v2 - v1) / v1, (m2 - m1) / np.sqrt(v1), method)[0]


def tv_gaussian(m1: Any, S1: Any, m2: Any, S2: Any, method: str = "auto") -> float:
    r"""TV between $N(m_1,S_1)$ and $N(m_2,S_2)$, any covariances, $O(d^3)$ plus the inversion.

    Generalized eigenproblem $(S_2-S_1)V = S_1V{\rm diag}(\epsilon)$, $V^\top S_1V=I$, $a=V^\top(m_2-m_1)$
    reduces to $N(0,I)$ vs $N(a,{\rm diag}(1+\epsilon))$ (Bhattacharyya, Feng & Srivastava 2025;
    metrics-and-exact §1.4e); then as :func:`tv_diag`.
    """
    p, q = _full_inputs(m1, S1, m2, S2)
    eps, a = standardize_pair(p, q)
    return tv_standardized(eps, a, method)[0]
