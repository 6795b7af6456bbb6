-- Consent (egov-id): the scopes a user granted to a third-party client.
-- First-party clients (the instance's own services) never ask.
CREATE TABLE id_consents (
    user_id UUID NOT NULL REFERENCES id_users (id),
    client_id TEXT NOT NULL REFERENCES id_clients (client_id),
    scope TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
