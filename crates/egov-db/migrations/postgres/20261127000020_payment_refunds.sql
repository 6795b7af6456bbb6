-- Refunds of gateway payments through the gateway's merchant API
-- (egov-onestop::dossier::payment): one row per refund request, named by the
-- vnp_RequestId it is sent with. A request whose answer was lost or not
-- trusted stays 'sent' and is sent again with the same id, so the gateway can
-- tell a retry from a second refund; only a signed refusal makes it 'failed',
-- after which a new request may be made. At most one request per payment is
-- in flight or done.
CREATE TABLE dossier_payment_refunds (
    id UUID PRIMARY KEY NOT NULL,
    payment_id UUID NOT NULL REFERENCES dossier_payments (id),
    request_id TEXT NOT NULL UNIQUE,
    amount_vnd BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('sent', 'refunded', 'failed')),
    -- The gateway's last signed vnp_ResponseCode, and its number for the refund.
    response_code TEXT,
    gateway_transaction TEXT,
    requested_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    settled_at BIGINT
);
CREATE UNIQUE INDEX dossier_payment_refunds_open ON dossier_payment_refunds (payment_id)
    WHERE status <> 'failed';
