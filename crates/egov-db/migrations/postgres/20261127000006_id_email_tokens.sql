-- Single-use links sent by e-mail (egov-id): verifying a new citizen's
-- address and resetting a password. Only the SHA-256 of a token is kept.
-- A registration's password hash waits here until its address is verified,
-- so an unverified account cannot sign in.
CREATE TABLE id_email_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id UUID NOT NULL REFERENCES id_users (id),
    purpose TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    password_hash TEXT,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX id_email_tokens_user ON id_email_tokens (user_id);
