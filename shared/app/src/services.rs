//! What every use case shares: the services (ports) it may touch, the settings, the errors,
//! sealed credentials and where documents are stored.

use std::sync::Arc;
use std::time::Duration;

use marketbill_domain::Invoice;

use crate::mail::MailBuildError;
use crate::marketplace::{Marketplace, MarketplaceCredentials, MarketplaceError};
use crate::model::{SealedSecret, SellerId};
use crate::ports::{
    Clock, DocumentStore, Ledger, LedgerError, MailError, Mailer, Queue, QueueError, SecretBox, SecretError, StoreError,
};

/// How the service behaves: what every document's mail and link needs, then one group per
/// capability, each read by its own use cases (seller runs, the portal's limits, accounting,
/// fee billing).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The sender address of invoice mails (an SES-verified identity on AWS).
    pub sender: String,
    /// Where the portal is reached from outside (`https://portail.example`), for links in mails;
    /// `None`: links are relative.
    pub public_url: Option<String>,
    /// The key of the buyer e-mail hashes kept on order records (HMAC-SHA256), and of the
    /// buyer's links. A deployment secret: from the environment on AWS, derived from the
    /// master key locally.
    pub buyer_email_key: Vec<u8>,
    /// Seller runs, their delivery and the marketplace's refunds.
    pub runs: RunSettings,
    /// What the portal lets sellers and buyers do, and how often.
    pub limits: Limits,
    /// The accounts of the sales journal (FEC).
    pub accounts: crate::accounting::Accounts,
    /// Marketbill's own company profile, issuer of the monthly fee invoices; `None`: no fee
    /// invoice is issued (on AWS until the operator's profile is configured).
    pub operator: Option<marketbill_domain::SellerProfile>,
}

/// How a seller run fetches, issues and delivers.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Uploads of one invoice before it is reported as rejected.
    pub max_upload_attempts: u32,
    /// A run stops this long before its deadline and queues the rest.
    pub deadline_margin: Duration,
    /// Overlap of each fetch with the previous run.
    pub overlap: time::Duration,
    /// First run of a seller: orders since this long before registration.
    pub first_run_lookback: time::Duration,
    /// Orders delivered (stored, mailed) at once after their numbers are taken. 16: enough to
    /// overlap the store's and the mailer's round trips (tens of ms each) many times over,
    /// while a crash leaves at most 16 mails unrecorded (so at most 16 sent twice).
    pub delivery_depth: usize,
    /// Mails a second at most (SES's account sending rate on AWS); `None`: no pacing.
    pub mail_per_second: Option<u32>,
    /// Files and bytes of one bulk import at most.
    pub upload_batch_files: usize,
    pub upload_batch_bytes: usize,
    /// Bulk imports in flight per seller (the reference: one or two requests at a time).
    pub uploads_in_flight: usize,
    /// Line statuses that mean a line was refunded after the sale (docs/reference/
    /// marketplace-refunds.md: *assumed*, hence a setting).
    pub refunded_line_statuses: Vec<String>,
    /// Attach credit notes to their order at the marketplace (replacing the invoice there);
    /// off by default: the order's document is its invoice, the credit note goes by mail.
    pub upload_credit_notes: bool,
}

/// The portal's limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Buyer requests accepted per order and per day (every attempt counts).
    pub buyer_requests_per_day: u32,
    /// Resends of one invoice per day.
    pub resends_per_day: u32,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            sender: "factures@marketbill.example".into(),
            public_url: None,
            // Tests and the benchmark only; deployments set their own (see the config loaders).
            buyer_email_key: b"marketbill-default-buyer-email-key".to_vec(),
            runs: RunSettings::default(),
            limits: Limits::default(),
            accounts: crate::accounting::Accounts::default(),
            operator: None,
        }
    }
}

impl Default for RunSettings {
    fn default() -> RunSettings {
        RunSettings {
            max_upload_attempts: 3,
            deadline_margin: Duration::from_secs(30),
            overlap: time::Duration::hours(1),
            first_run_lookback: time::Duration::days(7),
            delivery_depth: 16,
            mail_per_second: None,
            upload_batch_files: 100,
            upload_batch_bytes: 20 * 1024 * 1024,
            uploads_in_flight: 2,
            refunded_line_statuses: vec!["Cancelled".into(), "Refunded".into(), "Returned".into()],
            upload_credit_notes: false,
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { buyer_requests_per_day: 3, resends_per_day: 3 }
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
    /// The client of the sellers' approved platforms (each seller's own credentials), here to
    /// ask the e-invoicing directory for electronic addresses when a document is issued.
    pub platform: Arc<dyn crate::platform::Platform>,
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
    /// A document or an archive that cannot be written (the renderer's reason kept).
    #[error("the documents cannot be rendered: {0}")]
    Render(#[from] marketbill_documents::RenderError),
    /// A record of ours (an export's manifest, a report) that cannot be written or read back.
    #[error("{what} cannot be written or read: {reason}")]
    Data { what: &'static str, reason: String },
    #[error("seller {0} has no marketplace credentials")]
    NoCredentials(SellerId),
    #[error("{0}")]
    Defect(String),
    #[error(transparent)]
    MailBuild(#[from] MailBuildError),
    #[error(transparent)]
    Stage(#[from] crate::model::StageError),
    #[error(transparent)]
    Platform(#[from] crate::platform::PlatformError),
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
            PipelineError::Platform(e) => e.is_retryable(),
            PipelineError::Store(_)
            | PipelineError::Render(_)
            | PipelineError::Data { .. }
            | PipelineError::NoCredentials(_)
            | PipelineError::Defect(_)
            | PipelineError::MailBuild(_)
            | PipelineError::Stage(_) => false,
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
