-- Authenticator apps being set up from "my account" (egov-id): the secret
-- waits here until the user proves the app holds it with a code.
CREATE TABLE id_totp_enrolments (
    id TEXT PRIMARY KEY NOT NULL,
    user_id UUID NOT NULL REFERENCES id_users (id),
    secret TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL
);
