-- Curated view: similarity edges between companies of the same tenant.
SELECT
    company_id::BIGINT                AS company_id,
    similar_company_id::BIGINT        AS similar_company_id,
    similarity_score::DOUBLE          AS similarity_score,
    method::VARCHAR                   AS method,
    computed_at::TIMESTAMPTZ          AS computed_at,
    tenant_id::VARCHAR                AS tenant_id
FROM raw.company_similarities
