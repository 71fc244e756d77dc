r"""Scores $s(x, t) \approx \nabla\log p_t(x)$ with an evaluation counter.

Contract (every entry of :data:`scores`; learned scores in ``sgmbench.training`` follow it too):

- ``__call__(x: Tensor[n, d], t: float) -> Tensor[n, d]``; every call adds 1 to ``nfe``;
- ``error_sq(t) -> (value, stderr)``: $\varepsilon_t^2 = E_{p_t}\|s(X_t,t) - \nabla\log p_t(X_t)\|^2$,
  exact (stderr 0.0) where a closed form exists, Monte Carlo otherwise;
- ``affine(t) -> (a, b) | None``: for a Gaussian target whose score is affine and diagonal in the
  target's eigenbasis $U$: $s(x,t) = U(a \odot U^\top x + b)$, ``a`` and ``b`` float64 ``[d]``
  tensors. ``None`` if the score is not of that form. The exact-law engine uses it.
- ``describe() -> dict``: name and parameters (stored with results).

Built by :func:`build_score` from a spec (``exact``, ``perturbed:kind=bias,size=0.01``,
``empirical-optimal:num_train=1000``), the target, the forward process and a seed.
"""

from __future__ import annotations

from typing import Any

import torch

from sgmbench.registry import Registry


class Score:
    """Base class: subclasses implement ``evaluate`` (and ``affine``/``error_sq`` where they can)."""

    name = "score"

    def __init__(self, target, process, **params: Any):
        self.target = target
        self.process = process
        self.params = dict(params)
        self.nfe = 0

    def __call__(self, x: torch.Tensor, t: float) -> torch.Tensor:
        self.nfe += 1
        return self.evaluate(x, float(t))

    def evaluate(self, x: torch.Tensor, t: float) -> torch.Tensor:
        raise NotImplementedError

    def affine(self, t: float):
        return None

    def error_sq(self, t: float, num_samples: int = 4096, seed: int = 0) -> tuple[float, float]:
        """Monte Carlo $\\varepsilon_t^2$ against the target's exact noised score, with its standard error."""
        law = self.target.noised(self.process, t)
        gen = torch.Generator().manual_seed(seed)
        x = law.sample(num_samples, generator=gen)
        err = ((self.evaluate(x, float(t)) - law.score(x)) ** 2).sum(-1)
        return float(err.mean()), float(err.std() / num_samples**0.5)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "params": dict(self.params)}


scores: Registry[Score] = Registry("score")
