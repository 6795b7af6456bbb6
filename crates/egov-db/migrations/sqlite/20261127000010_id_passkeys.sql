-- Passkeys (egov-id): WebAuthn credentials registered by users, and the
-- ceremonies in progress (the challenge the server expects back, kept
-- server-side and usable once).
CREATE TABLE id_passkeys (
    credential_id TEXT PRIMARY KEY NOT NULL,
    user_id BLOB NOT NULL REFERENCES id_users (id),
    name TEXT NOT NULL,
    passkey TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX id_passkeys_user ON id_passkeys (user_id);

CREATE TABLE id_webauthn_ceremonies (
    id TEXT PRIMARY KEY NOT NULL,
    user_id BLOB,
    purpose TEXT NOT NULL CHECK (purpose IN ('register', 'sign_in', 'second_factor')),
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
