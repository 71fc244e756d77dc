r"""Scores $s(x, t) \approx \nabla\log p_t(x)$ with an evaluation counter.

Contract (every entry of :data:`scores`; learned scores in ``sgmbench.training`` follow it too):

- ``__call__(x: Tensor[n, d], t: float) -> Tensor[n, d]``; every call adds 1 to ``nfe``;
- ``error_sq(t) -> (value, stderr)``: $\varepsilon_t^2 = E_{p_t}\|s(X_t,t) - \nabla\log p_t(X_t)\|^2$,
  exact (stderr 0.0) where a closed form exists, Monte Carlo otherwise;
- ``affine(t) -> (a, b) | None``: for a Gaussian target whose score is affine and diagonal in the
  target's eigenbasis $U$: $s(x,t) = U(a \odot U^\top x + b)$, ``a`` and ``b`` float64 ``[d]``
  tensors. ``None`` if the score is not of that form. The exact-law engine uses it.
- ``describe() -> dict``: name and parameters (stored with results).

Optional: ``affine_grid(times) -> (a, b)``, ``[K, d]`` tables equal to stacking ``affine(t)``, raising
:class:`SgmbenchError` where ``affine`` is ``None`` (the ``exact`` and ``perturbed`` scores give it; the
exact-law engine uses it when present).

Built by :func:`build_score` from a spec (``exact``, ``perturbed:kind=bias,size=0.01``,
``empirical-optimal:num_train=1000``), the target, the forward process and a seed.

Registry :data:`scores`:

- ``exact``: the target's own noised score;
- ``perturbed:kind=bias|scale|field,size=eps[,schedule=const|sigma2]``: the exact score plus a
  controlled error whose $\varepsilon_t^2$ is known (exactly for bias, for scale on Gaussian targets and
  for field on Gaussian and mixture targets; by Monte Carlo otherwise);
- ``empirical-optimal:num_train=n``: the score of the noised empirical law of ``n`` training points drawn
  from the target (Li–Chen–Li's empirical optimal score, ``papers/empirical-score.md`` §1.2).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from sgmbench.errors import SgmbenchError
from sgmbench.registry import Registry, check_positive, parse_spec

DTYPE = torch.float64


class Score:
    """Base class: subclasses implement ``evaluate`` (and ``affine``/``error_sq`` where they can)."""

    name = "score"
    is_exact = False  # True only for the target's own score (exact-law fast path)

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

_RESERVED = ("target", "process")


def build_score(spec: str | Score, target, process, seed: int = 0) -> Score:
    """The score a spec names, for ``target`` (a Target or spec) and ``process`` (a ForwardProcess or spec).

    ``seed`` seeds whatever the score draws (a bias direction, a random field, a training set); a
    ``seed=`` in the spec overrides it. Unknown names or parameters raise :class:`SgmbenchError`
    listing the valid choices.
    """
    if isinstance(spec, Score):
        return spec
    from sgmbench.processes import get_process
    from sgmbench.targets import get_target

    target = get_target(target)
    process = get_process(process)
    name, params = parse_spec(spec)
    bad = [k for k in params if k in _RESERVED]
    if bad:
        raise SgmbenchError(f"score {name!r}: parameter {bad[0]!r} cannot be set in a spec")
    params.setdefault("seed", seed)
    return scores.build(name, {"target": target, "process": process, **params})


def available_scores() -> list[str]:
    return scores.names()


def _not_affine(score: Score) -> SgmbenchError:
    return SgmbenchError(
        f"score {score.name!r} is not affine in the eigenbasis of target {score.target.name!r}: no exact law"
    )


def _gaussian_affine_grid(target, process, times) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``[K, d]`` tables of the exact Gaussian score's $(a_t, b_t)$ at ``times`` (vectorised
    :func:`_gaussian_affine`)."""
    times = torch.as_tensor(times, dtype=DTYPE).reshape(-1)
    base = target.as_diag_gaussian()
    al, s2 = process.alpha(times).to(DTYPE), process.sigma2(times).to(DTYPE)
    lam_t = torch.addr(s2[:, None].expand(-1, base.var.numel()), al * al, base.var)
    return -1.0 / lam_t, al[:, None] * base.mean / lam_t


def _gaussian_affine(law) -> tuple[torch.Tensor, torch.Tensor] | None:
    r"""$(a, b)$ of the exact Gaussian score in the target eigenbasis: $a = -1/\lambda_t$,
    $b = \alpha_t U^\top\mu/\lambda_t$ with $\lambda_t = \alpha_t^2\lambda + \sigma_t^2$
    (metrics-and-exact.md §3.1)."""
    diag = law.as_diag_gaussian()
    return -1.0 / diag.var, diag.mean / diag.var


# ------------------------------------------------------------------------------------------------
# exact
# ------------------------------------------------------------------------------------------------
@scores.register(
    "exact", summary="the target's exact noised score grad log p_t", source="closed form per target"
)
class ExactScore(Score):
    r"""$s(x,t) = \nabla\log p_t(x)$, the target's own noised score; $\varepsilon_t^2 = 0$ exactly."""

    name = "exact"
    is_exact = True

    def __init__(self, target, process, seed: int = 0):
        super().__init__(target, process)

    def evaluate(self, x: torch.Tensor, t: float) -> torch.Tensor:
        return self.target.noised(self.process, t).score(x)

    def error_sq(self, t: float, num_samples: int = 0, seed: int = 0) -> tuple[float, float]:
        return 0.0, 0.0

    def affine(self, t: float):
        if not getattr(self.target, "is_gaussian", False):
            return None
        return _gaussian_affine(self.target.noised(self.process, t))

    def affine_grid(self, times) -> tuple[torch.Tensor, torch.Tensor]:
        """``affine(t)`` for every time at once: ``[K, d]`` tensors ``(a, b)``; :class:`SgmbenchError` if
        not affine."""
        if not getattr(self.target, "is_gaussian", False):
            raise _not_affine(self)
        return _gaussian_affine_grid(self.target, self.process, times)


# ------------------------------------------------------------------------------------------------
# perturbed
# ------------------------------------------------------------------------------------------------
PERTURBATION_KINDS = ("bias", "scale", "field")
SCHEDULES = ("const", "sigma2")
DIRECTIONS = ("ones", "random")


@scores.register(
    "perturbed",
    summary="exact score + controlled error of RMS size eps: kind=bias|scale|field, schedule=const|sigma2",
    source="sgmbench (derived by us); sigma2 schedule after Lee-Lu-Tan 2023 (arXiv 2209.12381)",
)
class PerturbedScore(Score):
    r"""$\hat s(x,t) = \nabla\log p_t(x) + c(t)\,\varepsilon\,e_t(x)$, with $c = 1$ (``const``) or
    $1/\sigma_t^2$ (``sigma2``).

    - ``bias``: $e_t = v$, a fixed unit vector ($1_d/\sqrt d$, or seeded uniform on the sphere with
      ``direction=random``): $\varepsilon_t^2 = c^2\varepsilon^2$ exactly;
    - ``scale``: $e_t = \nabla\log p_t$ (so $\hat s = (1 + c\varepsilon)\nabla\log p_t$):
      $\varepsilon_t^2 = c^2\varepsilon^2 E_{p_t}\|\nabla\log p_t\|^2$, which is ${\rm tr}\,\Sigma_t^{-1}$
      for a Gaussian target (exact), Monte Carlo otherwise;
    - ``field``: $e_t = \phi/\sqrt{E_{p_t}\|\phi\|^2}$ with the smooth seeded random-feature field
      $\phi(x) = A\cos(Wx + b)$ ($F$ = ``features`` rows of $W \sim N(0, I/(\ell^2 d))$, $\ell$ = ``length``,
      $b \sim U[0, 2\pi)$, $A \sim N(0, 1/F)$): $\varepsilon_t^2 = c^2\varepsilon^2$ up to the normaliser,
      which is exact for Gaussian and Gaussian-mixture $p_t$ (derived by us: $E\cos(u^\top X + c) =
      e^{-u^\top C u/2}\cos(u^\top m + c)$ for $X \sim N(m, C)$) and Monte Carlo otherwise (its relative
      standard error is reported as ``error_sq``'s stderr).

    ``sigma2`` makes $\sigma_t^2\varepsilon_t = \varepsilon$ constant, the noise-level-indexed score error
    $\varepsilon_\sigma$ of Lee, Lu, Tan 2023 (arXiv 2209.12381; the exact form of their assumption is
    from memory in ``papers/bounds-tv-kl.md`` §1.2, unverified). For Gaussian targets, ``bias`` and
    ``scale`` keep the score affine, so :meth:`affine` returns $(a, b)$ and the exact-law engine applies.
    """

    name = "perturbed"

    def __init__(
        self,
        target,
        process,
        kind: str = "bias",
        size: float = 0.1,
        schedule: str = "const",
        direction: str = "ones",
        features: int = 16,
        length: float = 1.0,
        num_mc: int = 4096,
        seed: int = 0,
    ):
        if kind not in PERTURBATION_KINDS:
            raise SgmbenchError(f"perturbed: unknown kind {kind!r}; valid: {', '.join(PERTURBATION_KINDS)}")
        if schedule not in SCHEDULES:
            raise SgmbenchError(f"perturbed: unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")
        if direction not in DIRECTIONS:
            raise SgmbenchError(f"perturbed: unknown direction {direction!r}; valid: {', '.join(DIRECTIONS)}")
        size = check_positive("size", size, allow_zero=True)
        if isinstance(features, bool) or not isinstance(features, int) or features < 1:
            raise SgmbenchError(f"features must be an integer >= 1, got {features!r}")
        if isinstance(num_mc, bool) or not isinstance(num_mc, int) or num_mc < 2:
            raise SgmbenchError(f"num_mc must be an integer >= 2, got {num_mc!r}")
        length = check_positive("length", length)
        params: dict[str, Any] = {"kind": kind, "size": size, "schedule": schedule, "seed": seed}
        if kind == "bias":
            params["direction"] = direction
        if kind == "field":
            params.update(features=features, length=length, num_mc=num_mc)
        super().__init__(target, process, **params)
        self.kind, self.size, self.schedule, self.seed = kind, size, schedule, int(seed)
        self.num_mc = num_mc
        d = target.dim
        gen = torch.Generator().manual_seed(self.seed)
        if kind == "bias":
            v = (
                torch.ones(d, dtype=DTYPE)
                if direction == "ones"
                else torch.randn(d, generator=gen, dtype=DTYPE)
            )
            self._direction = v / v.norm()
        if kind == "field":
            self._W = torch.randn(features, d, generator=gen, dtype=DTYPE) / (length * math.sqrt(d))
            self._b = 2 * math.pi * torch.rand(features, generator=gen, dtype=DTYPE)
            self._A = torch.randn(d, features, generator=gen, dtype=DTYPE) / math.sqrt(features)
        self._norm_cache: dict[float, tuple[float, float]] = {}
        self._dev: dict[tuple, torch.Tensor] = {}

    # --- helpers -------------------------------------------------------------------------------
    def _on(self, key: str, tensor: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        k = (key, str(like.device), like.dtype)
        if k not in self._dev:
            self._dev[k] = tensor.to(device=like.device, dtype=like.dtype)
        return self._dev[k]

    def coefficient(self, t: float) -> float:
        """$c(t)\\,\\varepsilon$: the size of the perturbation at time $t$."""
        if self.schedule == "const":
            return self.size
        s2 = float(self.process.sigma2(t))
        if s2 <= 0.0:
            raise SgmbenchError(f"perturbed schedule=sigma2 is undefined at t={t} where sigma_t^2 = 0")
        return self.size / s2

    def field(self, x: torch.Tensor) -> torch.Tensor:
        r"""The raw field $\phi(x) = A\cos(Wx + b)$, ``[n, d]``."""
        return (
            torch.cos(x @ self._on("W", self._W, x).T + self._on("b", self._b, x))
            @ self._on("A", self._A, x).T
        )

    def field_norm_sq(self, t: float) -> tuple[float, float]:
        """$(E_{p_t}\\|\\phi\\|^2$, its standard error$)$: closed form for Gaussian components, else Monte
        Carlo."""
        key = float(t)
        if key not in self._norm_cache:
            law = self.target.noised(self.process, t)
            comps = getattr(law, "gaussian_components", None)
            if comps is not None:
                self._norm_cache[key] = (_field_norm_sq_gaussian(self._W, self._b, self._A, comps()), 0.0)
            else:
                gen = torch.Generator().manual_seed(self.seed + 7919)
                x = law.sample(self.num_mc, generator=gen)
                v = (self.field(x) ** 2).sum(-1)
                self._norm_cache[key] = (float(v.mean()), float(v.std()) / math.sqrt(self.num_mc))
        return self._norm_cache[key]

    # --- contract ------------------------------------------------------------------------------
    def evaluate(self, x: torch.Tensor, t: float) -> torch.Tensor:
        s = self.target.noised(self.process, t).score(x)
        c = self.coefficient(t)
        if self.kind == "bias":
            return s + c * self._on("v", self._direction, x)
        if self.kind == "scale":
            return (1.0 + c) * s
        norm2, _ = self.field_norm_sq(t)
        return s + (c / math.sqrt(norm2)) * self.field(x)

    def error_sq(self, t: float, num_samples: int = 4096, seed: int = 0) -> tuple[float, float]:
        """$\\varepsilon_t^2$ with its standard error (0.0 where exact); see the class docstring."""
        c2 = self.coefficient(t) ** 2
        if self.kind == "bias":
            return c2, 0.0
        if self.kind == "field":
            norm2, se = self.field_norm_sq(t)
            return c2, c2 * se / norm2
        law = self.target.noised(self.process, t)
        if hasattr(law, "score_sq_norm_mean"):
            return c2 * law.score_sq_norm_mean(), 0.0
        gen = torch.Generator().manual_seed(seed)
        v = (law.score(law.sample(num_samples, generator=gen)) ** 2).sum(-1)
        return c2 * float(v.mean()), c2 * float(v.std()) / math.sqrt(num_samples)

    def affine(self, t: float):
        if not getattr(self.target, "is_gaussian", False) or self.kind == "field":
            return None
        a, b = _gaussian_affine(self.target.noised(self.process, t))
        c = self.coefficient(t)
        if self.kind == "scale":
            return (1.0 + c) * a, (1.0 + c) * b
        return a, b + c * self._direction_coords()

    def _direction_coords(self) -> torch.Tensor:
        _, basis = self.target.eigh()
        return self._direction if basis is None else basis.T @ self._direction

    def affine_grid(self, times) -> tuple[torch.Tensor, torch.Tensor]:
        """``affine(t)`` for every time at once: ``[K, d]`` tensors ``(a, b)``; :class:`SgmbenchError` if
        not affine."""
        if not getattr(self.target, "is_gaussian", False) or self.kind == "field":
            raise _not_affine(self)
        times = torch.as_tensor(times, dtype=DTYPE).reshape(-1)
        a, b = _gaussian_affine_grid(self.target, self.process, times)
        c = torch.tensor([self.coefficient(float(t)) for t in times], dtype=DTYPE)[:, None]
        if self.kind == "scale":
            return (1.0 + c) * a, (1.0 + c) * b
        return a, b + c * self._direction_coords()


def _field_norm_sq_gaussian(W, b, A, components) -> float:
    r"""$E\|A\cos(WX + b)\|^2$ for $X \sim \sum_k w_k N(m_k, U_k{\rm diag}(\lambda_k)U_k^\top)$, exactly.

    With $c_j = \cos(w_j^\top X + b_j)$: $E\|Ac\|^2 = \sum_{jk}(A^\top A)_{jk}E[c_jc_k]$ and
    $E[c_jc_k] = \tfrac12\sum_\pm e^{-(Q_{jj} + Q_{kk} \pm 2Q_{jk})/2}\cos(M_j \pm M_k + b_j \pm b_k)$, where
    $Q = WCW^\top$, $M = Wm$ (derived by us from $E e^{iu^\top X} = e^{iu^\top m - u^\top Cu/2}$).
    """
    gram = A.T @ A
    total = torch.zeros((), dtype=DTYPE)
    for weight, mean, lam, basis in components:
        Wc = W if basis is None else W @ basis.to(DTYPE)
        Q = (Wc * lam.to(DTYPE)) @ Wc.T
        M = W @ mean.to(DTYPE)
        q = torch.diagonal(Q)
        minus = torch.exp(-0.5 * (q[:, None] + q[None, :] - 2 * Q)) * torch.cos(
            M[:, None] - M[None, :] + b[:, None] - b[None, :]
        )
        plus = torch.exp(-0.5 * (q[:, None] + q[None, :] + 2 * Q)) * torch.cos(
            M[:, None] + M[None, :] + b[:, None] + b[None, :]
        )
        total = total + float(weight) * (gram * 0.5 * (minus + plus)).sum()
    return float(total)


# ------------------------------------------------------------------------------------------------
# empirical optimal
# ------------------------------------------------------------------------------------------------
@scores.register(
    "empirical-optimal",
    summary="score of the noised empirical law of num_train points drawn from the target (seeded)",
    source="Li, Chen, Li 2024 (empirical optimal score; papers/empirical-score.md §1.2)",
)
class EmpiricalOptimalScore(Score):
    r"""$\hat s(t,x) = \big(\sum_i w_i\,\alpha_t x_i - x\big)/\sigma_t^2$, $w = {\rm softmax}_i(-\|x -
    \alpha_t x_i\|^2/(2\sigma_t^2))$.

    The training set $x_1..x_n$ is ``target.sample(num_train)`` with a generator seeded by ``seed``; the
    score is the exact noised score of :class:`sgmbench.targets.empirical.EmpiricalTarget` on it, so it
    is the minimiser of the empirical denoising score-matching loss (papers/empirical-score.md §1.2).
    ``error_sq`` is Monte Carlo against the true target's noised score.
    """

    name = "empirical-optimal"

    def __init__(self, target, process, num_train: int = 1000, chunk: int | None = None, seed: int = 0):
        from sgmbench.targets.empirical import EmpiricalTarget

        if isinstance(num_train, bool) or not isinstance(num_train, int) or num_train < 1:
            raise SgmbenchError(f"num_train must be an integer >= 1, got {num_train!r}")
        super().__init__(target, process, num_train=num_train, seed=seed)
        gen = torch.Generator().manual_seed(int(seed))
        points = target.sample(num_train, generator=gen)
        self.training = EmpiricalTarget(
            points, chunk=chunk, source=f"{num_train} points drawn from {target!r}"
        )

    def evaluate(self, x: torch.Tensor, t: float) -> torch.Tensor:
        return self.training.noised(self.process, t).score(x)


from sgmbench import training as _training  # noqa: E402,F401  (registers the "learned" score)
