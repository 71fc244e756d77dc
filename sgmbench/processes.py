r"""Forward processes: linear SDEs $dX_t = -f(t)X_t\,dt + g(t)\,dW_t$ on $[0, T]$.

Conventions (``../shared/DESIGN.md``): $\alpha_t = e^{-\int_0^t f}$,
$\sigma_t^2 = \int_0^t (\alpha_t/\alpha_u)^2 g(u)^2 du$, so $X_t = \alpha_t X_0 + \sigma_t Z$;
$\rho_t = \sigma_t^2/\alpha_t^2 = \int_0^t g^2/\alpha^2$; the prior is $N(0, \sigma_T^2 I)$ (the forward
process started at 0); ${\rm SNR}(t) = \alpha_t^2/\sigma_t^2$.

Every method takes a float or a tensor of times and returns a float64 tensor of the same shape. The
base class integrates $f$ and $g^2$ by Gauss–Legendre quadrature, so a new process needs only ``f``
and ``g2``; the registered processes override with closed forms (checked against the quadrature in
the tests). Registry: :data:`forward_processes`; specs such as ``vp-linear:beta_min=0.1,beta_max=20``.

Sources: Song et al. 2021 (arXiv 2011.13456, Eqs. 9–11 and App. B) for VE/VP/sub-VP; Gao–Nguyen–Zhu
2025 (arXiv 2311.11003, complexity table; code ``HoangNguyenM/score-based-model-w-new-SDE``
``sde_lib.py``) for the eight classes; Nichol–Dhariwal 2021 (arXiv 2102.09672, Eq. 17) for cosine;
Karras et al. 2022 (arXiv 2206.00364, Table 1) for EDM.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from sgmbench.errors import SgmbenchError
from sgmbench.registry import Registry, check_positive

DTYPE = torch.float64
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(48)


def as_time(t: Any) -> torch.Tensor:
    """A float64 CPU tensor of times (scalars become 0-d tensors)."""
    if isinstance(t, torch.Tensor):
        return t.to(DTYPE)
    return torch.as_tensor(t, dtype=DTYPE)


def _gauss_legendre(fn, a: torch.Tensor, b: torch.Tensor, pieces: int = 8) -> torch.Tensor:
    """$\\int_a^b fn(u) du$ elementwise by composite 48-point Gauss–Legendre on ``pieces`` panels."""
    a, b = torch.broadcast_tensors(as_time(a), as_time(b))
    nodes = torch.as_tensor(_GL_NODES, dtype=DTYPE)
    weights = torch.as_tensor(_GL_WEIGHTS, dtype=DTYPE)
    edges = torch.linspace(0.0, 1.0, pieces + 1, dtype=DTYPE)
    total = torch.zeros_like(a)
    for lo, hi in zip(edges[:-1], edges[1:]):
        pa = a + (b - a) * lo
        pb = a + (b - a) * hi
        half = (pb - pa) / 2
        mid = (pb + pa) / 2
        u = mid.unsqueeze(-1) + half.unsqueeze(-1) * nodes
        total = total + half * (fn(u) * weights).sum(-1)
    return total


class ForwardProcess:
    r"""A linear forward SDE $dX = -f(t)X\,dt + g(t)\,dW$.

    Subclasses set ``name``, ``source``, ``provenance``, ``default_horizon`` and implement ``f``, ``g2``;
    they may override ``log_alpha``, ``rho`` and ``int_g2_over_alpha`` with closed forms.
    """

    name: str = "process"
    family: str = "custom"  # "vp", "ve", "subvp"
    source: str = ""
    provenance: str = "verified"
    default_horizon: float = 1.0

    def __init__(self, **params: Any):
        self.params = dict(params)

    # --- coefficients -------------------------------------------------------------------------
    def f(self, t) -> torch.Tensor:
        raise NotImplementedError

    def g2(self, t) -> torch.Tensor:
        raise NotImplementedError

    def g(self, t) -> torch.Tensor:
        return torch.sqrt(self.g2(t))

    # --- marginals ----------------------------------------------------------------------------
    def log_alpha(self, t) -> torch.Tensor:
        r"""$\log\alpha_t = -\int_0^t f$."""
        t = as_time(t)
        return -_gauss_legendre(self.f, torch.zeros_like(t), t)

    def alpha(self, t) -> torch.Tensor:
        return torch.exp(self.log_alpha(t))

    def rho(self, t) -> torch.Tensor:
        r"""$\rho_t = \sigma_t^2/\alpha_t^2 = \int_0^t g(u)^2/\alpha_u^2\,du$."""
        t = as_time(t)
        return _gauss_legendre(
            lambda u: self.g2(u) * torch.exp(-2 * self.log_alpha(u)), torch.zeros_like(t), t
        )

    def sigma2(self, t) -> torch.Tensor:
        r"""$\sigma_t^2 = \alpha_t^2\rho_t$, the variance of $X_t$ given $X_0$."""
        return torch.exp(2 * self.log_alpha(t)) * self.rho(t)

    def sigma(self, t) -> torch.Tensor:
        return torch.sqrt(self.sigma2(t))

    def int_g2_over_alpha(self, a, b) -> torch.Tensor:
        r"""$\int_a^b g(u)^2/\alpha_u\,du$ (the exponential integrator's score coefficient is $\alpha_b$ times it)."""
        return _gauss_legendre(lambda u: self.g2(u) * torch.exp(-self.log_alpha(u)), a, b)

    def prior_variance(self, horizon) -> torch.Tensor:
        r"""Variance of the prior $N(0, \sigma_T^2 I)$: the forward process started at 0."""
        return self.sigma2(horizon)

    def snr(self, t) -> torch.Tensor:
        r"""${\rm SNR}(t) = \alpha_t^2/\sigma_t^2 = 1/\rho_t$."""
        return 1.0 / self.rho(t)

    def time_at_snr(self, snr, t_max: float | None = None) -> torch.Tensor:
        r"""The time $t$ with ${\rm SNR}(t) = $ ``snr`` (bisection on $\log\rho$, which increases in $t$)."""
        target = torch.log(1.0 / as_time(snr))
        hi_t = float(t_max if t_max is not None else self.default_horizon)
        if not bool(torch.all(torch.isfinite(target))):
            raise SgmbenchError(f"snr must be finite and > 0, got {snr!r}")
        for _ in range(60):
            if bool(torch.all(torch.log(self.rho(hi_t)) >= target)):
                break
            hi_t *= 2.0
        else:
            raise SgmbenchError(f"{self.name}: SNR {snr!r} is not reached by any time")
        # Bisection on a log scale while the bracket spans orders of magnitude (so tiny times, e.g.
        # 1e-40 near the end of a Karras grid, keep their relative precision), arithmetic after.
        lo = torch.full_like(target, hi_t * 1e-280)
        hi = torch.full_like(target, hi_t)
        for _ in range(200):
            mid = torch.where(hi > 4 * lo, torch.sqrt(lo * hi), (lo + hi) / 2)
            below = torch.log(self.rho(mid)) < target
            lo = torch.where(below, mid, lo)
            hi = torch.where(below, hi, mid)
        return (lo + hi) / 2

    # --- reverse-time dynamics ----------------------------------------------------------------
    def reverse_drift(self, x: torch.Tensor, t, score: torch.Tensor, ode: bool = False) -> torch.Tensor:
        r"""Drift of the reverse process in reverse time: $f(t)x + c\,g(t)^2 s(x,t)$, $c = 1$ (SDE) or $\tfrac12$ (ODE).

        Anderson 1982; Song et al. 2021 Eqs. (6) and (13).
        """
        t = as_time(t).to(x.device)
        coef = 0.5 if ode else 1.0
        return self.f(t).to(x.dtype) * x + coef * self.g2(t).to(x.dtype) * score

    def check_horizon(self, horizon: float) -> float:
        """Validate a horizon T for this process (finite, > 0, coefficients finite on [0, T])."""
        T = check_positive("horizon T", horizon)
        if not (math.isfinite(float(self.f(T))) and math.isfinite(float(self.g2(T)))):
            raise SgmbenchError(f"{self.name}: coefficients are not finite at horizon T={T}")
        return T

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "params": dict(self.params),
            "source": self.source,
            "provenance": self.provenance,
        }

    def __repr__(self) -> str:
        args = ",".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.name}:{args}" if args else self.name


forward_processes: Registry[ForwardProcess] = Registry("forward process")


# ------------------------------------------------------------------------------------------------
# Variance-preserving family: f = beta/2, g^2 = beta, alpha = exp(-B/2), sigma^2 = 1 - alpha^2.
# ------------------------------------------------------------------------------------------------
class VarPreserving(ForwardProcess):
    r"""VP SDE $dX = -\tfrac12\beta(t)X\,dt + \sqrt{\beta(t)}\,dW$ (Song et al. 2021, Eq. 11).

    Subclasses give $\beta$ and $B(t) = \int_0^t\beta$. Then $\alpha_t = e^{-B/2}$, $\sigma_t^2 = 1-e^{-B}$,
    $\rho_t = e^{B}-1$ and, since $g^2 = 2f$, $\int_a^b g^2/\alpha = 2(1/\alpha_b - 1/\alpha_a)$.
    """

    family = "vp"

    def beta(self, t) -> torch.Tensor:
        raise NotImplementedError

    def integrated_beta(self, t) -> torch.Tensor:
        raise NotImplementedError

    def f(self, t):
        return 0.5 * self.beta(t)

    def g2(self, t):
        return self.beta(t)

    def log_alpha(self, t):
        return -0.5 * self.integrated_beta(t)

    def rho(self, t):
        return torch.expm1(self.integrated_beta(t))

    def sigma2(self, t):
        return -torch.expm1(-self.integrated_beta(t))

    def int_g2_over_alpha(self, a, b):
        return 2.0 * (torch.exp(0.5 * self.integrated_beta(b)) - torch.exp(0.5 * self.integrated_beta(a)))


def _check_beta_range(beta_min: float, beta_max: float) -> tuple[float, float]:
    lo = check_positive("beta_min", beta_min)
    hi = check_positive("beta_max", beta_max)
    if hi < lo:
        raise SgmbenchError(f"beta_max ({beta_max}) must be >= beta_min ({beta_min})")
    return lo, hi


@forward_processes.register(
    "vp-constant",
    summary="VP/OU, constant beta: f = beta/2, g = sqrt(beta) (GNZ class 'VP/OU constant')",
    source="Gao-Nguyen-Zhu 2025 (arXiv 2311.11003) table row alpha/sigma; code DDPM++ v1 beta=5.05",
)
class VPConstant(VarPreserving):
    """Ornstein–Uhlenbeck: beta(t) = beta. Default beta = 5.05 = (0.1 + 10)/2, GNZ code config 'v1'."""

    name = "vp-constant"
    source = "Gao-Nguyen-Zhu 2025, table (f=alpha, g=sigma); DDPM++ 'v1'"

    def __init__(self, beta: float = 5.05):
        super().__init__(beta=check_positive("beta", beta))
        self.b = float(beta)

    def beta(self, t):
        return torch.full_like(as_time(t), self.b)

    def integrated_beta(self, t):
        return self.b * as_time(t)


@forward_processes.register(
    "ou",
    summary="OU of Chen et al. 2023 / Benton et al. 2024: dX = -X dt + sqrt(2) dW (vp-constant, beta=2)",
    source="Chen et al. 2023 (arXiv 2209.11215) Sec. 2; Benton et al. 2024 (arXiv 2308.03686)",
)
class OrnsteinUhlenbeck(VPConstant):
    """dX = -X dt + sqrt(2) dW, the forward process of the TV/KL theorems; stationary law N(0, I)."""

    name = "ou"
    source = "Chen et al. 2023 (arXiv 2209.11215) Sec. 2"
    default_horizon = 8.0

    def __init__(self):
        super().__init__(beta=2.0)
        self.params = {}


@forward_processes.register(
    "vp-linear",
    summary="VP, linear beta(t) = beta_min + (beta_max - beta_min) t (DDPM / DDPM++ 'original')",
    source="Song et al. 2021 (arXiv 2011.13456) Eq. 11; Gao-Nguyen-Zhu 2025 table row (b+at)/2",
)
class VPLinear(VarPreserving):
    """beta(t) = beta_min + (beta_max - beta_min) t on [0, 1]; defaults 0.1 -> 20 (Song et al. 2021)."""

    name = "vp-linear"
    source = "Song et al. 2021 Eq. 11; Gao-Nguyen-Zhu 2025 table"

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0):
        lo, hi = _check_beta_range(beta_min, beta_max)
        super().__init__(beta_min=lo, beta_max=hi)
        self.lo, self.hi = lo, hi

    def beta(self, t):
        return self.lo + (self.hi - self.lo) * as_time(t)

    def integrated_beta(self, t):
        t = as_time(t)
        return self.lo * t + 0.5 * (self.hi - self.lo) * t**2


@forward_processes.register(
    "vp-power",
    summary="VP, beta(t) = (b + a t)^rho with b = beta_min^(1/rho), a = beta_max^(1/rho) - b (DDPM++ 'v2')",
    source="Gao-Nguyen-Zhu 2025 table row (b+at)^rho/2; code DDPM++ v2 (rho=2)",
)
class VPPower(VarPreserving):
    """beta(t) = (b + a t)^rho, rising from beta_min at t=0 to beta_max at t=1; default rho = 2."""

    name = "vp-power"
    source = "Gao-Nguyen-Zhu 2025 table; DDPM++ 'v2'"

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, rho: float = 2.0):
        lo, hi = _check_beta_range(beta_min, beta_max)
        r = check_positive("rho", rho)
        super().__init__(beta_min=lo, beta_max=hi, rho=r)
        self.r = r
        self.b = lo ** (1.0 / r)
        self.a = hi ** (1.0 / r) - self.b

    def beta(self, t):
        return (self.b + self.a * as_time(t)) ** self.r

    def integrated_beta(self, t):
        t = as_time(t)
        if self.a == 0.0:
            return self.b**self.r * t
        return ((self.b + self.a * t) ** (self.r + 1) - self.b ** (self.r + 1)) / (self.a * (self.r + 1))


@forward_processes.register(
    "vp-exp",
    summary="VP, exponential beta(t) = beta_min (beta_max/beta_min)^t (DDPM++ 'v3': 0.1 * 300^t)",
    source="Gao-Nguyen-Zhu 2025 table row a e^{bt}/2; code DDPM++ v3",
)
class VPExponential(VarPreserving):
    """beta(t) = beta_min r^t with r = beta_max/beta_min; defaults 0.1 and 30 (0.1 * 300^t)."""

    name = "vp-exp"
    source = "Gao-Nguyen-Zhu 2025 table; DDPM++ 'v3'"

    def __init__(self, beta_min: float = 0.1, beta_max: float = 30.0):
        lo, hi = _check_beta_range(beta_min, beta_max)
        super().__init__(beta_min=lo, beta_max=hi)
        self.lo = lo
        self.log_r = math.log(hi / lo)

    def beta(self, t):
        return self.lo * torch.exp(self.log_r * as_time(t))

    def integrated_beta(self, t):
        t = as_time(t)
        if self.log_r == 0.0:
            return self.lo * t
        return self.lo * torch.expm1(self.log_r * t) / self.log_r


@forward_processes.register(
    "vp-cosine",
    summary="VP with the cosine schedule alpha_bar(t) = cos^2((t+s)/(1+s) pi/2) / cos^2(s/(1+s) pi/2)",
    source="Nichol & Dhariwal 2021 (arXiv 2102.09672) Eq. 17",
)
class VPCosine(VarPreserving):
    r"""Cosine schedule: $\alpha_t^2 = \bar\alpha(t)$, $\beta(t) = \frac{\pi}{1+s}\tan(\frac{t+s}{1+s}\frac\pi2)$.

    $\beta$ diverges at $t = 1$; the default horizon 0.995 keeps it finite ($\beta(0.995) \approx 471$).
    The discrete schedule of the paper clips $\beta_t \le 0.999$; we use the continuous-time form.
    """

    name = "vp-cosine"
    source = "Nichol & Dhariwal 2021, Eq. 17"
    default_horizon = 0.995

    def __init__(self, s: float = 0.008):
        super().__init__(s=check_positive("s", s))
        self.s = float(s)

    def _phase(self, t):
        return (as_time(t) + self.s) / (1 + self.s) * (math.pi / 2)

    def beta(self, t):
        return math.pi / (1 + self.s) * torch.tan(self._phase(t))

    def integrated_beta(self, t):
        r"""$B(t) = -\log\bar\alpha(t) = -2\log\frac{\cos(b+\epsilon)}{\cos b}$, $b$ = phase(0), $\epsilon = \frac{t}{1+s}\frac\pi2$.

        Written without cancellation as $-2\,{\rm log1p}(-2\sin^2(\epsilon/2) - \tan b\,\sin\epsilon)$,
        so that $B(t) \approx \beta(0)t$ keeps its relative precision for tiny $t$.
        """
        eps = as_time(t) / (1 + self.s) * (math.pi / 2)
        tan_b = math.tan(float(self._phase(0.0)))
        return -2.0 * torch.log1p(-2.0 * torch.sin(eps / 2) ** 2 - tan_b * torch.sin(eps))

    def check_horizon(self, horizon: float) -> float:
        T = check_positive("horizon T", horizon)
        if T >= 1.0:
            raise SgmbenchError(f"vp-cosine: horizon must be < 1 (beta diverges at t=1), got {horizon}")
        return T


@forward_processes.register(
    "subvp",
    summary="sub-VP: f = beta/2, g^2 = beta (1 - e^{-2B}), sigma_t^2 = (1 - e^{-B})^2, linear beta",
    source="Song et al. 2021 (arXiv 2011.13456) Eq. 12 and App. B",
)
class SubVP(ForwardProcess):
    r"""sub-VP SDE with linear $\beta$: $\alpha_t = e^{-B/2}$, $\sigma_t^2 = (1-e^{-B})^2$.

    $\int_a^b g^2/\alpha = [2e^{B/2} + \tfrac23 e^{-3B/2}]_a^b$ (substitute $u = B(t)$).
    """

    name = "subvp"
    family = "subvp"
    source = "Song et al. 2021, Eq. 12"

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0):
        lo, hi = _check_beta_range(beta_min, beta_max)
        super().__init__(beta_min=lo, beta_max=hi)
        self.lo, self.hi = lo, hi

    def beta(self, t):
        return self.lo + (self.hi - self.lo) * as_time(t)

    def integrated_beta(self, t):
        t = as_time(t)
        return self.lo * t + 0.5 * (self.hi - self.lo) * t**2

    def f(self, t):
        return 0.5 * self.beta(t)

    def g2(self, t):
        return self.beta(t) * -torch.expm1(-2 * self.integrated_beta(t))

    def log_alpha(self, t):
        return -0.5 * self.integrated_beta(t)

    def sigma2(self, t):
        return torch.expm1(-self.integrated_beta(t)) ** 2

    def rho(self, t):
        B = self.integrated_beta(t)
        return torch.expm1(-B) ** 2 * torch.exp(B)

    def int_g2_over_alpha(self, a, b):
        def antideriv(B):
            return 2 * torch.exp(0.5 * B) + (2.0 / 3.0) * torch.exp(-1.5 * B)

        return antideriv(self.integrated_beta(b)) - antideriv(self.integrated_beta(a))


# ------------------------------------------------------------------------------------------------
# Variance-exploding family: f = 0, alpha = 1, sigma_t^2 = s(t)^2 - s(0)^2 for a noise level s(t).
# ------------------------------------------------------------------------------------------------
class VarExploding(ForwardProcess):
    r"""VE SDE $dX = g(t)\,dW$: $\alpha_t = 1$, $\sigma_t^2 = \int_0^t g^2$, $\int_a^b g^2/\alpha = \sigma_b^2 - \sigma_a^2$."""

    family = "ve"

    def f(self, t):
        return torch.zeros_like(as_time(t))

    def log_alpha(self, t):
        return torch.zeros_like(as_time(t))

    def rho(self, t):
        return self.sigma2(t)

    def int_g2_over_alpha(self, a, b):
        return self.sigma2(b) - self.sigma2(a)


def _check_sigma_range(sigma_min: float, sigma_max: float) -> tuple[float, float]:
    lo = check_positive("sigma_min", sigma_min)
    hi = check_positive("sigma_max", sigma_max)
    if hi <= lo:
        raise SgmbenchError(f"sigma_max ({sigma_max}) must be > sigma_min ({sigma_min})")
    return lo, hi


@forward_processes.register(
    "ve-exp",
    summary="VE, g(t) = a e^{bt}: noise level sigma(t) = sigma_min (sigma_max/sigma_min)^t (NCSN++)",
    source="Song et al. 2021 Eq. 9; Gao-Nguyen-Zhu 2025 table row 0 / a e^{bt}",
)
class VEExponential(VarExploding):
    r"""$\sigma(t) = \sigma_{\min}r^t$, $r = \sigma_{\max}/\sigma_{\min}$; $g^2 = 2\sigma(t)^2\log r$; defaults 0.01, 50."""

    name = "ve-exp"
    source = "Song et al. 2021 Eq. 9; Gao-Nguyen-Zhu 2025 table"

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0):
        lo, hi = _check_sigma_range(sigma_min, sigma_max)
        super().__init__(sigma_min=lo, sigma_max=hi)
        self.lo = lo
        self.log_r = math.log(hi / lo)

    def g2(self, t):
        return 2 * self.log_r * self.lo**2 * torch.exp(2 * self.log_r * as_time(t))

    def sigma2(self, t):
        return self.lo**2 * torch.expm1(2 * self.log_r * as_time(t))


forward_processes.register(
    "ve",
    summary="alias of ve-exp (the VE SDE of Song et al. 2021)",
    source="Song et al. 2021 Eq. 9",
)(lambda sigma_min=0.01, sigma_max=50.0: VEExponential(sigma_min, sigma_max))


@forward_processes.register(
    "ve-constant",
    summary="VE, constant g: sigma_t^2 = (sigma_max^2 - sigma_min^2) t (NCSN++ 'v1')",
    source="Gao-Nguyen-Zhu 2025 table row 0 / a; code NCSN++ v1",
)
class VEConstant(VarExploding):
    r"""$g^2 = \sigma_{\max}^2 - \sigma_{\min}^2$ (Brownian motion scaled); defaults 0.01, 50."""

    name = "ve-constant"
    source = "Gao-Nguyen-Zhu 2025 table; NCSN++ 'v1'"

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0):
        lo, hi = _check_sigma_range(sigma_min, sigma_max)
        super().__init__(sigma_min=lo, sigma_max=hi)
        self.c = hi**2 - lo**2

    def g2(self, t):
        return torch.full_like(as_time(t), self.c)

    def sigma2(self, t):
        return self.c * as_time(t)


@forward_processes.register(
    "ve-sqrt",
    summary="VE, g(t) = sqrt(2 a t): sigma_t^2 = a t^2 with a = sigma_max^2 - sigma_min^2 (NCSN++ 'v2')",
    source="Gao-Nguyen-Zhu 2025 table row 0 / sqrt(2at); code NCSN++ v2",
)
class VESqrt(VarExploding):
    r"""$g^2 = 2at$, $\sigma_t^2 = at^2$, $a = \sigma_{\max}^2 - \sigma_{\min}^2$; defaults 0.01, 50."""

    name = "ve-sqrt"
    source = "Gao-Nguyen-Zhu 2025 table; NCSN++ 'v2'"

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0):
        lo, hi = _check_sigma_range(sigma_min, sigma_max)
        super().__init__(sigma_min=lo, sigma_max=hi)
        self.a = hi**2 - lo**2

    def g2(self, t):
        return 2 * self.a * as_time(t)

    def sigma2(self, t):
        return self.a * as_time(t) ** 2


@forward_processes.register(
    "ve-power",
    summary="VE, g = c (b + a t)^(rho - 1/2): sigma(t) = (smin^(1/rho) + (smax^(1/rho) - smin^(1/rho)) t)^rho",
    source="Gao-Nguyen-Zhu 2025 table row 0 / (b+at)^c; code NCSN++ v3 (rho=2)",
)
class VEPower(VarExploding):
    r"""$\sigma(t) = (b + at)^\rho$, $b = \sigma_{\min}^{1/\rho}$, $a = \sigma_{\max}^{1/\rho} - b$;
    $\sigma_t^2 = \sigma(t)^2 - \sigma_{\min}^2$, $g^2 = 2\rho a (b+at)^{2\rho-1}$ (GNZ's $c = \rho - \tfrac12$)."""

    name = "ve-power"
    source = "Gao-Nguyen-Zhu 2025 table; NCSN++ 'v3'"

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0, rho: float = 2.0):
        lo, hi = _check_sigma_range(sigma_min, sigma_max)
        r = check_positive("rho", rho)
        super().__init__(sigma_min=lo, sigma_max=hi, rho=r)
        self.r = r
        self.b = lo ** (1.0 / r)
        self.a = hi ** (1.0 / r) - self.b
        self.lo = lo

    def g2(self, t):
        return 2 * self.r * self.a * (self.b + self.a * as_time(t)) ** (2 * self.r - 1)

    def sigma2(self, t):
        return (self.b + self.a * as_time(t)) ** (2 * self.r) - self.lo**2


@forward_processes.register(
    "edm",
    summary="EDM / Karras VE: sigma(t) = t, f = 0, g = sqrt(2t); default horizon sigma_max = 80",
    source="Karras et al. 2022 (arXiv 2206.00364) Table 1",
)
class EDM(VarExploding):
    r"""$\sigma_t = t$: $g^2 = 2t$, $\sigma_t^2 = t^2$; default horizon $T = \sigma_{\max} = 80$."""

    name = "edm"
    source = "Karras et al. 2022, Table 1"
    default_horizon = 80.0

    def __init__(self):
        super().__init__()

    def g2(self, t):
        return 2 * as_time(t)

    def sigma2(self, t):
        return as_time(t) ** 2


def get_process(spec: str | ForwardProcess) -> ForwardProcess:
    """The process a spec string names (or the process itself)."""
    if isinstance(spec, ForwardProcess):
        return spec
    return forward_processes.create(spec)


def available_processes() -> list[str]:
    return forward_processes.names()
