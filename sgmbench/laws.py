r"""Exactly known Gaussian laws, the currency between the exact-law engine and the closed-form metrics.

A :class:`DiagGaussian` is $N(U m, U\,{\rm diag}(v)\,U^\top)$: ``mean`` $m$ and ``var`` $v$ are the
coordinates in an orthonormal ``basis`` $U$ (``None`` means the identity, so no $d\times d$ matrix is
stored). Two laws in the same basis compare coordinate by coordinate in $O(d)$.
"""

from __future__ import annotations

import dataclasses

import torch


@dataclasses.dataclass(frozen=True, eq=False)
class DiagGaussian:
    """$N(U\\,mean, U\\,diag(var)\\,U^T)$ with ``basis`` $U$ (``None`` = identity); float64 tensors."""

    mean: torch.Tensor
    var: torch.Tensor
    basis: torch.Tensor | None = None

    @property
    def dim(self) -> int:
        return int(self.mean.shape[-1])

    def full_mean(self) -> torch.Tensor:
        return self.mean if self.basis is None else self.basis @ self.mean

    def full_cov(self) -> torch.Tensor:
        if self.basis is None:
            return torch.diag(self.var)
        return (self.basis * self.var) @ self.basis.T

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        z = torch.randn(n, self.dim, generator=generator, dtype=self.mean.dtype)
        y = self.mean + z * self.var.sqrt()
        return y if self.basis is None else y @ self.basis.T

    def same_basis(self, other: DiagGaussian) -> bool:
        if self.basis is None and other.basis is None:
            return True
        if self.basis is None or other.basis is None:
            return False
        return self.basis is other.basis or torch.equal(self.basis, other.basis)
