-- Global groups of the federation (egov-gateway::hub): sets of members or
-- subsystems that access rights can name at once ("every province's
-- one-stop shop"), published in the signed configuration.
CREATE TABLE hub_global_groups (
    code TEXT PRIMARY KEY NOT NULL,
    description TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE hub_global_group_members (
    group_code TEXT NOT NULL REFERENCES hub_global_groups (code) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    PRIMARY KEY (group_code, client_id)
);
