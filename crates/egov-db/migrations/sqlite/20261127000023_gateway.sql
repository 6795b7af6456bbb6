-- The integration platform's gateway (egov-gateway): the subsystems this
-- gateway serves, the services they provide with their access rights, the
-- gateway's signing keys, and its message log.
--
-- Identifiers are stored in their encoded form, INSTANCE/CLASS/MEMBER/SUBSYSTEM,
-- the form X-Road-Client carries.
CREATE TABLE gateway_subsystems (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    -- Who may call through this gateway as the subsystem: 'loopback' (only
    -- systems on this host) or 'open' (any system that reaches the gateway).
    connection TEXT NOT NULL CHECK (connection IN ('loopback', 'open')),
    created_at BIGINT NOT NULL
);

CREATE TABLE gateway_services (
    subsystem_id TEXT NOT NULL REFERENCES gateway_subsystems (id),
    service_code TEXT NOT NULL,
    -- 'local:NAME' (a service of this instance, called in-process) or an
    -- http(s) base URL.
    target TEXT NOT NULL,
    -- The OpenAPI 3 description, as served by getOpenAPI; NULL for a plain REST service.
    openapi TEXT,
    -- JSON list of {"method", "path"} endpoints, for listMethods.
    endpoints TEXT NOT NULL,
    timeout_ms BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (subsystem_id, service_code)
);

CREATE TABLE gateway_access_rights (
    subsystem_id TEXT NOT NULL,
    service_code TEXT NOT NULL,
    -- A member or subsystem id.
    client_id TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (subsystem_id, service_code, client_id),
    FOREIGN KEY (subsystem_id, service_code) REFERENCES gateway_services (subsystem_id, service_code) ON DELETE CASCADE
);

CREATE TABLE gateway_keys (
    key_id TEXT PRIMARY KEY NOT NULL,
    private_pem TEXT NOT NULL,
    public_pem TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);

-- One record per exchange and side: the request and the response as they
-- crossed (canonical head, body, hash, signature and the key that made it),
-- chained: each record's hash covers its fields and the previous record's
-- hash. Records are never changed (the trigger); retention removes the
-- oldest ones after they were archived.
CREATE TABLE gateway_message_log (
    seq BIGINT PRIMARY KEY NOT NULL,
    id BLOB NOT NULL UNIQUE,
    at BIGINT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('consumer', 'provider')),
    message_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    service_id TEXT NOT NULL,
    user_id TEXT,
    issue TEXT,
    request_head TEXT NOT NULL,
    request_body BLOB NOT NULL,
    request_hash TEXT NOT NULL,
    request_key TEXT NOT NULL,
    request_signature TEXT NOT NULL,
    status INTEGER NOT NULL,
    response_head TEXT NOT NULL,
    response_body BLOB NOT NULL,
    response_hash TEXT NOT NULL,
    response_key TEXT NOT NULL,
    response_signature TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX gateway_message_log_at ON gateway_message_log (at);

CREATE TRIGGER gateway_message_log_no_update BEFORE UPDATE ON gateway_message_log
BEGIN
    SELECT RAISE(ABORT, 'the message log is append-only');
END;
