-- Dossiers and what they stand on (egov-onestop::dossier).

-- A procedure as it is in force from a date: its e-form, fee, time limit
-- and workflow. A dossier keeps the version in force when it was received.
CREATE TABLE procedure_versions (
    procedure_code TEXT NOT NULL REFERENCES procedures (code),
    version INTEGER NOT NULL,
    effective_from BIGINT NOT NULL,
    form_schema TEXT NOT NULL,
    fee_vnd BIGINT NOT NULL,
    online_fee_vnd BIGINT NOT NULL,
    processing_days INTEGER NOT NULL,
    workflow TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    published_by TEXT NOT NULL,
    PRIMARY KEY (procedure_code, version)
);

CREATE TABLE dossiers (
    id BLOB PRIMARY KEY NOT NULL,
    code TEXT NOT NULL UNIQUE,
    procedure_code TEXT NOT NULL,
    procedure_version INTEGER NOT NULL,
    agency_code TEXT NOT NULL,
    -- The agency that holds it now: another one while transferred.
    holder_agency TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('online', 'counter')),
    applicant_subject TEXT NOT NULL,
    applicant_name TEXT NOT NULL,
    applicant_personal_id TEXT,
    applicant_email TEXT,
    idempotency_key TEXT NOT NULL,
    form_data TEXT NOT NULL,
    state TEXT NOT NULL,
    step INTEGER NOT NULL,
    resume_state TEXT,
    assignee TEXT,
    fee_vnd BIGINT NOT NULL,
    submitted_at BIGINT NOT NULL,
    received_at BIGINT,
    due_at BIGINT,
    paused_at BIGINT,
    finished_at BIGINT,
    late BOOLEAN,
    revision INTEGER NOT NULL,
    search_text TEXT NOT NULL,
    -- What statistics count without reading the step log.
    supplements INTEGER NOT NULL DEFAULT 0,
    transfers INTEGER NOT NULL DEFAULT 0,
    rating INTEGER,
    rating_comment TEXT,
    fee_paid_vnd BIGINT NOT NULL DEFAULT 0,
    -- The official working on it, if one took it.
    assignee_name TEXT
);
CREATE UNIQUE INDEX dossiers_idempotency ON dossiers (applicant_subject, idempotency_key);
CREATE INDEX dossiers_queue ON dossiers (holder_agency, state, due_at);
CREATE INDEX dossiers_applicant ON dossiers (applicant_subject, submitted_at);
-- A queue page reads an agency's dossiers in appointment order and stops
-- after a page.
CREATE INDEX dossiers_holder_due ON dossiers (holder_agency, due_at, code);
CREATE INDEX dossiers_assignee ON dossiers (holder_agency, assignee);
-- A period's statistics read only this index, grouped in its order
-- (agency, procedure), never the wide rows.
CREATE INDEX dossiers_counts ON dossiers (
    agency_code, procedure_code, submitted_at, channel, state, late, paused_at, due_at,
    supplements, transfers, fee_paid_vnd, rating
);

-- The step log (Form 06 is printed from it); append-only.
CREATE TABLE dossier_events (
    id BLOB PRIMARY KEY NOT NULL,
    dossier_id BLOB NOT NULL REFERENCES dossiers (id),
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    agency_code TEXT,
    action TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    step INTEGER NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX dossier_events_dossier ON dossier_events (dossier_id, at);

-- The day's last sequence number per receiving agency (the dossier code).
CREATE TABLE dossier_counters (
    agency_code TEXT NOT NULL,
    day TEXT NOT NULL,
    last_sequence INTEGER NOT NULL,
    PRIMARY KEY (agency_code, day)
);

-- Uploaded files, content-addressed by SHA-256: one copy per content.
CREATE TABLE stored_files (
    sha256 TEXT PRIMARY KEY NOT NULL,
    media_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    content BLOB NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE dossier_documents (
    id BLOB PRIMARY KEY NOT NULL,
    dossier_id BLOB NOT NULL REFERENCES dossiers (id),
    slot TEXT NOT NULL,
    sha256 TEXT NOT NULL REFERENCES stored_files (sha256),
    file_name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    internal BOOLEAN NOT NULL,
    added_by TEXT NOT NULL,
    added_at BIGINT NOT NULL
);
CREATE INDEX dossier_documents_dossier ON dossier_documents (dossier_id);
