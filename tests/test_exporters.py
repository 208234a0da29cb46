"""Every format, read back by an independent reader and compared with DuckDB's own answer to
the same rewritten query."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import gzip
import io
import json
import subprocess
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook

from exporters.encode import needs_quotes, quote_where
from exporters.manifest import verify
from service.exports import ExportRequest, export
from sql.errors import EgressError

FILTER = "employee_count > 20 OR description IS NULL"


def _export(app, tmp_path: Path, fmt: str, user: str = "carol", **kw):  # type: ignore[no-untyped-def]
    req = kw.pop("req", None) or ExportRequest(view="companies", filter=FILTER, sort=["company_id"])
    out = tmp_path / f"out.{fmt}"
    outcome = export(app, app.principal(user), req, fmt=fmt, output=kw.pop("output", out), **kw)
    return outcome


def _truth(app, outcome) -> pa.Table:  # type: ignore[no-untyped-def]
    cur = app.warehouse.cursor()
    try:
        return cur.sql(outcome.sql_run).to_arrow_table()
    finally:
        cur.close()


def _norm(value):  # type: ignore[no-untyped-def]
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if value.tzinfo else value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def _norm_rows(table: pa.Table) -> list[dict]:
    return [{k: _norm(v) for k, v in row.items()} for row in table.to_pylist()]


def test_parquet_matches_duckdb(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    outcome = _export(app, tmp_path, "parquet", options={"codec": "zstd", "row_group_size": 1024})
    truth = _truth(app, outcome)
    got = pq.read_table(tmp_path / "out.parquet")
    assert truth.num_rows > 500
    assert got.schema.names == truth.schema.names
    assert got.equals(truth.cast(got.schema))
    meta = pq.ParquetFile(tmp_path / "out.parquet").metadata
    assert meta.num_row_groups > 1
    assert meta.row_group(0).column(0).compression == "ZSTD"
    # dictionaries only where values repeat: industry yes; ids and free text no
    encodings = {meta.schema.column(i).name: meta.row_group(0).column(i).encodings for i in range(meta.num_columns)}
    assert any("DICTIONARY" in e for e in encodings["industry"]), encodings["industry"]
    for unique in ("company_id", "description"):
        assert not any("DICTIONARY" in e for e in encodings[unique]), (unique, encodings[unique])
    assert "contact_email" in got.schema.names  # carol is a manager


def test_parquet_row_groups_encoded_apart_make_one_file_other_readers_trust(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Row groups are encoded on worker threads as files of their own and stitched together
    # under one merged footer: every group's byte offsets must point at its own pages.
    order = ["company_id", "metric_date", "metric"]
    req = ExportRequest(view="company_metrics", sort=order, limit=10_000)
    outcome = _export(app, tmp_path, "parquet", req=req, options={"row_group_size": 1024})
    truth = _truth(app, outcome)
    path = tmp_path / "out.parquet"
    reader = pq.ParquetFile(path)
    meta = reader.metadata
    assert meta.num_rows == truth.num_rows == 10_000
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == \
        [1024] * (truth.num_rows // 1024) + ([truth.num_rows % 1024] if truth.num_rows % 1024 else [])
    start = 0
    for i in range(meta.num_row_groups):  # each group on its own, through its own offsets
        group = reader.read_row_group(i)
        assert group.equals(truth.slice(start, group.num_rows).cast(group.schema)), i
        start += group.num_rows
    def first_page(group):  # type: ignore[no-untyped-def]
        columns = [group.column(j) for j in range(group.num_columns)]
        return min(c.dictionary_page_offset if c.has_dictionary_page else c.data_page_offset for c in columns)

    offsets = [first_page(meta.row_group(i)) for i in range(meta.num_row_groups)]
    assert offsets == sorted(offsets) and offsets[0] == 4 and offsets[-1] < path.stat().st_size
    # DuckDB's reader is independent of pyarrow's writer and reader
    import duckdb

    con = duckdb.connect()
    groups = con.execute("SELECT row_group_id, row_group_num_rows, min(coalesce(dictionary_page_offset, data_page_offset)) "
                         "FROM parquet_metadata(?) "
                         "GROUP BY ALL ORDER BY 1", [str(path)]).fetchall()
    assert [g[0] for g in groups] == list(range(meta.num_row_groups))
    assert [g[2] for g in groups] == offsets
    read = con.sql(f"SELECT * FROM read_parquet('{path}') ORDER BY {', '.join(order)}").to_arrow_table()
    assert read.equals(truth.cast(read.schema))

    chunked = _export(app, tmp_path, "parquet", req=req, options={"row_group_size": 1024}, chunk_rows=1500,
                      output=tmp_path / "chunks.parquet")
    back = pa.concat_tables([pq.read_table(tmp_path / f.name) for f in chunked.result.files])
    assert [f.rows for f in chunked.result.files][:-1] == [1500] * (len(chunked.result.files) - 1)
    assert back.equals(truth.cast(back.schema))


def test_parquet_footer_decodes_and_encodes_back_to_the_same_bytes() -> None:
    from exporters.formats import parquet_footer

    table = pa.table({"n": pa.array([1, None, 3] * 400, pa.int64()), "s": ["a", "b\u00e9", None] * 400,
                      "b": [True, False, None] * 400, "d": pa.array([1.5, None, -2.0] * 400)})
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=500, compression="zstd")
    data = memoryview(sink.getvalue())
    length = int.from_bytes(data[-8:-4], "little")
    chunks, footer = parquet_footer.split(data)
    assert parquet_footer.encode(footer) == bytes(data[-8 - length:-8])
    assert len(parquet_footer.row_groups(footer)) == 3 and len(chunks) == len(data) - 12 - length
    for garbage in (b"PAR1 not a footer", b"PAR1" + (10_000).to_bytes(4, "little") + b"PAR1"):
        with pytest.raises(ValueError, match="not a Parquet file"):
            parquet_footer.split(memoryview(garbage))


def test_parquet_partitioned_hive_layout(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    outcome = _export(app, tmp_path, "parquet", options={"partition_by": ["industry"]})
    root = tmp_path / "out"
    assert root.is_dir() and any(p.name.startswith("industry=") for p in root.iterdir())
    import pyarrow.dataset as ds

    got = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    assert got.num_rows == _truth(app, outcome).num_rows
    _, problems = verify(outcome.manifest)
    assert not problems and len(outcome.manifest_doc["files"]) > 5


def _read_csv(path: Path, truth: pa.Table, **parse) -> pa.Table:  # type: ignore[no-untyped-def]
    types = {f.name: (pa.timestamp("s", tz="UTC") if pa.types.is_timestamp(f.type) else f.type) for f in truth.schema}
    return pcsv.read_csv(path, parse_options=pcsv.ParseOptions(newlines_in_values=True, **parse),
                         convert_options=pcsv.ConvertOptions(column_types=types, strings_can_be_null=True))


def test_csv_matches_duckdb(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    outcome = _export(app, tmp_path, "csv")
    truth = _truth(app, outcome)
    got = _read_csv(tmp_path / "out.csv", truth)
    assert _norm_rows(got) == _norm_rows(truth)
    text = (tmp_path / "out.csv").read_text(encoding="utf-8")
    assert '"' in text and "\n" in text and "€" in text  # quoting, embedded newlines, unicode
    # python's csv module, a second reader, agrees on the row count
    assert len(list(csv.reader(io.StringIO(text)))) == truth.num_rows + 1


@pytest.mark.parametrize("options,check", [
    ({"delimiter": ";", "bom": True, "line_terminator": "\r\n"},
     lambda b: b.startswith(b"\xef\xbb\xbfcompany_id;name;") and b"\r\n" in b),
    ({"delimiter": "tab", "header": False}, lambda b: b.split(b"\t", 1)[0].isdigit()),
    ({"delimiter": "|", "quoting": "all"}, lambda b: b.startswith(b'"company_id"|"name"')),
    ({"null": "NULL"}, lambda b: b",NULL," in b),
    ({"date_format": "us"}, lambda b: b"/" in b.split(b"\n")[1]),
    ({"date_format": "eu"}, lambda b: b"." in b.split(b"\n")[1].split(b",")[11]),
    ({"date_format": "full"}, lambda b: b" 00:00:00" in b.split(b"\n")[1]),
    ({"date_format": "%Y/%m"}, lambda b: len(b.split(b"\n")[1].split(b",")[11]) == 7),
    ({"decimals": 0}, lambda b: b.split(b"\n")[1].split(b",")[10].isdigit()),
])
def test_csv_options(app, tmp_path, options, check) -> None:  # type: ignore[no-untyped-def]
    req = ExportRequest(view="companies", sort=["company_id"], limit=300,
                        fields=["company_id", "name", "domain", "industry", "business_model", "company_size",
                                "growth_stage", "country", "city", "employee_count", "annual_revenue", "founded_on"])
    _export(app, tmp_path, "csv", req=req, options=options)
    data = (tmp_path / "out.csv").read_bytes()
    assert check(data), data[:300]


def test_csv_quotes_exactly_the_values_that_need_it_and_floors_old_instants(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # columns with nothing to quote skip the per-value check; the rest must still be quoted, and
    # an instant before 1970 with a fraction prints its own second, not the next one
    query = ("SELECT company_id, 'a,b' AS comma, 'plain' AS plain, 'say \"hi\"' AS quote, "
             "E'two\\nlines' AS newline, TIMESTAMPTZ '1969-12-31 23:59:59.5+00' AS before_epoch "
             "FROM companies ORDER BY company_id LIMIT 2")
    _export(app, tmp_path, "csv", req=ExportRequest(query=query))
    text = (tmp_path / "out.csv").read_text(encoding="utf-8")
    assert ',"a,b",plain,"say ""hi""","two\nlines",1969-12-31T23:59:59Z\n' in text, text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1][1:] == ["a,b", "plain", 'say "hi"', "two\nlines", "1969-12-31T23:59:59Z"]


def test_csv_writes_small_decimals_in_fixed_point(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Arrow's cast would write "1.0E-7" and "0E-8": a decimal keeps its scale's digits
    query = ("SELECT company_id, CAST(0.0000001 AS NUMERIC(18,8)) AS tiny, CAST(0 AS NUMERIC(18,8)) AS zero, "
             "CAST(-12.5 AS NUMERIC(18,2)) AS plain FROM companies ORDER BY company_id LIMIT 1")
    _export(app, tmp_path, "csv", req=ExportRequest(query=query))
    rows = list(csv.reader(io.StringIO((tmp_path / "out.csv").read_text(encoding="utf-8"))))
    assert rows[1][1:] == ["0.00000010", "0.00000000", "-12.50"], rows


def test_csv_quoting_none_refuses_values_that_need_quotes(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EgressError) as info:
        _export(app, tmp_path, "csv", options={"quoting": "none"})
    assert info.value.sqlstate == "22023"
    assert not list(tmp_path.iterdir())  # nothing left behind


def test_ndjson_and_json_match_duckdb(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    outcome = _export(app, tmp_path, "ndjson")
    truth = _norm_rows(_truth(app, outcome))
    lines = (tmp_path / "out.ndjson").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == truth
    _export(app, tmp_path, "json", options={"pretty": True})
    doc = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert doc == truth
    assert (tmp_path / "out.json").read_text().startswith('[\n{\n  "company_id": ')


def test_json_epoch_dates(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    req = ExportRequest(view="companies", fields=["company_id", "founded_on", "created_at"], sort=["company_id"], limit=5)
    outcome = _export(app, tmp_path, "json", req=req, options={"dates": "epoch"})
    truth = _truth(app, outcome).to_pylist()
    doc = json.loads((tmp_path / "out.json").read_text())
    for want, got in zip(truth, doc):
        if want["founded_on"] is not None:
            assert got["founded_on"] == (want["founded_on"] - dt.date(1970, 1, 1)).days * 86_400_000
        assert got["created_at"] == int(want["created_at"].timestamp() * 1000)


def test_empty_result_is_still_a_valid_file(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    req = ExportRequest(view="companies", filter="company_id < 0")
    for fmt in ("csv", "ndjson", "json", "parquet", "xlsx", "pdf"):
        outcome = _export(app, tmp_path, fmt, req=req)
        assert outcome.result.rows == 0
    assert json.loads((tmp_path / "out.json").read_text()) == []
    assert pq.read_table(tmp_path / "out.parquet").num_rows == 0
    assert openpyxl.load_workbook(tmp_path / "out.xlsx").active.max_row == 1


def test_compression_gzip_and_zstd(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    plain = _export(app, tmp_path, "csv")
    raw = (tmp_path / "out.csv").read_bytes()
    gz = _export(app, tmp_path, "csv", compression="gzip")
    assert gz.result.files[0].name == "out.csv.gz"
    assert gzip.decompress((tmp_path / "out.csv.gz").read_bytes()) == raw
    zs = _export(app, tmp_path, "ndjson", compression="zstd")
    data = zstandard.ZstdDecompressor().stream_reader(open(tmp_path / "out.ndjson.zst", "rb")).read()
    assert len(data.splitlines()) == plain.result.rows
    assert zs.result.bytes < len(data) / 3
    with pytest.raises(EgressError):
        _export(app, tmp_path, "parquet", compression="gzip")


def test_chunks_by_rows_and_bytes_with_manifest(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    outcome = _export(app, tmp_path, "csv", chunk_rows=500)
    truth = _truth(app, outcome)
    names = [f.name for f in outcome.result.files]
    assert names[0] == "out-00001.csv" and len(names) == -(-truth.num_rows // 500)
    assert all(f.rows == 500 for f in outcome.result.files[:-1])
    total = sum(_read_csv(tmp_path / n, truth).num_rows for n in names)
    assert total == truth.num_rows
    doc = json.loads(outcome.manifest.read_text())
    assert doc["rows"] == truth.num_rows and doc["principal"]["user"] == "carol"
    assert doc["sql_run"] == outcome.sql_run and "filter" in doc["filters"]
    assert [f["name"] for f in doc["files"]] == names and all(len(f["sha256"]) == 64 for f in doc["files"])
    assert {"name": "annual_revenue", "type": "decimal128(18, 2)", "nullable": True} in doc["schema"]
    _, problems = verify(outcome.manifest)
    assert problems == []
    (tmp_path / names[1]).write_bytes(b"tampered")
    _, problems = verify(outcome.manifest)
    assert [p.file for p in problems] == [names[1]]

    by_bytes = _export(app, tmp_path, "ndjson", chunk_bytes=200_000)
    assert len(by_bytes.result.files) > 1
    assert sum(f.rows for f in by_bytes.result.files) == truth.num_rows
    assert all(f.bytes < 200_000 + 256 * 1000 for f in by_bytes.result.files)
    gz = _export(app, tmp_path, "ndjson", chunk_bytes=20_000, compression="gzip")
    assert len(gz.result.files) > 1 and gz.result.files[0].name.endswith(".ndjson.gz")


def test_xlsx_read_back_by_two_readers(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    outcome = _export(app, tmp_path, "xlsx", options={"summary": True, "chart_by": "industry"})
    truth = _truth(app, outcome)
    wb = openpyxl.load_workbook(tmp_path / "out.xlsx")
    ws = wb["data"]
    assert wb.sheetnames == ["data", "summary"]
    header = [c.value for c in ws[1]]
    assert header == truth.schema.names
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:P{truth.num_rows + 1}"
    assert ws["A1"].font.b and ws["A1"].fill.fgColor.rgb == "FF1F4E78"
    assert 8 <= ws.column_dimensions["A"].width <= 50 and ws.column_dimensions["M"].width == 50
    assert ws["L2"].number_format == "yyyy\\-mm\\-dd" and ws["K2"].number_format == "#,##0.00"
    assert ws["J2"].number_format == "#,##0"
    got = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
    want = truth.to_pylist()
    assert len(got) == len(want)
    for g, w in zip(got, want):
        for value, (name, expected) in zip(g, w.items()):
            if isinstance(expected, dt.datetime):
                assert abs((value - expected.astimezone(dt.timezone.utc).replace(tzinfo=None)).total_seconds()) < 0.01
            elif isinstance(expected, dt.date):
                assert value == dt.datetime(expected.year, expected.month, expected.day)
            elif isinstance(expected, decimal.Decimal):
                assert value == pytest.approx(float(expected))
            else:
                assert value == expected, (name, value, expected)
    summary = wb["summary"]
    assert summary["A2"].value == "rows" and summary["B2"].value == truth.num_rows
    assert len(summary._charts) == 1
    # a second, independent reader (Rust calamine) sees the same cells
    book = CalamineWorkbook.from_path(str(tmp_path / "out.xlsx"))
    data = book.get_sheet_by_name("data").to_python()
    assert data[0] == truth.schema.names and len(data) == truth.num_rows + 1
    assert [str(v) for v in data[1][:4]] == [str(float(want[0]["company_id"])) if isinstance(data[1][0], float) else str(want[0]["company_id"])] + [want[0][k] for k in ("name", "domain", "industry")]


def test_xlsx_new_sheet_past_the_row_limit(app, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from exporters.formats import xlsx

    monkeypatch.setattr(xlsx, "MAX_DATA_ROWS", 400)
    outcome = _export(app, tmp_path, "xlsx")
    wb = openpyxl.load_workbook(tmp_path / "out.xlsx", read_only=True)
    assert wb.sheetnames[:3] == ["data", "data (2)", "data (3)"]
    rows = sum(sum(1 for _ in ws.iter_rows(min_row=2)) for ws in wb.worksheets)
    assert rows == outcome.result.rows


def test_xlsx_several_named_sheets(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from exporters.formats.xlsx import XlsxWriter
    from exporters.options import XlsxOptions

    path = tmp_path / "book.xlsx"
    with open(path, "wb") as f:
        writer = None
        for name, sql in (("companies", "SELECT name, industry FROM companies LIMIT 10"),
                          ("metrics", "SELECT metric, value FROM company_metrics LIMIT 7")):
            _, stream = app.stream(app.principal("alice"), sql)
            if writer is None:
                writer = XlsxWriter(f, stream.schema, XlsxOptions(sheet_name=name))
            else:
                writer.add_sheet(name, stream.schema)
            for batch in stream:
                writer.write(batch)
        writer.close()
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["companies", "metrics"]
    assert wb["companies"].max_row == 11 and wb["metrics"].max_row == 8


def _pdftotext(path: Path, *args: str) -> str:
    return subprocess.run(["pdftotext", *args, str(path), "-"], check=True, capture_output=True, text=True).stdout


def test_pdf_report(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    req = ExportRequest(view="companies", fields=["company_id", "name", "industry", "employee_count", "description"],
                        sort=["company_id"], filter="employee_count > 20")
    outcome = _export(app, tmp_path, "pdf", req=req,
                      options={"title": "Acme companies", "subtitle": "employee_count > 20", "chart_by": "industry"})
    truth = _truth(app, outcome).to_pylist()
    path = tmp_path / "out.pdf"
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert pages > 2
    text = _pdftotext(path, "-layout")
    assert "Acme companies" in text and "employee_count > 20" in text and "generated" in text
    assert f"page 1 of {pages}" in text and f"page {pages} of {pages}" in text
    assert f"rows: {len(truth):,}" in text
    assert "employee_count" in text and "rows by industry" in text
    # every row's name is there, in order, on its own line with its id
    lines = [line for line in text.splitlines() if line.strip()]
    for row in (truth[0], truth[len(truth) // 2], truth[-1]):
        assert any(line.split()[0] == str(row["company_id"]) and row["name"] in line for line in lines), row
    assert "…" in text  # long descriptions are cut with an ellipsis
    first_page = _pdftotext(path, "-layout", "-l", "1")
    second_page = _pdftotext(path, "-layout", "-f", "2", "-l", "2")
    assert "company_id" in first_page and "company_id" in second_page  # header repeats


def test_pdf_landscape_when_wide(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    req = ExportRequest(view="companies", limit=50)
    _export(app, tmp_path, "pdf", req=req)
    info = subprocess.run(["pdfinfo", str(tmp_path / "out.pdf")], check=True, capture_output=True, text=True).stdout
    w, h = [float(x) for x in next(l for l in info.splitlines() if l.startswith("Page size")).split(":")[1].split("pts")[0].split("x")]
    assert w > h


def test_unknown_format_and_bad_options_are_typed_errors(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from exporters import base

    with pytest.raises(base.UnknownFormat) as info:
        base.get("docx")
    assert info.value.sqlstate == "22023" and "csv" in (info.value.hint or "")
    with pytest.raises(EgressError) as info2:
        _export(app, tmp_path, "csv", options={"delimiter": "x"})
    assert info2.value.sqlstate == "22023"


@pytest.mark.parametrize("user,hidden", [("alice", {"annual_revenue", "contact_email"}), ("bob", {"annual_revenue", "contact_email"})])
def test_tenant_and_column_rules_hold_on_every_format(app, tmp_path, reference, user, hidden) -> None:  # type: ignore[no-untyped-def]
    tenant = app.principal(user).tenant
    own = set(reference(f"SELECT company_id FROM curated.companies WHERE tenant_id = '{tenant}'").column("company_id").to_pylist())
    req = ExportRequest(view="companies", sort=["company_id"])
    for fmt in ("csv", "ndjson", "parquet", "xlsx"):
        _export(app, tmp_path, fmt, user=user, req=req)
    ids_csv = {int(r["company_id"]) for r in csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text()))}
    ids_json = {json.loads(l)["company_id"] for l in (tmp_path / "out.ndjson").read_text().splitlines()}
    pq_table = pq.read_table(tmp_path / "out.parquet")
    ids_pq = set(pq_table.column("company_id").to_pylist())
    ws = openpyxl.load_workbook(tmp_path / "out.xlsx", read_only=True).active
    header = [c.value for c in next(ws.iter_rows(max_row=1))]
    ids_x = {int(r[0]) for r in ws.iter_rows(min_row=2, values_only=True)}
    assert ids_csv == ids_json == ids_pq == ids_x == own
    assert not hidden & set(pq_table.schema.names) and not hidden & set(header)
    assert "tenant_id" not in pq_table.schema.names


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.text(alphabet=',;"\r\nab é\t', max_size=6)), max_size=30),
       start=st.integers(0, 5), large=st.booleans(), delimiter=st.sampled_from([",", ";", "\t", "|"]),
       empty=st.booleans())
def test_needs_quotes_marks_exactly_the_values_csv_must_quote(values, start, large, delimiter, empty) -> None:  # type: ignore[no-untyped-def]
    # the byte scan reads the column's data buffer: slices, empty and NULL values, large offsets
    arr = pa.array(values, pa.large_string() if large else pa.string())[start:]
    got = needs_quotes(arr, delimiter, empty=empty)
    want = [v is not None and (any(c in v for c in delimiter + '"\r\n') or (empty and v == ""))
            for v in values[start:]]
    assert (got is None and not any(want)) or \
        [bool(x) for x in pa.compute.fill_null(got, False).to_pylist()] == want
    quoted = quote_where(arr, got).to_pylist()
    assert quoted == [None if v is None else ('"' + v.replace('"', '""') + '"' if w else v)
                      for v, w in zip(values[start:], want)]
