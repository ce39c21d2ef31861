"""The prediction log: every scored lead, recorded before the answer is sent; and outcomes joined to it later.

One row per scored lead: request id, lead id, endpoint, model version, `p_close`, stage and assigned rep (for
/rank), the client that asked (its name, never its token), and the time. No personal data besides the lead id.
A request sent with an `Idempotency-Key` also stores its answer in `idempotency_keys`, in the same transaction
as its rows, so a retry (in any worker, after a restart) gets that answer back and writes nothing new.

The default store is an embedded SQLite database in WAL mode (readers never block the writer, several workers
can write); any SQLAlchemy URL works (`LEADRANK_PREDICTION_DB`). `import_outcomes` records what happened to
leads (won or lost, when) in a second table keyed by lead id, so monitoring can join the two.
"""

from __future__ import annotations

import logging
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from features import contract as c
from features.parsing import decode_bytes
from serving.errors import IdempotencyConflict, OutcomesError, PredictionLogError

if TYPE_CHECKING:
    from sqlalchemy import Engine, MetaData, Table

    from serving.scoring import LogRows

log = logging.getLogger(__name__)

PREDICTIONS: Final = "predictions"
OUTCOMES: Final = "outcomes"
IDEMPOTENCY: Final = "idempotency_keys"
MAX_ID: Final = 200
MAX_CLIENT: Final = 64
MAX_KEY: Final = 255
# An error message lists at most this many offending rows.
_EXAMPLES: Final = 5
# Lead ids per `IN (...)` query, well below every database's parameter limit.
_CHUNK: Final = 500
# Where an outcome came from in its file ("line 7", "row 3", "lead X"), for the conflicts report.
ROW_LABEL: Final = "row"


def _tables(metadata: MetaData) -> tuple[Table, Table, Table]:
    from sqlalchemy import Column, DateTime, Float, Integer, LargeBinary, String, Table

    predictions = Table(
        PREDICTIONS,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("request_id", String(32), nullable=False, index=True),
        Column("endpoint", String(16), nullable=False),
        Column("lead_id", String(MAX_ID), nullable=False, index=True),
        Column("model_version", String(64), nullable=False),
        Column("p_close", Float, nullable=False),
        Column("stage", String(32)),
        Column("assigned_to", String(200)),
        Column("scored_at", DateTime, nullable=False),
        Column("client", String(MAX_CLIENT)),
    )
    outcomes = Table(
        OUTCOMES,
        metadata,
        Column("lead_id", String(MAX_ID), primary_key=True),
        Column("outcome", String(8), nullable=False),
        Column("closed_at", DateTime),
        Column("import_id", String(32), nullable=False, index=True),
        Column("imported_at", DateTime, nullable=False),
    )
    idempotency = Table(
        IDEMPOTENCY,
        metadata,
        # "" for requests without a client (no tokens configured): a key is only ever seen by its own client.
        Column("client", String(MAX_CLIENT), primary_key=True),
        Column("idempotency_key", String(MAX_KEY), primary_key=True),
        Column("request_hash", String(64), nullable=False),
        Column("request_id", String(32), nullable=False),
        Column("endpoint", String(16), nullable=False),
        Column("answer", LargeBinary, nullable=False),  # the response body sent, zlib-compressed
        Column("created_at", DateTime, nullable=False),
        Column("expires_at", DateTime, nullable=False, index=True),
    )
    return predictions, outcomes, idempotency


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unreadable database URL>"


def open_engine(url: str) -> Engine:
    """An engine for the log at `url`, tables created; SQLite files get WAL mode and a busy timeout."""
    from sqlalchemy import MetaData, create_engine, event
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise PredictionLogError(f"LEADRANK_PREDICTION_DB {url!r} is not a database URL: {exc}") from None
    sqlite_file = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
    if sqlite_file:
        try:
            Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PredictionLogError(
                f"cannot create the directory of the prediction log {_shown(url)}: {exc.strerror}"
            ) from None
    try:
        engine = create_engine(url)
    except (ArgumentError, ImportError, SQLAlchemyError) as exc:
        raise PredictionLogError(f"cannot open the prediction log {_shown(url)}: {exc}") from None
    if parsed.get_backend_name() == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # First: switching to WAL takes an exclusive lock, which another worker starting at the same time
            # may hold; without the timeout set, that worker's start failed at once ("database is locked").
            cursor.execute("PRAGMA busy_timeout=30000")
            # WAL: readers never block the writer and several worker processes can append; NORMAL is durable
            # across application crashes (only a power loss can drop the last transactions).
            if sqlite_file:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    metadata = MetaData()
    _tables(metadata)
    try:
        metadata.create_all(engine)
        _add_missing_columns(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise PredictionLogError(f"cannot create the tables of the prediction log {_shown(url)}: {exc}") from None
    return engine


def _add_missing_columns(engine: Engine) -> None:
    """Columns added to `predictions` since a log was created (`client`), added to an older log in place."""
    from sqlalchemy import inspect

    present = {column["name"] for column in inspect(engine).get_columns(PREDICTIONS)}
    if "client" not in present:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"ALTER TABLE {PREDICTIONS} ADD COLUMN client VARCHAR({MAX_CLIENT})")
        log.info("prediction log: added the column %s.client", PREDICTIONS)


_LOG_COLUMNS: Final = (
    "request_id",
    "endpoint",
    "lead_id",
    "model_version",
    "p_close",
    "stage",
    "assigned_to",
    "scored_at",
    "client",
)
_KEY_COLUMNS: Final = (
    "client",
    "idempotency_key",
    "request_hash",
    "request_id",
    "endpoint",
    "answer",
    "created_at",
    "expires_at",
)


def _marks(engine: Engine, n: int) -> str | None:
    """`n` placeholders in the driver's own positional style; None for named styles."""
    if engine.dialect.paramstyle == "numeric":
        return ", ".join(f":{k + 1}" for k in range(n))
    placeholder = {"qmark": "?", "format": "%s"}.get(engine.dialect.paramstyle)
    return None if placeholder is None else ", ".join([placeholder] * n)


def _positional_insert(engine: Engine, table: str = PREDICTIONS, columns: Sequence[str] = _LOG_COLUMNS) -> str | None:
    """The INSERT of a row in the driver's own positional placeholders; None for named styles."""
    marks = _marks(engine, len(columns))
    return None if marks is None else f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


@dataclass(frozen=True)
class IdempotentAnswer:
    """The answer to a request sent with an Idempotency-Key, stored with its log rows for retries."""

    client: str  # "" without auth
    key: str
    request_hash: str  # sha256 of the validated request: a retry must send the same one
    request_id: str
    endpoint: str
    answer: bytes  # the response body, as sent


@dataclass(frozen=True)
class StoredAnswer:
    request_hash: str
    request_id: str
    endpoint: str
    answer: bytes


class PredictionLog:
    """Appends scored leads to the log; a failure raises `PredictionLogError` (the API answers 503)."""

    def __init__(self, url: str, idempotency_ttl: timedelta = timedelta(hours=24)) -> None:
        from sqlalchemy import MetaData
        from sqlalchemy.exc import SQLAlchemyError

        self.url = url
        self.shown_url = _shown(url)
        self.engine = open_engine(url)
        self.idempotency_ttl = idempotency_ttl
        self.predictions, self.outcomes, self.idempotency = _tables(MetaData())
        self._positional_insert = _positional_insert(self.engine)
        self._positional_key_insert = _positional_insert(self.engine, IDEMPOTENCY, _KEY_COLUMNS)
        marks = _marks(self.engine, 3)
        self._positional_key_expire = (
            None
            if marks is None
            else f"DELETE FROM {IDEMPOTENCY} WHERE client = {marks.split(', ')[0]} AND idempotency_key = "
            f"{marks.split(', ')[1]} AND expires_at <= {marks.split(', ')[2]}"
        )
        # What the driver raises when it is used directly (the positional path below).
        dbapi = self.engine.dialect.loaded_dbapi
        self._driver_error: type[Exception] = getattr(dbapi, "Error", SQLAlchemyError)
        self._driver_integrity_error: type[Exception] = getattr(dbapi, "IntegrityError", SQLAlchemyError)
        datetime_type = self.predictions.c.scored_at.type
        self._datetime_to_db = datetime_type.dialect_impl(self.engine.dialect).bind_processor(self.engine.dialect)
        self._next_purge = datetime.min

    def record(
        self,
        rows: LogRows,
        at: datetime | None = None,
        client: str | None = None,
        idempotent: IdempotentAnswer | None = None,
    ) -> None:
        """Append `rows` (and store `idempotent`'s answer) in one transaction.

        Raises `IdempotencyConflict` when another request recorded the same client and key first (nothing of
        this one is written), `PredictionLogError` when the log cannot be written.
        """
        from sqlalchemy.exc import IntegrityError, SQLAlchemyError

        when = (at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
        n = len(rows.lead_ids)
        if n == 0:
            return
        stage = rows.stage if rows.stage is not None else [None] * n
        assigned = rows.assigned_to if rows.assigned_to is not None else [None] * n
        try:
            if self._positional_insert is not None:
                self._insert_positional(rows, stage, assigned, when, client, idempotent)
            else:
                self._insert_core(rows, stage, assigned, when, client, idempotent)
        except (IntegrityError, self._driver_integrity_error) as exc:
            if idempotent is None:
                raise PredictionLogError(
                    f"the prediction log {self.shown_url} cannot be written ({type(exc).__name__}); nothing was scored"
                ) from exc
            raise IdempotencyConflict(f"Idempotency-Key {idempotent.key!r} was recorded by another request") from None
        except (SQLAlchemyError, self._driver_error) as exc:
            raise PredictionLogError(
                f"the prediction log {self.shown_url} cannot be written ({type(exc).__name__}: "
                f"{getattr(exc, 'orig', None) or exc}); nothing was scored"
            ) from exc
        if idempotent is not None and when >= self._next_purge:
            self.purge_expired(when)

    def _db_time(self, when: datetime) -> Any:
        return self._datetime_to_db(when) if self._datetime_to_db is not None else when

    def _insert_positional(
        self,
        rows: LogRows,
        stage: Sequence[str | None],
        assigned: Sequence[str | None],
        when: datetime,
        client: str | None,
        idempotent: IdempotentAnswer | None,
    ) -> None:
        # One executemany of plain tuples straight to the driver, on a pooled connection, in one transaction:
        # a 10,000-lead /rank is logged in a fraction of the time SQLAlchemy's per-row parameter processing
        # takes, and a single lead in half the time of a SQLAlchemy transaction around it.
        assert self._positional_insert is not None
        scored_at = self._db_time(when)
        params = list(
            zip(
                repeat(rows.request_id),
                repeat(rows.endpoint),
                rows.lead_ids,
                repeat(rows.model_version),
                rows.p_close.tolist(),
                stage,
                assigned,
                repeat(scored_at),
                repeat(client),
                strict=False,  # `repeat` is endless; the lead columns set the length
            )
        )
        conn = self.engine.raw_connection()
        try:
            cursor = conn.cursor()
            try:
                if idempotent is not None:
                    # The key first: a retry that lost the race fails here, before it writes any row.
                    assert self._positional_key_insert is not None and self._positional_key_expire is not None
                    cursor.execute(self._positional_key_expire, (idempotent.client, idempotent.key, scored_at))
                    cursor.execute(self._positional_key_insert, self._key_row(idempotent, when))
                cursor.executemany(self._positional_insert, params)
            finally:
                cursor.close()
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()  # back to the pool

    def _key_row(self, idempotent: IdempotentAnswer, when: datetime) -> tuple[Any, ...]:
        return (
            idempotent.client,
            idempotent.key,
            idempotent.request_hash,
            idempotent.request_id,
            idempotent.endpoint,
            zlib.compress(idempotent.answer, 1),
            self._db_time(when),
            self._db_time(when + self.idempotency_ttl),
        )

    def _insert_core(
        self,
        rows: LogRows,
        stage: Sequence[str | None],
        assigned: Sequence[str | None],
        when: datetime,
        client: str | None,
        idempotent: IdempotentAnswer | None,
    ) -> None:
        from sqlalchemy import delete, insert

        params = [
            {
                "request_id": rows.request_id,
                "endpoint": rows.endpoint,
                "lead_id": lead_id,
                "model_version": rows.model_version,
                "p_close": p,
                "stage": st,
                "assigned_to": rep,
                "scored_at": when,
                "client": client,
            }
            for lead_id, p, st, rep in zip(rows.lead_ids, rows.p_close.tolist(), stage, assigned, strict=True)
        ]
        with self.engine.begin() as conn:
            if idempotent is not None:
                keys = self.idempotency.c
                conn.execute(
                    delete(self.idempotency).where(
                        keys.client == idempotent.client,
                        keys.idempotency_key == idempotent.key,
                        keys.expires_at <= when,
                    )
                )
                row = dict(zip(_KEY_COLUMNS, self._key_row(idempotent, when), strict=True))
                conn.execute(
                    insert(self.idempotency), {**row, "created_at": when, "expires_at": when + self.idempotency_ttl}
                )
            conn.execute(insert(self.predictions), params)

    def stored_answer(self, client: str, key: str, now: datetime | None = None) -> StoredAnswer | None:
        """The answer stored for `client`'s Idempotency-Key `key`, unless there is none or it has expired."""
        from sqlalchemy import select
        from sqlalchemy.exc import SQLAlchemyError

        when = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
        keys = self.idempotency.c
        query = select(keys.request_hash, keys.request_id, keys.endpoint, keys.answer).where(
            keys.client == client, keys.idempotency_key == key, keys.expires_at > when
        )
        try:
            with self.engine.connect() as conn:
                row = conn.execute(query).first()
        except SQLAlchemyError as exc:
            raise PredictionLogError(
                f"the prediction log {self.shown_url} cannot be read ({type(exc).__name__}: "
                f"{getattr(exc, 'orig', None) or exc}); nothing was scored"
            ) from exc
        if row is None:
            return None
        return StoredAnswer(row.request_hash, row.request_id, row.endpoint, zlib.decompress(row.answer))

    def purge_expired(self, now: datetime | None = None) -> int:
        """Delete expired Idempotency-Keys; how many. Runs at most once an hour per process as keys are stored."""
        from sqlalchemy import delete
        from sqlalchemy.exc import SQLAlchemyError

        when = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
        self._next_purge = when + timedelta(hours=1)
        try:
            with self.engine.begin() as conn:
                return int(
                    conn.execute(delete(self.idempotency).where(self.idempotency.c.expires_at <= when)).rowcount or 0
                )
        except SQLAlchemyError as exc:  # a purge that fails is retried at the next one; the keys are still valid
            log.warning("prediction log: cannot delete expired idempotency keys (%s)", type(exc).__name__)
            return 0

    def read(self) -> pd.DataFrame:
        """All logged predictions (for monitoring and tests)."""
        with self.engine.connect() as conn:
            return pd.read_sql_table(PREDICTIONS, conn)

    def close(self) -> None:
        self.engine.dispose()


def read_log(url: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every logged prediction and every imported outcome of the log at `url` (what `leadrank monitor` joins)."""
    from sqlalchemy.exc import SQLAlchemyError

    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            return pd.read_sql_table(PREDICTIONS, conn), pd.read_sql_table(OUTCOMES, conn)
    except SQLAlchemyError as exc:
        raise PredictionLogError(f"cannot read the prediction log {_shown(url)}: {exc}") from None
    finally:
        engine.dispose()


# --- outcomes -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutcomesReport:
    """What `import_outcomes` did. `new`: leads without an outcome before; `changed`: leads whose stored outcome
    (or close date) differed and was replaced by this file's, `changes` describing each (lead, where in the file,
    before and after); `unchanged`: already stored exactly so, not written again. `matched`: leads of the file
    the log has scored; the others are counted as never scored, `unmatched_examples` naming a few."""

    path: Path
    database: str
    rows: int
    leads: int
    won: int
    lost: int
    matched: int
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    changes: list[str] = field(default_factory=list)
    unmatched_examples: list[str] = field(default_factory=list)

    @property
    def unmatched(self) -> int:
        return self.leads - self.matched


def read_outcomes_file(path: str | Path) -> pd.DataFrame:
    """`lead_id`, `outcome` (won/lost) and optional `closed_at` from a CSV or Parquet file, validated.

    Outcomes are matched without regard to case or surrounding spaces; a lead listed twice must have the same
    outcome both times. Raises `OutcomesError` naming the file, the rows and the column.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise OutcomesError(f"{path}: expected a .csv or .parquet file, got {suffix or 'no extension'!r}")
    if not path.is_file():
        raise OutcomesError(f"{path}: no such file" if not path.exists() else f"{path}: is not a file")
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path, dtype="str", keep_default_na=False, na_values=[""])
        else:
            frame = pd.read_parquet(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise OutcomesError(f"{path}: cannot read it ({type(exc).__name__}: {exc})") from None
    except Exception as exc:  # parser errors of pandas and pyarrow have no common base class
        raise OutcomesError(f"{path}: cannot read it ({type(exc).__name__}: {exc})") from None
    # CSV rows are numbered as a spreadsheet shows them: the header is line 1.
    offset = 2 if suffix == ".csv" else 0
    where = "line" if suffix == ".csv" else "row"

    def rows(mask: np.ndarray) -> str:
        pos = np.flatnonzero(mask)
        shown = ", ".join(str(p + offset) for p in pos[:_EXAMPLES])
        return f"{where}{'s' if len(pos) > 1 else ''} {shown}" + (
            f" and {len(pos) - _EXAMPLES} more" if len(pos) > _EXAMPLES else ""
        )

    frame, undecodable = decode_bytes(frame)
    for column, positions in undecodable.items():
        bad = np.zeros(len(frame), dtype=bool)
        bad[positions] = True
        raise OutcomesError(f"{path}: column {column} holds bytes that are not UTF-8 text at {rows(bad)}")
    missing = [col for col in (c.LEAD_ID, c.OUTCOME) if col not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns)) or "none"
        raise OutcomesError(f"{path}: missing column(s) {', '.join(missing)}; found: {found}")
    ids = frame[c.LEAD_ID].astype("str").str.strip()
    empty = (ids.isna() | (ids == "")).to_numpy()
    if empty.any():
        raise OutcomesError(f"{path}: column {c.LEAD_ID} is empty at {rows(empty)}")
    too_long = (ids.str.len() > MAX_ID).to_numpy()
    if too_long.any():
        raise OutcomesError(f"{path}: column {c.LEAD_ID} is longer than {MAX_ID} characters at {rows(too_long)}")
    outcome = frame[c.OUTCOME].astype("str").str.strip().str.lower()
    bad = (~outcome.isin(list(c.OUTCOMES))).to_numpy()
    if bad.any():
        values = sorted({str(v) for v in frame[c.OUTCOME][bad].head(_EXAMPLES)})
        got = ", ".join(map(repr, values))
        raise OutcomesError(f"{path}: column {c.OUTCOME} must be 'won' or 'lost'; got {got} at {rows(bad)}")
    closed = pd.Series(pd.NaT, index=frame.index, dtype=c.TIMESTAMP_DTYPE)
    if c.CLOSED_AT in frame.columns:
        raw = frame[c.CLOSED_AT]
        if raw.dtype.kind == "M" or isinstance(raw.dtype, pd.DatetimeTZDtype):
            parsed = pd.to_datetime(raw, utc=True)
        else:
            parsed = pd.to_datetime(raw.astype("str"), utc=True, format="ISO8601", errors="coerce")
            unreadable = (parsed.isna() & raw.notna() & (raw.astype("str").str.strip() != "")).to_numpy()
            if unreadable.any():
                raise OutcomesError(
                    f"{path}: column {c.CLOSED_AT} is not an ISO 8601 date or timestamp at {rows(unreadable)}"
                )
        closed = parsed.dt.tz_localize(None).astype(c.TIMESTAMP_DTYPE)
    out = pd.DataFrame({c.LEAD_ID: ids, c.OUTCOME: outcome, c.CLOSED_AT: closed})
    conflicting = out.groupby(c.LEAD_ID)[c.OUTCOME].transform("nunique").to_numpy() > 1
    if conflicting.any():
        raise OutcomesError(f"{path}: leads listed twice with different outcomes at {rows(conflicting)}")
    out[ROW_LABEL] = [f"{where} {k + offset}" for k in range(len(out))]
    unique = out.drop_duplicates(subset=[c.LEAD_ID], keep="last").reset_index(drop=True)
    unique.attrs["rows_read"] = len(out)
    return unique


def outcomes_of_leads(leads: pd.DataFrame) -> pd.DataFrame:
    """The won/lost leads of a canonical leads table (e.g. a CRM export read through its dataset spec) in the
    form `record_outcomes` takes; open leads are left out."""
    if c.OUTCOME not in leads.columns:
        raise OutcomesError("the leads have no outcome column: the dataset spec needs a target")
    closed = leads.loc[leads[c.OUTCOME].isin(list(c.OUTCOMES))]
    closed_at = closed[c.CLOSED_AT] if c.CLOSED_AT in closed.columns else pd.Series(pd.NaT, index=closed.index)
    out = pd.DataFrame(
        {
            c.LEAD_ID: closed[c.LEAD_ID].astype("str").to_numpy(),
            c.OUTCOME: closed[c.OUTCOME].astype("str").to_numpy(),
            c.CLOSED_AT: pd.to_datetime(closed_at).astype(c.TIMESTAMP_DTYPE).to_numpy(),
            ROW_LABEL: [f"lead {lead}" for lead in closed[c.LEAD_ID].astype("str")],
        }
    )
    out.attrs["rows_read"] = len(leads)
    return out


def import_outcomes(path: str | Path, url: str) -> OutcomesReport:
    """Record the outcomes of the file `path` in the log at `url` (see `record_outcomes`)."""
    return record_outcomes(read_outcomes_file(path), url, Path(path))


def record_outcomes(frame: pd.DataFrame, url: str, origin: Path) -> OutcomesReport:
    """Record outcomes (`lead_id`, `outcome`, `closed_at`, `row`: where each came from) in the log at `url`.

    Idempotent: a lead already stored with the same outcome and close date is not written again, so importing the
    same file twice changes nothing. A lead stored with another outcome (or close date) takes this file's, the
    newer word of the CRM, and each such conflict is reported with its row. Leads the log never scored are stored
    too (a later import of scores joins them) and counted."""
    from sqlalchemy import MetaData, delete, insert, select
    from sqlalchemy.exc import SQLAlchemyError

    n_rows = int(frame.attrs.get("rows_read", len(frame)))
    engine = open_engine(url)
    predictions, outcomes, _ = _tables(MetaData())
    import_id = uuid.uuid4().hex
    now = datetime.now(UTC).replace(tzinfo=None)
    ids = frame[c.LEAD_ID].tolist()
    closed = frame[c.CLOSED_AT].astype(object).where(frame[c.CLOSED_AT].notna(), None).tolist()
    incoming = {
        lead: (outcome, None if when is None else pd.Timestamp(when).to_pydatetime(), row)
        for lead, outcome, when, row in zip(ids, frame[c.OUTCOME].tolist(), closed, frame[ROW_LABEL], strict=True)
    }
    try:
        with engine.begin() as conn:
            stored: dict[str, tuple[str, Any]] = {}
            scored: set[str] = set()
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                query = select(outcomes.c.lead_id, outcomes.c.outcome, outcomes.c.closed_at)
                for lead, outcome, when in conn.execute(query.where(outcomes.c.lead_id.in_(chunk))):
                    stored[str(lead)] = (str(outcome), when)
                found = select(predictions.c.lead_id).where(predictions.c.lead_id.in_(chunk)).distinct()
                scored.update(str(v) for v in conn.execute(found).scalars())
            write, changes = [], []
            unchanged = 0
            for lead, (outcome, when, row) in incoming.items():
                before = stored.get(lead)
                if before == (outcome, when):
                    unchanged += 1
                    continue
                if before is not None:
                    was = before[0] if before[0] != outcome else f"{outcome} closed {_day(before[1])}"
                    now_is = outcome if before[0] != outcome else f"{outcome} closed {_day(when)}"
                    changes.append(f"{lead} at {row}: {was} -> {now_is}")
                write.append(lead)
            for start in range(0, len(write), _CHUNK):
                conn.execute(delete(outcomes).where(outcomes.c.lead_id.in_(write[start : start + _CHUNK])))
            if write:
                params = [
                    {
                        "lead_id": lead,
                        "outcome": incoming[lead][0],
                        "closed_at": incoming[lead][1],
                        "import_id": import_id,
                        "imported_at": now,
                    }
                    for lead in write
                ]
                conn.execute(insert(outcomes), params)
    except SQLAlchemyError as exc:
        raise OutcomesError(f"cannot write outcomes to the prediction log {_shown(url)}: {exc}") from None
    finally:
        engine.dispose()
    won = int((frame[c.OUTCOME] == c.WON).sum())
    never_scored = sorted(lead for lead in ids if lead not in scored)
    return OutcomesReport(
        path=origin,
        database=_shown(url),
        rows=n_rows,
        leads=len(ids),
        won=won,
        lost=len(ids) - won,
        matched=len(ids) - len(never_scored),
        new=len(write) - len(changes),
        changed=len(changes),
        unchanged=unchanged,
        changes=changes,
        unmatched_examples=never_scored[:_EXAMPLES],
    )


def _day(when: Any) -> str:
    return "(no date)" if when is None or pd.isna(when) else pd.Timestamp(when).strftime("%Y-%m-%d %H:%M")
