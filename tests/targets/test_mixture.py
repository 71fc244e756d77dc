"""Gaussian mixture: one component = the Gaussian, stability far from the modes, densities, Hessian,
constants."""

import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from sgmbench.errors import SgmbenchError
from sgmbench.processes import get_process
from sgmbench.targets import GaussianTarget, MixtureTarget, get_target
from sgmbench.targets.mixture import polygon_means

D64 = torch.float64


def _spd(d, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g, dtype=D64)
    return a @ a.T / d + 0.3 * torch.eye(d, dtype=D64)


@pytest.mark.parametrize("cov", ["iso", "diag", "full"])
def test_one_component_mixture_equals_the_gaussian(cov):
    d = 3
    mean = torch.tensor([1.0, -0.5, 2.0], dtype=D64)
    c = {"iso": 0.7, "diag": torch.tensor([0.5, 1.0, 2.0], dtype=D64), "full": _spd(d)}[cov]
    g, m = GaussianTarget(mean, c), MixtureTarget([1.0], mean[None], [c])
    x = 2 * torch.randn(30, d, dtype=D64, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(m.log_prob(x), g.log_prob(x), rtol=0, atol=1e-12)
    for name, t in [("vp-linear", 0.2), ("ve-exp", 0.6), ("subvp", 0.9)]:
        p = get_process(name)
        lg, lm = g.noised(p, t), m.noised(p, t)
        assert torch.allclose(lm.log_prob(x), lg.log_prob(x), rtol=0, atol=1e-12)
        assert torch.allclose(lm.score(x), lg.score(x), rtol=0, atol=1e-12)
    cg, cm = g.constants(), m.constants()
    assert cm == cg


def test_log_prob_matches_explicit_sum():
    w = torch.tensor([0.2, 0.5, 0.3], dtype=D64)
    means = torch.tensor([[0.0, 0.0], [3.0, 1.0], [-2.0, 2.0]], dtype=D64)
    covs = [0.5, torch.tensor([1.0, 0.3], dtype=D64), _spd(2, 3)]
    m = MixtureTarget(w, means, covs)
    p, t = get_process("vp-linear"), 0.4
    a, s2 = float(p.alpha(t)), float(p.sigma2(t))
    full = [torch.eye(2, dtype=D64) * 0.5, torch.diag(covs[1]), covs[2]]
    x = 3 * torch.randn(25, 2, dtype=D64, generator=torch.Generator().manual_seed(1))
    ref = torch.logsumexp(
        torch.stack(
            [
                math.log(w[k])
                + MultivariateNormal(a * means[k], a**2 * full[k] + s2 * torch.eye(2, dtype=D64)).log_prob(x)
                for k in range(3)
            ]
        ),
        0,
    )
    assert torch.allclose(m.noised(p, t).log_prob(x), ref, rtol=1e-12, atol=1e-12)


def test_score_is_stable_far_from_the_modes():
    r"""At $\|x\| = 10^3$ the responsibilities are one-hot: the score equals the dominant component's
    score."""
    m = get_target("mixture:dim=2,components=2,separation=4,var=0.5,weights=0.3;0.7")
    law = m.noised(get_process("vp-linear"), 0.01)
    x = torch.tensor([[1e3, 0.0], [-1e3, 0.0], [50.0, 1e3], [600.0, -800.0]], dtype=D64)
    s, lp = law.score(x), law.log_prob(x)
    assert bool(torch.isfinite(s).all()) and bool(torch.isfinite(lp).all())
    a, v = law.alpha, law.alpha**2 * 0.5 + law.sigma2
    mu = a * m.means
    nearest = torch.where(x[:, :1] > 0, mu[1], mu[0])  # the dominant component (the one on x's side)
    assert torch.allclose(s, -(x - nearest) / v, rtol=1e-12)


def test_hessian_against_autograd():
    m = MixtureTarget([0.4, 0.6], torch.tensor([[0.0, 1.0], [2.0, -1.0]], dtype=D64), [_spd(2, 1), 0.8])
    p, t = get_process("vp-linear"), 0.3
    law = m.noised(p, t)
    x = torch.randn(4, 2, dtype=D64, generator=torch.Generator().manual_seed(2))
    H = law.hessian_log_prob(x)
    for i in range(4):
        Hi = torch.autograd.functional.hessian(lambda z: law.log_prob(z[None])[0], x[i])
        assert torch.allclose(H[i], Hi, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dim,K", [(2, 2), (2, 5), (3, 4), (1, 3)])
def test_polygon_means(dim, K):
    means = polygon_means(dim, K, 2.5)
    assert means.shape == (K, dim) and torch.allclose(means.mean(0), torch.zeros(dim, dtype=D64), atol=1e-12)
    steps = (means - means.roll(1, 0)).norm(dim=1)
    adjacent = steps[1:] if (dim == 1 or K == 2) else steps
    assert torch.allclose(adjacent, torch.full_like(adjacent, 2.5))


def test_constants_log_concavity_and_bounds():
    far = get_target("mixture:dim=2,components=2,separation=6,var=1").constants()
    assert far.strong_log_concavity is None and far.provenance["strong_log_concavity"].startswith(
        "exact: not"
    )
    assert math.isclose(far.score_lipschitz, 36 / 4 - 1) and far.provenance["score_lipschitz"].startswith(
        "bound"
    )
    near = get_target("mixture:dim=2,components=2,separation=1,var=1").constants()
    assert math.isclose(near.strong_log_concavity, 1 - 1 / 4) and near.provenance[
        "strong_log_concavity"
    ].startswith("bound")
    assert near.kl_to_standard_normal is not None and near.provenance["kl_to_standard_normal"].startswith(
        "estimated"
    )
    # unequal variances: estimated by the curvature scan
    mixed = get_target("mixture:dim=2,components=2,separation=1,var=1;0.5").constants()
    assert mixed.provenance["score_lipschitz"].startswith("estimated")
    assert mixed.strong_log_concavity is not None and mixed.strong_log_concavity > 0


def test_monte_carlo_kl_and_fisher_match_the_gaussian():
    """Two identical components = one Gaussian: MC constants must agree with the closed forms."""
    mean = torch.tensor([[0.5, -1.0], [0.5, -1.0]], dtype=D64)
    cov = torch.tensor([0.5, 2.0], dtype=D64)
    c = MixtureTarget([0.5, 0.5], mean, cov).constants()
    g = GaussianTarget(mean[0], cov).constants()
    for name in ("kl_to_standard_normal", "fisher_to_standard_normal"):
        se = float(c.provenance[name].split("stderr=")[1])
        assert abs(getattr(c, name) - getattr(g, name)) < 5 * se + 1e-12, name
    assert math.isclose(c.second_moment, g.second_moment, rel_tol=1e-12)


@pytest.mark.parametrize(
    "args",
    [
        ([0.5, 0.6], [[0.0], [1.0]], 1.0),
        ([1.5, -0.5], [[0.0], [1.0]], 1.0),
        ([0.5, 0.5], [[0.0], [1.0]], [1.0]),
        ([0.5, 0.5], [[0.0], [1.0]], -1.0),
        ([0.5, 0.5], [[0.0, 0.0], [1.0, 1.0]], [[[1.0, 2.0], [2.0, 1.0]]] * 2),
    ],
)
def test_bad_constructor_input(args):
    w, means, covs = args
    with pytest.raises(SgmbenchError) as err:
        MixtureTarget(
            w,
            torch.tensor(means, dtype=D64),
            torch.tensor(covs, dtype=D64) if isinstance(covs, list) and isinstance(covs[0], list) else covs,
        )
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "spec",
    [
        "mixture:weights=0.3;0.3",
        "mixture:components=0",
        "mixture:var=-1",
        "mixture:components=3,var=1;2",
        "mixture:separation=-1",
        "mixture:weights=1",
        "mixture:bar=2",
    ],
)
def test_bad_specs_raise_one_line_error(spec):
    with pytest.raises(SgmbenchError) as err:
        get_target(spec)
    assert "\n" not in str(err.value)
