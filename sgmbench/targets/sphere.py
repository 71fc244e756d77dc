r"""Uniform law on a sphere $S^k$ of radius $R$ in a $(k+1)$-dimensional subspace of $\mathbb R^d$
(``circle``: $k = 1$).

$p_0$ has no density on $\mathbb R^d$ (``log_prob`` raises). For $t > 0$, write $m = k + 1$,
$y = P x \in \mathbb R^m$ (the subspace coordinates), $x_\perp$ the rest, $\nu = m/2 - 1$ and $\kappa =
\alpha_tR\|y\|/\sigma_t^2$. Then
$$p_t(x) = N(x_\perp; 0, \sigma_t^2 I_{d-m})\,(2\pi\sigma_t^2)^{-m/2}
   e^{-(\|y\|^2 + \alpha_t^2R^2)/(2\sigma_t^2)}\,B_m(\kappa),\qquad
   B_m(\kappa) = \Gamma(m/2)(\kappa/2)^{-\nu}I_\nu(\kappa) = E_u\,e^{\kappa u_1},$$
the average of the Gaussian kernel over the sphere (the von Mises–Fisher normaliser;
``papers/bounds-tv-kl.md`` §2.6 (c), derived there). Since $\frac{d}{d\kappa}\log B_m = A_m(\kappa) =
I_{m/2}(\kappa)/I_{m/2-1}(\kappa)$,
$$\nabla\log p_t(x) = -\frac{x}{\sigma_t^2} +
\Big(\frac{\alpha_tR}{\sigma_t^2}\Big)^2\frac{A_m(\kappa)}{\kappa}\,P^\top y,$$
i.e. $(\alpha_tE[X_0\mid X_t = x] - x)/\sigma_t^2$ with $E[X_0\mid x] = R\,A_m(\kappa)\,y/\|y\|$
(vMF posterior).

Numerics (derived by us): we evaluate $\log B_m(\kappa) - \kappa$, which combines with the Gaussian
factor into $-(\|y\| - \alpha_tR)^2/(2\sigma_t^2)$, so nothing overflows. $m = 2$: $\log i_0^e(\kappa)$ and
$A_2 = i_1^e/i_0^e$ (``torch.special``); $m = 3$: $B_3 = \sinh\kappa/\kappa$, $A_3 = \coth\kappa - 1/\kappa$;
(its Laurent series below $\kappa = 0.1$, where the difference cancels); other $m$: exponentially scaled
Bessel functions (``scipy.special.ive``) for $\kappa \ge 2\sqrt m$ and the power series
$B_m = \sum_j (\kappa^2/4)^j/(j!\,(m/2)_j)$ below, wrapped in an autograd function.
Small $\kappa$: $A_m/\kappa = 1/m - \kappa^2/(m^2(m+2)) + O(\kappa^4)$.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.special as sps
import torch

from sgmbench.errors import SgmbenchError
from sgmbench.registry import check_positive
from sgmbench.targets.base import NoisedLaw, Target, TargetConstants, targets
from sgmbench.targets.gaussian import (
    DTYPE,
    LOG_2PI,
    DeviceCache,
    check_count,
    check_flag,
    randn,
    random_orthogonal,
)

#: largest manifold dimension k (log I_nu underflows in float64 for larger orders; see module docstring)
MAX_MANIFOLD_DIM = 200
_SMALL_KAPPA = 1e-3


# ------------------------------------------------------------------------------------------------
# log B_m(kappa) - kappa and A_m(kappa)/kappa
# ------------------------------------------------------------------------------------------------
def _series_log_b_and_ratio(kappa: np.ndarray, m: int, terms: int = 80) -> tuple[np.ndarray, np.ndarray]:
    r"""$\log B_m(\kappa)$ and $A_m(\kappa)/\kappa$ from the series $B_m = \sum_j t_j$, $t_j =
    (\kappa^2/4)^j/(j!(m/2)_j)$.

    $A_m/\kappa = B_m'/(\kappa B_m) = \tfrac12\sum_{j\ge1} j\,t_j/(\kappa^2/4) / \sum_j t_j$. Terms are
    positive (no cancellation) and summed in log space.
    """
    j = np.arange(terms, dtype=np.float64)
    log_coef = -sps.gammaln(j + 1) - (sps.gammaln(m / 2 + j) - sps.gammaln(m / 2))
    q = kappa[:, None] ** 2 / 4
    with np.errstate(divide="ignore", invalid="ignore"):
        logq = np.log(q)
        log_t = np.where(j == 0, 0.0, j * logq) + log_coef  # [n, terms]
        # sum_{j>=1} j t_j / q = sum_{j>=1} j q^{j-1} coef_j
        log_s = np.where(j[1:] == 1, 0.0, (j[1:] - 1) * logq) + log_coef[1:] + np.log(j[1:])
    log_b = sps.logsumexp(log_t, axis=1)
    ratio = 0.5 * np.exp(sps.logsumexp(log_s, axis=1) - log_b)
    return log_b, ratio


def _log_be_and_ratio_numpy(kappa: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """$(\\log B_m(\\kappa) - \\kappa$, $A_m(\\kappa)/\\kappa)$ for general $m$ by scipy (series or
    ``ive``)."""
    nu = m / 2 - 1
    out_b = np.empty_like(kappa)
    out_r = np.empty_like(kappa)
    small = kappa < 2 * math.sqrt(m)
    if small.any():
        lb, r = _series_log_b_and_ratio(kappa[small], m)
        out_b[small] = lb - kappa[small]
        out_r[small] = r
    big = ~small
    if big.any():
        k = kappa[big]
        i_nu = sps.ive(nu, k)
        out_b[big] = sps.gammaln(m / 2) - nu * np.log(k / 2) + np.log(i_nu)
        out_r[big] = sps.ive(nu + 1, k) / i_nu / k
    return out_b, out_r


class _LogBesselB(torch.autograd.Function):
    r"""$\kappa \mapsto \log B_m(\kappa) - \kappa$ with derivative $A_m(\kappa) - 1$ (scipy, general $m$)."""

    @staticmethod
    def forward(ctx, kappa: torch.Tensor, m: int):
        k = kappa.detach().cpu().double().numpy()
        lb, ratio = _log_be_and_ratio_numpy(k, m)
        ctx.slope = torch.from_numpy(ratio * k - 1.0).to(kappa)
        return torch.from_numpy(lb).to(kappa)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.slope, None


def log_bessel_b_minus_kappa(kappa: torch.Tensor, m: int) -> torch.Tensor:
    r"""$\log B_m(\kappa) - \kappa$, $B_m(\kappa) = \Gamma(m/2)(\kappa/2)^{1-m/2}I_{m/2-1}(\kappa) =
    E_{u\sim{\rm Unif}(S^{m-1})}e^{\kappa u_1}$.

    Differentiable in $\kappa$ (torch ops for $m = 2, 3$; a custom autograd function otherwise).
    """
    if m == 2:
        return torch.log(torch.special.i0e(kappa))
    if m == 3:
        small = kappa < _SMALL_KAPPA
        ks = torch.where(small, torch.ones_like(kappa), kappa)
        big = torch.log(-torch.expm1(-2 * ks)) - torch.log(2 * ks)  # log(sinh k / k) - k
        return torch.where(small, kappa**2 / 6 - kappa, big)
    return _LogBesselB.apply(kappa, m)


def bessel_ratio_over_kappa(kappa: torch.Tensor, m: int) -> torch.Tensor:
    r"""$A_m(\kappa)/\kappa$ with $A_m = I_{m/2}/I_{m/2-1}$; $\to 1/m$ as $\kappa \to 0$."""
    if m == 2:
        small = kappa < _SMALL_KAPPA
        ks = torch.where(small, torch.ones_like(kappa), kappa)
        big = torch.special.i1e(ks) / torch.special.i0e(ks) / ks
        return torch.where(small, 0.5 - kappa**2 / 16, big)
    if m == 3:
        # (coth k - 1/k)/k cancels for small k: Laurent series of coth below 0.1 (error < 1e-16)
        small = kappa < 0.1
        ks = torch.where(small, torch.ones_like(kappa), kappa)
        big = (1.0 / torch.tanh(ks) - 1.0 / ks) / ks
        k2 = kappa**2
        series = 1 / 3 + k2 * (-1 / 45 + k2 * (2 / 945 + k2 * (-1 / 4725 + k2 * 2 / 93555)))
        return torch.where(small, series, big)
    _, ratio = _log_be_and_ratio_numpy(kappa.detach().cpu().double().numpy(), m)
    return torch.from_numpy(ratio).to(kappa)


# ------------------------------------------------------------------------------------------------
# Target
# ------------------------------------------------------------------------------------------------
class SphereTarget(DeviceCache, Target):
    r"""Uniform on $\{x = V u\,R : u \in S^k\}$, $V$ the first $k+1$ coordinate axes or a seeded orthonormal
    ``[d, k+1]``."""

    name = "sphere"
    has_density = False
    source = "uniform on a k-sphere; noised density via Bessel functions (bounds-tv-kl.md §2.6 (c))"

    def __init__(
        self,
        dim: int,
        manifold_dim: int = 2,
        radius: float = 1.0,
        rotate: bool = False,
        basis_seed: int = 0,
        *,
        name: str | None = None,
        params: dict[str, Any] | None = None,
    ):
        dim = check_count("dim", dim)
        k = check_count("manifold_dim", manifold_dim)
        if k + 1 > dim:
            raise SgmbenchError(f"a {k}-sphere needs dim >= {k + 1}, got dim={dim}")
        if k > MAX_MANIFOLD_DIM:
            raise SgmbenchError(f"manifold_dim must be <= {MAX_MANIFOLD_DIM}, got {k}")
        R = check_positive("radius", radius)
        rotate = check_flag("rotate", rotate)
        if params is None:
            params = {"manifold_dim": k, "radius": radius}
            if rotate:
                params.update(rotate=True, basis_seed=basis_seed)
        params = {key: v for key, v in params.items() if key != "dim"}
        super().__init__(dim, **params)
        if name is not None:
            self.name = name
        self.manifold_dim = k
        self.sub_dim = k + 1
        self.radius = R
        self.basis = (
            random_orthogonal(dim, check_count("basis_seed", basis_seed, 0), k + 1) if rotate else None
        )

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(subspace coordinates ``y`` ``[n, k+1]``, squared norm of the orthogonal part ``[n]``)."""
        if self.basis is None:
            return x[:, : self.sub_dim], (x[:, self.sub_dim :] ** 2).sum(-1)
        V = self._on("V", self.basis, x)
        y = x @ V
        return y, ((x - y @ V.T) ** 2).sum(-1)

    def embed(self, y: torch.Tensor) -> torch.Tensor:
        """Subspace coordinates ``[n, k+1]`` to ``[n, d]``."""
        if self.basis is None:
            return torch.nn.functional.pad(y, (0, self.dim - self.sub_dim))
        return y @ self._on("V", self.basis, y).T

    def sample(self, n: int, generator=None, device="cpu", dtype=DTYPE) -> torch.Tensor:
        """$R\\,z/\\|z\\|$ with $z \\sim N(0, I_{k+1})$, embedded."""
        z = randn((check_count("n", n, 0), self.sub_dim), generator, device, dtype)
        return self.embed(self.radius * z / z.norm(dim=-1, keepdim=True))

    def noised(self, process, t: float) -> SphereNoisedLaw:
        return SphereNoisedLaw(self, process, t)

    def constants(self) -> TargetConstants:
        """Exact: $E\\|X\\|^2 = R^2$, mean 0, covariance eigenvalues $R^2/(k+1)$ (k+1 times) and 0; support
        radius $R$."""
        m, R = self.sub_dim, self.radius
        none = "exact: does not exist (no density on R^d)"
        return TargetConstants(
            dim=self.dim,
            second_moment=R**2,
            mean_norm=0.0,
            cov_eigenvalues=tuple([0.0] * (self.dim - m) + [R**2 / m] * m),
            support_radius=R,
            provenance={
                "second_moment": "exact",
                "mean_norm": "exact",
                "cov_eigenvalues": "exact",
                "support_radius": "exact",
                "strong_log_concavity": none,
                "score_lipschitz": none,
                "kl_to_standard_normal": "exact: infinite (no density)",
                "fisher_to_standard_normal": none,
            },
        )


class SphereNoisedLaw(NoisedLaw):
    r"""Law of $\alpha_tRu + \sigma_tZ$, $u$ uniform on the sphere; exact density and score via Bessel
    functions."""

    def _parts(self, x: torch.Tensor):
        if self.sigma2 <= 0.0:
            raise SgmbenchError(
                f"the {self.target.name} law has no density or score at t = {self.t} (sigma_t^2 = 0)"
            )
        y, perp_sq = self.target.project(x)
        r = y.norm(dim=-1)
        kappa = (self.alpha * self.target.radius / self.sigma2) * r
        return y, perp_sq, r, kappa

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        r"""$-\tfrac d2\log(2\pi\sigma_t^2) - \frac{\|x_\perp\|^2 + (\|y\| - \alpha_tR)^2}{2\sigma_t^2} +
        \log B_m(\kappa) - \kappa$."""
        _, perp_sq, r, kappa = self._parts(x)
        s2, aR = self.sigma2, self.alpha * self.target.radius
        return (
            -0.5 * self.target.dim * (LOG_2PI + math.log(s2))
            - (perp_sq + (r - aR) ** 2) / (2 * s2)
            + log_bessel_b_minus_kappa(kappa, self.target.sub_dim)
        )

    def score(self, x: torch.Tensor) -> torch.Tensor:
        r"""$-x/\sigma_t^2 + (\alpha_tR/\sigma_t^2)^2\,(A_m(\kappa)/\kappa)\,P^\top y$ (module docstring)."""
        y, _, _, kappa = self._parts(x)
        c = (self.alpha * self.target.radius / self.sigma2) ** 2
        ratio = bessel_ratio_over_kappa(kappa, self.target.sub_dim)
        return -x / self.sigma2 + self.target.embed((c * ratio)[:, None] * y)


# ------------------------------------------------------------------------------------------------
# Registry entries
# ------------------------------------------------------------------------------------------------
@targets.register(
    "sphere",
    summary="uniform on a manifold_dim-sphere of radius R in the first manifold_dim+1 coords (or rotated)",
    source="Bessel closed form (bounds-tv-kl.md §2.6 (c)); vMF normaliser",
)
def sphere(
    dim: int = 3, manifold_dim: int = 2, radius: float = 1.0, rotate: bool = False, basis_seed: int = 0
) -> SphereTarget:
    """Uniform on S^manifold_dim (radius R) in a (manifold_dim+1)-dim subspace of R^dim."""
    return SphereTarget(dim, manifold_dim, radius, rotate, basis_seed)


@targets.register(
    "circle",
    summary="uniform on a circle of radius R in the first two coords of R^dim (rotate=true: a seeded plane)",
    source="Bessel closed form (bounds-tv-kl.md §2.6 (c)): I_0, I_1/I_0",
)
def circle(dim: int = 2, radius: float = 1.0, rotate: bool = False, basis_seed: int = 0) -> SphereTarget:
    """Uniform on a circle of radius R (the sphere with manifold dimension 1)."""
    params: dict[str, Any] = {"radius": radius}
    if rotate:
        params.update(rotate=True, basis_seed=basis_seed)
    return SphereTarget(dim, 1, radius, rotate, basis_seed, name="circle", params=params)
