//! The seller portal and the buyer's invoice requests, as use cases. The HTTP layer (one
//! router for the Lambda and for `marketbill serve`) maps these to routes; the seller id always
//! comes from verified token claims, never from the request.

use std::collections::BTreeMap;
use std::time::Duration;

use marketbill_documents::bundle::{BundleEntry, merge_archives, zip_documents};
use marketbill_domain::fees::{FeePlans, MonthlyFee};
use marketbill_domain::{BuyerBillingData, InvoiceNumber, OrderId, SellerProfileInput};
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::delivery::{Delivery, Mailed};
use crate::marketplace::MarketplaceCredentials;
use crate::model::{
    BuyerRequestRecord, InvoicePage, InvoiceQuery, InvoiceRecord, OrderRecord, OrderStage, RequestStatus, SellerId,
    SellerRecord, SellerStatus,
};
use crate::once::Once;
use crate::pipeline::{PipelineError, Services, open_credentials};
use crate::ports::{LedgerError, PresignedLink, RequestSlot};

/// How long download links live.
pub const LINK_TTL: Duration = Duration::from_secs(5 * 60);
/// How long an unsubscribed seller can still download.
pub const GRACE: time::Duration = time::Duration::days(31);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortalError {
    #[error("invalid request")]
    Invalid(BTreeMap<String, Vec<String>>),
    #[error("not found")]
    NotFound,
    #[error("the seller has unsubscribed; only downloads remain open")]
    Unsubscribed,
    #[error("{0}")]
    Conflict(Conflict),
    /// One answer for every buyer refusal, so it does not tell which part was wrong.
    #[error("no order matches this order number and e-mail address")]
    BuyerRefused,
    #[error("too many requests; try again tomorrow")]
    RateLimited,
    /// A repeat of a request (same idempotency key) that is still being carried out.
    #[error("a request with this key is being carried out; try again in a moment")]
    InProgress,
    /// An idempotency key sent again with another request.
    #[error("this key was used for another request")]
    KeyReused,
    /// A credit note that cannot be made as asked (the items), with the domain's reason.
    #[error("items: {0}")]
    Credit(marketbill_domain::credit::CreditError),

    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

/// Why a request cannot be carried out as things stand: a code the pages translate
/// ([`Conflict::code`]); the English sentence is the API's `detail`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("an export part is missing; start the export again")]
    ExportPartMissing,
    #[error("the export did not finish; start it again")]
    ExportUnfinished,
    #[error("the e-reporting file cannot be written: {0}")]
    ReportUnwritable(String),
    /// The mail was not sent (no buyer address, an address that bounced), for this reason.
    #[error("not mailed: {0}")]
    NotMailed(String),
    #[error("this order has nothing left to retry")]
    NothingToRetry,
    #[error("another credit note of this invoice was just issued; look at what is left and try again")]
    CreditRaced,
    #[error("no marketplace credentials")]
    NoCredentials,
    #[error("a request for this order is already being handled; try again later")]
    OrderBusy,
    #[error("the corrected invoice cannot be drafted: {0}")]
    NotDraftable(String),
    #[error("a credit note was already issued for this order's invoice; the seller corrects it by hand")]
    AlreadyCredited,
    #[error("only an invoice its platform rejected or its buyer refused is issued again this way")]
    NotRefused,
    #[error("this invoice was already replaced by invoice {0}")]
    AlreadyReplaced(String),
}

impl Conflict {
    /// The code the pages translate.
    pub fn code(&self) -> &'static str {
        match self {
            Conflict::ExportPartMissing => "exportPartMissing",
            Conflict::ExportUnfinished => "exportUnfinished",
            Conflict::ReportUnwritable(_) => "reportUnwritable",
            Conflict::NotMailed(_) => "notMailed",
            Conflict::NothingToRetry => "nothingToRetry",
            Conflict::CreditRaced => "creditRaced",
            Conflict::NoCredentials => "noCredentials",
            Conflict::OrderBusy => "orderBusy",
            Conflict::NotDraftable(_) => "notDraftable",
            Conflict::AlreadyCredited => "alreadyCredited",
            Conflict::NotRefused => "notRefused",
            Conflict::AlreadyReplaced(_) => "alreadyReplaced",
        }
    }

    /// Every code, for the pages' check that each has a text.
    pub const CODES: [&'static str; 12] = [
        "exportPartMissing",
        "exportUnfinished",
        "reportUnwritable",
        "notMailed",
        "nothingToRetry",
        "creditRaced",
        "noCredentials",
        "orderBusy",
        "notDraftable",
        "alreadyCredited",
        "notRefused",
        "alreadyReplaced",
    ];
}

impl From<LedgerError> for PortalError {
    fn from(e: LedgerError) -> Self {
        PortalError::Pipeline(e.into())
    }
}

impl PortalError {
    pub fn field(field: &str, message: &str) -> PortalError {
        PortalError::Invalid(BTreeMap::from([(field.to_owned(), vec![message.to_owned()])]))
    }
}

/// Every document a query selects, page after page (its `limit` is the page size).
pub(crate) async fn all_invoices(
    ledger: &dyn crate::ports::InvoiceLedger,
    id: &SellerId,
    mut query: InvoiceQuery,
) -> Result<Vec<InvoiceRecord>, LedgerError> {
    let mut out = Vec::new();
    loop {
        let page = ledger.list_invoices(id, &query).await?;
        out.extend(page.items);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(out),
        }
    }
}

async fn seller(s: &Services, id: &SellerId) -> Result<SellerRecord, PortalError> {
    s.ledger.get_seller(id).await?.ok_or(PortalError::NotFound)
}

/// `PUT /v1/seller`: registers or updates the company profile (validated, eligible country).
pub async fn put_profile(s: &Services, id: &SellerId, input: &SellerProfileInput) -> Result<SellerRecord, PortalError> {
    let profile = input.validate().map_err(|e| PortalError::Invalid(e.0))?;
    let now = s.clock.now();
    let existing = s.ledger.get_seller(id).await?;
    if let Some(e) = &existing
        && !e.is_active()
    {
        return Err(PortalError::Unsubscribed);
    }
    // An address is one account's: claimed before the profile takes it.
    let changed = existing.as_ref().is_none_or(|e| !e.profile.email.trim().eq_ignore_ascii_case(profile.email.trim()));
    if changed {
        match s.ledger.claim_email(id, &profile.email).await {
            Ok(()) => {}
            Err(LedgerError::EmailTaken { .. }) => {
                return Err(PortalError::field("email", "belongs to another account"));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let record = SellerRecord {
        seller_id: id.clone(),
        profile,
        status: SellerStatus::Active,
        registered_at: existing.as_ref().map(|e| e.registered_at).unwrap_or(now),
        platform: existing.as_ref().and_then(|e| e.platform.clone()),
        first_invoices_at: existing.as_ref().and_then(|e| e.first_invoices_at),
        handled_problems: existing.as_ref().map(|e| e.handled_problems.clone()).unwrap_or_default(),
        credentials: existing.and_then(|e| e.credentials),
    };
    s.ledger.put_seller(&record).await?;
    Ok(record)
}

/// `PUT /v1/seller/credentials`: checked against the marketplace, stored sealed.
pub async fn put_credentials(s: &Services, id: &SellerId, creds: &MarketplaceCredentials) -> Result<(), PortalError> {
    let mut record = seller(s, id).await?;
    if !record.is_active() {
        return Err(PortalError::Unsubscribed);
    }
    if creds.seller_id != record.profile.marketplace_seller_id {
        return Err(PortalError::field("sellerId", "must be the marketplace seller id of the profile"));
    }
    s.marketplace.check_credentials(creds).await.map_err(|e| match e {
        crate::marketplace::MarketplaceError::Credentials(_) => {
            PortalError::field("clientSecret", "the marketplace refused these credentials")
        }
        other => PortalError::Pipeline(other.into()),
    })?;
    record.credentials = Some(crate::pipeline::seal_credentials(s.secrets.as_ref(), creds).await?);
    s.ledger.put_seller(&record).await?;
    Ok(())
}

pub async fn get_profile(s: &Services, id: &SellerId) -> Result<SellerRecord, PortalError> {
    seller(s, id).await
}

pub async fn list_invoices(s: &Services, id: &SellerId, q: &InvoiceQuery) -> Result<InvoicePage, PortalError> {
    seller(s, id).await?;
    Ok(s.ledger.list_invoices(id, q).await?)
}

/// One invoice with short-lived links to its files.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceLinks {
    pub record: InvoiceRecord,
    pub pdf: Option<PresignedLink>,
    pub xml: Option<PresignedLink>,
}

pub async fn invoice(s: &Services, id: &SellerId, number: &InvoiceNumber) -> Result<InvoiceLinks, PortalError> {
    seller(s, id).await?;
    let record = s.ledger.get_invoice(id, number).await?.ok_or(PortalError::NotFound)?;
    let pdf = match &record.pdf {
        Some(o) => Some(s.store.presign_get(&o.key, LINK_TTL).await.map_err(PipelineError::from)?),
        None => None,
    };
    let xml = match &record.xml {
        Some(o) => Some(s.store.presign_get(&o.key, LINK_TTL).await.map_err(PipelineError::from)?),
        None => None,
    };
    Ok(InvoiceLinks { record, pdf, xml })
}

/// One of Marketbill's own invoices to the seller (its monthly fee), with links to its files.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeeInvoice {
    pub number: String,
    pub issue_date: String,
    /// `FEE-<seller>-<YYYYMM>`.
    pub reference: String,
    pub total_excl_vat: rust_decimal::Decimal,
    pub total_incl_vat: rust_decimal::Decimal,
    pub payable: rust_decimal::Decimal,
    pub pdf: Option<PresignedLink>,
    pub xml: Option<PresignedLink>,
}

/// The seller's fee invoices of the last two years, newest first.
pub async fn fee_invoices(s: &Services, id: &SellerId) -> Result<Vec<FeeInvoice>, PortalError> {
    seller(s, id).await?;
    let mut out = Vec::new();
    for rec in crate::fee_billing::fee_invoices(s, id, 24).await? {
        let link = |o: &Option<crate::model::StoredObject>| {
            let key = o.as_ref().map(|o| o.key.clone());
            async move {
                match key {
                    Some(k) => s.store.presign_get(&k, LINK_TTL).await.map(Some).map_err(PipelineError::from),
                    None => Ok(None),
                }
            }
        };
        let t = &rec.invoice.body.totals;
        out.push(FeeInvoice {
            number: rec.invoice.number.to_string(),
            issue_date: marketbill_domain::calendar::iso_date(rec.invoice.issue_date),
            reference: rec.order_id.to_string(),
            total_excl_vat: t.tax_exclusive,
            total_incl_vat: t.tax_inclusive,
            payable: t.payable,
            pdf: link(&rec.pdf).await?,
            xml: link(&rec.xml).await?,
        });
    }
    Ok(out)
}

/// How many invoices (their PDF and XML) one step of an export packs.
pub const EXPORT_STEP: usize = 100;

/// An export being built: the period's documents, packed [`EXPORT_STEP`] invoices per step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExportManifest {
    from: time::Date,
    to: time::Date,
    /// (name in the archive, store key), sorted by name.
    files: Vec<(String, String)>,
    /// Invoices per step: files of one invoice stay in one part.
    steps: Vec<usize>,
}

/// Where an export is.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportProgress {
    pub job: String,
    pub from: time::Date,
    pub to: time::Date,
    /// Files (PDF and XML) packed so far, and in all.
    pub files_done: usize,
    pub files: usize,
    /// The archive's link, once it is built.
    pub link: Option<PresignedLink>,
}

/// An export job's name: `<unix time>-<16 hex>` (what [`start_export`] makes).
pub fn is_export_job(job: &str) -> bool {
    job.split_once('-').is_some_and(|(t, n)| {
        !t.is_empty()
            && t.len() <= 12
            && t.bytes().all(|b| b.is_ascii_digit())
            && n.len() == 16
            && n.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

fn check_period(from: time::Date, to: time::Date) -> Result<(), PortalError> {
    if to < from {
        return Err(PortalError::field("to", "must not be before from"));
    }
    if (to - from) > time::Duration::days(366) {
        return Err(PortalError::field("to", "a period is at most one year"));
    }
    Ok(())
}

/// Starts the export of a period: lists its documents and records the job. The archive is
/// built by [`advance_export`], one step per call, so that no single request (a Lambda's, a
/// page's) runs long and a page can show the progress.
///
/// Once per [`Once`]: a repeat goes to the export the first request started.
pub async fn start_export(
    s: &Services,
    id: &SellerId,
    from: time::Date,
    to: time::Date,
    once: Option<&Once>,
) -> Result<ExportProgress, PortalError> {
    crate::once::once(s, id, once, || start_export_now(s, id, from, to)).await
}

async fn start_export_now(
    s: &Services,
    id: &SellerId,
    from: time::Date,
    to: time::Date,
) -> Result<ExportProgress, PortalError> {
    check_period(from, to)?;
    seller(s, id).await?;
    let mut files: Vec<(String, String)> = Vec::new();
    let mut per_invoice: Vec<usize> = Vec::new();
    let query = InvoiceQuery { from: Some(from), to: Some(to), limit: 200, ..Default::default() };
    for rec in all_invoices(s.ledger.as_ref(), id, query).await? {
        let before = files.len();
        for (obj, ext) in [(&rec.pdf, "pdf"), (&rec.xml, "xml")] {
            if let Some(o) = obj {
                files.push((format!("{}/{}.{ext}", rec.invoice.issue_date.year(), rec.invoice.number), o.key.clone()));
            }
        }
        if files.len() > before {
            per_invoice.push(files.len() - before);
        }
    }
    // Numbers sort within a series and a year: the archive lists each year's documents in order.
    let steps = per_invoice.chunks(EXPORT_STEP).map(|c| c.iter().sum()).collect();
    let manifest = ExportManifest { from, to, files, steps };
    let now = s.clock.now();
    crate::retention::sweep_exports(s.store.as_ref(), &format!("exports/{id}/"), now)
        .await
        .map_err(PipelineError::from)?;
    // Unique per request (time and a random part): simultaneous exports never share a file.
    let job = format!("{}-{}", now.unix_timestamp(), hex::encode(&crate::crypto::random_key()[..8]));
    let body = serde_json::to_vec(&manifest).map_err(|e| PipelineError::Render(e.to_string()))?;
    s.store
        .put(&format!("exports/{id}/{job}.manifest.json"), &body, "application/json")
        .await
        .map_err(PipelineError::from)?;
    Ok(ExportProgress { job, from, to, files_done: 0, files: manifest.files.len(), link: None })
}

/// Does the next step of an export (packs one part, or assembles the parts) and says where it
/// is. Safe to call again and at once: a step writes the same bytes whoever does it.
pub async fn advance_export(s: &Services, id: &SellerId, job: &str) -> Result<ExportProgress, PortalError> {
    if !is_export_job(job) {
        return Err(PortalError::NotFound);
    }
    let prefix = format!("exports/{id}/{job}");
    let store = s.store.as_ref();
    let raw = store
        .get(&format!("{prefix}.manifest.json"))
        .await
        .map_err(PipelineError::from)?
        .ok_or(PortalError::NotFound)?;
    let m: ExportManifest = serde_json::from_slice(&raw).map_err(|e| PipelineError::Render(e.to_string()))?;
    // Named by seller and period where it is downloaded (the last segment of its key).
    let archive = format!("{prefix}/factures_{id}_{}_{}.zip", m.from, m.to);
    let part = |k: usize| format!("{prefix}.part-{k:05}.zip");
    let existing = store.list(&prefix).await.map_err(PipelineError::from)?;
    let mut progress =
        ExportProgress { job: job.to_owned(), from: m.from, to: m.to, files_done: 0, files: m.files.len(), link: None };
    if existing.contains(&archive) {
        progress.files_done = progress.files;
        progress.link = Some(store.presign_get(&archive, LINK_TTL).await.map_err(PipelineError::from)?);
        return Ok(progress);
    }
    let mut start = 0;
    let mut missing = None;
    for (k, n) in m.steps.iter().enumerate() {
        if existing.contains(&part(k)) {
            progress.files_done += n;
        } else if missing.is_none() {
            missing = Some((k, start, *n));
        }
        start += n;
    }
    if let Some((k, start, n)) = missing {
        let mut bytes = Vec::with_capacity(n);
        for (name, key) in m.files.iter().skip(start).take(n) {
            // A document deleted since the listing (a purge) is left out, not an error.
            if let Some(b) = store.get(key).await.map_err(PipelineError::from)? {
                bytes.push((name.clone(), b));
            }
        }
        let entries = bytes.iter().map(|(name, b)| BundleEntry { name: name.clone(), bytes: b }).collect();
        let zip = zip_documents(entries).map_err(|e| PipelineError::Render(e.to_string()))?;
        store.put(&part(k), &zip, "application/zip").await.map_err(PipelineError::from)?;
        progress.files_done += n;
        return Ok(progress);
    }
    let mut parts = Vec::with_capacity(m.steps.len());
    for k in 0..m.steps.len() {
        parts.push(
            store
                .get(&part(k))
                .await
                .map_err(PipelineError::from)?
                .ok_or(PortalError::Conflict(Conflict::ExportPartMissing))?,
        );
    }
    let zip = if parts.is_empty() { zip_documents(Vec::new()) } else { merge_archives(&parts) }
        .map_err(|e| PipelineError::Render(e.to_string()))?;
    store.put(&archive, &zip, "application/zip").await.map_err(PipelineError::from)?;
    for k in 0..m.steps.len() {
        store.delete_prefix(&part(k)).await.map_err(PipelineError::from)?;
    }
    progress.link = Some(store.presign_get(&archive, LINK_TTL).await.map_err(PipelineError::from)?);
    Ok(progress)
}

/// `POST /v1/exports`: a ZIP of the period's documents behind a short-lived link, built in one
/// call (the pages build it step by step with [`start_export`] and [`advance_export`]).
pub async fn export(
    s: &Services,
    id: &SellerId,
    from: time::Date,
    to: time::Date,
    once: Option<&Once>,
) -> Result<(PresignedLink, usize), PortalError> {
    // A repeat finds the same job (and its archive, or builds what is left of it).
    let started = start_export(s, id, from, to, once).await?;
    // One step per part and one to assemble; the bound only guards against a job gone wrong.
    for _ in 0..=started.files + 1 {
        let p = advance_export(s, id, &started.job).await?;
        if let Some(link) = p.link {
            return Ok((link, p.files));
        }
    }
    Err(PortalError::Conflict(Conflict::ExportUnfinished))
}

/// Every invoice and credit note of a period, in number order within each series: what the
/// sales journal (FEC, CSV) is made of.
pub async fn journal(
    s: &Services,
    id: &SellerId,
    from: time::Date,
    to: time::Date,
) -> Result<Vec<InvoiceRecord>, PortalError> {
    check_period(from, to)?;
    seller(s, id).await?;
    let query = InvoiceQuery { from: Some(from), to: Some(to), limit: 500, ..Default::default() };
    Ok(all_invoices(s.ledger.as_ref(), id, query).await?)
}

/// A sales journal as a file: its name, its type and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalFile {
    pub name: String,
    pub content_type: &'static str,
    pub body: String,
}

/// The sales journal of a period in a format: `fec` (named as the format requires, by the
/// seller's SIREN or else its id), `csv`, or the e-reporting transaction data of the period
/// (`ereporting` as XML, `ereporting-json`; see [`crate::ereporting`]).
pub async fn journal_file(
    s: &Services,
    id: &SellerId,
    format: &str,
    from: time::Date,
    to: time::Date,
) -> Result<JournalFile, PortalError> {
    use crate::accounting;
    use crate::ereporting;
    if !matches!(format, "fec" | "csv" | "ereporting" | "ereporting-json") {
        return Err(PortalError::field("format", "is fec, csv, ereporting or ereporting-json"));
    }
    let record = seller(s, id).await?;
    let records = journal(s, id, from, to).await?;
    Ok(match format {
        "fec" => {
            let who = record.profile.siren.as_ref().map(|s| s.as_str().to_owned()).unwrap_or_else(|| id.to_string());
            JournalFile {
                name: accounting::fec_file_name(&who, to),
                content_type: "text/plain; charset=utf-8",
                body: accounting::fec(&records, &s.settings.accounts),
            }
        }
        "csv" => JournalFile {
            name: format!("journal-ventes-{from}-{to}.csv"),
            content_type: "text/csv; charset=utf-8",
            body: accounting::csv(&records),
        },
        json_or_xml => {
            use marketbill_domain::reporting::{PeriodKind, ReportingPeriod};
            // A period of one of the regimes: ten days, a month or two months, exactly.
            let period = [PeriodKind::TenDays, PeriodKind::Month, PeriodKind::TwoMonths]
                .into_iter()
                .map(|kind| ReportingPeriod::containing(kind, from))
                .find(|p| p.start == from && p.end == to)
                .ok_or_else(|| {
                    PortalError::field(
                        "to",
                        "an e-reporting period is ten days (1–10, 11–20, 21–end), a month or two months",
                    )
                })?;
            let report = ereporting::report(&ereporting::ReportRequest {
                profile: &record.profile,
                period,
                records: &records,
                sender: None,
                version: 1,
                created_at: s.clock.now(),
            });
            let label = period.label();
            if json_or_xml == "ereporting-json" {
                JournalFile {
                    name: format!("e-reporting-{label}.json"),
                    content_type: "application/json",
                    body: serde_json::to_string_pretty(&report)
                        .map_err(|e| PipelineError::Render(format!("e-reporting JSON: {e}")))?,
                }
            } else {
                let xml = ereporting::to_xml(&report)
                    .map_err(|e| PortalError::Conflict(Conflict::ReportUnwritable(e.to_string())))?;
                JournalFile {
                    name: format!("e-reporting-{label}.xml"),
                    content_type: "application/xml",
                    body: String::from_utf8_lossy(&xml).into_owned(),
                }
            }
        }
    })
}

/// Usage this month and last month, and the fee under the seller's plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub month: String,
    pub invoices_this_month: u64,
    pub previous_month: String,
    pub invoices_previous_month: u64,
    pub fee: MonthlyFee,
}

pub async fn usage(s: &Services, id: &SellerId, plans: &FeePlans) -> Result<Usage, PortalError> {
    let record = seller(s, id).await?;
    usage_of(s, &record, plans).await
}

async fn usage_of(s: &Services, record: &SellerRecord, plans: &FeePlans) -> Result<Usage, PortalError> {
    let id = &record.seller_id;
    // Both in Paris time (the first hours of a month in Paris are still the month before in UTC).
    let (month, previous_month) = crate::model::month_and_previous(s.clock.now());
    let this = s.ledger.usage(id, &month).await?;
    let prev = s.ledger.usage(id, &previous_month).await?;
    Ok(Usage {
        month,
        invoices_this_month: this,
        previous_month,
        invoices_previous_month: prev,
        fee: plans.monthly_fee(record.profile.plan, this, prev),
    })
}

/// The seller whose account holds this e-mail address (the local sign-in by e-mail; on AWS the
/// user pool knows its users). Compared without case; `None` for an unknown address. A seller
/// who unsubscribed still signs in during their last month, to download.
pub async fn seller_for_email(s: &Services, email: &str) -> Result<Option<SellerId>, PortalError> {
    let Ok(wanted) = marketbill_domain::email::parse_address(email.trim()) else { return Ok(None) };
    let Some(id) = s.ledger.seller_by_email(&wanted).await? else { return Ok(None) };
    Ok(s.ledger.get_seller(&id).await?.map(|r| r.seller_id))
}

/// Sign-in and sign-up links mailed to one address in a day, at most.
pub const LINKS_PER_DAY: u32 = 5;

/// Mails a one-time sign-in or sign-up link, at most [`LINKS_PER_DAY`] a day to one address
/// (every attempt counts): a public form must not make Marketbill a mail cannon. Returns
/// whether it was sent; the page answers the same either way (nothing tells whether an
/// address has an account, nor whether its limit is reached). The address is counted under
/// a keyed hash, not kept.
pub async fn mail_link(s: &Services, email: &str, link: &str) -> Result<bool, PortalError> {
    let Ok(to) = marketbill_domain::email::parse_address(email.trim()) else { return Ok(false) };
    let now = s.clock.now();
    let who = crate::crypto::buyer_email_hash(&s.settings.buyer_email_key, &to);
    let subject = format!("link:{who}");
    let slot = s
        .ledger
        .take_slot(&SellerId::placeholder(), &subject, &crate::model::day_key(now), LINKS_PER_DAY, now, now)
        .await?;
    if slot == RequestSlot::LimitReached {
        tracing::info!(to = %crate::mail::mask_email(&to), "sign-in links of the day used up; not mailed");
        return Ok(false);
    }
    let mail = crate::mail::sign_in_mail(&s.settings.sender, &to, link, now).map_err(PipelineError::from)?;
    s.mailer.send(&mail).await.map_err(PipelineError::from)?;
    Ok(true)
}

/// One month of the usage history.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MonthUsage {
    pub month: String,
    pub invoices: u64,
    /// Credit notes issued that month (not billed).
    pub credit_notes: u64,
    pub fee: MonthlyFee,
}

/// Invoices and fee per month, this month first, back to the month of registration (at most
/// `months`).
pub async fn usage_history(
    s: &Services,
    id: &SellerId,
    plans: &FeePlans,
    months: usize,
) -> Result<Vec<MonthUsage>, PortalError> {
    let record = seller(s, id).await?;
    use marketbill_domain::calendar::{first_of_month, paris_date, previous_month as previous};
    let first = first_of_month(paris_date(record.registered_at));
    let mut month = first_of_month(paris_date(s.clock.now()));
    let key = crate::model::date_month_key;
    // The credit notes of every month shown, in one listing.
    let oldest = (0..months.saturating_sub(1)).fold(month, |m, _| previous(m)).max(first);
    let query = InvoiceQuery { from: Some(oldest), credit_notes: Some(true), limit: 500, ..Default::default() };
    let mut credit_notes: BTreeMap<String, u64> = BTreeMap::new();
    for cn in all_invoices(s.ledger.as_ref(), id, query).await? {
        *credit_notes.entry(key(cn.invoice.issue_date)).or_default() += 1;
    }
    let mut out: Vec<MonthUsage> = Vec::new();
    let mut count = s.ledger.usage(id, &key(month)).await?;
    while out.len() < months && month >= first {
        let before = previous(month);
        let count_before = s.ledger.usage(id, &key(before)).await?;
        out.push(MonthUsage {
            month: key(month),
            invoices: count,
            credit_notes: credit_notes.get(&key(month)).copied().unwrap_or(0),
            fee: plans.monthly_fee(record.profile.plan, count, count_before),
        });
        month = before;
        count = count_before;
    }
    Ok(out)
}

/// What the seller's dashboard shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dashboard {
    pub seller_name: String,
    pub usage: Usage,
    pub last_run: Option<crate::model::RunRecord>,
    pub problems: usize,
    /// Invoices (not credit notes) issued on each day of the month so far, day 1 first.
    pub per_day: Vec<u64>,
    /// The next scheduled run (RFC 3339).
    pub next_run: String,
    /// Where the seller stands in getting started: credentials saved, a platform chosen, an
    /// invoice issued.
    pub has_credentials: bool,
    pub has_platform: bool,
    pub has_invoices: bool,
}

/// The dashboard: this month's invoices and fee, the last run, the problems, invoices per day.
pub async fn dashboard(s: &Services, id: &SellerId, plans: &FeePlans) -> Result<Dashboard, PortalError> {
    let record = seller(s, id).await?;
    let usage = usage_of(s, &record, plans).await?;
    let last_run = s.ledger.runs(id, 1).await?.into_iter().next();
    let problems = problem_orders(s, id).await?.len();
    // The Paris day, as invoice dates and the usage months are.
    let today = marketbill_domain::calendar::paris_date(s.clock.now());
    let first = today.replace_day(1).unwrap_or(today);
    let mut per_day = vec![0u64; usize::from(today.day())];
    let query = InvoiceQuery {
        from: Some(first),
        to: Some(today),
        credit_notes: Some(false),
        limit: 500,
        ..Default::default()
    };
    for rec in all_invoices(s.ledger.as_ref(), id, query).await? {
        if let Some(n) = per_day.get_mut(usize::from(rec.invoice.issue_date.day()).saturating_sub(1)) {
            *n += 1;
        }
    }
    let any = InvoiceQuery { limit: 1, ..Default::default() };
    let has_invoices = !s.ledger.list_invoices(id, &any).await?.items.is_empty();
    let next_run = crate::schedule::next_cycle(s.clock.now())
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    Ok(Dashboard {
        seller_name: record.profile.legal_name,
        usage,
        last_run,
        problems,
        per_day,
        next_run,
        has_credentials: record.credentials.is_some(),
        has_platform: record.platform.is_some(),
        has_invoices,
    })
}

/// Orders refused or failing, with their reasons.
pub async fn problems(s: &Services, id: &SellerId) -> Result<Vec<OrderRecord>, PortalError> {
    seller(s, id).await?;
    problem_orders(s, id).await
}

async fn problem_orders(s: &Services, id: &SellerId) -> Result<Vec<OrderRecord>, PortalError> {
    let all = s.ledger.list_orders(id).await?;
    let handled = seller(s, id).await.map(|r| r.handled_problems).unwrap_or_default();
    Ok(all.into_iter().filter(|o| o.is_open_problem(&handled)).collect())
}

/// `POST /v1/orders/{orderId}/handled`: the seller has dealt with an order's problem (by hand,
/// with the buyer…): it leaves the problems list until another problem comes.
pub async fn mark_handled(s: &Services, id: &SellerId, order_id: &OrderId) -> Result<(), PortalError> {
    let order = s.ledger.get_order(id, order_id).await?.ok_or(PortalError::NotFound)?;
    let Some(key) = order.problem_key() else {
        return Err(PortalError::Conflict(Conflict::NothingToRetry));
    };
    let mut record = seller(s, id).await?;
    if record.handled_problems.get(order_id) == Some(&key) {
        return Ok(());
    }
    // Marks of orders whose problem has gone are dropped on the way: the map stays small.
    let all = s.ledger.list_orders(id).await?;
    let open: std::collections::BTreeSet<&OrderId> =
        all.iter().filter(|o| o.problem_key().is_some()).map(|o| &o.order_id).collect();
    record.handled_problems.retain(|o, _| open.contains(o));
    record.handled_problems.insert(order_id.clone(), key);
    s.ledger.put_seller(&record).await?;
    Ok(())
}

/// `POST /v1/invoices/{number}/resend`: the invoice mailed to the buyer again; the provider's
/// message id. Once per [`Once`] (a repeat gets the first message id, no second mail).
pub async fn resend(
    s: &Services,
    id: &SellerId,
    number: &InvoiceNumber,
    once: Option<&Once>,
) -> Result<String, PortalError> {
    crate::once::once(s, id, once, || resend_now(s, id, number)).await
}

async fn resend_now(s: &Services, id: &SellerId, number: &InvoiceNumber) -> Result<String, PortalError> {
    let record = seller(s, id).await?;
    let inv = s.ledger.get_invoice(id, number).await?.ok_or(PortalError::NotFound)?;
    // At most `resends_per_day` a day per invoice: a buyer's inbox is not a target.
    let now = s.clock.now();
    let slot = s
        .ledger
        .take_slot(id, &format!("resend:{number}"), &crate::model::day_key(now), s.settings.resends_per_day, now, now)
        .await?;
    if slot == RequestSlot::LimitReached {
        return Err(PortalError::RateLimited);
    }
    let creds = credentials(s, &record).await?;
    let order =
        s.marketplace.order(&creds, &inv.order_id).await.map_err(PipelineError::from)?.ok_or(PortalError::NotFound)?;
    let d = Delivery::new(s, id, now, None);
    let pdf = d.pdf(&inv).await?;
    match d.mail(&inv.invoice, &pdf, order.buyer_email()).await? {
        Mailed::Sent(id) => Ok(id),
        Mailed::Refused(why) => Err(PortalError::Conflict(Conflict::NotMailed(why))),
    }
}

/// What a retry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RetryOutcome {
    /// A document the marketplace refused was uploaded again, now.
    Uploaded,
    /// The order will be looked at again by a run queued now.
    Queued,
}

/// A problem order tried again: a refused upload is sent again at once; any other problem
/// (a step that failed, a refusal that may change) queues a run of the seller.
pub async fn retry(
    s: &Services,
    id: &SellerId,
    order_id: &OrderId,
    once: Option<&Once>,
) -> Result<RetryOutcome, PortalError> {
    crate::once::once(s, id, once, || retry_now(s, id, order_id)).await
}

async fn retry_now(s: &Services, id: &SellerId, order_id: &OrderId) -> Result<RetryOutcome, PortalError> {
    let record = seller(s, id).await?;
    if !record.is_active() {
        return Err(PortalError::Unsubscribed);
    }
    let mut order = s.ledger.get_order(id, order_id).await?.ok_or(PortalError::NotFound)?;
    if order.stage == OrderStage::Rejected {
        let number = order.number.clone().ok_or(PortalError::NotFound)?;
        let inv = s.ledger.get_invoice(id, &number).await?.ok_or(PortalError::NotFound)?;
        let creds = credentials(s, &record).await?;
        let d = Delivery::new(s, id, s.clock.now(), None);
        let pdf = d.pdf(&inv).await?;
        d.upload_one(&creds, &mut order, &pdf).await?;
        return Ok(RetryOutcome::Uploaded);
    }
    if !order.is_open() {
        return Err(PortalError::Conflict(Conflict::NothingToRetry));
    }
    let message = crate::ports::SellerRunMessage {
        seller_id: id.clone(),
        reason: crate::ports::RunReason::Manual,
        resume_from: None,
    };
    s.queue.send(&message).await.map_err(PipelineError::from)?;
    Ok(RetryOutcome::Queued)
}

/// A credit note the seller issued, and whether its mail left.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditNoteIssued {
    pub credit_note: InvoiceNumber,
    pub total_incl_vat: rust_decimal::Decimal,
    /// Still creditable on the invoice after it, VAT included.
    pub remaining_incl_vat: rust_decimal::Decimal,
    /// `None` when mailed; else why not (the document is issued and stored either way, and
    /// can be sent again with `resend`).
    pub not_mailed: Option<String>,
}

/// A credit note for part or all of an invoice, asked by its seller (returns, missing items,
/// gestures): computed against what the invoice's earlier credit notes left, numbered and
/// recorded in one write, stored and mailed to the buyer like an invoice. Not metered. The
/// marketplace copy of the order keeps the invoice (an upload would replace it).
///
/// Once per [`Once`]: a repeat gets the first credit note. Its key also goes into the
/// invoice's credited state in the write that numbers the credit note, so even a repeat after
/// a crash between the two (the key's answer not kept) finds it issued and issues nothing.
pub async fn credit_note(
    s: &Services,
    id: &SellerId,
    number: &InvoiceNumber,
    items: &[marketbill_domain::credit::CreditItem],
    reason: &str,
    once: Option<&Once>,
) -> Result<CreditNoteIssued, PortalError> {
    let marker = once.map(|o| format!("request-{}", &o.key()[..32]));
    crate::once::once(s, id, once, || credit_note_now(s, id, number, items, reason, marker)).await
}

async fn credit_note_now(
    s: &Services,
    id: &SellerId,
    number: &InvoiceNumber,
    items: &[marketbill_domain::credit::CreditItem],
    reason: &str,
    marker: Option<String>,
) -> Result<CreditNoteIssued, PortalError> {
    let record = seller(s, id).await?;
    if !record.is_active() {
        return Err(PortalError::Unsubscribed);
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(PortalError::field("reason", "is required, at most 200 characters"));
    }
    let original = s.ledger.get_invoice(id, number).await?.ok_or(PortalError::NotFound)?;
    let before = crate::refunds::credited_state(s, id, &original).await?;
    if let Some(m) = &marker
        && before.applied.contains(m)
    {
        return issued_under_marker(s, id, &original, &before).await;
    }
    let now = s.clock.now();
    let (draft, mut after) =
        original.invoice.credit(&record.profile, now, items, reason, &before).map_err(PortalError::Credit)?;
    if let Some(m) = marker {
        after.applied.insert(m);
    }
    let cn = match s.ledger.issue_credit_note(id, &original.order_id, draft, &before, &after, now).await {
        Ok(cn) => cn,
        Err(LedgerError::CreditConflict { .. }) => {
            return Err(PortalError::Conflict(Conflict::CreditRaced));
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(seller = %id, invoice = %number, credit_note = %cn.number, "credit note issued by the seller");
    let d = Delivery::new(s, id, now, None);
    let pdf = match d.store(&cn).await {
        Ok(pdf) => pdf,
        // Issued: the next seller run stores and mails it (a credit note without documents).
        Err(e) => {
            tracing::warn!(seller = %id, credit_note = %cn.number, error = %e, "credit note issued; delivery left to the next run");
            return Ok(CreditNoteIssued {
                credit_note: cn.number.clone(),
                total_incl_vat: cn.body.totals.tax_inclusive,
                remaining_incl_vat: after.left_on(&original.invoice),
                not_mailed: Some("stored and mailed by the next run".into()),
            });
        }
    };
    let not_mailed = match buyer_email(s, &record, &original.order_id).await {
        Ok((email, creds)) => {
            if let Err(e) = crate::refunds::upload_if_asked(s, &creds, &cn, &pdf).await {
                tracing::warn!(seller = %id, credit_note = %cn.number, error = %e, "credit note not attached to its order");
            }
            match d.mail(&cn, &pdf, email.as_deref()).await {
                Ok(Mailed::Sent(_)) => None,
                Ok(Mailed::Refused(why)) => Some(why),
                Err(e) => Some(e.to_string()),
            }
        }
        Err(e) => Some(e.to_string()),
    };
    Ok(CreditNoteIssued {
        credit_note: cn.number.clone(),
        total_incl_vat: cn.body.totals.tax_inclusive,
        remaining_incl_vat: after.left_on(&original.invoice),
        not_mailed,
    })
}

/// The credit note a request already issued (found by its key in the credited state after a
/// crash lost its kept answer): the invoice's latest credit note.
async fn issued_under_marker(
    s: &Services,
    id: &SellerId,
    original: &InvoiceRecord,
    credited: &marketbill_domain::credit::Credited,
) -> Result<CreditNoteIssued, PortalError> {
    let query = InvoiceQuery {
        order_id: Some(original.order_id.to_string()),
        credit_notes: Some(true),
        limit: 100,
        ..Default::default()
    };
    let latest = all_invoices(s.ledger.as_ref(), id, query)
        .await?
        .into_iter()
        .filter(|r| {
            matches!(&r.invoice.kind, marketbill_domain::DocumentKind::CreditNote { corrects }
                if corrects.number == original.invoice.number)
        })
        .max_by_key(|r| r.invoice.number.counter().unwrap_or(0))
        .ok_or(PortalError::NotFound)?;
    Ok(CreditNoteIssued {
        credit_note: latest.invoice.number.clone(),
        total_incl_vat: latest.invoice.body.totals.tax_inclusive,
        remaining_incl_vat: credited.left_on(&original.invoice),
        not_mailed: None,
    })
}

/// What is still creditable on an invoice, VAT included (zero for a credit note).
pub async fn creditable(
    s: &Services,
    id: &SellerId,
    number: &InvoiceNumber,
) -> Result<rust_decimal::Decimal, PortalError> {
    let original = s.ledger.get_invoice(id, number).await?.ok_or(PortalError::NotFound)?;
    if original.invoice.kind.is_credit_note() {
        return Ok(rust_decimal::Decimal::ZERO);
    }
    let credited = crate::refunds::credited_state(s, id, &original).await?;
    Ok(credited.left_on(&original.invoice))
}

/// The buyer's address of an order, as the marketplace has it now (it is not kept), and the
/// credentials that read it.
async fn buyer_email(
    s: &Services,
    record: &SellerRecord,
    order_id: &OrderId,
) -> Result<(Option<String>, MarketplaceCredentials), PortalError> {
    let creds = credentials(s, record).await?;
    let order = s.marketplace.order(&creds, order_id).await.map_err(PipelineError::from)?;
    Ok((order.and_then(|o| o.buyer_email().map(str::to_owned)), creds))
}

/// A seller's marketplace credentials, opened (a `Conflict` when there are none).
async fn credentials(s: &Services, record: &SellerRecord) -> Result<MarketplaceCredentials, PortalError> {
    let sealed = record.credentials.as_ref().ok_or(PortalError::Conflict(Conflict::NoCredentials))?;
    Ok(open_credentials(s.secrets.as_ref(), sealed).await?)
}

/// `DELETE /v1/seller`: no new invoices from now; downloads stay open a month.
pub async fn unsubscribe(s: &Services, id: &SellerId) -> Result<OffsetDateTime, PortalError> {
    let mut record = seller(s, id).await?;
    let now = s.clock.now();
    let purge_after = match record.status {
        SellerStatus::Unsubscribed { purge_after, .. } => purge_after,
        SellerStatus::Active => now + GRACE,
    };
    record.status = SellerStatus::Unsubscribed { at: now, purge_after };
    record.credentials = None;
    s.ledger.put_seller(&record).await?;
    Ok(purge_after)
}

/// What a buyer request led to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum BuyerRequestOutcome {
    /// No invoice yet: the data will be used when it is issued.
    Recorded,
    /// The invoice was corrected: a credit note and a new invoice were issued and mailed.
    Corrected { credit_note: String, invoice: String },
}

/// How a buyer (no account) shows the order is theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuyerProof {
    /// The key of the link in the invoice mail ([`crate::crypto::buyer_link_key`]).
    Link(String),
    /// The order's e-mail address (on Cdiscount, a relay address the buyer may never have seen).
    Email(String),
    /// The postal code and the name of the order's delivery.
    Delivery { postal_code: String, name: String },
}

/// `POST /v1/invoice-requests`: a buyer (no account) asks for an invoice in a company name or
/// with corrected data.
///
/// What it reveals: nothing. An unknown order, a wrong proof, a seller gone: one refusal.
/// A link's key and an e-mail are checked before any marketplace call (the key is a keyed hash
/// of the order; the e-mail against the keyed hash recorded when the order was first seen);
/// a delivery's postal code and name can only be checked against the order itself, so each such
/// attempt counts against the order's daily limit first. Requests for one order are handled
/// one at a time (the others get `Conflict`).
///
/// Safe to repeat: the same data sent again (a reload, a retry) gives the first outcome, with
/// nothing issued or mailed again; with a key ([`Once`]), any repeat does.
pub async fn buyer_request(
    s: &Services,
    order_id: &str,
    proof: &BuyerProof,
    billing: BuyerBillingData,
    once: Option<&Once>,
) -> Result<BuyerRequestOutcome, PortalError> {
    let order_key = order_id.parse::<marketbill_domain::OrderId>().ok();
    let seller_id = match &order_key {
        Some(id) => s.ledger.find_order_seller(id).await?,
        None => None,
    };
    // The order record is read even for an unknown order, so both take the same reads.
    let probe: SellerId = seller_id.clone().unwrap_or_else(SellerId::placeholder);
    let order_record = s.ledger.get_order(&probe, order_key.as_ref().unwrap_or(&OrderId::placeholder())).await?;
    let key = &s.settings.buyer_email_key;
    let matches = match proof {
        BuyerProof::Link(given) => crate::crypto::buyer_link_matches(key, order_id, given) && order_record.is_some(),
        BuyerProof::Email(email) => order_record
            .as_ref()
            .and_then(|r| r.buyer_email_hash.as_deref())
            .is_some_and(|recorded| crate::crypto::buyer_email_matches(key, email, recorded)),
        // Checked against the order itself, under the order's limit.
        BuyerProof::Delivery { .. } => order_record.is_some(),
    };
    let (Some(seller_id), Some(order_id), true) = (seller_id, order_key, matches) else {
        return Err(PortalError::BuyerRefused);
    };
    let seller_record = seller(s, &seller_id).await.map_err(|_| PortalError::BuyerRefused)?;
    if !seller_record.is_active() || seller_record.credentials.is_none() {
        return Err(PortalError::BuyerRefused);
    }
    let now = s.clock.now();
    let day = crate::model::day_key(now);
    let subject = crate::correction::order_slot(&order_id);
    let slot = s
        .ledger
        .take_slot(
            &seller_id,
            &subject,
            &day,
            s.settings.buyer_requests_per_day,
            now,
            now + crate::correction::ORDER_LEASE,
        )
        .await?;
    match slot {
        RequestSlot::LimitReached => return Err(PortalError::RateLimited),
        RequestSlot::Busy => {
            return Err(PortalError::Conflict(Conflict::OrderBusy));
        }
        RequestSlot::Taken => {}
    }
    let outcome = crate::once::once(s, &seller_id, once, || {
        handle_buyer_request(s, &seller_id, &seller_record, &order_id, proof, billing, now)
    })
    .await;
    if let Err(e) = s.ledger.free_slot(&seller_id, &subject, &day).await {
        // The lease runs out by itself; the request's own outcome stands.
        tracing::warn!(seller = %seller_id, error = %e, "could not free a buyer request slot");
    }
    outcome
}

/// A buyer request that holds its order's slot.
async fn handle_buyer_request(
    s: &Services,
    seller_id: &SellerId,
    record: &SellerRecord,
    order_id: &OrderId,
    proof: &BuyerProof,
    billing: BuyerBillingData,
    now: OffsetDateTime,
) -> Result<BuyerRequestOutcome, PortalError> {
    let sealed = record.credentials.as_ref().ok_or(PortalError::BuyerRefused)?;
    let creds = open_credentials(s.secrets.as_ref(), sealed).await?;
    let order =
        s.marketplace.order(&creds, order_id).await.map_err(PipelineError::from)?.ok_or(PortalError::BuyerRefused)?;
    let matches = match proof {
        BuyerProof::Link(_) => true,
        BuyerProof::Email(email) => order.buyer_email().is_some_and(|e| e.trim().eq_ignore_ascii_case(email.trim())),
        BuyerProof::Delivery { postal_code, name } => order.delivery_matches(postal_code, name),
    };
    if !matches {
        return Err(PortalError::BuyerRefused);
    }
    let request_id = hex::encode(&Sha256::digest(format!("{order_id}{}", now.unix_timestamp_nanos()))[..8]);
    let mut request = BuyerRequestRecord {
        request_id,
        order_id: order_id.clone(),
        billing: billing.clone(),
        status: RequestStatus::Pending,
        received_at: now,
        credit_note: None,
        invoice: None,
    };
    let existing = s.ledger.get_order(seller_id, order_id).await?;
    let earlier = s.ledger.requests_for_order(seller_id, order_id).await?;
    let Some(current) = existing.and_then(|o| o.number) else {
        // The same data already waits for the invoice: nothing more to record.
        if !earlier.iter().any(|r| r.status == RequestStatus::Pending && r.billing == billing) {
            s.ledger.put_request(seller_id, &request).await?;
        }
        return Ok(BuyerRequestOutcome::Recorded);
    };
    // The current invoice is already the one this data asked for: the same answer again.
    let done = earlier.iter().filter(|r| r.status == RequestStatus::Done && r.billing == billing);
    if let Some(r) = done.max_by_key(|r| r.received_at)
        && r.invoice.as_deref() == Some(current.as_str())
        && let Some(cn) = &r.credit_note
    {
        return Ok(BuyerRequestOutcome::Corrected { credit_note: cn.clone(), invoice: current.to_string() });
    }
    // Already invoiced: cancel with a credit note, issue the corrected invoice, mail both.
    let original = s.ledger.get_invoice(seller_id, &current).await?.ok_or(PortalError::NotFound)?;
    let (cn, inv) = crate::correction::correct(
        s,
        seller_id,
        record,
        &creds,
        &order,
        &original,
        &billing,
        "données de facturation corrigées à la demande de l'acheteur",
        now,
    )
    .await?;
    request.status = RequestStatus::Done;
    request.credit_note = Some(cn.number.to_string());
    request.invoice = Some(inv.number.to_string());
    s.ledger.put_request(seller_id, &request).await?;
    Ok(BuyerRequestOutcome::Corrected { credit_note: cn.number.to_string(), invoice: inv.number.to_string() })
}
