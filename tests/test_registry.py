import pytest

from sgmbench.errors import SgmbenchError
from sgmbench.registry import format_spec, parse_spec


def test_parse_spec_types():
    name, p = parse_spec("gaussian:dim=10,mean=1,var=0.5,flag=true,w=0.3;0.7,kind=bias")
    assert name == "gaussian"
    assert p == {"dim": 10, "mean": 1, "var": 0.5, "flag": True, "w": (0.3, 0.7), "kind": "bias"}


def test_format_roundtrip():
    name, p = parse_spec("x:b=2,a=0.5,w=1;2")
    assert parse_spec(format_spec(name, p)) == (name, p)


@pytest.mark.parametrize("spec", ["", "a:b", "a:b=", "a:b=1,b=2", ":b=1"])
def test_bad_spec(spec):
    with pytest.raises(SgmbenchError):
        parse_spec(spec)
