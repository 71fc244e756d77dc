r"""Chen, Chewi, Li, Li, Salim, Zhang 2023, "Sampling is as easy as learning the score" (ICLR 2023, arXiv
2209.11215).

**Theorem 2 (DDPM, TV).** OU forward process $dX = -X\,dt + \sqrt2\,dB$ (our ``ou``); exponential integrator
with a *uniform* step $h$, $T = Nh$; initialisation $\gamma^d = N(0, I)$. Under (A1) $\nabla\log q_t$ is
$L$-Lipschitz for all $t \ge 0$, $L \ge 1$; (A2) $m_2^2 = E\|X\|^2 < \infty$; (A3) $E_{q_{kh}}\|s_{kh} -
\nabla\log q_{kh}\|^2 \le \varepsilon_{\rm score}^2$ for every $k$ (per step, in $L^2(q_t)$, not
$\sigma$-scaled); and $h \lesssim 1/L$:

$$ {\rm TV}(p_T, q) \lesssim \sqrt{{\rm KL}(q\|\gamma^d)}\,e^{-T} + (L\sqrt{dh} + Lm_2h)\sqrt T +
\varepsilon_{\rm score}\sqrt T. $$

Provenance: ``verified (secondary source)`` (``shared/papers/theorem-statements.md`` §5: a detailed reading
report; agrees with recollection). The universal constant is unspecified (we take $C = 1$).

**Corollary 3 (early stopping, bounded support).** Theorem 2 applied to $q_\delta$ in place of $q$ (the output
approximates $q_\delta$), with $L$ the Lipschitz constant of $\nabla\log q_t$ for $t \ge \delta$ ($\approx
R^2/\delta^2$ for support in $B_R$) and $m_2(q_\delta)$, ${\rm KL}(q_\delta\|\gamma^d)$ of $q_\delta$; the
paper's complexity $N = \tilde\Theta(d^3R^4(R\vee\sqrt d)^4/(\varepsilon_{\rm TV}^2\varepsilon_{W_2}^8))$
(``bounds-tv-kl.md`` §2.4, verified-S). Evaluated here as that application of Theorem 2 with our constants
(``structure-verified, constants derived by us``).

**Mapping to sgmbench.** Their forward time is our OU time; for any VP process we use the exact clock $u =
-\log\alpha_t$ (:func:`~sgmbench.bounds.base.ou_clock`), in which the grid must be uniform (so for ``ou`` and
``vp-constant`` a uniform grid qualifies). Their reverse-time step $k$ ($kh \to (k+1)h$) evaluates the score
at forward time $T - kh$, our $t_k$; so $\varepsilon_{\rm score}^2 = \max_k\varepsilon^2_{t_k}$ over the score
times $t_0..t_{N-1}$. Our prior is $N(0, \sigma_T^2I)$, not $\gamma^d$: the initialisation term is replaced by
$\sqrt{{\rm KL}(q_T\|N(0,\sigma_T^2I))/2} \le \alpha_Tm_2/(2\sigma_T)$ (Pinsker + KL convexity, derived; 0 for
``prior=exact``); the theorem's proof is ${\rm TV}(p_T, q) \le {\rm TV}(q_T, \text{prior}) + \sqrt{{\rm
KL}(\text{path})/2}$, so the substitution is exact in structure.
"""

from __future__ import annotations

import math

import torch

from sgmbench.bounds.base import (
    DERIVED,
    EXPONENTIAL_INTEGRATOR,
    STRUCTURE_VERIFIED,
    VERIFIED_SECONDARY,
    Assumption,
    Bound,
    Exponent,
    Source,
    Term,
    init_kl_bound,
    is_uniform,
    needs_bounded_support,
    needs_early_stopping,
    needs_no_early_stopping,
    needs_sampler,
    needs_second_moment,
    needs_vp,
    ou_clock,
    score_lipschitz,
    sup_score_lipschitz,
)

SOURCE_THM2 = Source(
    authors="Chen, Chewi, Li, Li, Salim, Zhang",
    year=2023,
    where="Theorem 2",
    arxiv="2209.11215",
    title="Sampling is as easy as learning the score",
    venue="ICLR 2023",
)
SOURCE_COR3 = Source(
    authors="Chen, Chewi, Li, Li, Salim, Zhang",
    year=2023,
    where="Corollary 3 (Theorem 2 applied to q_delta)",
    arxiv="2209.11215",
    title="Sampling is as easy as learning the score",
    venue="ICLR 2023",
)


def _ou_steps(ctx) -> torch.Tensor:
    u = ou_clock(ctx.process, ctx.grid)
    return u[:-1] - u[1:]


def _uniform_in_ou_clock() -> Assumption:
    def check(ctx):
        h = _ou_steps(ctx)
        return is_uniform(h), f"OU-clock steps in [{float(h.min()):.4g}, {float(h.max()):.4g}]"

    return Assumption("uniform steps", "constant step h in the OU clock u = -log alpha_t", check)


def chen_lipschitz(ctx, t_from: float) -> float:
    r"""$L = \max(1, \sup_{t \ge t_{\rm from}} L(t))$ with :func:`~sgmbench.bounds.base.score_lipschitz`
    (derived)."""
    return max(1.0, sup_score_lipschitz(ctx.constants, ctx.process, t_from, None))


def _step_condition(t_from_delta: bool) -> Assumption:
    def check(ctx):
        L = chen_lipschitz(ctx, ctx.delta if t_from_delta else 0.0)
        h = float(_ou_steps(ctx).max())
        if not math.isfinite(L):
            return (
                False,
                "no Lipschitz bound for grad log q_t (needs L_0 with log-concavity, or bounded support)",
            )
        return (
            h * L <= 1.0,
            f"h L = {h:.4g} * {L:.4g} = {h * L:.4g} (needs <= 1, universal constant taken as 1)",
        )

    return Assumption("step size", "h <~ 1/L (A1 with L >= 1; constant 1)", check)


def _terms(ctx, L: float, m2sq: float, T_ou: float, h: float) -> list[Term]:
    d = ctx.dim
    eps2 = float(ctx.score_error_sq.max())
    init = init_kl_bound(ctx)
    init_tv = Term("initialisation", math.sqrt(init.value / 2.0), DERIVED, scaled=False, note=init.note)
    disc = (L * math.sqrt(d * h) + L * math.sqrt(m2sq) * h) * math.sqrt(T_ou)
    return [
        init_tv,
        Term("discretisation", disc, VERIFIED_SECONDARY),
        Term("score", math.sqrt(eps2) * math.sqrt(T_ou), VERIFIED_SECONDARY),
    ]


def thm2_terms(ctx) -> list[Term]:
    r"""Chen et al. 2023 Thm 2 terms: initialisation (ours), $(L\sqrt{dh} + Lm_2h)\sqrt T$, $\varepsilon_{\rm
    score}\sqrt T$.

    $T$, $h$ in the OU clock; $L = \max(1, \sup_{t\ge0}L(t))$; $m_2^2 = E\|X_0\|^2$; $\varepsilon_{\rm
    score}^2 = \max_k \varepsilon^2_{t_k}$.
    """
    L = chen_lipschitz(ctx, 0.0)
    T_ou = float(ou_clock(ctx.process, ctx.horizon))
    h = float(_ou_steps(ctx).max())
    return _terms(ctx, L, ctx.constants.second_moment, T_ou, h)


def cor3_terms(ctx) -> list[Term]:
    r"""Chen et al. 2023 Cor. 3 as evaluated here: Theorem 2 for the data law $q_\delta$.

    - horizon $T - \delta$ in the OU clock ($u_T - u_\delta$), $h$ the OU-clock step;
    - $L = \max(1, \sup_{t \ge \delta}L(t))$, with the bounded-support bound $\max(\sigma^{-2},
      \alpha^2R^2\sigma^{-4} - \sigma^{-2})$ (derived; $\approx R^2/(4\delta^2)$ for small $\delta$);
    - $m_2(q_\delta)^2 = \alpha_\delta^2E\|X_0\|^2 + d\sigma_\delta^2$ (exact);
    - initialisation: our prior's term, unchanged (the forward process from $q_\delta$ reaches $q_T$).
    """
    d = ctx.dim
    L = chen_lipschitz(ctx, ctx.delta)
    u = ou_clock(ctx.process, ctx.grid)
    T_ou = float(u[0] - u[-1])
    h = float((u[:-1] - u[1:]).max())
    a2 = float(ctx.alpha(ctx.delta)) ** 2
    m2sq = a2 * ctx.constants.second_moment + d * float(ctx.sigma2(ctx.delta))
    return _terms(ctx, L, m2sq, T_ou, h)


def _lipschitz_exists(from_delta: bool) -> Assumption:
    def check(ctx):
        t0 = ctx.delta if from_delta else 0.0
        L, prov = score_lipschitz(ctx.constants, ctx.alpha(t0), ctx.sigma2(t0))
        ok = math.isfinite(float(L))
        return ok, f"L(t={t0:g}) <= {float(L):.4g} [{prov}]"

    return Assumption(
        "Lipschitz score",
        "grad log q_t is L-Lipschitz for all t >= delta (A1)",
        check,
    )


THM2 = Bound(
    name="chen2023-thm2",
    uses=("second_moment", "score_lipschitz", "strong_log_concavity", "support_radius"),
    metric="tv",
    reference="data",
    compares="TV(generated, p_0)",
    source=SOURCE_THM2,
    provenance=VERIFIED_SECONDARY,
    assumptions=(
        needs_vp(),
        needs_sampler(EXPONENTIAL_INTEGRATOR),
        needs_no_early_stopping(),
        _uniform_in_ou_clock(),
        needs_second_moment(),
        _lipschitz_exists(False),
        _step_condition(False),
    ),
    exponents=(
        Exponent("h", 0.5, regime="small h, discretisation term L sqrt(dh T) dominates"),
        Exponent("N", -0.5, regime="fixed T, discretisation term dominates"),
        Exponent("d", 0.5, regime="fixed h, discretisation term dominates"),
        Exponent("eps", 1.0, regime="score term dominates"),
        Exponent("L", 1.0, regime="discretisation term dominates"),
        Exponent("T", 0.5, regime="large T: sqrt(T) growth of the path terms (init decays like e^{-T})"),
    ),
    compute=thm2_terms,
    constant_unspecified=True,
    score_error="per step, uniform over k: eps_score^2 = max_k E_{p_{t_k}}|s - grad log p_{t_k}|^2 "
    "(not sigma-scaled)",
    notes="OU clock u = -log alpha_t; L = max(1, sup_t L(t)) from our Lipschitz bound (derived)",
)

COR3 = Bound(
    name="chen2023-cor3",
    uses=("second_moment", "support_radius", "score_lipschitz", "strong_log_concavity"),
    metric="tv",
    reference="early-stopped",
    compares="TV(generated, p_delta)",
    source=SOURCE_COR3,
    provenance=STRUCTURE_VERIFIED,
    assumptions=(
        needs_vp(),
        needs_sampler(EXPONENTIAL_INTEGRATOR),
        needs_early_stopping(),
        needs_bounded_support(),
        _uniform_in_ou_clock(),
        _lipschitz_exists(True),
        _step_condition(True),
    ),
    exponents=(
        Exponent("N", -0.5, regime="fixed T, delta; discretisation term dominates"),
        Exponent(
            "delta", -2.0, regime="L(delta) ~ R^2/delta^2 (bounded support)", provenance=STRUCTURE_VERIFIED
        ),
        Exponent("d", 0.5, regime="fixed h; L independent of d", provenance=STRUCTURE_VERIFIED),
        Exponent("R", 2.0, regime="L(delta) ~ R^2/delta^2", provenance=STRUCTURE_VERIFIED),
        Exponent("eps", 1.0, regime="score term dominates"),
    ),
    compute=cor3_terms,
    constant_unspecified=True,
    score_error="per step, uniform over k (as Theorem 2), on [delta, T]",
    notes="complexity N = Theta~(d^3 R^4 (R v sqrt d)^4 / (eps_TV^2 eps_W2^8)) (verified-S); "
    "L(delta) and m_2(q_delta) are our constants",
)

BOUNDS = (THM2, COR3)
