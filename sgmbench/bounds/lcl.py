r"""Li, Chen, Li 2024, "A good score does not lead to a good generative model" (arXiv 2401.04856):
the error of the empirical optimal score.

The paper's sample-complexity theorem (its statement, hypotheses and constants) is **unverified**
(``shared/papers/theorem-statements.md`` §4.4); the authors' code plots the time-averaged $L^2(p_t)$ error of
the empirical optimal score against the training-set size $n$ with slope $-1$ guides. What we implement is our
own asymptotic constant for an isotropic Gaussian target (``shared/papers/empirical-score.md`` §2.2,
provenance ``derived``; checked against quadrature there):

$$ n\,E_{\{y_i\}}\|s^n_t - \nabla\log p_t\|^2_{L^2(p_t)} \to J(t) = d\Big(\frac{b_t}{\sigma_t^2}\Big)^d
   \frac{\alpha_t^2s^2(b_t + \alpha_t^2s^2)}{2a_tb_t\sigma_t^2},\quad a_t = \tfrac{\sigma_t^2}2 +
   \alpha_t^2s^2,\ b_t = \sigma_t^2 + \alpha_t^2s^2, $$

for $p_0 = N(m, s^2I_d)$ (the mean does not enter), any linear forward process (only $\alpha_t$, $\sigma_t$
appear). The bound :data:`SCORE_ERROR` is the envelope $\frac1N\sum_kJ(t_k)/n$ over the score times, compared
with the time-averaged measured error $\frac1N\sum_k\varepsilon^2_{t_k}$ (the code's protocol). It is an
*asymptotic* statement ($n \gg (b_t/\sigma_t^2)^d$): at moderate $n$ the measured error sits below it.

Also here: :func:`kde_kl_asymptotic`, $E\,{\rm KL}(p_\delta\|p^n_\delta) \approx ((1 +
\alpha_\delta^2s^2/\sigma_\delta^2)^d - 1)/(2n)$, the KL of the continuous-time output (a Gaussian KDE of the
training set) to $p_\delta$ (derived, §2.2).
"""

from __future__ import annotations

import math

from sgmbench.bounds.base import (
    DERIVED,
    Assumption,
    Bound,
    Exponent,
    Source,
    Term,
)

SOURCE = Source(
    authors="Li, Chen, Li",
    year=2024,
    where="score-approximation error of the empirical optimal score "
    "(theorem unverified; asymptotic constant ours)",
    arxiv="2401.04856",
    title="A good score does not lead to a good generative model",
)


def j_constant(alpha: float, sigma2: float, s2: float, d: int) -> float:
    r"""$J(t)$ of the module docstring: $\lim_n n\,E\|s^n_t - \nabla\log p_t\|^2_{L^2(p_t)}$ for $N(m,
    s^2I_d)$ (derived)."""
    a2s2 = alpha**2 * s2
    a = sigma2 / 2.0 + a2s2
    b = sigma2 + a2s2
    return d * math.exp(d * math.log(b / sigma2)) * a2s2 * (b + a2s2) / (2.0 * a * b * sigma2)


def kde_kl_asymptotic(alpha: float, sigma2: float, s2: float, d: int, n: int) -> float:
    r"""$E\,{\rm KL}(p_\delta\|p^n_\delta) \approx ((1 + \alpha_\delta^2s^2/\sigma_\delta^2)^d - 1)/(2n)$
    (derived, ``empirical-score.md`` §2.2)."""
    return math.expm1(d * math.log1p(alpha**2 * s2 / sigma2)) / (2.0 * n)


def _isotropic_gaussian(ctx) -> tuple[bool, float | None]:
    c = ctx.constants
    if not getattr(ctx.target, "is_gaussian", False) or c.cov_eigenvalues is None:
        return False, None
    lam = c.cov_eigenvalues
    ok = max(lam) - min(lam) <= 1e-12 * max(lam)
    return ok, (float(lam[0]) if ok else None)


def score_error_terms(ctx) -> list[Term]:
    r"""$\frac1N\sum_k J(t_k)/n$ over the score times $t_0..t_{N-1}$."""
    _, s2 = _isotropic_gaussian(ctx)
    n, d = ctx.num_train, ctx.dim
    times = ctx.score_times
    alphas, sig2 = ctx.alpha(times), ctx.sigma2(times)
    vals = [j_constant(float(a), float(s), s2, d) / n for a, s in zip(alphas, sig2)]
    return [Term("score", sum(vals) / len(vals), DERIVED, scaled=False)]


def _iso() -> Assumption:
    def check(ctx):
        ok, s2 = _isotropic_gaussian(ctx)
        return (
            ok,
            f"isotropic Gaussian target needed (variance {s2})"
            if ok
            else f"target {ctx.target!r} not isotropic Gaussian",
        )

    return Assumption("isotropic Gaussian data", "p_0 = N(m, s^2 I)", check)


def _empirical() -> Assumption:
    def check(ctx):
        ok = ctx.num_train is not None and ctx.score_name == "empirical-optimal"
        return ok, f"score {ctx.score_name!r} (num_train = {ctx.num_train})"

    return Assumption(
        "empirical optimal score", "s = grad log of the noised empirical law of n points", check
    )


SCORE_ERROR = Bound(
    name="lcl2024-score-error",
    uses=("cov_eigenvalues",),
    metric="score_error_sq",
    reference="data",
    compares="mean_k E_{p_{t_k}}|s^n - grad log p_{t_k}|^2 (expectation over training sets)",
    source=SOURCE,
    provenance=DERIVED,
    assumptions=(_iso(), _empirical()),
    exponents=(
        Exponent("n", -1.0, regime="n >> (b_t/sigma_t^2)^d", provenance=DERIVED),
        Exponent(
            "delta",
            -(1.0),
            form="power",
            regime="J ~ d (s^2/2t)^d / (2t) as t -> 0: exponent -(d+1) per time",
            provenance=DERIVED,
        ),
    ),
    compute=score_error_terms,
    constant_unspecified=False,
    direction="asymptotic",
    score_error="time-averaged L2(p_t) error over the score times (the authors' code protocol)",
    notes="asymptotic envelope J(t)/n (ours); at moderate n the measured error sits below it",
)

BOUNDS = (SCORE_ERROR,)
