-- Account search for administrators (egov-id): the full name folded
-- (lower case, no diacritics, đ → d), filled by the application.
ALTER TABLE id_users ADD COLUMN search_name TEXT NOT NULL DEFAULT '';
CREATE INDEX id_users_agency ON id_users (agency_code, kind);
