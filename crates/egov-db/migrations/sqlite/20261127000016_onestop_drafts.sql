-- E-forms saved before submission (egov-onestop::dossier): one draft per
-- applicant and procedure, deleted when the dossier is submitted.
CREATE TABLE dossier_drafts (
    applicant_subject TEXT NOT NULL,
    procedure_code TEXT NOT NULL,
    agency_code TEXT NOT NULL,
    form_data TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (applicant_subject, procedure_code)
);
