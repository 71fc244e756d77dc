r"""Learned scores: denoising score matching of a torch MLP, checkpoints, one-sided Lipschitz constants.

**Objectives.** For a weighting $\lambda$ and $0 < t_{\min} < T$ (Vincent 2011, Neural Comput. 23(7);
Song et al. 2021, arXiv 2011.13456, Eq. 7; Kwon–Fan–Lee 2022, arXiv 2212.06359, Eqs. 5 and 20):

$$J_{DSM}(\theta) = \tfrac12\int_{t_{\min}}^{T}\lambda(t)\,
      E\big\|s_\theta(\alpha_tX_0+\sigma_tZ, t) + Z/\sigma_t\big\|^2dt,$$
$$J_{SM}(\theta) = \tfrac12\int_{t_{\min}}^{T}\lambda(t)\,E_{p_t}\|s_\theta(X_t,t)-\nabla\log p_t(X_t)\|^2dt$$

($-Z/\sigma_t = \nabla\log p_{0t}(X_t\mid X_0)$). They differ by a constant independent of $\theta$
(Vincent 2011): $J_{DSM} = J_{SM} + C$,
$C = \tfrac12\int\lambda\,(d/\sigma_t^2 - E\|\nabla\log p_t\|^2)\,dt \ge 0$;
so $J_{SM} \le J_{DSM}$ (KFL Cor. 3). The integral starts at $t_{\min}$, not 0 as in KFL, because the
DSM integrand diverges like $d\lambda/\sigma_t^2$ at 0. Weightings: ``g2`` ($\lambda = g^2$, default:
KFL Cor. 1 and the likelihood weighting of Song et al. 2021b, arXiv 2101.09258, Thm 1), ``sigma2``
($\lambda = \sigma_t^2$: the plain $\varepsilon$-prediction MSE of DDPM), ``one`` ($\lambda = 1$).

**Estimators.** Times are drawn either uniformly on $[t_{\min}, T]$ (``uniform``; weight
$(T - t_{\min})\lambda(t)$) or with density $q(t) \propto \lambda(t)/\sigma_t^2$ (``importance``, default;
tabulated on a geometric grid and sampled exactly from its piecewise-constant version, weight
$\lambda(t)/q(t)$), which makes the $\varepsilon$-prediction loss weight nearly constant
(the importance sampling of Song et al. 2021b). Both are unbiased for the same integral. Losses
are tracked on a fixed evaluation set ($K$ stratified times from $q$, $m$ points each, a seed of its own)
shared by $J_{DSM}$ and $J_{SM}$, so $J_{DSM} - J_{SM}$ is an estimate of $C$ with the same draws.

**Gradient ascent then descent** (KFL Sec. 5: "the loss is maximised for the first 10 epochs"):
``ascent_steps`` optimiser steps on $-J_{DSM}$ before ``steps`` steps on $J_{DSM}$, so that
$(J, W_2)$ pairs are traced over a wide range of $J$.

**Checkpoints** (``.pt``): ``{"format", "version", "config", "state_dict"}``; ``config`` is JSON-able
(network architecture, process and target specs, horizon, $t_{\min}$, training options, seed, final
losses, loss history). Reloaded as a score by the spec ``learned:path=checkpoints/foo.pt``.

**One-sided Lipschitz constant** (KFL assumption A2): :func:`one_sided_lipschitz`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from sgmbench.errors import SgmbenchError
from sgmbench.networks import NetworkConfig, ScoreMLP, build_network, clip_weights_, refresh_spectral_norm_
from sgmbench.registry import format_spec, parse_spec
from sgmbench.scores import Score, scores

CHECKPOINT_FORMAT = "sgmbench.learned-score"
CHECKPOINT_VERSION = 1
WEIGHTINGS = ("g2", "sigma2", "one")
TIME_SAMPLINGS = ("importance", "uniform")
OPTIMIZERS = ("adam", "adamw")
LR_SCHEDULES = ("constant", "cosine")
_EVAL_SEED_OFFSET = 1_000_003


# ------------------------------------------------------------------------------------------------
# configuration
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Options of :func:`train_score` (JSON-able; stored in the checkpoint).

    - ``steps``: descent steps; ``ascent_steps``: gradient-ascent steps before them (KFL), at learning
      rate ``ascent_lr`` (``None``: ``lr``), stopped early once a batch loss reaches ``ascent_max_loss``;
    - ``batch_size``, ``lr``, ``lr_schedule`` (``constant``, or ``cosine``: decay to 0 over the descent
      steps, Loshchilov–Hutter 2017), ``optimizer`` (``adam``/``adamw``), ``weight_decay``, ``grad_clip``
      (max gradient norm or ``None``), ``weight_clip`` (clamp every parameter to $[-c, c]$ after each
      step, or ``None``);
    - ``t_min``, ``horizon`` (``None``: the process default): the time range $[t_{\\min}, T]$;
    - ``weighting``: ``g2``/``sigma2``/``one``; ``time_sampling``: ``importance``/``uniform``;
    - ``num_train``: a fixed training set of that size (``None``: fresh samples every step);
    - ``eval_every``: steps between loss evaluations; ``num_eval_times`` × ``num_eval_per_time``:
      the evaluation set; ``eval_seed``: its seed (independent of ``seed``, so runs share it);
    - ``seed``: network initialisation and training draws.
    """

    steps: int = 2000
    ascent_steps: int = 0
    ascent_lr: float | None = None
    ascent_max_loss: float | None = None
    batch_size: int = 256
    lr: float = 1e-3
    lr_schedule: str = "constant"
    optimizer: str = "adam"
    weight_decay: float = 0.0
    grad_clip: float | None = None
    weight_clip: float | None = None
    t_min: float = 1e-3
    horizon: float | None = None
    weighting: str = "g2"
    time_sampling: str = "importance"
    num_train: int | None = None
    eval_every: int = 100
    num_eval_times: int = 64
    num_eval_per_time: int = 32
    eval_seed: int = 0
    seed: int = 0

    def __post_init__(self):
        for name in ("steps", "ascent_steps", "seed", "eval_seed"):
            _check_int(name, getattr(self, name), minimum=0)
        for name in ("batch_size", "eval_every", "num_eval_times", "num_eval_per_time"):
            _check_int(name, getattr(self, name), minimum=1)
        if self.num_train is not None:
            _check_int("num_train", self.num_train, minimum=2)
        _check_pos("lr", self.lr)
        _check_pos("t_min", self.t_min)
        _check_pos("weight_decay", self.weight_decay, allow_zero=True)
        for name in ("grad_clip", "weight_clip", "horizon", "ascent_lr", "ascent_max_loss"):
            if getattr(self, name) is not None:
                _check_pos(name, getattr(self, name))
        _check_choice("weighting", self.weighting, WEIGHTINGS)
        _check_choice("time_sampling", self.time_sampling, TIME_SAMPLINGS)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _from_dict(cls, data: dict[str, Any]):
    """``cls(**data)`` with unknown keys reported as a one-line :class:`SgmbenchError`."""
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise SgmbenchError(
            f"unknown {cls.__name__} option(s) {', '.join(unknown)}; valid: {', '.join(fields)}"
        )
    return cls(**data)


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SgmbenchError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_pos(name: str, value: Any, allow_zero: bool = False) -> None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise SgmbenchError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise SgmbenchError(f"{name} must be {'>= 0' if allow_zero else '> 0'} and finite, got {value!r}")


def _check_choice(name: str, value: Any, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise SgmbenchError(f"unknown {name} {value!r}; valid: {', '.join(valid)}")


def _jsonable(value: Any) -> Any:
    """Tensors, arrays, tuples and numpy scalars as plain JSON values."""
    if isinstance(value, torch.Tensor):
        return _jsonable(value.detach().cpu().tolist())
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool):
        return value
    for kind in (int, float, str):  # plain types, not subclasses (torch.__version__ is a str subclass)
        if isinstance(value, kind):
            return kind(value)
    return repr(value)


def spec_of(obj: Any) -> str:
    """Canonical spec string ``name:k=v,...`` of a built target or process (the inverse of ``create``)."""
    params = _jsonable(getattr(obj, "params", {}) or {})
    flat = all(
        not isinstance(v, (list, dict)) or all(not isinstance(u, (list, dict)) for u in v)
        for v in params.values()
    )
    if flat:
        return format_spec(obj.name, {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})
    return f"{obj.name}:{json.dumps(params, sort_keys=True)}"


def same_spec(a: str, b: str) -> bool:
    """Whether two canonical specs name the same object (numbers compared by value: ``0 == 0.0``)."""
    if a == b:
        return True
    try:
        return parse_spec(a) == parse_spec(b)
    except SgmbenchError:
        return False


# ------------------------------------------------------------------------------------------------
# time sampling and weighting
# ------------------------------------------------------------------------------------------------
class TimeDistribution:
    r"""Times on $[t_{\min}, T]$ and their weights $w(t) = \lambda(t)/q(t)$, so $E_q[w\,h] = \int\lambda h$.

    ``uniform``: $q = 1/(T - t_{\min})$. ``importance``: $q \propto \lambda/\sigma^2$ tabulated on a
    geometric grid of ``num_cells`` cells (trapezoid masses), sampled exactly from that piecewise-constant
    density (so the weights are exact for the density actually sampled).
    """

    def __init__(
        self,
        process,
        t_min: float,
        horizon: float,
        weighting: str = "g2",
        mode: str = "importance",
        num_cells: int = 2048,
    ):
        _check_choice("weighting", weighting, WEIGHTINGS)
        _check_choice("time_sampling", mode, TIME_SAMPLINGS)
        if not (0 < t_min < horizon):
            raise SgmbenchError(f"need 0 < t_min < horizon, got t_min={t_min}, horizon={horizon}")
        self.process, self.t_min, self.horizon = process, float(t_min), float(horizon)
        self.weighting, self.mode = weighting, mode
        if mode == "uniform":
            self.edges = torch.tensor([self.t_min, self.horizon], dtype=torch.float64)
            self.mass = torch.ones(1, dtype=torch.float64)
        else:
            edges = torch.logspace(
                math.log10(self.t_min), math.log10(self.horizon), num_cells + 1, dtype=torch.float64
            )
            edges[0], edges[-1] = self.t_min, self.horizon
            h = self.lam(edges) / process.sigma2(edges)
            if not bool(torch.all(torch.isfinite(h))) or float(h.max()) <= 0:
                raise SgmbenchError(
                    f"importance density lambda/sigma^2 is not finite on [{t_min}, {horizon}]"
                )
            self.edges = edges
            self.mass = 0.5 * (h[1:] + h[:-1]) * (edges[1:] - edges[:-1])
        self.cdf = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(self.mass, 0)])
        self.cdf = self.cdf / self.cdf[-1]

    def lam(self, t: torch.Tensor) -> torch.Tensor:
        """The weighting $\\lambda(t)$."""
        if self.weighting == "g2":
            return self.process.g2(t)
        if self.weighting == "sigma2":
            return self.process.sigma2(t)
        return torch.ones_like(torch.as_tensor(t, dtype=torch.float64))

    def _invert(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.searchsorted(self.cdf, u, right=True).clamp(1, len(self.cdf) - 1) - 1
        lo, hi = self.cdf[idx], self.cdf[idx + 1]
        width = self.edges[idx + 1] - self.edges[idx]
        frac = ((u - lo) / (hi - lo).clamp_min(1e-300)).clamp(0.0, 1.0)
        t = self.edges[idx] + frac * width
        density = (hi - lo) / width
        return t, self.lam(t) / density

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` i.i.d. times from $q$ and their weights (float64)."""
        return self._invert(torch.rand(n, generator=generator, dtype=torch.float64))

    def stratified(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` deterministic times at the $q$-quantiles $(k + 1/2)/n$ and their weights."""
        return self._invert((torch.arange(n, dtype=torch.float64) + 0.5) / n)


def _coefficients(process, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return process.alpha(t).reshape(-1, 1), process.sigma(t).reshape(-1, 1)


def _dsm_residual(net: ScoreMLP, x_t, z, alpha, sigma) -> torch.Tensor:
    r"""$s_\theta(x_t) + z/\sigma_t$ in the network's dtype (``eps``: $(z - F)/\sigma_t$, no cancellation)."""
    dtype = net.data_mean.dtype
    alpha, sigma, z = alpha.to(dtype), sigma.to(dtype), z.to(dtype)
    if net.config.parametrization == "eps":
        return (z - net.raw(x_t, alpha, sigma)) / sigma
    return net(x_t, alpha, sigma) + z / sigma


# ------------------------------------------------------------------------------------------------
# the evaluation set: J_DSM and J_SM with the same draws
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class EvalSet:
    """Fixed draws $(t_k, x_0, z)$ with weights, and the exact noised scores where the target has them."""

    times: torch.Tensor  # [n] float64
    weights: torch.Tensor  # [n]
    alpha: torch.Tensor  # [n, 1]
    sigma: torch.Tensor  # [n, 1]
    x_t: torch.Tensor  # [n, d]
    z: torch.Tensor  # [n, d]
    true_score: torch.Tensor | None  # [n, d] or None

    @property
    def has_exact_score(self) -> bool:
        return self.true_score is not None


def make_eval_set(
    target,
    process,
    *,
    t_min: float = 1e-3,
    horizon: float | None = None,
    weighting: str = "g2",
    time_sampling: str = "importance",
    num_times: int = 64,
    num_per_time: int = 32,
    seed: int = 0,
) -> EvalSet:
    """The evaluation set of :func:`score_matching_losses` (stratified times, ``num_per_time`` draws each)."""
    horizon = float(horizon if horizon is not None else process.default_horizon)
    dist = TimeDistribution(process, t_min, horizon, weighting, time_sampling)
    tk, wk = dist.stratified(num_times)
    gen = torch.Generator().manual_seed(_EVAL_SEED_OFFSET + int(seed))
    n = num_times * num_per_time
    x0 = target.sample(n, generator=gen, dtype=torch.float64).to(torch.float64)
    z = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    times = tk.repeat_interleave(num_per_time)
    weights = wk.repeat_interleave(num_per_time)
    alpha, sigma = _coefficients(process, times)
    x_t = alpha * x0 + sigma * z
    true = torch.empty_like(x_t)
    try:
        for k in range(num_times):
            rows = slice(k * num_per_time, (k + 1) * num_per_time)
            true[rows] = target.noised(process, float(tk[k])).score(x_t[rows]).to(torch.float64)
        if not bool(torch.all(torch.isfinite(true))):
            true = None
    except (SgmbenchError, NotImplementedError):
        true = None
    return EvalSet(times, weights, alpha, sigma, x_t, z, true)


def loss_terms(s: torch.Tensor, ev: EvalSet) -> tuple[torch.Tensor, torch.Tensor | None]:
    r"""Per-draw terms $\tfrac12 w\|s + z/\sigma\|^2$ and $\tfrac12 w\|s - \nabla\log p_t\|^2$ (``None``
    without an exact score) for scores ``s`` at the evaluation set's points.

    Their means are $J_{DSM}$ and $J_{SM}$.
    """
    s = s.to(torch.float64)
    dsm = 0.5 * ev.weights * ((s + ev.z / ev.sigma) ** 2).sum(-1)
    if ev.true_score is None:
        return dsm, None
    return dsm, 0.5 * ev.weights * ((s - ev.true_score) ** 2).sum(-1)


def _mean_se(v: torch.Tensor) -> tuple[float, float]:
    return float(v.mean()), float(v.std() / v.numel() ** 0.5)


def _losses_from_scores(s: torch.Tensor, ev: EvalSet) -> dict[str, float | None]:
    dsm, sm = loss_terms(s, ev)
    out: dict[str, float | None] = dict(zip(("dsm", "dsm_se"), _mean_se(dsm)))
    if sm is not None:
        out.update(zip(("sm", "sm_se"), _mean_se(sm)))
        out.update(zip(("gap", "gap_se"), _mean_se(dsm - sm)))
    else:
        out.update(sm=None, sm_se=None, gap=None, gap_se=None)
    return out


def score_matching_losses(
    score: Score | Callable,
    target=None,
    process=None,
    *,
    eval_set: EvalSet | None = None,
    **eval_options: Any,
) -> dict[str, float | None]:
    r"""Monte Carlo $J_{DSM}$ and $J_{SM}$ (module docstring) of any score on one evaluation set.

    ``score`` is a :class:`~sgmbench.scores.Score` or a function ``(x, t_per_row) -> Tensor``; returns
    ``dsm``, ``sm`` (``None`` without an exact noised score), ``gap`` $= J_{DSM} - J_{SM}$ (an estimate
    of the $\theta$-free constant $C$) and their standard errors. ``eval_options`` go to
    :func:`make_eval_set`.
    """
    if eval_set is None:
        if target is None or process is None:
            raise SgmbenchError("score_matching_losses needs target and process (or an eval_set)")
        eval_set = make_eval_set(target, process, **eval_options)
    ev = eval_set
    with torch.no_grad():
        if isinstance(score, LearnedScore):
            s = score.network_scores(ev.x_t, ev.times)
        elif isinstance(score, Score):
            s = torch.empty_like(ev.x_t)
            for t in torch.unique(ev.times):
                rows = ev.times == t
                s[rows] = score.evaluate(ev.x_t[rows], float(t)).to(torch.float64)
        else:
            s = score(ev.x_t, ev.times)
    return _losses_from_scores(s, ev)


# ------------------------------------------------------------------------------------------------
# the learned score
# ------------------------------------------------------------------------------------------------
class LearnedScore(Score):
    r"""A trained :class:`~sgmbench.networks.ScoreMLP` as a :class:`~sgmbench.scores.Score`.

    ``evaluate(x, t)`` runs the network without gradients on ``x``'s device (the network follows the
    input) and returns ``x``'s dtype. Times below the training range are clamped: $s(x, t) :=
    s_\theta(x, \max(t, t_{\min}))$ (the network never saw smaller noise levels). ``affine`` is ``None``.
    The network's conditioning uses the process it was trained with (``config["process"]``).
    """

    name = "learned"

    def __init__(
        self,
        net: ScoreMLP,
        config: dict[str, Any],
        target=None,
        process=None,
        path: str | None = None,
        **params: Any,
    ):
        from sgmbench.processes import get_process

        self.net = net
        self.config = config
        train_process = get_process(config["process"])
        super().__init__(
            target,
            process if process is not None else train_process,
            **({"path": path} if path else {}),
            **params,
        )
        self.train_process = train_process
        self.t_min = float(config["t_min"])
        self.horizon = float(config["horizon"])
        self.path = path

    # --- evaluation ---------------------------------------------------------------------------
    def _follow(self, x: torch.Tensor) -> None:
        if self.net.data_mean.device != x.device:
            self.net.to(x.device)

    def differentiable(self, x: torch.Tensor, t: float) -> torch.Tensor:
        """$s_\\theta(x, t)$ with autograd enabled (used by :func:`one_sided_lipschitz`)."""
        self._follow(x)
        self.net.eval()
        t = max(float(t), self.t_min)
        alpha = float(self.train_process.alpha(t))
        sigma = float(self.train_process.sigma(t))
        n = x.shape[0]
        a = torch.full((n,), alpha, dtype=torch.float64, device=x.device)
        s = torch.full((n,), sigma, dtype=torch.float64, device=x.device)
        return self.net(x, a, s).to(x.dtype)

    def evaluate(self, x: torch.Tensor, t: float) -> torch.Tensor:
        with torch.no_grad():
            return self.differentiable(x, t)

    def network_scores(self, x: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """Scores at per-row times (``times`` ``[n]``), float64, no gradient, no nfe count."""
        self._follow(x)
        self.net.eval()
        t = times.to(torch.float64).clamp_min(self.t_min)
        alpha, sigma = _coefficients(self.train_process, t.cpu())
        with torch.no_grad():
            return self.net(x, alpha.to(x.device), sigma.to(x.device)).to(torch.float64)

    def affine(self, t: float):
        return None

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["checkpoint"] = {
            k: self.config.get(k)
            for k in ("network", "process", "target", "horizon", "t_min", "train", "final", "sha256")
        }
        return out

    # --- checkpoints --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> str:
        """Write the checkpoint (``state_dict`` + JSON-able ``config``) to ``path``; returns the path."""
        path = os.fspath(path)
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in self.net.state_dict().items()}
        config = _jsonable({k: v for k, v in self.config.items() if k != "sha256"})
        json.dumps(config)  # the config must stay JSON-able
        torch.save(
            {
                "format": CHECKPOINT_FORMAT,
                "version": CHECKPOINT_VERSION,
                "config": config,
                "state_dict": state,
            },
            path,
        )
        return path

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        target=None,
        process=None,
        *,
        strict: bool = True,
        dtype: str | None = None,
        device: str | None = None,
    ) -> LearnedScore:
        """Read a checkpoint written by :meth:`save`; check it against ``target``/``process`` if given.

        With ``strict`` a checkpoint trained for another process or target raises :class:`SgmbenchError`.
        ``dtype`` (``float32``/``float64``) recasts the network; ``device`` moves it.
        """
        path = os.fspath(path)
        net, config = load_checkpoint(path, dtype=dtype)
        if device is not None:
            net.to(device)
        if strict:
            if process is not None and not same_spec(spec_of(process), config["process"]):
                raise SgmbenchError(
                    f"checkpoint {path!r} was trained for process {config['process']!r}, "
                    f"not {spec_of(process)!r} (pass strict=false to use it anyway)"
                )
            if target is not None and not same_spec(spec_of(target), config["target"]):
                raise SgmbenchError(
                    f"checkpoint {path!r} was trained on target {config['target']!r}, "
                    f"not {spec_of(target)!r} (pass strict=false to use it anyway)"
                )
        score = cls(net, config, target=target, process=process, path=path)
        return score


def load_checkpoint(path: str, dtype: str | None = None) -> tuple[ScoreMLP, dict[str, Any]]:
    """The network and config stored in a checkpoint; any problem raises a one-line :class:`SgmbenchError`."""
    if not os.path.isfile(path):
        raise SgmbenchError(f"checkpoint {path!r} does not exist")
    with open(path, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a corrupt file
        raise SgmbenchError(f"checkpoint {path!r} is not readable: {type(exc).__name__}") from None
    if not isinstance(blob, dict) or blob.get("format") != CHECKPOINT_FORMAT:
        raise SgmbenchError(f"checkpoint {path!r} is not an sgmbench learned-score checkpoint")
    if blob.get("version") != CHECKPOINT_VERSION:
        raise SgmbenchError(
            f"checkpoint {path!r} has version {blob.get('version')!r}, expected {CHECKPOINT_VERSION}"
        )
    config = blob.get("config")
    state = blob.get("state_dict")
    if not isinstance(config, dict) or not isinstance(state, dict):
        raise SgmbenchError(f"checkpoint {path!r} lacks its config or state_dict")
    try:
        net_config = NetworkConfig.from_dict(config["network"])
        if dtype is not None:
            net_config = dataclasses.replace(net_config, dtype=dtype)
        net = ScoreMLP(net_config)
        net.load_state_dict(state)
        for key in ("process", "horizon", "t_min"):
            config[key]  # noqa: B018 - presence check
    except SgmbenchError as exc:
        raise SgmbenchError(f"checkpoint {path!r}: {exc}") from None
    except (KeyError, TypeError, RuntimeError, ValueError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SgmbenchError(f"checkpoint {path!r} is inconsistent: {msg[:200]}") from None
    net.to(net_config.torch_dtype)
    net.eval()
    config = dict(config)
    config["sha256"] = digest
    return net, config


@scores.register(
    "learned",
    summary="a denoising-score-matching MLP loaded from a checkpoint written by sgmbench.training",
    source="Vincent 2011 (DSM); Song et al. 2021 (arXiv 2011.13456) Eq. 7",
)
def learned_score(
    path: str,
    target=None,
    process=None,
    strict: bool = True,
    dtype: str | None = None,
    device: str | None = None,
    seed: int = 0,
) -> LearnedScore:
    """``learned:path=checkpoints/foo.pt[,strict=false,dtype=float64]``: a trained score (``seed`` unused)."""
    return LearnedScore.load(str(path), target, process, strict=strict, dtype=dtype, device=device)


# ------------------------------------------------------------------------------------------------
# training
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class TrainResult:
    """What :func:`train_score` returns: the score, the loss history (one dict per evaluation), the config."""

    score: LearnedScore
    history: list[dict[str, Any]]
    config: dict[str, Any]
    seconds: float

    def save(self, path: str | os.PathLike) -> str:
        return self.score.save(path)


def _data_moments(target, num: int, gen: torch.Generator) -> tuple[tuple[float, ...], float]:
    x = target.sample(num, generator=gen, dtype=torch.float64).to(torch.float64)
    return tuple(float(v) for v in x.mean(0)), max(float(x.var(0).mean()), 1e-12)


def train_score(
    target,
    process,
    network: NetworkConfig | dict[str, Any] | None = None,
    config: TrainConfig | dict[str, Any] | None = None,
    callback: Callable[[dict[str, Any], LearnedScore], None] | None = None,
) -> TrainResult:
    r"""Train $s_\theta$ by denoising score matching (Vincent 2011; Song et al. 2021 Eq. 7).

    Minimises the Monte Carlo estimate of $J_{DSM}$ (module docstring) with Adam, after
    ``config.ascent_steps`` steps maximising it (KFL Sec. 5). Every ``eval_every`` steps (and before the
    first and after the last) a record ``{step, phase, train_loss, dsm, dsm_se, sm, sm_se, gap, gap_se,
    seconds}`` is appended to the history; ``callback(record, score)`` may add fields (e.g. a $W_2$
    measured from samples of the current score). ``target`` and ``process`` are objects or spec strings;
    ``network`` defaults to ``NetworkConfig(dim=target.dim)``
    with the data mean and variance estimated from 10 000 target samples.
    """
    from sgmbench.processes import get_process
    from sgmbench.targets import get_target

    target, process = get_target(target), get_process(process)
    cfg = config if isinstance(config, TrainConfig) else _from_dict(TrainConfig, config or {})
    if network is None:
        network = NetworkConfig(dim=target.dim)
    if not isinstance(network, NetworkConfig):
        network = _from_dict(NetworkConfig, {"dim": target.dim, **network})
    net_cfg = network
    if net_cfg.dim != target.dim:
        raise SgmbenchError(f"network dim {net_cfg.dim} != target dim {target.dim}")
    horizon = float(
        process.check_horizon(cfg.horizon if cfg.horizon is not None else process.default_horizon)
    )
    if cfg.t_min >= horizon:
        raise SgmbenchError(f"t_min ({cfg.t_min}) must be < horizon ({horizon})")
    gen = torch.Generator().manual_seed(int(cfg.seed))
    if cfg.num_train is not None:
        train_set = target.sample(cfg.num_train, generator=gen, dtype=torch.float64).to(torch.float64)
    else:
        train_set = None
    if net_cfg.data_mean is None:
        if train_set is not None:
            mean = tuple(float(v) for v in train_set.mean(0))
            var = max(float(train_set.var(0).mean()), 1e-12)
        else:
            mean, var = _data_moments(target, 10_000, torch.Generator().manual_seed(int(cfg.seed) + 7))
        net_cfg = dataclasses.replace(net_cfg, data_mean=mean, data_var=var)

    net = build_network(net_cfg, seed=cfg.seed)
    dtype = net_cfg.torch_dtype
    opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    opt = opt_cls(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    times = TimeDistribution(process, cfg.t_min, horizon, cfg.weighting, cfg.time_sampling)
    ev = make_eval_set(
        target,
        process,
        t_min=cfg.t_min,
        horizon=horizon,
        weighting=cfg.weighting,
        time_sampling=cfg.time_sampling,
        num_times=cfg.num_eval_times,
        num_per_time=cfg.num_eval_per_time,
        seed=cfg.eval_seed,
    )
    full_config: dict[str, Any] = {
        "network": net_cfg.as_dict(),
        "process": spec_of(process),
        "target": spec_of(target),
        "target_describe": _jsonable(target.describe()) if hasattr(target, "describe") else None,
        "horizon": horizon,
        "t_min": cfg.t_min,
        "train": cfg.as_dict(),
        "seed": cfg.seed,
        "torch_version": str(torch.__version__),
    }
    score = LearnedScore(net, full_config, target=target, process=process)
    history: list[dict[str, Any]] = []
    start = time.perf_counter()
    running: list[float] = []

    def record(step: int, phase: str) -> None:
        rec: dict[str, Any] = {
            "step": step,
            "phase": phase,
            "train_loss": float(np.mean(running)) if running else None,
        }
        rec.update(_losses_from_scores(score.network_scores(ev.x_t, ev.times), ev))
        rec["seconds"] = time.perf_counter() - start
        if callback is not None:
            callback(rec, score)
        history.append(rec)
        running.clear()

    record(0, "init")

    def one_step(step: int, ascent: bool, descent_index: int) -> float:
        net.train()
        if train_set is None:
            x0 = target.sample(cfg.batch_size, generator=gen, dtype=torch.float64).to(torch.float64)
        else:
            x0 = train_set[torch.randint(len(train_set), (cfg.batch_size,), generator=gen)]
        t, w = times.sample(cfg.batch_size, gen)
        z = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
        alpha, sigma = _coefficients(process, t)
        x_t = alpha * x0 + sigma * z
        resid = _dsm_residual(net, x_t.to(dtype), z, alpha, sigma)
        loss = 0.5 * (w.to(dtype) * (resid**2).sum(-1)).mean()
        if not bool(torch.isfinite(loss)):
            raise SgmbenchError(f"training diverged at step {step}: loss is {float(loss)}")
        opt.zero_grad(set_to_none=True)
        (-loss if ascent else loss).backward()
        if cfg.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        if ascent:
            lr = cfg.ascent_lr if cfg.ascent_lr is not None else cfg.lr
        elif cfg.lr_schedule == "cosine":
            lr = 0.5 * cfg.lr * (1 + math.cos(math.pi * descent_index / max(cfg.steps, 1)))
        else:
            lr = cfg.lr
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
        if cfg.weight_clip is not None:
            clip_weights_(net, cfg.weight_clip)
        value = float(loss.detach())
        running.append(value)
        return value

    step = 0
    for _ in range(cfg.ascent_steps):
        step += 1
        value = one_step(step, True, 0)
        if cfg.ascent_max_loss is not None and value >= cfg.ascent_max_loss:
            break
        if step % cfg.eval_every == 0 and step < cfg.ascent_steps:
            record(step, "ascent")
    if step > 0:
        if cfg.steps == 0:
            refresh_spectral_norm_(net)
        record(step, "ascent")
    for k in range(cfg.steps):
        step += 1
        one_step(step, False, k)
        if k == cfg.steps - 1:
            refresh_spectral_norm_(net)
        if step % cfg.eval_every == 0 or k == cfg.steps - 1:
            record(step, "descent")
    total = step
    net.eval()
    seconds = time.perf_counter() - start
    last = history[-1]
    full_config["final"] = {k: last[k] for k in ("dsm", "dsm_se", "sm", "sm_se", "gap", "gap_se")}
    full_config["final"]["steps"] = total
    full_config["seconds"] = seconds
    full_config["history"] = _jsonable(
        [{k: v for k, v in rec.items() if isinstance(v, (int, float, str)) or v is None} for rec in history]
    )
    return TrainResult(score, history, full_config, seconds)


# ------------------------------------------------------------------------------------------------
# one-sided Lipschitz constant (KFL A2)
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class OneSidedLipschitz:
    r"""Estimates of $L_s(t) = \sup_{x\ne y}(s(x,t)-s(y,t))\cdot(x-y)/\|x-y\|^2$ on a time grid.

    ``jacobian``: max over points of $\lambda_{\max}(\tfrac12(J + J^\top))$; ``pairs``: max of the
    difference quotient over random pairs; ``value``: the larger (both are lower bounds of the sup over
    $\mathbb R^d$, being maxima over finitely many points). ``nan`` where the score is not differentiable.
    """

    times: tuple[float, ...]
    value: tuple[float, ...]
    jacobian: tuple[float, ...]
    pairs: tuple[float, ...]
    num_points: int
    num_pairs: int
    provenance: str = "estimated: max over samples of p_t, segment points and random pairs (a lower bound)"

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _score_fn(score) -> Callable[[torch.Tensor, float], torch.Tensor]:
    if isinstance(score, LearnedScore):
        return score.differentiable
    if isinstance(score, Score):
        return score.evaluate
    return score


def _sym_jacobian_max(fn, x: torch.Tensor, t: float) -> torch.Tensor:
    """$\\lambda_{\\max}$ of the symmetrised Jacobian of ``fn(., t)`` per row of ``x`` (d backward passes)."""
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        y = fn(x, t)
        if not y.requires_grad:
            return torch.full((x.shape[0],), float("nan"), dtype=torch.float64)
        rows = []
        for i in range(x.shape[1]):
            (g,) = torch.autograd.grad(y[:, i].sum(), x, retain_graph=i + 1 < x.shape[1])
            rows.append(g)
    jac = torch.stack(rows, dim=1).to(torch.float64)  # [n, out i, in j]
    return torch.linalg.eigvalsh(0.5 * (jac + jac.transpose(1, 2)))[:, -1]


def one_sided_lipschitz(
    score, times, target=None, process=None, *, num_points: int = 256, num_pairs: int = 256, seed: int = 0
) -> OneSidedLipschitz:
    r"""Estimate the one-sided Lipschitz constant $L_s(t)$ of a score on a grid of times (KFL A2).

    For $C^1$ scores $L_s(t) = \sup_x\lambda_{\max}\big(\tfrac12(\nabla s + \nabla s^\top)(x, t)\big)$ (mean
    value theorem along the segment $[x, y]$). We take the max of that eigenvalue over ``num_points``
    samples of $p_t$ and ``num_pairs`` points on segments between random pairs of them, and of the
    difference quotient over those pairs. KFL's notebook (``Score_Wasserstein.ipynb``, cell "Estimating
    L_s") takes the quotient max over pairs of a 10×10 grid in $[0, 0.9]^2$; KFL Remark 4:
    $L_s\to -1/\sigma^2$
    for VP as $t \to \infty$. For an affine score $s = Ax + b$ the result is exactly
    $\lambda_{\max}((A + A^\top)/2)$. ``score``: a :class:`~sgmbench.scores.Score` (its target and process
    are used unless given) or a differentiable function ``(x, t) -> Tensor``.
    """
    target = target if target is not None else getattr(score, "target", None)
    process = process if process is not None else getattr(score, "process", None)
    if target is None or process is None:
        raise SgmbenchError("one_sided_lipschitz needs a target and a process to draw points from p_t")
    _check_int("num_points", num_points, minimum=2)
    _check_int("num_pairs", num_pairs, minimum=1)
    fn = _score_fn(score)
    grid = [float(t) for t in np.atleast_1d(np.asarray(times, dtype=float))]
    gen = torch.Generator().manual_seed(int(seed))
    value, jac_max, pair_max = [], [], []
    for t in grid:
        alpha, sigma = float(process.alpha(t)), float(process.sigma(t))
        x0 = target.sample(num_points, generator=gen, dtype=torch.float64).to(torch.float64)
        x = alpha * x0 + sigma * torch.randn(x0.shape, generator=gen, dtype=torch.float64)
        ia = torch.randint(num_points, (num_pairs,), generator=gen)
        ib = (ia + 1 + torch.randint(num_points - 1, (num_pairs,), generator=gen)) % num_points
        tau = torch.rand(num_pairs, 1, generator=gen, dtype=torch.float64)
        seg = x[ia] + tau * (x[ib] - x[ia])
        lam = _sym_jacobian_max(fn, torch.cat([x, seg]), t)
        with torch.no_grad():
            s = fn(x, t).to(torch.float64)
        dx = x[ia] - x[ib]
        quot = ((s[ia] - s[ib]) * dx).sum(-1) / (dx**2).sum(-1).clamp_min(1e-300)
        jm = float(lam.max()) if bool(torch.all(torch.isfinite(lam))) else float("nan")
        pm = float(quot.max())
        jac_max.append(jm)
        pair_max.append(pm)
        value.append(pm if math.isnan(jm) else max(jm, pm))
    return OneSidedLipschitz(
        tuple(grid), tuple(value), tuple(jac_max), tuple(pair_max), num_points, num_pairs
    )
