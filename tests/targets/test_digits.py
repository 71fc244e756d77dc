"""scikit-learn 8x8 digits as an empirical target."""

import pytest
import torch

from sgmbench.errors import SgmbenchError
from sgmbench.targets import EmpiricalTarget, get_target


def test_raw_digits():
    t = get_target("digits")
    assert isinstance(t, EmpiricalTarget) and t.dim == 64 and t.num_points == 1797
    assert float(t.points.min()) == 0.0 and float(t.points.max()) == 16.0
    assert "load_digits" in t.source and t.constants().support_radius <= 16 * 8


def test_standardised_digits():
    x = get_target("digits:standardise=true").points
    std = x.std(0, unbiased=False)
    assert torch.allclose(x.mean(0), torch.zeros(64, dtype=x.dtype), atol=1e-12)
    assert bool(((std - 1).abs() < 1e-12).logical_or(std == 0).all()) and int((std == 0).sum()) == 3


def test_class_filter_subset_and_scale():
    zeros = get_target("digits:digit=0")
    assert zeros.num_points == 178
    sub = get_target("digits:num_train=100,seed=1")
    assert sub.num_points == 100 and torch.equal(sub.points, get_target("digits:num_train=100,seed=1").points)
    assert float(get_target("digits:scale=0.0625").points.max()) == 1.0


@pytest.mark.parametrize(
    "spec", ["digits:digit=10", "digits:num_train=5000", "digits:standardise=2", "digits:scale=0"]
)
def test_bad_specs_raise_one_line_error(spec):
    with pytest.raises(SgmbenchError) as err:
        get_target(spec)
    assert "\n" not in str(err.value)
