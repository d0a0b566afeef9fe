-- Indicators (mätetal) and their values. A value of NULL is a figure missing
-- at the source, which is not the same as 0; a removed value has no row.
CREATE TABLE indicators (
    id TEXT PRIMARY KEY NOT NULL,
    code TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    unit TEXT NOT NULL,
    direction TEXT NOT NULL,
    source TEXT NOT NULL,
    update_frequency TEXT NOT NULL,
    target DOUBLE PRECISION,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    revision BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE indicator_values (
    indicator_id TEXT NOT NULL REFERENCES indicators (id),
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    period TEXT NOT NULL,
    gender TEXT NOT NULL,
    value DOUBLE PRECISION,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (indicator_id, organization_id, period, gender)
);
CREATE INDEX indicator_values_period ON indicator_values (indicator_id, period, gender);
