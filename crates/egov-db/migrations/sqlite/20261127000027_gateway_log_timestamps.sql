-- The message log's time-stamps and archives (egov-gateway::log).
--
-- A time-stamp is the hub's signature over the hash of the log's newest
-- record and the time: since each record's hash covers every record
-- before it, one signature dates the whole batch up to `seq`.
CREATE TABLE gateway_log_timestamps (
    seq BIGINT PRIMARY KEY NOT NULL,
    hash TEXT NOT NULL,
    stamped_at BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL
);

-- Archives exported: records up to `last_seq` may be removed by retention.
CREATE TABLE gateway_log_archives (
    id BLOB PRIMARY KEY NOT NULL,
    first_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    exported_at BIGINT NOT NULL
);
