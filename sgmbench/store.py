r"""The results store: one SQLite file, one row per finished or failed cell, resumable.

Layout (``results/sgmbench.sqlite`` by default):

- ``cells``: primary key ``(study, cell_key)``; the full cell (JSON: setting, metrics, extras,
  replicate, cell function), ``seed``, ``status`` (``ok`` / ``failed``), ``message`` (why it failed),
  ``outcome`` (JSON: the resolved setting, every metric record, info), timings, package version, git
  commit, host, the run that wrote it and the number of attempts;
- ``studies``: the last configuration each study ran with (full grid, profile), for ``config.json``;
- ``runs``: one row per ``sgmbench run`` (start, end, counts, version, commit, command line);
- ``meta``: ``app = sgmbench`` and the schema version; the file also carries
  ``PRAGMA application_id`` = :data:`APPLICATION_ID` and ``PRAGMA user_version`` = :data:`SCHEMA_VERSION`.

Every cell is written in its own transaction and committed (WAL journal, ``synchronous=FULL``), so a
run killed at any moment (even SIGKILL) loses no finished cell and, since the key is the primary key,
never duplicates one. A file that is not an sgmbench store (not SQLite, corrupt, another
application's database, a newer schema) is refused with a one-line :class:`SgmbenchError` before
anything is written to it. Only the client process writes; workers return results to it.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sgmbench.errors import SgmbenchError

DEFAULT_STORE = Path("results") / "sgmbench.sqlite"
APPLICATION_ID = 0x53474D42  # "SGMB"
SCHEMA_VERSION = 1
SQLITE_HEADER = b"SQLite format 3\x00"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE cells (
    study       TEXT NOT NULL,
    cell_key    TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    message     TEXT,
    seed        INTEGER NOT NULL,
    replicate   INTEGER NOT NULL,
    cell        TEXT NOT NULL,
    outcome     TEXT,
    started_at  REAL,
    finished_at REAL NOT NULL,
    duration_s  REAL,
    version     TEXT,
    git_commit  TEXT,
    host        TEXT,
    run_id      INTEGER,
    attempts    INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (study, cell_key)
);
CREATE INDEX cells_status ON cells (study, status);
CREATE TABLE studies (
    study      TEXT PRIMARY KEY,
    profile    TEXT,
    config     TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE runs (
    run_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    study       TEXT NOT NULL,
    profile     TEXT,
    started_at  REAL NOT NULL,
    finished_at REAL,
    planned     INTEGER,
    skipped     INTEGER,
    ok          INTEGER,
    failed      INTEGER,
    executor    TEXT,
    version     TEXT,
    git_commit  TEXT,
    command     TEXT
);
"""


@dataclass
class CellResult:
    """What a worker returns for one cell (and what the store keeps): never an exception."""

    study: str
    cell_key: str
    cell: dict[str, Any]
    status: str
    message: str | None = None
    outcome: dict[str, Any] | None = None
    started_at: float | None = None
    duration_s: float | None = None
    host: str = field(default_factory=socket.gethostname)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def package_version() -> str:
    try:
        from importlib.metadata import version

        return version("sgmbench")
    except Exception:
        return "unknown"


_COMMIT: str | None = None


def git_commit() -> str:
    """The repository's HEAD commit (``+dirty`` if the tree has changes), or ``unknown``."""
    global _COMMIT
    if _COMMIT is None:
        root = Path(__file__).resolve().parent.parent
        try:
            head = subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
            )
            commit = head.stdout.strip() if head.returncode == 0 else "unknown"
            if commit != "unknown":
                dirty = subprocess.run(
                    ["git", "status", "--porcelain", "--untracked-files=no"],
                    cwd=root,
                    capture_output=True,
                    text=True,
                    timeout=10,
                )
                if dirty.returncode == 0 and dirty.stdout.strip():
                    commit += "+dirty"
            _COMMIT = commit
        except (OSError, subprocess.SubprocessError):
            _COMMIT = "unknown"
    return _COMMIT


def _dumps(obj: Any) -> str:
    from sgmbench.study import jsonable

    return json.dumps(jsonable(obj), sort_keys=True, allow_nan=False)


def check_store_file(path: Path) -> bool:
    """Raise :class:`SgmbenchError` unless ``path`` is absent, empty or an sgmbench store; never writes.

    Returns True when the file is an existing sgmbench store, False when it is absent or empty.
    """
    if not path.exists():
        return False
    if not path.is_file():
        raise SgmbenchError(f"store {path} is not a regular file")
    size = path.stat().st_size
    if size == 0:
        return False
    with open(path, "rb") as fh:
        header = fh.read(100)
    if not header.startswith(SQLITE_HEADER) or len(header) < 100:
        raise SgmbenchError(f"refusing store {path}: not an SQLite database (not created by sgmbench)")
    # Read the markers through a read-only connection (it cannot modify the file; it sees the WAL).
    try:
        uri = path.resolve().as_uri() + "?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=30)) as con:
            app_id = int(con.execute("PRAGMA application_id").fetchone()[0])
            user_version = int(con.execute("PRAGMA user_version").fetchone()[0])
            if app_id != APPLICATION_ID:
                raise SgmbenchError(
                    f"refusing store {path}: an SQLite database of another application "
                    f"(application_id {app_id:#x}, expected {APPLICATION_ID:#x})"
                )
            if user_version > SCHEMA_VERSION:
                raise SgmbenchError(
                    f"refusing store {path}: schema version {user_version} is newer than this "
                    f"sgmbench's ({SCHEMA_VERSION})"
                )
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            row = (
                con.execute("SELECT value FROM meta WHERE key = 'app'").fetchone()
                if "meta" in tables
                else None
            )
    except sqlite3.DatabaseError as exc:
        raise SgmbenchError(f"refusing store {path}: corrupt SQLite file ({exc})") from None
    if row is None or row[0] != "sgmbench" or not {"cells", "studies", "runs"} <= tables:
        raise SgmbenchError(f"refusing store {path}: not an sgmbench store (no sgmbench marker)")
    return True


class Store:
    """An sgmbench results store (see the module docstring). Use as a context manager or ``close()``."""

    def __init__(self, path: str | os.PathLike = DEFAULT_STORE, *, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        exists = check_store_file(self.path)
        if readonly and not exists:
            raise SgmbenchError(f"store {self.path} does not exist (run a study first: sgmbench run STUDY)")
        if not readonly:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SgmbenchError(f"cannot create store directory {self.path.parent}: {exc}") from None
        try:
            if readonly:
                self._con = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True, timeout=60)
            else:
                self._con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
                if not exists:
                    self._create()  # in rollback-journal mode: the main file holds the markers at once
                self._con.execute("PRAGMA journal_mode = WAL")
                self._con.execute("PRAGMA synchronous = FULL")
        except sqlite3.DatabaseError as exc:
            raise SgmbenchError(f"cannot open store {self.path}: {exc}") from None

    def _create(self) -> None:
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        try:
            # Re-check under the write lock: another process may have created it meanwhile.
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables:
                con.execute("ROLLBACK")
                self._con.close()
                check_store_file(self.path)
                self._con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
                return
            con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    con.execute(stmt)
            con.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [
                    ("app", "sgmbench"),
                    ("schema_version", str(SCHEMA_VERSION)),
                    ("created_at", repr(time.time())),
                ],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    # -- context manager ---------------------------------------------------------------------
    def close(self) -> None:
        con = getattr(self, "_con", None)
        if con is not None:
            con.close()
            self._con = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _write(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        if self.readonly:
            raise SgmbenchError(f"store {self.path} is open read-only")
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        try:
            cur = con.execute(sql, tuple(params))
            con.execute("COMMIT")
            return cur
        except BaseException:
            con.execute("ROLLBACK")
            raise

    # -- writing -----------------------------------------------------------------------------
    def put(self, result: CellResult, run_id: int | None = None) -> None:
        """Insert or replace one cell's row, in its own committed transaction."""
        cell = result.cell
        finished = time.time()
        self._write(
            """
            INSERT INTO cells (study, cell_key, status, message, seed, replicate, cell, outcome,
                               started_at, finished_at, duration_s, version, git_commit, host, run_id,
                               attempts)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
            ON CONFLICT (study, cell_key) DO UPDATE SET
                status = excluded.status, message = excluded.message, seed = excluded.seed,
                replicate = excluded.replicate, cell = excluded.cell, outcome = excluded.outcome,
                started_at = excluded.started_at, finished_at = excluded.finished_at,
                duration_s = excluded.duration_s, version = excluded.version,
                git_commit = excluded.git_commit, host = excluded.host, run_id = excluded.run_id,
                attempts = cells.attempts + 1
            """,
            (
                result.study,
                result.cell_key,
                result.status,
                result.message,
                int(cell["setting"]["seed"]),
                int(cell.get("replicate", 0)),
                _dumps(cell),
                _dumps(result.outcome) if result.outcome is not None else None,
                result.started_at,
                finished,
                result.duration_s,
                package_version(),
                git_commit(),
                result.host,
                run_id,
            ),
        )

    def record_study(self, study: str, profile: str, config: Mapping[str, Any]) -> None:
        self._write(
            "INSERT OR REPLACE INTO studies (study, profile, config, updated_at) VALUES (?, ?, ?, ?)",
            (study, profile, _dumps(config), time.time()),
        )

    def start_run(
        self, study: str, profile: str, planned: int, skipped: int, executor: str, command: str
    ) -> int:
        cur = self._write(
            """INSERT INTO runs (study, profile, started_at, planned, skipped, executor, version, git_commit,
                                 command)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                study,
                profile,
                time.time(),
                planned,
                skipped,
                executor,
                package_version(),
                git_commit(),
                command,
            ),
        )
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, ok: int, failed: int) -> None:
        self._write(
            "UPDATE runs SET finished_at = ?, ok = ?, failed = ? WHERE run_id = ?",
            (time.time(), ok, failed, run_id),
        )

    # -- reading -----------------------------------------------------------------------------
    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        try:
            return self._con.execute(sql, tuple(params)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise SgmbenchError(f"store {self.path}: {exc}") from None

    def statuses(self, study: str) -> dict[str, str]:
        """``cell_key -> status`` of every stored cell of ``study``."""
        return dict(self._query("SELECT cell_key, status FROM cells WHERE study = ?", (study,)))

    def studies(self) -> list[str]:
        rows = self._query("SELECT DISTINCT study FROM cells UNION SELECT study FROM studies")
        return sorted(r[0] for r in rows)

    def study_config(self, study: str) -> dict[str, Any] | None:
        row = self._query("SELECT config FROM studies WHERE study = ?", (study,))
        return json.loads(row[0][0]) if row else None

    def count(self, study: str | None = None, status: str | None = None) -> int:
        sql, params = "SELECT COUNT(*) FROM cells WHERE 1 = 1", []
        if study is not None:
            sql, params = sql + " AND study = ?", [*params, study]
        if status is not None:
            sql, params = sql + " AND status = ?", [*params, status]
        return int(self._query(sql, params)[0][0])

    def rows(self, study: str | None = None) -> list[dict[str, Any]]:
        """Every stored cell as a dict (JSON columns decoded), ordered by study and finish time."""
        sql = """SELECT study, cell_key, status, message, seed, replicate, cell, outcome, started_at,
                        finished_at, duration_s, version, git_commit, host, run_id, attempts FROM cells"""
        params: list[Any] = []
        if study is not None:
            sql += " WHERE study = ?"
            params.append(study)
        sql += " ORDER BY study, finished_at, cell_key"
        cols = [
            "study",
            "cell_key",
            "status",
            "message",
            "seed",
            "replicate",
            "cell",
            "outcome",
            "started_at",
            "finished_at",
            "duration_s",
            "version",
            "git_commit",
            "host",
            "run_id",
            "attempts",
        ]
        out = []
        for r in self._query(sql, params):
            d = dict(zip(cols, r))
            d["cell"] = json.loads(d["cell"])
            d["outcome"] = json.loads(d["outcome"]) if d["outcome"] else None
            out.append(d)
        return out

    def runs(self, study: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM runs" + (" WHERE study = ?" if study else "") + " ORDER BY run_id"
        cur = self._con.execute(sql, (study,) if study else ())
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]

    def frame(self, study: str | None = None):
        """The store as one long pandas table: one row per cell × metric (see :func:`long_frame`)."""
        return long_frame(self.rows(study))

    def bounds_frame(self, study: str | None = None):
        """The bounds evaluated in the cells: one row per cell × bound (see :func:`bounds_frame`)."""
        return bounds_frame(self.rows(study))


# ------------------------------------------------------------------------------------------------
# Long format
# ------------------------------------------------------------------------------------------------
RECORD_FIELDS = ("value", "stderr", "floor", "exact")
SETTING_ORDER = (
    "target",
    "process",
    "horizon",
    "sampler",
    "grid",
    "steps",
    "early_stop",
    "reference",
    "prior",
    "score",
    "samples",
    "seed",
    "device",
)


def _num(v: Any) -> Any:
    if isinstance(v, str) and v in ("nan", "inf", "-inf"):
        return float(v)
    return v


def long_frame(rows: list[dict[str, Any]]):
    """One row per cell × metric: study, cell_key, status, message, replicate, seed, every setting field
    (resolved where the outcome gives it: e.g. ``horizon``), ``dim``, ``h`` = (T − δ)/steps, each spec
    parameter as ``KIND.PARAM`` (``target.dim``, ``score.size``), ``eps`` (= ``score.size`` if any), the
    extras, then ``metric``, ``value``, ``stderr``, ``floor``, ``exact``, further record fields, ``nfe``
    and provenance (``duration_s``, ``version``, ``git_commit``, ``host``, ``finished_at``).
    A failed cell gives one row per requested metric with ``value`` NaN and its ``message``.
    """
    import pandas as pd

    records = []
    for row in rows:
        cell, outcome = row["cell"], row["outcome"] or {}
        base = cell_columns(row)
        info = outcome.get("info") or {}
        if "nfe" in info:
            base["nfe"] = info["nfe"]
        prov = {k: row[k] for k in ("duration_s", "version", "git_commit", "host", "finished_at", "attempts")}
        metrics = outcome.get("metrics") or {}
        requested = list(cell.get("metrics") or [])
        names = [m for m in requested if m in metrics or not metrics] + [
            m for m in metrics if m not in requested
        ]
        for name in names:
            rec = metrics.get(name) or {}
            out = dict(base)
            out["metric"] = name
            for k in RECORD_FIELDS:
                out[k] = _num(rec.get(k))
            for k, v in rec.items():
                if k not in RECORD_FIELDS and not isinstance(v, (dict, list)):
                    out[f"record.{k}"] = _num(v)
            out.update(prov)
            records.append(out)
    df = pd.DataFrame.from_records(records)
    if df.empty:
        return df
    for col in ("value", "stderr", "floor"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    # Record columns at the end, provenance last.
    front = [c for c in df.columns if c not in (*RECORD_FIELDS, "metric") and not c.startswith("record.")]
    tail = ["metric", *RECORD_FIELDS] + [c for c in df.columns if c.startswith("record.")]
    prov_cols = [c for c in ("nfe", "duration_s", "version", "git_commit", "host", "finished_at", "attempts")]
    front = [c for c in front if c not in prov_cols]
    return df[front + tail + [c for c in prov_cols if c in df.columns]]


def cell_columns(row: Mapping[str, Any]) -> dict[str, Any]:
    """The columns that say which cell a stored row is: identifiers, the setting (resolved where the
    outcome gives it), ``dim``, ``h``, spec parameters as ``KIND.PARAM``, ``eps`` and the extras."""
    from sgmbench.registry import parse_spec

    cell, outcome = row["cell"], row["outcome"] or {}
    setting = {k: cell["setting"].get(k) for k in SETTING_ORDER if k in cell["setting"]}
    resolved = outcome.get("setting") or {}
    for k, v in resolved.items():
        if k in setting and v is not None:
            setting[k] = v
    base: dict[str, Any] = {
        "study": row["study"],
        "cell_key": row["cell_key"],
        "status": row["status"],
        "message": row["message"],
        "replicate": row["replicate"],
        **setting,
    }
    base["seed"] = row["seed"]
    for kind in ("target", "process", "score", "sampler", "grid"):
        spec = setting.get(kind)
        if isinstance(spec, str):
            try:
                _, params = parse_spec(spec)
            except SgmbenchError:
                params = {}
            for p, v in params.items():
                base[f"{kind}.{p}"] = v if not isinstance(v, tuple) else ";".join(map(str, v))
    base["dim"] = resolved.get("dim", base.get("target.dim"))
    if "score.size" in base:
        base["eps"] = base["score.size"]
    horizon = setting.get("horizon")
    if horizon is not None and setting.get("steps"):
        base["h"] = (float(horizon) - float(setting.get("early_stop") or 0.0)) / int(setting["steps"])
    for k, v in (cell.get("extras") or {}).items():
        base.setdefault(k, v if not isinstance(v, list) else ";".join(map(str, v)))
    return base


BOUND_COLUMNS = (
    "bound",
    "compares",
    "reference",
    "direction",
    "applicable",
    "bound_value",
    "measured",
    "measured_key",
    "ratio",
    "holds",
    "constant_unspecified",
    "vacuous",
    "failed",
    "terms",
)


def bounds_frame(rows: list[dict[str, Any]]):
    """One row per ok cell × bound evaluated in the cell (``outcome["bounds"]``): the cell's columns
    (:func:`cell_columns`), ``metric`` (the bound's), ``bound_value``, ``measured``, ``holds``,
    ``ratio`` = bound/measured, ``applicable``, ``failed`` (the assumptions that failed, ``; ``-joined)
    and ``terms`` (JSON)."""
    import pandas as pd

    records = []
    for row in rows:
        outcome = row["outcome"] or {}
        if row["status"] != "ok" or not outcome.get("bounds"):
            continue
        base = cell_columns(row)
        for b in outcome["bounds"]:
            out = dict(base)
            out.update(
                bound=b.get("bound"),
                metric=b.get("metric"),
                compares=b.get("compares"),
                reference=b.get("reference"),
                direction=b.get("direction"),
                applicable=bool(b.get("applicable")),
                bound_value=_num(b.get("value")),
                measured=_num(b.get("measured")),
                measured_key=b.get("measured_key"),
                ratio=_num(b.get("ratio")),
                holds=b.get("holds"),
                constant_unspecified=b.get("constant_unspecified"),
                vacuous=b.get("vacuous"),
                failed="; ".join(b.get("failed") or []),
                terms=json.dumps(b.get("terms") or {}, sort_keys=True),
            )
            records.append(out)
    df = pd.DataFrame.from_records(records)
    if not df.empty:
        for col in ("bound_value", "measured", "ratio"):
            df[col] = pd.to_numeric(df[col], errors="coerce")
    return df
