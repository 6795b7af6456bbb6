-- Indexes for the back office at scale (egov-onestop::dossier). A queue
-- page reads an agency's dossiers in appointment order and stops after a
-- page. A period's statistics read only dossiers_counts, grouped in its
-- order (agency, procedure), never the wide rows.
CREATE INDEX dossiers_holder_due ON dossiers (holder_agency, due_at, code);
DROP INDEX dossiers_submitted;
DROP INDEX dossiers_statistics;
CREATE INDEX dossiers_counts ON dossiers (
    agency_code, procedure_code, submitted_at, channel, state, late, paused_at, due_at,
    supplements, transfers, fee_paid_vnd, rating
);
