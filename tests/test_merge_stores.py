"""scripts/merge_stores.py: cells of several stores in one, idempotent, foreign files refused untouched."""

import hashlib
import importlib.util
import sqlite3
from pathlib import Path

import pytest

from sgmbench.errors import SgmbenchError
from sgmbench.runner import run_study
from sgmbench.store import Store
from sgmbench.study import Study

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "merge_stores.py"


def _merge_module():
    spec = importlib.util.spec_from_file_location("merge_stores", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _study(name, steps):
    return Study(name=name, axes={"steps": steps}, metrics=("w2",), cell_fn="sgmbench.study:synthetic_cell")


def test_merge_is_complete_and_idempotent(tmp_path):
    a, b, out = tmp_path / "a.sqlite", tmp_path / "b.sqlite", tmp_path / "out.sqlite"
    with Store(a) as s:
        run_study(_study("one", [10, 20]), s, progress=False)
    with Store(b) as s:
        run_study(_study("two", [10, 20, 40]), s, progress=False)
        run_study(_study("one", [20, 40]), s, progress=False)  # one cell overlaps with a
    merge = _merge_module().merge
    assert merge(str(out), [str(a), str(b)]) == {"one": 3, "two": 3}
    assert merge(str(out), [str(a), str(b)]) == {"one": 0, "two": 0}
    with Store(out, readonly=True) as s:
        one = s.frame("one")
        assert sorted(one["steps"].unique()) == [10, 20, 40]
        assert s.study_config("two") is not None


def test_foreign_input_is_refused_untouched(tmp_path):
    foreign = tmp_path / "foreign.sqlite"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    digest = hashlib.sha256(foreign.read_bytes()).hexdigest()
    with pytest.raises(SgmbenchError):
        _merge_module().merge(str(tmp_path / "out.sqlite"), [str(foreign)])
    assert hashlib.sha256(foreign.read_bytes()).hexdigest() == digest
