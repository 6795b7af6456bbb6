-- Result documents (egov-onestop::dossier::result): each agency's signing
-- key held by the instance, and the signed result of each dossier, kept in
-- stored_files by its SHA-256. A revoked result stays, marked.
CREATE TABLE agency_signing_keys (
    key_id TEXT PRIMARY KEY NOT NULL,
    agency_code TEXT NOT NULL,
    private_pem TEXT NOT NULL,
    public_pem TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);
CREATE INDEX agency_signing_keys_agency ON agency_signing_keys (agency_code);

CREATE TABLE dossier_results (
    id BLOB PRIMARY KEY NOT NULL,
    dossier_id BLOB NOT NULL UNIQUE REFERENCES dossiers (id),
    document_number TEXT NOT NULL,
    sha256 TEXT NOT NULL REFERENCES stored_files (sha256),
    key_id TEXT NOT NULL REFERENCES agency_signing_keys (key_id),
    signature TEXT NOT NULL,
    signed_by TEXT NOT NULL,
    signed_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_by TEXT,
    revoked_reason TEXT
);
