"""Merge several sgmbench stores into one (e.g. full-profile runs made on different machines).

Usage: ``python scripts/merge_stores.py OUT.sqlite IN1.sqlite [IN2.sqlite ...]``. Cells are copied by
(study, cell key): a cell already in OUT is kept (first wins), so merging is idempotent; each study's
stored config comes from the first input that has it. Every input must be an sgmbench store (checked by
opening it read-only with :class:`sgmbench.store.Store`).
"""

from __future__ import annotations

import sqlite3
import sys

from sgmbench.store import Store


def merge(out: str, inputs: list[str]) -> dict[str, int]:
    with Store(out):  # creates OUT with the schema if needed (or refuses a foreign file)
        pass
    added: dict[str, int] = {}
    con = sqlite3.connect(out)
    try:
        for path in inputs:
            with Store(path, readonly=True):  # refuses a foreign or corrupt file
                pass
            con.execute("ATTACH DATABASE ? AS src", (path,))
            with con:
                con.execute("INSERT OR IGNORE INTO main.studies SELECT * FROM src.studies")
                before = dict(con.execute("SELECT study, COUNT(*) FROM main.cells GROUP BY study").fetchall())
                cols = [r[1] for r in con.execute("PRAGMA main.table_info(cells)")]
                sel = ", ".join(c if c != "run_id" else "NULL" for c in cols)
                con.execute(
                    f"INSERT OR IGNORE INTO main.cells ({', '.join(cols)}) SELECT {sel} FROM src.cells"
                )
                after = dict(con.execute("SELECT study, COUNT(*) FROM main.cells GROUP BY study").fetchall())
            con.execute("DETACH DATABASE src")
            for study, n in after.items():
                added[study] = added.get(study, 0) + n - before.get(study, 0)
    finally:
        con.close()
    return added


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(__doc__)
        raise SystemExit(2)
    for study, n in sorted(merge(sys.argv[1], sys.argv[2:]).items()):
        print(f"{study}: {n} cells added")
