r"""The early-stopping bias: how far the noised law $p_\delta$ is from the data $p_0$ in $W_2$.

These bound a property of the setting, not of the sampler: the measured quantity is ``w2_early_stop`` $=
W_2(p_\delta, p_0)$ (or ``w2_early_stop_rescaled`` $= W_2(p_0, (\alpha_\delta^{-1})_\#p_\delta)$), exact for
Gaussian targets (:func:`early_stop_w2_gaussian`). With the triangle inequality they turn a bound on the
distance to $p_\delta$ into one to $p_0$.

- :data:`COUPLING`: synchronous coupling $X_\delta = \alpha_\delta X_0 + \sigma_\delta Z$ gives $W_2(p_\delta,
  p_0)^2 \le (1 - \alpha_\delta)^2E\|X_0\|^2 + d\sigma_\delta^2$ (derived; ``bounds-tv-kl.md`` §1.3), so $W_2
  \lesssim \sqrt{d\delta} + \delta R$ for VP processes.
- :data:`LLT`: Lee–Lu–Tan 2023 (arXiv 2209.12381), proof of Thm 2.1, p. 36 (verified): $W_2(p_0,
  (m_\delta^{-1})_\#p_\delta) \le m_\delta^{-1}\sigma_\delta\sqrt d \le \sqrt{e^{\delta} - 1}\sqrt d \le
  \sqrt{2\delta d}$ for $\delta \le 1$, in their clock $u = B(t)$; the value here is the first form,
  $\sqrt{d\,\sigma_\delta^2/\alpha_\delta^2}$ (equal to the second for VP processes).
"""

from __future__ import annotations

import math

import torch

from sgmbench.bounds.base import (
    DERIVED,
    DTYPE,
    VERIFIED,
    Assumption,
    Bound,
    Exponent,
    Source,
    Term,
    llt_clock,
    needs_early_stopping,
    needs_second_moment,
    needs_vp,
)

SOURCE_COUPLING = Source(
    authors="sgmbench (synchronous coupling)",
    year=2025,
    where="bounds-tv-kl.md §1.3 (derived)",
    arxiv="-",
)
SOURCE_LLT = Source(
    authors="Lee, Lu, Tan",
    year=2023,
    where="proof of Theorem 2.1, p. 36",
    arxiv="2209.12381",
    title="Convergence of score-based generative modeling for general data distributions",
    venue="ALT 2023",
)


def early_stop_w2_gaussian(constants, process, delta: float, rescaled: bool = False) -> float:
    r"""Exact $W_2(p_\delta, p_0)$ for $p_0 = N(\mu, \Sigma)$ (or $W_2(p_0, (\alpha_\delta^{-1})_\#p_\delta)$
    if ``rescaled``).

    $p_\delta = N(\alpha\mu, \alpha^2\Sigma + \sigma^2I)$ commutes with $\Sigma$: $W_2^2 =
    (1-\alpha)^2\|\mu\|^2 + \sum_i(\sqrt{\alpha^2\lambda_i + \sigma^2} - \sqrt{\lambda_i})^2$; rescaled,
    $W_2^2 = \sum_i(\sqrt{\lambda_i + \sigma^2/\alpha^2} - \sqrt{\lambda_i})^2$ (means coincide). Derived
    (Bures).
    """
    lam = torch.tensor(constants.cov_eigenvalues, dtype=DTYPE)
    a = float(process.alpha(delta))
    s2 = float(process.sigma2(delta))
    if rescaled:
        return math.sqrt(float(((torch.sqrt(lam + s2 / a**2) - torch.sqrt(lam)) ** 2).sum()))
    w2sq = (1 - a) ** 2 * constants.mean_norm**2 + float(
        ((torch.sqrt(a**2 * lam + s2) - torch.sqrt(lam)) ** 2).sum()
    )
    return math.sqrt(w2sq)


def coupling_terms(ctx) -> list[Term]:
    r"""$\sqrt{(1-\alpha_\delta)^2E\|X_0\|^2 + d\sigma_\delta^2}$ (one term; its two squared parts are in the
    note)."""
    a = float(ctx.alpha(ctx.delta))
    s2 = float(ctx.sigma2(ctx.delta))
    shrink = (1 - a) ** 2 * ctx.constants.second_moment
    noise = ctx.dim * s2
    return [
        Term(
            "early_stopping",
            math.sqrt(shrink + noise),
            DERIVED,
            scaled=False,
            note=f"squared parts: shrinkage (1-alpha)^2 E|X|^2 = {shrink:.4g}, noise d sigma^2 = {noise:.4g}",
        ),
    ]


def llt_terms(ctx) -> list[Term]:
    r"""$\sqrt d\,\sigma_\delta/\alpha_\delta$ (LLT p. 36); the note gives their relaxation $\sqrt{2\delta d}$
    (LLT clock)."""
    a = float(ctx.alpha(ctx.delta))
    s2 = float(ctx.sigma2(ctx.delta))
    dl = float(llt_clock(ctx.process, ctx.delta))
    return [
        Term(
            "early_stopping",
            math.sqrt(ctx.dim * s2) / a,
            VERIFIED,
            scaled=False,
            note=f"LLT relaxation sqrt(2 delta d) = {math.sqrt(2 * dl * ctx.dim):.4g} "
            f"(delta = {dl:.4g} in the LLT clock)",
        ),
    ]


def _delta_le_one() -> Assumption:
    def check(ctx):
        dl = float(llt_clock(ctx.process, ctx.delta))
        return dl <= 1.0, f"delta = {dl:.4g} in the LLT clock (the sqrt(2 delta d) form needs <= 1)"

    return Assumption("delta <= 1", "delta <= 1 (LLT clock)", check)


COUPLING = Bound(
    name="early-stop-w2",
    uses=("second_moment",),
    metric="w2",
    reference="data",
    compares="W2(p_delta, p_0)",
    source=SOURCE_COUPLING,
    provenance=DERIVED,
    assumptions=(needs_early_stopping(), needs_second_moment()),
    exponents=(
        Exponent(
            "delta",
            0.5,
            regime="small delta, noise part sqrt(d sigma_delta^2) dominates (VP: sigma^2 ~ 2 delta B'(0)/2)",
            provenance=DERIVED,
        ),
        Exponent("d", 0.5, regime="noise part dominates", provenance=DERIVED),
    ),
    compute=coupling_terms,
    constant_unspecified=False,
    measured_key="w2_early_stop",
    notes="a property of the setting, not of the sampler",
)

LLT = Bound(
    name="llt2023-early-stop-w2",
    uses=(),
    metric="w2",
    reference="data",
    compares="W2(p_0, (alpha_delta^-1)_# p_delta)",
    source=SOURCE_LLT,
    provenance=VERIFIED,
    assumptions=(needs_vp(), needs_early_stopping(), _delta_le_one()),
    exponents=(
        Exponent("delta", 0.5, regime="sqrt(2 delta d)", provenance=VERIFIED),
        Exponent("d", 0.5, regime="sqrt(2 delta d)", provenance=VERIFIED),
    ),
    compute=llt_terms,
    constant_unspecified=False,
    measured_key="w2_early_stop_rescaled",
    notes="a property of the setting, not of the sampler",
)

BOUNDS = (COUPLING, LLT)
