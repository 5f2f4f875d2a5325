//! A seller run: the listing streamed page by page, each order numbered in turn (one atomic
//! write), then delivered (store, mail) concurrently at a bounded depth and uploaded in bulk
//! imports; every step recorded so a crash resumes where it stopped.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::time::Instant;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use marketbill_domain::{BuyerBillingData, IssueRequest, Order, OrderId, Refusal, draft_invoice};
use time::OffsetDateTime;

use crate::delivery::{Delivery, RateGate};
use crate::marketplace::MarketplaceError;
use crate::marketplace::{MAX_PAGES, MarketplaceCredentials, PageToken};
use crate::model::{InvoiceRecord, NotRun, OrderRecord, OrderStage, RequestStatus, RunRecord, SellerId, SellerRecord};
use crate::ports::{LedgerError, RunReason, SellerRunMessage};
use crate::services::{PipelineError, RunSettings, Services, open_credentials};

/// What one seller run did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunOutcome {
    pub seen: u64,
    pub issued: u64,
    /// Credit notes for refunds the marketplace reported on invoiced orders.
    pub credit_notes: u64,
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
    /// Where the queued continuation goes on from.
    pub resume_from: Option<OffsetDateTime>,
    /// The run did not reach the marketplace, and why (the account is not ready).
    pub not_run: Option<NotRun>,
}

impl RunOutcome {
    /// Adds another outcome's counts to this one.
    fn absorb(&mut self, other: RunOutcome) {
        self.seen += other.seen;
        self.issued += other.issued;
        self.credit_notes += other.credit_notes;
        self.mailed += other.mailed;
        self.uploaded += other.uploaded;
        self.resumed += other.resumed;
        for (code, n) in other.skipped {
            *self.skipped.entry(code).or_default() += n;
        }
        self.failed.extend(other.failed);
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
}

/// A seller run's fixed context.
struct Ctx<'a> {
    s: &'a Services,
    seller: &'a SellerRecord,
    d: Delivery<'a>,
    creds: &'a MarketplaceCredentials,
}

/// An issued order on its way: what the delivery steps need.
struct Job {
    order: Order,
    rec: OrderRecord,
    invoice: InvoiceRecord,
}

/// What one delivery came back with: the record and PDF to upload (`None` when another run
/// took the order further meanwhile). Mails are counted by the delivery, when sent.
struct Delivered {
    order_id: OrderId,
    result: Result<Option<ToUpload>, PipelineError>,
}

/// A mailed order's record and the PDF its import carries.
type ToUpload = (OrderRecord, Vec<u8>);

/// What one bulk import came back with.
struct Uploaded {
    order_ids: Vec<OrderId>,
    result: Result<(), PipelineError>,
}

impl Ctx<'_> {
    fn id(&self) -> &SellerId {
        &self.seller.seller_id
    }

    /// The billing data a buyer asked for, if any is waiting.
    async fn buyer_data(&self, order_id: &OrderId) -> Result<Option<BuyerBillingData>, PipelineError> {
        let requests = self.s.ledger.requests_for_order(self.id(), order_id).await?;
        Ok(requests
            .into_iter()
            .filter(|r| r.status == RequestStatus::Pending)
            .max_by_key(|r| r.received_at)
            .map(|r| r.billing))
    }

    /// The recorded state of an issued order, when it still has steps to go.
    async fn resumable(&self, order: &Order, rec: OrderRecord) -> Result<Option<Job>, PipelineError> {
        if rec.stage >= OrderStage::Uploaded {
            return Ok(None);
        }
        let Some(number) = rec.number.clone() else { return Ok(None) };
        let invoice = self
            .s
            .ledger
            .get_invoice(self.id(), &number)
            .await?
            .ok_or_else(|| LedgerError::NotIssued { order_id: rec.order_id.clone() })?;
        Ok(Some(Job { order: order.clone(), rec, invoice }))
    }

    /// The sequential step of an order: refuse it, or number it (one atomic write, in listing
    /// order, so numbers stay gapless and chronological), or find where it stopped. Returns
    /// the delivery still to do.
    /// `existing`: the order's record as its page's read found it.
    async fn issue(
        &self,
        order: &Order,
        existing: Option<OrderRecord>,
        out: &mut RunOutcome,
    ) -> Result<Option<Job>, PipelineError> {
        let order_id = &order.order_id;
        if let Some(rec) = existing.clone().filter(|r| r.number.is_some()) {
            out.credit_notes +=
                crate::refunds::credit_reported(self.s, self.seller, &self.d, self.creds, order, &rec).await?;
            let job = self.resumable(order, rec).await?;
            if job.is_some() {
                out.resumed += 1;
            }
            return Ok(job);
        }
        // Listed for the refunds of invoiced orders; one never invoiced is no concern of ours.
        if order.status == marketbill_domain::OrderStatus::Cancelled {
            return Ok(None);
        }
        let email_hash =
            order.buyer_email().map(|e| crate::crypto::buyer_email_hash(&self.s.settings.buyer_email_key, e));
        // A buyer request needs the order's record (its e-mail hash): no record, no request.
        let buyer = match &existing {
            Some(_) => self.buyer_data(order_id).await?,
            None => None,
        };
        let draft = draft_invoice(&IssueRequest {
            order,
            seller: &self.seller.profile,
            buyer_data: buyer.as_ref(),
            issued_at: self.d.now,
        });
        match draft {
            Err(refusal) => {
                *out.skipped.entry(refusal.code().to_owned()).or_default() += 1;
                let known = existing.as_ref().filter(|r| r.buyer_email_hash == email_hash);
                if known.and_then(|r| r.refusal.as_ref()) != Some(&refusal) {
                    self.s.ledger.record_skip(self.id(), order_id, &refusal, email_hash.as_deref(), self.d.now).await?;
                }
                Ok(None)
            }
            Ok(draft) => {
                let draft = crate::transmission::with_directory_addresses(
                    self.s.secrets.as_ref(),
                    self.s.platform.as_ref(),
                    self.seller,
                    draft,
                )
                .await;
                self.numbered(order, draft, email_hash, out).await
            }
        }
    }

    /// Numbers a drafted invoice (one atomic write); the delivery still to do.
    async fn numbered(
        &self,
        order: &Order,
        draft: marketbill_domain::Draft,
        email_hash: Option<String>,
        out: &mut RunOutcome,
    ) -> Result<Option<Job>, PipelineError> {
        let order_id = &order.order_id;
        match self.s.ledger.issue(self.id(), order_id, draft, email_hash.as_deref(), self.d.now).await {
            Ok(invoice) => {
                out.issued += 1;
                tracing::debug!(seller = %self.id(), order = %order_id, number = %invoice.number, "invoice issued");
                // What the atomic write recorded, without reading it back; a business buyer
                // without SIREN is noted on it with its first step (no write of its own).
                let mut rec =
                    OrderRecord::issued(order_id, &invoice.number, self.d.now).with_buyer(email_hash.as_deref());
                rec.buyer_siren_missing = matches!(
                    marketbill_domain::reporting::placement(&self.seller.profile, &invoice),
                    marketbill_domain::reporting::Placement::Aggregated {
                        r#as: marketbill_domain::reporting::AggregatedAs::BusinessWithoutSiren,
                        ..
                    }
                );
                let invoice = InvoiceRecord::new(self.id(), order_id, invoice, self.d.now);
                Ok(Some(Job { order: order.clone(), rec, invoice }))
            }
            // Another run got there first: carry on from what it recorded.
            Err(LedgerError::AlreadyIssued { .. }) => match self.s.ledger.get_order(self.id(), order_id).await? {
                Some(rec) => self.resumable(order, rec).await,
                None => Err(LedgerError::NotIssued { order_id: order_id.clone() }.into()),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// Store and mail one order (concurrently with others); a defect stays this order's.
    async fn deliver(&self, job: Job) -> Delivered {
        let Job { order, mut rec, invoice } = job;
        let order_id = rec.order_id.clone();
        let result = guarded(async {
            let pdf = self.d.through_mail(&order, &mut rec, &invoice).await?;
            Ok(pdf.map(|pdf| (rec, pdf)))
        })
        .await;
        Delivered { order_id, result }
    }

    /// One bulk import of mailed orders.
    async fn upload(&self, creds: &MarketplaceCredentials, batch: Vec<ToUpload>) -> Uploaded {
        let order_ids = batch.iter().map(|(r, _)| r.order_id.clone()).collect();
        let result = guarded(self.d.upload_many(creds, batch)).await;
        Uploaded { order_ids, result }
    }
}

/// Mailed orders waiting for their bulk import.
#[derive(Default)]
struct UploadBatch {
    items: Vec<ToUpload>,
    bytes: usize,
}

impl UploadBatch {
    fn push(&mut self, rec: OrderRecord, pdf: Vec<u8>) {
        self.bytes += pdf.len();
        self.items.push((rec, pdf));
    }

    fn is_full(&self, settings: &RunSettings) -> bool {
        self.items.len() >= settings.upload_batch_files || self.bytes >= settings.upload_batch_bytes
    }

    fn take(&mut self) -> Vec<ToUpload> {
        self.bytes = 0;
        std::mem::take(&mut self.items)
    }
}

/// A step that failed for an order: counted, and kept on the order when it has an invoice
/// (the problems list shows it); the order is tried again next run.
async fn note_failure(s: &Services, seller_id: &SellerId, order_id: &OrderId, e: &PipelineError, out: &mut RunOutcome) {
    tracing::warn!(seller = %seller_id, order = %order_id, error = %e, retryable = e.is_retryable(), "order left for the next run");
    if let Ok(Some(mut rec)) = s.ledger.get_order(seller_id, order_id).await
        && rec.number.is_some()
    {
        rec.last_error = Some(e.to_string());
        let _ = s.ledger.update_order(seller_id, &rec).await;
    }
    out.failed.push((order_id.to_string(), e.to_string()));
}

/// The id an order is recorded under when the marketplace sent no readable id: `unreadable-`
/// and the start of the SHA-256 of what it sent, so the same bad order is one problem, not one
/// per run.
pub fn unreadable_id(raw: &str) -> OrderId {
    use sha2::{Digest, Sha256};
    let digest = hex::encode(&Sha256::digest(raw.as_bytes())[..8]);
    format!("unreadable-{digest}").parse().unwrap_or_else(|_| OrderId::placeholder())
}

/// What the marketplace sent, as it may be shown: 40 characters at most, control characters
/// escaped.
fn shown(raw: &str) -> String {
    let cut: String = raw.chars().take(40).collect();
    let escaped = cut.escape_debug().to_string();
    if raw.chars().count() > 40 { format!("\"{escaped}…\"") } else { format!("\"{escaped}\"") }
}

/// A step of one order or one import, with a defect (a panic) turned into its error.
async fn guarded<T>(step: impl Future<Output = Result<T, PipelineError>>) -> Result<T, PipelineError> {
    match AssertUnwindSafe(step).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => Err(PipelineError::Defect(panic_message(panic.as_ref()))),
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
    order_id: &OrderId,
    problem: &str,
    now: OffsetDateTime,
    out: &mut RunOutcome,
) -> Result<(), PipelineError> {
    match s.ledger.get_order(seller_id, order_id).await? {
        Some(mut rec) if rec.number.is_some() => {
            rec.last_error = Some(problem.to_owned());
            s.ledger.update_order(seller_id, &rec).await?;
            out.failed.push((order_id.to_string(), problem.to_owned()));
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
///
/// The listing is streamed page by page. Each order is numbered in turn (one atomic write,
/// in listing order); its delivery (store, mail) then runs concurrently with up to
/// `Settings::delivery_depth` others, and mailed orders go to the marketplace in bulk imports
/// (at most `Settings::uploads_in_flight` at once). Memory is bounded by the page size, the
/// depth and the import size, not by the listing.
pub async fn run_seller(
    s: &Services,
    seller_id: &SellerId,
    deadline: Option<Instant>,
) -> Result<RunOutcome, PipelineError> {
    run_seller_from(s, seller_id, None, deadline).await
}

/// The run a queued message asks for (a continuation goes on where its run stopped).
pub async fn run_message(
    s: &Services,
    message: &SellerRunMessage,
    deadline: Option<Instant>,
) -> Result<RunOutcome, PipelineError> {
    run_seller_from(s, &message.seller_id, message.resume_from, deadline).await
}

/// The seller's one mail when its first invoices are out (a failure is logged: the invoices
/// are what matters).
async fn first_invoices(s: &Services, seller_id: &SellerId, issued: u64) {
    let told = async {
        // Read again: the run may have taken long, and the mail goes once.
        let Some(mut record) = s.ledger.get_seller(seller_id).await? else { return Ok(()) };
        if record.first_invoices_at.is_some() {
            return Ok(());
        }
        let now = s.clock.now();
        let space = s.settings.public_url.as_deref().map(|base| format!("{base}/espace/factures"));
        let mail =
            crate::mail::first_invoices_mail(&s.settings.sender, &record.profile.email, issued, space.as_deref(), now)?;
        record.first_invoices_at = Some(now);
        s.ledger.put_seller(&record).await?;
        crate::delivery::send(s.mailer.as_ref(), None, &mail).await?;
        Ok::<(), PipelineError>(())
    };
    if let Err(e) = told.await {
        tracing::warn!(seller = %seller_id, error = %e, "the first-invoices mail was not sent");
    }
}

/// A seller run that lists from `resume_from` when given (never before the watermark's
/// overlap): where a stopped run of the same cycle left off.
///
/// An account that is not ready — no credentials yet, credentials the marketplace refuses,
/// unsubscribed, gone — is not a failure: the outcome says why ([`RunOutcome::not_run`]), the
/// seller's run history records it (the space shows it), and the caller goes on with the next
/// seller.
pub async fn run_seller_from(
    s: &Services,
    seller_id: &SellerId,
    resume_from: Option<OffsetDateTime>,
    deadline: Option<Instant>,
) -> Result<RunOutcome, PipelineError> {
    let now = s.clock.now();
    let Some(seller) = s.ledger.get_seller(seller_id).await? else {
        tracing::info!(seller = %seller_id, "no such seller; nothing to do");
        return Ok(RunOutcome { not_run: Some(NotRun::NoSuchSeller), ..RunOutcome::default() });
    };
    if !seller.is_active() {
        tracing::info!(seller = %seller_id, "seller unsubscribed; no new invoices");
        return Ok(RunOutcome { not_run: Some(NotRun::Unsubscribed), ..RunOutcome::default() });
    }
    let Some(sealed) = seller.credentials.as_ref() else {
        return not_ready(s, seller_id, now, NotRun::NoCredentials).await;
    };
    let creds = open_credentials(s.secrets.as_ref(), sealed).await?;
    match listed_run(s, &seller, &creds, resume_from, deadline, now).await {
        Err(PipelineError::Marketplace(MarketplaceError::Credentials(why))) => {
            tracing::warn!(seller = %seller_id, why, "the marketplace refuses this seller's credentials");
            not_ready(s, seller_id, now, NotRun::CredentialsRefused).await
        }
        Ok(o) => {
            if o.issued > 0 && seller.first_invoices_at.is_none() {
                first_invoices(s, seller_id, o.issued).await;
            }
            Ok(o)
        }
        other => other,
    }
}

/// A run that could not start, recorded in the seller's history with its reason.
async fn not_ready(
    s: &Services,
    seller_id: &SellerId,
    now: OffsetDateTime,
    why: NotRun,
) -> Result<RunOutcome, PipelineError> {
    tracing::info!(seller = %seller_id, reason = why.code(), "seller not ready; run skipped");
    let at = rfc3339(now);
    let run = RunRecord { started_at: at.clone(), finished_at: at, not_run: Some(why), ..RunRecord::default() };
    s.ledger.record_run(seller_id, now, &run).await?;
    Ok(RunOutcome { not_run: Some(why), ..RunOutcome::default() })
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// The run itself: the listing, page by page, with deliveries and imports in flight.
async fn listed_run(
    s: &Services,
    seller: &SellerRecord,
    creds: &MarketplaceCredentials,
    resume_from: Option<OffsetDateTime>,
    deadline: Option<Instant>,
    now: OffsetDateTime,
) -> Result<RunOutcome, PipelineError> {
    let started = Instant::now();
    let since = match s.ledger.watermark(&seller.seller_id).await? {
        Some(w) => w - s.settings.runs.overlap,
        None => seller.registered_at - s.settings.runs.first_run_lookback,
    };
    let since = resume_from.map_or(since, |r| r.max(since));
    let gate = RateGate::new(s.settings.runs.mail_per_second);
    let ctx = Ctx { s, seller, d: Delivery::new(s, &seller.seller_id, now, Some(&gate)), creds };
    let mut run = Listing {
        s,
        ctx: &ctx,
        flow: Flow::new(&ctx, creds),
        out: RunOutcome::default(),
        seen_ids: BTreeSet::new(),
        stopped: false,
        handled_up_to: None,
        first_unnumbered_failure: None,
        depth: s.settings.runs.delivery_depth.max(1),
        deadline,
        now,
    };
    run.list(since).await?;
    if !run.stopped {
        run.pending_credit_notes().await;
        run.left_behind().await?;
    }
    // Drain what is in flight (also near the deadline: the margin is for this), then the
    // last imports.
    run.flow.drain(&mut run.out).await;
    run.close(resume_from, started).await
}

/// One seller run under way: the listing, then what earlier runs left, then the close.
struct Listing<'a> {
    s: &'a Services,
    ctx: &'a Ctx<'a>,
    flow: Flow<'a>,
    out: RunOutcome,
    /// Orders handled (an order the listing shows twice, or that it brought back and a crash
    /// had left, is handled once).
    seen_ids: BTreeSet<String>,
    /// Stopped near the deadline: the rest goes to a continuation.
    stopped: bool,
    /// The update time of the last order handled: where a continuation goes on (the listing
    /// comes oldest update first, so everything before it is done)…
    handled_up_to: Option<OffsetDateTime>,
    /// …unless an order before it failed before it was numbered: a continuation lists it again.
    first_unnumbered_failure: Option<OffsetDateTime>,
    depth: usize,
    deadline: Option<Instant>,
    now: OffsetDateTime,
}

impl<'a> Listing<'a> {
    fn seller_id(&self) -> &'a SellerId {
        let ctx: &'a Ctx<'a> = self.ctx;
        &ctx.seller.seller_id
    }

    fn near_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() + self.s.settings.runs.deadline_margin >= d)
    }

    /// Every page of the shipped orders updated since `since`, each order issued and handed
    /// to the delivery in flight; stops near the deadline.
    async fn list(&mut self, since: OffsetDateTime) -> Result<(), PipelineError> {
        let (s, creds) = (self.s, self.ctx.creds);
        let mut pages: BTreeSet<PageToken> = BTreeSet::new();
        let mut token: Option<PageToken> = None;
        for _ in 0..MAX_PAGES {
            let page = self.flow.drive(s.marketplace.shipped_orders_page(creds, since, token.as_ref())).await?;
            // The page's order records in one round trip.
            let ids: Vec<OrderId> = page
                .orders
                .iter()
                .filter_map(|o| o.as_ref().ok())
                .map(|o| o.order_id.clone())
                .filter(|id| !self.seen_ids.contains(id.as_str()))
                .collect();
            let mut records = self.flow.drive(s.ledger.get_orders(self.seller_id(), &ids)).await?;
            for item in page.orders {
                if self.near_deadline() {
                    self.stopped = true;
                    return Ok(());
                }
                let id = match &item {
                    Ok(o) => o.order_id.to_string(),
                    Err(bad) => bad.order.clone(),
                };
                // An order the listing shows twice (it moved between pages) is handled once.
                if id != "<unknown>" && !self.seen_ids.insert(id) {
                    continue;
                }
                self.out.seen += 1;
                match item {
                    Ok(order) => {
                        let existing = records.remove(&order.order_id);
                        self.one(&order, existing).await?;
                    }
                    Err(bad) => self.unreadable(&bad).await?,
                }
            }
            match page.next {
                Some(next) if pages.insert(next.clone()) => token = Some(next),
                _ => break,
            }
        }
        Ok(())
    }

    /// An order the listing shows that cannot be read: recorded under its own id, or one
    /// derived from what was sent when that cannot be an id; the seller sees it in the
    /// problems list either way.
    async fn unreadable(&mut self, bad: &marketbill_domain::OrderParseError) -> Result<(), PipelineError> {
        let (id, problem) = match bad.order.parse::<OrderId>() {
            Ok(id) => (id, bad.reason.clone()),
            Err(_) => (unreadable_id(&bad.order), format!("order id {}: {}", shown(&bad.order), bad.reason)),
        };
        let refusal = Refusal::Unreadable { field: bad.field.clone(), problem };
        *self.out.skipped.entry(refusal.code().to_owned()).or_default() += 1;
        let (s, now) = (self.s, self.now);
        Ok(self.flow.drive(s.ledger.record_skip(self.seller_id(), &id, &refusal, None, now)).await?)
    }

    /// One listed order, at the order's boundary: a defect (a panic) in its processing is
    /// that order's failure, never the run's (release builds unwind for this reason).
    /// Deliveries and imports in flight go on while the number is taken.
    async fn one(&mut self, order: &Order, existing: Option<OrderRecord>) -> Result<(), PipelineError> {
        let (s, ctx) = (self.s, self.ctx);
        let mut step = RunOutcome::default();
        let issued = self.flow.drive(AssertUnwindSafe(ctx.issue(order, existing, &mut step)).catch_unwind()).await;
        self.out.absorb(step);
        match issued {
            Ok(Ok(Some(job))) => self.flow.deliver(job),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                // Not numbered: a continuation must list it again.
                self.first_unnumbered_failure = self.first_unnumbered_failure.or(order.updated_at);
                note_failure(s, self.seller_id(), &order.order_id, &e, &mut self.out).await
            }
            Err(panic) => {
                let problem = panic_message(panic.as_ref());
                tracing::error!(seller = %self.seller_id(), order = %order.order_id, problem, "defect while handling an order; set aside");
                set_aside(s, self.seller_id(), &order.order_id, &problem, self.now, &mut self.out).await?;
            }
        }
        // Bounded depth, bounded imports waiting: wait before starting another.
        self.flow.settle(self.depth, &mut self.out).await;
        self.handled_up_to = order.updated_at.or(self.handled_up_to);
        Ok(())
    }

    /// Credit notes a crash left numbered but not delivered.
    async fn pending_credit_notes(&mut self) {
        let (s, ctx) = (self.s, self.ctx);
        match self.flow.drive(crate::refunds::deliver_pending(s, ctx.seller, &ctx.d, ctx.creds)).await {
            Ok(n) => self.out.resumed += n,
            Err(e) => {
                tracing::warn!(seller = %self.seller_id(), error = %e, "undelivered credit notes left for the next run")
            }
        }
    }

    /// Orders a crash left half-way that the listing did not bring back, and orders refused
    /// until their buyer answered.
    async fn left_behind(&mut self) -> Result<(), PipelineError> {
        let (s, ctx, creds) = (self.s, self.ctx, self.ctx.creds);
        for rec in self.flow.drive(s.ledger.unfinished_orders(self.seller_id())).await? {
            if self.seen_ids.contains(rec.order_id.as_str()) {
                continue;
            }
            let waits = rec.number.is_none() && rec.refusal.as_ref().is_some_and(Refusal::waits_for_buyer);
            if !waits && (rec.number.is_none() || rec.stage >= OrderStage::Uploaded) {
                continue;
            }
            if self.near_deadline() {
                self.stopped = true;
                return Ok(());
            }
            if waits {
                self.answered(rec).await;
                continue;
            }
            let job = match self.flow.drive(s.marketplace.order(creds, &rec.order_id)).await {
                Ok(Some(order)) => self.flow.drive(ctx.resumable(&order, rec.clone())).await,
                Ok(None) => Ok(None),
                Err(e) => Err(e.into()),
            };
            match job {
                Ok(Some(job)) => {
                    self.out.resumed += 1;
                    self.flow.deliver(job);
                }
                Ok(None) => {}
                Err(e) => note_failure(s, self.seller_id(), &rec.order_id, &e, &mut self.out).await,
            }
            self.flow.settle(self.depth, &mut self.out).await;
        }
        Ok(())
    }

    /// An order refused until the buyer gives its billing data (a business buyer's VAT
    /// number): issued once a request of the buyer waits.
    async fn answered(&mut self, rec: OrderRecord) {
        let (s, ctx) = (self.s, self.ctx);
        let answered = self.flow.drive(ctx.buyer_data(&rec.order_id)).await;
        if let Ok(Some(_)) = answered
            && let Ok(Some(order)) = self.flow.drive(s.marketplace.order(ctx.creds, &rec.order_id)).await
        {
            let mut step = RunOutcome::default();
            let order_id = rec.order_id.clone();
            match self.flow.drive(ctx.issue(&order, Some(rec), &mut step)).await {
                Ok(Some(job)) => self.flow.deliver(job),
                Ok(None) => {}
                Err(e) => note_failure(s, self.seller_id(), &order_id, &e, &mut self.out).await,
            }
            self.out.absorb(step);
        }
    }

    /// A stopped run queues its continuation; a whole one moves the watermark. The run is
    /// recorded either way.
    async fn close(
        mut self,
        resume_from: Option<OffsetDateTime>,
        started: Instant,
    ) -> Result<RunOutcome, PipelineError> {
        let (s, now) = (self.s, self.now);
        let seller_id = self.seller_id().clone();
        let out = &mut self.out;
        if self.stopped {
            out.continued = true;
            let resume_from = self.first_unnumbered_failure.or(self.handled_up_to).or(resume_from);
            out.resume_from = resume_from;
            s.queue
                .send(&SellerRunMessage { seller_id: seller_id.clone(), reason: RunReason::Continuation, resume_from })
                .await?;
        } else if out.failed.is_empty() {
            // The run listed as of its start: the next one goes on from there (less the overlap).
            s.ledger.advance_watermark(&seller_id, now).await?;
            out.complete = true;
        }
        let run = RunRecord {
            started_at: rfc3339(now),
            finished_at: rfc3339(s.clock.now()),
            orders_seen: out.seen,
            issued: out.issued,
            mailed: out.mailed,
            uploaded: out.uploaded,
            skipped: out.skipped_total(),
            failed: out.failed.len() as u64,
            complete: out.complete,
            not_run: None,
        };
        s.ledger.record_run(&seller_id, now, &run).await?;
        crate::metrics::log_run(&seller_id, out, started.elapsed());
        Ok(self.out)
    }
}

type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a seller run has in flight: deliveries (at most the depth), full imports waiting to
/// start, imports under way (at most `uploads_in_flight`). Everything in flight makes
/// progress whenever the run awaits anything through [`Flow::drive`].
struct Flow<'a> {
    ctx: &'a Ctx<'a>,
    creds: &'a MarketplaceCredentials,
    deliveries: FuturesUnordered<Pending<'a, Delivered>>,
    uploads: FuturesUnordered<Pending<'a, Uploaded>>,
    batch: UploadBatch,
    full: VecDeque<Vec<ToUpload>>,
    /// Steps that failed, to note on their orders at the next quiet moment.
    failures: Vec<(OrderId, PipelineError)>,
    uploaded: u64,
}

impl<'a> Flow<'a> {
    fn new(ctx: &'a Ctx<'a>, creds: &'a MarketplaceCredentials) -> Flow<'a> {
        Flow {
            ctx,
            creds,
            deliveries: FuturesUnordered::new(),
            uploads: FuturesUnordered::new(),
            batch: UploadBatch::default(),
            full: VecDeque::new(),
            failures: Vec::new(),
            uploaded: 0,
        }
    }

    fn deliver(&mut self, job: Job) {
        let ctx = self.ctx;
        self.deliveries.push(Box::pin(ctx.deliver(job)));
    }

    /// Starts waiting imports while fewer than `uploads_in_flight` are under way.
    fn start_uploads(&mut self) {
        let settings = &self.ctx.s.settings;
        while self.uploads.len() < settings.runs.uploads_in_flight.max(1) {
            let Some(batch) = self.full.pop_front() else { break };
            let (ctx, creds) = (self.ctx, self.creds);
            self.uploads.push(Box::pin(ctx.upload(creds, batch)));
        }
    }

    fn on_delivered(&mut self, d: Delivered) {
        match d.result {
            Ok(Some((rec, pdf))) => {
                self.batch.push(rec, pdf);
                if self.batch.is_full(&self.ctx.s.settings.runs) {
                    self.full.push_back(self.batch.take());
                }
            }
            Ok(None) => {}
            Err(e) => self.failures.push((d.order_id, e)),
        }
        self.start_uploads();
    }

    fn on_uploaded(&mut self, u: Uploaded) {
        match u.result {
            Ok(()) => self.uploaded += u.order_ids.len() as u64,
            Err(e) => {
                for order_id in u.order_ids {
                    self.failures.push((order_id, e.clone()));
                }
            }
        }
        self.start_uploads();
    }

    /// Awaits `fut` while what is in flight goes on.
    async fn drive<T>(&mut self, fut: impl Future<Output = T>) -> T {
        let mut fut = std::pin::pin!(fut);
        loop {
            tokio::select! {
                biased;
                out = &mut fut => return out,
                Some(d) = self.deliveries.next(), if !self.deliveries.is_empty() => self.on_delivered(d),
                Some(u) = self.uploads.next(), if !self.uploads.is_empty() => self.on_uploaded(u),
            }
        }
    }

    /// Waits for one thing in flight to finish.
    async fn one(&mut self) {
        tokio::select! {
            Some(d) = self.deliveries.next(), if !self.deliveries.is_empty() => self.on_delivered(d),
            Some(u) = self.uploads.next(), if !self.uploads.is_empty() => self.on_uploaded(u),
            else => {}
        }
    }

    /// Backpressure: fewer than `depth` deliveries and at most two full imports waiting.
    async fn settle(&mut self, depth: usize, out: &mut RunOutcome) {
        while self.deliveries.len() >= depth || self.full.len() > 2 {
            self.one().await;
        }
        self.account(out).await;
    }

    /// Everything in flight finished, the last partial import sent and finished.
    async fn drain(&mut self, out: &mut RunOutcome) {
        while !self.deliveries.is_empty() {
            self.one().await;
        }
        if !self.batch.items.is_empty() {
            let last = self.batch.take();
            self.full.push_back(last);
        }
        self.start_uploads();
        while !self.uploads.is_empty() || !self.full.is_empty() {
            self.one().await;
            self.start_uploads();
        }
        self.account(out).await;
    }

    /// Moves the counts into the run's outcome and notes the failures on their orders.
    async fn account(&mut self, out: &mut RunOutcome) {
        // Every mail the mailer took, even when a later step of its order failed.
        out.mailed = self.ctx.d.sent.load(std::sync::atomic::Ordering::Relaxed);
        out.uploaded += std::mem::take(&mut self.uploaded);
        let seller_id = self.ctx.id().clone();
        for (order_id, e) in std::mem::take(&mut self.failures) {
            note_failure(self.ctx.s, &seller_id, &order_id, &e, out).await;
        }
    }
}
