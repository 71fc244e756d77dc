r"""KL bounds through the relative Fisher information (no early stopping, no smoothness assumption).

- Conforti, Durmus, Gentiloni-Silveri 2025, "KL convergence guarantees for score diffusion models under
  minimal data assumptions" (SIAM J. Math. Data Sci.; arXiv 2308.12240): OU forward process, fixed step size,
  exponential integrator, no early stopping, data with finite Fisher information relative to $\gamma^d = N(0,
  I)$. Structure (``bounds-tv-kl.md`` §4; **from memory**, the theorem was not read):

  $$ {\rm KL}(\mu\,\|\,\hat p) \lesssim {\rm KL}(\mu\|\gamma^d)e^{-2T} + \varepsilon^2 + h\,\mathcal
  I(\mu|\gamma^d),\qquad
     \mathcal I(\mu|\gamma^d) = E_\mu\|\nabla\log\mu(X) + X\|^2. $$

  We take $\varepsilon^2 = \sum_kh\,\varepsilon_{t_k}^2$ (step-weighted, as in the authors'-code form below)
  and $C = 1$.

- Strasman, Ocello, Boyer, Le Corff, Lemaire 2025, "An analysis of the noise schedule for score-based
  generative models" (TMLR 2025; arXiv 2402.04650): the same structure for a VP process with schedule $\beta$
  ($\sigma_\infty = 1$), with the explicit constants **as implemented in the authors' code**
  (``StanislasStrasman/Noise_Schedule_for_Score-based_Generative_Models``, ``src/noise_diff/upperbounds.py``,
  ``compute_E1``/``compute_E2``/``compute_E3``; read, provenance ``verified (secondary source)`` for the
  formula as coded, the paper's theorem text not read):

  $$ E_1 = {\rm KL}(\pi\|N(0,I))e^{-\int_0^T\beta},\quad E_2 =
  \sum_k\varepsilon^2_{t_k}\int_{t_{k+1}}^{t_k}\beta,\quad
     E_3 = 2h\beta(T)\max\Big(\frac{h\beta(T)}4, 1\Big)\mathcal I(\pi|N(0,I)), $$

  uniform step $h = T/N$ in the process's own time. We use $\bar\beta = \max_{[0,T]}\beta$ in place of
  $\beta(T)$ (equal for the increasing schedules the code uses; larger otherwise).

**Mapping.** Both theorems start from $N(0, I)$; our prior is $N(0, \sigma_T^2I)$, so the initialisation term
is our derived ${\rm KL}(p_T\|N(0,\sigma_T^2I)) \le \alpha_T^2E\|X_0\|^2/(2\sigma_T^2)$ (0 for
``prior=exact``), as in :func:`~sgmbench.bounds.base.init_kl_bound`. Conforti's clock is the OU clock $u =
-\log\alpha_t$ (so it applies to every VP process with steps uniform in $u$).
"""

from __future__ import annotations

import math

import torch

from sgmbench.bounds.base import (
    DERIVED,
    DTYPE,
    EXPONENTIAL_INTEGRATOR,
    FROM_MEMORY,
    VERIFIED_SECONDARY,
    Assumption,
    Bound,
    Exponent,
    Source,
    Term,
    init_kl_bound,
    is_uniform,
    needs_no_early_stopping,
    needs_sampler,
    needs_vp,
    ou_clock,
)

SOURCE_CONFORTI = Source(
    authors="Conforti, Durmus, Gentiloni-Silveri",
    year=2025,
    where="main KL theorem (structure from memory; number unverified)",
    arxiv="2308.12240",
    title="KL convergence guarantees for score diffusion models under minimal data assumptions",
    venue="SIAM J. Math. Data Sci.",
)
SOURCE_STRASMAN = Source(
    authors="Strasman, Ocello, Boyer, Le Corff, Lemaire",
    year=2025,
    where="KL upper bound E1 + E2 + E3 as coded in upperbounds.py (compute_E1..E3)",
    arxiv="2402.04650",
    title="An analysis of the noise schedule for score-based generative models",
    venue="TMLR 2025",
)


def _fisher() -> Assumption:
    def check(ctx):
        fi = ctx.constants.fisher_to_standard_normal
        ok = fi is not None and math.isfinite(fi)
        return ok, f"I(p_0 | N(0,I)) = {fi}"

    return Assumption("finite Fisher information", "I(p_0 | N(0, I)) = E|grad log p_0 + x|^2 < inf", check)


def _uniform(clock: str) -> Assumption:
    def check(ctx):
        g = ou_clock(ctx.process, ctx.grid) if clock == "ou" else ctx.grid
        h = g[:-1] - g[1:]
        return is_uniform(h), f"steps in the {clock} clock in [{float(h.min()):.4g}, {float(h.max()):.4g}]"

    return Assumption("fixed step size", f"uniform steps in the {clock} clock", check)


def conforti_terms(ctx) -> list[Term]:
    r"""${\rm KL}$ init (ours) $+ \sum_kh\varepsilon_{t_k}^2 + h\,\mathcal I(p_0|\gamma^d)$, OU clock
    (structure from memory)."""
    u = ou_clock(ctx.process, ctx.grid)
    h = u[:-1] - u[1:]
    fi = ctx.constants.fisher_to_standard_normal
    return [
        init_kl_bound(ctx),
        Term("score", float((h * ctx.score_error_sq).sum()), FROM_MEMORY),
        Term("discretisation", float(h.max()) * fi, FROM_MEMORY),
    ]


def _beta_bar(ctx) -> float:
    ts = torch.linspace(0.0, ctx.horizon, 257, dtype=DTYPE)
    return float((2.0 * ctx.process.f(ts)).max())


def strasman_terms(ctx) -> list[Term]:
    r"""$E_1$ (ours, our prior) $+ E_2 + E_3$ of the authors' code (module docstring); $\beta = 2f$."""
    p, g = ctx.process, ctx.grid
    B = -2.0 * p.log_alpha(g)  # int_0^t beta
    E2 = float((ctx.score_error_sq * (B[:-1] - B[1:])).sum())
    h = float((g[:-1] - g[1:]).max())
    bb = _beta_bar(ctx)
    E3 = 2.0 * h * bb * max(h * bb / 4.0, 1.0) * ctx.constants.fisher_to_standard_normal
    return [
        init_kl_bound(ctx),
        Term("score", E2, VERIFIED_SECONDARY, scaled=False),
        Term(
            "discretisation", E3, VERIFIED_SECONDARY, scaled=False, note=f"beta_bar = {bb:.4g}, h = {h:.4g}"
        ),
    ]


_EXPONENTS = (
    Exponent("N", -1.0, regime="fixed T: discretisation term h I dominates", provenance=DERIVED),
    Exponent("h", 1.0, regime="discretisation term dominates", provenance=FROM_MEMORY),
    Exponent("eps", 2.0, regime="score term dominates", provenance=FROM_MEMORY),
    Exponent("d", 1.0, regime="through I(p_0|gamma^d), ~ d for well-conditioned data", provenance=DERIVED),
    Exponent("L", None, form="none", regime="no smoothness assumption", provenance=FROM_MEMORY),
)

CONFORTI = Bound(
    name="conforti2025-kl",
    uses=("second_moment", "fisher_to_standard_normal"),
    metric="kl",
    reference="data",
    compares="KL(p_0 || generated)",
    source=SOURCE_CONFORTI,
    provenance=FROM_MEMORY,
    assumptions=(
        needs_vp(),
        needs_sampler(EXPONENTIAL_INTEGRATOR),
        needs_no_early_stopping(),
        _uniform("ou"),
        _fisher(),
    ),
    exponents=_EXPONENTS,
    compute=conforti_terms,
    constant_unspecified=True,
    score_error="step-weighted: sum_k h E_{p_{t_k}}|s - grad log p_{t_k}|^2 (OU clock)",
    notes="structure recalled, not read; compare by rate only",
)

STRASMAN = Bound(
    name="strasman2025-kl",
    uses=("second_moment", "fisher_to_standard_normal"),
    metric="kl",
    reference="data",
    compares="KL(p_0 || generated)",
    source=SOURCE_STRASMAN,
    provenance=VERIFIED_SECONDARY,
    assumptions=(
        needs_vp(),
        needs_sampler(EXPONENTIAL_INTEGRATOR),
        needs_no_early_stopping(),
        _uniform("process"),
        _fisher(),
    ),
    exponents=_EXPONENTS,
    compute=strasman_terms,
    constant_unspecified=False,
    score_error="sum_k E_{p_{t_k}}|s - grad log p_{t_k}|^2 int_{t_{k+1}}^{t_k} beta (step-weighted by beta)",
    notes="constants as coded by the authors (upperbounds.py); the paper's theorem text was not read",
)

BOUNDS = (CONFORTI, STRASMAN)
