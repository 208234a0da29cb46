"""The demo warehouse: deterministic company data generated inside DuckDB (SQL over range()).

No Python row loops: every value is a function of (seed, row number, attribute) through DuckDB's
hash(), so the same --seed gives the same bytes and 5M companies build in minutes. Parts are
chained (hash(xor(hash(seed, row), salt))) rather than passed as hash(a, b, c): DuckDB's
multi-argument hash combines inputs so that low bits correlate across salts (industry and
country came out dependent).
Tenants own contiguous id ranges (acme 50%, globex 30%, initech 20%), which also keeps each
tenant's rows together on disk so the tenant predicate skips whole row groups.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

TENANTS: tuple[tuple[str, float], ...] = (("acme", 0.5), ("globex", 0.3), ("initech", 0.2))
METRICS = ("web_traffic", "headcount", "funding_total", "job_postings", "revenue_estimate")
MONTHS = 24
MAX_METRIC_COMPANIES = 200_000  # above this, metric histories cover an evenly spaced sample


def _lit(values: list[str] | tuple[str, ...]) -> str:
    """A DuckDB list literal of our own constant strings."""
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


INDUSTRIES = ["SaaS", "FinTech", "HealthTech", "E-commerce", "Manufacturing", "Logistics", "EdTech",
              "Cybersecurity", "Biotech", "Energy", "Media", "Real Estate", "Retail",
              "Telecommunications", "Automotive", "AI/ML"]
MODELS = ["B2B", "B2C", "B2B2C", "marketplace", "D2C", "B2G"]
STAGES = ["seed", "early", "growth", "expansion", "mature", "decline"]
PLACES = [("United States", "New York"), ("United States", "San Francisco"),
          ("United States", "Austin"), ("United Kingdom", "London"), ("Germany", "Berlin"),
          ("Germany", "München"), ("France", "Paris"), ("Switzerland", "Zürich"),
          ("Poland", "Kraków"), ("Brazil", "São Paulo"), ("Canada", "Montréal"),
          ("Sweden", "Malmö"), ("Spain", "Barcelona"), ("Netherlands", "Amsterdam"),
          ("India", "Bengaluru"), ("Japan", "Tokyo"), ("Singapore", "Singapore"),
          ("Australia", "Sydney"), ("Israel", "Tel Aviv"), ("Mexico", "Ciudad de México")]
ADJECTIVES = ["Blue", "Bright", "Quantum", "Nordic", "Silver", "Rapid", "Green", "Clear", "Iron",
              "Golden", "Lunar", "Prime", "Vivid", "Bold", "Crimson", "Atlas", "Nova", "Summit",
              "Velvet", "Echo"]
NOUNS = ["Harbor", "Forge", "Labs", "Works", "Systems", "Analytics", "Dynamics", "Networks",
         "Logic", "Cloud", "Bridge", "Signal", "Pixel", "Orbit", "Vector", "Canvas", "Beacon",
         "Pulse", "Field", "Stack"]
SUFFIXES = ["Inc.", "GmbH", "Ltd", "S.A.", "AG", "LLC", "Oy", "B.V.", "SAS", "Pty Ltd"]
TLDS = ["com", "io", "co", "de", "ai", "net", "eu", "tech"]
PRODUCTS = ["payment rails", "supply-chain software", "clinical analytics", "an online store",
            "robotic assembly", "route planning", "language courses", "threat detection",
            "gene therapies", "solar storage", "video streaming", "property management",
            "point-of-sale tools", "5G infrastructure", "EV charging", "forecasting models"]
# Free text that CSV, JSON, XLSX and PDF writers must get right: commas, quotes, newlines, unicode.
DESCRIPTION_TEMPLATES = [
    "{name} builds {product} for mid-market teams.",
    "{name} builds {product}, with offices in {city}.",
    '{name} calls itself "the {product} company".',
    "{name} — {product} for Europe’s SMBs.\nFounded by engineers; profitable since year two.",
    "{name} sells {product} to retailers; ~40% of revenue is recurring (€, $, £).",
    "Naïve pricing, bold roadmap: {name} ships {product} weekly.",
]


@dataclass(frozen=True)
class DemoStats:
    companies: int
    similarities: int
    metrics: int
    seconds: float


def _tenant_case(n: int) -> str:
    bounds, acc, parts = [], 0.0, []
    for name, share in TENANTS:
        acc += share
        bounds.append((name, int(round(n * acc))))
    for name, upper in bounds[:-1]:
        parts.append(f"WHEN i < {upper} THEN '{name}'")
    return f"CASE {' '.join(parts)} ELSE '{bounds[-1][0]}' END"


def _tenant_ranges(n: int) -> list[tuple[str, int, int]]:
    out, start, acc = [], 0, 0.0
    for name, share in TENANTS:
        acc += share
        end = int(round(n * acc))
        out.append((name, start, end))
        start = end
    return out


def companies_sql(n: int, seed: int) -> str:
    pick = lambda lst, k: f"{_lit(lst)}[1 + (hash(xor(hash({seed}::BIGINT * 16777216 + (i)::BIGINT), ({k})::UBIGINT)) % {len(lst)})::INTEGER]"  # noqa: E731
    place = f"(hash(xor(hash({seed}::BIGINT * 16777216 + (i)::BIGINT), (7)::UBIGINT)) % {len(PLACES)})::INTEGER + 1"
    desc_cases = " ".join(
        f"WHEN {k} THEN {_template_sql(t)}" for k, t in enumerate(DESCRIPTION_TEMPLATES)
    )
    return f"""
    CREATE OR REPLACE TABLE raw.companies AS
    WITH base AS (
        SELECT i, i + 1 AS company_id, {_tenant_case(n)} AS tenant_id,
               {pick(ADJECTIVES, 1)} || ' ' || {pick(NOUNS, 2)} AS stem,
               {pick(SUFFIXES, 3)} AS suffix,
               {pick(TLDS, 4)} AS tld,
               {_lit([c for c, _ in PLACES])}[{place}] AS country,
               {_lit([c for _, c in PLACES])}[{place}] AS city0,
               greatest(1, exp((hash(xor(hash({seed}::BIGINT * 16777216 + (i)::BIGINT), (8)::UBIGINT)) % 100000) / 100000.0 * ln(60000))::INTEGER) AS emp,
               {pick(PRODUCTS, 9)} AS product,
               hash(xor(hash({seed}::BIGINT * 16777216 + (i)::BIGINT), (10)::UBIGINT)) % 1000 AS nulls
        FROM range({n}) r(i)
    )
    SELECT
        company_id,
        stem || ' ' || suffix AS name,
        lower(replace(stem, ' ', '')) || '-' || company_id || '.' || tld AS domain,
        {pick(INDUSTRIES, 11)} AS industry,
        {pick(MODELS, 12)} AS business_model,
        CASE WHEN emp <= 10 THEN '1-10' WHEN emp <= 50 THEN '11-50' WHEN emp <= 200 THEN '51-200'
             WHEN emp <= 500 THEN '201-500' WHEN emp <= 1000 THEN '501-1000'
             WHEN emp <= 5000 THEN '1001-5000' ELSE '5000+' END AS company_size,
        CASE WHEN nulls % 50 = 1 THEN NULL ELSE {pick(STAGES, 13)} END AS growth_stage,
        country,
        CASE WHEN nulls % 33 = 2 THEN NULL ELSE city0 END AS city,
        CASE WHEN nulls % 50 = 3 THEN NULL ELSE emp END AS employee_count,
        CASE WHEN nulls % 10 = 4 THEN NULL
             ELSE round(emp * (40000 + hash(xor(hash({seed}::BIGINT * 16777216 + (i)::BIGINT), (14)::UBIGINT)) % 260000) + (hash(xor(hash({seed}::BIGINT * 16777216 + (i)::BIGINT), (15)::UBIGINT)) % 100) / 100.0, 2)
        END::DECIMAL(18, 2) AS annual_revenue,
        CASE WHEN nulls % 100 = 5 THEN NULL
             ELSE DATE '2025-06-30' - (pow((hash(xor(hash({seed}::BIGINT * 16777216 + (i)::BIGINT), (16)::UBIGINT)) % 10000) / 10000.0, 2) * 27000)::INTEGER
        END AS founded_on,
        CASE WHEN nulls % 20 = 6 THEN NULL ELSE
            CASE (hash(xor(hash({seed}::BIGINT * 16777216 + (i)::BIGINT), (17)::UBIGINT)) % {len(DESCRIPTION_TEMPLATES)})::INTEGER {desc_cases} END
        END AS description,
        CASE WHEN nulls % 12 = 7 THEN NULL
             ELSE {pick(['info', 'hello', 'sales', 'contact', 'team'], 18)} || '@' ||
                  lower(replace(stem, ' ', '')) || '-' || company_id || '.' || tld END AS contact_email,
        TIMESTAMPTZ '2019-01-01 00:00:00+00' + to_seconds((hash(xor(hash({seed}::BIGINT * 16777216 + (i)::BIGINT), (19)::UBIGINT)) % 150000000)::BIGINT) AS created_at,
        TIMESTAMPTZ '2019-01-01 00:00:00+00' + to_seconds((hash(xor(hash({seed}::BIGINT * 16777216 + (i)::BIGINT), (19)::UBIGINT)) % 150000000)::BIGINT
            + (hash(xor(hash({seed}::BIGINT * 16777216 + (i)::BIGINT), (20)::UBIGINT)) % 40000000)::BIGINT) AS updated_at,
        tenant_id
    FROM base
    ORDER BY company_id
    """


def _template_sql(template: str) -> str:
    """A description template as a SQL concatenation of our constants and columns."""
    out, rest = [], template
    while rest:
        head, sep, tail = rest.partition("{")
        if head:
            out.append("'" + head.replace("'", "''") + "'")
        if not sep:
            break
        field, _, rest = tail.partition("}")
        out.append({"name": "(stem || ' ' || suffix)", "product": "product", "city": "coalesce(city0, country)"}[field])
    return " || ".join(out)


def similarities_sql(n: int, seed: int, per_company: int) -> str:
    cases = []
    for name, start, end in _tenant_ranges(n):
        size = max(end - start, 1)
        cases.append((name, start, size))
    start_case = " ".join(f"WHEN '{t}' THEN {s}" for t, s, _ in cases)
    size_case = " ".join(f"WHEN '{t}' THEN {z}" for t, _, z in cases)
    methods = _lit(["embedding", "firmographic", "keyword", "graph"])
    return f"""
    CREATE OR REPLACE TABLE raw.company_similarities AS
    WITH edges AS (
        SELECT c.company_id, c.tenant_id, k,
               (CASE c.tenant_id {start_case} END) AS t_start,
               (CASE c.tenant_id {size_case} END) AS t_size,
               hash(xor(hash(xor(hash({seed}::BIGINT * 16777216 + (c.company_id)::BIGINT), (k)::UBIGINT)), (31)::UBIGINT)) AS h
        FROM raw.companies c, range({per_company}) r(k)
    )
    SELECT company_id,
           CASE WHEN t_start + (h % t_size) + 1 = company_id
                THEN t_start + ((h + 1) % t_size) + 1
                ELSE t_start + (h % t_size) + 1 END AS similar_company_id,
           round(1.0 - pow((hash(xor(hash(xor(hash({seed}::BIGINT * 16777216 + (company_id)::BIGINT), (k)::UBIGINT)), (32)::UBIGINT)) % 1000000) / 1000000.0, 3), 6) AS similarity_score,
           {methods}[1 + (hash(xor(hash(xor(hash({seed}::BIGINT * 16777216 + (company_id)::BIGINT), (k)::UBIGINT)), (33)::UBIGINT)) % 4)::INTEGER] AS method,
           TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_seconds((hash(xor(hash({seed}::BIGINT * 16777216 + (company_id)::BIGINT), (34)::UBIGINT)) % 20000000)::BIGINT) AS computed_at,
           tenant_id
    FROM edges
    ORDER BY company_id, k
    """


def metrics_sql(n: int, seed: int) -> str:
    stride = max(1, -(-n // MAX_METRIC_COMPANIES))
    metrics = _lit(list(METRICS))
    return f"""
    CREATE OR REPLACE TABLE raw.company_metrics AS
    WITH sample AS (
        SELECT company_id, tenant_id, coalesce(employee_count, 10)::DOUBLE AS emp
        FROM raw.companies WHERE company_id % {stride} = 0
    ), grid AS (
        SELECT s.company_id, s.tenant_id, s.emp, m, mo,
               (hash(xor(hash(xor(hash({seed}::BIGINT * 16777216 + (s.company_id)::BIGINT), (m)::UBIGINT)), (41)::UBIGINT)) % 1000) / 1000.0 AS base,
               ((hash(xor(hash(xor(hash({seed}::BIGINT * 16777216 + (s.company_id)::BIGINT), (m)::UBIGINT)), (42)::UBIGINT)) % 200)::INTEGER - 60) / 4000.0 AS growth,
               (hash(xor(hash(xor(hash(xor(hash({seed}::BIGINT * 16777216 + (s.company_id)::BIGINT), (m)::UBIGINT)), (mo)::UBIGINT)), (43)::UBIGINT)) % 1000) / 1000.0 AS noise
        FROM sample s, range({len(METRICS)}) a(m), range({MONTHS}) b(mo)
    )
    SELECT company_id,
           (DATE '2025-06-01' - INTERVAL ({MONTHS - 1} - mo) MONTH)::DATE AS metric_date,
           {metrics}[m::INTEGER + 1] AS metric,
           round(CASE m
               WHEN 0 THEN (1000 + base * 200000) * pow(1 + growth, mo) * (0.9 + noise * 0.2)
               WHEN 1 THEN emp * pow(1 + growth / 2, mo) * (0.98 + noise * 0.04)
               WHEN 2 THEN (base * 50000000) * (1 + floor(mo / 8))
               WHEN 3 THEN floor(emp / 20 * (0.5 + noise))
               ELSE emp * 120000 * pow(1 + growth, mo) * (0.95 + noise * 0.1) END, 2) AS value,
           tenant_id
    FROM grid
    ORDER BY company_id, metric, metric_date
    """


def build(path: Path, *, companies: int = 100_000, seed: int = 42,
          similarities_per_company: int = 10, threads: int | None = None) -> DemoStats:
    """Write the demo warehouse to ``path`` atomically (a temp file, then rename)."""
    if companies < 10:
        raise ValueError("--companies must be at least 10")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.building")
    for p in (tmp, Path(str(tmp) + ".wal")):
        p.unlink(missing_ok=True)
    started = time.perf_counter()
    con = duckdb.connect(str(tmp))
    try:
        con.execute("SET enable_progress_bar = false")
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        con.execute(companies_sql(companies, seed))
        con.execute(similarities_sql(companies, seed, similarities_per_company))
        con.execute(metrics_sql(companies, seed))
        counts = [con.execute(f"SELECT count(*) FROM raw.{t}").fetchone()[0]  # type: ignore[index]
                  for t in ("companies", "company_similarities", "company_metrics")]
        con.execute("CHECKPOINT")
    finally:
        con.close()
    tmp.replace(path)
    return DemoStats(counts[0], counts[1], counts[2], time.perf_counter() - started)
