-- Agency directory (owned by egov-onestop::directory) and the public
-- procedure catalogue (owned by egov-onestop::catalogue).
CREATE TABLE provinces (
    code TEXT PRIMARY KEY NOT NULL,
    name_vi TEXT NOT NULL,
    name_en TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('city', 'province'))
);

CREATE TABLE agencies (
    code TEXT PRIMARY KEY NOT NULL,
    name_vi TEXT NOT NULL,
    name_en TEXT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('commune', 'province', 'ministry')),
    province_code TEXT REFERENCES provinces (code),
    parent_code TEXT REFERENCES agencies (code)
);

CREATE TABLE procedure_fields (
    code TEXT PRIMARY KEY NOT NULL,
    name_vi TEXT NOT NULL,
    name_en TEXT NOT NULL
);

CREATE TABLE procedures (
    code TEXT PRIMARY KEY NOT NULL,
    name_vi TEXT NOT NULL,
    name_en TEXT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('commune', 'province', 'ministry')),
    field_code TEXT NOT NULL REFERENCES procedure_fields (code),
    fee_vnd BIGINT,
    fee_note TEXT NOT NULL,
    processing_days INTEGER NOT NULL,
    processing_note TEXT NOT NULL,
    online TEXT NOT NULL CHECK (online IN ('full', 'partial')),
    online_note TEXT NOT NULL,
    required_documents TEXT NOT NULL,
    legal_basis TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE procedure_agencies (
    procedure_code TEXT NOT NULL REFERENCES procedures (code) ON DELETE CASCADE,
    agency_code TEXT NOT NULL REFERENCES agencies (code),
    PRIMARY KEY (procedure_code, agency_code)
);
CREATE INDEX procedure_agencies_agency ON procedure_agencies (agency_code);

-- One row; bumped by every change to the catalogue so that each node knows
-- when to rebuild its search index.
CREATE TABLE catalogue_revision (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT INTO catalogue_revision (id, revision) VALUES (1, 0);
