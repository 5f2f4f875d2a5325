//! The twice-daily job as use cases: the scheduler queues one run per active seller; a seller
//! run fetches shipped orders, issues (one atomic write), stores, mails and uploads each
//! invoice, recording every step so a crash resumes where it stopped; the import tracker
//! follows the marketplace's imports until they are final and retries failed files.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use marketbill_domain::{BuyerBillingData, Invoice, IssueRequest, Order, Refusal, draft_invoice};
use time::OffsetDateTime;

use crate::mail::{MailBuildError, invoice_mail, mask_email};
use crate::marketplace::{ImportState, Marketplace, MarketplaceCredentials, MarketplaceError};
use crate::model::{
    ImportRecord, InvoiceRecord, OrderRecord, OrderStage, RunRecord, SealedSecret, SellerId, SellerRecord, StoredObject,
};
use crate::ports::{
    Clock, DocumentStore, Ledger, LedgerError, MailError, Mailer, Queue, QueueError, SecretBox, SecretError,
    SellerRunMessage, StoreError,
};

/// How the pipeline behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The sender address of invoice mails (an SES-verified identity on AWS).
    pub sender: String,
    /// Uploads of one invoice before it is reported as rejected.
    pub max_upload_attempts: u32,
    /// A run stops this long before its deadline and queues the rest.
    pub deadline_margin: Duration,
    /// Overlap of each fetch with the previous run.
    pub overlap: time::Duration,
    /// First run of a seller: orders since this long before registration.
    pub first_run_lookback: time::Duration,
    /// The key of the buyer e-mail hashes kept on order records (HMAC-SHA256). A deployment
    /// secret: from the environment on AWS, derived from the master key locally.
    pub buyer_email_key: Vec<u8>,
    /// Buyer requests accepted per order and per day (every attempt counts).
    pub buyer_requests_per_day: u32,
    /// Resends of one invoice per day.
    pub resends_per_day: u32,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            sender: "factures@marketbill.example".into(),
            max_upload_attempts: 3,
            deadline_margin: Duration::from_secs(30),
            overlap: time::Duration::hours(1),
            first_run_lookback: time::Duration::days(7),
            // Tests and the benchmark only; deployments set their own (see the config loaders).
            buyer_email_key: b"marketbill-default-buyer-email-key".to_vec(),
            buyer_requests_per_day: 3,
            resends_per_day: 3,
        }
    }
}

/// Everything a use case may touch.
#[derive(Clone)]
pub struct Services {
    pub ledger: Arc<dyn Ledger>,
    pub store: Arc<dyn DocumentStore>,
    pub mailer: Arc<dyn Mailer>,
    pub queue: Arc<dyn Queue>,
    pub secrets: Arc<dyn SecretBox>,
    pub marketplace: Arc<dyn Marketplace>,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Marketplace(#[from] MarketplaceError),
    #[error(transparent)]
    Secrets(#[from] SecretError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error("the documents cannot be rendered: {0}")]
    Render(String),
    #[error("seller {0} has no marketplace credentials")]
    NoCredentials(SellerId),
    #[error("{0}")]
    Defect(String),
    #[error(transparent)]
    MailBuild(#[from] MailBuildError),
}

impl PipelineError {
    /// Whether trying again later may succeed (SQS redelivers, the tracker polls again).
    pub fn is_retryable(&self) -> bool {
        match self {
            PipelineError::Ledger(e) => e.is_retryable(),
            PipelineError::Marketplace(e) => e.is_retryable(),
            PipelineError::Secrets(e) => matches!(e, SecretError::Unavailable(_)),
            PipelineError::Queue(_) | PipelineError::Store(StoreError::Unavailable(_)) => true,
            PipelineError::Mail(e) => e.is_retryable(),
            PipelineError::Store(_)
            | PipelineError::Render(_)
            | PipelineError::NoCredentials(_)
            | PipelineError::Defect(_)
            | PipelineError::MailBuild(_) => false,
        }
    }
}

/// Seals marketplace credentials for the ledger.
pub async fn seal_credentials(
    secrets: &dyn SecretBox,
    creds: &MarketplaceCredentials,
) -> Result<SealedSecret, PipelineError> {
    let plain = serde_json::to_vec(creds).map_err(|e| SecretError::Invalid(e.to_string()))?;
    Ok(secrets.seal(&plain).await?)
}

pub async fn open_credentials(
    secrets: &dyn SecretBox,
    sealed: &SealedSecret,
) -> Result<MarketplaceCredentials, PipelineError> {
    let plain = secrets.open(sealed).await?;
    serde_json::from_slice(&plain).map_err(|e| PipelineError::Secrets(SecretError::Invalid(e.to_string())))
}

/// Where an invoice's files go: `sellers/{id}/invoices/{yyyy}/{number}.pdf|.xml`.
pub fn document_key(seller: &SellerId, invoice: &Invoice, ext: &str) -> String {
    format!("sellers/{seller}/invoices/{:04}/{}.{ext}", invoice.issue_date.year(), invoice.number)
}

/// What the scheduler did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScheduleOutcome {
    pub queued: usize,
}

/// The scheduler: one queued run per active seller.
pub async fn schedule(s: &Services) -> Result<ScheduleOutcome, PipelineError> {
    let sellers = s.ledger.active_sellers().await?;
    for id in &sellers {
        s.queue.send(&SellerRunMessage { seller_id: id.clone(), reason: "schedule".into() }).await?;
    }
    tracing::info!(queued = sellers.len(), "seller runs queued");
    Ok(ScheduleOutcome { queued: sellers.len() })
}

/// What one seller run did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunOutcome {
    pub seen: u64,
    pub issued: u64,
    pub mailed: u64,
    pub uploaded: u64,
    pub resumed: u64,
    /// Refused orders by reason code.
    pub skipped: BTreeMap<String, u64>,
    /// Orders that failed on a step this time (left to the next run).
    pub failed: Vec<(String, String)>,
    /// Every order handled and the watermark moved.
    pub complete: bool,
    /// Stopped near the deadline; the rest was queued.
    pub continued: bool,
}

impl RunOutcome {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
}

struct Ctx<'a> {
    s: &'a Services,
    seller: &'a SellerRecord,
    creds: &'a MarketplaceCredentials,
    now: OffsetDateTime,
}

/// The documents of an invoice, kept in memory between the steps of one order.
struct Docs {
    pdf: Vec<u8>,
}

fn render_error(e: marketbill_documents::RenderError) -> PipelineError {
    PipelineError::Render(e.to_string())
}

impl Ctx<'_> {
    fn id(&self) -> &SellerId {
        &self.seller.seller_id
    }

    async fn store(&self, rec: &InvoiceRecord) -> Result<Docs, PipelineError> {
        let rendered = marketbill_documents::render(&rec.invoice).map_err(render_error)?;
        let pdf: StoredObject =
            self.s.store.put(&document_key(self.id(), &rec.invoice, "pdf"), &rendered.pdf, "application/pdf").await?;
        let xml: StoredObject =
            self.s.store.put(&document_key(self.id(), &rec.invoice, "xml"), &rendered.ubl, "application/xml").await?;
        self.s.ledger.set_documents(self.id(), &rec.invoice.number, &pdf, &xml).await?;
        Ok(Docs { pdf: rendered.pdf })
    }

    async fn pdf(&self, rec: &InvoiceRecord, docs: &mut Option<Docs>) -> Result<Vec<u8>, PipelineError> {
        if let Some(d) = docs {
            return Ok(d.pdf.clone());
        }
        let stored = match &rec.pdf {
            Some(o) => self.s.store.get(&o.key).await?,
            None => None,
        };
        let pdf = match stored {
            Some(b) => b,
            None => marketbill_documents::render_pdf(&rec.invoice).map_err(render_error)?,
        };
        *docs = Some(Docs { pdf: pdf.clone() });
        Ok(pdf)
    }

    /// Takes an issued order through its remaining steps, recording each one.
    async fn advance(&self, order: &Order, mut rec: OrderRecord, out: &mut RunOutcome) -> Result<(), PipelineError> {
        let Some(number) = rec.number.clone() else { return Ok(()) };
        let Some(invoice) = self.s.ledger.get_invoice(self.id(), &number).await? else {
            return Err(LedgerError::NotIssued { order_id: rec.order_id.clone() }.into());
        };
        let mut docs: Option<Docs> = None;
        if rec.stage == OrderStage::Issued || invoice.pdf.is_none() {
            docs = Some(self.store(&invoice).await?);
            if rec.stage == OrderStage::Issued {
                rec.stage = OrderStage::Stored;
                rec.updated_at = self.now;
                self.s.ledger.update_order(self.id(), &rec).await?;
            }
        }
        if rec.stage == OrderStage::Stored {
            match order.buyer_email() {
                Some(to) => {
                    let pdf = self.pdf(&invoice, &mut docs).await?;
                    match invoice_mail(&invoice.invoice, &pdf, &self.s.settings.sender, to, self.now) {
                        Ok(mail) => {
                            let id = self.s.mailer.send(&mail).await?;
                            rec.message_id = Some(id);
                            out.mailed += 1;
                        }
                        // The marketplace's address is unsafe: never sent, shown as a problem.
                        Err(refused @ MailBuildError::Recipient(_)) => {
                            tracing::warn!(seller = %self.id(), order = %rec.order_id, to = %mask_email(to), "buyer e-mail refused; not mailed");
                            rec.mail_refused = Some(refused.to_string());
                        }
                        Err(other) => return Err(PipelineError::MailBuild(other)),
                    }
                }
                None => rec.mail_refused = Some("the order has no buyer e-mail: the invoice was not mailed".into()),
            }
            rec.stage = OrderStage::Mailed;
            rec.updated_at = self.now;
            self.s.ledger.update_order(self.id(), &rec).await?;
        }
        if rec.stage == OrderStage::Mailed {
            let pdf = self.pdf(&invoice, &mut docs).await?;
            self.upload(&mut rec, &pdf).await?;
            out.uploaded += 1;
        }
        Ok(())
    }

    async fn upload(&self, rec: &mut OrderRecord, pdf: &[u8]) -> Result<(), PipelineError> {
        let state =
            self.s.marketplace.upload_invoice(self.creds, &rec.order_id, &format!("{}.pdf", rec.order_id), pdf).await?;
        // The import is recorded before the order points to it: a crash in between leaves a
        // tracked import and an order that uploads again (harmless: the new file replaces it).
        let import = ImportRecord {
            import_id: state.import_id.clone(),
            order_ids: vec![rec.order_id.clone()],
            status: "Running".into(),
            polls: 0,
            created_at: self.now,
        };
        self.s.ledger.put_import(self.id(), &import).await?;
        rec.stage = OrderStage::Uploaded;
        rec.import_id = Some(state.import_id.clone());
        rec.upload_attempts += 1;
        rec.updated_at = self.now;
        self.s.ledger.update_order(self.id(), rec).await?;
        Ok(())
    }

    /// The billing data a buyer asked for, if any is waiting.
    async fn buyer_data(&self, order_id: &str) -> Result<Option<BuyerBillingData>, PipelineError> {
        let requests = self.s.ledger.requests_for_order(self.id(), order_id).await?;
        Ok(requests.into_iter().filter(|r| r.status == "pending").max_by_key(|r| r.received_at).map(|r| r.billing))
    }

    async fn handle(&self, order: &Order, out: &mut RunOutcome) -> Result<(), PipelineError> {
        let order_id = order.order_id.as_str();
        let existing = self.s.ledger.get_order(self.id(), order_id).await?;
        if let Some(rec) = existing.as_ref().filter(|r| r.number.is_some()) {
            if rec.stage < OrderStage::Uploaded {
                out.resumed += 1;
                self.advance(order, rec.clone(), out).await?;
            }
            return Ok(());
        }
        let email_hash =
            order.buyer_email().map(|e| crate::crypto::buyer_email_hash(&self.s.settings.buyer_email_key, e));
        let buyer = self.buyer_data(order_id).await?;
        let draft = draft_invoice(&IssueRequest {
            order,
            seller: &self.seller.profile,
            buyer_data: buyer.as_ref(),
            issued_at: self.now,
        });
        match draft {
            Err(refusal) => {
                *out.skipped.entry(refusal.code().to_owned()).or_default() += 1;
                let known = existing.as_ref().filter(|r| r.buyer_email_hash == email_hash);
                if known.and_then(|r| r.refusal.as_ref()) != Some(&refusal) {
                    self.s.ledger.record_skip(self.id(), order_id, &refusal, email_hash.as_deref(), self.now).await?;
                }
                Ok(())
            }
            Ok(draft) => {
                let rec = match self.s.ledger.issue(self.id(), order_id, draft, email_hash.as_deref(), self.now).await {
                    Ok(invoice) => {
                        out.issued += 1;
                        tracing::debug!(seller = %self.id(), order = order_id, number = %invoice.number, "invoice issued");
                        self.s.ledger.get_order(self.id(), order_id).await?
                    }
                    // Another run got there first: carry on from what it recorded.
                    Err(LedgerError::AlreadyIssued { .. }) => self.s.ledger.get_order(self.id(), order_id).await?,
                    Err(e) => return Err(e.into()),
                };
                match rec {
                    Some(rec) => self.advance(order, rec, out).await,
                    None => Err(LedgerError::NotIssued { order_id: order_id.to_owned() }.into()),
                }
            }
        }
    }
}

/// The text of a caught panic.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown defect".into());
    format!("internal error: {}", text.chars().take(300).collect::<String>())
}

/// Records an order whose processing hit a defect: a refusal with the reason when it has no
/// invoice (it then shows in the problems list and no longer holds the watermark back), the
/// error on the order when it has one (its remaining steps are tried again next run).
async fn set_aside(
    s: &Services,
    seller_id: &SellerId,
    order_id: &str,
    problem: &str,
    now: OffsetDateTime,
    out: &mut RunOutcome,
) -> Result<(), PipelineError> {
    match s.ledger.get_order(seller_id, order_id).await? {
        Some(mut rec) if rec.number.is_some() => {
            rec.last_error = Some(problem.to_owned());
            s.ledger.update_order(seller_id, &rec).await?;
            out.failed.push((order_id.to_owned(), problem.to_owned()));
        }
        _ => {
            let refusal = Refusal::ProcessingFailed { problem: problem.to_owned() };
            *out.skipped.entry(refusal.code().to_owned()).or_default() += 1;
            s.ledger.record_skip(seller_id, order_id, &refusal, None, now).await?;
        }
    }
    Ok(())
}

/// One seller run. `deadline`: when the host stops us (the Lambda's), if any.
pub async fn run_seller(
    s: &Services,
    seller_id: &SellerId,
    deadline: Option<Instant>,
) -> Result<RunOutcome, PipelineError> {
    let started = Instant::now();
    let now = s.clock.now();
    let mut out = RunOutcome::default();
    let Some(seller) = s.ledger.get_seller(seller_id).await? else {
        tracing::info!(seller = %seller_id, "no such seller; nothing to do");
        return Ok(out);
    };
    if !seller.is_active() {
        tracing::info!(seller = %seller_id, "seller unsubscribed; no new invoices");
        return Ok(out);
    }
    let sealed = seller.credentials.as_ref().ok_or_else(|| PipelineError::NoCredentials(seller_id.clone()))?;
    let creds = open_credentials(s.secrets.as_ref(), sealed).await?;
    let since = match s.ledger.watermark(seller_id).await? {
        Some(w) => w - s.settings.overlap,
        None => seller.registered_at - s.settings.first_run_lookback,
    };
    let fetched_at = now;
    let listing = s.marketplace.shipped_orders(&creds, since).await?;
    let ctx = Ctx { s, seller: &seller, creds: &creds, now };
    let mut seen_ids: BTreeSet<String> = BTreeSet::new();
    let mut stopped = false;
    for item in &listing {
        if deadline.is_some_and(|d| Instant::now() + s.settings.deadline_margin >= d) {
            stopped = true;
            break;
        }
        out.seen += 1;
        match item {
            Err(bad) => {
                let refusal = Refusal::Unreadable { field: bad.field.clone(), problem: bad.reason.clone() };
                *out.skipped.entry(refusal.code().to_owned()).or_default() += 1;
                if bad.order.parse::<marketbill_domain::OrderId>().is_ok() {
                    s.ledger.record_skip(seller_id, &bad.order, &refusal, None, now).await?;
                }
            }
            Ok(order) => {
                seen_ids.insert(order.order_id.to_string());
                // The order's boundary: a defect (a panic) in one order's processing is that
                // order's failure, never the run's (release builds unwind for this reason).
                let handled = AssertUnwindSafe(ctx.handle(order, &mut out)).catch_unwind().await;
                let handled = match handled {
                    Ok(result) => result,
                    Err(panic) => {
                        let problem = panic_message(panic.as_ref());
                        tracing::error!(seller = %seller_id, order = %order.order_id, problem, "defect while handling an order; set aside");
                        set_aside(s, seller_id, order.order_id.as_str(), &problem, now, &mut out).await?;
                        continue;
                    }
                };
                if let Err(e) = handled {
                    // One order's failure never stops the others; it is retried next run and,
                    // when the order has an invoice, shown in the portal's problems list.
                    tracing::warn!(seller = %seller_id, order = %order.order_id, error = %e, retryable = e.is_retryable(), "order left for the next run");
                    if let Ok(Some(mut rec)) = s.ledger.get_order(seller_id, order.order_id.as_str()).await
                        && rec.number.is_some()
                    {
                        rec.last_error = Some(e.to_string());
                        let _ = s.ledger.update_order(seller_id, &rec).await;
                    }
                    out.failed.push((order.order_id.to_string(), e.to_string()));
                }
            }
        }
    }
    // Orders a crash left half-way that the listing did not bring back.
    if !stopped {
        for rec in s.ledger.unfinished_orders(seller_id).await? {
            if rec.number.is_none() || rec.stage >= OrderStage::Uploaded || seen_ids.contains(&rec.order_id) {
                continue;
            }
            if deadline.is_some_and(|d| Instant::now() + s.settings.deadline_margin >= d) {
                stopped = true;
                break;
            }
            let result = match s.marketplace.order(&creds, &rec.order_id).await {
                Ok(Some(order)) => {
                    out.resumed += 1;
                    match AssertUnwindSafe(ctx.advance(&order, rec.clone(), &mut out)).catch_unwind().await {
                        Ok(result) => result,
                        Err(panic) => Err(PipelineError::Defect(panic_message(panic.as_ref()))),
                    }
                }
                Ok(None) => Ok(()),
                Err(e) => Err(e.into()),
            };
            if let Err(e) = result {
                out.failed.push((rec.order_id.clone(), e.to_string()));
            }
        }
    }
    if stopped {
        out.continued = true;
        s.queue.send(&SellerRunMessage { seller_id: seller_id.clone(), reason: "continuation".into() }).await?;
    } else if out.failed.is_empty() {
        s.ledger.advance_watermark(seller_id, fetched_at).await?;
        out.complete = true;
    }
    let finished = s.clock.now();
    let fmt = |t: OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let run = RunRecord {
        started_at: fmt(now),
        finished_at: fmt(finished),
        orders_seen: out.seen,
        issued: out.issued,
        mailed: out.mailed,
        uploaded: out.uploaded,
        skipped: out.skipped_total(),
        failed: out.failed.len() as u64,
        complete: out.complete,
    };
    s.ledger.record_run(seller_id, now, &run).await?;
    crate::metrics::log_run(seller_id, &out, started.elapsed());
    Ok(out)
}

/// What the import tracker did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrackOutcome {
    pub polled: u64,
    pub accepted: u64,
    pub retried: u64,
    pub rejected: u64,
    pub still_running: u64,
    pub failed: Vec<(String, String)>,
}

async fn track_one(
    s: &Services,
    seller_id: &SellerId,
    mut import: ImportRecord,
    out: &mut TrackOutcome,
) -> Result<(), PipelineError> {
    let Some(seller) = s.ledger.get_seller(seller_id).await? else { return Ok(()) };
    let sealed = seller.credentials.as_ref().ok_or_else(|| PipelineError::NoCredentials(seller_id.clone()))?;
    let creds = open_credentials(s.secrets.as_ref(), sealed).await?;
    let state: ImportState = s.marketplace.import_state(&creds, &import.import_id).await?;
    out.polled += 1;
    import.polls += 1;
    if !state.is_final() {
        out.still_running += 1;
        s.ledger.put_import(seller_id, &import).await?;
        return Ok(());
    }
    let now = s.clock.now();
    let ctx = Ctx { s, seller: &seller, creds: &creds, now };
    for file in &state.files {
        let Some(mut rec) = s.ledger.get_order(seller_id, &file.order_id).await? else { continue };
        // Only the latest upload of an order decides its fate.
        if rec.import_id.as_deref() != Some(import.import_id.as_str()) || rec.stage != OrderStage::Uploaded {
            continue;
        }
        if file.accepted {
            rec.stage = OrderStage::Accepted;
            rec.last_error = None;
            rec.updated_at = now;
            s.ledger.update_order(seller_id, &rec).await?;
            out.accepted += 1;
        } else if rec.upload_attempts < s.settings.max_upload_attempts {
            let Some(number) = rec.number.clone() else { continue };
            let Some(invoice) = s.ledger.get_invoice(seller_id, &number).await? else { continue };
            rec.last_error = Some(file.errors.join("; "));
            let pdf = ctx.pdf(&invoice, &mut None).await?;
            ctx.upload(&mut rec, &pdf).await?;
            out.retried += 1;
        } else {
            rec.stage = OrderStage::Rejected;
            rec.last_error = Some(format!(
                "refused by the marketplace after {} uploads: {}",
                rec.upload_attempts,
                file.errors.join("; ")
            ));
            rec.updated_at = now;
            s.ledger.update_order(seller_id, &rec).await?;
            out.rejected += 1;
        }
    }
    import.status = state.status.clone();
    s.ledger.put_import(seller_id, &import).await?;
    Ok(())
}

/// The import tracker: every pending import polled once.
pub async fn track_imports(s: &Services) -> Result<TrackOutcome, PipelineError> {
    let mut out = TrackOutcome::default();
    for (seller_id, import) in s.ledger.pending_imports().await? {
        let id = import.import_id.clone();
        if let Err(e) = track_one(s, &seller_id, import, &mut out).await {
            if !e.is_retryable() && !matches!(e, PipelineError::Marketplace(_)) {
                return Err(e);
            }
            tracing::warn!(seller = %seller_id, import = %id, error = %e, "import left for the next poll");
            out.failed.push((id, e.to_string()));
        }
    }
    tracing::info!(
        polled = out.polled,
        accepted = out.accepted,
        retried = out.retried,
        rejected = out.rejected,
        "imports tracked"
    );
    Ok(out)
}
