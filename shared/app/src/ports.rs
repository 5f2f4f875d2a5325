//! The ports: small traits for every effect on the outside world. Each has an AWS adapter
//! (`marketbill-aws`) and an embedded one (`marketbill-local`); one contract suite
//! (`contract`, feature `contract`) runs on both.

use std::time::Duration;

use async_trait::async_trait;
use marketbill_domain::credit::Credited;
use marketbill_domain::{Draft, Invoice, InvoiceNumber, OrderId, Refusal, Series};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::model::{
    BuyerRequestRecord, DocumentSteps, ImportRecord, InvoicePage, InvoiceQuery, InvoiceRecord, OrderRecord, OrderStage,
    RunRecord, SealedSecret, SellerId, SellerRecord, StoredObject, TransmissionRecord,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("order {order_id} already has invoice {number}")]
    AlreadyIssued { order_id: OrderId, number: String },
    #[error("order {order_id} has no invoice to update")]
    NotIssued { order_id: OrderId },
    #[error("there is no document {number}")]
    UnknownDocument { number: InvoiceNumber },
    /// Another run recorded a later step of this order: this write would have gone back.
    #[error("order {order_id} is already further along ({stage:?})")]
    Superseded { order_id: OrderId, stage: OrderStage },
    /// Another credit note of this invoice was issued meanwhile: what is left has changed.
    #[error("another credit note of invoice {number} was just issued; what is left to credit has changed")]
    CreditConflict { number: InvoiceNumber },
    /// An account's e-mail address is its own: another account holds this one.
    #[error("the address {email} belongs to another account")]
    EmailTaken { email: String },
    #[error("too much contention on series {series}; gave up after {attempts} attempts")]
    Contention { series: String, attempts: u32 },
    #[error("a stored record is unreadable ({what}): {reason}")]
    Corrupt { what: String, reason: String },
    #[error("the ledger is unavailable: {0}")]
    Unavailable(String),
}

impl LedgerError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, LedgerError::Contention { .. } | LedgerError::Unavailable(_))
    }
}

/// The invoice an order's step is recorded under; `NotIssued` when the order has none.
pub fn issued_number(step: &OrderRecord) -> Result<&InvoiceNumber, LedgerError> {
    step.number.as_ref().ok_or_else(|| LedgerError::NotIssued { order_id: step.order_id.clone() })
}

/// State and metering: one table (DynamoDB) or one file (SQLite), seen through one small trait
/// per entity so a use case asks only for what it touches (`&dyn RunLedger`); an adapter
/// implements each, and is then a [`Ledger`] (the whole of it, which `Services` holds).
pub trait Ledger:
    SellerLedger
    + OrderLedger
    + IssuingLedger
    + UsageLedger
    + InvoiceLedger
    + RunLedger
    + ImportLedger
    + RequestLedger
    + KeyLedger
    + TransmissionLedger
{
}

impl<
    T: SellerLedger
        + OrderLedger
        + IssuingLedger
        + UsageLedger
        + InvoiceLedger
        + RunLedger
        + ImportLedger
        + RequestLedger
        + KeyLedger
        + TransmissionLedger
        + ?Sized,
> Ledger for T
{
}

/// Flows handed to the sellers' approved platforms.
#[async_trait]
pub trait TransmissionLedger: Send + Sync {
    /// Records a flow's state (replacing the one of the same tracking id).
    async fn put_transmission(&self, seller: &SellerId, t: &TransmissionRecord) -> Result<(), LedgerError>;
    /// Every flow of a seller, by tracking id.
    async fn transmissions(&self, seller: &SellerId) -> Result<Vec<TransmissionRecord>, LedgerError>;
    /// One flow, by its tracking id (a document's number): what one document's page shows,
    /// without reading every flow of the seller.
    async fn transmission(
        &self,
        seller: &SellerId,
        tracking_id: &str,
    ) -> Result<Option<TransmissionRecord>, LedgerError>;
    /// Where the reading of the platform's flows stopped.
    async fn platform_cursor(&self, seller: &SellerId) -> Result<Option<String>, LedgerError>;
    async fn set_platform_cursor(&self, seller: &SellerId, cursor: &str) -> Result<(), LedgerError>;
}

/// Seller accounts.
#[async_trait]
pub trait SellerLedger: Send + Sync {
    /// Creates or replaces a seller account. Its profile's e-mail address is claimed for it if
    /// no account holds it yet, and the address it had before is let go (if it held it).
    async fn put_seller(&self, seller: &SellerRecord) -> Result<(), LedgerError>;
    async fn get_seller(&self, id: &SellerId) -> Result<Option<SellerRecord>, LedgerError>;
    /// Claims an e-mail address for a seller before its profile takes it: one conditional
    /// write; `EmailTaken` when another account holds it. An address belongs to one account
    /// (the local sign-in finds the account by it).
    async fn claim_email(&self, seller: &SellerId, email: &str) -> Result<(), LedgerError>;
    /// The account that holds this address (compared without case).
    async fn seller_by_email(&self, email: &str) -> Result<Option<SellerId>, LedgerError>;
    /// Sellers whose status is active (the scheduler's index).
    async fn active_sellers(&self) -> Result<Vec<SellerId>, LedgerError>;
    /// Sellers whose status is unsubscribed (for the purge).
    async fn unsubscribed_sellers(&self) -> Result<Vec<SellerRecord>, LedgerError>;
    /// Removes every record of a seller; returns how many were removed.
    async fn delete_seller(&self, id: &SellerId) -> Result<u64, LedgerError>;
}

/// What happened to each marketplace order: refused, or issued and how far delivered.
#[async_trait]
pub trait OrderLedger: Send + Sync {
    async fn get_order(&self, seller: &SellerId, order_id: &OrderId) -> Result<Option<OrderRecord>, LedgerError>;
    /// The records of several orders in one round trip (a listing page's); unknown ones are
    /// absent from the answer.
    async fn get_orders(
        &self,
        seller: &SellerId,
        order_ids: &[OrderId],
    ) -> Result<std::collections::HashMap<OrderId, OrderRecord>, LedgerError>;
    /// Records that an order was refused, unless it already has an invoice. `email_hash`: the
    /// keyed hash of the order's buyer e-mail, kept for buyer requests.
    async fn record_skip(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        refusal: &Refusal,
        email_hash: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<(), LedgerError>;
    /// Records a step of an issued order (stored, mailed, uploaded…). The order must be issued,
    /// and its stage never goes back: when another run recorded a later stage, `Superseded`.
    async fn update_order(&self, seller: &SellerId, record: &OrderRecord) -> Result<(), LedgerError>;
    /// The steps of several orders, each under [`OrderLedger::update_order`]'s rules, in as few
    /// writes as the store allows (one transaction on SQLite, transactions of up to 100 items
    /// on DynamoDB). Returns the ids of the orders another run had taken further (their
    /// records stand); any other refusal fails the call.
    async fn update_orders(&self, seller: &SellerId, records: &[OrderRecord]) -> Result<Vec<OrderId>, LedgerError> {
        update_each(self, seller, records).await
    }
    /// Every order record of a seller (the portal's problems list reads it).
    async fn list_orders(&self, seller: &SellerId) -> Result<Vec<OrderRecord>, LedgerError>;
    /// Orders past `Issued` but not finished, or refused for a reason that may change.
    async fn unfinished_orders(&self, seller: &SellerId) -> Result<Vec<OrderRecord>, LedgerError>;
    /// The seller that owns a marketplace order (index order id → seller).
    async fn find_order_seller(&self, order_id: &OrderId) -> Result<Option<SellerId>, LedgerError>;
}

/// [`OrderLedger::update_orders`] one write per order: the steps recorded, the orders another
/// run had taken further named, any other refusal returned.
pub async fn update_each<L: OrderLedger + ?Sized>(
    ledger: &L,
    seller: &SellerId,
    records: &[OrderRecord],
) -> Result<Vec<OrderId>, LedgerError> {
    let mut superseded = Vec::new();
    for record in records {
        match ledger.update_order(seller, record).await {
            Ok(()) => {}
            Err(LedgerError::Superseded { .. }) => superseded.push(record.order_id.clone()),
            Err(e) => return Err(e),
        }
    }
    Ok(superseded)
}

/// **Issuing**: numbers, frozen documents and metering, each in one atomic write.
#[async_trait]
pub trait IssuingLedger: Send + Sync {
    /// **The atomic issue**: takes the next number of the draft's series, stores the frozen
    /// invoice, marks the order invoiced and adds one to the month's usage — all or nothing.
    /// A second issue for the same order fails with `AlreadyIssued`; no number is skipped or
    /// used twice, whatever runs at the same time.
    /// `email_hash` is kept on the order record (see [`OrderLedger::record_skip`]).
    async fn issue(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        draft: Draft,
        email_hash: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<Invoice, LedgerError>;
    /// A correction: credit note cancelling the order's invoice and a new invoice, in one
    /// atomic write (the order then points to the new invoice, keeping its buyer e-mail hash;
    /// usage counts the new invoice).
    async fn issue_correction(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        credit_note: Draft,
        replacement: Draft,
        at: OffsetDateTime,
    ) -> Result<(Invoice, Invoice), LedgerError>;
    /// What the credit notes of an invoice have taken so far (empty when none).
    async fn credited(&self, seller: &SellerId, invoice: &InvoiceNumber) -> Result<Credited, LedgerError>;
    /// A credit note for part or all of an invoice (the one its draft corrects), in one
    /// atomic write: the next number of its series, the stored document, and the invoice's
    /// credited state moved from `before` to `after` — only if it still is `before`, else
    /// `CreditConflict` and nothing is written. Credit notes are not metered.
    async fn issue_credit_note(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        draft: Draft,
        before: &Credited,
        after: &Credited,
        at: OffsetDateTime,
    ) -> Result<Invoice, LedgerError>;
    /// The last number taken in a series (0 when none).
    async fn series_counter(&self, seller: &SellerId, series: &Series) -> Result<u64, LedgerError>;
}

/// The usage counters the atomic issue keeps, read apart from it: what the usage page, the
/// dashboard and fee billing read, without the power to issue.
#[async_trait]
pub trait UsageLedger: Send + Sync {
    /// Invoices issued in a month (a Paris month: the one of their issue instant).
    async fn usage(&self, seller: &SellerId, month: marketbill_domain::calendar::YearMonth)
    -> Result<u64, LedgerError>;
}

/// Issued documents and where their files are.
#[async_trait]
pub trait InvoiceLedger: Send + Sync {
    async fn get_invoice(
        &self,
        seller: &SellerId,
        number: &InvoiceNumber,
    ) -> Result<Option<InvoiceRecord>, LedgerError>;
    async fn list_invoices(&self, seller: &SellerId, query: &InvoiceQuery) -> Result<InvoicePage, LedgerError>;
    /// Records where an invoice's files are and their SHA-256 (the invoice itself never changes).
    async fn set_documents(
        &self,
        seller: &SellerId,
        number: &InvoiceNumber,
        pdf: &StoredObject,
        xml: &StoredObject,
    ) -> Result<(), LedgerError>;
    /// Records the delivery steps of a document that keeps its own (a credit note), replacing
    /// those recorded; `UnknownDocument` when there is no such document.
    async fn set_steps(
        &self,
        seller: &SellerId,
        number: &InvoiceNumber,
        steps: &DocumentSteps,
    ) -> Result<(), LedgerError>;
    /// [`InvoiceLedger::set_documents`] for the invoice of the order's step, then that step
    /// (storing them, as [`OrderLedger::update_order`] records it) — in one write where the
    /// store allows (a transaction in SQLite), else in that order. `NotIssued` when the step
    /// names no invoice; `Superseded` when another run recorded a later step meanwhile: the
    /// files are recorded all the same.
    async fn set_documents_and_step(
        &self,
        seller: &SellerId,
        pdf: &StoredObject,
        xml: &StoredObject,
        step: &OrderRecord,
    ) -> Result<(), LedgerError>;
}

/// Seller runs: the watermark and the run history.
#[async_trait]
pub trait RunLedger: Send + Sync {
    async fn watermark(&self, seller: &SellerId) -> Result<Option<OffsetDateTime>, LedgerError>;
    /// Moves the watermark forward (never back).
    async fn advance_watermark(&self, seller: &SellerId, to: OffsetDateTime) -> Result<(), LedgerError>;
    async fn record_run(&self, seller: &SellerId, at: OffsetDateTime, run: &RunRecord) -> Result<(), LedgerError>;
    async fn runs(&self, seller: &SellerId, limit: usize) -> Result<Vec<RunRecord>, LedgerError>;
}

/// The marketplace's bulk imports, until every file has its result.
#[async_trait]
pub trait ImportLedger: Send + Sync {
    /// Creates or updates an import; pending ones are indexed for the tracker.
    async fn put_import(&self, seller: &SellerId, import: &ImportRecord) -> Result<(), LedgerError>;
    async fn pending_imports(&self) -> Result<Vec<(SellerId, ImportRecord)>, LedgerError>;
}

/// Buyer requests and the limited actions (requests, resends).
#[async_trait]
pub trait RequestLedger: Send + Sync {
    async fn put_request(&self, seller: &SellerId, request: &BuyerRequestRecord) -> Result<(), LedgerError>;
    /// **Limited actions, one at a time** (buyer requests per order, resends per invoice):
    /// counts this attempt at `subject` (`request:{order}`) in its day (`2026-11-21`), then,
    /// when the day's count is within `limit`, takes the subject's slot until `until` unless
    /// another attempt holds it — a conditional write on DynamoDB, one transaction on SQLite.
    /// Of simultaneous attempts exactly one gets `Taken`.
    async fn take_slot(
        &self,
        seller: &SellerId,
        subject: &str,
        day: &str,
        limit: u32,
        at: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<RequestSlot, LedgerError>;
    /// Frees the slot taken by [`RequestLedger::take_slot`].
    async fn free_slot(&self, seller: &SellerId, subject: &str, day: &str) -> Result<(), LedgerError>;
    async fn requests_for_order(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
    ) -> Result<Vec<BuyerRequestRecord>, LedgerError>;
}

/// Requests that must not be carried out twice: the API's `Idempotency-Key` and the pages'
/// one-time form values (the IETF draft "The Idempotency-Key HTTP Header Field": the same key
/// and request give the first answer again; the same key with another request is refused).
#[async_trait]
pub trait KeyLedger: Send + Sync {
    /// Claims `key` (a digest, `[0-9a-f]{64}`) for the request `fingerprint` until `until`, unless
    /// a request already holds it — one conditional write. A key is kept [`KEY_LIFETIME`]; an
    /// unanswered claim whose lease ran out (a process died) may be claimed again by the same
    /// request.
    async fn claim_key(
        &self,
        seller: &SellerId,
        key: &str,
        fingerprint: &str,
        at: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<KeyClaim, LedgerError>;
    /// Keeps the answer of the request that claimed `key`, for its repeats.
    async fn finish_key(&self, seller: &SellerId, key: &str, answer: &str) -> Result<(), LedgerError>;
    /// Lets an unanswered claim go (the request failed in a way a repeat may mend).
    async fn release_key(&self, seller: &SellerId, key: &str) -> Result<(), LedgerError>;
}

/// How long an idempotency key is remembered.
pub const KEY_LIFETIME: time::Duration = time::Duration::hours(24);

/// What [`KeyLedger::claim_key`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClaim {
    /// This request is the first with the key: do the work, then finish the key.
    Claimed,
    /// The first request with the key is still at work.
    InProgress,
    /// The first request's answer.
    Done(String),
    /// The key came with another request.
    Mismatch,
}

/// A key's record, as both adapters keep it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRecord {
    pub fingerprint: String,
    /// Unix seconds: the claim's lease (while unanswered) and the key's end.
    pub lease_until: i64,
    pub expires_at: i64,
    pub answer: Option<String>,
}

impl KeyRecord {
    /// The record of a claim made at `at`, leased until `until`, remembered [`KEY_LIFETIME`].
    pub fn claimed(fingerprint: &str, at: OffsetDateTime, until: OffsetDateTime) -> KeyRecord {
        KeyRecord {
            fingerprint: fingerprint.to_owned(),
            lease_until: until.unix_timestamp(),
            expires_at: (at + KEY_LIFETIME).unix_timestamp(),
            answer: None,
        }
    }

    /// What a claim at `now` makes of the key's current record: the claim, or what blocks it.
    pub fn decide(existing: Option<&KeyRecord>, fingerprint: &str, now: i64) -> KeyClaim {
        match existing {
            None => KeyClaim::Claimed,
            Some(r) if r.expires_at <= now => KeyClaim::Claimed,
            Some(r) if r.fingerprint != fingerprint => KeyClaim::Mismatch,
            Some(KeyRecord { answer: Some(a), .. }) => KeyClaim::Done(a.clone()),
            Some(r) if r.lease_until > now => KeyClaim::InProgress,
            Some(_) => KeyClaim::Claimed,
        }
    }
}

/// What [`RequestLedger::take_slot`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestSlot {
    /// This request is the one handled; free the slot when done.
    Taken,
    /// Another request for the order is being handled.
    Busy,
    /// The order's requests of the day are used up (this attempt counted all the same).
    LimitReached,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("the document store is unavailable: {0}")]
    Unavailable(String),
    #[error("invalid document key {0:?}")]
    InvalidKey(String),
}

/// A short-lived link to download a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PresignedLink {
    pub url: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Documents: S3 (encrypted) or a folder.
#[async_trait]
pub trait DocumentStore: Send + Sync {
    /// Writes (or rewrites: rendering is deterministic) an object; returns its SHA-256.
    async fn put(&self, key: &str, bytes: &[u8], content_type: &str) -> Result<StoredObject, StoreError>;
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Keys under a prefix, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// Deletes everything under a prefix; returns how many objects.
    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError>;
    /// A link that fetches the object until it expires.
    async fn presign_get(&self, key: &str, expires_in: Duration) -> Result<PresignedLink, StoreError>;
}

/// Checks a document key: `sellers/...`, no `..`, no leading slash, safe characters only.
pub fn check_key(key: &str) -> Result<(), StoreError> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && !key.starts_with('/')
        && !key.split('/').any(|p| p.is_empty() || p == "." || p == "..")
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'+'));
    if ok { Ok(()) } else { Err(StoreError::InvalidKey(key.to_owned())) }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    #[error("the mail was refused: {0}")]
    Rejected(String),
    #[error("the mailer is unavailable: {0}")]
    Unavailable(String),
}

impl MailError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, MailError::Unavailable(_))
    }
}

/// A mail ready to send: the full MIME message and its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub from: String,
    pub to: String,
    /// RFC 5322 message, CRLF line ends.
    pub mime: Vec<u8>,
}

/// Mail: SES v2 raw MIME, or an outbox folder of `.eml` files.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one message; returns the provider's message id.
    async fn send(&self, mail: &OutgoingMail) -> Result<String, MailError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("the queue is unavailable: {0}")]
    Unavailable(String),
    #[error("a queued message is unreadable: {0}")]
    Corrupt(String),
}

/// Ask for one seller's run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SellerRunMessage {
    pub seller_id: SellerId,
    pub reason: RunReason,
    /// A continuation goes on from the last order the stopped run handled (the listing is by
    /// update time), rather than listing again from the watermark.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub resume_from: Option<OffsetDateTime>,
}

/// Why a seller run was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RunReason {
    /// The twice-daily schedule.
    Schedule,
    /// A run stopped near its deadline and queued the rest.
    Continuation,
    /// Someone asked for it.
    Manual,
}

/// A received message and the handle that acknowledges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub receipt: String,
    pub message: SellerRunMessage,
}

/// Seller runs: SQS or an in-process channel.
#[async_trait]
pub trait Queue: Send + Sync {
    async fn send(&self, message: &SellerRunMessage) -> Result<(), QueueError>;
    /// Up to `max` messages, waiting at most `wait` for the first.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError>;
    /// Done with a message: it will not come back.
    async fn ack(&self, receipt: &str) -> Result<(), QueueError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the key service is unavailable: {0}")]
    Unavailable(String),
    #[error("the secret cannot be opened: {0}")]
    Invalid(String),
}

/// Envelope encryption of secrets: a KMS key, or a local key file.
#[async_trait]
pub trait SecretBox: Send + Sync {
    async fn seal(&self, plaintext: &[u8]) -> Result<SealedSecret, SecretError>;
    async fn open(&self, sealed: &SealedSecret) -> Result<Vec<u8>, SecretError>;
}

/// The time, so tests can fix it.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// A clock tests move by hand.
pub struct ManualClock(std::sync::Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn new(at: OffsetDateTime) -> ManualClock {
        ManualClock(std::sync::Mutex::new(at))
    }

    pub fn advance(&self, by: time::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}
