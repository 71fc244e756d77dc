r"""Lee, Lu, Tan 2023, "Convergence of score-based generative modeling for general data distributions"
(ALT 2023, PMLR 201:946–985, arXiv 2209.12381). Read from the published PDF
(``shared/papers/theorem-statements.md`` §1, provenance ``verified``).

**Setting (LLT §1.1).** $dx = -\tfrac12g^2x\,dt + g\,dw$, $g \equiv 1$: $m_u = e^{-u/2}$, $\sigma_u^2 = 1 -
e^{-u}$. Exponential integrator (Eqs. 5–6), prior $N(0, \sigma_T^2I)$ (Eq. 7; exactly our prior), early
stopping at $T - t_N = \delta$. **Mapping:** a VP process with $\beta$ is this SDE in the clock $u = B(t)$
(:func:`~sgmbench.bounds.base.llt_clock`; same marginals, same integrator steps), so $T$, $\delta$, the steps
$h_k$ and the forward times $T - t_k$ of the paper are $B(T)$, $B(\delta)$, $B(t_k) - B(t_{k+1})$ and $B(t_k)$
here.

**Assumption 1 (score error).** At every grid time, $E_{p_t}\|\nabla\ln p_t - s\|^2 \le
\varepsilon_\sigma^2/\sigma_t^4$ (per step, $\sigma$-scaled): $\varepsilon_\sigma =
\max_k\sigma^2_{t_k}\varepsilon_{t_k}$ over the score times.
**Assumption 6 (tails).** $P(\|X_0\| > R(\eta)) \le \eta$; bounded support is $R(\eta) = R$; for a Gaussian
target we use $R(\eta) = \|\mu\| + \sqrt{{\rm tr}\Sigma} + \sqrt{2\lambda_{\max}\ln(1/\eta)}$ (derived:
Gaussian concentration of the $\sqrt{\lambda_{\max}}$-Lipschitz map $z \mapsto \|\Sigma^{1/2}z\|$).
**Assumption 3 (Hessian).** $\|\nabla^2\ln p_t\| \le C/\sigma_t^2$; for log-concave data $C = 1$ (derived: $0
\preceq -\nabla^2\ln p_t \preceq \sigma_t^{-2}I$); the theorem takes $C \ge R_0^2$, so $C := R_0^2$.

**Theorem 7.2 (p. 31–32).** For $0 < \varepsilon_\chi, \varepsilon_{\rm TV}, \delta < \tfrac12$ and $R_0 \ge
\sqrt d$ with $R(c\,\varepsilon_{\rm TV}^3\delta^6\varepsilon_\chi^{12}/(R_0^{19}d^5)) \le R_0$:

- case 1 (Assumption 1): $B = R_0^4d\ln(T/\delta)\ln(R_0d/(\delta\varepsilon_{\rm TV}\varepsilon_\chi))$,
  $\varepsilon_\sigma = O(\varepsilon_{\rm TV}\delta^{5/2}\varepsilon_\chi^{11/2}/B^{9/4})$, $h_k =
  O(\varepsilon_\chi^2/(B\max\{T-t_k, (T-t_k)^{-3}\}))$;
- case 2 (Assumptions 1 + 3, $C \ge R_0^2$): $B = C^2d\ln(T/\delta)\ln(R_0d/(\delta\varepsilon_{\rm
  TV}\varepsilon_\chi))$, $\varepsilon_\sigma = O(\varepsilon_{\rm TV}\varepsilon_\chi^3/(T^{5/2}B))$, $h_k =
  O(\varepsilon_\chi^2/(B\max\{T-t_k, (T-t_k)^{-1}\}))$;
- both: $T = \ln(16R_0^2/\varepsilon_\chi^2)$; then ${\rm TV}(q_{t_N}, p_\delta) \le 2\varepsilon_{\rm TV}$
  with $\varepsilon_\chi = \varepsilon_{\rm TV}$.

**As a bound on a setting.** With every $O(\cdot)$ constant and $c$ set to 1 and $\varepsilon_\chi =
\varepsilon_{\rm TV} = \varepsilon$, each condition holds for all $\varepsilon$ above a threshold (all are
monotone in $\varepsilon$ once $R_0$ is chosen minimal for that $\varepsilon$): the bound is
$2\varepsilon^\star$, $\varepsilon^\star = \max$ of the thresholds of the horizon condition (reported as the
``initialisation`` term), the step condition (``discretisation``) and the score condition (``score``), each
term being $2\times$ its threshold (``combine="max"``). We read $T = \ln(16R_0^2/\varepsilon^2)$ as a minimum
horizon (the initialisation error only decreases with $T$). If no $\varepsilon < \tfrac12$ works the theorem
says nothing: the result is inapplicable with the binding condition. The step-count and exponent statements
below are our derivation (``theorem-statements.md`` §1.5).
"""

from __future__ import annotations

import math

import torch

from sgmbench.bounds.base import (
    DERIVED,
    EXPONENTIAL_INTEGRATOR,
    VERIFIED,
    Assumption,
    Bound,
    Exponent,
    InapplicableError,
    Source,
    Term,
    llt_clock,
    needs_early_stopping,
    needs_sampler,
    needs_vp,
)
from sgmbench.errors import SgmbenchError

SOURCE = Source(
    authors="Lee, Lu, Tan",
    year=2023,
    where="Theorem 7.2 (p. 31-32)",
    arxiv="2209.12381",
    title="Convergence of score-based generative modeling for general data distributions",
    venue="ALT 2023",
)


def tail_radius(ctx):
    r"""$\eta \mapsto R(\eta)$ with $P(\|X_0\| > R(\eta)) \le \eta$ (Assumption 6), or ``None`` if unknown."""
    c = ctx.constants
    if c.support_radius is not None and math.isfinite(c.support_radius):
        R = float(c.support_radius)
        return lambda eta: R
    if getattr(ctx.target, "is_gaussian", False) and c.cov_eigenvalues is not None:
        tr = float(sum(c.cov_eigenvalues))
        lam_max = float(max(c.cov_eigenvalues))
        mu = float(c.mean_norm)
        return lambda eta: mu + math.sqrt(tr) + math.sqrt(2.0 * lam_max * math.log(1.0 / eta))
    return None


def _llt_quantities(ctx) -> dict:
    u = llt_clock(ctx.process, ctx.grid)
    times = u[:-1]
    s2 = ctx.sigma2(ctx.score_times)
    eps_sigma = float((s2 * torch.sqrt(ctx.score_error_sq.clamp_min(0.0))).max())
    return {
        "T": float(u[0]),
        "delta": float(u[-1]),
        "u": times,
        "h": u[:-1] - u[1:],
        "eps_sigma": eps_sigma,
        "d": ctx.dim,
    }


def minimal_r0(R_of_eta, eps: float, q: dict) -> float:
    r"""Smallest $R_0 \ge \sqrt d$ with $R(\varepsilon^{15}\delta^6/(R_0^{19}d^5)) \le R_0$ (fixed-point
    iteration, increasing)."""
    d, delta = q["d"], q["delta"]
    R0 = math.sqrt(d)
    for _ in range(200):
        log_eta = 15 * math.log(eps) + 6 * math.log(delta) - 19 * math.log(R0) - 5 * math.log(d)
        eta = math.exp(min(log_eta, 0.0)) if log_eta > -700 else 1e-300
        new = max(math.sqrt(d), R_of_eta(eta))
        if new <= R0 * (1 + 1e-12):
            return max(R0, new)
        R0 = new
    return R0


def _conditions(case: int, R_of_eta, q: dict, eps: float) -> dict[str, bool]:
    """Which of Theorem 7.2's conditions hold at ``eps`` (all O-constants 1)."""
    d, T, delta = q["d"], q["T"], q["delta"]
    R0 = minimal_r0(R_of_eta, eps, q)
    log_T_delta = math.log(T / delta)
    log_2 = max(math.log(R0) + math.log(d) - math.log(delta) - 2 * math.log(eps), 1e-300)
    if case == 1:
        B = R0**4 * d * log_T_delta * log_2
        score_ok = q["eps_sigma"] <= eps**6.5 * delta**2.5 / B**2.25
        w = torch.maximum(q["u"], q["u"] ** -3)
    else:
        C = R0**2
        B = C**2 * d * log_T_delta * log_2
        score_ok = q["eps_sigma"] <= eps**4 / (T**2.5 * B)
        w = torch.maximum(q["u"], 1.0 / q["u"])
    step_ok = float((q["h"] * B * w).max()) <= eps**2
    horizon_ok = T >= math.log(16.0) + 2 * math.log(R0) - 2 * math.log(eps)
    return {"initialisation": horizon_ok, "discretisation": step_ok, "score": score_ok}


def _threshold(case: int, R_of_eta, q: dict, which: str) -> float:
    """Smallest $\\varepsilon \\in (0, 1/2)$ meeting one condition (bisection in $\\log\\varepsilon$); ``inf``
    if none."""
    hi = 0.5 * (1 - 1e-12)
    if not _conditions(case, R_of_eta, q, hi)[which]:
        return math.inf
    lo = 1e-300
    if _conditions(case, R_of_eta, q, lo)[which]:
        return 0.0
    llo, lhi = math.log(lo), math.log(hi)
    for _ in range(200):
        mid = 0.5 * (llo + lhi)
        if _conditions(case, R_of_eta, q, math.exp(mid))[which]:
            lhi = mid
        else:
            llo = mid
        if lhi - llo < 1e-10:
            break
    return math.exp(lhi)


def thm72_terms(case: int):
    """The ``compute`` of Theorem 7.2, case 1 or 2 (module docstring)."""

    def compute(ctx) -> list[Term]:
        r"""LLT Thm 7.2: $2\times$ the smallest $\varepsilon < 1/2$ meeting each condition (horizon, steps,
        score).

        The bound is the largest of the three (``combine="max"``), $2\varepsilon^\star$ with
        $\varepsilon^\star = \max$ of the thresholds; all $O(\cdot)$ constants are 1; LLT clock $u = B(t)$.
        """
        R_of_eta = tail_radius(ctx)
        q = _llt_quantities(ctx)
        thresholds = {
            w: _threshold(case, R_of_eta, q, w) for w in ("initialisation", "discretisation", "score")
        }
        eps = max(thresholds.values())
        if not math.isfinite(eps):
            bad = [w for w, v in thresholds.items() if not math.isfinite(v)]
            raise InapplicableError(
                "Theorem 7.2 conditions",
                f"no eps < 1/2 satisfies the {', '.join(bad)} condition(s) (O-constants 1; "
                f"T={q['T']:.3g}, delta={q['delta']:.3g}, max h={float(q['h'].max()):.3g}, "
                f"eps_sigma={q['eps_sigma']:.3g} "
                "in the LLT clock)",
            )
        if not all(_conditions(case, R_of_eta, q, eps * (1 + 1e-9)).values()):
            raise InapplicableError(
                "Theorem 7.2 conditions", f"conditions not jointly met at eps = {eps:.4g}"
            )
        r0 = minimal_r0(R_of_eta, max(eps, 1e-300), q)
        note = f"eps* = {eps:.4g}, R_0 = {r0:.4g}, eps_sigma = {q['eps_sigma']:.3g}"
        return [
            Term(w, 2.0 * thresholds[w], VERIFIED, scaled=False, note=note if w == "score" else "")
            for w in ("initialisation", "discretisation", "score")
        ]

    return compute


def schedule(process, horizon: float, delta: float, scale: float, case: int = 2) -> torch.Tensor:
    r"""Lee–Lu–Tan's step-size schedule as a grid of forward times (Thm 7.2; p. 35 for its shape).

    In the LLT clock $u = B(t)$, steps $h = $ ``scale``$/\max\{u, u^{-3}\}$ (case 1) or
    ``scale``$/\max\{u, u^{-1}\}$ (case 2) from $u = B(T)$ down to $B(\delta)$; ``scale`` plays the role of
    $\varepsilon_\chi^2/B$. Mapped back to forward times with ``process.time_at_snr`` (VP:
    ${\rm SNR} = 1/(e^{u} - 1)$). Derived from the theorem's $h_k$ (the paper's own $O(\cdot)$ schedule).
    """
    u_top = float(llt_clock(process, horizon))
    u_bot = float(llt_clock(process, delta))
    if not (0 < u_bot < u_top) or scale <= 0:
        raise SgmbenchError(
            f"LLT schedule needs 0 < delta < T and scale > 0 (u in [{u_bot:.3g}, {u_top:.3g}])"
        )
    us = [u_top]
    while us[-1] > u_bot:
        u = us[-1]
        w = max(u, u**-3) if case == 1 else max(u, 1.0 / u)
        nxt = u - scale / w
        us.append(nxt if nxt > u_bot * (1 + 1e-12) else u_bot)
    u = torch.tensor(us, dtype=torch.float64)
    times = process.time_at_snr(1.0 / torch.expm1(u[1:-1]), t_max=float(horizon))
    ends = torch.tensor([float(horizon), float(delta)], dtype=torch.float64)
    return torch.cat([ends[:1], times, ends[1:]])


def _tails() -> Assumption:
    def check(ctx):
        ok = tail_radius(ctx) is not None
        return (
            ok,
            "tail radius R(eta) known (bounded support or Gaussian)"
            if ok
            else f"no tail bound for {ctx.target!r}",
        )

    return Assumption("tails (Assumption 6)", "P(|X_0| > R(eta)) <= eta with R(eta) known", check)


def _hessian() -> Assumption:
    def check(ctx):
        m0 = ctx.constants.strong_log_concavity
        ok = m0 is not None and m0 >= 0
        return ok, f"log-concave data give |grad^2 ln p_t| <= 1/sigma_t^2 (m_0 = {m0})"

    return Assumption(
        "Hessian bound (Assumption 3)", "|grad^2 ln p_t| <= C/sigma_t^2 (here C = 1 <= R_0^2)", check
    )


def _delta_small() -> Assumption:
    def check(ctx):
        dl = float(llt_clock(ctx.process, ctx.delta))
        return 0 < dl < 0.5, f"delta = {dl:.4g} in the LLT clock (needs 0 < delta < 1/2)"

    return Assumption("early stopping", "0 < delta < 1/2 (LLT clock)", check)


_COMMON = (
    needs_vp(),
    needs_sampler(EXPONENTIAL_INTEGRATOR),
    needs_early_stopping(),
    _delta_small(),
    _tails(),
)

CASE1 = Bound(
    name="llt2023-thm7.2",
    uses=("support_radius", "cov_eigenvalues", "mean_norm"),
    metric="tv",
    reference="early-stopped",
    compares="TV(generated, p_delta)",
    source=SOURCE,
    provenance=VERIFIED,
    assumptions=_COMMON,
    exponents=(
        Exponent("N", -0.5, regime="step-limited: eps^2 >= h B max(u, u^-3)", provenance=DERIVED),
        Exponent("delta", -1.5, regime="uniform steps, step-limited near u = delta", provenance=DERIVED),
        Exponent("d", 1.5, regime="step-limited, R_0 ~ sqrt(d) so B ~ d^3", provenance=DERIVED),
        Exponent("eps", 2.0 / 13.0, regime="score-limited: eps^(13/2) ~ eps_sigma", provenance=DERIVED),
    ),
    compute=thm72_terms(1),
    constant_unspecified=True,
    combine="max",
    score_error="per step, sigma-scaled: eps_sigma = max_k sigma_{t_k}^2 eps_{t_k} (Assumption 1)",
    notes="all O(.) constants set to 1 (not a multiplicative constant); eps_chi = eps_TV",
)

CASE2 = Bound(
    name="llt2023-thm7.2-hessian",
    uses=("support_radius", "cov_eigenvalues", "mean_norm", "strong_log_concavity"),
    metric="tv",
    reference="early-stopped",
    compares="TV(generated, p_delta)",
    source=SOURCE,
    provenance=VERIFIED,
    assumptions=_COMMON + (_hessian(),),
    exponents=(
        Exponent("N", -0.5, regime="step-limited: eps^2 >= h B max(u, 1/u)", provenance=DERIVED),
        Exponent("delta", -0.5, regime="uniform steps, step-limited near u = delta", provenance=DERIVED),
        Exponent("d", 1.5, regime="step-limited, C = R_0^2 ~ d so B ~ d^3", provenance=DERIVED),
        Exponent("eps", 0.25, regime="score-limited: eps^4 ~ eps_sigma", provenance=DERIVED),
    ),
    compute=thm72_terms(2),
    constant_unspecified=True,
    combine="max",
    score_error="per step, sigma-scaled: eps_sigma = max_k sigma_{t_k}^2 eps_{t_k} (Assumption 1)",
    notes="case 2 of Thm 7.2 (Hessian bound, C = R_0^2); all O(.) constants set to 1; eps_chi = eps_TV",
)

BOUNDS = (CASE1, CASE2)

# Theorems 2.1-2.3 are complexity statements (no value on one setting): exponents as data.
# N exponents are our substitution into Thm 7.2 (theorem-statements.md §1.5, DERIVED); the required
# score accuracies are as printed (VERIFIED).
COMPLEXITY = {
    "llt2023-thm2.1": {
        "statement": "scaled output eps_TV-close in TV to a law eps_W-close in W2 to P_data "
        "(bounded support)",
        "N": {"d": 3.0, "R": 4.0, "eps_TV": -2.0, "eps_W": -4.0, "provenance": DERIVED},
        "eps_sigma": {"eps_TV": 6.5, "eps_W": 5.0, "R": -9.0, "d": -4.75, "provenance": VERIFIED},
        "eps_sigma_hessian": {"eps_TV": 4.0, "C": -2.0, "d": -1.0, "provenance": VERIFIED},
        "delta": "eps_W^2 / (2d) (p. 36)",
    },
    "llt2023-thm2.2": {
        "statement": "W2(truncated output, P_data) <= eps_W (bounded support)",
        "N": {"d": 3.0, "R": 8.0, "eps_W": -8.0, "provenance": DERIVED},
        "eps_sigma": {"eps_W": 18.0, "R": -22.0, "d": -4.75, "provenance": VERIFIED},
        "eps_sigma_hessian": {"eps_W": 8.0, "C": -2.0, "R": -8.0, "d": -1.0, "provenance": VERIFIED},
        "delta": "eps_W^2 / (8d) (p. 36)",
    },
    "llt2023-thm2.3": {
        "statement": "TV(output, P_data) <= eps_TV (V L-smooth, subexponential data)",
        "N": {"d": 1.0, "R": 8.0, "L": 4.0, "eps_TV": -6.0, "provenance": DERIVED},
        "eps_sigma": {"eps_TV": 11.5, "R": -14.0, "d": -2.25, "L": -5.0, "provenance": VERIFIED},
        "eps_sigma_hessian": {"eps_TV": 4.0, "C": -2.0, "d": -1.0, "provenance": VERIFIED},
        "delta": "O(eps_TV^2 / (R_0^2 L^2)) (Thm 7.3)",
    },
}
