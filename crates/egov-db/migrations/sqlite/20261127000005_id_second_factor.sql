-- Second factors of central sign-in (egov-id): TOTP secrets with the last
-- step used (replay protection), single-use recovery codes, and sign-ins
-- that passed the password and wait for their second factor.
ALTER TABLE id_users ADD COLUMN totp_secret TEXT;
ALTER TABLE id_users ADD COLUMN totp_last_step BIGINT;

CREATE TABLE id_recovery_codes (
    user_id BLOB NOT NULL REFERENCES id_users (id),
    code_hash TEXT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE id_pending_logins (
    id TEXT PRIMARY KEY NOT NULL,
    user_id BLOB NOT NULL REFERENCES id_users (id),
    totp_secret TEXT,
    attempts INT NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL
);
