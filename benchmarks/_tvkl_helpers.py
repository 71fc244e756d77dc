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
with an end correction at $\rho = 0$) of the kernel width $\eta_k$ (divided by the largest slope of $c_{k+1}$ where there is mass), which for these smooth, rapidly
decaying integrands is accurate to many digits (checked against the exact Gaussian recursion of
:mod:`sgmbench.exact`: ``tests/test_study_tv_kl_rates.py``); only sources within ``tail`` kernel widths
of a target point contribute (banded sum). The grid follows the mass (range and spacing are re-chosen at
every step), so a step costs $O(G\cdot 6\,{\rm tail})$ with $G$ a few hundred points. The last step is
evaluated on a grid that also resolves the reference law $p_\delta$ (width $\sigma_\delta$), so TV and KL
are integrals of two known densities on one grid. The mass defect $|\int p_k - 1|$ is tracked and
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
    - $\chi_3$: $K = \sqrt{2/\pi}\,\frac{x^2}{\eta^3}e^{-(x-c)^2/2\eta^2}\,\frac{1 - e^{-2z}}{2z}$, $z = xc/\eta^2$
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
_I0_ASYMPTOTIC = np.array([1.0, 1 / 8, 9 / 128, 75 / 1024, 3675 / 32768, 59535 / 262144, 2401245 / 4194304,
                           57972915 / 33554432])  # fmt: skip
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
    r"""$\sum_i w_i K_\eta(x_j \mid c_i)$ on the grid $x_j = lo + j\,dx$, $j < G$, over $|x_j - c_i| \le$ tail·η."""
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
    w: np.ndarray, p_ref: np.ndarray, p_gen: np.ndarray, dx: float | None = None, log_ref: np.ndarray | None = None
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
            tv += float(np.sum(dx * (aa**2 + bb**2) / (2 * (aa + bb)) - dx * (aa + bb) / 2 + dx * (aa + bb) / 6))
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
    if name in ("circle", "sphere") and getattr(target, "sub_dim", None) == d and getattr(target, "basis", None) is None:
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
    ``w2_early_stop`` $= W_2(p_\delta, p_0)$, ``w2_early_stop_rescaled`` $= W_2(p_0, (\alpha_\delta^{-1})_\#p_\delta)$.
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
        m: {"value": v, "exact": True, "stderr": 0.0, "floor": 0.0, "estimator": est, "note": note,
            "tolerance": tol}
        for m, v in vals.items()
    }  # fmt: skip
    if chain.kind != "line" and not getattr(r.target, "is_gaussian", False):
        R = float(r.target.radius)
        w2sq = float((dens.p * (x - R) ** 2) @ w / max(dens.mass(), 1e-300))
        metrics["w2@data"] = {"value": math.sqrt(w2sq), "exact": True, "stderr": 0.0, "floor": 0.0,
                              "estimator": est + " (E(|Y|-R)^2)^(1/2)", "note": note, "tolerance": tol}  # fmt: skip
        if setting.early_stop > 0:
            es = early_stop_w2_sphere(chain.kind, r.target, r.process, setting.early_stop)
            for k, v in es.items():
                metrics[k] = {"value": v, "exact": True, "stderr": 0.0, "floor": 0.0,
                              "estimator": "quadrature (E(|X_delta| - R)^2)^(1/2)", "note": "a property of the setting"}  # fmt: skip
    info.update(path="quadrature", kind=chain.kind, grid_points=int(x.size), total_s=time.perf_counter() - t0)
    return {"metrics": metrics, "info": info, "setting": r.as_dict()}


def early_stop_w2_sphere(kind: str, target, process, delta: float) -> dict[str, float]:
    r"""$W_2(p_\delta, p_0)$ and $W_2(p_0, (\alpha_\delta^{-1})_\#p_\delta)$ for the uniform law on a sphere of
    radius $R$ filling $\mathbb R^m$: $(E(\|X_\delta\| - R)^2)^{1/2}$ and $(E(\|X_\delta\|/\alpha_\delta - R)^2)^{1/2}$,
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
    r"""$L = \max(1, \sup_{t\ge t_{lo}} L_t)$ for a mixture of Gaussians with one shared isotropic variance $v_0$.

    With $v_t = \alpha_t^2v_0 + \sigma_t^2$, $\nabla^2\log p_t = -I/v_t + (\alpha_t^2/v_t^2){\rm Cov}_{w(x)}(\mu_k)$
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
    return max(1.0, float(L.max())), f"derived: max(1/v_t, alpha_t^2 D^2/(4 v_t^2) - 1/v_t), D = {D:g}, v_0 = {v0:g}"


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
        return h * L <= 1.0, f"h L = {h:.4g} * {L:.4g} = {h * L:.4g} (needs <= 1, universal constant taken as 1)"

    def terms(ctx):
        L, how = mixture_lipschitz(ctx.target, ctx.process)
        T = float(ou_clock(ctx.process, ctx.horizon))
        h = float(steps(ctx).max())
        d = ctx.dim
        m2 = math.sqrt(ctx.constants.second_moment)
        init = init_kl_bound(ctx)
        return [
            Term("initialisation", math.sqrt(init.value / 2.0), DERIVED, scaled=False, note=init.note),
            Term("discretisation", (L * math.sqrt(d * h) + L * m2 * h) * math.sqrt(T), VERIFIED_SECONDARY,
                 note=f"L = {L:.4g} ({how})"),
            Term("score", math.sqrt(float(ctx.score_error_sq.max())) * math.sqrt(T), VERIFIED_SECONDARY),
        ]  # fmt: skip

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
        out["metrics"]["w2_early_stop"] = {"value": v, "exact": True, "stderr": 0.0, "floor": 0.0,
                                           "estimator": "closed form (Gaussian)"}  # fmt: skip
    return out


def _quadrature(cell) -> dict[str, Any]:
    q = quadrature_measure(cell.setting)
    wanted = set(cell.metrics) | {"w2_early_stop", "w2_early_stop_rescaled"}
    q["metrics"] = {m: r for m, r in q["metrics"].items() if m in wanted}
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
    info = {"path": "samples", "nfe": nfe, "num_samples": int(x.shape[0]), "runtime_s": time.perf_counter() - t0}
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
    if cell.bounds and engine != "samples":
        measured = {m: rec.get("value") for m, rec in out["metrics"].items()}
        try:
            target, _, _ = cell.setting.resolve()
            out["bounds"] = _bounds_rows(cell.setting, measured, cell.bounds, target)
        except Exception as exc:  # a bound's failure must not lose the measured metrics
            out["bounds_error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return out


def report_tv_kl_rates(store, directory):  # placeholder, replaced below
    return []


def report_general_data(store, directory):  # placeholder, replaced below
    return []
