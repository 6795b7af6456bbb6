-- Who in the agency is working on a dossier (egov-onestop::dossier):
-- the assignee's name beside their subject, for the queues.
ALTER TABLE dossiers ADD COLUMN assignee_name TEXT;
CREATE INDEX dossiers_assignee ON dossiers (holder_agency, assignee);
