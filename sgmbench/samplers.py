r"""Reverse-time samplers: plain functions with one signature, orders declared as data.

Every sampler is ``fn(process, grid, score, x_init, noise=None, *, max_norm=None, **params) ->
SampleResult`` (k-diffusion's ``sample_*`` functions; the grid is an explicit input, built by
:mod:`sgmbench.grids`). ``grid`` is a decreasing tensor of forward times $T = t_0 > \dots > t_N = \delta$;
step $k$ maps an approximate sample of $p_{t_k}$ to one of $p_{t_{k+1}}$ with $h_k = t_k - t_{k+1}$,
$f_k = f(t_k)$, $g_k^2 = g(t_k)^2$; ``score(x, t)`` is any callable $\approx\nabla\log p_t(x)$ on ``[n, d]``
tensors; ``noise`` is a :class:`~sgmbench.brownian.NoiseSource` (a shared
:class:`~sgmbench.brownian.BrownianPath` for common random numbers, or fresh normals when ``None``).

Most samplers are *single-stage and linear in the score*:
$$x_{k+1} = r_k\,x_k + \gamma_k\,s(x_k, t_k) + \eta_k\,Z_k,$$
with coefficients that depend on the process and the grid only (:class:`LinearStep`). The same
coefficients drive the sampler here and the exact Gaussian law in :mod:`sgmbench.exact`
(metrics-and-exact.md §3.2 table), so the two cannot drift apart.

Orders are data (torchsde's ``weak_order``/``strong_order``, diffrax's ``order``): see
:class:`SamplerInfo`, :func:`sampler_info`. A run that produces non-finite values or norms beyond
``max_norm`` stops and returns a :class:`SampleResult` with ``failure`` and ``failed_step`` set
(never a crash, never a silent NaN).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable
from typing import Any

import torch

from sgmbench.brownian import IndependentNoise, NoiseSource
from sgmbench.errors import DivergenceError, SgmbenchError
from sgmbench.grids import check_grid
from sgmbench.registry import Registry

DTYPE = torch.float64
DEFAULT_BLOWUP = 1e6


# ------------------------------------------------------------------------------------------------
# Results and metadata
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class SampleResult:
    """Output of a sampler: ``samples`` ``[n, d]`` (``None`` on failure), score evaluations ``nfe``,
    and on divergence a one-line ``failure`` message with the 0-based ``failed_step``."""

    samples: torch.Tensor | None
    nfe: int
    failure: str | None = None
    failed_step: int | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    def raise_for_failure(self) -> SampleResult:
        """Raise :class:`DivergenceError` (carrying ``step``) if the run failed; else return ``self``."""
        if self.failure is not None:
            raise DivergenceError(self.failure, step=self.failed_step)
        return self


@dataclasses.dataclass(frozen=True)
class SamplerInfo:
    r"""Theory facts about one sampler, as data.

    - ``weak_order``: $p$ with $|E\phi(\hat X) - E\phi(X)| = O(h^p)$ for smooth $\phi$ (exact score,
      exact initial law); for the probability-flow samplers the (deterministic) order of the ODE solver;
    - ``strong_order``: order of $E\|\hat X - X\|$ with a shared Brownian path (additive noise), equal to
      ``weak_order`` for deterministic samplers;
    - ``deterministic``: no noise (probability-flow ODE);
    - ``score_evals_per_step``: nominal NFE per step (the run reports the actual count);
    - ``consistent``: the output law tends to $p_\delta$ as $N\to\infty$ (exact score, exact $p_T$);
      ``False`` means a bias that does not vanish with $N$ (the declared orders are then 0);
    - ``source``: paper and equation.
    """

    name: str
    function: Callable[..., SampleResult]
    weak_order: float
    strong_order: float
    deterministic: bool
    score_evals_per_step: int
    consistent: bool
    source: str
    summary: str


class Sampler:
    """A registered sampler bound to its parameters (from a spec such as ``predictor-corrector:snr=0.1``)."""

    def __init__(self, info: SamplerInfo, params: dict[str, Any]):
        self.info = info
        self.params = dict(params)

    @property
    def name(self) -> str:
        return self.info.name

    def __call__(
        self, process, grid, score, x_init: torch.Tensor, noise: NoiseSource | None = None, *, max_norm=None
    ) -> SampleResult:
        return self.info.function(process, grid, score, x_init, noise, max_norm=max_norm, **self.params)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "params": dict(self.params)}

    def __repr__(self) -> str:
        args = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.name}:{args}" if args else self.name


samplers: Registry[Sampler] = Registry("sampler")
_INFO: dict[str, SamplerInfo] = {}


def _register(
    name: str,
    *,
    weak_order: float,
    strong_order: float,
    deterministic: bool,
    score_evals_per_step: int,
    source: str,
    consistent: bool = True,
):
    """Register a sampler function under ``name`` with its orders; its keyword-only tunables become
    the registry parameters (so ``samplers.create("pf-exponential:parametrization=score")`` works)."""

    def deco(fn):
        doc = (inspect.getdoc(fn) or "").strip().splitlines()
        info = SamplerInfo(
            name=name,
            function=fn,
            weak_order=float(weak_order),
            strong_order=float(strong_order),
            deterministic=deterministic,
            score_evals_per_step=score_evals_per_step,
            consistent=consistent,
            source=source,
            summary=doc[0] if doc else "",
        )
        tunables = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind == p.KEYWORD_ONLY and p.name != "max_norm"
        ]

        def factory(**params):
            return Sampler(info, params)

        factory.__signature__ = inspect.Signature(tunables)
        factory.__doc__ = fn.__doc__
        samplers.register(name, summary=info.summary, source=source)(factory)
        _INFO[name] = info
        fn.info = info
        return fn

    return deco


def get_sampler(spec: str | Sampler) -> Sampler:
    """The sampler a spec names (``euler-maruyama``, ``predictor-corrector:snr=0.1``), or ``spec`` itself."""
    return spec if isinstance(spec, Sampler) else samplers.create(spec)


def sampler_info(name: str) -> SamplerInfo:
    """The :class:`SamplerInfo` (orders, flags, source) of a registered sampler name or spec."""
    if isinstance(name, Sampler):
        return name.info
    samplers.entry(name.split(":")[0].strip())  # one-line error listing valid names on a miss
    return _INFO[name.split(":")[0].strip()]


def available_samplers() -> list[str]:
    return samplers.names()


# ------------------------------------------------------------------------------------------------
# Step coefficients (shared with sgmbench.exact)
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class LinearStep:
    r"""Per-step coefficients of $x_{k+1} = r_k x_k + \gamma_k s(x_k, t_k) + \eta_k Z_k$ (float64 ``[N]``).

    ``clock`` names the Brownian motion $Z_k$ is the normalised increment of: ``"time"`` ($B_t$) or
    ``"rho"`` ($W^\rho$, see :mod:`sgmbench.brownian`); ``None`` for deterministic steps.
    """

    r: torch.Tensor
    gamma: torch.Tensor
    eta: torch.Tensor
    clock: str | None


def linear_step(name: str, process, grid: torch.Tensor, **params) -> LinearStep:
    """The :class:`LinearStep` of a single-stage sampler on a grid (steps $t_k \\to t_{k+1}$)."""
    if name not in LINEAR_STEPS:
        raise SgmbenchError(
            f"{name!r} is not a single-stage sampler; valid: {', '.join(sorted(LINEAR_STEPS))}"
        )
    g = check_grid(grid)
    return LINEAR_STEPS[name](process, g[:-1], g[1:], **params)


def euler_maruyama_step(process, hi: torch.Tensor, lo: torch.Tensor) -> LinearStep:
    r"""Euler–Maruyama for the reverse SDE: $r = 1 + h f_k$, $\gamma = h g_k^2$, $\eta = g_k\sqrt h$.

    Reverse SDE $dY = [f Y + g^2\nabla\log p]\,d\tau + g\,dB$ (Anderson 1982; Song et al. 2021 Eq. 6);
    metrics-and-exact.md §3.2 table, row EM.
    """
    h = hi - lo
    g2 = process.g2(hi)
    return LinearStep(1.0 + h * process.f(hi), h * g2, torch.sqrt(h * g2), "time")


def exponential_integrator_step(process, hi: torch.Tensor, lo: torch.Tensor) -> LinearStep:
    r"""Exponential integrator (linear part exact, score frozen at $t_k$) for the reverse SDE.

    $r = \alpha_{t_{k+1}}/\alpha_{t_k}$, $\gamma = \alpha_{t_{k+1}}\int_{t_{k+1}}^{t_k} g^2/\alpha\,du$,
    $\eta^2 = \alpha_{t_{k+1}}^2(\rho_{t_k} - \rho_{t_{k+1}})$. Chen et al. 2023 (arXiv 2209.11215) §2 for the
    OU case ($r = e^h$, $\gamma = 2(e^h-1)$, $\eta^2 = e^{2h}-1$); Gao–Nguyen–Zhu 2025 (arXiv 2311.11003)
    for general $f, g$ (bounds-wasserstein.md §1.2, $\Lambda_k, \Gamma_k, C_k$); metrics-and-exact.md §3.2.
    """
    r = torch.exp(process.log_alpha(lo) - process.log_alpha(hi))
    alo = process.alpha(lo)
    gamma = alo * process.int_g2_over_alpha(lo, hi)
    eta2 = alo**2 * (process.rho(hi) - process.rho(lo))
    return LinearStep(r, gamma, torch.sqrt(torch.clamp(eta2, min=0.0)), "rho")


def ddpm_ancestral_step(process, hi: torch.Tensor, lo: torch.Tensor, variance: str = "beta") -> LinearStep:
    r"""Ancestral sampling (DDPM), written for any linear forward process.

    The forward transition over one step is $X_{t_k} = a_k X_{t_{k+1}} + \sqrt{v_k}\,\xi$ with
    $a_k = \alpha_{t_k}/\alpha_{t_{k+1}}$, $v_k = \alpha_{t_k}^2(\rho_{t_k} - \rho_{t_{k+1}})$; the
    reverse step is $x \mapsto (x + v_k s(x, t_k))/a_k + \sigma Z$ with $\sigma^2 = v_k$
    (``variance="beta"``, Ho et al. 2020 Alg. 2 with $\sigma_t^2 = \beta_t$) or
    $\sigma^2 = v_k\sigma_{t_{k+1}}^2/\sigma_{t_k}^2$ (``"posterior"``, $\tilde\beta_t$).
    For VP, $a_k^2 = \bar\alpha_k/\bar\alpha_{k+1} = \alpha_k$ and $v_k = 1 - \alpha_k = \beta_k$:
    Ho et al. 2020 (arXiv 2006.11239) Eq. 11 with $\epsilon = -\sigma_t s$; for VE it is SMLD
    ancestral sampling (Song et al. 2021 Eq. 47). Generalisation to other $f, g$: derived here.
    """
    if variance not in ("beta", "posterior"):
        raise SgmbenchError(f"ddpm-ancestral: variance must be 'beta' or 'posterior', got {variance!r}")
    inv_a = torch.exp(process.log_alpha(lo) - process.log_alpha(hi))
    v = process.alpha(hi) ** 2 * (process.rho(hi) - process.rho(lo))
    v = torch.clamp(v, min=0.0)
    var = v if variance == "beta" else v * process.sigma2(lo) / process.sigma2(hi)
    return LinearStep(inv_a, v * inv_a, torch.sqrt(var), "rho")


def pf_euler_step(process, hi: torch.Tensor, lo: torch.Tensor) -> LinearStep:
    r"""Euler for the probability-flow ODE $dY/d\tau = fY + \tfrac12 g^2\nabla\log p$: $r = 1+hf_k$,
    $\gamma = \tfrac12 h g_k^2$, $\eta = 0$ (Song et al. 2021 Eq. 13; metrics-and-exact.md §3.2)."""
    h = hi - lo
    return LinearStep(1.0 + h * process.f(hi), 0.5 * h * process.g2(hi), torch.zeros_like(h), None)


def pf_exponential_step(
    process, hi: torch.Tensor, lo: torch.Tensor, parametrization: str = "noise"
) -> LinearStep:
    r"""Exponential integrator for the probability-flow ODE.

    ``parametrization="noise"`` (DDIM, $\eta = 0$): the noise prediction $\hat\varepsilon = -\sigma_t s$
    is frozen, $x_{k+1} = r x + \kappa s$ with $r = \alpha_{t_{k+1}}/\alpha_{t_k}$,
    $\kappa = r\sigma_{t_k}^2 - \sigma_{t_{k+1}}\sigma_{t_k}$ (Song, Meng, Ermon 2021, arXiv 2010.02502,
    Eq. 12 with $\sigma_t = 0$; = DPM-Solver-1, Lu et al. 2022, arXiv 2206.00927, Eq. 3.7).
    ``"score"``: the score is frozen, $\gamma = \tfrac12\alpha_{t_{k+1}}\int_{t_{k+1}}^{t_k} g^2/\alpha$
    (metrics-and-exact.md §3.2, row PF-ODE exponential integrator).
    """
    r = torch.exp(process.log_alpha(lo) - process.log_alpha(hi))
    if parametrization == "noise":
        s_hi = torch.sqrt(process.sigma2(hi))
        gamma = r * s_hi**2 - torch.sqrt(process.sigma2(lo)) * s_hi
    elif parametrization == "score":
        gamma = 0.5 * process.alpha(lo) * process.int_g2_over_alpha(lo, hi)
    else:
        raise SgmbenchError(
            f"pf-exponential: parametrization must be 'noise' or 'score', got {parametrization!r}"
        )
    return LinearStep(r, gamma, torch.zeros_like(r), None)


LINEAR_STEPS: dict[str, Callable[..., LinearStep]] = {
    "euler-maruyama": euler_maruyama_step,
    "exponential-integrator": exponential_integrator_step,
    "ddpm-ancestral": ddpm_ancestral_step,
    "pf-euler": pf_euler_step,
    "pf-exponential": pf_exponential_step,
}


def pf_drift_coefficients(process, times) -> tuple[torch.Tensor, torch.Tensor]:
    r"""$(f(t), \tfrac12 g(t)^2)$: the probability-flow drift is $f x + \tfrac12 g^2 s(x, t)$
    (Song et al. 2021 Eq. 13)."""
    return process.f(times), 0.5 * process.g2(times)


def langevin_step_size(process, times, snr: float) -> torch.Tensor:
    r"""Corrector step $\varepsilon(t) = 2(r\,\sigma_t)^2$ for target signal-to-noise ratio $r$ = ``snr``.

    Song et al. 2021 (arXiv 2011.13456) Alg. 4/5 set $\varepsilon = 2\alpha(r\|z\|/\|s\|)^2$ from the
    batch norms; we use its population proxy $\|z\|/\|s\| \approx \sigma_t$, the deterministic rule of
    score_sde's annealed-Langevin corrector (``AnnealedLangevinDynamics``,
    $\varepsilon = 2\alpha(r\sigma_t)^2$), with the DDPM factor $\alpha_i = 1 - \beta_i \to 1$.
    Deterministic steps keep the corrector affine, hence the exact Gaussian law.
    """
    return 2.0 * float(snr) ** 2 * process.sigma2(times)


def check_pc_params(predictor: str, snr: float, corrector_steps: int) -> tuple[str, float, int]:
    """Validate the predictor-corrector parameters; return them normalised."""
    if predictor not in LINEAR_STEPS:
        raise SgmbenchError(
            f"predictor-corrector: predictor must be one of {', '.join(sorted(LINEAR_STEPS))}"
        )
    if isinstance(corrector_steps, bool) or not isinstance(corrector_steps, int) or corrector_steps < 0:
        raise SgmbenchError(
            f"predictor-corrector: corrector_steps must be an integer >= 0, got {corrector_steps!r}"
        )
    try:
        snr = float(snr)
    except (TypeError, ValueError):
        raise SgmbenchError(f"predictor-corrector: snr must be a number, got {snr!r}") from None
    if not (math.isfinite(snr) and snr >= 0):
        raise SgmbenchError(f"predictor-corrector: snr must be finite and >= 0, got {snr!r}")
    return predictor, snr, corrector_steps


# ------------------------------------------------------------------------------------------------
# Running
# ------------------------------------------------------------------------------------------------
def _prepare(grid, x_init: torch.Tensor, noise: NoiseSource | None, max_norm):
    g = check_grid(grid)
    if not isinstance(x_init, torch.Tensor) or x_init.ndim != 2:
        raise SgmbenchError("x_init must be a [num_samples, dim] tensor")
    if not bool(torch.isfinite(x_init).all()):
        raise SgmbenchError("x_init holds non-finite values")
    if noise is None:
        noise = IndependentNoise(x_init.shape[0], x_init.shape[1])
    elif (noise.num_samples, noise.dim) != tuple(x_init.shape):
        raise SgmbenchError(
            f"noise is for [{noise.num_samples}, {noise.dim}] samples but x_init is {list(x_init.shape)}"
        )
    if max_norm is None:
        scale = float(x_init.norm(dim=-1).max()) if x_init.numel() else 0.0
        max_norm = DEFAULT_BLOWUP * max(1.0, scale)
    return g, noise, float(max_norm)


def _check(x: torch.Tensor, k: int, grid: torch.Tensor, max_norm: float) -> str | None:
    """One-line failure message if after step ``k`` ``x`` is non-finite or a row norm exceeds ``max_norm``."""
    where = f"at step {k} (t={float(grid[k]):.6g} -> {float(grid[k + 1]):.6g})"
    if not bool(torch.isfinite(x).all()):
        return f"diverged {where}: non-finite values"
    norm = float(x.norm(dim=-1).max())
    if norm > max_norm:
        return f"diverged {where}: max row norm {norm:.3g} exceeds {max_norm:.3g}"
    return None


def _clock(process, name: str | None):
    return None if name in (None, "time") else process.rho


def _run_linear(process, grid, score, x_init, noise, max_norm, step: LinearStep) -> SampleResult:
    """Loop $x \\leftarrow r_k x + \\gamma_k s(x, t_k) + \\eta_k Z_k$ with divergence checks."""
    g, noise, max_norm = _prepare(grid, x_init, noise, max_norm)
    r, gam, eta = step.r.tolist(), step.gamma.tolist(), step.eta.tolist()
    clock = _clock(process, step.clock)
    times = g.tolist()
    x, nfe = x_init, 0
    for k in range(len(times) - 1):
        s = score(x, times[k])
        nfe += 1
        x = r[k] * x + gam[k] * s
        if eta[k] > 0:
            x = x + eta[k] * noise.normal(times[k], times[k + 1], clock).to(x)
        msg = _check(x, k, g, max_norm)
        if msg:
            return SampleResult(None, nfe, msg, k)
    return SampleResult(x, nfe)


@_register(
    "euler-maruyama",
    weak_order=1.0,
    strong_order=1.0,
    deterministic=False,
    score_evals_per_step=1,
    source="Song et al. 2021 (arXiv 2011.13456) Eq. 6 + Euler-Maruyama; Kloeden-Platen (additive noise)",
)
def euler_maruyama(process, grid, score, x_init, noise=None, *, max_norm=None) -> SampleResult:
    """Euler–Maruyama for the reverse SDE (coefficients in :func:`euler_maruyama_step`)."""
    return _run_linear(
        process, grid, score, x_init, noise, max_norm, linear_step("euler-maruyama", process, grid)
    )


@_register(
    "exponential-integrator",
    weak_order=1.0,
    strong_order=1.0,
    deterministic=False,
    score_evals_per_step=1,
    source="Chen et al. 2023 (arXiv 2209.11215) Sec. 2; Gao-Nguyen-Zhu 2025 (arXiv 2311.11003)",
)
def exponential_integrator(process, grid, score, x_init, noise=None, *, max_norm=None) -> SampleResult:
    """Exponential integrator for the reverse SDE (coefficients in :func:`exponential_integrator_step`)."""
    step = linear_step("exponential-integrator", process, grid)
    return _run_linear(process, grid, score, x_init, noise, max_norm, step)


@_register(
    "ddpm-ancestral",
    weak_order=1.0,
    strong_order=1.0,
    deterministic=False,
    score_evals_per_step=1,
    source="Ho et al. 2020 (arXiv 2006.11239) Alg. 2; Song et al. 2021 Eq. 47 (VE); general f, g derived",
)
def ddpm_ancestral(
    process, grid, score, x_init, noise=None, *, max_norm=None, variance: str = "beta"
) -> SampleResult:
    """Ancestral (DDPM) sampling for any linear process (coefficients in :func:`ddpm_ancestral_step`)."""
    step = linear_step("ddpm-ancestral", process, grid, variance=variance)
    return _run_linear(process, grid, score, x_init, noise, max_norm, step)


@_register(
    "pf-euler",
    weak_order=1.0,
    strong_order=1.0,
    deterministic=True,
    score_evals_per_step=1,
    source="Song et al. 2021 (arXiv 2011.13456) Eq. 13 + Euler",
)
def pf_euler(process, grid, score, x_init, noise=None, *, max_norm=None) -> SampleResult:
    """Euler for the probability-flow ODE (coefficients in :func:`pf_euler_step`)."""
    return _run_linear(process, grid, score, x_init, noise, max_norm, linear_step("pf-euler", process, grid))


@_register(
    "pf-exponential",
    weak_order=1.0,
    strong_order=1.0,
    deterministic=True,
    score_evals_per_step=1,
    source="Song, Meng, Ermon 2021 DDIM (arXiv 2010.02502) Eq. 12; Lu et al. 2022 (arXiv 2206.00927)",
)
def pf_exponential(
    process, grid, score, x_init, noise=None, *, max_norm=None, parametrization: str = "noise"
) -> SampleResult:
    """Exponential integrator for the probability-flow ODE: DDIM (default) or frozen score."""
    step = linear_step("pf-exponential", process, grid, parametrization=parametrization)
    return _run_linear(process, grid, score, x_init, noise, max_norm, step)


@_register(
    "pf-heun",
    weak_order=2.0,
    strong_order=2.0,
    deterministic=True,
    score_evals_per_step=2,
    source="Karras et al. 2022 (arXiv 2206.00364) Alg. 1 (Heun's 2nd-order method), in time t",
)
def pf_heun(process, grid, score, x_init, noise=None, *, max_norm=None) -> SampleResult:
    r"""Heun's method for the probability-flow ODE, $D(x, t) = f(t)x + \tfrac12 g(t)^2 s(x, t)$:
    $\tilde x = x + hD(x, t_k)$, $x_{k+1} = x + \tfrac h2[D(x, t_k) + D(\tilde x, t_{k+1})]$.

    As in Karras et al. 2022 Alg. 1 (line 9) the last step falls back to Euler when $t_{k+1} = 0$, where
    the score may not exist. Two score evaluations per step.
    """
    g, noise, max_norm = _prepare(grid, x_init, noise, max_norm)
    f, c = pf_drift_coefficients(process, g)
    f, c, times = f.tolist(), c.tolist(), g.tolist()
    x, nfe = x_init, 0
    for k in range(len(times) - 1):
        h = times[k] - times[k + 1]
        d1 = f[k] * x + c[k] * score(x, times[k])
        nfe += 1
        x_pred = x + h * d1
        if times[k + 1] > 0:
            d2 = f[k + 1] * x_pred + c[k + 1] * score(x_pred, times[k + 1])
            nfe += 1
            x = x + 0.5 * h * (d1 + d2)
        else:
            x = x_pred
        msg = _check(x, k, g, max_norm)
        if msg:
            return SampleResult(None, nfe, msg, k)
    return SampleResult(x, nfe)


@_register(
    "predictor-corrector",
    weak_order=0.0,
    strong_order=0.0,
    deterministic=False,
    score_evals_per_step=2,
    consistent=False,
    source="Song et al. 2021 (arXiv 2011.13456) Alg. 2/3 (PC sampling), App. G (snr step rule)",
)
def predictor_corrector(
    process,
    grid,
    score,
    x_init,
    noise=None,
    *,
    max_norm=None,
    predictor: str = "ddpm-ancestral",
    snr: float = 0.16,
    corrector_steps: int = 1,
) -> SampleResult:
    r"""Predictor–corrector: at each $t_k$, ``corrector_steps`` Langevin steps
    $x \leftarrow x + \varepsilon_k s(x, t_k) + \sqrt{2\varepsilon_k}\,z$ with
    $\varepsilon_k = 2(\mathrm{snr}\,\sigma_{t_k})^2$ (:func:`langevin_step_size`), then one ``predictor``
    step $t_k \to t_{k+1}$.

    Order as in score_sde's ``pc_sampler`` (corrector, then predictor, at each grid time); default
    predictor ``ddpm-ancestral`` (score_sde's reverse-diffusion predictor for VE; first-order
    equivalent for VP) and snr 0.16 (score_sde CIFAR-10 configs, from memory).

    The corrector step does not shrink with $h$: Langevin with a fixed step $\varepsilon$ targets
    $N(m, \Sigma/(1 - \varepsilon/2\Sigma))$ instead of $N(m, \Sigma)$ (derived), so as $N \to \infty$
    the output law tends to a biased limit, with a bias $\approx \mathrm{snr}^2\sigma_\delta^2/\lambda_\delta$
    in relative variance (measured: the $W_2$ floor scales as $\mathrm{snr}^2$). Hence ``consistent=False``
    and declared orders 0 (no convergence to $p_\delta$); the approach to the own limit is slower than
    first order (measured local $W_2$ slopes 0.6–1.0).
    """
    check_pc_params(predictor, snr, corrector_steps)
    g, noise, max_norm = _prepare(grid, x_init, noise, max_norm)
    step = linear_step(predictor, process, g)
    r, gam, eta = step.r.tolist(), step.gamma.tolist(), step.eta.tolist()
    eps = langevin_step_size(process, g[:-1], snr).tolist()
    clock = _clock(process, step.clock)
    times = g.tolist()
    x, nfe = x_init, 0
    for k in range(len(times) - 1):
        t = times[k]
        for m in range(corrector_steps if eps[k] > 0 else 0):
            x = x + eps[k] * score(x, t) + math.sqrt(2 * eps[k]) * noise.aux_normal(t, m).to(x)
            nfe += 1
        x = r[k] * x + gam[k] * score(x, t)
        nfe += 1
        if eta[k] > 0:
            x = x + eta[k] * noise.normal(t, times[k + 1], clock).to(x)
        msg = _check(x, k, g, max_norm)
        if msg:
            return SampleResult(None, nfe, msg, k)
    return SampleResult(x, nfe)


# ------------------------------------------------------------------------------------------------
# Initial points
# ------------------------------------------------------------------------------------------------
def initial_points(
    process,
    horizon: float,
    num_samples: int,
    dim: int | None = None,
    *,
    prior: str = "gaussian",
    target=None,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    r"""Starting points at time $T$: the prior $N(0, \sigma_T^2 I)$ (``prior="gaussian"``, the forward
    process started at 0; DESIGN.md) or $p_T$ itself (``prior="exact"``, needs ``target``), float64."""
    if prior == "gaussian":
        if dim is None:
            if target is None:
                raise SgmbenchError("initial_points: give dim or target")
            dim = target.dim
        var = float(process.prior_variance(horizon))
        z = torch.randn(int(num_samples), int(dim), generator=generator, dtype=DTYPE)
        return (math.sqrt(var) * z).to(device)
    if prior == "exact":
        if target is None:
            raise SgmbenchError("initial_points: prior='exact' needs the target")
        return target.noised(process, horizon).sample(int(num_samples), generator=generator, device=device)
    raise SgmbenchError(f"prior must be 'gaussian' or 'exact', got {prior!r}")
