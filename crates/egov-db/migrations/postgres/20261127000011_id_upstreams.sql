-- Upstream identity providers (egov-id brokering, "Đăng nhập bằng VNeID"):
-- the providers, the sign-ins sent to them and not yet back, and which
-- upstream account is which local account.
CREATE TABLE id_upstreams (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    issuer TEXT NOT NULL,
    client_id TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    scopes TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE id_upstream_states (
    id TEXT PRIMARY KEY NOT NULL,
    upstream_id TEXT NOT NULL REFERENCES id_upstreams (id),
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    params TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE id_upstream_links (
    upstream_id TEXT NOT NULL REFERENCES id_upstreams (id),
    subject TEXT NOT NULL,
    user_id UUID NOT NULL REFERENCES id_users (id),
    linked_at BIGINT NOT NULL,
    PRIMARY KEY (upstream_id, subject)
);
CREATE INDEX id_upstream_links_user ON id_upstream_links (user_id);
