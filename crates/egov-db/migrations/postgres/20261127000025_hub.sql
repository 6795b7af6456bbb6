-- The federation (egov-gateway): the hub's member registry, certificate
-- authority and signed configuration, and each gateway's membership of a
-- federation.
--
-- The hub of a federation: one row, made by `egov hub init`.
CREATE TABLE hub_state (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    instance TEXT NOT NULL,
    -- The certificate authority that issues member TLS certificates.
    ca_key_pem TEXT NOT NULL,
    ca_cert_pem TEXT NOT NULL,
    -- The key that signs the federation's configuration (Ed25519).
    conf_key_id TEXT NOT NULL,
    conf_private_pem TEXT NOT NULL,
    conf_public_pem TEXT NOT NULL,
    -- Raised by every change; a gateway never goes back to an older one.
    conf_serial BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE hub_members (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- One-time registration tokens, kept only as SHA-256 hashes.
CREATE TABLE hub_registration_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    gateway_id TEXT NOT NULL,
    member_id TEXT NOT NULL REFERENCES hub_members (id),
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE TABLE hub_gateways (
    id TEXT PRIMARY KEY NOT NULL,
    member_id TEXT NOT NULL REFERENCES hub_members (id),
    address TEXT NOT NULL,
    tls_cert_pem TEXT NOT NULL,
    tls_serial TEXT NOT NULL UNIQUE,
    signing_key_id TEXT NOT NULL,
    signing_public_pem TEXT NOT NULL,
    registered_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE hub_subsystems (
    id TEXT PRIMARY KEY NOT NULL,
    gateway_id TEXT NOT NULL REFERENCES hub_gateways (id),
    name TEXT NOT NULL
);

-- This gateway's membership of a federation: one row, made by `egov gateway join`.
CREATE TABLE gateway_federation (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    hub_url TEXT NOT NULL,
    instance TEXT NOT NULL,
    gateway_id TEXT NOT NULL,
    address TEXT NOT NULL,
    -- The hub's configuration key, learnt at joining: the anchor every
    -- configuration is verified against.
    anchor_key_id TEXT NOT NULL,
    anchor_public_pem TEXT NOT NULL,
    ca_cert_pem TEXT NOT NULL,
    tls_key_pem TEXT NOT NULL,
    tls_cert_pem TEXT NOT NULL,
    -- The last valid configuration, as signed, and when it was fetched.
    conf_payload TEXT,
    conf_signature TEXT,
    conf_serial BIGINT,
    conf_fetched_at BIGINT,
    joined_at BIGINT NOT NULL
);
