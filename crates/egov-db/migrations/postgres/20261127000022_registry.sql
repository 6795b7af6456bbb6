-- Base registries (egov-registry): datasets defined by a schema, their
-- records, the purposes each client subsystem may read them for, and the
-- data tracker (registry_reads), which is append-only: triggers refuse
-- every UPDATE and DELETE on it (TRUNCATE too).
CREATE TABLE registry_datasets (
    name TEXT PRIMARY KEY NOT NULL,
    version TEXT NOT NULL,
    -- The dataset's schema as JSON (egov_registry::domain::DatasetSchema).
    schema TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE registry_records (
    id UUID PRIMARY KEY NOT NULL,
    dataset TEXT NOT NULL REFERENCES registry_datasets (name),
    -- The value of the schema's key field: a personal ID, a tax code.
    record_key TEXT NOT NULL,
    content TEXT NOT NULL,
    -- egov_core::text::fold of the record's key and text fields.
    search_text TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (dataset, record_key)
);

CREATE TABLE registry_purposes (
    -- The client subsystem, e.g. EGOV/GOV/000.00.25.H12/onestop.
    client TEXT NOT NULL,
    dataset TEXT NOT NULL REFERENCES registry_datasets (name),
    purpose TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (client, dataset, purpose)
);

CREATE TABLE registry_reads (
    id UUID PRIMARY KEY NOT NULL,
    dataset TEXT NOT NULL,
    record_key TEXT NOT NULL,
    personal_id TEXT NOT NULL,
    -- read, exists or search.
    operation TEXT NOT NULL,
    client TEXT NOT NULL,
    user_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    reference TEXT,
    message_id TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX registry_reads_person ON registry_reads (personal_id, at);

CREATE FUNCTION registry_reads_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'registry_reads is append-only';
END;
$$;

CREATE TRIGGER registry_reads_no_update BEFORE UPDATE OR DELETE ON registry_reads
    FOR EACH ROW EXECUTE FUNCTION registry_reads_append_only();

CREATE TRIGGER registry_reads_no_truncate BEFORE TRUNCATE ON registry_reads
    FOR EACH STATEMENT EXECUTE FUNCTION registry_reads_append_only();
