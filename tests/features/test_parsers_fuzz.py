"""Malformed input files never crash a parser: hypothesis-made CSV, Parquet, xlsx and TOML specs.

Every file that enters leadrank from outside goes through one of: the canonical loader (`features.io`), a
dataset spec and the export it names (`features.spec`, CSV / Excel / Parquet), or the outcomes file of
`leadrank outcomes import` (`serving.predictions.read_outcomes_file`). Whatever the bytes (other encodings,
BOMs, NUL bytes, ragged rows, huge fields, mixed types, empty files, broken zip or Parquet data), each either
loads or raises the project's own error (`DataLoadError`, `SpecError`, `OutcomesError`) whose message names the
file; never a pandas, pyarrow, openpyxl or Unicode error.

Bounded: a fixed number of examples per test, no deadline (file I/O on a shared machine), and `derandomize` so
CI runs the same examples every time (a failure is reproducible from the test alone; the generated cases still
cover the mutations, since each mutation is a choice the strategy makes).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.io import DataLoadError, Problem, load_history, load_leads
from features.spec import SpecError, load_dataset, load_spec
from serving.errors import OutcomesError
from serving.predictions import read_outcomes_file

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
OWN_ERRORS = (DataLoadError, SpecError, OutcomesError)

LEADS_HEADER = ["lead_id", "created_at", "decided_at", "source", "outcome", "closed_at", "sales_hours", "company_size"]
LEADS_ROWS = [
    ["L1", "2024-01-03", "2024-01-10", "inbound_content", "won", "2024-02-01", "4.5", "120"],
    ["L2", "2024-01-05T10:30:00", "2024-01-12", "cold_call", "lost", "2024-02-11", "1", "8"],
    ["L3", "2024-02-01T08:00:00+02:00", "2024-02-03", "event", "open", "", "", ""],
]
EVENTS_HEADER = ["lead_id", "ts", "event_type", "asset"]
EVENTS_ROWS = [["L1", "2024-01-04", "page_visit", "pricing"], ["L2", "2024-01-06", "demo_request", ""]]
OUTCOMES_HEADER = ["lead_id", "outcome", "closed_at"]
OUTCOMES_ROWS = [["L1", "won", "2024-02-01"], ["L2", "lost", ""]]

ODD_TEXT = st.sampled_from(
    ["", " ", "\x00", "é", "\ufeff", '"', '"unclosed', "a,b", "\r\n", "1e400", "-0", "NaN", "9" * 40, "2024-13-45",
     "true", "😀", "\u2028", "x" * 70_000]
)  # fmt: skip


@st.composite
def table_rows(draw: st.DrawFn, header: list[str], rows: list[list[str]]) -> list[list[str]]:
    """The table's rows with cells replaced by odd values, and rows made short or long."""
    out = [list(header)] + [list(r) for r in rows]
    for _ in range(draw(st.integers(0, 6))):
        r = draw(st.integers(0, len(out) - 1))
        kind = draw(st.sampled_from(["cell", "short", "long", "text"]))
        if kind == "cell" and out[r]:
            out[r][draw(st.integers(0, len(out[r]) - 1))] = draw(ODD_TEXT)
        elif kind == "short" and out[r]:
            out[r] = out[r][: draw(st.integers(0, len(out[r]) - 1))]
        elif kind == "long":
            out[r] = out[r] + draw(st.lists(ODD_TEXT, min_size=1, max_size=3))
        elif kind == "text" and out[r]:
            out[r][draw(st.integers(0, len(out[r]) - 1))] = draw(st.text(max_size=30))
    return out


@st.composite
def csv_bytes(draw: st.DrawFn, header: list[str], rows: list[list[str]]) -> bytes:
    table = draw(table_rows(header, rows))
    sep = draw(st.sampled_from([",", ",", ";", "\t"]))
    quote = draw(st.booleans())

    def cell(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if quote else value

    text = draw(st.sampled_from(["\n", "\r\n"])).join(sep.join(map(cell, row)) for row in table)
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"]))
    data = text.encode(encoding, errors="replace")
    match draw(st.sampled_from(["as is", "as is", "empty", "blank", "nul", "cut", "bytes"])):
        case "empty":
            data = b""
        case "blank":
            data = b"\n\n  \n"
        case "nul":
            at = int(len(data) * draw(st.floats(0, 1)))
            data = data[:at] + b"\x00" * draw(st.integers(1, 3)) + data[at:]
        case "cut":
            data = data[: int(len(data) * draw(st.floats(0, 1)))]
        case "bytes":
            data = draw(st.binary(max_size=200))
    return data


def _column(kind: str, n: int) -> pa.Array:
    """`n` values of one type, awkward ones included (huge unsigned, infinite, far-future, zoned, decimal)."""
    ks = range(n)
    match kind:
        case "int":
            return pa.array(list(ks), pa.int64())
        case "uint":
            return pa.array([2**64 - 1 - k for k in ks], pa.uint64())
        case "float":
            return pa.array([[0.5, float("inf"), float("nan"), -1e308][k % 4] for k in ks])
        case "text":
            return pa.array([["v", "", "\x00", "x" * 100_000, "2024-01-01"][k % 5] for k in ks])
        case "bool":
            return pa.array([k % 2 == 0 for k in ks])
        case "time":
            return pa.array([pd.Timestamp("2024-01-01") + pd.Timedelta(days=k) for k in ks])
        case "zoned":
            return pa.array([pd.Timestamp("2024-01-01", tz="Asia/Tokyo")] * n)
        case "far":
            return pa.array([9_000_000_000_000 + k for k in ks], pa.timestamp("s"))
        case "date":
            return pa.array([0, 19_000, 2_000_000][:n] + [1] * max(0, n - 3), pa.date32())
        case "decimal":
            import decimal

            return pa.array([decimal.Decimal("1.25")] * n, pa.decimal128(10, 2))
        case "dict":
            return pa.array(["a", "b"] * n, pa.string()).slice(0, n).dictionary_encode()
        case "none":
            return pa.nulls(n)
        case "bytes":
            return pa.array([bytes([k % 256, 0xFF]) for k in ks])
        case _:
            return pa.array([[k] for k in ks])


KINDS = ["int", "uint", "float", "text", "bool", "time", "zoned", "far", "date", "decimal", "dict", "none", "bytes"]
KINDS.append("list")


@st.composite
def parquet_bytes(draw: st.DrawFn, names: list[str]) -> bytes:
    """A Parquet file whose columns (the expected names, some dropped, some extra) have any type."""
    n = draw(st.integers(0, 4))
    columns = [c for c in names if draw(st.booleans()) or c == names[0]]
    columns += draw(st.lists(st.sampled_from(["extra", "", "lead_id ", "\x00"]), max_size=2, unique=True))
    arrays = {}
    for name in dict.fromkeys(columns):
        arrays[name] = _column(draw(st.sampled_from(KINDS)), n)
    buffer = io.BytesIO()
    pq.write_table(pa.table(arrays), buffer)
    data = buffer.getvalue()
    if draw(st.integers(0, 5)) == 0:
        data = data[: int(len(data) * draw(st.floats(0, 1)))]
    return data


def _assert_own_error(call: Any, path: Path) -> None:
    """`call()` loads, or raises one of the project's errors, naming the file."""
    try:
        call()
    except OWN_ERRORS as exc:
        assert type(exc).__module__.startswith(("features.", "serving.")), repr(exc)
        assert path.name in str(exc), f"the message does not name {path.name}: {exc}"
        # A problem found in rows names its column and the rows too.
        for problem in getattr(exc, "problems", []):
            if isinstance(problem, Problem) and problem.count:
                assert problem.column is not None and problem.rows, problem


@FUZZ
@given(leads=csv_bytes(LEADS_HEADER, LEADS_ROWS), events=csv_bytes(EVENTS_HEADER, EVENTS_ROWS))
def test_canonical_csv_files_load_or_raise_our_error(tmp_path: Path, leads: bytes, events: bytes) -> None:
    leads_path, events_path = tmp_path / "leads.csv", tmp_path / "events.csv"
    leads_path.write_bytes(leads)
    events_path.write_bytes(events)
    _assert_own_error(lambda: load_leads(leads_path), leads_path)
    try:
        load_leads(leads_path)
    except DataLoadError:
        return
    _assert_own_error(lambda: load_history(leads_path, events_path), events_path)


@FUZZ
@given(leads=parquet_bytes(LEADS_HEADER), events=parquet_bytes(EVENTS_HEADER))
def test_canonical_parquet_files_load_or_raise_our_error(tmp_path: Path, leads: bytes, events: bytes) -> None:
    leads_path, events_path = tmp_path / "leads.parquet", tmp_path / "events.parquet"
    leads_path.write_bytes(leads)
    events_path.write_bytes(events)
    _assert_own_error(lambda: load_leads(leads_path), leads_path)
    try:
        load_leads(leads_path)
    except DataLoadError:
        return
    _assert_own_error(lambda: load_history(leads_path, events_path), events_path)


@FUZZ
@given(csv=csv_bytes(OUTCOMES_HEADER, OUTCOMES_ROWS), parquet=parquet_bytes(OUTCOMES_HEADER))
def test_outcome_files_load_or_raise_our_error(tmp_path: Path, csv: bytes, parquet: bytes) -> None:
    for name, data in (("outcomes.csv", csv), ("outcomes.parquet", parquet)):
        path = tmp_path / name
        path.write_bytes(data)
        _assert_own_error(lambda path=path: read_outcomes_file(path), path)


SPEC_KEYS = {
    "path": "leads.csv",
    "id": "ref",
    "target": "y",
    "created_at": "signup",
    "source": "channel",
    "categorical": ["zip"],
    "exclude": ["notes"],
    "missing": ["unknown"],
}
EXPORT_HEADER = ["ref", "signup", "channel", "y", "zip", "notes", "age"]
EXPORT_ROWS = [
    ["A1", "2024-01-03", "web", "yes", "01234", "hello", "34"],
    ["A2", "2024-01-05 10:30:00", "call", "no", "02000", "", "unknown"],
    ["A3", "2024-02-01T08:00:00+02:00", "", "", "03100", "", "51"],
]
TOML_VALUE = st.one_of(
    st.text(max_size=20),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.booleans(),
    st.lists(st.text(max_size=8), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return (
            "nan" if value != value else ("inf" if value > 0 else "-inf") if abs(value) == float("inf") else repr(value)
        )
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(_toml, value)) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"


@st.composite
def spec_text(draw: st.DrawFn) -> str:
    """A [leads] spec with keys dropped, values of any type, unknown keys, or plain garbage text."""
    if draw(st.integers(0, 7)) == 0:
        return draw(st.text(max_size=200))
    keys = {k: v for k, v in SPEC_KEYS.items() if k in ("path", "id", "target") or draw(st.booleans())}
    for key in draw(st.lists(st.sampled_from([*SPEC_KEYS, "unknown_key", "events", "sheet"]), max_size=3)):
        keys[key] = draw(TOML_VALUE)
    lines = ["[leads]", *(f"{json.dumps(k)} = {_toml(v)}" for k, v in keys.items())]
    return "\n".join(lines) + "\n"


@FUZZ
@given(spec=spec_text(), export=csv_bytes(EXPORT_HEADER, EXPORT_ROWS))
def test_specs_and_csv_exports_load_or_raise_our_error(tmp_path: Path, spec: str, export: bytes) -> None:
    (tmp_path / "leads.csv").write_bytes(export)
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(spec, encoding="utf-8", errors="surrogatepass")
    _assert_own_error(lambda: load_spec(spec_path), spec_path)
    try:
        load_dataset(spec_path)
    except SpecError as exc:
        assert "spec.toml" in str(exc) or "leads.csv" in str(exc), str(exc)


@FUZZ
@given(export=parquet_bytes(EXPORT_HEADER))
def test_parquet_exports_load_or_raise_our_error(tmp_path: Path, export: bytes) -> None:
    (tmp_path / "leads.parquet").write_bytes(export)
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text('[leads]\npath = "leads.parquet"\nid = "ref"\ntarget = "y"\ncreated_at = "signup"\n')
    try:
        load_dataset(spec_path)
    except SpecError as exc:
        assert "leads.parquet" in str(exc) or "spec.toml" in str(exc), str(exc)


@st.composite
def xlsx_bytes(draw: st.DrawFn) -> bytes:
    """A workbook holding the export with odd cells (any type), an empty sheet, or a broken zip."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    if draw(st.integers(0, 5)) > 0:
        for row in draw(table_rows(EXPORT_HEADER, EXPORT_ROWS)):
            cells = [draw(st.sampled_from([cell, cell, 7, 2.5, True, None])) for cell in row]
            # Characters a worksheet cannot hold at all (openpyxl refuses to write them) are left out.
            sheet.append([ILLEGAL_CHARACTERS_RE.sub("", c) if isinstance(c, str) else c for c in cells])
    buffer = io.BytesIO()
    book.save(buffer)  # holds the time of saving: what is drawn below must not depend on its length
    data = buffer.getvalue()
    match draw(st.sampled_from(["as is", "as is", "cut", "bytes", "other zip"])):
        case "cut":
            data = data[: int(len(data) * draw(st.floats(0, 1)))]
        case "bytes":
            data = draw(st.binary(max_size=100))
        case "other zip":
            other = io.BytesIO()
            with zipfile.ZipFile(other, "w") as z:
                z.writestr("hello.txt", "not a workbook")
            data = other.getvalue()
    return data


@FUZZ
@given(export=xlsx_bytes(), sheet=st.sampled_from([None, "Sheet", "absent"]))
def test_excel_exports_load_or_raise_our_error(tmp_path: Path, export: bytes, sheet: str | None) -> None:
    (tmp_path / "leads.xlsx").write_bytes(export)
    spec_path = tmp_path / "spec.toml"
    sheet_line = f'sheet = "{sheet}"\n' if sheet else ""
    spec_path.write_text(f'[leads]\npath = "leads.xlsx"\nid = "ref"\ntarget = "y"\n{sheet_line}')
    try:
        load_dataset(spec_path)
    except SpecError as exc:
        assert "leads.xlsx" in str(exc) or "spec.toml" in str(exc), str(exc)


def test_the_strategies_make_what_they_promise() -> None:
    """The fuzzers are not vacuous: the mutations they promise do happen."""
    from hypothesis import find

    strategy = csv_bytes(LEADS_HEADER, LEADS_ROWS)
    assert find(strategy, lambda d: b"\x00" in d and len(d) > 50)
    assert find(strategy, lambda d: d.startswith(b"\xff\xfe"))  # UTF-16
    assert find(strategy, lambda d: d.startswith(b"\xef\xbb\xbf"))  # UTF-8 BOM
    assert find(strategy, lambda d: len(d) > 60_000)
    assert find(strategy, lambda d: d == b"") == b""


def test_undecodable_parquet_bytes_name_file_column_and_rows(tmp_path: Path) -> None:
    """Byte columns (Parquet without a text annotation) are read as UTF-8 text; bytes that are not UTF-8 are
    reported by file, column and row, by each reader (this crashed all three with a UnicodeDecodeError)."""
    ids = pa.array([b"L1", b"\xff\xfe", b"L3"], pa.binary())
    leads = tmp_path / "leads.parquet"
    pq.write_table(pa.table({"lead_id": ids, "outcome": ["won", "lost", "won"]}), leads)
    with pytest.raises(DataLoadError, match=r"leads\.parquet: column 'lead_id' .*not UTF-8.* row\(s\) 2$"):
        load_leads(leads)
    with pytest.raises(OutcomesError, match=r"leads\.parquet: column lead_id .*not UTF-8.* at row 1$"):
        read_outcomes_file(leads)  # Parquet rows count from 0 there, as in the rest of that report
    spec = tmp_path / "spec.toml"
    spec.write_text('[leads]\npath = "leads.parquet"\nid = "lead_id"\ntarget = "outcome"\n')
    with pytest.raises(SpecError, match=r"leads\.parquet: column 'lead_id' .*not UTF-8.*, row 2"):
        load_dataset(spec)

    good = tmp_path / "good.parquet"
    pq.write_table(
        pa.table({"lead_id": pa.array([b"L1", b"L\xc3\xa9"], pa.binary()), "outcome": ["won", "lost"]}), good
    )
    assert read_outcomes_file(good)["lead_id"].tolist() == ["L1", "Lé"]
