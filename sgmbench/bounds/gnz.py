r"""Gao, Nguyen, Zhu 2025, "Wasserstein convergence guarantees for a general class of score-based generative
models" (JMLR 26(43), arXiv 2311.11003).

What is verified (``shared/papers/theorem-statements.md`` §2, ``bounds-wasserstein.md`` §1): the setting
(linear forward SDE $dX = -f(t)X\,dt + g(t)\,dB$, general $f, g$), the assumptions (A1) $m_0$-strongly
log-concave data with $L_0$-Lipschitz score, (A2) time regularity of the score $\|\nabla\log p_t(x) -
\nabla\log p_s(x)\| \le L_1|t-s|(1+\|x\|)$, (A3) score error **along the algorithm's iterates**
$\sup_k\|\nabla\log p_{t_k}(y_k) - s(y_k, t_k)\|_{L^2} \le M$, the initialisation $N(0, \sigma_T^2I)$, the
structure *initialisation + discretisation ($\propto h^{1/2}$) + score error ($\propto M$)*, the per-process
complexity table (authors' README image) and the Gaussian lower bound's scaling $\sqrt d\,h$ (secondary). The
explicit constants of their Theorem 2 are **not** verified.

:data:`UPPER` is therefore the explicit bound of the same form that we derived (``bounds-wasserstein.md``
§1.4, checked numerically there; provenance ``structure-verified, constants derived by us``): synchronous
coupling of the exponential integrator $y$ with the exact reverse process $x$, and Minkowski in $L^2$. On step
$k$ ($t_k \to t_{k+1}$, $\eta_k = t_k - t_{k+1}$):

$$ e_{k+1} \le c_k e_k + \Gamma_kM_k + D_k,\qquad e_0 = W_2(p_T, \text{prior}), $$

- $\Lambda_k = \alpha_{t_{k+1}}/\alpha_{t_k}$, $\Gamma_k = \alpha_{t_{k+1}}\int_{t_{k+1}}^{t_k}g^2/\alpha$
  (the integrator's coefficients);
- $c_k = \max(|\Lambda_k - a_k\Gamma_k|, |\Lambda_k - L_k\Gamma_k|)$, the Lipschitz constant of $z \mapsto
  \Lambda_kz + \Gamma_k\nabla\log p_{t_k}(z)$, with $a_k = 1/(\sigma^2 + \alpha^2/m_0)$ (strong log-concavity
  of $p_{t_k}$) and $L_k = 1/(\sigma^2 + \alpha^2/L_0)$ (its Lipschitz constant; exact for Gaussians). Under
  the step condition $\Gamma_k(a_k + L_k) \le 2\Lambda_k$ (checked) it equals $\Lambda_k - a_k\Gamma_k$, the
  form of §1.4;
- $M_k = \|s(y_k, t_k) - \nabla\log p_{t_k}(y_k)\|_{L^2}$ along the iterates (exact for a bias; exact for an
  affine score given the iterate laws);
- $D_k = \Gamma_k[\bar L_k\Delta_k + \bar L_{1,k}\eta_k(1 + \bar m_k)]$ with $\Delta_k = \eta_k(\bar f_k\bar
  m_k + \bar g_k^2\sqrt{\bar L_kd}) + \sqrt{d\eta_k\bar g_k^2}$, barred = sup over the step (evaluated at 5
  points of the step), $\bar m_k = \sup\sqrt{\alpha^2E\|X_0\|^2 + d\sigma^2}$.

The value bounds $W_2(\text{generated}, p_{t_N})$ ($p_\delta$; $p_0$ when $\delta = 0$). $L_1$ (A2) is known
in closed form for Gaussian targets only: $\partial_t\nabla\log p_t(x) = -(2fP - g^2P^2)(x - \alpha\mu) -
f\alpha P\mu$, $P = (\alpha^2\Sigma + \sigma^2I)^{-1}$ (``bounds-wasserstein.md`` §3.1).
"""

from __future__ import annotations

import math

import torch

from sgmbench.bounds.base import (
    DERIVED,
    DTYPE,
    EXPONENTIAL_INTEGRATOR,
    FROM_MEMORY,
    STRUCTURE_VERIFIED,
    VERIFIED,
    VERIFIED_SECONDARY,
    Assumption,
    Bound,
    Exponent,
    Source,
    Term,
    init_w2,
    needs_lipschitz_data_score,
    needs_sampler,
    needs_second_moment,
    needs_state_independent_or_known_iterate_error,
    needs_strong_log_concavity,
)

SOURCE = Source(
    authors="Gao, Nguyen, Zhu",
    year=2025,
    where="Theorem 2 (structure; explicit constants derived by us, bounds-wasserstein.md §1.4)",
    arxiv="2311.11003",
    title="Wasserstein convergence guarantees for a general class of score-based generative models",
    venue="JMLR 26(43)",
)
SOURCE_LOWER = Source(
    authors="Gao, Nguyen, Zhu",
    year=2025,
    where="Gaussian lower bound (number unverified; scaling sqrt(d) h per "
    "Arsenyan-Vardanyan-Dalalyan 2025, Remark 1)",
    arxiv="2311.11003",
    title="Wasserstein convergence guarantees for a general class of score-based generative models",
    venue="JMLR 26(43)",
)

SUBPOINTS = 5


# ------------------------------------------------------------------------------------------------
# Constants along the process
# ------------------------------------------------------------------------------------------------
def strong_concavity(constants, alpha, sigma2) -> torch.Tensor:
    r"""$a(t) = 1/(\sigma_t^2 + \alpha_t^2/m_0)$: $p_t$ is $a(t)$-strongly log-concave (Brascamp–Lieb; exact
    for Gaussians)."""
    return 1.0 / (sigma2 + alpha**2 / constants.strong_log_concavity)


def lipschitz(constants, alpha, sigma2) -> torch.Tensor:
    r"""$L(t) = 1/(\sigma_t^2 + \alpha_t^2/L_0)$ for log-concave $L_0$-smooth data (derived; exact for
    Gaussians)."""
    return 1.0 / (sigma2 + alpha**2 / constants.score_lipschitz)


def time_lipschitz_gaussian(constants, process, t: torch.Tensor) -> torch.Tensor:
    r"""$L_1(t)$ with $\|\partial_t\nabla\log p_t(x)\| \le L_1(t)(1 + \|x\|)$ for a Gaussian target (derived).

    $K = 2fP - g^2P^2$, $P = {\rm diag}(1/(\alpha^2\lambda_i + \sigma^2))$: $L_1 = \max(\|K\|,
    \|K\|\alpha\|\mu\| + |f|\alpha\|P\|\|\mu\|)$ (``bounds-wasserstein.md`` §3.1).
    """
    lam = torch.tensor(constants.cov_eigenvalues, dtype=DTYPE)
    a = process.alpha(t).unsqueeze(-1)
    s2 = process.sigma2(t).unsqueeze(-1)
    f = process.f(t).unsqueeze(-1)
    g2 = process.g2(t).unsqueeze(-1)
    P = 1.0 / (a**2 * lam + s2)
    K = (2 * f * P - g2 * P**2).abs().max(-1).values
    mu = constants.mean_norm
    a, f = a.squeeze(-1), f.squeeze(-1)
    return torch.maximum(K, K * a * mu + f.abs() * a * P.max(-1).values * mu)


def _window(grid: torch.Tensor) -> torch.Tensor:
    """``[N, SUBPOINTS]`` times spanning each step $[t_{k+1}, t_k]$."""
    w = torch.linspace(0.0, 1.0, SUBPOINTS, dtype=DTYPE)
    return grid[1:, None] + (grid[:-1] - grid[1:])[:, None] * w[None, :]


def upper_terms(ctx) -> list[Term]:
    """The three terms of our explicit GNZ-type bound (module docstring)."""
    c, p, g = ctx.constants, ctx.process, ctx.grid
    d = ctx.dim
    t0, t1 = g[:-1], g[1:]
    eta = t0 - t1
    lam_k = p.alpha(t1) / p.alpha(t0)
    gam_k = p.alpha(t1) * p.int_g2_over_alpha(t1, t0)
    a_k = strong_concavity(c, p.alpha(t0), p.sigma2(t0))
    L_k = lipschitz(c, p.alpha(t0), p.sigma2(t0))
    contraction = torch.maximum((lam_k - a_k * gam_k).abs(), (lam_k - L_k * gam_k).abs())

    win = _window(g)
    aw, s2w = p.alpha(win), p.sigma2(win)
    f_bar = p.f(win).abs().max(-1).values
    g2_bar = p.g2(win).max(-1).values
    L_bar = lipschitz(c, aw, s2w).max(-1).values
    L1_bar = time_lipschitz_gaussian(c, p, win.reshape(-1)).reshape(win.shape).max(-1).values
    m_bar = torch.sqrt(aw**2 * c.second_moment + d * s2w).max(-1).values
    delta_k = eta * (f_bar * m_bar + g2_bar * torch.sqrt(L_bar * d)) + torch.sqrt(d * eta * g2_bar)
    D_k = gam_k * (L_bar * delta_k + L1_bar * eta * (1.0 + m_bar))
    M_k = torch.sqrt(ctx.iterate_error_sq.clamp_min(0.0))

    # tail[k] = prod_{j > k} c_j, so that e_N = tail[-1] e_0 + sum_k tail[k] (Gamma_k M_k + D_k)
    rev_cum = torch.flip(torch.cumprod(torch.flip(contraction, [0]), 0), [0])  # prod_{j >= k}
    tail = torch.cat([rev_cum[1:], torch.ones(1, dtype=DTYPE)])
    init = init_w2(ctx)
    return [
        Term("initialisation", float(rev_cum[0]) * init.value, DERIVED, scaled=False),
        Term("discretisation", float((tail * D_k).sum()), STRUCTURE_VERIFIED, scaled=False),
        Term("score", float((tail * gam_k * M_k).sum()), STRUCTURE_VERIFIED, scaled=False),
    ]


def _gaussian_time_regularity() -> Assumption:
    def check(ctx):
        ok = getattr(ctx.target, "is_gaussian", False) and ctx.constants.cov_eigenvalues is not None
        return ok, "L_1 in closed form for Gaussian targets only" + ("" if ok else f"; target {ctx.target!r}")

    return Assumption(
        "time regularity (A2)", "|grad log p_t - grad log p_s| <= L_1 |t-s| (1 + |x|), L_1 known", check
    )


def _contraction_step() -> Assumption:
    def check(ctx):
        c, p, g = ctx.constants, ctx.process, ctx.grid
        t0, t1 = g[:-1], g[1:]
        lam_k = p.alpha(t1) / p.alpha(t0)
        gam_k = p.alpha(t1) * p.int_g2_over_alpha(t1, t0)
        a_k = strong_concavity(c, p.alpha(t0), p.sigma2(t0))
        L_k = lipschitz(c, p.alpha(t0), p.sigma2(t0))
        ratio = float((gam_k * (a_k + L_k) / (2 * lam_k)).max())
        return ratio <= 1.0, f"max_k Gamma_k (a_k + L_k) / (2 Lambda_k) = {ratio:.4g} (needs <= 1)"

    return Assumption(
        "step size", "Gamma_k (a_k + L_k) <= 2 Lambda_k (contraction of the exact-score step)", check
    )


UPPER = Bound(
    name="gnz2025-w2",
    uses=("strong_log_concavity", "score_lipschitz", "second_moment", "cov_eigenvalues", "mean_norm"),
    metric="w2",
    reference="early-stopped",
    compares="W2(generated, p_delta)",
    source=SOURCE,
    provenance=STRUCTURE_VERIFIED,
    assumptions=(
        needs_sampler(EXPONENTIAL_INTEGRATOR),
        needs_strong_log_concavity(),
        needs_lipschitz_data_score(),
        needs_second_moment(),
        _gaussian_time_regularity(),
        needs_state_independent_or_known_iterate_error(),
        _contraction_step(),
    ),
    exponents=(
        Exponent("h", 0.5, regime="small h: discretisation term ~ sqrt(d h)", provenance=VERIFIED_SECONDARY),
        Exponent("N", -0.5, regime="fixed T: discretisation term dominates", provenance=DERIVED),
        Exponent("d", 0.5, regime="fixed h: sqrt(d h) and |x_0|_{L2} ~ sqrt(d)", provenance=DERIVED),
        Exponent("eps", 1.0, regime="score term dominates (linear in M)", provenance=VERIFIED_SECONDARY),
        Exponent(
            "T",
            None,
            form="exp",
            regime="init factor alpha_T^2/(alpha_T^2 + m_0 sigma_T^2) (VP: ~e^{-B_T})",
            provenance=DERIVED,
        ),
    ),
    compute=upper_terms,
    constant_unspecified=False,
    score_error="along the iterates: M_k = |s(y_k,t_k) - grad log p_{t_k}(y_k)|_{L2(law of y_k)} "
    "(exact for a bias)",
    notes="explicit constants are ours (GNZ's Theorem 2 constants unverified); any forward process f, g",
)


def lower_terms(ctx) -> list[Term]:
    r"""$\sqrt d\,\max_k\eta_k$: the scaling of GNZ's Gaussian lower bound (constant unknown, taken as 1)."""
    h = float((ctx.grid[:-1] - ctx.grid[1:]).max())
    return [Term("discretisation", math.sqrt(ctx.dim) * h, FROM_MEMORY)]


def _gaussian_exact_score() -> Assumption:
    def check(ctx):
        ok = getattr(ctx.target, "is_gaussian", False) and ctx.score_error_kind == "zero"
        return (
            ok,
            f"Gaussian target and exact score needed "
            f"(target {ctx.target!r}, score error {ctx.score_error_kind!r})",
        )

    return Assumption("Gaussian data, exact score", "p_0 Gaussian; s = grad log p_t", check)


LOWER = Bound(
    name="gnz2025-gaussian-lower",
    uses=(),
    metric="w2",
    reference="early-stopped",
    compares="W2(generated, p_delta) >~ sqrt(d) h",
    source=SOURCE_LOWER,
    provenance=FROM_MEMORY,
    assumptions=(needs_sampler(EXPONENTIAL_INTEGRATOR), _gaussian_exact_score()),
    exponents=(
        Exponent("h", 1.0, regime="Gaussian data, exact score", provenance=VERIFIED_SECONDARY),
        Exponent("N", -1.0, regime="fixed T", provenance=DERIVED),
        Exponent("d", 0.5, regime="fixed h", provenance=VERIFIED_SECONDARY),
    ),
    compute=lower_terms,
    constant_unspecified=True,
    direction="lower",
    notes="a LOWER bound: only its rate is compared (measured must not decay faster than h); "
    "statement and constant unverified",
)

BOUNDS = (UPPER, LOWER)


# ------------------------------------------------------------------------------------------------
# Complexity table (authors' README image assets/theory.jpg, verified from the source; O(.) with logs)
# ------------------------------------------------------------------------------------------------
def _row(K_d, K_eps, K_log, M_eps, eta_d, eta_eps, note=""):
    return {
        "K": {"d": K_d, "eps": K_eps, "log": K_log},
        "M": {"eps": M_eps},
        "eta": {"d": eta_d, "eps": eta_eps},
        "note": note,
        "provenance": VERIFIED,
    }


COMPLEXITY_TABLE: dict[str, dict] = {
    # process registry name -> exponents of K (iterations to W2 <= eps), M (score error), eta (step)
    # in (d, eps); "log" names the logarithmic factor dropped. 've-power' depends on c = rho - 1/2.
    "ve-exp": _row(1.0, -2.0, "log(d/eps)", 1.0, -1.0, 2.0, "M = O(eps/log(1/eps))"),
    "ve-constant": _row(
        1.5, -3.0, "log(d/eps)", 1.0, -1.0, 2.0, "M = O(eps/sqrt(log(d/eps))); eta has a 1/log(d/eps)"
    ),
    "ve-sqrt": _row(1.25, -2.5, "", 1.5, -1.0, 2.0),
    "vp-constant": _row(1.0, -2.0, "log(d/eps)", 1.0, -1.0, 2.0),
    "ou": _row(1.0, -2.0, "log(d/eps)", 1.0, -1.0, 2.0),
    "vp-linear": _row(1.0, -2.0, "sqrt(log(d/eps))", 1.0, -1.0, 2.0),
    "vp-power": _row(1.0, -2.0, "log(d/eps)^(1/(rho+1))", 1.0, -1.0, 2.0),
    "vp-exp": _row(1.0, -2.0, "log(log(d/eps))", 1.0, -1.0, 2.0),
}


def ve_power_row(c: float) -> dict:
    r"""Row $f = 0$, $g = (b + at)^c$: $K = O(d^{1/(2(2c+1)) + 1}/\varepsilon^{1/(2c+1) + 2})$, $M =
    O(\varepsilon^{1 + 2c/(2c+1)})$, $\eta = O(\varepsilon^2/d)$."""
    return _row(
        1.0 / (2 * (2 * c + 1)) + 1.0, -(1.0 / (2 * c + 1) + 2.0), "", 1.0 + 2 * c / (2 * c + 1), -1.0, 2.0
    )


def complexity_exponents(process) -> dict | None:
    """GNZ's complexity-table row for a forward process (``None`` if the table has no row for it)."""
    name = getattr(process, "name", str(process))
    if name == "ve-power":
        rho = float(process.params.get("rho", 2.0))
        return ve_power_row(rho - 0.5)
    return COMPLEXITY_TABLE.get(name)
