r"""Noise for the SDE samplers: one Brownian path shared by runs with different step counts.

Common random numbers across step sizes (torchsde ``BrownianInterval``/``BrownianTree``, diffrax
``VirtualBrownianTree`` with nested ``StepTo`` grids, k-diffusion ``BrownianTreeNoiseSampler``): the
$N$-step and the $2N$-step run of a sampler see the same path, so differences between step counts carry
little Monte Carlo noise and strong errors are measurable.

A :class:`BrownianPath` is built on a *base grid* (a decreasing tensor of forward times, e.g. the finest
grid of a sweep, or the union of several grids: :meth:`BrownianPath.for_grids`). Base interval
$j = [t_{j+1}, t_j]$ owns one standard normal $Z_j \in \mathbb R^{n\times d}$, drawn from its own
generator seeded by ``(seed, j)``, so nothing is stored and any interval can be regenerated. For a
*clock* $c$ (an increasing function of time, e.g. $c(t) = t$ or $c(t) = \rho_t$) the path in that clock is
$W^c(t_i) - W^c(t_k) = \sum_{j=i}^{k-1}\sqrt{c(t_j) - c(t_{j+1})}\,Z_j$: a Brownian motion in the time
$c$ observed at the base times. A sampler step over any $[t_{k+1}, t_k]$ whose endpoints are base
times gets the sum of the base increments inside it, so coarse increments are exactly sums of fine ones.

The clock lets each sampler use the Brownian motion its noise is an increment of: Euler–Maruyama uses
$g(t_k)\,(B_{t_k} - B_{t_{k+1}})$ (clock $t$); the exponential integrator's noise
$$\int_{t_{k+1}}^{t_k}\frac{\alpha_{t_{k+1}}}{\alpha_u}g(u)\,dB_u
  = \alpha_{t_{k+1}}(W^\rho(t_k) - W^\rho(t_{k+1}))$$
is an increment in the clock $\rho_t = \sigma_t^2/\alpha_t^2$ (derived: $W^\rho = \int g/\alpha\,dB$ has
$d\langle W^\rho\rangle = g^2/\alpha^2\,du = d\rho$), so it is exact under refinement.

:class:`IndependentNoise` draws fresh normals for each step (no sharing), the default when a sampler gets
``noise=None``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from sgmbench.errors import SgmbenchError
from sgmbench.grids import check_grid

DTYPE = torch.float64
Clock = Callable[[torch.Tensor], torch.Tensor]


def _seed(*keys: int) -> int:
    """A 63-bit seed from a tuple of non-negative integers (numpy ``SeedSequence`` mixing)."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1, np.uint64)[0] >> np.uint64(1))


class NoiseSource:
    """What a sampler asks for: one standard normal ``[n, d]`` per step (and auxiliary ones)."""

    num_samples: int
    dim: int

    def normal(self, t_hi: float, t_lo: float, clock: Clock | None = None) -> torch.Tensor:
        r"""$(W^c(t_{hi}) - W^c(t_{lo}))/\sqrt{c(t_{hi}) - c(t_{lo})} \sim N(0, I)$, float64 ``[n, d]``."""
        raise NotImplementedError

    def aux_normal(self, t: float, index: int) -> torch.Tensor:
        """An extra standard normal ``[n, d]`` attached to time ``t`` (e.g. a Langevin corrector step)."""
        raise NotImplementedError


class IndependentNoise(NoiseSource):
    """Fresh independent normals from one ``torch.Generator`` for every request (no common random numbers)."""

    def __init__(self, num_samples: int, dim: int, generator: torch.Generator | None = None):
        self.num_samples, self.dim = int(num_samples), int(dim)
        self.generator = generator

    def normal(self, t_hi, t_lo, clock=None):
        return torch.randn(self.num_samples, self.dim, generator=self.generator, dtype=DTYPE)

    def aux_normal(self, t, index):
        return torch.randn(self.num_samples, self.dim, generator=self.generator, dtype=DTYPE)


class BrownianPath(NoiseSource):
    """A seeded Brownian path on a base grid of times, shared by every grid whose times lie on it.

    ``base_grid``: decreasing forward times (the finest grid of a sweep); ``num_samples`` paths in
    ``dim`` dimensions; ``seed``. Times are matched to the base grid with relative tolerance
    ``rtol`` (so ``linspace(T, d, 2N+1)[2k]`` and ``linspace(T, d, N+1)[k]`` match despite rounding).
    A query off the base grid raises :class:`SgmbenchError`.
    """

    def __init__(
        self, base_grid: torch.Tensor, num_samples: int, dim: int, seed: int = 0, rtol: float = 1e-9
    ):
        self.base = check_grid(base_grid)
        self.num_samples, self.dim, self.seed = int(num_samples), int(dim), int(seed)
        if self.num_samples < 1 or self.dim < 1:
            raise SgmbenchError(f"BrownianPath needs num_samples, dim >= 1, got {num_samples}, {dim}")
        self.rtol = float(rtol)
        self._scale = float(self.base.abs().max())
        self._asc = self.base.flip(0)  # ascending copy for searchsorted
        self._dc: dict[Clock | None, torch.Tensor] = {}

    @classmethod
    def for_grids(
        cls, grids: Sequence[torch.Tensor], num_samples: int, dim: int, seed: int = 0, rtol: float = 1e-9
    ):
        """A path whose base grid is the union of ``grids`` (times within ``rtol`` merged)."""
        allt = torch.cat([check_grid(g) for g in grids]).sort(descending=True).values
        scale = float(allt.abs().max())
        keep = torch.ones_like(allt, dtype=torch.bool)
        keep[1:] = (allt[:-1] - allt[1:]) > rtol * scale
        return cls(allt[keep], num_samples, dim, seed=seed, rtol=rtol)

    # --- lookup -------------------------------------------------------------------------------
    def index(self, t: float) -> int:
        """Index of the base time equal to ``t`` (within ``rtol``); :class:`SgmbenchError` if none."""
        t = float(t)
        m = self.base.numel()
        pos = int(torch.searchsorted(self._asc, torch.tensor([t], dtype=DTYPE)))
        best = None
        for p in (pos - 1, pos):
            if 0 <= p < m and abs(float(self._asc[p]) - t) <= self.rtol * max(self._scale, 1e-300):
                best = p
        if best is None:
            raise SgmbenchError(
                f"time {t!r} is not on the Brownian path's base grid (build it on the finest grid)"
            )
        return m - 1 - best

    def base_normal(self, j: int) -> torch.Tensor:
        """$Z_j$, the standard normal of base interval $j$ (regenerated from ``(seed, j)``)."""
        gen = torch.Generator().manual_seed(_seed(self.seed, 0, j))
        return torch.randn(self.num_samples, self.dim, generator=gen, dtype=DTYPE)

    def _clock_steps(self, clock: Clock | None) -> torch.Tensor:
        """$c(t_j) - c(t_{j+1})$ on the base grid (cached per clock; equal bound methods share an entry)."""
        hit = self._dc.get(clock)
        if hit is not None:
            return hit
        vals = self.base if clock is None else torch.as_tensor(clock(self.base), dtype=DTYPE).cpu()
        dc = vals[:-1] - vals[1:]
        if not bool(torch.isfinite(dc).all()) or bool((dc < 0).any()):
            raise SgmbenchError("a Brownian clock must be finite and increasing in time on the base grid")
        self._dc[clock] = dc
        return dc

    # --- increments ---------------------------------------------------------------------------
    def increment(self, t_hi: float, t_lo: float, clock: Clock | None = None) -> torch.Tensor:
        r"""$W^c(t_{hi}) - W^c(t_{lo}) = \sum_{j} \sqrt{\Delta c_j}\,Z_j$ over the base intervals in
        $[t_{lo}, t_{hi}]$."""
        i, k = self.index(t_hi), self.index(t_lo)
        if k <= i:
            raise SgmbenchError(f"increment needs t_hi > t_lo, got {t_hi!r}, {t_lo!r}")
        dc = self._clock_steps(clock)
        out = torch.zeros(self.num_samples, self.dim, dtype=DTYPE)
        for j in range(i, k):
            out += float(dc[j]) ** 0.5 * self.base_normal(j)
        return out

    def normal(self, t_hi, t_lo, clock=None):
        i, k = self.index(t_hi), self.index(t_lo)
        var = float(self._clock_steps(clock)[i:k].sum())
        if not var > 0:
            raise SgmbenchError(f"the clock does not increase on [{t_lo!r}, {t_hi!r}]")
        return self.increment(t_hi, t_lo, clock) / var**0.5

    def aux_normal(self, t, index):
        """Keyed by the base index of ``t`` and ``index``: runs that visit the same time share it."""
        gen = torch.Generator().manual_seed(_seed(self.seed, 1, self.index(t), int(index)))
        return torch.randn(self.num_samples, self.dim, generator=gen, dtype=DTYPE)
