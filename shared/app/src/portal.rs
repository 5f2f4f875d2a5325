//! What the portal's use cases share: their errors (typed, with codes the pages translate),
//! the life of download links, and reading a seller's documents page after page. The use
//! cases themselves live one capability to a module: [`crate::account`], [`crate::documents`],
//! [`crate::credit_notes`], [`crate::exports`], [`crate::journals`], [`crate::usage`],
//! [`crate::problems`], [`crate::buyer_requests`], [`crate::correction`],
//! [`crate::transmission`], [`crate::schedule`] (runs asked for), [`crate::fee_billing`]. The
//! HTTP layer (one router for the Lambda and for `marketbill serve`) maps them to routes; the
//! seller id always comes from verified token claims, never from the request.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::model::{InvoiceQuery, InvoiceRecord, SellerId, SellerRecord};
use crate::ports::{InvoiceLedger, LedgerError, SellerLedger};
use crate::services::PipelineError;

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
    ledger: &(impl InvoiceLedger + ?Sized),
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

pub(crate) async fn seller(sellers: &(impl SellerLedger + ?Sized), id: &SellerId) -> Result<SellerRecord, PortalError> {
    sellers.get_seller(id).await?.ok_or(PortalError::NotFound)
}

/// The seller's record, if it is still subscribed: what everything that issues, sends or
/// queues asks first.
pub(crate) async fn active_seller(
    sellers: &(impl SellerLedger + ?Sized),
    id: &SellerId,
) -> Result<SellerRecord, PortalError> {
    let record = seller(sellers, id).await?;
    if !record.is_active() {
        return Err(PortalError::Unsubscribed);
    }
    Ok(record)
}
