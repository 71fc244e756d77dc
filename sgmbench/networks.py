r"""Time-conditioned MLPs for learned scores $s_\theta(x, t) \approx \nabla\log p_t(x)$.

The network sees the preconditioned input and the noise level, never the raw time (so one architecture
serves every forward process):

$$x_{\rm in} = c_{\rm in}(t)\,(x - \alpha_t m), \qquad c_{\rm in}(t) = (\alpha_t^2 v + \sigma_t^2)^{-1/2},
\qquad c_{\rm noise}(t) = \log\sigma_t ,$$

with $m$, $v$ the mean and mean per-coordinate variance of the training data (stored in the config), so
$x_{\rm in}$ has unit scale at every $t$ (Karras et al. 2022, arXiv 2206.00364, Sec. 5 and Table 1,
"$c_{\rm in}$, $c_{\rm noise}$"). $c_{\rm noise}$ enters through sinusoidal features
$[\sin(2^k c), \cos(2^k c)]_{k}$ (Vaswani et al. 2017; Song et al. 2021 use the same for NCSN++) and a
two-layer embedding MLP whose output is added to every hidden layer.

Two parametrisations of the score from the raw network output $F$:

- ``eps`` (default; DDPM, Ho et al. 2020, arXiv 2006.11239, Eq. 11): $F$ predicts the noise,
  $s_\theta = -F/\sigma_t$. The denoising loss is then $\lambda(t)\sigma_t^{-2}\|F - z\|^2$.
- ``score``: $F$ predicts the score in the units of the noised data, $s_\theta = c_{\rm in}(t)\,F$
  (for Gaussian data $F^\star = -x_{\rm in}$, of order one at every $t$).

Regularisation used by Kwon–Fan–Lee 2022 (arXiv 2212.06359, Sec. 5, Fig. 3) to lower the one-sided
Lipschitz constant of the score: ``spectral_norm`` wraps every linear layer of the $x$ path with
:func:`torch.nn.utils.parametrizations.spectral_norm` (Miyato et al. 2018), so its weight has spectral
norm $\le 1$ (power-iteration estimate); weight clipping is a training option (``weight_clip`` in
:class:`sgmbench.training.TrainConfig`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import nn

from sgmbench.errors import SgmbenchError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "silu": nn.SiLU,
    "relu": nn.ReLU,
    "softplus": nn.Softplus,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "elu": nn.ELU,
}
PARAMETRIZATIONS = ("eps", "score")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Architecture of a :class:`ScoreMLP` (JSON-able; stored in every checkpoint).

    - ``dim``: data dimension; ``width``, ``depth``: hidden units and hidden layers (depth >= 1);
    - ``activation``: one of :data:`ACTIVATIONS`; ``num_frequencies``: sinusoidal features of
      $\\log\\sigma_t$ (``2 * num_frequencies`` features);
    - ``parametrization``: ``eps`` or ``score`` (module docstring); ``spectral_norm``: bound every
      $x$-path linear layer to spectral norm 1; ``dtype``: ``float32`` or ``float64``;
    - ``data_mean``, ``data_var``: preconditioning constants $m$ (length ``dim``) and $v$; set by the
      trainer from the training data.
    """

    dim: int
    width: int = 128
    depth: int = 3
    activation: str = "silu"
    num_frequencies: int = 8
    parametrization: str = "eps"
    spectral_norm: bool = False
    dtype: str = "float32"
    data_mean: tuple[float, ...] | None = None
    data_var: float = 1.0

    def __post_init__(self):
        for name in ("dim", "width", "depth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SgmbenchError(f"network {name} must be a positive integer, got {value!r}")
        if isinstance(self.num_frequencies, bool) or not isinstance(self.num_frequencies, int):
            raise SgmbenchError(f"num_frequencies must be an integer >= 1, got {self.num_frequencies!r}")
        if self.num_frequencies < 1:
            raise SgmbenchError(f"num_frequencies must be an integer >= 1, got {self.num_frequencies!r}")
        if self.activation not in ACTIVATIONS:
            raise SgmbenchError(
                f"unknown activation {self.activation!r}; valid: {', '.join(sorted(ACTIVATIONS))}"
            )
        if self.parametrization not in PARAMETRIZATIONS:
            raise SgmbenchError(
                f"unknown parametrization {self.parametrization!r}; valid: {', '.join(PARAMETRIZATIONS)}"
            )
        if self.dtype not in DTYPES:
            raise SgmbenchError(f"unknown network dtype {self.dtype!r}; valid: {', '.join(DTYPES)}")
        if self.data_mean is not None:
            mean = tuple(float(v) for v in self.data_mean)
            if len(mean) != self.dim or not all(math.isfinite(v) for v in mean):
                raise SgmbenchError(f"data_mean must be {self.dim} finite numbers, got {self.data_mean!r}")
            object.__setattr__(self, "data_mean", mean)
        if not (math.isfinite(float(self.data_var)) and float(self.data_var) > 0):
            raise SgmbenchError(f"data_var must be > 0 and finite, got {self.data_var!r}")
        object.__setattr__(self, "data_var", float(self.data_var))

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if out["data_mean"] is not None:
            out["data_mean"] = list(out["data_mean"])
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkConfig:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise SgmbenchError(f"network config has unknown field(s) {', '.join(unknown)}")
        data = dict(data)
        if data.get("data_mean") is not None:
            data["data_mean"] = tuple(data["data_mean"])
        return cls(**data)

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]


class ScoreMLP(nn.Module):
    r"""MLP $F(x_{\rm in}, c_{\rm noise})$ with additive noise-level embedding in every hidden layer.

    ``forward(x, alpha, sigma)`` takes the raw noised point ``x`` ``[n, dim]`` and the per-sample
    $\alpha_t$, $\sigma_t$ (``[n]`` or ``[n, 1]``) and returns the score $s_\theta(x, t)$ ``[n, dim]``
    (module docstring for the preconditioning and the parametrisation); ``raw(x, alpha, sigma)``
    returns $F$ itself.
    """

    def __init__(self, config: NetworkConfig):
        super().__init__()
        self.config = config
        c = config
        act = ACTIVATIONS[c.activation]
        wrap = nn.utils.parametrizations.spectral_norm if c.spectral_norm else (lambda m: m)
        emb_dim = 2 * c.num_frequencies
        self.register_buffer("frequencies", 2.0 ** torch.arange(c.num_frequencies, dtype=torch.float64) / 4)
        mean = torch.zeros(c.dim, dtype=torch.float64) if c.data_mean is None else torch.tensor(c.data_mean)
        self.register_buffer("data_mean", mean)
        self.embed = nn.Sequential(nn.Linear(emb_dim, c.width), act(), nn.Linear(c.width, c.width), act())
        self.layers = nn.ModuleList(
            [wrap(nn.Linear(c.dim if i == 0 else c.width, c.width)) for i in range(c.depth)]
        )
        self.time_proj = nn.ModuleList([nn.Linear(c.width, c.width) for _ in range(c.depth)])
        self.act = act()
        self.out = wrap(nn.Linear(c.width, c.dim))
        self.to(c.torch_dtype)

    def x_path_linears(self) -> list[nn.Linear]:
        """The linear layers acting on $x$ (those spectral normalisation bounds)."""
        return [*self.layers, self.out]

    def _prepare(self, x, alpha, sigma):
        dtype = self.data_mean.dtype
        alpha = torch.as_tensor(alpha, dtype=dtype, device=x.device).reshape(-1, 1)
        sigma = torch.as_tensor(sigma, dtype=dtype, device=x.device).reshape(-1, 1)
        c_in = torch.rsqrt(alpha**2 * self.config.data_var + sigma**2)
        x_in = (x.to(dtype) - alpha * self.data_mean) * c_in
        c_noise = torch.log(sigma)
        phase = c_noise * self.frequencies
        emb = torch.cat([torch.sin(phase), torch.cos(phase)], dim=-1)
        return x_in, emb, c_in, sigma

    def _body(self, x_in: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        temb = self.embed(emb)
        h = x_in
        for layer, proj in zip(self.layers, self.time_proj):
            h = self.act(layer(h) + proj(temb))
        return self.out(h)

    def raw(self, x: torch.Tensor, alpha, sigma) -> torch.Tensor:
        """The network output $F$ (``eps``: the predicted noise)."""
        x_in, emb, _, _ = self._prepare(x, alpha, sigma)
        return self._body(x_in, emb)

    def forward(self, x: torch.Tensor, alpha, sigma) -> torch.Tensor:
        x_in, emb, c_in, sigma = self._prepare(x, alpha, sigma)
        out = self._body(x_in, emb)
        if self.config.parametrization == "eps":
            return -out / sigma
        return out * c_in


def build_network(config: NetworkConfig, seed: int = 0) -> ScoreMLP:
    """A freshly initialised :class:`ScoreMLP`; the initial weights depend only on ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return ScoreMLP(config)


def refresh_spectral_norm_(net: ScoreMLP, iterations: int = 50) -> None:
    """Run ``iterations`` more power iterations in every spectrally normalised layer (in place).

    During training the power iteration (one step per forward pass) lags the last optimiser step, so the
    normalised weight's spectral norm can exceed 1 slightly; the trainer calls this at the end.
    """
    if not net.config.spectral_norm:
        return
    mode = net.training
    net.train()
    with torch.no_grad():
        for _ in range(iterations):
            for layer in net.x_path_linears():
                layer.weight  # noqa: B018 - each access in training mode is one power iteration
    net.train(mode)


def clip_weights_(net: nn.Module, threshold: float) -> None:
    r"""Clamp every parameter to $[-c, c]$ in place (WGAN-style; Kwon–Fan–Lee 2022, Fig. 3, $c = 0.1$).

    For spectrally normalised layers the clamped tensor is the unnormalised ``original`` weight.
    """
    with torch.no_grad():
        for p in net.parameters():
            p.clamp_(-threshold, threshold)
