"""The SQLite store: one row per cell, resumable, refuses foreign or corrupt files without touching them."""

import hashlib
import os
import sqlite3

import pytest

from sgmbench.errors import SgmbenchError
from sgmbench.runner import execute_cell
from sgmbench.store import APPLICATION_ID, Store
from sgmbench.study import Study

STUDY = Study(
    name="toy",
    axes={"process": ["vp-linear", "ou"], "steps": [10, 20, 40], "seed": [0, 1]},
    metrics=("w2", "kl"),
    cell_fn="sgmbench.study:synthetic_cell",
)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_put_and_read_back(tmp_path):
    path = tmp_path / "s.sqlite"
    cells = STUDY.cells()
    with Store(path) as store:
        for c in cells:
            store.put(execute_cell(c))
        assert store.count("toy") == len(cells) == 12
        assert set(store.statuses("toy").values()) == {"ok"}
    with Store(path, readonly=True) as store:  # reopened: the marker is recognised
        rows = store.rows("toy")
        assert len(rows) == 12
        assert {r["cell_key"] for r in rows} == {c.key() for c in cells}
        r0 = next(r for r in rows if r["cell_key"] == cells[0].key())
        assert r0["seed"] == cells[0].seed and r0["cell"]["setting"]["seed"] == cells[0].seed
        assert r0["version"] and r0["git_commit"] and r0["duration_s"] >= 0
        df = store.frame("toy")
    assert len(df) == 12 * 2  # long format: one row per cell x metric
    assert set(df["metric"]) == {"w2", "kl"}
    for col in (
        "study",
        "cell_key",
        "seed",
        "replicate",
        "process",
        "steps",
        "value",
        "stderr",
        "floor",
        "exact",
    ):
        assert col in df.columns
    assert df.groupby(["cell_key", "metric"]).size().max() == 1


def test_store_markers_and_wal(tmp_path):
    path = tmp_path / "s.sqlite"
    Store(path).close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert con.execute("PRAGMA user_version").fetchone()[0] >= 1
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT value FROM meta WHERE key = 'app'").fetchone()[0] == "sgmbench"
    con.close()


def test_failed_cell_and_retry_replace(tmp_path):
    s = Study(
        name="f",
        axes={"steps": [10], "fail": ["sampler diverged at step 3"]},
        cell_fn="sgmbench.study:synthetic_cell",
    )
    (cell,) = s.cells()
    with Store(tmp_path / "s.sqlite") as store:
        res = execute_cell(cell)
        assert res.status == "failed" and "sampler diverged at step 3" in res.message
        assert "\n" not in res.message
        store.put(res)
        store.put(res)  # a retry replaces the row and counts the attempt
        rows = store.rows("f")
        assert len(rows) == 1 and rows[0]["attempts"] == 2 and rows[0]["status"] == "failed"
        df = store.frame("f")
        assert len(df) == 1 and df["value"].isna().all() and df["status"].iloc[0] == "failed"


@pytest.mark.parametrize(
    "content",
    [
        b"this is not a database at all\n" * 10,
        b"SQLite format 3\x00" + b"\xff" * 2000,  # SQLite header, garbage after it
        b"",  # created below as a foreign SQLite DB
        "app_id_only",
    ],
    ids=["text", "corrupt-sqlite", "foreign-sqlite", "marked-but-no-tables"],
)
def test_foreign_or_corrupt_file_refused_untouched(tmp_path, content):
    path = tmp_path / "store.sqlite"
    if content == b"":
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE users (name TEXT)")
        con.execute("INSERT INTO users VALUES ('ada')")
        con.commit()
        con.close()
    elif content == "app_id_only":
        con = sqlite3.connect(path)
        con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        con.execute("CREATE TABLE other (x)")
        con.commit()
        con.close()
    else:
        path.write_bytes(content)
    before, mtime = _digest(path), os.stat(path).st_mtime_ns
    for readonly in (False, True):
        with pytest.raises(SgmbenchError, match="refusing store") as info:
            Store(path, readonly=readonly)
        assert "\n" not in str(info.value)
    assert _digest(path) == before and os.stat(path).st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.sqlite"]  # no -wal/-journal left behind


def test_empty_file_becomes_a_store(tmp_path):
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"")
    with Store(path) as store:
        assert store.count() == 0


def test_readonly_missing_store_is_an_error(tmp_path):
    with pytest.raises(SgmbenchError, match="does not exist"):
        Store(tmp_path / "none.sqlite", readonly=True)
    assert not (tmp_path / "none.sqlite").exists()
