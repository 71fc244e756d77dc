r"""Exact generated laws for Gaussian targets and affine scores: no sampling, no Monte Carlo noise.

With $p_0 = N(\mu, U{\rm diag}(\lambda)U^\top)$ and a score that is affine and diagonal in the
eigenbasis $U$, $s(x, t) = U(a_t \odot U^\top x + b_t)$ (``score.affine(t)``; the exact score has
$a_t = -1/\lambda_t$, $b_t = \alpha_t\tilde\mu/\lambda_t$, $\lambda_t = \alpha_t^2\lambda + \sigma_t^2$,
$\tilde\mu = U^\top\mu$), every sampler of :mod:`sgmbench.samplers` maps a Gaussian to a Gaussian: in
eigen-coordinates step $k$ is
$$y_{k+1} = M_k \odot y_k + c_k + \sqrt{Q_k}\odot Z_k,$$
so the output law is $N(m_N, {\rm diag}(v_N))$ with
$$m_{k+1} = M_k m_k + c_k,\qquad v_{k+1} = M_k^2 v_k + Q_k$$
(metrics-and-exact.md §3.2; the table of $(M, c, Q)$ per sampler is there). The single-stage samplers
$x \mapsto r x + \gamma s + \eta Z$ give $M = r + \gamma a$, $c = \gamma b$, $Q = \eta^2$ with the very
coefficients the sampler itself uses (:func:`sgmbench.samplers.linear_step`).

The recursion is solved in closed form, vectorised over the grid and the $d$ coordinates:
with suffix products $P_k = \prod_{j\ge k} M_j$ ($P_N = 1$),
$m_N = P_0 m_0 + \sum_k P_{k+1}c_k$ and $v_N = P_0^2 v_0 + \sum_k P_{k+1}^2 Q_k$: $O(Nd)$ in float64.

Also here: the reference law $p_t$ (:func:`reference_law`), the continuous-time output with the exact
score from a wrong initial law (:func:`continuous_law`, metrics-and-exact.md §3.3) and the
continuous-time output with the empirical optimal score, a Gaussian KDE (:func:`kde_law`,
empirical-score.md §3.1).
"""

from __future__ import annotations

import dataclasses
import math
import threading
import weakref
from collections.abc import Sequence

import torch

from sgmbench.errors import DivergenceError, SgmbenchError
from sgmbench.grids import check_grid
from sgmbench.laws import DiagGaussian
from sgmbench.samplers import (
    LINEAR_STEPS,
    Sampler,
    check_pc_params,
    get_sampler,
    langevin_step_size,
    pf_drift_coefficients,
    samplers,
)

DTYPE = torch.float64
_PARTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# ------------------------------------------------------------------------------------------------
# Gaussian target in its eigenbasis
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class _Parts:
    lam: torch.Tensor  # eigenvalues of Sigma, [d]
    basis: torch.Tensor | None  # U, or None for the identity
    mean: torch.Tensor  # U^T mu, [d]


def _gaussian_parts(target) -> _Parts:
    """$(\\lambda, U, U^\\top\\mu)$ of a Gaussian target (cached per target object)."""
    if not getattr(target, "is_gaussian", False):
        raise SgmbenchError(f"exact laws need a Gaussian target, got {getattr(target, 'name', target)!r}")
    try:
        hit = _PARTS.get(target)
    except TypeError:
        hit = None
    if hit is not None:
        return hit
    lam, basis = target.eigh()
    lam = torch.as_tensor(lam, dtype=DTYPE).cpu()
    mu = torch.as_tensor(target.mean, dtype=DTYPE).cpu().reshape(-1)
    if basis is not None:
        basis = torch.as_tensor(basis, dtype=DTYPE).cpu()
        mu = basis.T @ mu
    parts = _Parts(lam, basis, mu)
    try:
        _PARTS[target] = parts
    except TypeError:
        pass
    return parts


def _noised_moments(parts: _Parts, process, times: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Means $\alpha_t\tilde\mu$, variances $\lambda_t = \alpha_t^2\lambda + \sigma_t^2$ of $p_t$, [K, d]."""
    times = torch.as_tensor(times, dtype=DTYPE).reshape(-1)
    al = process.alpha(times)[:, None]
    return al * parts.mean, al**2 * parts.lam + process.sigma2(times)[:, None]


def reference_law(target, process, t: float) -> DiagGaussian:
    r"""$p_t = N(\alpha_t\mu, \alpha_t^2\Sigma + \sigma_t^2 I)$ in the target eigenbasis
    (metrics-and-exact.md §3.1)."""
    parts = _gaussian_parts(target)
    m, v = _noised_moments(parts, process, torch.tensor([float(t)], dtype=DTYPE))
    return DiagGaussian(m[0], v[0], parts.basis)


def _prior_moments(parts: _Parts, process, horizon: float, prior) -> tuple[torch.Tensor, torch.Tensor]:
    """Initial mean and variance in eigen-coordinates: ``"gaussian"`` $N(0, \\sigma_T^2 I)$,
    ``"exact"`` $p_T$, or a :class:`DiagGaussian` in the target's eigenbasis."""
    d = parts.lam.numel()
    if isinstance(prior, DiagGaussian):
        if prior.dim != d:
            raise SgmbenchError(f"initial law has dim {prior.dim}, target has {d}")
        if not prior.same_basis(DiagGaussian(parts.mean, parts.lam, parts.basis)):
            raise SgmbenchError("initial law must be given in the target's eigenbasis")
        return prior.mean.to(DTYPE).cpu(), prior.var.to(DTYPE).cpu()
    if prior == "gaussian":
        return torch.zeros(d, dtype=DTYPE), torch.full(
            (d,), float(process.prior_variance(horizon)), dtype=DTYPE
        )
    if prior == "exact":
        m, v = _noised_moments(parts, process, torch.tensor([float(horizon)], dtype=DTYPE))
        return m[0], v[0]
    raise SgmbenchError(f"prior must be 'gaussian', 'exact' or a DiagGaussian, got {prior!r}")


# ------------------------------------------------------------------------------------------------
# Affine score on a set of times
# ------------------------------------------------------------------------------------------------
def _is_exact(score, target, process) -> bool:
    """``None``/``"exact"``, or a score with ``is_exact`` (the target's own) built for this very target and process."""
    if score is None or (isinstance(score, str) and score == "exact"):
        return True
    return (
        getattr(score, "is_exact", False)
        and getattr(score, "target", None) is target
        and getattr(score, "process", None) is process
    )


def _check_affine(ab, score):
    if ab is None:
        name = getattr(score, "name", type(score).__name__)
        raise SgmbenchError(f"score {name!r} is not affine in the target eigenbasis: no exact law")
    return ab


class _Scratch(threading.local):
    """Per-thread scratch memory for the row blocks (reused: fresh large allocations cost page faults)."""

    def __init__(self):
        self.buffers: dict[str, torch.Tensor] = {}


_SCRATCH = _Scratch()
_SCRATCH_KEEP = 1 << 21  # elements kept between calls per purpose (16 MB per thread at most)


def _scratch(purpose: str, count: int, rows: int, cols: int) -> list[torch.Tensor]:
    """``count`` scratch arrays ``[rows, cols]`` for one ``purpose`` (contents undefined; arrays of
    different purposes never overlap). Results returned to callers must never be views of these."""
    size = rows * cols
    buf = _SCRATCH.buffers.get(purpose)
    if buf is None or buf.numel() < count * size:
        buf = torch.empty(count * size, dtype=DTYPE)
        if buf.numel() <= _SCRATCH_KEEP:
            _SCRATCH.buffers[purpose] = buf
    return [buf[k * size : (k + 1) * size].view(rows, cols) for k in range(count)]


def _score_rows(target, process, times: torch.Tensor, score):
    r"""A function ``rows(i, j, scale=None) -> (a, b)``: the score's affine coefficients for
    eigen-coordinates ``i:j`` at ``times``, multiplied by the per-time ``scale`` (``[K]``) if given,
    float64 ``[j - i, K]`` each (fresh tensors the caller may overwrite).

    Exact score: $a = -1/\lambda_t$, $b = \alpha_t\tilde\mu/\lambda_t$ computed per row block in closed form.
    Other scores: ``score.affine_grid(times)`` if present, else ``score.affine(t)`` per time (times
    $t = 0$ are skipped and get zeros: no sampler evaluates the score there).
    """
    parts = _gaussian_parts(target)
    if _is_exact(score, target, process):
        al = process.alpha(times)
        al2, s2 = al * al, process.sigma2(times)

        def exact_rows(i, j, scale=None):
            s_inv, s_b = _scratch("score", 2, j - i, times.numel())
            inv = torch.addr(s2[None, :], parts.lam[i:j], al2, out=s_inv).reciprocal_()  # 1 / lambda_t
            b = torch.outer(parts.mean[i:j], al if scale is None else al * scale, out=s_b).mul_(inv)
            return (inv.neg_() if scale is None else inv.mul_(-scale)), b

        return exact_rows
    pos = times > 0
    d, K = parts.lam.numel(), times.numel()
    if hasattr(score, "affine_grid"):
        aa, bb = _check_affine(score.affine_grid(times[pos]), score)
        a_full, b_full = torch.zeros(K, d, dtype=DTYPE), torch.zeros(K, d, dtype=DTYPE)
        a_full[pos], b_full[pos] = torch.as_tensor(aa, dtype=DTYPE), torch.as_tensor(bb, dtype=DTYPE)
    elif hasattr(score, "affine"):
        zero = torch.zeros(d, dtype=DTYPE)
        cache: dict[float, tuple] = {}
        rows_a, rows_b = [], []
        for t in times.tolist():
            if t not in cache:
                cache[t] = _check_affine(score.affine(t), score) if t > 0 else (zero, zero)
            rows_a.append(torch.as_tensor(cache[t][0], dtype=DTYPE))
            rows_b.append(torch.as_tensor(cache[t][1], dtype=DTYPE))
        a_full, b_full = torch.stack(rows_a), torch.stack(rows_b)
    else:
        raise SgmbenchError("exact laws need a score with affine(t) (a Score object), got a plain callable")
    a_full, b_full = a_full.T.contiguous(), b_full.T.contiguous()

    def table_rows(i, j, scale=None):
        if scale is None:
            return a_full[i:j].clone(), b_full[i:j].clone()
        return a_full[i:j] * scale, b_full[i:j] * scale

    return table_rows


def affine_table(target, process, times: torch.Tensor, score=None) -> tuple[torch.Tensor, torch.Tensor]:
    r"""$(a_t, b_t)$ of the score at each time, ``[K, d]`` each (exact score: $a_t = -1/\lambda_t$,
    $b_t = \alpha_t\tilde\mu/\lambda_t$, metrics-and-exact.md §3.1); :class:`SgmbenchError` if not affine."""
    times = torch.as_tensor(times, dtype=DTYPE).reshape(-1)
    a, b = _score_rows(target, process, times, score)(0, _gaussian_parts(target).lam.numel())
    return a.T.clone(), b.T.clone()  # the rows may live in scratch memory


# ------------------------------------------------------------------------------------------------
# Per-step affine maps (M, c, Q) for each sampler
# ------------------------------------------------------------------------------------------------
# Internal layout: [rows, K] with eigen-coordinates as rows and the steps of each grid along the
# contiguous axis in *reversed* order (last step first), so that the suffix products P_k of the
# recursion are plain cumulative products; coordinates are processed in row blocks of about
# _BLOCK elements, which keeps every temporary in cache.
_BLOCK = 1 << 17


def langevin_affine(a: torch.Tensor, b: torch.Tensor, step: torch.Tensor, num_steps: int = 1):
    r"""$(M, c, Q)$ of ``num_steps`` Langevin steps $x \leftarrow x + \varepsilon s(x) + \sqrt{2\varepsilon}z$
    with $s = a x + b$ (``step`` $\varepsilon$ broadcasts against ``a``).

    One step is $(1 + \varepsilon a,\ \varepsilon b,\ 2\varepsilon)$ (Song et al. 2021 Alg. 2/3 corrector);
    $m$ steps compose as $(M^m, c\sum_{j<m}M^j, Q\sum_{j<m}M^{2j})$."""
    if num_steps == 0:
        return torch.ones_like(a), torch.zeros_like(a), torch.zeros_like(a)
    M1, c1, Q1 = 1.0 + step * a, step * b, (2.0 * step).expand_as(a)
    M, c, Q = M1, c1, Q1
    for _ in range(num_steps - 1):
        M, c, Q = M1 * M, M1 * c + c1, M1**2 * Q + Q1
    return M, c, Q


def _compose(first, second):
    """$(M, c, Q)$ of ``second`` after ``first``: $(M_2M_1, M_2c_1 + c_2, M_2^2Q_1 + Q_2)$."""
    M1, c1, Q1 = first
    M2, c2, Q2 = second
    return M2 * M1, M2 * c1 + c2, M2**2 * Q1 + Q2


class _MapBuilder:
    r"""Builds $(M, c, Q)$ per row block for one sampler on the (reversed, concatenated) steps ``hi -> lo``.

    - single-stage samplers (:data:`~sgmbench.samplers.LINEAR_STEPS`): $M = r + \gamma a_{t_k}$,
      $c = \gamma b_{t_k}$, $Q = \eta^2$, the sampler's own coefficients;
    - ``pf-heun``, with $A_j = f_j + \tfrac12g_j^2a_{t_j}$, $C_j = \tfrac12g_j^2b_{t_j}$ at $t_k$, $t_{k+1}$:
      $M = 1 + \tfrac h2[A_k + A_{k+1} + hA_kA_{k+1}]$, $c = \tfrac h2[C_k + C_{k+1} + hA_{k+1}C_k]$,
      $Q = 0$ (metrics-and-exact.md §3.2, Heun row); the Euler step $(1 + hA_k, hC_k, 0)$ where
      $t_{k+1} = 0$;
    - ``predictor-corrector``: the predictor's map after ``corrector_steps`` Langevin maps at $t_k$
      (:func:`langevin_affine`, step :func:`~sgmbench.samplers.langevin_step_size`).
    """

    def __init__(self, target, process, smp: Sampler, score, hi: torch.Tensor, lo: torch.Tensor):
        self.name = name = smp.name
        params = {**samplers.entry(name).parameters(), **smp.params}  # registry defaults, then the spec's
        K = hi.numel()
        if name in LINEAR_STEPS:
            step = LINEAR_STEPS[name](process, hi, lo, **params)
            self.r, self.gamma, self.q = step.r, step.gamma, (step.eta**2)[None, :]
            self.rows = _score_rows(target, process, hi, score)
        elif name == "pf-heun":
            both = torch.cat([hi, lo])
            self.f, self.half_g2 = pf_drift_coefficients(process, both)
            self.h = hi - lo
            self.euler = lo == 0
            self.K = K
            self.rows = _score_rows(target, process, both, score)
        elif name == "predictor-corrector":
            predictor, snr, steps = check_pc_params(
                params["predictor"], params["snr"], params["corrector_steps"]
            )
            pred = LINEAR_STEPS[predictor](process, hi, lo)
            self.r, self.gamma, self.q = pred.r, pred.gamma, (pred.eta**2)[None, :]
            self.eps = langevin_step_size(process, hi, snr)
            self.corrector_steps = steps if snr > 0 else 0
            self.rows = _score_rows(target, process, hi, score)
        else:
            raise SgmbenchError(f"no exact law for sampler {name!r}")

    def block(self, i: int, j: int):
        """$(M, c, Q)$ for eigen-coordinates ``i:j`` (``Q`` is ``[1, K]`` when the same for all)."""
        if self.name in LINEAR_STEPS:
            ga, gb = self.rows(i, j, self.gamma)
            return ga.add_(self.r), gb, self.q
        if self.name == "pf-heun":
            K, h = self.K, self.h
            A, C = self.rows(i, j, self.half_g2)
            A.add_(self.f)
            A1, A2, C1, C2 = A[:, :K], A[:, K:], C[:, :K], C[:, K:]
            M = (A1 * A2).mul_(h).add_(A1).add_(A2).mul_(0.5 * h).add_(1.0)
            c = (A2 * C1).mul_(h).add_(C1).add_(C2).mul_(0.5 * h)
            if bool(self.euler.any()):
                M = torch.where(self.euler, 1.0 + h * A1, M)
                c = torch.where(self.euler, h * C1, c)
            return M, c, torch.zeros_like(self.h)[None, :]
        a, b = self.rows(i, j)
        corr = langevin_affine(a, b, self.eps, self.corrector_steps)
        pred = (torch.addcmul(self.r, self.gamma, a), b * self.gamma, self.q.expand_as(a))
        return _compose(corr, pred)


def _reversed_steps(grids: Sequence[torch.Tensor]):
    """Concatenated step endpoints of ``grids``, each grid's steps in reversed order, and the step counts."""
    hi = torch.cat([g[:-1].flip(0) for g in grids])
    lo = torch.cat([g[1:].flip(0) for g in grids])
    return hi, lo, [g.numel() - 1 for g in grids]


def step_maps(target, process, grid: torch.Tensor, sampler, score=None):
    r"""Per-step affine maps $(M_k, c_k, Q_k)$ of ``sampler`` on ``grid``, float64 ``[N, d]`` each, in step
    order: in eigen-coordinates step $k$ is $y \mapsto M_k y + c_k + \sqrt{Q_k}Z$ (:class:`_MapBuilder`)."""
    g = check_grid(grid)
    hi, lo, _ = _reversed_steps([g])
    M, c, Q = _MapBuilder(target, process, get_sampler(sampler), score, hi, lo).block(
        0, _gaussian_parts(target).lam.numel()
    )
    return tuple(x.expand_as(M).flip(-1).T.contiguous() for x in (M, c, Q))


# ------------------------------------------------------------------------------------------------
# Propagation
# ------------------------------------------------------------------------------------------------
def _propagate_reversed(m0, v0, M, c, Q):
    """:func:`propagate` for ``[rows, N]`` maps in reversed step order; overwrites ``M``."""
    P = M.cumprod_(-1)  # P[:, j] = M_{N-1} ... M_{N-1-j} = P_{N-1-j}
    total = P[:, -1].clone()
    mean = total * m0 + c[:, 0] + torch.linalg.vecdot(P[:, :-1], c[:, 1:])
    P2 = P[:, :-1].square_()
    noise = P2 @ Q[0, 1:] if Q.shape[0] == 1 else torch.linalg.vecdot(P2, Q[:, 1:])
    return mean, total.square_().mul_(v0).add_(Q[:, 0]).add_(noise)


def propagate(mean0: torch.Tensor, var0: torch.Tensor, M: torch.Tensor, c: torch.Tensor, Q: torch.Tensor):
    r"""Solve $m_{k+1} = M_km_k + c_k$, $v_{k+1} = M_k^2v_k + Q_k$, $k < N$ (maps ``[N, d]``), in closed form.

    With suffix products $P_k = \prod_{j=k}^{N-1}M_j$ ($P_N = 1$):
    $m_N = P_0m_0 + \sum_kP_{k+1}c_k$, $v_N = P_0^2v_0 + \sum_kP_{k+1}^2Q_k$. Returns ``(m_N, v_N)``.
    """
    rev = [torch.as_tensor(x, dtype=DTYPE).expand_as(M).T.flip(-1).contiguous() for x in (M, c, Q)]
    return _propagate_reversed(mean0, var0, *rev)


def _divergence_step(m0, v0, M, c, Q) -> int | None:
    """First step (natural order) after which the sequential recursion is not finite."""
    m, v = m0.clone(), v0.clone()
    for k in range(M.shape[0]):
        m, v = M[k] * m + c[k], M[k] ** 2 * v + Q[k]
        if not (bool(torch.isfinite(m).all()) and bool(torch.isfinite(v).all())):
            return k
    return None


def exact_law(target, process, grid: torch.Tensor, sampler, score=None, prior="gaussian") -> DiagGaussian:
    r"""The exact output law of ``sampler`` on ``grid`` for a Gaussian target and an affine score.

    ``sampler``: a name, spec (``predictor-corrector:snr=0.1``) or :class:`~sgmbench.samplers.Sampler`;
    ``score``: ``None`` for the exact score, or a Score with ``affine(t)`` (e.g. ``perturbed:kind=bias``);
    ``prior``: ``"gaussian"`` ($N(0, \sigma_T^2 I)$), ``"exact"`` ($p_T$) or a :class:`DiagGaussian` in the
    target eigenbasis. The grid's last time is the early-stopping time $\delta$; compare the result with
    :func:`reference_law` at $\delta$ (sampler error) or at 0. Returns a :class:`DiagGaussian` in the
    target eigenbasis. Raises :class:`SgmbenchError` if the target is not Gaussian or the score not
    affine, :class:`DivergenceError` (with the step) if the law overflows.
    """
    return exact_laws(target, process, [grid], sampler, score=score, prior=prior)[0]


def _solve_segments(m0, v0, M, c, Q, sizes) -> tuple[torch.Tensor, torch.Tensor] | None:
    r"""All grids of a row block at once, from one cumulative product over the concatenated steps.

    With exclusive products $E_k = \prod_{i<k}M_i$ over the concatenation (reversed steps), a segment
    $[a, b)$ has $P$-products $E_{a+j}/E_a$, so $m = (E_b/E_a)m_0 + \sum_{k\in[a,b)}E_kc_k/E_a$ and
    $v = (E_b/E_a)^2v_0 + \sum_kE_k^2Q_k/E_a^2$ (derived by us). Returns ``None`` (then
    :func:`_propagate_reversed` runs per grid) unless every $E_k^2$ is a normal float well inside the
    exponent range, so that the divisions lose nothing. ``m0``, ``v0``: ``[r, G]``.
    """
    r, K = M.shape
    E, E2, Ec = _scratch("solve", 3, r, K + 1)
    E[:, 0] = 1.0
    torch.cumprod(M, -1, out=E[:, 1:])
    torch.square(E, out=E2)
    small, large = torch.aminmax(E2)  # NaN propagates and fails both tests
    if not (float(small) > 1e-280 and float(large) < 1e280):
        return None
    bounds = torch.tensor([0, *sizes], dtype=torch.long).cumsum(0)
    first, last = E[:, bounds[:-1]], E[:, bounds[1:]]
    total = last / first

    def segment_sums(x):
        return torch.stack([part.sum(-1) for part in x.split(sizes, -1)], -1)

    mean = total * m0 + segment_sums(torch.mul(E[:, :K], c, out=Ec[:, :K])) / first
    noise = segment_sums(E2[:, :K].mul_(Q)) / first.square()
    return mean, total.square() * v0 + noise


def exact_laws(
    target, process, grids: Sequence[torch.Tensor], sampler, score=None, prior="gaussian"
) -> list[DiagGaussian]:
    """:func:`exact_law` for several grids (e.g. a sweep over step counts) in one vectorised pass:
    step coefficients and the score table are computed once on all steps, then the recursions are
    solved by cumulative products (:func:`_solve_segments`), block by block over the eigen-coordinates."""
    parts = _gaussian_parts(target)
    smp = get_sampler(sampler)
    gs = [check_grid(g) for g in grids]
    hi, lo, sizes = _reversed_steps(gs)
    builder = _MapBuilder(target, process, smp, score, hi, lo)
    horizons = sorted({float(g[0]) for g in gs})
    by_horizon = {T: _prior_moments(parts, process, T, prior) for T in horizons}
    m0 = torch.stack([by_horizon[float(g[0])][0] for g in gs], 1)  # [d, G]
    v0 = torch.stack([by_horizon[float(g[0])][1] for g in gs], 1)
    d = parts.lam.numel()
    rows = max(1, _BLOCK // max(1, hi.numel()))
    mean, var = torch.empty(d, len(gs), dtype=DTYPE), torch.empty(d, len(gs), dtype=DTYPE)
    for i in range(0, d, rows):
        j = min(d, i + rows)
        M, c, Q = builder.block(i, j)
        solved = _solve_segments(m0[i:j], v0[i:j], M, c, Q, sizes) if len(gs) > 1 else None
        if solved is not None:
            mean[i:j], var[i:j] = solved
            continue
        col = 0
        for g, n in enumerate(sizes):
            seg = slice(col, col + n)
            mean[i:j, g], var[i:j, g] = _propagate_reversed(
                m0[i:j, g], v0[i:j, g], M[:, seg], c[:, seg], Q[:, seg]
            )
            col += n
    finite = (torch.isfinite(mean) & torch.isfinite(var)).all(0).tolist()
    out = []
    for k, g in enumerate(gs):
        if not finite[k]:
            step = _divergence_step(m0[:, k], v0[:, k], *step_maps(target, process, g, smp, score))
            where = f"at step {step}" if step is not None else "(overflow in the closed-form sums)"
            raise DivergenceError(
                f"exact law of {smp.name} diverged {where}: non-finite mean or variance", step
            )
        out.append(DiagGaussian(mean[:, k].clone(), var[:, k].clone(), parts.basis))
    return out


# ------------------------------------------------------------------------------------------------
# Continuous time
# ------------------------------------------------------------------------------------------------
def continuous_law(
    target, process, horizon: float, delta: float, prior="gaussian", ode: bool = False
) -> DiagGaussian:
    r"""Output at $\delta$ of the reverse SDE (or probability-flow ODE, ``ode=True``) in continuous time with
    the exact score, started at $T$ from ``prior`` $= N(a, V)$ instead of $p_T$.

    Per eigen-direction, with $\lambda_t = \alpha_t^2\lambda + \sigma_t^2$ (metrics-and-exact.md §3.3,
    derived there from $\tfrac{d}{d\tau}(C - \lambda_t) = 2(f - g^2/\lambda_t)(C - \lambda_t)$ and
    $\int_\delta^T(f - g^2/\lambda_t)\,dt = \log\tfrac{\alpha_T\lambda_\delta}{\alpha_\delta\lambda_T}$):

    - SDE: $R = \alpha_T\lambda_\delta/(\alpha_\delta\lambda_T)$,
      mean $\alpha_\delta\tilde\mu + R(a - \alpha_T\tilde\mu)$,
      variance $\lambda_\delta + R^2(V - \lambda_T)$;
    - ODE: $R' = \sqrt{\lambda_\delta/\lambda_T}$, mean $\alpha_\delta\tilde\mu + R'(a - \alpha_T\tilde\mu)$,
      variance $\lambda_\delta V/\lambda_T$.
    """
    T, d = float(horizon), float(delta)
    if not (0 <= d < T):
        raise SgmbenchError(f"need 0 <= delta < horizon, got delta={delta!r}, horizon={horizon!r}")
    parts = _gaussian_parts(target)
    a, V = _prior_moments(parts, process, T, prior)
    m, v = _noised_moments(parts, process, torch.tensor([T, d], dtype=DTYPE))
    mT, md, vT, vd = m[0], m[1], v[0], v[1]
    if ode:
        R = torch.sqrt(vd / vT)
        return DiagGaussian(md + R * (a - mT), vd * V / vT, parts.basis)
    R = float(process.alpha(T) / process.alpha(d)) * vd / vT
    return DiagGaussian(md + R * (a - mT), vd + R**2 * (V - vT), parts.basis)


@dataclasses.dataclass(frozen=True, eq=False)
class KDELaw:
    r"""An isotropic Gaussian mixture $\sum_i w_i N(\mu_i, s^2 I)$: ``weights`` ``[n]``, ``means`` ``[n, d]``,
    ``var`` $= s^2$ (0 means the discrete law $\sum_i w_i\delta_{\mu_i}$, which has no density)."""

    weights: torch.Tensor
    means: torch.Tensor
    var: float

    @property
    def dim(self) -> int:
        return int(self.means.shape[-1])

    def sample(self, n: int, generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
        idx = torch.multinomial(self.weights, int(n), replacement=True, generator=generator)
        z = torch.randn(int(n), self.dim, generator=generator, dtype=self.means.dtype)
        return (self.means[idx] + math.sqrt(self.var) * z).to(device)

    def log_prob(self, x: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        r"""$\log\sum_i w_i N(x; \mu_i, s^2 I)$ by log-sum-exp, exact squared distances, in chunks."""
        if self.var <= 0:
            raise SgmbenchError("a KDE law with var = 0 (delta = 0) is discrete and has no density")
        means, logw = self.means.to(x), torch.log(self.weights).to(x)
        const = -0.5 * self.dim * math.log(2 * math.pi * self.var)
        out = []
        for xs in torch.split(x, chunk):
            d2 = ((xs[:, None, :] - means[None]) ** 2).sum(-1)
            out.append(torch.logsumexp(logw - 0.5 * d2 / self.var, dim=1) + const)
        return torch.cat(out)


def kde_law(train_points: torch.Tensor, process, delta: float) -> KDELaw:
    r"""Continuous-time output law with the empirical optimal score: a Gaussian KDE.

    The reverse SDE (or probability-flow ODE) driven by the score of $\hat p_t^n = \frac1n\sum_i
    N(\alpha_t y_i, \sigma_t^2 I)$ is the exact time reversal of the forward process started from the
    empirical law $\frac1n\sum_i\delta_{y_i}$, so run from $\hat p^n_T$ to $\delta$ its law is
    $$\hat p^n_\delta = \frac1n\sum_{i=1}^n N(\alpha_\delta y_i, \sigma_\delta^2 I)$$
    (Li, Chen, Li 2024, arXiv 2401.04856, as summarised in empirical-score.md §3.1, form derived there
    for OU, $\alpha_\delta = e^{-\delta}$, $\sigma_\delta^2 = 1 - e^{-2\delta}$; general $\alpha, \sigma$
    derived by the same argument). It is the reference law of the empirical-score study: the
    discretisation error of a sampler with the empirical score is measured against it.
    """
    y = torch.as_tensor(train_points, dtype=DTYPE)
    if y.ndim != 2 or y.shape[0] < 1:
        raise SgmbenchError(f"train_points must be a non-empty [n, d] tensor, got shape {tuple(y.shape)}")
    d = float(delta)
    if not (math.isfinite(d) and d >= 0):
        raise SgmbenchError(f"delta must be finite and >= 0, got {delta!r}")
    n = y.shape[0]
    alpha = float(process.alpha(d))
    return KDELaw(torch.full((n,), 1.0 / n, dtype=DTYPE), alpha * y.cpu(), float(process.sigma2(d)))
