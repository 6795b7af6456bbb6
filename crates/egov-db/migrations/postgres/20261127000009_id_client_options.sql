-- Client options of egov-id: pairwise subject identifiers per sector,
-- private_key_jwt client authentication (the client's public JWKS and the
-- assertion ids already used) and back-channel logout; an instance secret
-- for pairwise identifiers.
ALTER TABLE id_clients ADD COLUMN subject_type TEXT NOT NULL DEFAULT 'public'
    CHECK (subject_type IN ('public', 'pairwise'));
ALTER TABLE id_clients ADD COLUMN sector_identifier TEXT;
ALTER TABLE id_clients ADD COLUMN jwks TEXT;
ALTER TABLE id_clients ADD COLUMN backchannel_logout_uri TEXT;

CREATE TABLE id_client_assertions (
    client_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);

CREATE TABLE id_instance_secrets (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Back-channel logout looks up the clients a session signed in to.
CREATE INDEX id_auth_codes_session ON id_auth_codes (session_id);
