-- Fee payments of dossiers (egov-onestop::dossier::payment): one row per
-- attempt through the payment gateway, or per bank transfer matched to a
-- dossier; and the bank statement lines imported for reconciliation.
CREATE TABLE dossier_payments (
    id UUID PRIMARY KEY NOT NULL,
    dossier_id UUID NOT NULL REFERENCES dossiers (id),
    reference TEXT NOT NULL UNIQUE,
    method TEXT NOT NULL CHECK (method IN ('gateway', 'vietqr')),
    amount_vnd BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'failed', 'cancelled', 'refund_due', 'refunded')),
    gateway_transaction TEXT,
    created_at BIGINT NOT NULL,
    settled_at BIGINT
);
CREATE INDEX dossier_payments_dossier ON dossier_payments (dossier_id);

CREATE TABLE bank_statement_lines (
    bank_reference TEXT PRIMARY KEY NOT NULL,
    value_date TEXT NOT NULL,
    amount_vnd BIGINT NOT NULL,
    note TEXT NOT NULL,
    matched_dossier TEXT,
    imported_by TEXT NOT NULL,
    imported_at BIGINT NOT NULL
);
