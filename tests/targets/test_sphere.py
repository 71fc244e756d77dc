"""Circle and sphere: Bessel closed forms against quadrature over the manifold, series vs scipy, finite
differences."""

import math

import numpy as np
import pytest
import torch

from sgmbench.errors import SgmbenchError
from sgmbench.processes import get_process
from sgmbench.targets import get_target
from sgmbench.targets.sphere import (
    _log_be_and_ratio_numpy,
    _series_log_b_and_ratio,
    bessel_ratio_over_kappa,
    log_bessel_b_minus_kappa,
)

D64 = torch.float64


def _quadrature(x, nodes, weights, alpha, sigma2):
    """log p_t(x) = log sum_j w_j N(x; alpha u_j, sigma2 I) and the score (alpha E[u|x] - x)/sigma2."""
    d = x.shape[1]
    logk = -((x[:, None, :] - alpha * nodes[None]) ** 2).sum(-1) / (2 * sigma2) + torch.log(weights)[None]
    logp = torch.logsumexp(logk, 1) - 0.5 * d * math.log(2 * math.pi * sigma2)
    w = torch.softmax(logk, 1)
    return logp, (alpha * (w @ nodes) - x) / sigma2


@pytest.mark.parametrize(
    "process_name,t", [("vp-linear", 0.01), ("vp-linear", 0.2), ("ve-exp", 0.5), ("edm", 3.0)]
)
def test_circle_against_quadrature(process_name, t):
    R = 1.5
    target = get_target(f"circle:radius={R}")
    law = target.noised(get_process(process_name), t)
    theta = torch.arange(4096, dtype=D64) * (
        2 * math.pi / 4096
    )  # trapezoid: spectral for periodic integrands
    nodes = R * torch.stack([torch.cos(theta), torch.sin(theta)], 1)
    x = torch.cat(
        [
            law.sample(20, generator=torch.Generator().manual_seed(0)),
            torch.tensor([[0.0, 0.0], [1e-9, 0.0], [0.0, 3.0], [-10.0, 7.0]], dtype=D64),
        ]
    )
    logp, score = _quadrature(x, nodes, torch.full((4096,), 1 / 4096, dtype=D64), law.alpha, law.sigma2)
    assert torch.allclose(law.log_prob(x), logp, rtol=1e-11, atol=1e-11)
    assert torch.allclose(law.score(x), score, rtol=1e-9, atol=1e-9 * float(score.abs().max()))


@pytest.mark.parametrize("t", [0.15, 0.6])
def test_two_sphere_against_quadrature(t):
    R = 0.8
    target = get_target(f"sphere:dim=3,manifold_dim=2,radius={R}")
    law = target.noised(get_process("vp-linear"), t)
    c, wc = np.polynomial.legendre.leggauss(200)
    phi = np.arange(400) * 2 * np.pi / 400
    C, P = np.meshgrid(c, phi, indexing="ij")
    s = np.sqrt(1 - C**2)
    nodes = torch.from_numpy(R * np.stack([s * np.cos(P), s * np.sin(P), C], -1).reshape(-1, 3))
    weights = torch.from_numpy(np.repeat(wc / 2, 400) / 400)
    x = torch.cat([law.sample(12, generator=torch.Generator().manual_seed(1)), torch.zeros(1, 3, dtype=D64)])
    logp, score = _quadrature(x, nodes, weights, law.alpha, law.sigma2)
    assert torch.allclose(law.log_prob(x), logp, rtol=1e-10, atol=1e-10)
    assert torch.allclose(law.score(x), score, rtol=1e-8, atol=1e-9)


def test_general_order_matches_closed_forms():
    """The scipy path (series below 2 sqrt(m), ive above) agrees with the torch closed forms for m = 2, 3."""
    kappa = torch.logspace(-8, 3, 300, dtype=D64)
    for m in (2, 3):
        lb, ratio = _log_be_and_ratio_numpy(kappa.numpy(), m)
        assert np.allclose(lb, log_bessel_b_minus_kappa(kappa, m).numpy(), rtol=1e-12, atol=1e-13)
        assert np.allclose(ratio, bessel_ratio_over_kappa(kappa, m).numpy(), rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("m", [4, 5, 11, 60])
def test_series_and_bessel_branches_agree(m):
    kappa = np.linspace(0.5, 4 * math.sqrt(m), 50)
    lb_series, r_series = _series_log_b_and_ratio(kappa, m, terms=400)
    lb, r = _log_be_and_ratio_numpy(kappa, m)
    assert np.allclose(lb_series - kappa, lb, rtol=1e-11, atol=1e-12)
    assert np.allclose(r_series, r, rtol=1e-11)
    small = np.array([0.0, 1e-12, 1e-6])
    assert np.allclose(_log_be_and_ratio_numpy(small, m)[1], 1 / m - small**2 / (m**2 * (m + 2)), rtol=1e-12)


def test_general_sphere_score_by_finite_differences():
    """For manifold_dim = 4 (custom autograd path), the score equals central differences of log_prob."""
    target = get_target("sphere:dim=6,manifold_dim=4,radius=1.3,rotate=true")
    law = target.noised(get_process("vp-linear"), 0.1)
    x = torch.cat(
        [law.sample(6, generator=torch.Generator().manual_seed(2)), 1e-4 * torch.ones(1, 6, dtype=D64)]
    )
    h = 1e-5
    fd = torch.stack(
        [(law.log_prob(x + h * e) - law.log_prob(x - h * e)) / (2 * h) for e in torch.eye(6, dtype=D64)], 1
    )
    assert torch.allclose(law.score(x), fd, rtol=1e-6, atol=1e-6)


def test_data_law_and_origin():
    target = get_target("sphere:dim=5,manifold_dim=2,radius=2,rotate=true,basis_seed=4")
    x = target.sample(100, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(x.norm(dim=1), torch.full((100,), 2.0, dtype=D64))
    y, perp = target.project(x)
    assert torch.allclose(perp, torch.zeros(100, dtype=D64), atol=1e-24) and torch.allclose(
        target.embed(y), x
    )
    law = target.noised(get_process("vp-linear"), 0.3)
    assert torch.equal(law.score(torch.zeros(1, 5, dtype=D64)), torch.zeros(1, 5, dtype=D64))
    with pytest.raises(SgmbenchError):
        target.log_prob(x)
    with pytest.raises(SgmbenchError):
        target.noised(get_process("vp-linear"), 0.0).log_prob(x)
    c = target.constants()
    assert c.support_radius == 2.0 and c.second_moment == 4.0 and c.kl_to_standard_normal is None


def test_circle_is_sphere_with_manifold_dimension_one():
    a, b = get_target("circle:dim=3,radius=2"), get_target("sphere:dim=3,manifold_dim=1,radius=2")
    law_a, law_b = a.noised(get_process("ou"), 0.4), b.noised(get_process("ou"), 0.4)
    x = law_a.sample(10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(law_a.log_prob(x), law_b.log_prob(x)) and a.name == "circle"


@pytest.mark.parametrize(
    "spec",
    [
        "sphere:dim=3,manifold_dim=3",
        "circle:dim=1",
        "circle:radius=0",
        "sphere:radius=-1",
        "sphere:dim=300,manifold_dim=250",
        "sphere:manifold_dim=0",
        "circle:rotate=1",
    ],
)
def test_bad_specs_raise_one_line_error(spec):
    with pytest.raises(SgmbenchError) as err:
        get_target(spec)
    assert "\n" not in str(err.value)
