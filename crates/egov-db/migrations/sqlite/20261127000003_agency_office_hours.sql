-- Office hours per agency (egov-onestop::directory), in the form
-- 07:30-11:30,13:30-17:00; working-hour deadlines count only these hours.
ALTER TABLE agencies ADD COLUMN office_hours TEXT NOT NULL DEFAULT '07:30-11:30,13:30-17:00';
