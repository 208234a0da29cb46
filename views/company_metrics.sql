-- Curated view: monthly metric history per company (long format: one metric per row).
SELECT
    company_id::BIGINT                AS company_id,
    metric_date::DATE                 AS metric_date,
    metric::VARCHAR                   AS metric,
    value::DOUBLE                     AS value,
    tenant_id::VARCHAR                AS tenant_id
FROM raw.company_metrics
