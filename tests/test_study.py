"""Studies expand into cells: pure data, stable hashes, seeds derived from the hash, discovery by name."""

import pickle
import textwrap

import pytest

from sgmbench.errors import SgmbenchError
from sgmbench.setting import Setting
from sgmbench.study import (
    Cell,
    Rate,
    Study,
    available_studies,
    cell_seed,
    get_study,
    load_cell_fn,
    study_name,
    synthetic_cell,
)

TOY = Study(
    name="toy",
    axes={"process": ["vp-linear", "vp-constant:beta=2"], "steps": [10, 20], "seed": [0, 1], "dim": [2, 3]},
    metrics=("w2", "kl"),
    cell_fn="sgmbench.study:synthetic_cell",
    profiles={"quick": {}, "full": {"steps": [10, 20, 40, 80]}},
)


def test_expand_product_and_profiles():
    cells = TOY.cells()
    assert len(cells) == 2 * 2 * 2 * 2
    assert len(TOY.cells("full")) == 2 * 4 * 2 * 2
    assert {c.setting.target for c in cells} == {"gaussian:dim=2,mean=0,var=1", "gaussian:dim=3,mean=0,var=1"}
    assert {c.replicate for c in cells} == {0, 1}
    assert all(c.study == "toy" and c.metrics == ("w2", "kl") for c in cells)
    with pytest.raises(SgmbenchError, match="unknown profile"):
        TOY.cells("paper")


def test_cell_key_stable_and_seed_derived():
    a, b = TOY.cells(), TOY.cells()
    assert [c.key() for c in a] == [c.key() for c in b]
    assert len({c.key() for c in a}) == len(a)
    for c in a:  # the seed is derived from the hash of the setting (seed 0), extras and replicate
        assert c.seed == cell_seed(c.setting, c.extras, c.replicate)
    # the seed is a function of the cell's content: replicates differ, the same cell agrees
    r0 = [c for c in a if c.replicate == 0][0]
    r1 = [c for c in a if c.replicate == 1 and c.setting.replace(seed=0) == r0.setting.replace(seed=0)][0]
    assert r0.seed != r1.seed
    again = Cell.make(r0.setting.replace(seed=999), r0.metrics, {}, 0, r0.cell_fn, "other-study")
    assert again.seed == r0.seed and again.key() == r0.key()  # the study label is not part of the key


def test_known_key_is_stable_across_versions():
    """A cell's hash must not change between machines or releases (it is the store's cache key)."""
    setting = Setting(target="gaussian:dim=2,mean=0,var=1", process="vp-linear", steps=10)
    cell = Cell.make(setting, ("w2",))
    assert cell.key() == Cell.make(Setting(steps=10), ["w2"]).key()
    # Literal values: if this fails, every stored result is orphaned (e.g. a field was added to Setting).
    assert (cell.key(), cell.seed) == ("bac1ffc0a022cec8c57bcf8c8c57b956", 343927419)
    # More metrics or bounds make a new cell but keep the seed (the same samples, the same numbers).
    more = Cell.make(setting, ("w2", "kl"), bounds=("gnz2025-w2",))
    assert more.key() != cell.key() and more.seed == cell.seed


def test_cell_roundtrip_and_pickle():
    for c in TOY.cells()[:3]:
        assert Cell.from_dict(c.as_dict()) == c
        assert pickle.loads(pickle.dumps(c)) == c
        assert hash(c) == hash(Cell.from_dict(c.as_dict()))


def test_extras_zipped_axes_and_filter():
    s = Study(
        name="zip",
        axes={
            ("process", "horizon"): [("vp-linear", 1.0), ("ou", 8.0)],
            "steps": [4, 8],
            "tol": [0.1],
            "eps": [0.0, 0.1],
        },
        base=Setting(score="perturbed:kind=bias,size=0.0"),
        where=lambda p: not (p["process"] == "ou" and p["steps"] == 4),
    )
    cells = s.cells()
    assert len(cells) == 3 * 2
    assert {(c.setting.process, c.setting.horizon) for c in cells} == {("vp-linear", 1.0), ("ou", 8.0)}
    assert all(c.extra("tol") == 0.1 for c in cells)
    assert {c.setting.score for c in cells} == {
        "perturbed:kind=bias,size=0.0",
        "perturbed:kind=bias,size=0.1",
    }
    assert s.varying() == ["process", "horizon", "steps", "score.size"]


def test_bad_axes_are_one_line_errors():
    with pytest.raises(SgmbenchError):
        Study(name="x", axes={"steps": [0]}).cells()
    with pytest.raises(SgmbenchError, match="no values"):
        Study(name="x", axes={"steps": []}).cells()
    with pytest.raises(SgmbenchError, match="zipped"):
        Study(name="x", axes={("process", "horizon"): ["vp-linear"]}).cells()
    with pytest.raises(SgmbenchError, match="replicate"):
        Study(name="x", axes={"seed": [-1]}).cells()


def test_config_is_json_and_complete():
    import json

    cfg = TOY.config("full")
    json.dumps(cfg)
    assert cfg["profile"] == "full" and cfg["metrics"] == ["w2", "kl"]
    assert {"name": "steps", "values": [10, 20, 40, 80]} in cfg["axes"]


def test_synthetic_cell_is_deterministic():
    c = TOY.cells()[0]
    assert synthetic_cell(c) == synthetic_cell(c)
    assert load_cell_fn("sgmbench.study:synthetic_cell") is synthetic_cell
    with pytest.raises(SgmbenchError):
        load_cell_fn("sgmbench.study:nope")
    with pytest.raises(SgmbenchError):
        load_cell_fn("no_such_module_xyz:f")


def test_discovery_by_name(tmp_path, monkeypatch):
    (tmp_path / "my_toy_study.py").write_text(
        textwrap.dedent(
            '''
            """A toy study for the discovery test."""
            from sgmbench.study import Study
            STUDY = Study(axes={"steps": [1, 2]}, cell_fn="sgmbench.study:synthetic_cell",
                          rates=())
            '''
        )
    )
    monkeypatch.setenv("SGMBENCH_STUDY_PATH", str(tmp_path))
    assert study_name("benchmarks.forward_processes") == "forward-processes"
    assert "my-toy-study" in available_studies()
    s = get_study("my_toy_study")
    assert s.name == "my-toy-study" and s.title.startswith("A toy study")
    assert len(s.cells()) == 2
    with pytest.raises(SgmbenchError, match="unknown study 'nope'; valid: .*my-toy-study"):
        get_study("nope")


def test_repository_studies_expand():
    """Every study in benchmarks/ imports and expands in both profiles (quick is smaller)."""
    names = available_studies()
    assert "demo" in names
    for name in names:
        s = get_study(name)
        quick, full = s.cells("quick"), s.cells("full")
        assert 0 < len(quick) <= len(full), name
        for r in s.rates:
            assert isinstance(r, Rate)
