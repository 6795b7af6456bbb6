//! Paying a dossier's fee: through the redirect payment gateway (its signed
//! return and IPN calls settle the payment, idempotently), or by a bank
//! transfer with the VietQR code, matched to the dossier by the dossier
//! code in the transfer note when the bank notifies the transfer or an
//! official imports the statement. A refused or stopped dossier's paid fees
//! are marked to be refunded: a gateway payment through the gateway's
//! refund API (only its signed success marks it refunded), a bank transfer
//! by hand (the official transfers it back and records it).

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use egov_db::{DbError, audit};
use egov_payments::gateway::{
    self, Callback, GatewayConfig, IpnReply, Locale, MerchantApiClient, NewPayment, NewRefund, PaymentOutcome,
    RefundKind, RefundRequest,
};
use egov_payments::vietqr::{VietQr, fold_vietnamese_diacritics};
use serde_json::json;

use super::domain::{DossierCode, State};
use super::store::{self, DossierRow, EventRow, GatewayRefundRow, PaymentRow};
use super::transition::situation;
use super::{Actor, Applicant, DossierError, Dossiers};

/// The agency account that VietQR transfers go to.
#[derive(Debug, Clone)]
pub struct BankAccount {
    /// The bank's 6-digit BIN (e.g. 970415 for VietinBank).
    pub bin: String,
    pub account_number: String,
    pub account_name: String,
}

/// How this instance takes fees.
#[derive(Debug, Clone, Default)]
pub struct PaymentSettings {
    pub gateway: Option<GatewayConfig>,
    /// The client for the gateway's merchant API (refunds).
    pub merchant_api: Option<MerchantApiClient>,
    pub bank: Option<BankAccount>,
    /// The secret the bank signs transfer notifications with.
    pub bank_notification_secret: Option<Vec<u8>>,
}

/// A VietQR code to pay a dossier's fee.
#[derive(Debug, Clone)]
pub struct TransferCode {
    pub amount_vnd: i64,
    pub account: BankAccount,
    pub note: String,
    pub svg: String,
}

/// What became of a bank transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferMatch {
    /// Paid the fee of this dossier.
    Paid(String),
    /// Seen before (the same bank reference).
    Duplicate,
    /// No dossier with an unpaid fee of that amount is named in the note.
    Unmatched,
}

/// What the payer still owes.
fn due(row: &DossierRow) -> i64 {
    (row.fee_vnd - row.fee_paid_vnd).max(0)
}

/// Whether a fee may still be paid in this state.
fn payable(state: State) -> bool {
    !state.is_final()
}

impl Dossiers {
    /// The same service, taking fees as `settings` say.
    #[must_use]
    pub fn with_payments(mut self, settings: PaymentSettings) -> Dossiers {
        self.payments = std::sync::Arc::new(settings);
        self
    }

    pub fn payment_settings(&self) -> &PaymentSettings {
        &self.payments
    }

    /// The VietQR code for the fee still due, if the instance takes
    /// transfers and something is due.
    pub async fn transfer_code(&self, applicant: &Applicant, code: &str) -> Result<Option<TransferCode>, DossierError> {
        let row = self.visible(&Actor::Applicant(applicant.clone()), code).await?;
        let amount = due(&row);
        let Some(account) = self.payments.bank.clone() else {
            return Ok(None);
        };
        if amount == 0 || !payable(situation(&row).state) {
            return Ok(None);
        }
        let qr = VietQr::new(&account.bin, &account.account_number, Some(amount), &row.code)
            .map_err(|_| DossierError::BadRequest("the bank account settings do not make a VietQR code"))?;
        let svg = qr
            .to_svg()
            .map_err(|_| DossierError::BadRequest("the VietQR code cannot be drawn"))?;
        Ok(Some(TransferCode {
            amount_vnd: amount,
            note: qr.transfer_note().to_owned(),
            account,
            svg,
        }))
    }

    /// Starts paying the fee due through the gateway; returns the address
    /// to send the payer's browser to.
    pub async fn start_gateway_payment(
        &self,
        applicant: &Applicant,
        code: &str,
        client_ip: IpAddr,
        english: bool,
    ) -> Result<String, DossierError> {
        let config = self
            .payments
            .gateway
            .clone()
            .ok_or(DossierError::BadRequest("no payment gateway is configured"))?;
        let row = self.visible(&Actor::Applicant(applicant.clone()), code).await?;
        let amount = due(&row);
        if amount == 0 || !payable(situation(&row).state) {
            return Err(DossierError::BadRequest("nothing is due"));
        }
        let now = self.now();
        let attempt = store::payments(&self.db, row.id).await?.len() + 1;
        let reference = format!("{}-{attempt}", row.code);
        let request = gateway::PaymentRequest::try_from(NewPayment {
            payment_reference: reference.clone(),
            amount_vnd: amount,
            order_info: format!("Nop phi ho so {}", row.code),
            order_type: "billpayment".to_owned(),
            locale: if english { Locale::English } else { Locale::Vietnamese },
            client_ip,
            created_at: now,
            expires_at: now + Duration::minutes(15),
        })
        .map_err(|_| DossierError::BadRequest("the payment cannot be described to the gateway"))?;
        let mut tx = self.db.begin().await?;
        store::insert_payment(
            &mut tx,
            &PaymentRow {
                id: egov_core::id::new_id(),
                dossier_id: row.id,
                reference: reference.clone(),
                method: "gateway".to_owned(),
                amount_vnd: amount,
                status: "pending".to_owned(),
                gateway_transaction: None,
                created_at: now.timestamp_millis(),
                settled_at: None,
            },
        )
        .await?;
        audit::record(
            &mut tx,
            &audit::AuditEntry {
                actor: &applicant.subject,
                action: "onestop.payment_started",
                subject: &format!("dossier:{}", row.code),
                detail: json!({ "reference": reference, "amount_vnd": amount }),
                ip: None,
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(gateway::payment_url(&config, &request))
    }

    /// A signed call from the gateway (the IPN, or the payer's return):
    /// checks the signature, the payment and the amount, and settles the
    /// payment once. Returns the reply the protocol expects and the dossier
    /// concerned; every rejection is logged and audited.
    pub async fn gateway_callback(&self, pairs: &[(String, String)]) -> Result<(IpnReply, Option<String>), DbError> {
        let Some(config) = &self.payments.gateway else {
            return Ok((IpnReply::UnknownError, None));
        };
        let callback = match gateway::verify_callback(&config.hash_secret, pairs) {
            Ok(callback) => callback,
            Err(error) => {
                self.reject_callback("bad_signature", &error.to_string(), pairs).await?;
                return Ok((IpnReply::for_callback_error(&error), None));
            }
        };
        let Some(payment) = store::payment_by_reference(&self.db, &callback.payment_reference).await? else {
            self.reject_callback("unknown_payment", &callback.payment_reference, pairs)
                .await?;
            return Ok((IpnReply::OrderNotFound, None));
        };
        let code = payment.reference.rsplit_once('-').map(|(code, _)| code.to_owned());
        if callback.amount_vnd != payment.amount_vnd {
            self.reject_callback(
                "wrong_amount",
                &format!("{} ≠ {}", callback.amount_vnd, payment.amount_vnd),
                pairs,
            )
            .await?;
            return Ok((IpnReply::InvalidAmount, code));
        }
        if payment.status != "pending" {
            return Ok((IpnReply::OrderAlreadyConfirmed, code));
        }
        self.settle(&payment, &callback).await?;
        Ok((IpnReply::ConfirmSuccess, code))
    }

    async fn settle(&self, payment: &PaymentRow, callback: &Callback) -> Result<(), DbError> {
        let now = self.now();
        let status = match callback.outcome() {
            PaymentOutcome::Succeeded => "paid",
            PaymentOutcome::CancelledByPayer => "cancelled",
            PaymentOutcome::Failed { .. } => "failed",
        };
        let mut tx = self.db.begin().await?;
        let settled = store::settle_payment(
            &mut tx,
            &payment.reference,
            status,
            callback.gateway_transaction_no.as_deref(),
            now.timestamp_millis(),
        )
        .await?;
        if !settled {
            // A concurrent call settled it first.
            tx.rollback().await?;
            return Ok(());
        }
        if status == "paid" {
            self.record_paid(
                &mut tx,
                payment.dossier_id,
                payment.amount_vnd,
                "gateway",
                &payment.reference,
            )
            .await?;
        }
        audit::record(
            &mut tx,
            &audit::AuditEntry {
                actor: "gateway",
                action: "onestop.payment_settled",
                subject: &format!("payment:{}", payment.reference),
                detail: json!({
                    "status": status,
                    "amount_vnd": payment.amount_vnd,
                    "response_code": callback.response_code,
                    "transaction": callback.gateway_transaction_no,
                }),
                ip: None,
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds a paid amount to a dossier, with its step-log line, in `tx`.
    async fn record_paid(
        &self,
        tx: &mut egov_db::Tx,
        dossier_id: uuid::Uuid,
        amount_vnd: i64,
        method: &str,
        reference: &str,
    ) -> Result<(), DbError> {
        store::add_paid(tx, dossier_id, amount_vnd).await?;
        let state = store::dossier_state(tx, dossier_id).await?;
        store::insert_event(
            tx,
            &EventRow {
                id: egov_core::id::new_id(),
                dossier_id,
                at: self.now().timestamp_millis(),
                actor: method.to_owned(),
                actor_name: String::new(),
                agency_code: None,
                action: "payment".to_owned(),
                from_state: Some(state.0.clone()),
                to_state: state.0,
                step: state.1,
                note: format!(
                    "{} ({method}, {reference})",
                    egov_core::money::Vnd::new(amount_vnd).format_vi()
                ),
            },
        )
        .await
    }

    async fn reject_callback(&self, reason: &str, detail: &str, pairs: &[(String, String)]) -> Result<(), DbError> {
        tracing::warn!(reason, detail, "Payment callback rejected");
        let reference = pairs
            .iter()
            .find(|(key, _)| key == "vnp_TxnRef")
            .map_or("", |(_, value)| value.as_str());
        let mut tx = self.db.begin().await?;
        audit::record(
            &mut tx,
            &audit::AuditEntry {
                actor: "gateway",
                action: "onestop.payment_callback_rejected",
                subject: &format!("payment:{reference}"),
                detail: json!({ "reason": reason, "detail": detail }),
                ip: None,
            },
            self.now(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A transfer credited to the agency's account, from the bank's signed
    /// notification or an imported statement: pays the fee of the dossier
    /// whose code the note carries, if the amount is what is due.
    pub async fn bank_transfer(
        &self,
        transfer: &egov_payments::bank::Transfer,
        imported_by: &str,
    ) -> Result<TransferMatch, DossierError> {
        let dossier = transfer
            .note
            .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
            .find_map(DossierCode::parse);
        let row = match &dossier {
            Some(code) => store::by_code(&self.db, code.as_str()).await?,
            None => None,
        };
        let matched = row
            .as_ref()
            .filter(|row| due(row) == transfer.amount_vnd && payable(situation(row).state));
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let new = store::insert_statement_line(
            &mut tx,
            &transfer.bank_reference,
            &transfer.value_date,
            transfer.amount_vnd,
            &transfer.note,
            matched.map(|row| row.code.as_str()),
            imported_by,
            now.timestamp_millis(),
        )
        .await?;
        if !new {
            tx.rollback().await?;
            return Ok(TransferMatch::Duplicate);
        }
        let Some(row) = matched else {
            audit::record(
                &mut tx,
                &audit::AuditEntry {
                    actor: imported_by,
                    action: "onestop.transfer_unmatched",
                    subject: &format!("bank:{}", transfer.bank_reference),
                    detail: json!({ "amount_vnd": transfer.amount_vnd, "note": transfer.note }),
                    ip: None,
                },
                now,
            )
            .await?;
            tx.commit().await?;
            return Ok(TransferMatch::Unmatched);
        };
        let reference = format!("bank:{}", transfer.bank_reference);
        store::insert_payment(
            &mut tx,
            &PaymentRow {
                id: egov_core::id::new_id(),
                dossier_id: row.id,
                reference: reference.clone(),
                method: "vietqr".to_owned(),
                amount_vnd: transfer.amount_vnd,
                status: "paid".to_owned(),
                gateway_transaction: Some(transfer.bank_reference.clone()),
                created_at: now.timestamp_millis(),
                settled_at: Some(now.timestamp_millis()),
            },
        )
        .await?;
        self.record_paid(&mut tx, row.id, transfer.amount_vnd, "vietqr", &reference)
            .await?;
        audit::record(
            &mut tx,
            &audit::AuditEntry {
                actor: imported_by,
                action: "onestop.payment_settled",
                subject: &format!("payment:{reference}"),
                detail: json!({ "status": "paid", "amount_vnd": transfer.amount_vnd, "dossier": row.code }),
                ip: None,
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(TransferMatch::Paid(row.code.clone()))
    }
}

/// How recording a refund went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    /// Every fee due back was refunded (through the gateway if it was paid
    /// through it, by hand otherwise); the amount, 0 if a racing request
    /// did it first.
    Refunded(i64),
    /// A refund through the gateway did not go through: the fee is still due
    /// back, and recording the refund again is safe.
    GatewayFailed(RefundFailure),
}

/// Why a refund through the gateway did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundFailure {
    /// This instance has no gateway (any more) to refund through.
    NotConfigured,
    /// The gateway refused, with its signed code and message; nothing was
    /// refunded, and the next attempt is a new request.
    Refused { response_code: String, message: String },
    /// The gateway already has this request (its code 94); the next attempt
    /// sends the same request again.
    InProgress,
    /// No answer, or none that can be trusted: the gateway may or may not
    /// have refunded, so the next attempt sends the same request again, and
    /// the gateway answers it without refunding twice.
    NoTrustedAnswer,
}

impl RefundFailure {
    fn reason(&self) -> &'static str {
        match self {
            RefundFailure::NotConfigured => "not_configured",
            RefundFailure::Refused { .. } => "refused",
            RefundFailure::InProgress => "in_progress",
            RefundFailure::NoTrustedAnswer => "no_trusted_answer",
        }
    }
}

/// The official's name as the gateway takes it in `vnp_CreateBy`: plain
/// letters, digits and spaces.
fn refund_author(official: &super::Official) -> String {
    let folded = fold_vietnamese_diacritics(&official.name);
    let plain: String = folded
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() {
                character
            } else {
                ' '
            }
        })
        .collect();
    let words: Vec<&str> = plain.split_whitespace().collect();
    let author: String = words.join(" ").chars().take(255).collect();
    if author.is_empty() { "egov".to_owned() } else { author }
}

impl Dossiers {
    /// The desk records that the fees due back (the dossier was refused or
    /// stopped) were refunded to the payer. A fee paid through the gateway
    /// is refunded through the gateway's refund API first, and counts as
    /// refunded only on its signed success; a bank transfer is transferred
    /// back by the official, who records it here.
    pub async fn record_refund(
        &self,
        official: &super::Official,
        code: &str,
        client_ip: IpAddr,
    ) -> Result<RefundOutcome, DossierError> {
        let actor = Actor::Official(official.clone());
        let row = self.visible(&actor, code).await?;
        if official.agency_code != row.agency_code
            || !(official.has(super::Role::Receiver) || official.has(super::Role::Leader))
        {
            return Err(DossierError::Forbidden(
                "the receiving agency's desk or leader records refunds",
            ));
        }
        let due_back: Vec<PaymentRow> = store::payments(&self.db, row.id)
            .await?
            .into_iter()
            .filter(|payment| payment.status == "refund_due")
            .collect();
        if due_back.is_empty() {
            return Err(DossierError::BadRequest("nothing is due back"));
        }
        let mut refunded = 0;
        for payment in due_back.iter().filter(|payment| payment.method == "gateway") {
            match self.refund_through_gateway(official, &row, payment, client_ip).await? {
                Ok(amount) => refunded += amount,
                Err(failure) => return Ok(RefundOutcome::GatewayFailed(failure)),
            }
        }
        if due_back.iter().any(|payment| payment.method != "gateway") {
            refunded += self.record_refund_by_hand(official, &row).await?;
        }
        Ok(RefundOutcome::Refunded(refunded))
    }

    /// Records the refund of the fees due back that were not paid through
    /// the gateway; returns the amount.
    async fn record_refund_by_hand(&self, official: &super::Official, row: &DossierRow) -> Result<i64, DossierError> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let amount = store::record_refund_by_hand(&mut tx, row.id, now.timestamp_millis()).await?;
        if amount == 0 {
            tx.rollback().await?;
            return Ok(0);
        }
        let note = egov_core::money::Vnd::new(amount).format_vi();
        let detail = json!({ "amount_vnd": amount, "method": "by_hand" });
        self.log_refund(&mut tx, official, row, &note, detail, now).await?;
        tx.commit().await?;
        Ok(amount)
    }

    /// Refunds one gateway payment through the gateway's refund API; the
    /// amount refunded (0 if a racing request did it), or why not.
    ///
    /// The request is named before it is sent: the payment's standing refund
    /// request (`vnp_RequestId`) is stored first, and every attempt sends it
    /// until the gateway gives a signed answer. A lost or forged answer thus
    /// leads to the same request again, which the gateway recognises, never
    /// to a second refund; only a signed refusal lets the next attempt be a
    /// new request.
    async fn refund_through_gateway(
        &self,
        official: &super::Official,
        row: &DossierRow,
        payment: &PaymentRow,
        client_ip: IpAddr,
    ) -> Result<Result<i64, RefundFailure>, DossierError> {
        let (Some(config), Some(api)) = (&self.payments.gateway, &self.payments.merchant_api) else {
            let failure = RefundFailure::NotConfigured;
            self.refund_failed(official, row, payment, None, &failure, "").await?;
            return Ok(Err(failure));
        };
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let refund = store::open_gateway_refund(
            &mut tx,
            &GatewayRefundRow {
                id: egov_core::id::new_id(),
                payment_id: payment.id,
                request_id: egov_core::id::new_id().simple().to_string(),
                amount_vnd: payment.amount_vnd,
                status: "sent".to_owned(),
                response_code: None,
                gateway_transaction: None,
                requested_by: official.subject.clone(),
                created_at: now.timestamp_millis(),
                settled_at: None,
            },
        )
        .await?;
        tx.commit().await?;
        if refund.status == "refunded" {
            // A racing request was refunded first; it marked the payment.
            return Ok(Ok(0));
        }
        let payment_created_at: DateTime<Utc> = DateTime::from_timestamp_millis(payment.created_at)
            .ok_or(DossierError::BadRequest("the payment's creation time is out of range"))?;
        let request = RefundRequest::try_from(NewRefund {
            request_id: refund.request_id.clone(),
            kind: RefundKind::Full,
            payment_reference: payment.reference.clone(),
            amount_vnd: refund.amount_vnd,
            order_info: format!("Hoan phi ho so {}", row.code),
            gateway_transaction_no: payment.gateway_transaction.clone(),
            // The payment's `vnp_CreateDate` was taken from the same instant
            // as its row's creation time.
            payment_created_at,
            created_by: refund_author(official),
            client_ip,
            created_at: now,
        })
        .map_err(|_| DossierError::BadRequest("the refund cannot be described to the gateway"))?;
        let (failure, error) = match api.refund(config, &request).await {
            Ok(gateway::RefundOutcome::Refunded { transaction_no }) => {
                let amount = self
                    .gateway_refunded(official, row, payment, &refund, &transaction_no)
                    .await?;
                return Ok(Ok(amount));
            }
            Ok(gateway::RefundOutcome::AlreadyRequested) => (RefundFailure::InProgress, String::new()),
            Ok(gateway::RefundOutcome::Refused { response_code, message }) => {
                (RefundFailure::Refused { response_code, message }, String::new())
            }
            Err(error) => (RefundFailure::NoTrustedAnswer, error.to_string()),
        };
        self.refund_failed(official, row, payment, Some(&refund), &failure, &error)
            .await?;
        Ok(Err(failure))
    }

    /// The gateway's signed success: the request is settled, the payment
    /// refunded, with its step-log line and audit record, in one
    /// transaction. Returns the amount, 0 if a racing request settled it.
    async fn gateway_refunded(
        &self,
        official: &super::Official,
        row: &DossierRow,
        payment: &PaymentRow,
        refund: &GatewayRefundRow,
        transaction_no: &str,
    ) -> Result<i64, DossierError> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let settled = store::settle_gateway_refund(
            &mut tx,
            &refund.request_id,
            "refunded",
            gateway::refund_code::SUCCESS,
            Some(transaction_no),
            now.timestamp_millis(),
        )
        .await?;
        if !settled || !store::refund_payment(&mut tx, payment.id, now.timestamp_millis()).await? {
            tx.rollback().await?;
            return Ok(0);
        }
        let note = format!(
            "{} (gateway, {}, mã giao dịch hoàn tiền {transaction_no})",
            egov_core::money::Vnd::new(refund.amount_vnd).format_vi(),
            payment.reference
        );
        let detail = json!({
            "amount_vnd": refund.amount_vnd,
            "method": "gateway",
            "payment": payment.reference,
            "request_id": refund.request_id,
            "gateway_transaction": transaction_no,
        });
        self.log_refund(&mut tx, official, row, &note, detail, now).await?;
        tx.commit().await?;
        Ok(refund.amount_vnd)
    }

    /// Audits a refund through the gateway that did not go through; a signed
    /// refusal also closes the request, so that the next attempt is a new one.
    async fn refund_failed(
        &self,
        official: &super::Official,
        row: &DossierRow,
        payment: &PaymentRow,
        refund: Option<&GatewayRefundRow>,
        failure: &RefundFailure,
        error: &str,
    ) -> Result<(), DbError> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let (response_code, message) = match failure {
            RefundFailure::Refused { response_code, message } => {
                if let Some(refund) = refund {
                    store::settle_gateway_refund(
                        &mut tx,
                        &refund.request_id,
                        "failed",
                        response_code,
                        None,
                        now.timestamp_millis(),
                    )
                    .await?;
                }
                (Some(response_code.as_str()), message.as_str())
            }
            RefundFailure::InProgress => (Some(gateway::refund_code::DUPLICATE_REQUEST), ""),
            RefundFailure::NotConfigured | RefundFailure::NoTrustedAnswer => (None, error),
        };
        tracing::warn!(
            reason = failure.reason(),
            response_code,
            error,
            reference = payment.reference,
            "Refund through the gateway did not go through"
        );
        audit::record(
            &mut tx,
            &audit::AuditEntry {
                actor: &official.subject,
                action: "onestop.fee_refund_failed",
                subject: &format!("dossier:{}", row.code),
                detail: json!({
                    "amount_vnd": payment.amount_vnd,
                    "payment": payment.reference,
                    "request_id": refund.map(|refund| refund.request_id.as_str()),
                    "reason": failure.reason(),
                    "response_code": response_code,
                    "message": message,
                }),
                ip: None,
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl Dossiers {
    /// The step-log line and audit record of a refund, in its transaction.
    async fn log_refund(
        &self,
        tx: &mut egov_db::Tx,
        official: &super::Official,
        row: &DossierRow,
        note: &str,
        detail: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let current = situation(row);
        let actor = Actor::Official(official.clone());
        self.log(tx, &actor, row, "refund", Some(current.state), &current, note, now)
            .await?;
        audit::record(
            tx,
            &audit::AuditEntry {
                actor: &official.subject,
                action: "onestop.fee_refunded",
                subject: &format!("dossier:{}", row.code),
                detail,
                ip: None,
            },
            now,
        )
        .await?;
        Ok(())
    }
}
