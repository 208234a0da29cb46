"""Per-format options: typed, validated, each with a default and a help line.

The CLI, COPY ... TO 'file' (FORMAT ..., option value, ...) and schedules all fill the same
models, so an option means the same thing through every door.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DATE_PRESETS = {
    "iso": ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%SZ"),
    "us": ("%m/%d/%Y", "%m/%d/%Y %H:%M:%S"),
    "eu": ("%d.%m.%Y", "%d.%m.%Y %H:%M:%S"),
    "full": ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S"),
}


def date_patterns(date_format: str) -> tuple[str, str]:
    """(pattern for DATE, pattern for TIMESTAMP) for a preset name or a strftime pattern."""
    if date_format in DATE_PRESETS:
        return DATE_PRESETS[date_format]
    return date_format, date_format


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CsvOptions(_Options):
    delimiter: str = Field(",", description="Field separator: ',', ';', tab or '|'.")
    quoting: Literal["minimal", "all", "none"] = Field("minimal", description="When to quote fields.")
    header: bool = Field(True, description="Write a header row.")
    bom: bool = Field(False, description="Start with a UTF-8 byte order mark (for Excel).")
    line_terminator: Literal["\n", "\r\n"] = Field("\n", description="Line ending: LF or CRLF.")
    null: str = Field("", description="Text written for NULL.")
    date_format: str = Field("iso", description="iso, us, eu, full, or a strftime pattern.")
    decimals: int | None = Field(None, ge=0, le=18, description="Round floats and decimals to N places.")

    @field_validator("delimiter", mode="before")
    @classmethod
    def _delimiter(cls, value: str) -> str:
        value = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}.get(value, value)
        if value not in (",", ";", "\t", "|"):
            raise ValueError("delimiter must be ',', ';', tab or '|'")
        return value

    @field_validator("line_terminator", mode="before")
    @classmethod
    def _eol(cls, value: str) -> str:
        return {"lf": "\n", "crlf": "\r\n", "\\n": "\n", "\\r\\n": "\r\n"}.get(str(value).lower(), value)


class JsonOptions(_Options):
    pretty: bool = Field(False, description="Indent objects (JSON array only).")
    dates: Literal["iso", "epoch"] = Field("iso", description="Dates and timestamps as ISO text or epoch milliseconds.")
    decimals: int | None = Field(None, ge=0, le=18, description="Round floats and decimals to N places.")


class ParquetOptions(_Options):
    codec: Literal["zstd", "snappy", "gzip", "none", "lz4", "brotli"] = Field("zstd", description="Compression codec.")
    row_group_size: int = Field(122_880, ge=1024, description="Rows per row group.")
    partition_by: list[str] = Field(default_factory=list, description="Columns for a hive-partitioned directory.")

    @field_validator("partition_by", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value


class XlsxOptions(_Options):
    sheet_name: str = Field("data", max_length=31, description="Name of the (first) data sheet.")
    freeze_header: bool = Field(True, description="Freeze the header row.")
    autofilter: bool = Field(True, description="Put an autofilter on the header row.")
    summary: bool = Field(False, description="Add a summary sheet (row count, numeric stats, a chart).")
    chart_by: str | None = Field(None, description="Summary chart: count rows grouped by this column.")


class PdfOptions(_Options):
    title: str = Field("egress export", description="Title on the first page.")
    subtitle: str | None = Field(None, description="Subtitle (the CLI puts the filters applied here).")
    orientation: Literal["auto", "portrait", "landscape"] = Field("auto", description="Page orientation; auto goes landscape when wide.")
    max_cell_chars: int = Field(40, ge=4, le=200, description="Longer cells are cut with an ellipsis.")
    summary: bool = Field(True, description="End with a summary: row count, min/avg/max of numeric columns.")
    chart_by: str | None = Field(None, description="Bar chart of row counts (or chart_value sums) by this column.")
    chart_value: str | None = Field(None, description="Numeric column summed per chart_by group.")
