r"""Time grids for the reverse process: decreasing forward times $T = t_0 > t_1 > \dots > t_N = \delta \ge 0$.

A grid is a plain float64 tensor of ``num_steps + 1`` forward times, built by a function with the one
signature ``grid(process, horizon, delta, num_steps, **params)`` and kept separate from the samplers
(k-diffusion's ``get_sigmas_*``; Karras et al. 2022 §3). Step $k$ goes from $t_k$ down to $t_{k+1}$ and
has size $\gamma_k = t_k - t_{k+1}$.

Registry :data:`grids` (``uniform``, ``benton``, ``geometric``, ``karras``, ``log-snr``); build one from a
spec with :func:`make_grid` (``make_grid("karras:rho=5", process, horizon, delta, num_steps)``).
:func:`grid_kappa` and :func:`max_step` report the quantities that bounds read off a grid.
"""

from __future__ import annotations

import math

import torch

from sgmbench.errors import SgmbenchError
from sgmbench.registry import Registry, parse_spec

DTYPE = torch.float64

grids: Registry = Registry("grid")

_POSITIONAL = ("process", "horizon", "delta", "num_steps")


def _check_inputs(horizon: float, delta: float, num_steps: int, *, need_positive_delta: bool = False):
    """Validate ``(T, delta, N)``; return them as ``(float, float, int)``."""
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise SgmbenchError(f"num_steps must be an integer >= 1, got {num_steps!r}")
    try:
        T, d = float(horizon), float(delta)
    except (TypeError, ValueError):
        raise SgmbenchError(f"horizon and delta must be numbers, got {horizon!r}, {delta!r}") from None
    if not (math.isfinite(T) and T > 0):
        raise SgmbenchError(f"horizon T must be finite and > 0, got {horizon!r}")
    if not math.isfinite(d) or d < 0:
        raise SgmbenchError(f"delta (early stopping) must be finite and >= 0, got {delta!r}")
    if d >= T:
        raise SgmbenchError(f"delta ({d}) must be < horizon T ({T})")
    if need_positive_delta and d == 0:
        raise SgmbenchError("this grid needs delta > 0 (it is geometric in time or in SNR down to delta)")
    return T, d, num_steps


def check_grid(grid: torch.Tensor) -> torch.Tensor:
    """``grid`` as a float64 CPU tensor, checked: 1-D, finite, >= 0 and strictly decreasing."""
    g = torch.as_tensor(grid, dtype=DTYPE).detach().cpu()
    if g.ndim != 1 or g.numel() < 2:
        raise SgmbenchError(f"a time grid is a 1-D tensor of >= 2 times, got shape {tuple(g.shape)}")
    if not bool(torch.isfinite(g).all()) or float(g[-1]) < 0:
        raise SgmbenchError("a time grid must hold finite times >= 0")
    if not bool((g[:-1] > g[1:]).all()):
        k = int(torch.nonzero(g[:-1] <= g[1:])[0])
        raise SgmbenchError(
            f"a time grid must be strictly decreasing; "
            f"t[{k}]={float(g[k])!r} <= t[{k + 1}]={float(g[k + 1])!r}"
        )
    return g


def _finish(times: torch.Tensor, T: float, d: float) -> torch.Tensor:
    """Pin the endpoints to exactly ``T`` and ``delta`` and check monotonicity."""
    times = times.to(DTYPE).clone()
    times[0] = T
    times[-1] = d
    return check_grid(times)


def step_sizes(grid: torch.Tensor) -> torch.Tensor:
    r"""Step sizes $\gamma_k = t_k - t_{k+1}$, $k = 0, \dots, N-1$."""
    g = check_grid(grid)
    return g[:-1] - g[1:]


def max_step(grid: torch.Tensor) -> float:
    r"""$\max_k \gamma_k$, the largest step of the grid."""
    return float(step_sizes(grid).max())


def grid_kappa(grid: torch.Tensor) -> float:
    r"""Benton et al.'s step-ratio constant $\kappa = \max_k \gamma_k / \min(1, t_{k+1})$.

    Benton, De Bortoli, Doucet, Deligiannidis 2024 (arXiv 2308.03686), Theorem 1 assumes
    $\gamma_k \le \kappa\min\{1, T - t_{k+1}\}$ in reverse time; $T - t_{k+1}$ there is the forward time
    $t_{k+1}$ at the end of step $k$ here. ``inf`` when the grid ends at $\delta = 0$.
    """
    g = check_grid(grid)
    gam = g[:-1] - g[1:]
    floor = torch.clamp(g[1:], max=1.0)
    if float(floor.min()) == 0.0:
        return math.inf
    return float((gam / floor).max())


@grids.register(
    "uniform", summary="equal steps from T down to delta", source="Song et al. 2021 (linspace(T, eps, N))"
)
def uniform(process, horizon: float, delta: float, num_steps: int) -> torch.Tensor:
    r"""$t_k = T - k(T-\delta)/N$."""
    T, d, N = _check_inputs(horizon, delta, num_steps)
    return _finish(torch.linspace(T, d, N + 1, dtype=DTYPE), T, d)


@grids.register(
    "geometric",
    summary="exponentially decaying steps: t_k = T (delta/T)^(k/N) (needs delta > 0)",
    source="Benton et al. 2024 (arXiv 2308.03686) Cor. 1; Chen et al. 2023 (arXiv 2211.01916)",
)
def geometric(process, horizon: float, delta: float, num_steps: int) -> torch.Tensor:
    r"""$t_k = T(\delta/T)^{k/N}$: constant ratio, so $\kappa = (T/\delta)^{1/N} - 1$ if $T \le 1$."""
    T, d, N = _check_inputs(horizon, delta, num_steps, need_positive_delta=True)
    k = torch.arange(N + 1, dtype=DTYPE)
    return _finish(T * torch.exp(k / N * math.log(d / T)), T, d)


@grids.register(
    "benton",
    summary="half the steps uniform on [split, T], half geometric on [delta, split] (split = 1)",
    source="Benton et al. 2024 (arXiv 2308.03686) Cor. 1; concrete form derived in bounds-tv-kl.md §3.3",
)
def benton(process, horizon: float, delta: float, num_steps: int, split: float = 1.0) -> torch.Tensor:
    r"""Benton et al. 2024 Corollary 1 grid, built in the OU clock $\tau(t) = \tfrac12\log(1 + \rho_t)$.

    Benton et al. state it for the OU process $dX = -X\,dt + \sqrt2\,dW$, for which
    $\rho_t = e^{2t} - 1$, i.e. $\tau(t) = t$. Any linear process is that OU process run in the clock
    $\tau(t)$ (same $\sigma_t/\alpha_t$, hence the same reverse dynamics up to the scaling $\alpha_t$;
    derived by us), so the grid is defined in $\tau$ and mapped back with ``process.time_at_snr``.
    With $M = \lfloor N/2\rfloor$: $\tau_k = \tau_T - k(\tau_T - s)/M$ for $k \le M$ (uniform from
    $\tau_T$ to the split $s = 1$) and $\tau_k = s\,(\tau_\delta/s)^{(k-M)/(N-M)}$ for $M \le k \le N$
    (geometric from $s$ to $\tau_\delta$). Then $\kappa \approx 2\max(\tau_T - s, \log(s/\tau_\delta))/N$
    (bounds-tv-kl.md §3.3, derived from the paper's description). If $\tau_T \le s$ all $N$ steps
    are geometric; needs $0 < \tau_\delta < s$.
    """
    T, d, N = _check_inputs(horizon, delta, num_steps, need_positive_delta=True)
    s = float(split)
    if not (math.isfinite(s) and s > 0):
        raise SgmbenchError(f"benton grid: split must be finite and > 0, got {split!r}")
    tau_T, tau_d = float(ou_equivalent_time(process, T)), float(ou_equivalent_time(process, d))
    if tau_d >= s:
        raise SgmbenchError(
            f"benton grid: delta ({d}) is at OU time {tau_d:.3g}, which must be < split ({s})"
        )
    M = N // 2
    if tau_T <= s or M == 0:
        k = torch.arange(N + 1, dtype=DTYPE)
        taus = tau_T * torch.exp(k / N * math.log(tau_d / tau_T))
    else:
        k = torch.arange(M + 1, dtype=DTYPE)
        head = tau_T - k * (tau_T - s) / M
        head[-1] = s
        j = torch.arange(1, N - M + 1, dtype=DTYPE)
        tail = s * torch.exp(j / (N - M) * math.log(tau_d / s))
        taus = torch.cat([head, tail])
    times = torch.empty(N + 1, dtype=DTYPE)
    if N > 1:
        times[1:-1] = process.time_at_snr(1.0 / torch.expm1(2 * taus[1:-1]), t_max=T)
    return _finish(times, T, d)


def ou_equivalent_time(process, t) -> torch.Tensor:
    r"""OU-equivalent time $\tau(t) = \tfrac12\log(1 + \rho_t)$, $\rho_t = \sigma_t^2/\alpha_t^2$ (derived by us).

    The OU process $dX = -X\,dt + \sqrt2\,dW$ has $\rho_\tau = e^{2\tau} - 1$; a process with the same
    $\rho$ at time $t$ is that OU process at time $\tau(t)$ up to the deterministic scaling $\alpha_t$.
    For ``ou`` itself $\tau(t) = t$; for VP, $\tau = \tfrac12\int_0^t\beta$.
    """
    return 0.5 * torch.log1p(process.rho(t))


def _noise_level(process, t) -> torch.Tensor:
    r"""EDM noise level $\sigma = \sigma_t/\alpha_t = \sqrt{\rho_t}$ (Karras et al. 2022, Table 1)."""
    return torch.sqrt(process.rho(t))


@grids.register(
    "karras",
    summary="EDM rho-schedule on the noise level sigma = sqrt(rho_t), rho = 7, mapped back to times",
    source="Karras et al. 2022 (arXiv 2206.00364) Eq. 5; k-diffusion get_sigmas_karras",
)
def karras(process, horizon: float, delta: float, num_steps: int, rho: float = 7.0) -> torch.Tensor:
    r"""EDM grid: $t_i = \sigma^{-1}(\sigma_i)$,
    $\sigma_i = (\sigma_{\max}^{1/\rho} + \tfrac iN(\sigma_{\min}^{1/\rho} - \sigma_{\max}^{1/\rho}))^\rho$.

    Karras et al. 2022, Eq. 5, with $\sigma(t) = \sigma_t/\alpha_t = \sqrt{\rho_t}$ (their noise level;
    $\sigma(t) = t$ for ``edm``), $\sigma_{\max} = \sigma(T)$, $\sigma_{\min} = \sigma(\delta)$. Times are
    recovered with ``process.time_at_snr`` (SNR $= 1/\sigma^2$); $\delta = 0$ is allowed ($\sigma_{\min}=0$).
    """
    T, d, N = _check_inputs(horizon, delta, num_steps)
    r = float(rho)
    if not (math.isfinite(r) and r > 0):
        raise SgmbenchError(f"karras grid: rho must be finite and > 0, got {rho!r}")
    s_max = float(_noise_level(process, T)) ** (1.0 / r)
    s_min = float(_noise_level(process, d)) ** (1.0 / r) if d > 0 else 0.0
    i = torch.arange(N + 1, dtype=DTYPE)
    sig = (s_max + i / N * (s_min - s_max)) ** r
    times = torch.empty(N + 1, dtype=DTYPE)
    if N > 1:
        times[1:-1] = process.time_at_snr(1.0 / sig[1:-1] ** 2, t_max=T)
    return _finish(times, T, d)


@grids.register(
    "log-snr",
    summary="uniform in log SNR = log(alpha_t^2 / sigma_t^2) between T and delta (needs delta > 0)",
    source="Kingma et al. 2021 (arXiv 2107.00630); Lu et al. 2022 DPM-Solver (arXiv 2206.00927) logSNR steps",
)
def log_snr(process, horizon: float, delta: float, num_steps: int) -> torch.Tensor:
    r"""$\log{\rm SNR}(t_k) = \log{\rm SNR}(T) + \tfrac kN(\log{\rm SNR}(\delta) - \log{\rm SNR}(T))$.

    DPM-Solver's uniform-$\lambda$ steps ($\lambda = \tfrac12\log{\rm SNR}$; Lu et al. 2022 §3.4).
    """
    T, d, N = _check_inputs(horizon, delta, num_steps, need_positive_delta=True)
    lo = float(torch.log(process.snr(T)))
    hi = float(torch.log(process.snr(d)))
    k = torch.arange(N + 1, dtype=DTYPE)
    lam = lo + k / N * (hi - lo)
    times = torch.empty(N + 1, dtype=DTYPE)
    if N > 1:
        times[1:-1] = process.time_at_snr(torch.exp(lam[1:-1]), t_max=T)
    return _finish(times, T, d)


def make_grid(spec: str, process, horizon: float, delta: float, num_steps: int) -> torch.Tensor:
    """The grid a spec names (``uniform``, ``karras:rho=5``, ...) for one process, T, delta and N."""
    name, params = parse_spec(spec)
    clash = sorted(set(params) & set(_POSITIONAL))
    if clash:
        raise SgmbenchError(f"grid spec {spec!r}: {', '.join(clash)} is set by the setting, not the spec")
    return grids.build(
        name, {**params, "process": process, "horizon": horizon, "delta": delta, "num_steps": num_steps}
    )


def available_grids() -> list[str]:
    return grids.names()
