"""Built-in report templates, and the one report that is not a single query: "market overview".

- company-list: an XLSX of the principal's companies with a summary sheet and a chart of companies
  per industry (the XLSX exporter's own summary);
- market-overview: a PDF with KPIs, the industry distribution (bar chart), growth trends from
  company_metrics (line charts) and the top companies by headcount.

Every number comes from a query through the policy engine as the report's owner, so a report shows
exactly what the owner could select; a section whose columns the owner's role hides is left out
with a note, never filled from elsewhere. The file is written under a temporary name and renamed.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

from exporters.formats.pdf import BOLD, FONT, _register_fonts, label_axes
from exporters.pipeline import ExportResult, FileResult
from exporters.sink import AtomicFile
from sql.errors import EgressError, QueryCanceled

BUILTIN = {
    "company-list": ("COPY (SELECT company_id, name, industry, business_model, company_size, growth_stage, country, "
                     "city, employee_count, founded_on FROM companies ORDER BY name) "
                     "TO 'reports/company-list-{date}.xlsx' (FORMAT xlsx, SUMMARY true, CHART_BY industry, "
                     "SHEET_NAME 'companies')"),
    "market-overview": "REPORT market_overview TO 'reports/market-overview-{date}.pdf'",
}
DESCRIPTIONS = {
    "company-list": "XLSX: your companies, a summary sheet and a chart of companies per industry.",
    "market-overview": "PDF: KPIs, industry distribution, growth trends from company_metrics, top companies.",
}
REPORTS = {"market_overview"}


def _query(app: Any, principal: Any, sql: str) -> pa.Table | None:
    """A section's data as the owner sees it; None when the owner's rules refuse it."""
    try:
        _compiled, stream = app.stream(principal, sql)
    except EgressError as err:
        if err.sqlstate in ("42501", "42703", "42P01"):
            return None
        raise
    try:
        batches = list(stream)
        return pa.Table.from_batches(batches, schema=stream.schema) if batches else stream.schema.empty_table()
    finally:
        stream.close()


def market_overview(app: Any, principal: Any, target: Path, cancel: Any = None) -> ExportResult:
    _register_fonts()
    styles = {
        "title": ParagraphStyle("title", fontName=BOLD, fontSize=18, leading=22, spaceAfter=4),
        "h": ParagraphStyle("h", fontName=BOLD, fontSize=12, leading=15, spaceBefore=10, spaceAfter=4),
        "body": ParagraphStyle("body", fontName=FONT, fontSize=8.5, leading=11),
        "note": ParagraphStyle("note", fontName=FONT, fontSize=8, leading=10, textColor=colors.grey),
    }
    story: list[Any] = []
    now = dt.datetime.now(dt.timezone.utc)
    story.append(Paragraph("Market overview", styles["title"]))
    story.append(Paragraph(f"Tenant {principal.tenant} · prepared for {principal.user} · "
                           f"{now.strftime('%Y-%m-%d %H:%M UTC')}", styles["note"]))

    def section(title: str, sql: str, render: Callable[[list[dict[str, Any]]], list[Any]],
                lacking: str = "columns") -> pa.Table | None:
        """A heading, then the rendered answer, or a note when the role cannot see the data."""
        story.append(Paragraph(title, styles["h"]))
        table = _query(app, principal, sql)
        if table is not None and table.num_rows:
            story.extend(render(table.to_pylist()))
        else:
            story.append(Paragraph(f"Not available with your role's {lacking}.", styles["note"]))
        if cancel is not None and cancel.is_set():
            raise QueryCanceled("canceling report due to user request")
        return table

    def key_figures(rows: list[dict[str, Any]]) -> list[Any]:
        k = rows[0]
        cells = [["Companies", "Employees", "Average headcount", "Industries", "Countries"],
                 [f"{k['companies']:,}", f"{int(k['employees'] or 0):,}", f"{float(k['avg_employees'] or 0):,.1f}",
                  f"{k['industries']:,}", f"{k['countries']:,}"]]
        return [_table(cells, [3.2 * cm, 3.4 * cm, 3.9 * cm, 3.5 * cm, 3.5 * cm], big=True)]

    def trend_lines(rows: list[dict[str, Any]]) -> list[Any]:
        by_metric: dict[str, list[tuple[Any, float]]] = {}
        for r in rows:
            by_metric.setdefault(r["metric"], []).append((r["metric_date"], float(r["average"] or 0)))
        return [_line(f"average {metric.replace('_', ' ')} per company", points)
                for metric, points in sorted(by_metric.items())]

    def top_companies(rows: list[dict[str, Any]]) -> list[Any]:
        cells = [["Company", "Industry", "Country", "Employees"]] + [
            [_cut(r["name"], 40), r["industry"] or "", r["country"] or "", f"{r['employee_count']:,}"]
            for r in rows]
        return [_table(cells, [7 * cm, 3.5 * cm, 3.5 * cm, 2.5 * cm])]

    kpis = section("Key figures", "SELECT count(*) AS companies, sum(employee_count) AS employees, "
                   "round(avg(employee_count), 1) AS avg_employees, count(DISTINCT industry) AS industries, "
                   "count(DISTINCT country) AS countries FROM companies", key_figures)
    rows = int(kpis.column("companies")[0].as_py() or 0) if kpis is not None and kpis.num_rows else 0
    section("Companies by industry", "SELECT industry, count(*) AS n FROM companies WHERE industry IS NOT NULL "
            "GROUP BY industry ORDER BY n DESC, industry LIMIT 12",
            lambda found: [_bars([r["industry"] for r in found], [r["n"] for r in found])])
    section("Growth trends (company_metrics)", "SELECT metric, metric_date, avg(value) AS average "
            "FROM company_metrics WHERE metric IN ('headcount', 'job_postings', 'web_traffic') "
            "GROUP BY metric, metric_date ORDER BY metric, metric_date", trend_lines, lacking="views")
    section("Top companies by headcount", "SELECT name, industry, country, employee_count FROM companies "
            "WHERE employee_count IS NOT NULL ORDER BY employee_count DESC, name LIMIT 15", top_companies)

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=1.6 * cm, rightMargin=1.6 * cm, topMargin=1.5 * cm,
                            bottomMargin=1.5 * cm, title="Market overview", author="egress")
    doc.build(story)
    out = AtomicFile(target)
    try:
        out.write_block(buffer.getvalue())
        out.finish()
        out.publish()
    except BaseException:
        out.abort()
        raise
    result = ExportResult(format="pdf", compression=None)
    result.rows = rows
    result.files.append(FileResult(target.name, rows, out.hashing.bytes, out.hashing.sha256()))
    return result


def _cut(text: Any, limit: int) -> str:
    value = "" if text is None else str(text)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _table(cells: list[list[str]], widths: list[float], big: bool = False) -> Table:
    table = Table(cells, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, 0), BOLD, 8.5),
        ("FONT", (0, 1), (-1, -1), BOLD if big else FONT, 13 if big else 8.5),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde4ee")),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f4f6f9")]),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#b8c2d0")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]))
    return table


def _bars(labels: list[str], values: list[int]) -> Drawing:
    height = 24 + 16 * len(labels)
    drawing = Drawing(16 * cm, height)
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 110, 10, 16 * cm - 140, height - 20
    chart.data = [list(reversed(values))]
    chart.categoryAxis.categoryNames = list(reversed([_cut(x, 22) for x in labels]))
    label_axes(chart, 7.5, 7)
    chart.valueAxis.valueMin = 0
    chart.bars[0].fillColor = colors.HexColor("#3f6fb5")
    drawing.add(chart)
    return drawing


def _line(title: str, points: list[tuple[Any, float]]) -> Drawing:
    drawing = Drawing(16 * cm, 4.6 * cm)
    chart = HorizontalLineChart()
    chart.x, chart.y, chart.width, chart.height = 45, 20, 16 * cm - 60, 4.6 * cm - 45
    chart.data = [[v for _, v in points]]
    step = max(1, len(points) // 8)
    chart.categoryAxis.categoryNames = [d.strftime("%Y-%m") if i % step == 0 else ""
                                        for i, (d, _) in enumerate(points)]
    label_axes(chart, 6.5)
    chart.lines[0].strokeColor = colors.HexColor("#3f6fb5")
    chart.lines[0].strokeWidth = 1.4
    drawing.add(chart)
    drawing.add(String(45, 4.6 * cm - 12, title, fontName=BOLD, fontSize=8.5))
    return drawing


def run_report(app: Any, principal: Any, spec: Any, target: Path, cancel: Any, job_id: str) -> Any:
    """A report job: the file, then its manifest (as for any export)."""
    from exporters.manifest import manifest_path, write_manifest
    from service.app import __version__
    from service.exports import ExportOutcome

    started = dt.datetime.now(dt.timezone.utc)
    result = market_overview(app, principal, target, cancel)
    manifest = manifest_path(target)
    doc = write_manifest(manifest, result, {
        "egress_version": __version__, "report": spec.report, "job_id": job_id,
        "principal": {"user": principal.user, "tenant": principal.tenant, "role": principal.role.name},
        "started_at": started.isoformat(), "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        **spec.extra_manifest,
    })
    return ExportOutcome(result, manifest, doc, f"REPORT {spec.report}", "")
