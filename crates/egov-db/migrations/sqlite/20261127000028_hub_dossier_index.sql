-- The national index of dossiers (egov-gateway::national), kept by the hub
-- as the national public service portal: each instance's one-stop shop
-- reports every change of a dossier's status through the gateway; the
-- newest revision wins, so a report delivered twice or late changes nothing.
CREATE TABLE hub_dossier_index (
    code TEXT PRIMARY KEY NOT NULL,
    -- The reporting instance's member (INSTANCE/CLASS/MEMBER).
    member TEXT NOT NULL,
    agency TEXT NOT NULL,
    procedure_code TEXT NOT NULL,
    channel TEXT NOT NULL,
    state TEXT NOT NULL,
    revision INTEGER NOT NULL,
    changed_at BIGINT NOT NULL,
    reported_at BIGINT NOT NULL
);
CREATE INDEX hub_dossier_index_member ON hub_dossier_index (member, state);
