"""Empirical target: streaming == dense, log-density vs explicit sum, stability at small sigma, seeding,
input checks."""

import math

import pytest
import torch

from sgmbench.errors import SgmbenchError
from sgmbench.processes import get_process
from sgmbench.targets import EmpiricalTarget, get_target
from sgmbench.targets.empirical import CHUNK_ELEMENTS, _chunk_size, empirical_posterior, empirical_score_dense

D64 = torch.float64


def _data(n=300, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=D64) * 2 + 1, torch.randn(40, d, generator=g, dtype=D64) * 3


@pytest.mark.parametrize("chunk", [1, 7, 64, 300, None])
@pytest.mark.parametrize("sigma2", [1e-4, 0.05, 1.0, 100.0])
def test_streaming_equals_dense(chunk, sigma2):
    pts, x = _data()
    alpha = 0.8
    lse, mean = empirical_posterior(x, pts, alpha, sigma2, chunk=chunk)
    dense_logits = (2 * alpha * x @ pts.T - alpha**2 * (pts * pts).sum(-1)) / (2 * sigma2)
    assert torch.allclose(lse, torch.logsumexp(dense_logits, 1), rtol=1e-12, atol=1e-9)
    dense = empirical_score_dense(x, pts, alpha, sigma2)
    score = (alpha * mean - x) / sigma2
    assert torch.allclose(score, dense, rtol=1e-9, atol=1e-9 * float(dense.abs().max()))


def test_log_prob_is_the_kde_density():
    r"""$\log p^n_t(x) = \log\frac1n\sum_i N(x; \alpha x_i, \sigma^2 I)$."""
    pts, x = _data(n=50, d=3)
    p, t = get_process("vp-linear"), 0.3
    law = EmpiricalTarget(pts, chunk=8).noised(p, t)
    a, s2 = law.alpha, law.sigma2
    comp = -((x[:, None, :] - a * pts[None]) ** 2).sum(-1) / (2 * s2) - 1.5 * math.log(2 * math.pi * s2)
    ref = torch.logsumexp(comp, 1) - math.log(50)
    assert torch.allclose(law.log_prob(x), ref, rtol=1e-12, atol=1e-10)


def test_small_noise_is_nearest_neighbour_denoising():
    """For tiny sigma the weights are one-hot: the denoiser returns the nearest (scaled) training point."""
    pts, x = _data(n=100, d=4)
    law = EmpiricalTarget(pts, chunk=13).noised(get_process("ve-exp"), 1e-6)
    assert law.sigma2 < 1e-8
    nearest = pts[torch.cdist(x, pts).argmin(1)]
    assert torch.allclose(law.denoiser(x), nearest, atol=1e-12)
    assert bool(torch.isfinite(law.score(x)).all()) and bool(torch.isfinite(law.log_prob(x)).all())


def test_far_queries_are_stable():
    pts, _ = _data()
    law = EmpiricalTarget(pts).noised(get_process("vp-linear"), 0.1)
    x = torch.full((3, 5), 1e4, dtype=D64)
    assert bool(torch.isfinite(law.score(x)).all()) and bool(torch.isfinite(law.log_prob(x)).all())


def test_chunk_memory_is_bounded():
    for m in (1, 100, 1000, 100_000):
        c = _chunk_size(m, 50_000, None)
        assert 1 <= c <= 50_000 and (c == 256 or m * c <= CHUNK_ELEMENTS)


def test_no_density_at_time_zero_and_sampling_draws_training_points():
    pts, _ = _data(n=20, d=2)
    tg = EmpiricalTarget(pts)
    with pytest.raises(SgmbenchError):
        tg.noised(get_process("vp-linear"), 0.0).log_prob(pts)
    x = tg.sample(100, generator=torch.Generator().manual_seed(0))
    assert bool((x[:, None, :] == pts[None]).all(-1).any(1).all())


def test_registry_entries_are_seeded_draws():
    a = get_target("empirical-gaussian:dim=3,num_train=40,seed=2,mean=1,var=2")
    b = get_target("empirical-gaussian:dim=3,num_train=40,seed=2,mean=1,var=2")
    c = get_target("empirical-gaussian:dim=3,num_train=40,seed=3,mean=1,var=2")
    assert torch.equal(a.points, b.points) and not torch.equal(a.points, c.points)
    ref = get_target("gaussian:dim=3,mean=1,var=2").sample(40, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a.points, ref) and "gaussian" in a.source
    const = a.constants()
    assert math.isclose(const.second_moment, float((a.points**2).sum(1).mean()), rel_tol=1e-12)
    assert math.isclose(const.support_radius, float(a.points.norm(dim=1).max()), rel_tol=1e-12)


@pytest.mark.parametrize("points", [torch.zeros(0, 3), torch.zeros(5), torch.tensor([[1.0, float("inf")]])])
def test_bad_points_raise(points):
    with pytest.raises(SgmbenchError) as err:
        EmpiricalTarget(points)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "spec",
    [
        "empirical-gaussian:num_train=0",
        "empirical-gaussian:seed=-1",
        "empirical-gaussian:var=-2",
        "empirical-mixture:num_train=1.5",
    ],
)
def test_bad_specs_raise_one_line_error(spec):
    with pytest.raises(SgmbenchError) as err:
        get_target(spec)
    assert "\n" not in str(err.value)
