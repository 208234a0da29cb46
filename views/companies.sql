-- Curated view: one row per company. The public contract; column names are fixed.
SELECT
    company_id::BIGINT                AS company_id,
    name::VARCHAR                     AS name,
    domain::VARCHAR                   AS domain,
    industry::VARCHAR                 AS industry,
    business_model::VARCHAR           AS business_model,
    company_size::VARCHAR             AS company_size,
    growth_stage::VARCHAR             AS growth_stage,
    country::VARCHAR                  AS country,
    city::VARCHAR                     AS city,
    employee_count::INTEGER           AS employee_count,
    annual_revenue::DECIMAL(18, 2)    AS annual_revenue,
    founded_on::DATE                  AS founded_on,
    description::VARCHAR              AS description,
    contact_email::VARCHAR            AS contact_email,
    created_at::TIMESTAMPTZ           AS created_at,
    updated_at::TIMESTAMPTZ           AS updated_at,
    tenant_id::VARCHAR                AS tenant_id
FROM raw.companies
