r"""Gaussian targets $N(\mu, \Sigma)$: exact noised laws, scores and constants in the eigenbasis of $\Sigma$.

$X_t = \alpha_t X_0 + \sigma_t Z$ with $X_0 \sim N(\mu, \Sigma)$ is $N(\alpha_t\mu, \alpha_t^2\Sigma +
\sigma_t^2 I)$, so
with $\Sigma = U{\rm diag}(\lambda)U^\top$ the noised law is diagonal in the same basis with variances
$\lambda_{t,i} = \alpha_t^2\lambda_i + \sigma_t^2$ and score $\nabla\log p_t(x) = -U{\rm
diag}(\lambda_t)^{-1}U^\top(x - \alpha_t\mu)$
(``papers/metrics-and-exact.md`` §3.1). Axis-aligned covariances keep ``U = None``: no $d\times d$
matrix is ever formed, so ``gaussian:dim=1000`` costs $O(d)$ per point.

This module also holds the small helpers the other targets share (seeded normals on any device,
parameter vectors, Haar-random orthogonal bases, the per-device tensor cache).

Registry entry ``gaussian:dim=D,mean=M,var=V`` is $N(M\,1_D, V\,I_D)$ (a fixed CLI contract); ``mean`` and
``var`` also take ``;``-lists (one value per coordinate); ``cond=K`` makes the eigenvalues geometric
from ``var`` to ``var*K``; ``rotate=true`` turns the eigenbasis by a Haar-random orthogonal matrix drawn
from ``basis_seed``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from sgmbench.errors import SgmbenchError
from sgmbench.laws import DiagGaussian
from sgmbench.registry import check_positive
from sgmbench.targets.base import NoisedLaw, Target, TargetConstants, targets

DTYPE = torch.float64
LOG_2PI = math.log(2 * math.pi)


# ------------------------------------------------------------------------------------------------
# Shared helpers
# ------------------------------------------------------------------------------------------------
def randn(shape, generator: torch.Generator | None = None, device="cpu", dtype=DTYPE) -> torch.Tensor:
    """Standard normals of ``shape`` on ``device``, drawn on the generator's device (CPU when none).

    Drawing on the generator's device and then moving keeps a seeded CPU generator reproducible
    whatever the target device is.
    """
    gen_device = generator.device if generator is not None else torch.device(device)
    return torch.randn(shape, generator=generator, dtype=dtype, device=gen_device).to(device)


def randint(high: int, n: int, generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
    """``n`` uniform integers in ``[0, high)`` (drawn like :func:`randn`)."""
    gen_device = generator.device if generator is not None else torch.device(device)
    return torch.randint(high, (n,), generator=generator, device=gen_device).to(device)


def check_count(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum``, else :class:`SgmbenchError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SgmbenchError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SgmbenchError(f"{name} must be true or false, got {value!r}")
    return value


def as_vector(name: str, value: Any, dim: int, *, positive: bool = False) -> torch.Tensor:
    """A scalar or a length-``dim`` sequence/tensor as a float64 CPU vector; checks finiteness (and > 0)."""
    if isinstance(value, torch.Tensor):
        vec = value.detach().to(device="cpu", dtype=DTYPE).reshape(-1)
    else:
        seq = list(value) if isinstance(value, (tuple, list)) else [value]
        try:
            vec = torch.tensor([float(v) for v in seq], dtype=DTYPE)
        except (TypeError, ValueError):
            raise SgmbenchError(f"{name} must be a number or a ';'-list of numbers, got {value!r}") from None
    if vec.numel() == 1:
        vec = vec.expand(dim).clone()
    if vec.numel() != dim:
        raise SgmbenchError(f"{name} has {vec.numel()} entries but dim = {dim}: {value!r}")
    if not bool(torch.isfinite(vec).all()):
        raise SgmbenchError(f"{name} must be finite, got {value!r}")
    if positive and not bool((vec > 0).all()):
        bad = float(vec[vec <= 0][0])
        raise SgmbenchError(f"{name} must be > 0, got {bad!r} in {value!r}")
    return vec


def random_orthogonal(dim: int, seed: int, cols: int | None = None) -> torch.Tensor:
    """A Haar-random orthogonal ``[dim, cols]`` matrix (QR of a seeded Gaussian with the sign fix of
    Mezzadri 2007)."""
    gen = torch.Generator().manual_seed(int(seed))
    z = torch.randn(dim, cols or dim, generator=gen, dtype=DTYPE)
    q, r = torch.linalg.qr(z)
    signs = torch.where(torch.diagonal(r) < 0, -1.0, 1.0).to(DTYPE)
    return q * signs


class DeviceCache:
    """Mixin: ``self._on(key, tensor, like)`` returns ``tensor`` on ``like``'s device/dtype, cached."""

    def _on(self, key: str, tensor: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
        if tensor is None:
            return None
        if tensor.device == like.device and tensor.dtype == like.dtype:
            return tensor
        cache = self.__dict__.setdefault("_device_cache", {})
        k = (key, str(like.device), like.dtype)
        if k not in cache:
            cache[k] = tensor.to(device=like.device, dtype=like.dtype)
        return cache[k]


def gaussian_log_prob_and_score(
    x: torch.Tensor,
    mean: torch.Tensor,
    var: torch.Tensor,
    basis: torch.Tensor | None,
    want_score: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    r"""$\log N(x; m, U{\rm diag}(v)U^\top)$ and its score $-U{\rm diag}(v)^{-1}U^\top(x - m)$, batched over
    ``x``.

    ``mean`` is in ambient coordinates, ``var`` in the basis ``U`` (``None``: identity). All on ``x``'s
    device.
    """
    y = x - mean
    yc = y if basis is None else y @ basis
    q = yc / var
    logp = -0.5 * (yc * q).sum(-1) - 0.5 * (LOG_2PI * var.numel() + torch.log(var).sum())
    if not want_score:
        return logp, None
    score = -q if basis is None else -(q @ basis.T)
    return logp, score


# ------------------------------------------------------------------------------------------------
# Target
# ------------------------------------------------------------------------------------------------
class GaussianTarget(DeviceCache, Target):
    r"""$N(\mu, \Sigma)$ with $\Sigma = U{\rm diag}(\lambda)U^\top$ (``U = None`` for axis-aligned $\Sigma$).

    Python constructor: ``GaussianTarget(mean, cov)`` where ``cov`` is a scalar (isotropic), a ``[d]``
    vector (diagonal) or a symmetric positive-definite ``[d, d]`` matrix (eigendecomposed once; a
    matrix with zero off-diagonal entries keeps the diagonal fast path). ``GaussianTarget.from_eigh``
    takes the eigendecomposition directly.
    """

    name = "gaussian"
    source = "closed form; noised law N(alpha mu, alpha^2 Sigma + sigma^2 I) (metrics-and-exact.md §3.1)"
    is_gaussian = True

    def __init__(self, mean: Any, cov: Any = 1.0, *, params: dict[str, Any] | None = None):
        mean_t = torch.as_tensor(mean, dtype=DTYPE).detach().cpu()
        if mean_t.ndim == 0:
            mean_t = mean_t.reshape(1)
        if mean_t.ndim != 1:
            raise SgmbenchError(f"mean must be a vector, got shape {tuple(mean_t.shape)}")
        dim = int(mean_t.numel())
        mean_t = as_vector("mean", mean_t, dim)
        cov_t = torch.as_tensor(cov, dtype=DTYPE).detach().cpu()
        if cov_t.ndim <= 1:
            lam, basis = as_vector("variance", cov_t, dim, positive=True), None
        elif cov_t.shape == (dim, dim):
            lam, basis = _eigh_checked(cov_t)
        else:
            raise SgmbenchError(
                f"covariance has shape {tuple(cov_t.shape)}, expected ({dim}, {dim}) for dim {dim}"
            )
        self._init(mean_t, lam, basis, params)

    @classmethod
    def from_eigh(cls, mean: Any, eigenvalues: Any, basis: torch.Tensor | None = None, params=None):
        """$N(\\mu, U{\\rm diag}(\\lambda)U^\\top)$ from $\\lambda$ and an orthonormal $U$ (``None``:
        identity)."""
        self = cls.__new__(cls)
        mean_t = torch.as_tensor(mean, dtype=DTYPE).detach().cpu().reshape(-1)
        dim = int(mean_t.numel())
        lam = as_vector("eigenvalues", eigenvalues, dim, positive=True)
        if basis is not None:
            basis = torch.as_tensor(basis, dtype=DTYPE).detach().cpu()
            if basis.shape != (dim, dim):
                raise SgmbenchError(f"basis has shape {tuple(basis.shape)}, expected ({dim}, {dim})")
            err = float((basis.T @ basis - torch.eye(dim, dtype=DTYPE)).abs().max())
            if err > 1e-8:
                raise SgmbenchError(f"basis is not orthonormal (max |U^T U - I| = {err:.3g})")
        self._init(as_vector("mean", mean_t, dim), lam, basis, params)
        return self

    def _init(self, mean: torch.Tensor, lam: torch.Tensor, basis: torch.Tensor | None, params) -> None:
        dim = int(mean.numel())
        if params is None:
            params = {"dim": dim, "mean_norm": float(mean.norm()), "covariance": "custom"}
        params = {k: v for k, v in params.items() if k != "dim"}
        Target.__init__(self, dim, **params)
        self._mean = mean
        self._lam = lam
        self._basis = basis
        self._mean_coords = mean if basis is None else basis.T @ mean

    # --- exact-law interface -------------------------------------------------------------------
    @property
    def mean(self) -> torch.Tensor:
        """$\\mu$, float64 ``[d]``."""
        return self._mean

    def eigh(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(lambda, U)`` with $\\Sigma = U{\\rm diag}(\\lambda)U^\\top$; ``U`` is ``None`` for
        axis-aligned $\\Sigma$."""
        return self._lam, self._basis

    @property
    def covariance(self) -> torch.Tensor:
        """$\\Sigma$ as a dense ``[d, d]`` matrix (built on demand)."""
        if self._basis is None:
            return torch.diag(self._lam)
        return (self._basis * self._lam) @ self._basis.T

    def as_diag_gaussian(self) -> DiagGaussian:
        return DiagGaussian(mean=self._mean_coords, var=self._lam, basis=self._basis)

    # --- law ------------------------------------------------------------------------------------
    def sample(self, n: int, generator=None, device="cpu", dtype=DTYPE) -> torch.Tensor:
        return _sample_diag(self, self._mean, self._lam, self._basis, n, generator, device, dtype)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        logp, _ = gaussian_log_prob_and_score(
            x,
            self._on("mean", self._mean, x),
            self._on("lam", self._lam, x),
            self._on("U", self._basis, x),
            False,
        )
        return logp

    def noised(self, process, t: float) -> GaussianNoisedLaw:
        return GaussianNoisedLaw(self, process, t)

    def gaussian_components(self, alpha: float = 1.0, sigma2: float = 0.0):
        """``[(weight, mean, eigenvalues, basis)]`` of the law of $\\alpha X_0 + \\sigma Z$ (one
        component)."""
        return [(1.0, alpha * self._mean, alpha**2 * self._lam + sigma2, self._basis)]

    def constants(self) -> TargetConstants:
        r"""All exact. $m_0 = 1/\lambda_{\max}$, $L_0 = 1/\lambda_{\min}$ ($\nabla^2\log p_0 = -\Sigma^{-1}$);
        $E\|X\|^2 = {\rm tr}\Sigma + \|\mu\|^2$;
        ${\rm KL}(N(\mu,\Sigma)\|N(0,I)) = \tfrac12({\rm tr}\Sigma + \|\mu\|^2 - d - \log\det\Sigma)$;
        relative Fisher information $E\|\nabla\log p(X) + X\|^2 = E\|(I - \Sigma^{-1})(X-\mu) + \mu\|^2
        = \sum_i(\lambda_i - 2 + 1/\lambda_i) + \|\mu\|^2$ (derived by us: ${\rm
        tr}((I-\Sigma^{-1})^2\Sigma)$).
        """
        lam = self._lam
        mu2 = float(self._mean @ self._mean)
        names = (
            "second_moment mean_norm cov_eigenvalues strong_log_concavity score_lipschitz support_radius "
            "kl_to_standard_normal fisher_to_standard_normal"
        ).split()
        prov = {k: "exact" for k in names}
        prov["support_radius"] = "exact: unbounded support"
        return TargetConstants(
            dim=self.dim,
            second_moment=float(lam.sum()) + mu2,
            mean_norm=math.sqrt(mu2),
            cov_eigenvalues=tuple(sorted(float(v) for v in lam)),
            strong_log_concavity=float(1.0 / lam.max()),
            score_lipschitz=float(1.0 / lam.min()),
            support_radius=None,
            kl_to_standard_normal=0.5 * float(lam.sum() + mu2 - self.dim - torch.log(lam).sum()),
            fisher_to_standard_normal=float((lam - 2.0 + 1.0 / lam).sum()) + mu2,
            provenance=prov,
        )


def _sample_diag(cache: DeviceCache, mean, lam, basis, n, generator, device, dtype, basis_key="U"):
    """Sample $\\mu + U(\\sqrt\\lambda \\odot z)$, $z \\sim N(0, I)$ (``basis`` cached under
    ``basis_key``)."""
    z = randn((check_count("n", n, 0), int(lam.numel())), generator, device, dtype)
    y = z * lam.to(device=device, dtype=dtype).sqrt()
    if basis is not None:
        y = y @ cache._on(basis_key, basis, y).T
    return y + mean.to(device=device, dtype=dtype)


def _eigh_checked(cov: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Eigendecomposition of a covariance matrix; raise :class:`SgmbenchError` unless symmetric positive
    definite."""
    if not bool(torch.isfinite(cov).all()):
        raise SgmbenchError("covariance has non-finite entries")
    scale = float(cov.abs().max()) or 1.0
    asym = float((cov - cov.T).abs().max())
    if asym > 1e-10 * scale:
        raise SgmbenchError(f"covariance is not symmetric (max |C - C^T| = {asym:.3g})")
    off = cov - torch.diag(torch.diagonal(cov))
    if not bool(off.any()):
        diag = torch.diagonal(cov).clone()
        if not bool((diag > 0).all()):
            raise SgmbenchError(f"covariance is not positive definite: diagonal entry {float(diag.min())!r}")
        return diag, None
    lam, basis = torch.linalg.eigh(0.5 * (cov + cov.T))
    if float(lam[0]) <= 1e-13 * max(float(lam[-1]), 0.0) or float(lam[0]) <= 0:
        raise SgmbenchError(f"covariance is not positive definite: smallest eigenvalue {float(lam[0]):.6g}")
    return lam, basis


# ------------------------------------------------------------------------------------------------
# Noised law
# ------------------------------------------------------------------------------------------------
class GaussianNoisedLaw(NoisedLaw):
    r"""$p_t = N(\alpha_t\mu, \alpha_t^2\Sigma + \sigma_t^2 I)$, eigenvalues $\lambda_t = \alpha_t^2\lambda
    + \sigma_t^2$ in basis $U$."""

    def __init__(self, target: GaussianTarget, process, t: float):
        super().__init__(target, process, t)
        self.mean = self.alpha * target._mean
        self.eigenvalues = self.alpha**2 * target._lam + self.sigma2
        self.basis = target._basis

    def as_diag_gaussian(self) -> DiagGaussian:
        """The law in the target eigenbasis: mean coordinates $\\alpha_t U^\\top\\mu$, variances
        $\\lambda_t$."""
        return DiagGaussian(
            mean=self.alpha * self.target._mean_coords, var=self.eigenvalues, basis=self.basis
        )

    def gaussian_components(self):
        return [(1.0, self.mean, self.eigenvalues, self.basis)]

    def _eval(self, x: torch.Tensor, want_score: bool):
        tg = self.target
        return gaussian_log_prob_and_score(
            x,
            self.alpha * tg._on("mean", tg._mean, x),
            self.alpha**2 * tg._on("lam", tg._lam, x) + self.sigma2,
            tg._on("U", tg._basis, x),
            want_score,
        )

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self._eval(x, False)[0]

    def score(self, x: torch.Tensor) -> torch.Tensor:
        r"""$-U{\rm diag}(\lambda_t)^{-1}U^\top(x - \alpha_t\mu)$ (metrics-and-exact.md §3.1)."""
        return self._eval(x, True)[1]

    def score_sq_norm_mean(self) -> float:
        r"""$E_{p_t}\|\nabla\log p_t\|^2 = {\rm tr}\,\Sigma_t^{-1} = \sum_i 1/\lambda_{t,i}$ (Gaussian
        integration by parts)."""
        return float((1.0 / self.eigenvalues).sum())

    def sample(self, n: int, generator=None, device="cpu", dtype=DTYPE) -> torch.Tensor:
        return _sample_diag(self.target, self.mean, self.eigenvalues, self.basis, n, generator, device, dtype)


# ------------------------------------------------------------------------------------------------
# Registry entry
# ------------------------------------------------------------------------------------------------
def resolve_dim(dim: Any, *lists: Any, default: int = 2) -> int:
    """``dim`` if given, else the length of the first ``;``-list among ``lists``, else ``default``."""
    if dim is None:
        lengths = [len(v) for v in lists if isinstance(v, (tuple, list))]
        dim = lengths[0] if lengths else default
    return check_count("dim", dim)


def gaussian_eigenvalues(dim: int, var: Any, cond: float) -> torch.Tensor:
    """Eigenvalues ``var`` (scalar or per coordinate), or ``var * cond**(i/(d-1))``, i = 0..d-1, when ``cond
    != 1``."""
    cond = check_positive("cond", cond)
    if cond != 1.0:
        if isinstance(var, (tuple, list)):
            raise SgmbenchError(f"cond={cond} needs a scalar var, got the list {var!r}")
        v = check_positive("var", var)
        expo = torch.arange(dim, dtype=DTYPE) / max(dim - 1, 1)
        return v * cond**expo
    return as_vector("var", var, dim, positive=True)


@targets.register(
    "gaussian",
    summary="N(mean*1, var*I) in R^dim; ;-lists per coordinate, cond=K geometric spectrum, rotate=true",
    source="closed form (metrics-and-exact.md §3.1)",
)
def gaussian(
    dim: int | None = None,
    mean: Any = 0.0,
    var: Any = 1.0,
    cond: float = 1.0,
    rotate: bool = False,
    basis_seed: int = 0,
) -> GaussianTarget:
    """N(mean 1_dim, var I_dim); ``mean``/``var`` may be per-coordinate lists; ``cond`` and ``rotate`` shape
    the spectrum."""
    dim = resolve_dim(dim, mean, var)
    mean_v = as_vector("mean", mean, dim)
    lam = gaussian_eigenvalues(dim, var, cond)
    basis = (
        random_orthogonal(dim, check_count("basis_seed", basis_seed, 0))
        if check_flag("rotate", rotate)
        else None
    )
    params = {"dim": dim, "mean": mean, "var": var}
    if cond != 1.0:
        params["cond"] = cond
    if rotate:
        params.update(rotate=True, basis_seed=basis_seed)
    return GaussianTarget.from_eigh(mean_v, lam, basis, params=params)
