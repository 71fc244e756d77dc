r"""Straightforward reference samplers: what a user would write instead of sgmbench, for ``make perf``.

Written the way the two reference codebases write theirs (``/work/shared/ANCHORS.md`` §2–3), with the
score recomputed naively at every step, so that the sampling benchmarks compare sgmbench against the
code people actually run:

- :func:`score_sde_euler_maruyama`: score_sde's ``EulerMaruyamaPredictor`` loop (``sampling.py``):
  a Python loop over the time grid, ``drift, diffusion = rsde.sde(x, t)`` from an SDE object
  (:class:`VPSDE`, score_sde's ``sde_lib.VPSDE`` formulas: $\beta(t)$ linear, drift $-\tfrac12\beta x$,
  diffusion $\sqrt\beta$, reverse drift $f - g^2 s$), ``x_mean = x - drift * dt``,
  ``x = x_mean + diffusion * sqrt(dt) * z``. Unlike score_sde (``linspace(T, eps, N)`` with
  $dt = 1/N$, one step short) it walks the same grid as sgmbench, so the two agree to rounding.
- :func:`kdiffusion_sample_euler`: k-diffusion's ``sample_euler`` loop (``k_diffusion/sampling.py``):
  ``denoised = model(x, sigma)``, ``d = (x - denoised) / sigma``, ``x = x + d * (sigma_next - sigma)``:
  Euler for the probability-flow ODE in $\sigma$. The package itself (PyPI ``k-diffusion``
  0.1.1.post1) was tried: with ``--no-deps`` ``import k_diffusion`` fails (its ``__init__`` imports
  every submodule: scikit-image, clean-fid, CLIP, torchvision, torchsde, torchdiffeq, wandb …), and
  installing those would pull a CUDA torch build; so the loop is written here, line for line the same
  arithmetic (no churn: ``s_churn = 0``, the default).

Naive scores (recomputed from scratch at every call, as a user would):

- :func:`mixture_score_autograd`: $\nabla_x\log p_t(x)$ of a Gaussian mixture by autograd through
  ``torch.distributions.MixtureSameFamily(Categorical, MultivariateNormal)`` built for the noised law
  $\sum_k\pi_kN(\alpha_t\mu_k, \alpha_t^2C_k + \sigma_t^2I)$ at each $t$;
- :func:`empirical_score_dense` / :func:`empirical_denoiser_dense`: the empirical optimal score by a
  dense softmax over all training points (``torch.cdist`` then ``torch.softmax``): $O(mn)$ memory.

``tests/test_perf_reference.py`` checks that each reference loop, fed the same noise, returns what the
matching sgmbench sampler returns (so the speed comparison is between equal computations).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import distributions as D


# ------------------------------------------------------------------------------------------------
# score_sde style
# ------------------------------------------------------------------------------------------------
class VPSDE:
    r"""score_sde's ``VPSDE`` (continuous): $\beta(t) = \beta_0 + t(\beta_1 - \beta_0)$, on ``[n, d]``
    tensors."""

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0):
        self.beta_0, self.beta_1 = beta_min, beta_max

    def sde(self, x: torch.Tensor, t: float):
        beta_t = self.beta_0 + t * (self.beta_1 - self.beta_0)
        return -0.5 * beta_t * x, math.sqrt(beta_t)

    def marginal_prob_coefficients(self, t: float) -> tuple[float, float]:
        """$(\\alpha_t, \\sigma_t^2)$: mean coefficient and variance of $X_t | X_0$."""
        log_mean_coeff = -0.25 * t**2 * (self.beta_1 - self.beta_0) - 0.5 * t * self.beta_0
        alpha = math.exp(log_mean_coeff)
        return alpha, 1.0 - math.exp(2.0 * log_mean_coeff)

    def reverse_sde(self, x: torch.Tensor, t: float, score_fn: Callable) -> tuple[torch.Tensor, float]:
        """score_sde's ``RSDE.sde``: drift $f - g^2 s(x, t)$, diffusion $g$."""
        drift, diffusion = self.sde(x, t)
        return drift - diffusion**2 * score_fn(x, t), diffusion


@torch.no_grad()
def score_sde_euler_maruyama(
    sde: VPSDE, times: list[float], score_fn: Callable, x: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Euler–Maruyama predictor loop from ``times[0]`` down to ``times[-1]`` (score_sde ``pc_sampler`` with
    ``corrector='none'``, ``denoise=False``); one ``torch.randn`` per step from ``generator``."""
    for k in range(len(times) - 1):
        t, dt = times[k], times[k] - times[k + 1]
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype)
        drift, diffusion = sde.reverse_sde(x, t, score_fn)
        x_mean = x - drift * dt
        x = x_mean + diffusion * math.sqrt(dt) * z
    return x


# ------------------------------------------------------------------------------------------------
# k-diffusion style
# ------------------------------------------------------------------------------------------------
@torch.no_grad()
def kdiffusion_sample_euler(model: Callable, x: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """k-diffusion's ``sample_euler`` (no churn): Euler steps of
    $dx/d\\sigma = (x - D(x, \\sigma))/\\sigma$."""
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        sigma = sigmas[i]
        denoised = model(x, sigma * s_in)
        d = (x - denoised) / sigma  # k-diffusion's to_d (sigma broadcast over the batch)
        dt = sigmas[i + 1] - sigma
        x = x + d * dt
    return x


# ------------------------------------------------------------------------------------------------
# naive scores
# ------------------------------------------------------------------------------------------------
def mixture_score_autograd(
    weights: torch.Tensor, means: torch.Tensor, covs: torch.Tensor, sde: VPSDE
) -> Callable[[torch.Tensor, float], torch.Tensor]:
    r"""``score_fn(x, t)``: autograd of ``MixtureSameFamily(...).log_prob(x).sum()`` for the noised mixture,
    the distribution rebuilt at every call (its covariances change with $t$)."""
    eye = torch.eye(means.shape[1], dtype=means.dtype)

    def score_fn(x: torch.Tensor, t: float) -> torch.Tensor:
        alpha, var = sde.marginal_prob_coefficients(t)
        mix = D.MixtureSameFamily(
            D.Categorical(probs=weights),
            D.MultivariateNormal(alpha * means, covariance_matrix=alpha**2 * covs + var * eye),
        )
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(mix.log_prob(xg).sum(), xg)
        return grad

    return score_fn


def empirical_denoiser_dense(
    points: torch.Tensor, alpha: float, sigma2: float, x: torch.Tensor
) -> torch.Tensor:
    r"""$\sum_i w_i x_i$ with $w = {\rm softmax}_i(-\|x - \alpha x_i\|^2/2\sigma^2)$, over all points at
    once."""
    d2 = torch.cdist(x, alpha * points) ** 2
    w = torch.softmax(-d2 / (2 * sigma2), dim=1)
    return w @ points


def empirical_score_dense(points: torch.Tensor, sde: VPSDE) -> Callable[[torch.Tensor, float], torch.Tensor]:
    r"""``score_fn(x, t)`` $= (\alpha_t D_t(x) - x)/\sigma_t^2$ with the dense denoiser."""

    def score_fn(x: torch.Tensor, t: float) -> torch.Tensor:
        alpha, var = sde.marginal_prob_coefficients(t)
        return (alpha * empirical_denoiser_dense(points, alpha, var, x) - x) / var

    return score_fn


def edm_denoiser_dense(points: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """k-diffusion ``model(x, sigma)`` for the empirical law under EDM noise
    ($\\alpha = 1$, $\\sigma_t = t$)."""

    def model(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        s = float(sigma[0])
        return empirical_denoiser_dense(points, 1.0, s * s, x)

    return model
