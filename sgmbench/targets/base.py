r"""The data law $p_0$ and its noised laws $p_t$ = law of $\alpha_t X_0 + \sigma_t Z$.

Contract every target implements (tests in ``tests/targets/test_interface.py`` run it over the registry):

- ``dim``, ``name``, ``params``, ``source``;
- ``sample(n, generator=None, device="cpu", dtype=torch.float64) -> Tensor[n, dim]``;
- ``log_prob(x) -> Tensor[n]`` (raises :class:`SgmbenchError` where no density exists, e.g. a circle);
- ``noised(process, t) -> NoisedLaw``: the exact law of $X_t$, with ``log_prob``, ``score`` and
  ``sample``; at ``t == 0`` it is the data law (whose score may not exist);
- ``constants() -> TargetConstants``: the constants that bounds need, with provenance;
- ``is_gaussian``: True for Gaussian targets, which also expose ``mean`` and ``eigh()`` (used by the
  exact-law engine, ``sgmbench.exact``).

All tensors are batched ``[n, dim]``, any float dtype and device (CPU by default).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from sgmbench.errors import SgmbenchError
from sgmbench.registry import Registry


@dataclasses.dataclass(frozen=True)
class TargetConstants:
    r"""Constants of $p_0$ used by the bounds. ``None`` means "does not exist" (e.g. no density).

    - ``second_moment``: $E\|X_0\|^2$;
    - ``mean_norm``: $\|E X_0\|$;
    - ``cov_eigenvalues``: eigenvalues of Cov$(X_0)$, ascending (``None`` if not computed);
    - ``strong_log_concavity``: $m_0$ with $-\nabla^2\log p_0 \succeq m_0 I$ (``None``: not log-concave);
    - ``score_lipschitz``: $L_0$ with $\|\nabla^2\log p_0\| \le L_0$ (``None``: no such constant);
    - ``support_radius``: $R$ with $P(\|X_0\| \le R) = 1$ (``None``: unbounded support);
    - ``kl_to_standard_normal``: KL$(p_0\,\|\,N(0,I))$ (``None``: infinite or unknown);
    - ``fisher_to_standard_normal``: relative Fisher information $E\|\nabla\log p_0(X) + X\|^2$;
    - ``provenance``: per constant name, how it was obtained: ``exact``, ``bound`` (a valid upper or
      lower bound, not the exact value), ``estimated`` (Monte Carlo; its size in the text).
    """

    dim: int
    second_moment: float
    mean_norm: float
    cov_eigenvalues: tuple[float, ...] | None = None
    strong_log_concavity: float | None = None
    score_lipschitz: float | None = None
    support_radius: float | None = None
    kl_to_standard_normal: float | None = None
    fisher_to_standard_normal: float | None = None
    provenance: dict[str, str] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class NoisedLaw:
    """The law of $X_t$ for one target, process and time; subclasses implement the methods."""

    def __init__(self, target: Target, process, t: float):
        self.target = target
        self.process = process
        self.t = float(t)
        self.alpha = float(process.alpha(self.t))
        self.sigma2 = float(process.sigma2(self.t))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def score(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None, device="cpu", dtype=torch.float64):
        """Sample $\\alpha_t X_0 + \\sigma_t Z$."""
        x0 = self.target.sample(n, generator=generator, device=device, dtype=dtype)
        z = torch.randn(x0.shape, generator=generator, dtype=dtype, device="cpu").to(device)
        return self.alpha * x0 + self.sigma2**0.5 * z


class Target:
    """Base class of data laws; see the module docstring for the contract."""

    name: str = "target"
    source: str = ""
    is_gaussian: bool = False
    has_density: bool = True

    def __init__(self, dim: int, **params: Any):
        if not isinstance(dim, int) or dim < 1:
            raise SgmbenchError(f"dim must be a positive integer, got {dim!r}")
        self.dim = dim
        self.params = {"dim": dim, **params}

    def sample(self, n: int, generator=None, device="cpu", dtype=torch.float64) -> torch.Tensor:
        raise NotImplementedError

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        raise SgmbenchError(f"target {self.name!r} has no density at t = 0")

    def noised(self, process, t: float) -> NoisedLaw:
        raise NotImplementedError

    def constants(self) -> TargetConstants:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "params": dict(self.params), "source": self.source}

    def __repr__(self) -> str:
        return f"{self.name}:" + ",".join(f"{k}={v}" for k, v in self.params.items())


targets: Registry[Target] = Registry("target")


def get_target(spec: str | Target) -> Target:
    """The target a spec string names (or the target itself)."""
    return spec if isinstance(spec, Target) else targets.create(spec)
