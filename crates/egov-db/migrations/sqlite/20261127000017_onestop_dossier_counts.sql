-- What statistics count per dossier without reading its step log
-- (egov-onestop::dossier): supplement requests, transfers to another
-- agency, the applicant's rating, and fees paid.
ALTER TABLE dossiers ADD COLUMN supplements INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dossiers ADD COLUMN transfers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dossiers ADD COLUMN rating INTEGER;
ALTER TABLE dossiers ADD COLUMN rating_comment TEXT;
ALTER TABLE dossiers ADD COLUMN fee_paid_vnd BIGINT NOT NULL DEFAULT 0;
CREATE INDEX dossiers_submitted ON dossiers (submitted_at);
