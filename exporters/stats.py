"""Summary statistics gathered batch by batch (for PDF and XLSX summaries): bounded memory."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


class Stats:
    """Row count; min / sum / count / max per numeric column; per-group counts or sums."""

    def __init__(self, by: str | None = None, value: str | None = None) -> None:
        self.by, self.value = by, value
        self.rows = 0
        self.numeric: dict[str, tuple[float, float, int, float]] = {}
        self.groups: dict[object, float] = {}

    def add(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        for f, col in zip(batch.schema, batch.columns):
            if not is_numeric(f.type):
                continue
            col = pc.cast(col, pa.float64())
            count = len(col) - col.null_count
            if not count:
                continue
            mm = pc.min_max(col).as_py()
            lo, total, n, hi = self.numeric.get(f.name, (float("inf"), 0.0, 0, float("-inf")))
            self.numeric[f.name] = (min(lo, mm["min"]), total + (pc.sum(col).as_py() or 0.0),
                                    n + count, max(hi, mm["max"]))
        if self.by and self.by in batch.schema.names:
            if self.value and self.value in batch.schema.names:
                table = pa.table({"k": batch.column(self.by),
                                  "v": pc.cast(batch.column(self.value), pa.float64())})
                for row in table.group_by("k").aggregate([("v", "sum")]).to_pylist():
                    self.groups[row["k"]] = self.groups.get(row["k"], 0.0) + (row["v_sum"] or 0.0)
            else:
                for item in pc.value_counts(batch.column(self.by)).to_pylist():
                    self.groups[item["values"]] = self.groups.get(item["values"], 0) + item["counts"]

    def top_groups(self, n: int) -> list[tuple[object, float]]:
        return sorted(self.groups.items(), key=lambda kv: (-kv[1], str(kv[0])))[:n]
