-- The portal's own sessions (egov-portal), made when the central sign-in
-- hands the portal an ID token. Keyed by the SHA-256 of the cookie; `sid`
-- is the sign-in session's, so a back-channel logout can end them.
CREATE TABLE portal_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    subject TEXT NOT NULL,
    name TEXT NOT NULL,
    acr TEXT NOT NULL,
    sid TEXT NOT NULL,
    id_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX portal_sessions_sid ON portal_sessions (sid);
