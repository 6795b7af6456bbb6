-- Central sign-in (egov-id): accounts, OIDC clients, signing keys,
-- browser sessions, authorization codes, tokens and sign-in throttling.
CREATE TABLE id_users (
    id BLOB PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('citizen', 'official')),
    personal_id TEXT NOT NULL UNIQUE,
    full_name TEXT NOT NULL,
    email TEXT UNIQUE,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    phone_number TEXT,
    birthdate TEXT,
    gender TEXT,
    agency_code TEXT,
    roles TEXT NOT NULL DEFAULT '',
    password_hash TEXT,
    locked BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE id_clients (
    client_id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    secret_hash TEXT,
    redirect_uris TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    scopes TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    signing_alg TEXT NOT NULL,
    first_party BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);

CREATE TABLE id_signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    private_pem TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('next', 'active', 'retired')),
    created_at BIGINT NOT NULL,
    retire_after BIGINT
);

CREATE TABLE id_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id BLOB NOT NULL REFERENCES id_users (id),
    acr TEXT NOT NULL,
    amr TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ip TEXT,
    user_agent TEXT,
    revoked BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX id_sessions_user ON id_sessions (user_id);

CREATE TABLE id_auth_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES id_clients (client_id),
    user_id BLOB NOT NULL REFERENCES id_users (id),
    session_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE TABLE id_refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    family_id BLOB NOT NULL,
    client_id TEXT NOT NULL,
    user_id BLOB NOT NULL,
    session_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    code_hash TEXT,
    family_expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX id_refresh_tokens_family ON id_refresh_tokens (family_id);

CREATE TABLE id_access_tokens (
    jti BLOB PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    user_id BLOB,
    family_id BLOB,
    code_hash TEXT,
    scope TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX id_access_tokens_family ON id_access_tokens (family_id);
CREATE INDEX id_access_tokens_code ON id_access_tokens (code_hash);

CREATE TABLE id_throttle (
    throttle_key TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    window_start BIGINT NOT NULL
);
