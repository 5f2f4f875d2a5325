//! Records the use cases keep: sellers, orders and their progress, invoices, imports, runs.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use marketbill_domain::{Invoice, InvoiceNumber, OrderId, Refusal, SellerProfile};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

/// Our id of a seller account (the identity provider's subject on AWS).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SellerId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a seller id is 1 to 128 letters, digits, '-' or '_', got {0:?}")]
pub struct SellerIdError(pub String);

impl FromStr for SellerId {
    type Err = SellerIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok { Ok(SellerId(s.to_owned())) } else { Err(SellerIdError(s.to_owned())) }
    }
}

impl SellerId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An id no seller has (`-`): what a look-up that must cost the same as a real one reads.
    pub fn placeholder() -> SellerId {
        SellerId("-".to_owned())
    }
}

impl fmt::Display for SellerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for SellerId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SellerId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// Bytes that travel as base64 in JSON.
pub mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// A secret sealed by envelope encryption: the data key encrypted by the master key (KMS or a
/// local key file), the secret encrypted by the data key (AES-256-GCM).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecret {
    /// Which master key sealed the data key.
    pub key_id: String,
    #[serde(with = "b64")]
    pub encrypted_key: Vec<u8>,
    #[serde(with = "b64")]
    pub nonce: Vec<u8>,
    #[serde(with = "b64")]
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedSecret(key {}, {} bytes)", self.key_id, self.ciphertext.len())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum SellerStatus {
    Active,
    /// No new invoices; downloads stay open until `purge_after`.
    Unsubscribed {
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        #[serde(with = "time::serde::rfc3339")]
        purge_after: OffsetDateTime,
    },
}

/// A seller account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SellerRecord {
    pub seller_id: SellerId,
    pub profile: SellerProfile,
    pub status: SellerStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub registered_at: OffsetDateTime,
    /// Marketplace client id and secret, sealed; never returned by the portal.
    pub credentials: Option<SealedSecret>,
    /// The seller's approved platform (addresses and client credentials), sealed; never
    /// returned. `None`: nothing is transmitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<SealedSecret>,
    /// The problems the seller marked as handled: the order and its problem then
    /// ([`OrderRecord::problem_key`]); hidden from the problems until another one comes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub handled_problems: BTreeMap<OrderId, String>,
    /// When the seller was told its first invoices were out (one mail, once).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub first_invoices_at: Option<OffsetDateTime>,
}

impl SellerRecord {
    pub fn is_active(&self) -> bool {
        self.status == SellerStatus::Active
    }
}

/// Where an order is in its life: each step is recorded so a crash resumes where it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OrderStage {
    /// Refused for a recorded reason (may be looked at again if it can change).
    Skipped,
    /// Numbered and recorded; documents not stored yet.
    Issued,
    /// PDF and XML stored, hashes recorded.
    Stored,
    /// E-mailed to the buyer.
    Mailed,
    /// Uploaded to the marketplace; import running.
    Uploaded,
    /// The marketplace accepted the document.
    Accepted,
    /// The marketplace kept refusing it.
    Rejected,
}

impl OrderStage {
    /// The order's life as a state machine: which stage may follow which. Numbering (`Issued`)
    /// and refusals (`Skipped`) are written by the ledger's own operations, not by a move.
    pub fn can_move_to(self, next: OrderStage) -> bool {
        use OrderStage::*;
        matches!(
            (self, next),
            (Issued, Stored)
                | (Stored, Mailed)
                | (Mailed, Uploaded)
                // A refused file is uploaded again; a seller may retry a rejected one.
                | (Uploaded, Uploaded)
                | (Rejected, Uploaded)
                | (Uploaded, Accepted)
                | (Uploaded, Rejected)
        )
    }
}

/// A move the order's state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("order {order_id} cannot go from {from:?} to {to:?}")]
pub struct StageError {
    pub order_id: OrderId,
    pub from: OrderStage,
    pub to: OrderStage,
}

/// The progress of one order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderRecord {
    pub order_id: OrderId,
    pub stage: OrderStage,
    pub number: Option<InvoiceNumber>,
    pub refusal: Option<Refusal>,
    pub message_id: Option<String>,
    pub import_id: Option<String>,
    pub upload_attempts: u32,
    pub last_error: Option<String>,
    /// Why the invoice was not mailed to the buyer (no address, or one refused as unsafe);
    /// it stays in the problems list, unlike a step error that a later success clears.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_refused: Option<String>,
    /// Keyed hash (HMAC-SHA256) of the buyer's e-mail as the order first came: what a buyer
    /// request is checked against, without asking the marketplace and without keeping the
    /// address itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_email_hash: Option<String>,
    /// The buyer is a business established in France whose SIREN is not known: its invoice
    /// cannot be e-invoiced and is e-reported meanwhile (`reporting::AggregatedAs::
    /// BusinessWithoutSiren`); the mail asked the buyer for it. A problem until a corrected
    /// invoice replaces it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub buyer_siren_missing: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl OrderRecord {
    /// What the order's problem is, as a key (`None`: no problem): its refusal, its step
    /// error, a refused mail, a missing SIREN, a rejected upload.
    pub fn problem_key(&self) -> Option<String> {
        let parts = [
            self.refusal.as_ref().map(|r| format!("refusal:{}", r.code())),
            self.last_error.as_ref().map(|e| format!("error:{e}")),
            self.mail_refused.as_ref().map(|e| format!("mail:{e}")),
            self.buyer_siren_missing.then(|| "siren".to_owned()),
            (self.stage == OrderStage::Rejected).then(|| "rejected".to_owned()),
        ];
        let key: Vec<String> = parts.into_iter().flatten().collect();
        (!key.is_empty()).then(|| key.join("|"))
    }

    /// A problem the seller has not marked as handled (`handled`: the seller's marks).
    pub fn is_open_problem(&self, handled: &BTreeMap<OrderId, String>) -> bool {
        self.problem_key().is_some_and(|k| handled.get(&self.order_id) != Some(&k))
    }

    /// The record of an order the atomic issue has just numbered.
    pub fn issued(order_id: &OrderId, number: &InvoiceNumber, at: OffsetDateTime) -> OrderRecord {
        OrderRecord {
            order_id: order_id.clone(),
            stage: OrderStage::Issued,
            number: Some(number.clone()),
            refusal: None,
            message_id: None,
            import_id: None,
            upload_attempts: 0,
            last_error: None,
            mail_refused: None,
            buyer_email_hash: None,
            buyer_siren_missing: false,
            updated_at: at,
        }
    }

    /// Moves to the next stage (see [`OrderStage::can_move_to`]), stamped `at`.
    pub fn move_to(&mut self, next: OrderStage, at: OffsetDateTime) -> Result<(), StageError> {
        if !self.stage.can_move_to(next) {
            return Err(StageError { order_id: self.order_id.clone(), from: self.stage, to: next });
        }
        self.stage = next;
        self.updated_at = at;
        Ok(())
    }

    /// The same record, carrying the buyer's e-mail hash.
    pub fn with_buyer(mut self, email_hash: Option<&str>) -> OrderRecord {
        self.buyer_email_hash = email_hash.map(str::to_owned);
        self
    }

    /// How far the order has gone, as a number that only grows: a ledger refuses a write that
    /// would lower it (a concurrent run further along). Each upload attempt starts a new round,
    /// so a rejected file that a seller sends again (`Rejected` → `Uploaded`) goes forward.
    pub fn progress(&self) -> u64 {
        u64::from(self.upload_attempts) * 16 + self.stage as u64
    }

    /// Still to be worked on: issued but not finished, or refused for a reason that may change.
    pub fn is_open(&self) -> bool {
        match self.stage {
            OrderStage::Skipped => self.refusal.as_ref().is_some_and(Refusal::may_change),
            OrderStage::Accepted | OrderStage::Rejected => false,
            _ => true,
        }
    }

    pub fn skipped(order_id: &OrderId, refusal: Refusal, at: OffsetDateTime) -> OrderRecord {
        OrderRecord {
            order_id: order_id.clone(),
            stage: OrderStage::Skipped,
            number: None,
            refusal: Some(refusal),
            message_id: None,
            import_id: None,
            upload_attempts: 0,
            last_error: None,
            mail_refused: None,
            buyer_email_hash: None,
            buyer_siren_missing: false,
            updated_at: at,
        }
    }
}

/// Where a document was stored, with its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredObject {
    pub key: String,
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
    pub size: u64,
}

/// A numbered document, frozen, with where its files are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceRecord {
    pub seller_id: SellerId,
    pub order_id: OrderId,
    pub invoice: Invoice,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    pub pdf: Option<StoredObject>,
    pub xml: Option<StoredObject>,
    /// The delivery steps of a document that has no order record of its own: a credit note's
    /// (an invoice's steps are its order's, [`OrderStage`]). `None` for invoices, and for
    /// credit notes numbered before the steps were kept (delivered once their files are stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<DocumentSteps>,
}

impl InvoiceRecord {
    /// The record of a freshly numbered document (its files are stored later); a credit note
    /// starts its own delivery steps.
    pub fn new(seller_id: &SellerId, order_id: &OrderId, invoice: Invoice, issued_at: OffsetDateTime) -> InvoiceRecord {
        let steps = invoice.kind.is_credit_note().then(DocumentSteps::default);
        InvoiceRecord {
            seller_id: seller_id.clone(),
            order_id: order_id.clone(),
            invoice,
            issued_at,
            pdf: None,
            xml: None,
            steps,
        }
    }

    /// Whether the document still has a delivery step to take (a credit note numbered, not yet
    /// stored, mailed or attached as asked).
    pub fn undelivered(&self) -> bool {
        match &self.steps {
            Some(steps) => self.pdf.is_none() || steps.mail.is_none() || steps.attach == Attach::Pending,
            None => self.pdf.is_none() && self.invoice.kind.is_credit_note(),
        }
    }
}

/// How a document's mail went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum MailOutcome {
    /// Sent: the provider's message id.
    #[serde(rename_all = "camelCase")]
    Sent { message_id: String },
    /// Not sent and never will be automatically (no address, or one refused as unsafe): why.
    Refused { reason: String },
}

/// Whether a credit note is attached to its order on the marketplace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Attach {
    /// Not decided yet (decided when it is mailed).
    #[default]
    Pending,
    /// Not attached: the order keeps its invoice (the default, or the order's invoice is a
    /// newer one — a correction's credit note).
    No,
    /// Attached: it replaced the document of the order.
    Done,
}

/// A credit note's delivery, step by step, recorded on the document (files: its `pdf`/`xml`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentSteps {
    /// How its mail went; `None`: not mailed yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<MailOutcome>,
    #[serde(default)]
    pub attach: Attach,
}

/// What a flow handed to the platform carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum TransmissionSubject {
    /// An e-invoice (an invoice or a credit note to a business established in France).
    Document { number: String },
    /// The e-reporting of a period (`2026-11`, `2026-11-D1`…), its version (1 initial, 2 and
    /// more replace it) and the SHA-256 of what it reported (a change asks for a new version).
    Report { period: String, version: u32, content: String },
}

/// Where a flow stands at the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TransmissionState {
    /// About to be submitted (a crash here is resolved by looking the tracking id up).
    Submitting,
    /// Submitted; not acknowledged yet.
    Submitted,
    /// Taken in by the platform.
    Accepted,
    /// Not taken in (acknowledged in error), or rejected/refused in its lifecycle.
    Rejected,
    /// Not handed over yet, for a reason the seller or the buyer can mend (`reason` holds its
    /// code: `notInDirectory`, the buyer's SIREN has no enabled line in the directory); looked
    /// at again at each pass.
    Held,
}

/// A flow handed to the seller's platform, as we track it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransmissionRecord {
    /// Ours (≤ 64 characters): the document number, or the report's id.
    pub tracking_id: String,
    pub subject: TransmissionSubject,
    pub flow_id: Option<String>,
    pub state: TransmissionState,
    /// The latest lifecycle status (200 deposited … 213 rejected), for an e-invoice.
    #[serde(default)]
    pub lifecycle: Option<u16>,
    /// Why it was rejected or refused, in the platform's or the buyer's words (with the code).
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A marketplace import we wait for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportRecord {
    pub import_id: String,
    pub order_ids: Vec<OrderId>,
    pub status: ImportStatus,
    pub polls: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl ImportRecord {
    pub fn is_pending(&self) -> bool {
        self.status == ImportStatus::Running
    }
}

/// What one seller run did (one record per run, for operators and the portal).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    pub started_at: String,
    pub finished_at: String,
    pub orders_seen: u64,
    pub issued: u64,
    pub mailed: u64,
    pub uploaded: u64,
    pub skipped: u64,
    pub failed: u64,
    pub complete: bool,
    /// Why the run could not look at the marketplace at all (the account is not ready).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_run: Option<NotRun>,
}

/// Why a seller's run did nothing: the state of the account, not a fault. Each seller of a
/// cycle is run on its own: one in such a state is reported and the others are invoiced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NotRun {
    /// No such account (deleted since the run was queued).
    NoSuchSeller,
    /// The seller unsubscribed: no new invoices.
    Unsubscribed,
    /// The company data is saved, the marketplace credentials not yet (between two steps of
    /// the onboarding).
    NoCredentials,
    /// The marketplace refuses the saved credentials (revoked or changed since).
    CredentialsRefused,
}

impl NotRun {
    /// The code pages and logs use (`noCredentials`…).
    pub fn code(self) -> &'static str {
        match self {
            NotRun::NoSuchSeller => "noSuchSeller",
            NotRun::Unsubscribed => "unsubscribed",
            NotRun::NoCredentials => "noCredentials",
            NotRun::CredentialsRefused => "credentialsRefused",
        }
    }
}

/// Where a buyer's request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RequestStatus {
    /// Waiting for the invoice: its data is used when the invoice is issued.
    Pending,
    /// Carried out (the corrected invoice was issued).
    Done,
}

/// Where a marketplace import stands (the marketplace's own words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportStatus {
    Running,
    Success,
    PartialSuccess,
    Failure,
}

impl ImportStatus {
    pub fn is_final(self) -> bool {
        !matches!(self, ImportStatus::Running)
    }
}

/// A buyer's request for an invoice with other billing data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuyerRequestRecord {
    pub request_id: String,
    pub order_id: OrderId,
    pub billing: marketbill_domain::BuyerBillingData,
    pub status: RequestStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// What the request led to, once carried out: the credit note and the corrected invoice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice: Option<String>,
}

/// Which invoices to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvoiceQuery {
    pub from: Option<time::Date>,
    pub to: Option<time::Date>,
    pub credit_notes: Option<bool>,
    pub order_id: Option<String>,
    /// The last number of the previous page.
    pub after: Option<String>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InvoicePage {
    pub items: Vec<InvoiceRecord>,
    /// Pass as `after` to get the next page.
    pub next: Option<String>,
}

/// The Paris day of an instant, `2026-11-21`.
pub fn day_key(at: OffsetDateTime) -> String {
    marketbill_domain::calendar::iso_date(marketbill_domain::calendar::paris_date(at))
}

/// Whether an invoice record passes a query's filters (paging aside).
pub fn invoice_matches(rec: &InvoiceRecord, q: &InvoiceQuery) -> bool {
    let d = rec.invoice.issue_date;
    q.from.is_none_or(|f| d >= f)
        && q.to.is_none_or(|t| d <= t)
        && q.credit_notes.is_none_or(|c| c == rec.invoice.kind.is_credit_note())
        && q.order_id.as_ref().is_none_or(|o| o == rec.order_id.as_str())
}
