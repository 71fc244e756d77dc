r"""Helpers of the studies ``tv-kl-rates`` and ``general-data``: a quadrature engine for the generated law of
the exponential-integrator SDE sampler in one (radial) dimension, the cell functions, and a Chen et al.
Theorem 2 evaluation for Gaussian mixtures.

**Why a quadrature engine.** TV and KL between a non-Gaussian target and the generated law are hard to
estimate from samples (k-NN KL has a noise floor of ~0.01 nats at n = 16000, ``metrics-and-exact.md``
§4.2) while the theorems' rates only show at errors of 1e-2 … 1e-6. For the exponential integrator every
step is $y \mapsto c_k(y) + \eta_k Z$ with $c_k(y) = r_k y + \gamma_k\,s(y, t_k)$ (the very coefficients of
:func:`sgmbench.samplers.exponential_integrator_step`), so the density of the iterate obeys

$$ p_{k+1}(x) = \int p_k(y)\,K_{\eta_k}\big(x \mid c_k(y)\big)\,dy , $$

a one-dimensional integral when the state is one-dimensional:

- ``line``: $d = 1$ targets (Gaussian mixtures), $K_\eta(x\mid c) = N(x; c, \eta^2)$;
- ``radial2`` / ``radial3``: rotation-invariant targets in $\mathbb R^2$ / $\mathbb R^3$ (uniform law on a
  circle / a 2-sphere, isotropic Gaussians). The exact score of such a law at $y$ is parallel to $y$, the
  prior $N(0, \sigma_T^2I)$ and the noise are isotropic, so every iterate's law is rotation-invariant and
  $\|y_{k+1}\|$ given $\|y_k\| = \rho$ is the norm of $N(\nu e_1, \eta^2 I_m)$ with $\nu = |c_k(\rho e_1)|$:
  a Rice law ($m = 2$) or a non-central $\chi_3$ law ($m = 3$) (derived by us). Between two
  rotation-invariant laws the radius is a sufficient statistic, so TV and KL of the radial laws are the TV
  and KL of the laws themselves; and $W_2$ to the uniform law on the sphere of radius $R$ is exactly
  $(E(\|Y\| - R)^2)^{1/2}$ (the projection on the sphere is an optimal coupling: it attains the
  pointwise lower bound $\|Y - X\| \ge {\rm dist}(Y, S_R)$ and maps a rotation-invariant law to the
  uniform one).

The integral is the trapezoidal rule on a uniform grid whose spacing is a third (``radial2``: a quarter,
with an end correction at $\rho = 0$) of the kernel width $\eta_k$ (divided by the largest slope of
$c_{k+1}$ where there is mass), which for these smooth, rapidly decaying integrands is accurate to many
digits (checked against the exact Gaussian recursion of :mod:`sgmbench.exact` in
``tests/test_study_tv_kl_rates.py``). Only sources within ``tail`` kernel widths of a target point
contribute (banded sum). The grid follows the mass (range and spacing are re-chosen at every step), so a
step costs $O(G\cdot 6\,{\rm tail})$ with $G$ a few hundred points. The last step is evaluated on a grid
that also resolves the reference law $p_\delta$ (width $\sigma_\delta$), so TV and KL are integrals of two
known densities on one grid. The mass defect $|\int p_k - 1|$ is tracked and
reported (``info.mass_defect``) as the accuracy diagnostic.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from scipy import special

from sgmbench.errors import SgmbenchError

DTYPE = torch.float64
KINDS = ("line", "radial2", "radial3")
LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


# ------------------------------------------------------------------------------------------------
# Kernels: log K_eta(x | c) for the three kinds (c >= 0 for the radial ones)
# ------------------------------------------------------------------------------------------------
def log_kernel(kind: str, x: np.ndarray, c: np.ndarray, eta: float) -> np.ndarray:
    r"""$\log K_\eta(x \mid c)$: Gaussian (``line``), Rice (``radial2``), non-central $\chi_3$ (``radial3``).

    - Rice: $K = \frac{x}{\eta^2}e^{-(x-c)^2/2\eta^2}\,{\rm ive}(0, xc/\eta^2)$ (exponentially scaled $I_0$);
    - $\chi_3$: $K = \sqrt{2/\pi}\,\frac{x^2}{\eta^3}e^{-(x-c)^2/2\eta^2}\,\frac{1 - e^{-2z}}{2z}$,
      $z = xc/\eta^2$
      (equal to $\frac{x}{c\eta\sqrt{2\pi}}[e^{-(x-c)^2/2\eta^2} - e^{-(x+c)^2/2\eta^2}]$; 1 at $z = 0$).
    ``c = 0`` gives the $\chi_m$ law of $\|N(0, \eta^2I_m)\|$ (the prior's radius).
    """
    q = -0.5 * ((x - c) / eta) ** 2
    if kind == "line":
        return q - math.log(eta) - LOG_SQRT_2PI
    with np.errstate(divide="ignore", invalid="ignore"):
        z = x * c / eta**2
        if kind == "radial2":
            return np.log(x) - 2 * math.log(eta) + q + log_ive0(z)
        if kind == "radial3":
            g = np.where(z > 1e-12, -np.expm1(-2 * z) / (2 * np.where(z > 1e-12, z, 1.0)), 1.0 - z)
            return 0.5 * math.log(2 / math.pi) + 2 * np.log(x) - 3 * math.log(eta) + q + np.log(g)
    raise SgmbenchError(f"unknown kernel kind {kind!r}; valid: {', '.join(KINDS)}")


#: coefficients a_k = prod_{j<=k} (2j-1)^2 / (k! 8^k) of I_0(z) ~ e^z (2 pi z)^{-1/2} sum_k a_k z^{-k}
_I0_ASYMPTOTIC = np.array(
    [1.0, 1 / 8, 9 / 128, 75 / 1024, 3675 / 32768, 59535 / 262144, 2401245 / 4194304, 57972915 / 33554432]
)
_I0_SWITCH = 30.0


def log_ive0(z: np.ndarray) -> np.ndarray:
    r"""$\log(I_0(z)e^{-z})$: ``scipy.special.ive`` below $z = 30$, the asymptotic series (8 terms, relative
    error < 1e-10) above (ten times faster; Abramowitz & Stegun 9.7.1)."""
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    small = z < _I0_SWITCH
    out[small] = np.log(special.ive(0, z[small]))
    zb = z[~small]
    inv = 1.0 / zb
    acc = np.full_like(zb, _I0_ASYMPTOTIC[-1])
    for a in _I0_ASYMPTOTIC[-2::-1]:
        acc = acc * inv + a
    out[~small] = np.log(acc) - 0.5 * np.log(2 * math.pi * zb)
    return out


def kernel(kind: str, x: np.ndarray, c: np.ndarray, eta: float) -> np.ndarray:
    """$K_\\eta(x \\mid c)$ (0 where ``x <= 0`` for the radial kinds)."""
    if kind == "line":
        return np.exp(-0.5 * ((x - c) / eta) ** 2) * (1.0 / (eta * math.sqrt(2 * math.pi)))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        out = np.exp(log_kernel(kind, x, c, eta))
    return np.where(x > 0, out, 0.0)


# ------------------------------------------------------------------------------------------------
# Banded trapezoidal step
# ------------------------------------------------------------------------------------------------
def _accumulate(kind, w, c, eta, lo, dx, G, tail) -> np.ndarray:
    r"""$\sum_i w_i K_\eta(x_j \mid c_i)$ on the grid $x_j = lo + j\,dx$, $j < G$, over
    $|x_j - c_i| \le$ tail·η."""
    half = int(math.ceil(tail * eta / dx)) + 1
    width = 2 * half + 2
    out = np.zeros(G)
    if width >= 2 * G:  # the band covers the grid: dense
        xg = lo + dx * np.arange(G)
        chunk = max(1, int(4_000_000 // G))
        for s in range(0, c.size, chunk):
            out += w[s : s + chunk] @ kernel(kind, xg[None, :], c[s : s + chunk, None], eta)
        return out
    offs = np.arange(width)
    chunk = max(1, int(4_000_000 // width))
    for s in range(0, c.size, chunk):
        cc, ww = c[s : s + chunk], w[s : s + chunk]
        J = np.floor((cc - lo) / dx).astype(np.int64)[:, None] - half + offs[None, :]
        valid = (J >= 0) & (J < G)
        K = kernel(kind, lo + dx * J, cc[:, None], eta) * ww[:, None]
        out += np.bincount(J[valid], weights=K[valid], minlength=G)
    return out


#: Euler-Maclaurin end correction at rho = 0 for integrands odd in rho (derived by us): the trapezoidal
#: rule misses sum_k B_2k/(2k) h^2k a_{2k-1} for F = sum_j a_{2j+1} rho^{2j+1}; fitting a_1..a_9 to
#: F(h)..F(5h) turns this into extra weights on the first five nodes (exact for odd polynomials of
#: degree <= 9 beyond the trapezoid's own spectral accuracy).
_ODD_END = np.linalg.solve(
    np.array([[i ** (2 * j + 1) for i in range(1, 6)] for j in range(5)], dtype=float),
    np.array([1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132]),
)


def quadrature_weights(kind: str, lo: float, dx: float, G: int) -> np.ndarray:
    r"""Weights of $\int F$ on the grid ``lo + dx*arange(G)``: $dx$ each (the ends carry no mass), plus,
    for ``radial2`` grids starting at $\rho = 0$, the odd end correction (the radial density of a smooth
    rotation-invariant law in $\mathbb R^2$ is odd in $\rho$; in $\mathbb R^3$ it is even and needs none)."""
    w = np.full(G, dx)
    if kind == "radial2" and lo == 0.0 and G > 6:
        w[1:6] += dx * _ODD_END
    return w


@dataclasses.dataclass
class Density:
    """A density on the uniform grid ``lo + dx * arange(G)`` of a chain of kind ``kind``."""

    lo: float
    dx: float
    p: np.ndarray
    kind: str = "line"

    @property
    def x(self) -> np.ndarray:
        return self.lo + self.dx * np.arange(self.p.size)

    @property
    def weights(self) -> np.ndarray:
        return quadrature_weights(self.kind, self.lo, self.dx, self.p.size)

    def mass(self) -> float:
        return float(self.p @ self.weights)


def _support(x: np.ndarray, p: np.ndarray, tiny: float) -> np.ndarray:
    return p * 1.0 > tiny * float(p.max()) if p.size else np.zeros(0, bool)


@dataclasses.dataclass
class Chain:
    """One sampler run in 1-D: ``kind``, step coefficients and the map $y \\mapsto c_k(y)$."""

    kind: str
    r: np.ndarray
    gamma: np.ndarray
    eta: np.ndarray
    score_fn: Callable[[np.ndarray, int], np.ndarray]  # s(y, t_k) along the chain's coordinate
    prior_scale: float  # sigma_T of the prior N(0, sigma_T^2 I)

    def centers(self, y: np.ndarray, k: int) -> np.ndarray:
        c = self.r[k] * y + self.gamma[k] * self.score_fn(y, k)
        return np.abs(c) if self.kind != "line" else c


def _max_slope(chain: Chain, k: int, x: np.ndarray, mask: np.ndarray) -> float:
    """Largest $|dc_k/dy|$ over the points with mass (finite differences on the grid)."""
    if k >= chain.r.size or mask.sum() < 2:
        return 1.0
    xs = x[mask]
    c = chain.centers(xs, k)
    d = np.abs(np.diff(c) / np.diff(xs))
    return float(max(1.0, np.nanmax(d))) if d.size else 1.0


def run_chain(
    chain: Chain,
    final_range: tuple[float, float] | None = None,
    final_dx: float | None = None,
    *,
    ratio: float | None = None,
    tail: float = 9.0,
    tiny: float = 1e-30,
    max_points: int = 400_000,
    max_slope: float = 64.0,
) -> tuple[Density, dict[str, Any]]:
    r"""Propagate the prior through every step; the last step is evaluated on a grid covering its own
    support and ``final_range`` with spacing at most ``final_dx``. Returns the final density and
    diagnostics (``mass_defect``: the largest $|\int p_k - 1|$, ``max_points``, ``runtime_s``)."""
    t0 = time.perf_counter()
    if ratio is None:
        ratio = 4.0 if chain.kind == "radial2" else 3.0
    n = chain.r.size
    radial = chain.kind != "line"
    sT = chain.prior_scale
    # prior on a grid
    lo0 = 0.0 if radial else -tail * sT
    hi0 = tail * sT
    dx0 = min(sT / 20.0, chain.eta[0] / ratio)
    x0 = lo0 + dx0 * np.arange(int(math.ceil((hi0 - lo0) / dx0)) + 1)
    mask0 = np.ones_like(x0, bool)
    dx0 = dx0 / min(_max_slope(chain, 0, x0, mask0), max_slope)
    G0 = int(math.ceil((hi0 - lo0) / dx0)) + 1
    if G0 > max_points:
        raise SgmbenchError(f"quadrature: {G0} points needed for the prior (max {max_points})")
    dens = Density(lo0, dx0, kernel(chain.kind, lo0 + dx0 * np.arange(G0), np.zeros(1), sT), chain.kind)
    defect, most = abs(dens.mass() - 1.0), G0
    for k in range(n):
        x, p = dens.x, dens.p
        keep = _support(x, p, tiny)
        w = (p * dens.weights)[keep]
        c = chain.centers(x[keep], k)
        eta = float(chain.eta[k])
        lo = float(c.min()) - tail * eta
        hi = float(c.max()) + tail * eta
        if radial:
            lo = max(lo, 0.0)
        last = k == n - 1
        if last:
            if final_range is not None:
                lo, hi = min(lo, final_range[0]), max(hi, final_range[1])
                if radial:
                    lo = max(lo, 0.0)
            dx = eta / ratio if final_dx is None else min(eta / ratio, final_dx)
        else:
            dx = min(eta, float(chain.eta[k + 1])) / ratio
        for attempt in range(2):
            G = int(math.ceil((hi - lo) / dx)) + 1
            if G > max_points:
                raise SgmbenchError(
                    f"quadrature: step {k} needs {G} grid points (max {max_points}); eta = {eta:.3g}, "
                    f"range [{lo:.3g}, {hi:.3g}]"
                )
            out = _accumulate(chain.kind, w, c, eta, lo, dx, G, tail)
            new = Density(lo, dx, out, chain.kind)
            if last or attempt == 1:
                break
            # the next step integrates over this grid: resolve eta_{k+1} / slope of c_{k+1}
            slope = min(_max_slope(chain, k + 1, new.x, _support(new.x, out, 1e-12)), max_slope)
            if slope <= 1.0 + 1e-9:
                break
            dx = dx / slope
        dens = new
        defect = max(defect, abs(dens.mass() - 1.0))
        most = max(most, dens.p.size)
    return dens, {"mass_defect": defect, "max_points": most, "runtime_s": time.perf_counter() - t0}


# ------------------------------------------------------------------------------------------------
# Divergences between two densities on one grid
# ------------------------------------------------------------------------------------------------
def divergences(
    w: np.ndarray,
    p_ref: np.ndarray,
    p_gen: np.ndarray,
    dx: float | None = None,
    log_ref: np.ndarray | None = None,
) -> dict[str, float]:
    r"""TV $= \tfrac12\int|p - q|$, KL$(p\|q) = \int p\log(p/q)$ (``kl``, $p$ = reference) and KL$(q\|p)$
    (``kl_reverse``) with quadrature weights ``w`` on a uniform grid of spacing ``dx``; ``log_ref``, the
    reference's exact log-density (default ``log(p_ref)``), keeps KL$(q\|p)$ finite where $p$ underflows.

    TV: on a cell where $p - q$ changes sign the trapezoid of $|p - q|$ is replaced by the integral of the
    absolute value of the linear interpolant, and the Euler-Maclaurin end terms $-\tfrac{dx^2}{12}[F']$ of the
    two smooth pieces of $F = |p - q|$ ending at the cell's nodes are added (removes the $O(dx^2)$ kink
    error; derived by us). KL: points where the first density is below $10^{-20}$ of its maximum are
    skipped (they carry less than $10^{-17}$ of the mass; the propagated density is truncated at $10^{-30}$
    of its maximum); ``inf`` if the generated density vanishes where the reference does not.
    """
    f = p_ref - p_gen
    tv = float(np.abs(f) @ w)
    if dx is not None and f.size > 1:
        a, b = f[:-1], f[1:]
        s = a * b < 0
        if np.any(s):
            aa, bb = np.abs(a[s]), np.abs(b[s])
            # exact |linear interpolant| on the crossing cell, plus the Euler-Maclaurin end terms
            # -h^2/12 [F'] of the two smooth pieces that end at the cell's nodes (F = |p - q|, F' = slope)
            tv += float(
                np.sum(dx * (aa**2 + bb**2) / (2 * (aa + bb)) - dx * (aa + bb) / 2 + dx * (aa + bb) / 6)
            )
    tv *= 0.5
    with np.errstate(divide="ignore"):
        lr = np.log(p_ref) if log_ref is None else log_ref
        lg = np.log(p_gen)
    m = p_ref > 1e-20 * float(p_ref.max())
    kl = math.inf if np.any(p_gen[m] <= 0.0) else float(np.sum(w[m] * p_ref[m] * (lr[m] - lg[m])))
    m = p_gen > 1e-20 * float(p_gen.max())
    klr = float(np.sum(w[m] * p_gen[m] * (lg[m] - lr[m])))
    return {"tv": min(max(tv, 0.0), 1.0), "kl": kl, "kl_reverse": klr}


# ------------------------------------------------------------------------------------------------
# Building a chain from a setting
# ------------------------------------------------------------------------------------------------
def chain_kind(target) -> str:
    """``line`` for d = 1; ``radial2``/``radial3`` for circles/2-spheres filling their space and for
    isotropic Gaussians in d = 2, 3."""
    d = int(target.dim)
    if d == 1:
        return "line"
    name = getattr(target, "name", "")
    if (
        name in ("circle", "sphere")
        and getattr(target, "sub_dim", None) == d
        and getattr(target, "basis", None) is None
    ):
        return f"radial{d}"
    if getattr(target, "is_gaussian", False) and d in (2, 3):
        lam, basis = target.eigh()
        mean = torch.as_tensor(target.mean, dtype=DTYPE).reshape(-1)
        if bool(torch.all(lam == lam[0])) and float(mean.abs().max()) == 0.0:
            return f"radial{d}"
    raise SgmbenchError(
        f"quadrature engine: target {target!r} is neither one-dimensional nor rotation-invariant in d = 2, 3"
    )


def build_chain(setting) -> tuple[Chain, Any]:
    """The :class:`Chain` of a setting (exponential integrator only) and the resolved objects."""
    from sgmbench.measure import resolve
    from sgmbench.samplers import linear_step

    r = resolve(setting)
    name = setting.sampler.partition(":")[0].strip()
    if name != "exponential-integrator":
        raise SgmbenchError(f"quadrature engine: sampler {name!r} (only exponential-integrator)")
    if setting.prior != "gaussian":
        raise SgmbenchError("quadrature engine: prior must be 'gaussian'")
    kind = chain_kind(r.target)
    step = linear_step("exponential-integrator", r.process, r.grid)
    times = r.grid[:-1].tolist()
    score, target = r.score, r.target
    d = int(target.dim)

    if kind == "line":

        def score_fn(y, k):
            with torch.no_grad():
                return score.evaluate(torch.from_numpy(y)[:, None], times[k])[:, 0].numpy()
    else:
        e1 = torch.zeros(d, dtype=DTYPE)
        e1[0] = 1.0

        def score_fn(y, k):
            pts = torch.from_numpy(y)[:, None] * e1[None, :]
            with torch.no_grad():
                return score.evaluate(pts, times[k])[:, 0].numpy()

    chain = Chain(
        kind,
        step.r.numpy(),
        step.gamma.numpy(),
        step.eta.numpy(),
        score_fn,
        math.sqrt(float(r.process.prior_variance(r.horizon))),
    )
    return chain, r


def reference_density(kind: str, target, process, t: float):
    r"""$(\log p_t$ as a function of the chain coordinate, its support $[lo, hi]$, its width scale$)$."""
    a = float(process.alpha(t))
    s2 = float(process.sigma2(t))
    if kind == "line":
        law = target.noised(process, t)

        def logp(x):
            with torch.no_grad():
                return law.log_prob(torch.from_numpy(x)[:, None]).numpy()

        comps = law.gaussian_components() if hasattr(law, "gaussian_components") else None
        if comps is None:  # a Gaussian target
            diag = law.as_diag_gaussian()
            comps = [(1.0, diag.mean, diag.var, None)]
        mus = [float(m.reshape(-1)[0]) for _, m, _, _ in comps]
        sds = [math.sqrt(float(v.reshape(-1)[0])) for _, _, v, _ in comps]
        lo = min(m - 12 * s for m, s in zip(mus, sds))
        hi = max(m + 12 * s for m, s in zip(mus, sds))
        return logp, (lo, hi), min(sds)
    if getattr(target, "is_gaussian", False):
        lam = float(target.eigh()[0][0])
        nu, eta = 0.0, math.sqrt(a * a * lam + s2)
    else:
        if s2 <= 0:
            raise SgmbenchError("the reference law p_delta of a manifold target needs delta > 0")
        nu, eta = a * float(target.radius), math.sqrt(s2)

    def logp(x):
        return log_kernel(kind, x, np.full_like(x, nu), eta)

    return logp, (max(0.0, nu - 12 * eta), nu + 12 * eta), eta


def quadrature_measure(setting, *, ratio: float | None = None, tail: float = 9.0) -> dict[str, Any]:
    r"""Exact-to-quadrature metrics of one setting: ``tv``, ``kl``, ``kl_reverse`` against its reference law
    ($p_0$ or $p_\delta$), and for sphere targets ``w2@data`` $= (E(\|Y\| - R)^2)^{1/2}$ and
    ``w2_early_stop`` $= W_2(p_\delta, p_0)$, ``w2_early_stop_rescaled``
    $= W_2(p_0, (\alpha_\delta^{-1})_\#p_\delta)$.
    Returns ``{"metrics": {...}, "info": {...}}`` with the cell-record fields."""
    t0 = time.perf_counter()
    chain, r = build_chain(setting)
    ref_t = r.reference_time
    logp, (lo, hi), width = reference_density(chain.kind, r.target, r.process, ref_t)
    dens, info = run_chain(chain, (lo, hi), width / 30.0, ratio=ratio, tail=tail)
    x, dx = dens.x, dens.dx
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ref = logp(x)
    if chain.kind != "line":
        log_ref = np.where(x > 0, log_ref, -np.inf)
    p_ref = np.exp(log_ref)
    w = dens.weights
    vals = divergences(w, p_ref, dens.p, dx, log_ref)
    est = f"quadrature:{chain.kind}"
    note = (
        f"exponential-integrator law propagated by trapezoidal quadrature ({chain.kind}); "
        f"mass defect {info['mass_defect']:.2g}"
    )
    tol = max(10 * info["mass_defect"], 1e-12)
    metrics = {
        m: {
            "value": v,
            "exact": True,
            "stderr": 0.0,
            "floor": 0.0,
            "estimator": est,
            "note": note,
            "tolerance": tol,
        }
        for m, v in vals.items()
    }
    if chain.kind != "line" and not getattr(r.target, "is_gaussian", False):
        R = float(r.target.radius)
        w2sq = float((dens.p * (x - R) ** 2) @ w / max(dens.mass(), 1e-300))
        metrics["w2@data"] = {
            "value": math.sqrt(w2sq),
            "exact": True,
            "stderr": 0.0,
            "floor": 0.0,
            "estimator": est + " (E(|Y|-R)^2)^(1/2)",
            "note": note,
            "tolerance": tol,
        }
        if setting.early_stop > 0:
            es = early_stop_w2_sphere(chain.kind, r.target, r.process, setting.early_stop)
            for k, v in es.items():
                metrics[k] = {
                    "value": v,
                    "exact": True,
                    "stderr": 0.0,
                    "floor": 0.0,
                    "estimator": "quadrature (E(|X_delta| - R)^2)^(1/2)",
                    "note": "a property of the setting",
                }
    info.update(path="quadrature", kind=chain.kind, grid_points=int(x.size), total_s=time.perf_counter() - t0)
    return {"metrics": metrics, "info": info, "setting": r.as_dict()}


def early_stop_w2_sphere(kind: str, target, process, delta: float) -> dict[str, float]:
    r"""$W_2(p_\delta, p_0)$ and $W_2(p_0, (\alpha_\delta^{-1})_\#p_\delta)$ for the uniform law on a sphere
    of radius $R$ filling $\mathbb R^m$: $(E(\|X_\delta\| - R)^2)^{1/2}$ and
    $(E(\|X_\delta\|/\alpha_\delta - R)^2)^{1/2}$,
    by quadrature of the radial density (exact by the projection argument of the module docstring)."""
    a = float(process.alpha(delta))
    s = math.sqrt(float(process.sigma2(delta)))
    R = float(target.radius)
    nu = a * R
    lo, hi = max(0.0, nu - 14 * s), nu + 14 * s
    x = np.linspace(lo, hi, 20001)
    dx = x[1] - x[0]
    p = kernel(kind, x, np.full_like(x, nu), s)
    m = p.sum() * dx
    return {
        "w2_early_stop": math.sqrt(float(np.sum(p * (x - R) ** 2) * dx / m)),
        "w2_early_stop_rescaled": math.sqrt(float(np.sum(p * (x / a - R) ** 2) * dx / m)),
    }


# ------------------------------------------------------------------------------------------------
# Chen et al. 2023 Theorem 2 for Gaussian mixtures (the registry's Lipschitz bound needs log-concavity)
# ------------------------------------------------------------------------------------------------
def mixture_lipschitz(target, process, t_lo: float = 0.0, num: int = 2001) -> tuple[float, str]:
    r"""$L = \max(1, \sup_{t\ge t_{lo}} L_t)$ for a Gaussian mixture with one shared isotropic variance
    $v_0$.

    With $v_t = \alpha_t^2v_0 + \sigma_t^2$,
    $\nabla^2\log p_t = -I/v_t + (\alpha_t^2/v_t^2){\rm Cov}_{w(x)}(\mu_k)$
    (``metrics-and-exact.md`` §3.5) and $0 \preceq {\rm Cov}_w(\mu_k) \preceq \tfrac{D^2}4I$ for means within
    diameter $D$ (Popoviciu), so $\|\nabla^2\log p_t\| \le \max(1/v_t,\ \alpha_t^2D^2/(4v_t^2) - 1/v_t)$
    (``bounds-tv-kl.md`` §2.6 (b); attained for two equal-weight modes at their midpoint). Derived.
    """
    lams = [c.eigh()[0] for c in target.components]
    lam0 = lams[0]
    if not all(torch.equal(lam, lam0) for lam in lams) or not bool(torch.all(lam0 == lam0[0])):
        raise SgmbenchError("mixture Lipschitz bound: needs one shared isotropic component variance")
    v0 = float(lam0[0])
    D = float(torch.cdist(target.means, target.means).max())
    hi = 8.0 * float(process.default_horizon) + 50.0
    ts = torch.logspace(math.log10(max(t_lo, 1e-9)), math.log10(hi), num, dtype=DTYPE)
    if t_lo == 0.0:
        ts = torch.cat([torch.zeros(1, dtype=DTYPE), ts])
    a2 = process.alpha(ts) ** 2
    v = a2 * v0 + process.sigma2(ts)
    L = torch.maximum(1.0 / v, a2 * D**2 / (4 * v**2) - 1.0 / v)
    return max(
        1.0, float(L.max())
    ), f"derived: max(1/v_t, alpha_t^2 D^2/(4 v_t^2) - 1/v_t), D = {D:g}, v_0 = {v0:g}"


def chen_thm2_for_mixtures():
    """``chen2023-thm2`` with the Lipschitz constant of :func:`mixture_lipschitz` (same statement, same
    terms and assumptions as :data:`sgmbench.bounds.chen2023.THM2`, which returns L = inf for
    non-log-concave data)."""
    from sgmbench.bounds import chen2023
    from sgmbench.bounds.base import (
        DERIVED,
        EXPONENTIAL_INTEGRATOR,
        VERIFIED_SECONDARY,
        Assumption,
        Term,
        init_kl_bound,
        is_uniform,
        needs_no_early_stopping,
        needs_sampler,
        needs_second_moment,
        needs_vp,
        ou_clock,
    )

    def steps(ctx):
        u = ou_clock(ctx.process, ctx.grid)
        return u[:-1] - u[1:]

    def uniform(ctx):
        h = steps(ctx)
        return is_uniform(h), f"OU-clock steps in [{float(h.min()):.4g}, {float(h.max()):.4g}]"

    def lipschitz(ctx):
        L, how = mixture_lipschitz(ctx.target, ctx.process)
        return math.isfinite(L), f"L = {L:.4g} [{how}]"

    def step_size(ctx):
        L, _ = mixture_lipschitz(ctx.target, ctx.process)
        h = float(steps(ctx).max())
        return (
            h * L <= 1.0,
            f"h L = {h:.4g} * {L:.4g} = {h * L:.4g} (needs <= 1, universal constant taken as 1)",
        )

    def terms(ctx):
        L, how = mixture_lipschitz(ctx.target, ctx.process)
        T = float(ou_clock(ctx.process, ctx.horizon))
        h = float(steps(ctx).max())
        d = ctx.dim
        m2 = math.sqrt(ctx.constants.second_moment)
        init = init_kl_bound(ctx)
        return [
            Term("initialisation", math.sqrt(init.value / 2.0), DERIVED, scaled=False, note=init.note),
            Term(
                "discretisation",
                (L * math.sqrt(d * h) + L * m2 * h) * math.sqrt(T),
                VERIFIED_SECONDARY,
                note=f"L = {L:.4g} ({how})",
            ),
            Term("score", math.sqrt(float(ctx.score_error_sq.max())) * math.sqrt(T), VERIFIED_SECONDARY),
        ]

    return dataclasses.replace(
        chen2023.THM2,
        assumptions=(
            needs_vp(),
            needs_sampler(EXPONENTIAL_INTEGRATOR),
            needs_no_early_stopping(),
            Assumption("uniform steps", "constant step h in the OU clock u = -log alpha_t", uniform),
            needs_second_moment(),
            Assumption("Lipschitz score", "grad log q_t is L-Lipschitz for all t >= 0 (A1)", lipschitz),
            Assumption("step size", "h <~ 1/L (A1 with L >= 1; constant 1)", step_size),
        ),
        compute=terms,
        notes=chen2023.THM2.notes + "; mixture L from the shared-variance bound of bounds-tv-kl.md §2.6(b) "
        "(benchmarks/_tvkl_helpers.py: the registry's L needs log-concavity)",
    )


# ------------------------------------------------------------------------------------------------
# The cell function shared by both studies
# ------------------------------------------------------------------------------------------------
SAMPLE_METRICS = ("kl", "tv", "kl_reverse", "w2")


def _bounds_rows(setting, measured: Mapping[str, Any], names: Sequence[str], target) -> list[dict[str, Any]]:
    from sgmbench.measure import evaluate_bounds

    chosen: list[Any] = list(names)
    if getattr(target, "name", "") == "mixture" and getattr(target, "num_components", 1) > 1:
        chosen = [chen_thm2_for_mixtures() if n == "chen2023-thm2" else n for n in chosen]
    return evaluate_bounds(setting, measured, chosen)


def _exact(cell) -> dict[str, Any]:
    from sgmbench.bounds.early_stopping import early_stop_w2_gaussian
    from sgmbench.measure import measure

    setting = cell.setting
    base = [m for m in cell.metrics if m in ("kl", "tv", "w2", "kl_reverse", "w2_sq", "hellinger")]
    out = measure(setting, base, details=True)
    if "w2@data" in cell.metrics:
        rec = measure(setting.replace(reference="data"), ("w2",), details=True)["metrics"]["w2"]
        out["metrics"]["w2@data"] = rec
    if "w2_early_stop" in cell.metrics and setting.early_stop > 0:
        target, process, _ = setting.resolve()
        v = early_stop_w2_gaussian(target.constants(), process, setting.early_stop)
        out["metrics"]["w2_early_stop"] = {
            "value": v,
            "exact": True,
            "stderr": 0.0,
            "floor": 0.0,
            "estimator": "closed form (Gaussian)",
        }
    return out


def _quadrature(cell) -> dict[str, Any]:
    q = quadrature_measure(cell.setting)
    q["for_bounds"] = {m: r["value"] for m, r in q["metrics"].items() if m.startswith("w2_early_stop")}
    q["metrics"] = {m: r for m, r in q["metrics"].items() if m in cell.metrics}
    return q


def _samples(cell) -> dict[str, Any]:
    from sgmbench.measure import _record_dict, generate_samples, reference_distribution, resolve
    from sgmbench.metrics import estimate

    r = resolve(cell.setting)
    t0 = time.perf_counter()
    x, nfe = generate_samples(r)
    ref = reference_distribution(r)
    metrics = {}
    for m in cell.metrics:
        if m in SAMPLE_METRICS:
            metrics[m] = _record_dict(estimate(m, x, ref, seed=int(cell.seed)))
        elif m == "w2@data":
            metrics[m] = _record_dict(estimate("w2", x, r.target, seed=int(cell.seed)))
    info = {
        "path": "samples",
        "nfe": nfe,
        "num_samples": int(x.shape[0]),
        "runtime_s": time.perf_counter() - t0,
    }
    return {"setting": r.as_dict(), "metrics": metrics, "info": info}


ENGINES = {"exact": _exact, "quadrature": _quadrature, "samples": _samples}


def tvkl_cell(cell) -> dict[str, Any]:
    """Cell function of ``tv-kl-rates`` and ``general-data``: extra ``engine`` = ``exact`` (Gaussian laws,
    :func:`sgmbench.measure.measure`), ``quadrature`` (:func:`quadrature_measure`) or ``samples`` (the
    metrics package's estimators with noise floors); then the cell's bounds on the same setting."""
    engine = cell.extra("engine", "exact")
    if engine not in ENGINES:
        raise SgmbenchError(f"unknown engine {engine!r}; valid: {', '.join(ENGINES)}")
    out = ENGINES[engine](cell)
    extra = out.pop("for_bounds", {})
    if cell.bounds and engine != "samples":
        measured = {m: rec.get("value") for m, rec in out["metrics"].items()}
        measured.update(extra)
        try:
            target, _, _ = cell.setting.resolve()
            out["bounds"] = _bounds_rows(cell.setting, measured, cell.bounds, target)
        except Exception as exc:  # a bound's failure must not lose the measured metrics
            out["bounds_error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return out


# ------------------------------------------------------------------------------------------------
# Reports (``report_fn`` of the two studies): figures with bound curves and a headline summary
# ------------------------------------------------------------------------------------------------
_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
_MARKERS = ["o", "s", "^", "D", "v", "P"]
_BOUND_STYLE = {
    "chen2023-thm2": ":",
    "chen2023-cor3": ":",
    "conforti2025-kl": "-.",
    "strasman2025-kl": (0, (1, 3)),
    "benton2024-thm1": "--",
    "llt2023-thm7.2": (0, (5, 1, 1, 1)),
    "early-stop-w2": "--",
    "llt2023-early-stop-w2": ":",
}
_LABELS = {
    "kl": "KL(reference $\\|$ generated) [nats]",
    "tv": "TV(reference, generated)",
    "w2@data": "$W_2$(generated, $p_0$)",
    "w2_early_stop": "$W_2(p_\\delta, p_0)$",
    "N sweep": "number of steps $N$",
    "d sweep": "dimension $d$",
    "eps sweep": "score error $\\varepsilon$ (bias of norm $\\varepsilon$)",
    "T sweep": "horizon $T$",
    "D sweep": "mode separation $D$",
    "delta sweep": "early stopping $\\delta$",
}


def _frames(store, study: str):
    from sgmbench.store import bounds_frame, long_frame

    rows = store.rows(study)
    df = long_frame(rows)
    df = df[df["status"] == "ok"].copy() if not df.empty else df
    pairs = bounds_frame(rows)
    if not pairs.empty:
        pairs = pairs[pairs["applicable"] & pairs["bound_value"].notna()].copy()
    return df, pairs


def _slope(x, y) -> tuple[float, float]:
    """OLS slope of log y on log x over the positive points, with its 95% half-width (nan if < 3 points)."""
    from sgmbench.analysis import fit_slope

    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2:
        return math.nan, math.nan
    f = fit_slope(x[ok], y[ok], window=False, method="ols")
    return f.slope, (f.ci_high - f.ci_low) / 2 if math.isfinite(f.ci_high) else math.nan


def _series(data, x: str, metric: str, where: Mapping[str, Any]):
    d = data[(data["metric"] == metric) & data[x].notna()]
    for k, v in where.items():
        d = d[d[k] == v]
    return d.groupby(x)["value"].mean().sort_index()


def _bound_series(pairs, x: str, bound: str, where: Mapping[str, Any]):
    if pairs is None or pairs.empty or x not in pairs.columns:
        return None
    b = pairs[(pairs["bound"] == bound) & pairs[x].notna()]
    for k, v in where.items():
        b = b[b[k] == v]
    return b.groupby(x)["bound_value"].mean().sort_index() if not b.empty else None


def _panel(ax, df, pairs, x, metric, hue, where=None, bounds=(), logx=True, predicted=None, title=""):
    """Measured ``metric`` vs ``x`` (one line per ``hue`` value, fitted slope in the legend) and the
    applicable bounds' values on the same cells (same colour, the bound's line style)."""
    where = dict(where or {})
    d = df[(df["metric"] == metric) & df[x].notna()]
    for k, v in where.items():
        d = d[d[k] == v]
    hues = sorted(d[hue].dropna().unique(), key=lambda v: (str(type(v)), v)) if hue else [None]
    for i, hv in enumerate(hues):
        w = {**where, **({hue: hv} if hue else {})}
        s = _series(df, x, metric, w)
        s = s[s > 0]
        if s.empty:
            continue
        c = _COLORS[i % len(_COLORS)]
        sl, hw = _slope(s.index, s.values) if logx else (math.nan, math.nan)
        lab = f"{hv}" + (f": slope {sl:+.2f}" if math.isfinite(sl) else "")
        ax.plot(s.index, s.values, marker=_MARKERS[i % len(_MARKERS)], ms=4, lw=1.5, color=c, label=lab)
        for b in bounds:
            bs = _bound_series(pairs, x, b, w)
            if bs is not None and not bs.empty:
                ax.plot(
                    bs.index,
                    bs.values,
                    ls=_BOUND_STYLE.get(b, ":"),
                    marker="x",
                    ms=3.5,
                    lw=1.2,
                    color=c,
                    label=f"{b} ({hv})",
                )
    if predicted is not None and not d.empty:
        xs = np.sort(d[x].astype(float).unique())
        xs = xs[xs > 0]
        first = d[(d[x] == xs[0]) & (d["value"] > 0)]["value"] if xs.size else d["value"].iloc[:0]
        if xs.size >= 2 and not first.empty:
            y0 = float(first.min()) * 3.0
            ax.plot(
                xs,
                y0 * (xs / xs[0]) ** predicted,
                color="0.5",
                lw=0.9,
                ls=(0, (6, 3)),
                label=f"bound's exponent {predicted:+g}",
            )
    ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
        import matplotlib.ticker as mt

        xs = np.sort(d[x].astype(float).unique())
        if 1 < xs.size <= 12 and np.all(xs > 0):
            ax.set_xticks(xs)
            ax.xaxis.set_major_formatter(mt.FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(mt.NullFormatter())
            if xs.size > 6:
                ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.set_xlabel(_LABELS.get(x, x))
    ax.set_ylabel(_LABELS.get(metric, metric))
    ax.grid(True, which="both", alpha=0.25)
    if title:
        ax.set_title(title, fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6.5, loc="best", title=hue, title_fontsize=7)


def _save(fig, stem) -> list:
    from pathlib import Path

    import matplotlib.pyplot as plt

    stem = Path(stem)
    out = []
    for ext, kw in ((".png", {"dpi": 140}), (".pdf", {})):
        fig.savefig(stem.with_suffix(ext), bbox_inches="tight", **kw)
        out.append(stem.with_suffix(ext))
    plt.close(fig)
    return out


def _md(df) -> str:
    from sgmbench.report import to_markdown

    return to_markdown(df)


def _fmt(v, digits=3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return f"{v:.{digits}g}"


def _ratio_range(pairs, bound, where):
    b = pairs[(pairs["bound"] == bound)] if pairs is not None and not pairs.empty else None
    if b is None or b.empty:
        return "—"
    for k, v in where.items():
        b = b[b[k].notna() & (b[k] == v)] if not isinstance(v, str) or v != "*" else b[b[k].notna()]
    r = (b["bound_value"] / b["measured"]).replace([np.inf, -np.inf], np.nan).dropna()
    r = r[b.loc[r.index, "measured"] > 0]
    if r.empty:
        return "—"
    return f"{r.min():.3g} – {r.max():.3g}"


def report_tv_kl_rates(store, directory) -> list:
    """Figures (N, d, eps, T, D sweeps with every applicable bound) and ``headline.md`` (tv-kl-rates)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from pathlib import Path

    import matplotlib.pyplot as plt

    directory = Path(directory)
    df, pairs = _frames(store, "tv-kl-rates")
    files: list = []
    kl_bounds = {"uniform": ("conforti2025-kl", "strasman2025-kl"), "benton": ("benton2024-thm1",)}
    tv_bounds = {"uniform": ("chen2023-thm2",), "benton": ()}
    # 1. N sweep: rows kl, tv; columns: series
    series = sorted(
        df.loc[df["N sweep"].notna(), "series"].unique(), key=lambda s: (not s.startswith("g"), len(s), s)
    )
    fig, axes = plt.subplots(2, len(series), figsize=(4.3 * len(series), 7.6), squeeze=False)
    for j, ser in enumerate(series):
        for i, (m, pred) in enumerate((("kl", -1.0), ("tv", -0.5))):
            ax = axes[i][j]
            _panel(
                ax,
                df,
                pairs,
                "N sweep",
                m,
                "grid",
                {"series": ser},
                bounds=tuple(
                    dict.fromkeys(kl_bounds["uniform"] + kl_bounds["benton"])
                    if m == "kl"
                    else tv_bounds["uniform"]
                ),
                predicted=pred,
                title=ser,
            )
    fig.suptitle(
        "tv-kl-rates: error vs number of steps N (uniform grid: vs $p_0$; Benton grid: vs $p_\\delta$, "
        "$\\delta=10^{-3}$); dotted/dashed: bounds on the same cells (C = 1)",
        fontsize=10,
    )
    fig.tight_layout()
    files += _save(fig, directory / "fig_N_sweep")
    # 2. d and eps sweeps
    fig, axes = plt.subplots(2, 2, figsize=(10.5, 8.2), squeeze=False)
    for j, (x, preds) in enumerate((("d sweep", (1.0, 0.5)), ("eps sweep", (2.0, 1.0)))):
        _panel(
            axes[0][j],
            df,
            pairs,
            x,
            "kl",
            "grid",
            bounds=("conforti2025-kl", "strasman2025-kl", "benton2024-thm1"),
            predicted=preds[0],
            title=f"KL vs {x.split()[0]} (N = 1024)",
        )
        _panel(
            axes[1][j],
            df,
            pairs,
            x,
            "tv",
            "grid",
            bounds=("chen2023-thm2",),
            predicted=preds[1],
            title=f"TV vs {x.split()[0]} (N = 1024)",
        )
    fig.suptitle("tv-kl-rates: Gaussian $N(\\mathbf{1}, 0.5 I_d)$, exact laws", fontsize=10)
    fig.tight_layout()
    files += _save(fig, directory / "fig_d_eps_sweeps")
    # 3. T sweep
    if df["T sweep"].notna().any():
        arms = [a for a in ("uniform", "benton") if ((df["T sweep"].notna()) & (df["grid"] == a)).any()]
        fig, axes = plt.subplots(2, len(arms), figsize=(5.2 * len(arms), 8), squeeze=False)
        for j, arm in enumerate(arms):
            _panel(
                axes[0][j],
                df,
                pairs,
                "T sweep",
                "kl",
                "steps",
                {"grid": arm},
                bounds=kl_bounds[arm],
                logx=False,
                title=f"{arm} grid: KL vs T",
            )
            _panel(
                axes[1][j],
                df,
                pairs,
                "T sweep",
                "tv",
                "steps",
                {"grid": arm},
                bounds=tv_bounds[arm],
                logx=False,
                title=f"{arm} grid: TV vs T",
            )
        fig.suptitle(
            "tv-kl-rates: horizon T at fixed N (Gaussian d = 10): small T, initialisation error; large T, "
            "larger steps h = T/N",
            fontsize=10,
        )
        fig.tight_layout()
        files += _save(fig, directory / "fig_T_sweep")
    # 4. separation sweep
    if df["D sweep"].notna().any():
        Ns = sorted(df.loc[df["D sweep"].notna(), "steps"].unique())
        pick = [n for n in Ns if n in (64, 256, 1024)] or Ns[-2:]
        fig, axes = plt.subplots(2, 2, figsize=(10.5, 8.2), squeeze=False)
        for j, arm in enumerate(("uniform", "benton")):
            sub = df[df["steps"].isin(pick)]
            psub = pairs[pairs["steps"].isin(pick)] if not pairs.empty else pairs
            _panel(
                axes[0][j],
                sub,
                psub,
                "D sweep",
                "kl",
                "steps",
                {"grid": arm},
                bounds=kl_bounds[arm],
                predicted=2.0,
                title=f"{arm} grid: KL vs mode separation D",
            )
            _panel(
                axes[1][j],
                sub,
                psub,
                "D sweep",
                "tv",
                "steps",
                {"grid": arm},
                bounds=tv_bounds[arm],
                predicted=2.0,
                title=f"{arm} grid: TV vs mode separation D",
            )
        fig.suptitle(
            "tv-kl-rates: mixture $\\frac{1}{2}N(-D/2, 1) + \\frac{1}{2}N(D/2, 1)$ in d = 1 (quadrature); "
            "Chen's L = max(1, D²/4 - 1)",
            fontsize=10,
        )
        fig.tight_layout()
        files += _save(fig, directory / "fig_separation_sweep")
    path = directory / "headline.md"
    path.write_text(_headline_tv_kl(df, pairs))
    files.append(path)
    return files


def _headline_tv_kl(df, pairs) -> str:
    import pandas as pd

    lines = [
        "# tv-kl-rates: headline numbers",
        "",
        "Generated by `benchmarks/_tvkl_helpers.py:report_tv_kl_rates` from the store. Slopes are OLS fits "
        "of log(metric) on log(x) over every point of the sweep (± 95% half-width); `bound slope` is the "
        "same "
        "fit of the bound's values on the same cells; `bound/measured` is the range of the tightness ratio "
        "(C = 1) over the sweep.",
        "",
    ]
    rows = []
    specs = [
        ("N sweep", "kl", "benton2024-thm1", -1.0, "benton"),
        ("N sweep", "kl", "conforti2025-kl", -1.0, "uniform"),
        ("N sweep", "kl", "strasman2025-kl", -1.0, "uniform"),
        ("N sweep", "tv", "chen2023-thm2", -0.5, "uniform"),
        ("d sweep", "kl", "benton2024-thm1", 1.0, "benton"),
        ("d sweep", "kl", "conforti2025-kl", 1.0, "uniform"),
        ("d sweep", "tv", "chen2023-thm2", 0.5, "uniform"),
        ("eps sweep", "kl", "benton2024-thm1", 2.0, "benton"),
        ("eps sweep", "kl", "conforti2025-kl", 2.0, "uniform"),
        ("eps sweep", "tv", "chen2023-thm2", 1.0, "uniform"),
        ("D sweep", "kl", "benton2024-thm1", 2.0, "benton"),
        ("D sweep", "kl", "conforti2025-kl", 2.0, "uniform"),
        ("D sweep", "tv", "chen2023-thm2", 2.0, "uniform"),
    ]
    for x, m, b, pred, arm in specs:
        if x not in df.columns or not df[x].notna().any():
            continue
        groups = ["series"] if x == "N sweep" else (["steps"] if x == "D sweep" else [])
        sub = df[(df["metric"] == m) & df[x].notna() & (df["grid"] == arm)]
        if x == "D sweep":
            sub = sub[sub["steps"] == sub["steps"].max()]
        for key, _ in sub.groupby(groups) if groups else [((), sub)]:
            key = key if isinstance(key, tuple) else (key,)
            where = {"grid": arm, **dict(zip(groups, key))}
            s = _series(df, x, m, where)
            sl, hw = _slope(s.index, s.values)
            bs = _bound_series(pairs, x, b, where)
            bsl = _slope(bs.index, bs.values)[0] if bs is not None and len(bs) >= 2 else math.nan
            napp = 0 if bs is None else len(bs)
            rows.append(
                {
                    "sweep": x.split()[0],
                    "grid": arm,
                    "group": ", ".join(f"{k}={v}" for k, v in zip(groups, key)) or "—",
                    "metric": m,
                    "measured slope": f"{sl:+.3f} ± {hw:.3f}" if math.isfinite(hw) else _fmt(sl),
                    "bound": b,
                    "predicted exponent": f"{pred:+g}",
                    "bound slope (fit)": f"{bsl:+.3f}" if math.isfinite(bsl) else "—",
                    "applicable at": f"{napp}/{len(s)}",
                    "bound/measured": _ratio_range(pairs, b, {x: "*", **where}),
                }
            )
    lines += ["## Fitted exponents: measured vs the bounds", "", _md(pd.DataFrame(rows)), ""]
    # mixtures at the largest N
    mix = df[df["D sweep"].notna()] if "D sweep" in df.columns else df.iloc[:0]
    if not mix.empty:
        N = int(mix["steps"].max())
        lines += [f"## Mixtures at N = {N}: measured vs bounds (d = 1, var 1, T = 8)", ""]
        rows = []
        from sgmbench.processes import get_process
        from sgmbench.targets import get_target

        proc = get_process("ou")
        for D in sorted(mix["D sweep"].unique()):
            r = {
                "D": int(D),
                "Chen L": _fmt(mixture_lipschitz(get_target(MIXTURE_SPEC.format(D=int(D))), proc)[0]),
            }
            for arm in ("uniform", "benton"):
                for m in ("tv", "kl"):
                    v = mix[
                        (mix["D sweep"] == D)
                        & (mix["steps"] == N)
                        & (mix["grid"] == arm)
                        & (mix["metric"] == m)
                    ]["value"]
                    r[f"{m} ({arm})"] = _fmt(float(v.mean())) if len(v) else "—"
            for b in ("chen2023-thm2", "conforti2025-kl", "strasman2025-kl", "benton2024-thm1"):
                bb = (
                    pairs[(pairs["bound"] == b) & (pairs["D sweep"] == D) & (pairs["steps"] == N)]
                    if not pairs.empty
                    else []
                )
                r[b] = _fmt(float(bb["bound_value"].mean())) if len(bb) else "inapplicable"
            rows.append(r)
        lines += [_md(pd.DataFrame(rows)), ""]
    # vacuous / inapplicable summary
    return "\n".join(lines) + "\n"


MIXTURE_SPEC = "mixture:dim=1,components=2,separation={D},var=1"


def report_general_data(store, directory) -> list:
    """Figures (N and delta sweeps with the bounds), the §7 reference-table reproduction, the
    sample-vs-quadrature cross-check and ``headline.md`` for ``general-data``."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from pathlib import Path

    import matplotlib.pyplot as plt

    directory = Path(directory)
    df, pairs = _frames(store, "general-data")
    files: list = []
    series = [s for s in ("near-singular gaussian", "circle", "sphere") if (df["series"] == s).any()]
    fig, axes = plt.subplots(2, len(series), figsize=(4.5 * len(series), 7.8), squeeze=False)
    for j, ser in enumerate(series):
        _panel(
            axes[0][j],
            df,
            pairs,
            "N sweep",
            "kl",
            "grid",
            {"series": ser},
            bounds=("benton2024-thm1",),
            predicted=-1.0,
            title=f"{ser}: KL($p_\\delta$ ‖ gen), δ = 1e-3",
        )
        _panel(
            axes[1][j],
            df,
            pairs,
            "N sweep",
            "tv",
            "grid",
            {"series": ser},
            bounds=("chen2023-cor3", "llt2023-thm7.2"),
            predicted=-0.5,
            title=f"{ser}: TV($p_\\delta$, gen)",
        )
    fig.suptitle(
        "general-data: uniform vs Benton grid, T = 8, δ = 1e-3 (exact / quadrature laws); dashed: Benton "
        "et al. Thm 1 (C = 1)",
        fontsize=10,
    )
    fig.tight_layout()
    files += _save(fig, directory / "fig_N_sweep")
    fig, axes = plt.subplots(3, len(series), figsize=(4.5 * len(series), 11), squeeze=False)
    for j, ser in enumerate(series):
        ax = axes[0][j]
        _panel(
            ax,
            df,
            pairs,
            "delta sweep",
            "w2@data",
            "grid",
            {"series": ser},
            predicted=0.5,
            title=f"{ser}: $W_2$ to the data",
        )
        es = _series(df, "delta sweep", "w2_early_stop", {"series": ser, "grid": "benton"})
        if not es.empty:
            ax.plot(es.index, es.values, "k-", lw=0.8, alpha=0.7, label="$W_2(p_\\delta, p_0)$ (exact)")
            for b in ("early-stop-w2", "llt2023-early-stop-w2"):
                bs = _bound_series(pairs, "delta sweep", b, {"series": ser, "grid": "benton"})
                if bs is not None:
                    ax.plot(bs.index, bs.values, _BOUND_STYLE[b], color="k", lw=1, label=f"{b} bound")
            ax.legend(fontsize=6.5)
        _panel(
            axes[1][j],
            df,
            pairs,
            "delta sweep",
            "kl",
            "grid",
            {"series": ser},
            bounds=("benton2024-thm1",),
            title=f"{ser}: KL($p_\\delta$ ‖ gen) at fixed N",
        )
        _panel(
            axes[2][j],
            df,
            pairs,
            "delta sweep",
            "tv",
            "grid",
            {"series": ser},
            bounds=("chen2023-cor3", "llt2023-thm7.2"),
            title=f"{ser}: TV($p_\\delta$, gen) at fixed N",
        )
    Nd = sorted(df.loc[df["delta sweep"].notna(), "steps"].unique())
    fig.suptitle(
        f"general-data: early stopping δ at N = {', '.join(map(str, Nd))}; $W_2$ to the data ∝ √δ",
        fontsize=10,
    )
    fig.tight_layout()
    files += _save(fig, directory / "fig_delta_sweep")
    path = directory / "headline.md"
    path.write_text(_headline_general(df, pairs))
    files.append(path)
    return files


#: bounds-tv-kl.md §7: KL(q_delta || generated), near-singular Gaussian, delta = 1e-3, T = 8
REFERENCE_TABLE = {
    "uniform": {20: 24.8, 40: 20.4, 80: 16.7, 160: 13.4, 320: 10.3, 640: 7.31},
    "benton": {20: 0.896, 40: 0.247, 80: 0.0649, 160: 0.0167, 320: 0.00422, 640: 0.00106},
}


def _headline_general(df, pairs) -> str:
    import pandas as pd

    lines = [
        "# general-data: headline numbers",
        "",
        "Generated by `benchmarks/_tvkl_helpers.py:report_general_data` from the store.",
        "",
    ]
    ns = df[(df["series"] == "near-singular gaussian") & (df["metric"] == "kl") & df["N sweep"].notna()]
    if not ns.empty:
        rows = []
        for grid in ("uniform", "benton"):
            for N, ref in REFERENCE_TABLE[grid].items():
                v = ns[(ns["grid"] == grid) & (ns["steps"] == N)]["value"]
                if len(v):
                    rows.append(
                        {
                            "grid": grid,
                            "N": N,
                            "KL measured": f"{float(v.mean()):.4g}",
                            "KL §7": f"{ref:g}",
                            "relative difference": f"{float(v.mean()) / ref - 1:+.2%}",
                        }
                    )
        lines += [
            "## Reproduction of bounds-tv-kl.md §7 (near-singular Gaussian, δ = 1e-3, T = 8)",
            "",
            "The §7 numbers are printed to 3 significant digits, so agreement within ±0.5 unit in the last "
            "digit (≤ 0.6%) is exact agreement.",
            "",
            _md(pd.DataFrame(rows)),
            "",
        ]
    rows = []
    for ser in ("near-singular gaussian", "circle", "sphere"):
        for grid in ("uniform", "benton"):
            w = {"series": ser, "grid": grid}
            r = {"series": ser, "grid": grid}
            for m in ("kl", "tv"):
                s = _series(df, "N sweep", m, w)
                if s.empty:
                    continue
                sl, hw = _slope(s.index, s.values)
                r[f"{m} slope in N"] = f"{sl:+.3f} ± {hw:.3f}" if math.isfinite(hw) else _fmt(sl)
                r[f"{m} at N={int(s.index.max())}"] = _fmt(float(s.iloc[-1]))
            bs = _bound_series(pairs, "N sweep", "benton2024-thm1", w)
            if bs is not None and len(bs) >= 2:
                r["Benton bound slope"] = f"{_slope(bs.index, bs.values)[0]:+.3f}"
                r["Benton bound/measured"] = _ratio_range(pairs, "benton2024-thm1", {"N sweep": "*", **w})
            if len(r) > 2:
                rows.append(r)
    if rows:
        lines += [
            "## TV and KL to $p_\\delta$ vs N (δ = 1e-3); predicted: Benton KL −1, Chen Cor. 3 TV −1/2",
            "",
            _md(pd.DataFrame(rows)),
            "",
        ]
    rows = []
    for ser in ("near-singular gaussian", "circle", "sphere"):
        for grid in ("uniform", "benton"):
            w = {"series": ser, "grid": grid}
            s = _series(df, "delta sweep", "w2@data", w)
            e = _series(df, "delta sweep", "w2_early_stop", w)
            if s.empty:
                continue
            sl, hw = _slope(s.index, s.values)
            el, ehw = _slope(e.index, e.values)
            dmin = float(s.index.min())
            rows.append(
                {
                    "series": ser,
                    "grid": grid,
                    "W2(gen, p0) slope in δ": f"{sl:+.3f} ± {hw:.3f}",
                    "W2(p_δ, p0) slope in δ": f"{el:+.3f} ± {ehw:.3f}",
                    f"W2(gen,p0)/√δ at δ={dmin:g}": _fmt(float(s.loc[dmin]) / math.sqrt(dmin)),
                    f"W2(p_δ,p0)/√δ at δ={dmin:g}": _fmt(float(e.loc[dmin]) / math.sqrt(dmin))
                    if dmin in e.index
                    else "—",
                    "KL at smallest δ": _fmt(float(_series(df, "delta sweep", "kl", w).loc[dmin])),
                }
            )
    if rows:
        lines += [
            "## The √δ law (predicted exponent +1/2)",
            "",
            "W2(p_δ, p_0)/√δ → √(2(d − k)) for a k-dimensional manifold in R^d (normal noise σ_δ² ≈ 2δ per "
            "normal direction): √2 = 1.41 for the circle in R² and the sphere in R³; for the near-singular "
            "Gaussian 3·(√(2δ + 1e-6) − 1e-3)/√δ (9 thin directions of standard deviation 1e-3), 3.95 at "
            "δ = 1e-4 and → √18 = 4.24 for δ ≫ 1e-6.",
            "",
            _md(pd.DataFrame(rows)),
            "",
        ]
    cc = df[df["engine"] == "samples"]
    if not cc.empty:
        rows = []
        for (N, grid), g in cc.groupby(["steps", "grid"]):
            twin = df[
                (df["engine"] == "quadrature")
                & (df["steps"] == N)
                & (df["grid"] == grid)
                & (df["early_stop"] == g["early_stop"].iloc[0])
                & (df["samples"] == g["samples"].iloc[0])
            ]
            for m in ("w2@data", "tv", "kl"):
                a = g[g["metric"] == m]
                b = twin[twin["metric"] == m]
                if a.empty:
                    continue
                a = a.iloc[0]
                rows.append(
                    {
                        "N": int(N),
                        "metric": m,
                        "samples (n=4000)": f"{a['value']:.4g} ± {_fmt(a['stderr'], 2)}",
                        "floor": _fmt(a["floor"]),
                        "estimator": a.get("record.estimator", ""),
                        "meaningful": a.get("record.meaningful", ""),
                        "quadrature (exact)": _fmt(float(b["value"].iloc[0]), 4) if len(b) else "—",
                    }
                )
        lines += [
            "## Sample-based cross-check (circle, δ = 1e-2, Benton grid)",
            "",
            _md(pd.DataFrame(rows)),
            "",
        ]
    return "\n".join(lines) + "\n"
