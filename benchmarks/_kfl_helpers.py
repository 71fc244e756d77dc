r"""Helpers of the ``kwon-fan-lee`` study: KFL's discrete DDPM as a forward process, the discrete
losses, the Cor. 1 intercept from one-sided Lipschitz estimates, and the $W_2$ measurements.

**KFL's DDPM as a continuous-time VP process** (``ddpm-sigmoid``). Kwon–Fan–Lee 2022 (arXiv
2212.06359, Sec. 5; authors' notebook ``Score_Wasserstein.ipynb``, ``make_beta_schedule``) use a discrete
DDPM with $N = 10$ steps and the sigmoid schedule

$$\beta_i = \beta_{\rm start} + (\beta_{\rm end} - \beta_{\rm start})\,{\rm sigmoid}(u_i),\quad
u = {\rm linspace}(-6, 6, N),\quad \beta_{\rm start} = 10^{-5},\ \beta_{\rm end} = 10^{-2},$$

$x_i = \sqrt{1-\beta_i}\,x_{i-1} + \sqrt{\beta_i}\,z_i$. We map it to the VP SDE
$dX = -\tfrac12\tilde\beta(t)X\,dt + \sqrt{\tilde\beta(t)}\,dW$ with $\tilde\beta(t) = \tilde\beta_i :=
-\log(1-\beta_i)$ constant on the unit interval $(i-1, i]$ (derived here). Then one unit of time is exactly
one DDPM step: $\alpha_i^2 = e^{-\sum_{j\le i}\tilde\beta_j} = \prod_{j\le i}(1-\beta_j) = \bar\alpha_i$, so
the marginals at integer times $t = i$ are the DDPM marginals, and :func:`sgmbench.samplers.ddpm_ancestral` on
the integer grid $N, N-1, \dots, 0$ (score at $t = i$ for the step $i \to i-1$) is *exactly* the
notebook's ``p_sample``: $x \mapsto (x + \beta_i s)/\sqrt{1-\beta_i} + \sqrt{\beta_i}z$ with
$s = -\epsilon_\theta/\sqrt{1-\bar\alpha_i}$. $\tilde\beta_i$ and $\beta_i$ differ by less than 0.5 % for
$\beta_i \le 10^{-2}$.

**Discrete KFL quantities** (the notebook's, in our units). With $g^2 = \tilde\beta$ and
$L_f = f = \tilde\beta/2$ on $(i-1, i]$, and the one-sided Lipschitz constant $L_{s,i}$ of the model score
at $t = i$ held constant on that interval (the DDPM only ever evaluates the score at integer times):

- $J_{DSM} = \tfrac12\sum_i\tilde\beta_i\,E\|s_\theta(x_i, i) + z/\sigma_i\|^2$ and
  $J_{SM} = \tfrac12\sum_i\tilde\beta_i\,E_{p_i}\|s_\theta(x, i) - \nabla\log p_i(x)\|^2$ (right-endpoint
  Riemann sums of KFL's $\tfrac12\int g^2(\cdot)dt$; the notebook's loss
  $\sum_i\frac{\beta_i}{1-\bar\alpha_i}{\rm mean}_{\rm coord}|\epsilon-\epsilon_\theta|^2$ is $2J_{DSM}/d$,
  i.e. $J_{DSM}$ in 2-D);
- $I(t) = \exp\int_0^t(L_f + L_sg^2) = \exp(R_{i-1} + r_i(t - i + 1))$ on $(i-1, i]$ with
  $r_i = \tilde\beta_i(L_{s,i} + \tfrac12)$, $R_i = \sum_{j\le i}r_j$; then exactly
  $\int_0^Ng^2I^2 = \sum_i\tilde\beta_ie^{2R_{i-1}}(e^{2r_i}-1)/(2r_i)$ and
  $\int_0^Ng^2I\sqrt b = \sum_i\tilde\beta_ie^{R_{i-1}}\frac{e^{r_i}-1}{r_i}\sqrt{b_i}$ (the notebook uses the
  right-endpoint sum $\sum_i\beta_iI_i^2$; the difference is $O(r_i)$);
- the **Cor. 1 line**: $\log W_2 \le \tfrac12\log J + \tfrac12\log\big(2\int_0^Ng^2I^2\big)$ (plus the
  offset $I(N)W_2(p_N, q_N)$, zero when $q_N = p_N$ as in KFL's Fig. 2).

$L_{s,i}$ is estimated by :func:`sgmbench.training.one_sided_lipschitz` (max over samples of $p_i$, points
on segments between them and difference quotients over pairs): a lower estimate of the supremum over
$\mathbb R^2$, so the intercept computed from it is a lower estimate of the theorem's (KFL's notebook takes
the max over pairs of a 10×10 grid in $[0, 0.9]^2$).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch

from sgmbench.errors import SgmbenchError
from sgmbench.processes import VarPreserving, as_time, forward_processes
from sgmbench.registry import check_positive

DTYPE = torch.float64
PROCESS_NAME = "ddpm-sigmoid"


# ------------------------------------------------------------------------------------------------
# KFL's DDPM schedule as a forward process
# ------------------------------------------------------------------------------------------------
def sigmoid_betas(num_steps: int, beta_start: float = 1e-5, beta_end: float = 1e-2) -> torch.Tensor:
    r"""KFL's ``make_beta_schedule('sigmoid', N, start, end)``:
    $\beta_i = {\rm start} + ({\rm end}-{\rm start})\,{\rm sigmoid}({\rm linspace}(-6, 6, N))_i$, float64
    ``[N]``."""
    u = torch.linspace(-6.0, 6.0, int(num_steps), dtype=DTYPE)
    return torch.sigmoid(u) * (beta_end - beta_start) + beta_start


class DDPMSigmoid(VarPreserving):
    r"""VP SDE with piecewise-constant $\tilde\beta(t) = -\log(1-\beta_i)$ on $(i-1, i]$, $\beta_i$ KFL's
    sigmoid schedule (module docstring): integer times are DDPM steps. Default horizon $T = N$."""

    name = PROCESS_NAME
    source = (
        "Kwon-Fan-Lee 2022 (arXiv 2212.06359) Sec. 5, notebook make_beta_schedule('sigmoid'); mapping derived"
    )
    provenance = "derived"

    def __init__(self, num_steps: int = 10, beta_start: float = 1e-5, beta_end: float = 1e-2):
        if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
            raise SgmbenchError(f"num_steps must be an integer >= 1, got {num_steps!r}")
        lo, hi = check_positive("beta_start", beta_start), check_positive("beta_end", beta_end)
        if not (lo <= hi < 1):
            raise SgmbenchError(f"need 0 < beta_start <= beta_end < 1, got {beta_start}, {beta_end}")
        super().__init__(num_steps=num_steps, beta_start=beta_start, beta_end=beta_end)
        self.num_steps = int(num_steps)
        self.betas = sigmoid_betas(num_steps, lo, hi)
        self.rates = -torch.log1p(-self.betas)  # beta tilde
        self.cumulative = torch.cat([torch.zeros(1, dtype=DTYPE), torch.cumsum(self.rates, 0)])
        self.default_horizon = float(num_steps)

    def beta(self, t):
        t = as_time(t)
        idx = (torch.ceil(t) - 1).clamp(0, self.num_steps - 1).long()
        return self.rates[idx]

    def integrated_beta(self, t):
        t = as_time(t)
        k = torch.floor(t).clamp(0, self.num_steps - 1)
        ki = k.long()
        return self.cumulative[ki] + self.rates[ki] * (t - k)


if PROCESS_NAME not in forward_processes:  # the module may be imported under two names
    forward_processes.register(
        PROCESS_NAME,
        summary="KFL's discrete DDPM (sigmoid beta schedule, N steps) as a VP SDE: one time unit = one step",
        source=DDPMSigmoid.source,
    )(DDPMSigmoid)


def ddpm_process(num_steps: int, beta_start: float = 1e-5, beta_end: float = 1e-2) -> str:
    """The spec string of KFL's DDPM process with ``num_steps`` steps."""
    return f"{PROCESS_NAME}:beta_end={beta_end!r},beta_start={beta_start!r},num_steps={int(num_steps)}"


# ------------------------------------------------------------------------------------------------
# Discrete losses on a fixed evaluation set
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class DiscreteEval:
    """Fixed draws at the integer times $1..N$: ``x`` ``[N m, d]``, ``z``, times, $\\sigma$, true scores."""

    times: torch.Tensor  # [N m] float64 (integers)
    x: torch.Tensor
    z: torch.Tensor
    sigma: torch.Tensor  # [N m, 1]
    true_score: torch.Tensor | None
    rates: torch.Tensor  # [N] beta tilde
    per_time: int


def make_discrete_eval(target, process, m: int = 256, seed: int = 0) -> DiscreteEval:
    """``m`` draws $x_i = \\alpha_i x_0 + \\sigma_i z$ at every integer time $i = 1..N$ (seeded)."""
    N = process.num_steps
    gen = torch.Generator().manual_seed(int(seed))
    times = torch.arange(1, N + 1, dtype=DTYPE).repeat_interleave(m)
    x0 = target.sample(N * m, generator=gen, dtype=DTYPE).to(DTYPE)
    z = torch.randn(x0.shape, generator=gen, dtype=DTYPE)
    alpha = process.alpha(times).reshape(-1, 1)
    sigma = process.sigma(times).reshape(-1, 1)
    x = alpha * x0 + sigma * z
    true = torch.empty_like(x)
    try:
        for i in range(N):
            rows = slice(i * m, (i + 1) * m)
            true[rows] = target.noised(process, float(i + 1)).score(x[rows]).to(DTYPE)
        if not bool(torch.isfinite(true).all()):
            true = None
    except (SgmbenchError, NotImplementedError):
        true = None
    return DiscreteEval(times, x, z, sigma, true, process.rates.clone(), m)


def model_scores(score, x: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
    """Scores at per-row times: a learned score's batched network pass, else per distinct time."""
    if hasattr(score, "network_scores"):
        return score.network_scores(x, times)
    out = torch.empty_like(x)
    with torch.no_grad():
        for t in torch.unique(times):
            rows = times == t
            out[rows] = score.evaluate(x[rows], float(t)).to(DTYPE)
    return out


def discrete_losses(score, ev: DiscreteEval) -> dict[str, Any]:
    r"""$J_{DSM}$, $J_{SM}$ (module docstring), their standard errors and the per-time
    $b_i = E\|s - \nabla\log p_i\|^2$."""
    s = model_scores(score, ev.x, ev.times).to(DTYPE)
    N, m = ev.rates.numel(), ev.per_time
    dsm = ((s + ev.z / ev.sigma) ** 2).sum(-1).reshape(N, m)
    out: dict[str, Any] = {}
    w = 0.5 * ev.rates
    out["j_dsm"] = float((w * dsm.mean(1)).sum())
    out["j_dsm_se"] = float(torch.sqrt((w**2 * dsm.var(1) / m).sum()))
    if ev.true_score is not None:
        sm = ((s - ev.true_score) ** 2).sum(-1).reshape(N, m)
        out["j_sm"] = float((w * sm.mean(1)).sum())
        out["j_sm_se"] = float(torch.sqrt((w**2 * sm.var(1) / m).sum()))
        out["b"] = [float(v) for v in sm.mean(1)]
    else:
        out.update(j_sm=None, j_sm_se=None, b=None)
    return out


# ------------------------------------------------------------------------------------------------
# Cor. 1 / Thm 1 with piecewise-constant rates
# ------------------------------------------------------------------------------------------------
def _expm1_over(x: torch.Tensor) -> torch.Tensor:
    """$(e^x - 1)/x$, 1 at 0."""
    small = x.abs() < 1e-8
    safe = torch.where(small, torch.ones_like(x), x)
    return torch.where(small, 1.0 + 0.5 * x, torch.expm1(safe) / safe)


def kfl_constants(Ls, rates, b=None) -> dict[str, Any]:
    r"""$\int_0^Ng^2I^2$, the Cor. 1 intercept $\tfrac12\log(2\int g^2I^2)$, $\log I(N)$ and (given $b_i$) the
    Thm 1 score term $\int_0^Ng^2I\sqrt b$, for piecewise-constant $L_{s,i}$ and $\tilde\beta_i$
    (module docstring).
    Computed in log space (``log_int_g2_I2``) so that huge $L_s$ (during gradient ascent) do not overflow."""
    Ls = torch.as_tensor(np.asarray(Ls, dtype=float), dtype=DTYPE)
    rates = torch.as_tensor(rates, dtype=DTYPE)
    r = rates * (Ls + 0.5)
    R = torch.cumsum(r, 0)
    R_prev = R - r
    # log of beta_i e^{2R_{i-1}} (e^{2r}-1)/(2r), stable for large |r|
    two_r = 2 * r
    log_factor = torch.where(
        two_r > 30, two_r - torch.log(two_r), torch.log(_expm1_over(two_r).clamp_min(1e-300))
    )
    log_terms = torch.log(rates) + 2 * R_prev + log_factor
    log_int = float(torch.logsumexp(log_terms, 0))
    out = {
        "log_int_g2_I2": log_int,
        "intercept": 0.5 * (math.log(2.0) + log_int),
        "log_I_T": float(R[-1]),
        "log_I": [float(v) for v in R],
    }
    if b is not None:
        bt = torch.as_tensor(np.asarray(b, dtype=float), dtype=DTYPE).clamp_min(0)
        log_f1 = torch.where(r > 30, r - torch.log(r), torch.log(_expm1_over(r).clamp_min(1e-300)))
        lt = torch.log(rates) + R_prev + log_f1 + 0.5 * torch.log(bt.clamp_min(1e-300))
        out["log_thm1_score"] = float(torch.logsumexp(lt, 0))
    return out


# ------------------------------------------------------------------------------------------------
# Sampling and W2
# ------------------------------------------------------------------------------------------------
def ddpm_sample(
    score, process, num_samples: int, generator: torch.Generator, *, initial: str = "exact", target=None
):
    r"""KFL's DDPM: :func:`sgmbench.samplers.ddpm_ancestral` on the integer grid $N, \dots, 0$, started from
    ``initial``: ``exact`` ($q_N = p_N$: forward-noised fresh data, KFL Fig. 2 ``noise_last_step``),
    ``standard-normal`` ($N(0, I)$, KFL Fig. 4) or ``gaussian`` ($N(0, \sigma_N^2I)$, our convention)."""
    from sgmbench.brownian import IndependentNoise
    from sgmbench.grids import make_grid
    from sgmbench.samplers import get_sampler, initial_points

    N = process.num_steps
    grid = make_grid("uniform", process, float(N), 0.0, N)
    d = target.dim
    if initial == "standard-normal":
        x0 = torch.randn(int(num_samples), d, generator=generator, dtype=DTYPE)
    else:
        x0 = initial_points(
            process, float(N), int(num_samples), prior=initial, target=target, generator=generator
        )
    noise = IndependentNoise(int(num_samples), d, generator=generator)
    with torch.no_grad():
        res = get_sampler("ddpm-ancestral")(process, grid, score, x0, noise, max_norm=1e6)
    if not res.ok:
        return None, res.failure
    return res.samples.detach().to(torch.float64), None


def w2_records(
    samples,
    target,
    seed: int,
    *,
    sliced_n: int | None = 128,
    floor: bool = True,
    reference=None,
    fast: bool = False,
) -> dict[str, dict]:
    r"""$W_2$ by exact OT (POT ``emd2``) against a target sample of the same size (``reference``, or a
    fresh one drawn with ``seed``), with its noise floor; sliced $W_2$ on the same points (what KFL's
    notebook computes, with 128 points); and, with ``sliced_n``, the notebook's own 128-point, 50-projection
    sliced value. ``fast``: the sliced values by one POT call each, without standard error or floor."""
    import ot

    from sgmbench.metrics import estimate

    out = {}
    n = samples.shape[0]
    if reference is None:
        reference = target.sample(n, generator=torch.Generator().manual_seed(int(seed)))
    reference = reference[:n]
    rec = estimate("w2", samples, target, seed=seed, estimator="ot-exact", floor=floor, reference=reference)
    out["w2"] = _record(rec)
    x, y = samples.numpy(), reference.numpy()
    if fast:
        v = float(ot.sliced_wasserstein_distance(x, y, n_projections=200, seed=int(seed) % 2**31))
        out["sliced_w2"] = {"value": v, "exact": False, "stderr": None, "floor": None}
    else:
        rec = estimate(
            "sliced_w2",
            samples,
            target,
            seed=seed,
            estimator="sliced:n_projections=200",
            floor=floor,
            reference=reference,
        )
        out["sliced_w2"] = _record(rec)
    if sliced_n is not None and n >= sliced_n:
        v = float(
            ot.sliced_wasserstein_distance(
                x[:sliced_n], y[:sliced_n], n_projections=50, seed=int(seed) % 2**31
            )
        )
        out["sliced_w2_128"] = {
            "value": v,
            "exact": False,
            "stderr": None,
            "floor": None,
            "estimator": "POT sliced_wasserstein_distance, 128 points, 50 projections (KFL notebook)",
        }
    return out


def _record(rec) -> dict[str, Any]:
    d = rec.as_dict()
    d.pop("metric", None)
    for k in ("stderr", "floor", "ci_low", "ci_high", "floor_stderr", "runtime_s"):
        v = d.get(k)
        if isinstance(v, float) and not math.isfinite(v):
            d[k] = None
    d["exact"] = bool(d.get("exact", False))
    return d


def plain_record(
    value: float,
    *,
    stderr: float | None = None,
    floor: float | None = None,
    exact: bool = False,
    **fields: Any,
) -> dict[str, Any]:
    """A metric record of the outcome contract (value, exact, stderr, floor) plus ``fields``."""
    v = float(value) if value is not None else float("nan")
    return {"value": v, "exact": bool(exact), "stderr": stderr, "floor": floor, **fields}
