"""PDF reports with reportlab's canvas: title, filters, generated-at, a table whose header
repeats on every page, zebra rows, "page x of y", landscape when wide, long cells cut with an
ellipsis, a summary block (row count; min/avg/max of numeric columns) and an optional chart.

Speed: platypus tables lay out cell by cell (~800 rows/s); here each page draws one text object
per column (all of that column's rows in one call) and cells are turned into text with pyarrow
compute, so the cost per row is a few list appends. Memory: rows are held for one page only;
the canvas keeps finished pages' compressed streams until save(), a few hundred bytes per row.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
from reportlab.graphics import renderPDF
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from exporters.base import FormatSpec, register
from exporters.encode import to_text
from exporters.options import PdfOptions
from exporters.stats import Stats, is_numeric

FONT, BOLD = "EgressSans", "EgressSans-Bold"
BODY_SIZE, HEAD_SIZE = 7.0, 7.5
ROW_H = 10.0
MARGIN = 32.0
ELLIPSIS = "…"
_FONT_CANDIDATES = [
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
]


def _register_fonts() -> None:
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    import reportlab

    bundled = Path(reportlab.__file__).parent / "fonts"
    candidates = _FONT_CANDIDATES + [(str(bundled / "Vera.ttf"), str(bundled / "VeraBd.ttf"))]
    for regular, bold in candidates:
        if os.path.exists(regular) and os.path.exists(bold):
            pdfmetrics.registerFont(TTFont(FONT, regular))
            pdfmetrics.registerFont(TTFont(BOLD, bold))
            return
    raise RuntimeError("no TrueType font found for PDF export")


def label_axes(chart: object, category_size: float, value_size: float | None = None) -> None:
    """A reportlab chart's axis labels in the registered font."""
    chart.categoryAxis.labels.fontName = FONT  # type: ignore[attr-defined]
    chart.categoryAxis.labels.fontSize = category_size  # type: ignore[attr-defined]
    chart.valueAxis.labels.fontName = FONT  # type: ignore[attr-defined]
    chart.valueAxis.labels.fontSize = category_size if value_size is None else value_size  # type: ignore[attr-defined]


class PdfWriter:
    def __init__(self, sink: BinaryIO, schema: pa.Schema, options: PdfOptions) -> None:
        _register_fonts()
        self.o, self.schema = options, schema
        wide = options.orientation == "landscape" or (options.orientation == "auto" and len(schema) > 6)
        self.size = landscape(A4) if wide else A4
        self.c = canvas.Canvas(sink, pagesize=self.size, pageCompression=1)
        self.c.setTitle(options.title)
        self.c.setCreator("egress")
        self.page = 0
        self.rows_drawn = 0
        self.stats = Stats(options.chart_by, options.chart_value)
        self.buffer: list[list[str]] = [[] for _ in schema]
        self.widths: list[float] | None = None
        self.limits: list[int] = []
        self.generated = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        self._top = 0.0

    # -- layout -----------------------------------------------------------------------------
    def _layout(self, sample: pa.RecordBatch) -> None:
        """Column widths: numbers and dates get what they need (never cut); text columns share
        the rest in proportion to their sampled length (90th percentile); all scale to fit."""
        usable = self.size[0] - 2 * MARGIN
        char_w = BODY_SIZE * 0.56
        fixed: dict[int, float] = {}
        wants: dict[int, float] = {}
        for i, f in enumerate(self.schema):
            text = pc.fill_null(self._text(sample.column(i).slice(0, 500), 10_000), "")
            lengths = pc.utf8_length(text)
            header = len(f.name) * 0.75  # text headers may be cut before their data is
            if is_numeric(f.type) or pa.types.is_date(f.type) or pa.types.is_timestamp(f.type):
                longest = float(pc.max(lengths).as_py() or 0) if len(text) else 0.0
                fixed[i] = max(longest, len(f.name) * HEAD_SIZE / BODY_SIZE * 1.12, 4.0) * char_w + 6
            else:
                p90 = float(pc.quantile(lengths, q=0.9)[0].as_py() or 0) if len(text) else 0.0
                wants[i] = max(header, min(p90, self.o.max_cell_chars), 4.0)
        fixed_total = sum(fixed.values())
        if fixed_total > usable * 0.8 and wants or fixed_total > usable:
            scale = (usable * (0.8 if wants else 1.0)) / fixed_total
            fixed = {i: w * scale for i, w in fixed.items()}
            fixed_total = sum(fixed.values())
        rest = usable - fixed_total
        total_want = sum(wants.values()) or 1.0
        self.widths = [fixed[i] if i in fixed else rest * wants[i] / total_want for i in range(len(self.schema))]
        self.limits = [max(3, min(self.o.max_cell_chars if i in wants else 10_000, int((w - 4) / char_w)))
                       for i, w in enumerate(self.widths)]

    def _text(self, column: pa.Array, limit: int) -> pa.Array:
        if pa.types.is_floating(column.type):
            column = pc.round(column, ndigits=2)
        text = to_text(column, timestamp_pattern="%Y-%m-%d %H:%M")
        text = pc.replace_substring_regex(text, r"[\r\n\t]+", " ")
        long = pc.greater(pc.utf8_length(text), limit)
        if pc.any(long).as_py():
            cut = pc.binary_join_element_wise(pc.utf8_slice_codeunits(text, 0, limit - 1), ELLIPSIS, "")
            text = pc.if_else(long, cut, text)
        return text

    # -- pages ------------------------------------------------------------------------------
    def _table_top(self) -> float:
        top = self.size[1] - MARGIN
        return top - 44 if self.page == 1 else top

    def _begin_page(self) -> None:
        self.page += 1
        c = self.c
        width, height = self.size
        if self.page == 1:
            c.setFont(BOLD, 15)
            c.drawString(MARGIN, height - MARGIN - 8, self.o.title)
            c.setFont(FONT, 8)
            sub = (self.o.subtitle + " · " if self.o.subtitle else "") + f"generated {self.generated}"
            c.drawString(MARGIN, height - MARGIN - 24, sub[:220])
        c.setFont(FONT, 7)
        c.drawRightString(width - MARGIN - 14, MARGIN - 14, f"page {self.page} of ")
        c.doForm("egress_total_pages")
        c.drawString(MARGIN, MARGIN - 14, self.o.title[:120])

    def _flush_page(self) -> None:
        n = len(self.buffer[0]) if self.buffer else 0
        if n == 0:
            return
        assert self.widths is not None
        self._begin_page()
        c = self.c
        top = self._table_top()
        left = MARGIN
        usable = sum(self.widths)
        # header
        c.setFillColor(colors.HexColor("#1F4E78"))
        c.rect(left, top - ROW_H - 2, usable, ROW_H + 2, stroke=0, fill=1)
        c.setFillColor(colors.white)
        c.setFont(BOLD, HEAD_SIZE)
        x = left
        for f, w in zip(self.schema, self.widths):
            limit = max(2, int((w - 4) / (HEAD_SIZE * 0.62)))
            name = f.name if len(f.name) <= limit else f.name[: limit - 1] + ELLIPSIS
            c.saveState()
            path = c.beginPath()
            path.rect(x, top - ROW_H - 2, w - 1, ROW_H + 2)
            c.clipPath(path, stroke=0, fill=0)
            c.drawString(x + 2, top - ROW_H + 1, name)
            c.restoreState()
            x += w
        # zebra
        c.setFillColor(colors.HexColor("#EEF3F8"))
        body_top = top - ROW_H - 2
        for r in range(1, n, 2):
            c.rect(left, body_top - (r + 1) * ROW_H, usable, ROW_H, stroke=0, fill=1)
        # body: one clipped text object per column
        c.setFillColor(colors.black)
        x = left
        for values, w in zip(self.buffer, self.widths):
            c.saveState()
            path = c.beginPath()
            path.rect(x, body_top - n * ROW_H - 2, w - 1, n * ROW_H + 2)
            c.clipPath(path, stroke=0, fill=0)
            t = c.beginText(x + 2, body_top - ROW_H + 2.5)
            t.setFont(FONT, BODY_SIZE, leading=ROW_H)
            t.textLines(values, trim=0)
            c.drawText(t)
            c.restoreState()
            x += w
        c.showPage()
        self.rows_drawn += n
        self.buffer = [[] for _ in self.schema]

    # -- Writer -----------------------------------------------------------------------------
    def write(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        if self.widths is None:
            self._layout(batch)
        self.stats.add(batch)
        texts = [pc.fill_null(self._text(col, limit), "").to_pylist()
                 for col, limit in zip(batch.columns, self.limits)]
        start = 0
        while start < batch.num_rows:
            room = self._rows_per_page_next() - len(self.buffer[0])
            take = min(room, batch.num_rows - start)
            for buf, values in zip(self.buffer, texts):
                buf.extend(values[start:start + take])
            start += take
            if len(self.buffer[0]) >= self._rows_per_page_next():
                self._flush_page()

    def _rows_per_page_next(self) -> int:
        """Rows on the page being filled (the first page has less room: the title)."""
        top = self.size[1] - MARGIN - (44 if self.page == 0 else 0)
        return int((top - MARGIN - 18) // ROW_H) - 1

    def close(self) -> None:
        if self.widths is None:  # no rows at all: still a valid report
            self.widths = [(self.size[0] - 2 * MARGIN) / max(1, len(self.schema))] * len(self.schema)
            self.limits = [self.o.max_cell_chars] * len(self.schema)
        self._flush_page()
        if self.o.summary or self.o.chart_by or self.page == 0:
            self._summary_page()
        c = self.c
        c.beginForm("egress_total_pages")
        c.setFont(FONT, 7)
        c.drawString(self.size[0] - MARGIN - 14, MARGIN - 14, str(self.page))
        c.endForm()
        c.save()

    def _summary_page(self) -> None:
        self._begin_page()
        c = self.c
        width, height = self.size
        y = height - MARGIN - (44 if self.page == 1 else 0) - 10
        c.setFillColor(colors.black)
        c.setFont(BOLD, 12)
        c.drawString(MARGIN, y, "Summary")
        y -= 18
        c.setFont(FONT, 9)
        c.drawString(MARGIN, y, f"rows: {self.stats.rows:,}")
        y -= 16
        numeric = [(n, v) for n, v in self.stats.numeric.items() if v[2]]
        if numeric:
            c.setFont(BOLD, 8)
            for label, x in (("column", 0), ("min", 170), ("avg", 270), ("max", 370)):
                c.drawString(MARGIN + x, y, label)
            y -= 12
            c.setFont(FONT, 8)
            for name, (lo, total, count, hi) in numeric:
                if y < MARGIN + 20:
                    break
                for text, x in ((name, 0), (_num(lo), 170), (_num(total / count), 270), (_num(hi), 370)):
                    c.drawString(MARGIN + x, y, text)
                y -= 11
        groups = self.stats.top_groups(15)
        if groups and y > MARGIN + 200:
            self._chart(groups, y - 20)
        c.showPage()

    def _chart(self, groups: list[tuple[object, float]], top: float) -> None:
        width = self.size[0] - 2 * MARGIN
        height = min(220.0, top - MARGIN - 30)
        drawing = Drawing(width, height)
        chart = VerticalBarChart()
        chart.x, chart.y = 40, 40
        chart.width, chart.height = width - 60, height - 60
        chart.data = [[float(v) for _, v in groups]]
        chart.categoryAxis.categoryNames = [("(null)" if k is None else str(k))[:14] for k, _ in groups]
        chart.categoryAxis.labels.angle = 30
        chart.categoryAxis.labels.boxAnchor = "ne"
        label_axes(chart, 6)
        chart.valueAxis.valueMin = 0
        chart.bars[0].fillColor = colors.HexColor("#1F4E78")
        drawing.add(chart)
        c = self.c
        label = f"{'sum of ' + self.o.chart_value if self.o.chart_value else 'rows'} by {self.o.chart_by}"
        c.setFont(BOLD, 9)
        c.drawString(MARGIN, top, label)
        renderPDF.draw(drawing, c, MARGIN, top - height - 6)


def _num(value: float) -> str:
    if abs(value) >= 1e15 or value != value:
        return f"{value:.4g}"
    return f"{value:,.2f}"


SPEC = register(FormatSpec("pdf", "pdf", PdfOptions, PdfWriter, compressible=False,
                           media_type="application/pdf"))
