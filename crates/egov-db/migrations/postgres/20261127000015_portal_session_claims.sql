-- What the portal's pages need from the ID token besides the name
-- (egov-portal): the personal ID and e-mail of a citizen, the agency and
-- one-stop roles of an official.
ALTER TABLE portal_sessions ADD COLUMN personal_id TEXT;
ALTER TABLE portal_sessions ADD COLUMN email TEXT;
ALTER TABLE portal_sessions ADD COLUMN agency TEXT;
ALTER TABLE portal_sessions ADD COLUMN roles TEXT NOT NULL DEFAULT '';
