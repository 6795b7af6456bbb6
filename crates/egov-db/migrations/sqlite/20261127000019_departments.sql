-- Departments (phòng, ban, bộ phận) inside an agency. A workflow step names
-- the department that acts at it; an official who belongs to a department
-- sees and acts on the dossiers at that department's steps, and on those
-- assigned to them; an official of no department (a leader, an agency
-- admin) sees the whole agency.
CREATE TABLE onestop_departments (
    agency_code TEXT NOT NULL,
    code TEXT NOT NULL,
    name_vi TEXT NOT NULL,
    name_en TEXT NOT NULL,
    PRIMARY KEY (agency_code, code)
);
-- The official's department code in their agency (sign-in accounts, and the
-- claims the portal keeps from the ID token).
ALTER TABLE id_users ADD COLUMN department TEXT;
ALTER TABLE portal_sessions ADD COLUMN department TEXT;
-- The department of the dossier's current step at its holder; none while it
-- is transferred (the whole receiving agency sees it) or finished.
ALTER TABLE dossiers ADD COLUMN department TEXT;
