"""Forward processes: the SDE identities, closed forms vs quadrature, Monte Carlo of the SDE, bad input."""

import math

import pytest
import torch

from sgmbench.errors import SgmbenchError
from sgmbench.processes import ForwardProcess, as_time, forward_processes, get_process

ALL = forward_processes.names()


def _times(p):
    T = p.default_horizon
    return as_time([0.02 * T, 0.2 * T, 0.5 * T, 0.9 * T])


@pytest.mark.parametrize("name", ALL)
def test_variance_ode_and_alpha_ode(name):
    r"""$d\sigma^2/dt = -2f\sigma^2 + g^2$ and $d\alpha/dt = -f\alpha$ by central differences."""
    p = get_process(name)
    t = _times(p)
    h = 1e-6 * p.default_horizon
    dsig = (p.sigma2(t + h) - p.sigma2(t - h)) / (2 * h)
    rhs = -2 * p.f(t) * p.sigma2(t) + p.g2(t)
    assert torch.allclose(dsig, rhs, rtol=1e-6, atol=1e-8 * float(p.g2(t).abs().max()))
    dal = (p.alpha(t + h) - p.alpha(t - h)) / (2 * h)
    assert torch.allclose(dal, -p.f(t) * p.alpha(t), rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("name", ALL)
def test_closed_forms_match_quadrature(name):
    """Each closed form equals the base-class Gauss–Legendre integral of f and g^2."""
    p = get_process(name)
    t = _times(p)
    assert torch.allclose(ForwardProcess.log_alpha(p, t), p.log_alpha(t), rtol=1e-10, atol=1e-12)
    assert torch.allclose(ForwardProcess.rho(p, t), p.rho(t), rtol=1e-9)
    assert torch.allclose(
        ForwardProcess.int_g2_over_alpha(p, t / 2, t), p.int_g2_over_alpha(t / 2, t), rtol=1e-9
    )
    assert torch.allclose(p.sigma2(t), p.alpha(t) ** 2 * p.rho(t), rtol=1e-12)


@pytest.mark.parametrize("name", ALL)
def test_time_at_snr_inverts_snr(name):
    p = get_process(name)
    t = _times(p)
    assert torch.allclose(p.time_at_snr(p.snr(t)), t, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["vp-linear", "ve-exp", "subvp", "vp-cosine"])
def test_monte_carlo_of_forward_sde(name):
    """Euler–Maruyama of the forward SDE from x0 = 1 matches alpha_t and sigma_t^2 within 4 standard errors."""
    p = get_process(name)
    T = 0.5 * p.default_horizon
    n, steps = 100_000, 400
    gen = torch.Generator().manual_seed(0)
    x = torch.ones(n, dtype=torch.float64)
    ts = torch.linspace(0, T, steps + 1, dtype=torch.float64)
    for a, b in zip(ts[:-1], ts[1:]):
        mid = (a + b) / 2  # midpoint coefficients: weak error O(h^2) for linear SDEs
        x = (
            x
            - p.f(mid) * x * (b - a)
            + torch.sqrt(p.g2(mid) * (b - a)) * torch.randn(n, generator=gen, dtype=x.dtype)
        )
    mean_se = math.sqrt(float(p.sigma2(T)) / n)
    var_se = float(p.sigma2(T)) * math.sqrt(2.0 / n)
    assert abs(float(x.mean()) - float(p.alpha(T))) < 4 * mean_se + 1e-3 * float(p.alpha(T))
    assert abs(float(x.var()) - float(p.sigma2(T))) < 4 * var_se + 1e-3 * float(p.sigma2(T))


def test_vp_constant_contract():
    """`vp-constant:beta=B` has f = B/2 and g = sqrt(B) (the measure contract)."""
    p = get_process("vp-constant:beta=2")
    assert float(p.f(0.3)) == 1.0 and math.isclose(float(p.g(0.7)), math.sqrt(2))
    assert math.isclose(float(p.sigma2(8.0)), 1 - math.exp(-16), rel_tol=1e-12)


@pytest.mark.parametrize(
    "spec",
    [
        "nope",
        "vp-linear:beta_min=-1",
        "vp-linear:beta_min=5,beta_max=1",
        "ve-exp:sigma_max=0.001",
        "vp-linear:foo=1",
        "vp-linear:beta_min",
        "vp-constant:beta=nan",
        ":x=1",
    ],
)
def test_bad_specs_raise_one_line_error(spec):
    with pytest.raises(SgmbenchError) as info:
        get_process(spec)
    assert "\n" not in str(info.value)


def test_unknown_name_lists_valid_choices():
    with pytest.raises(SgmbenchError, match="vp-linear"):
        get_process("vp-linaer")


def test_horizon_checks():
    with pytest.raises(SgmbenchError):
        get_process("vp-cosine").check_horizon(1.0)
    with pytest.raises(SgmbenchError):
        get_process("vp-linear").check_horizon(-1.0)
    assert get_process("vp-linear").check_horizon(1.0) == 1.0
