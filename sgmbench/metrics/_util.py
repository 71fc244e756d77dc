"""Private helpers of :mod:`sgmbench.metrics`: input checks, seeds, law adapters, Gaussian views."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from typing import Any

import numpy as np
import torch

from sgmbench.errors import SgmbenchError


# ------------------------------------------------------------------------------------------------
# Samples
# ------------------------------------------------------------------------------------------------
def as_samples(x: Any, name: str = "samples", *, min_n: int = 2) -> np.ndarray:
    """``x`` (numpy, torch or lists) as a C-contiguous float64 ``[n, d]`` array; checks shape and values.

    A 1-D array of length ``n`` is read as ``n`` points in dimension 1.
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    try:
        arr = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    except (TypeError, ValueError):
        raise SgmbenchError(f"{name} must be a numeric array, got {type(x).__name__}") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise SgmbenchError(f"{name} must have shape [n, d], got {arr.shape}")
    if arr.shape[0] < min_n:
        raise SgmbenchError(f"{name} needs at least {min_n} points, got n = {arr.shape[0]}")
    if arr.shape[1] < 1:
        raise SgmbenchError(f"{name} has dimension 0")
    if not np.isfinite(arr).all():
        raise SgmbenchError(f"{name} contains non-finite values (nan or inf)")
    return arr


def check_same_dim(x: np.ndarray, y: np.ndarray, xname: str = "x", yname: str = "y") -> int:
    if x.shape[1] != y.shape[1]:
        raise SgmbenchError(f"shape mismatch: {xname} has dimension {x.shape[1]}, {yname} has {y.shape[1]}")
    return x.shape[1]


def as_vector(v: Any, name: str) -> np.ndarray:
    if isinstance(v, torch.Tensor):
        v = v.detach().to("cpu", torch.float64).numpy()
    arr = np.atleast_1d(np.asarray(v, dtype=np.float64))
    if arr.ndim != 1:
        raise SgmbenchError(f"{name} must be a vector, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise SgmbenchError(f"{name} contains non-finite values")
    return arr


# ------------------------------------------------------------------------------------------------
# Seeds and laws
# ------------------------------------------------------------------------------------------------
def child_seeds(seed: int, count: int, *salt: int) -> list[int]:
    """``count`` independent 63-bit seeds derived from ``seed`` (and ``salt``) by ``numpy.SeedSequence``."""
    ss = np.random.SeedSequence([int(seed) & (2**63 - 1), *salt])
    return [int(s.generate_state(1, np.uint64)[0] >> np.uint64(1)) for s in ss.spawn(count)]


def sample_law(law: Any, n: int, seed: int, name: str = "law") -> np.ndarray:
    """``n`` samples of ``law`` (anything with ``sample(n, generator=...)``) as float64 ``[n, d]``."""
    if not hasattr(law, "sample"):
        raise SgmbenchError(
            f"{name} ({type(law).__name__}) cannot be sampled: it has no sample(n, generator)"
        )
    gen = torch.Generator().manual_seed(int(seed))
    return as_samples(law.sample(int(n), generator=gen), f"samples of {name}")


def has_log_prob(law: Any) -> bool:
    """True when ``law.log_prob`` exists and does not refuse (targets without density raise)."""
    if not hasattr(law, "log_prob") or getattr(law, "has_density", True) is False:
        return False
    return True


def log_prob(law: Any, x: np.ndarray, name: str = "law") -> np.ndarray:
    """``law.log_prob(x)`` as a float64 vector (``x`` passed as a float64 torch tensor)."""
    if not hasattr(law, "log_prob"):
        raise SgmbenchError(f"{name} ({type(law).__name__}) has no log_prob")
    out = law.log_prob(torch.from_numpy(np.ascontiguousarray(x)))
    if isinstance(out, torch.Tensor):
        out = out.detach().to("cpu", torch.float64).numpy()
    out = np.asarray(out, dtype=np.float64).reshape(-1)
    if out.shape[0] != x.shape[0]:
        raise SgmbenchError(f"{name}.log_prob returned {out.shape[0]} values for {x.shape[0]} points")
    return out


def law_dim(law: Any) -> int | None:
    d = getattr(law, "dim", None)
    return int(d) if d is not None else None


def law_key(law: Any) -> str | None:
    """A stable string identifying ``law`` for caches, or ``None`` when there is none.

    Uses ``law.cache_key`` if present, the numbers of a Gaussian, or ``repr`` of a registered
    :class:`~sgmbench.targets.Target` (``name:params``).
    """
    key = getattr(law, "cache_key", None)
    if isinstance(key, str):
        return key
    g = try_gaussian(law)
    if g is not None:
        h = hashlib.sha1()
        for arr in (g.mean, g.var, g.basis if g.basis is not None else np.zeros(0)):
            h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
            h.update(b"|")
        return f"gaussian:{g.dim}:{h.hexdigest()}"
    try:
        from sgmbench.targets.base import Target
    except ImportError:  # pragma: no cover
        return None
    if isinstance(law, Target):
        return repr(law)
    return None


# ------------------------------------------------------------------------------------------------
# Gaussian views
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class GaussianView:
    """$N(U m, U{\\rm diag}(v)U^\\top)$ as numpy: ``mean`` m and ``var`` v in the basis ``U`` (None = I)."""

    mean: np.ndarray
    var: np.ndarray
    basis: np.ndarray | None

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    def full_mean(self) -> np.ndarray:
        return self.mean if self.basis is None else self.basis @ self.mean

    def full_cov(self) -> np.ndarray:
        return np.diag(self.var) if self.basis is None else (self.basis * self.var) @ self.basis.T

    def same_basis(self, other: GaussianView) -> bool:
        if self.basis is None or other.basis is None:
            return self.basis is None and other.basis is None
        return self.basis is other.basis or (
            self.basis.shape == other.basis.shape and np.array_equal(self.basis, other.basis)
        )

    def is_isotropic(self) -> bool:
        return bool(np.all(self.var == self.var[0]))


def _np(t: Any) -> np.ndarray | None:
    if t is None:
        return None
    if isinstance(t, torch.Tensor):
        return t.detach().to("cpu", torch.float64).numpy()
    return np.asarray(t, dtype=np.float64)


def try_gaussian(law: Any) -> GaussianView | None:
    """A :class:`GaussianView` of ``law`` if it is an exactly known Gaussian, else ``None``.

    Accepts :class:`~sgmbench.laws.DiagGaussian`, anything with ``as_diag_gaussian()`` (Gaussian
    targets and their noised laws), a :class:`GaussianView`, or a ``(mean, cov)`` pair with ``cov`` a
    scalar, a variance vector or a ``[d, d]`` matrix.
    """
    if isinstance(law, GaussianView):
        return law
    if hasattr(law, "as_diag_gaussian"):
        try:
            law = law.as_diag_gaussian()
        except (NotImplementedError, SgmbenchError):
            return None
    if all(hasattr(law, a) for a in ("mean", "var", "basis")) and not callable(law.mean):
        mean, var = _np(law.mean).reshape(-1), _np(law.var).reshape(-1)
        basis = _np(law.basis)
        return GaussianView(mean, var, basis)
    if isinstance(law, tuple) and len(law) == 2:
        return gaussian_from_moments(*law)
    return None


def gaussian_from_moments(mean: Any, cov: Any, name: str = "cov") -> GaussianView:
    """A :class:`GaussianView` from a mean and a covariance (scalar, variance vector or matrix).

    A matrix is eigendecomposed (``U = None`` if it is diagonal); it must be symmetric; positivity is
    checked by the metric that needs it.
    """
    m = as_vector(mean, "mean")
    d = m.shape[0]
    c = _np(cov)
    if c.ndim == 0 or c.size == 1 and d == 1 and c.ndim < 2:
        return GaussianView(m, np.full(d, float(c.reshape(-1)[0])), None)
    if c.ndim == 1:
        if c.shape[0] != d:
            raise SgmbenchError(f"shape mismatch: mean has dimension {d}, variance vector has {c.shape[0]}")
        return GaussianView(m, c.copy(), None)
    if c.ndim != 2 or c.shape != (d, d):
        raise SgmbenchError(f"shape mismatch: mean has dimension {d}, {name} has shape {c.shape}")
    if not np.isfinite(c).all():
        raise SgmbenchError(f"{name} contains non-finite values")
    if not np.allclose(c, c.T, rtol=1e-10, atol=1e-12 * max(1.0, float(np.abs(c).max()))):
        raise SgmbenchError(f"{name} is not symmetric")
    c = 0.5 * (c + c.T)
    off = c - np.diag(np.diag(c))
    if not off.any():
        return GaussianView(m, np.diag(c).copy(), None)
    lam, u = np.linalg.eigh(c)
    return GaussianView(u.T @ m, lam, u)


def check_pd(g: GaussianView, name: str, *, allow_zero: bool = False) -> None:
    """Raise :class:`SgmbenchError` unless all variances of ``g`` are > 0 (or ≥ 0) and finite."""
    v = g.var
    bad = ~np.isfinite(v) | ((v < 0) if allow_zero else (v <= 0))
    if bad.any():
        what = "positive semi-definite" if allow_zero else "positive definite"
        raise SgmbenchError(
            f"{name} covariance is not {what}: eigenvalue {float(v[bad][0])!r} (min over {v.size})"
        )


def finite_or_nan(x: float) -> float:
    return float(x) if math.isfinite(x) else math.nan
