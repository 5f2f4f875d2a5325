//! The marketplace port: where orders come from and where invoices go (Octopia's Seller API
//! in production and in the simulator; the adapter lives in `marketbill-octopia`).

use async_trait::async_trait;
use marketbill_domain::{Order, OrderId, OrderParseError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A seller's marketplace API credentials, as sealed in the ledger.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarketplaceCredentials {
    pub client_id: String,
    pub client_secret: String,
    pub seller_id: String,
}

impl MarketplaceCredentials {
    /// Checks what was typed, before anything is asked of the marketplace: the one set of rules
    /// of the API and the pages (named refusals per field).
    pub fn validate(&self) -> Result<(), std::collections::BTreeMap<String, Vec<String>>> {
        let mut errors: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (field, value, max) in [
            ("clientId", &self.client_id, 200),
            ("clientSecret", &self.client_secret, 500),
            ("sellerId", &self.seller_id, 20),
        ] {
            if value.trim().is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
                errors.insert(field.to_owned(), vec![format!("is required, at most {max} characters")]);
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

impl std::fmt::Debug for MarketplaceCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MarketplaceCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("seller_id", &self.seller_id)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarketplaceError {
    #[error("the marketplace refused the credentials: {0}")]
    Credentials(String),
    #[error("the marketplace refused the request: {0}")]
    Refused(String),
    #[error("the marketplace is unavailable: {0}")]
    Unavailable(String),
}

impl MarketplaceError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, MarketplaceError::Unavailable(_))
    }
}

/// The outcome of one file of an import. `order_id` is what the marketplace reported (its
/// file name without `.pdf`), read as given: it is not trusted to be an order of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOutcome {
    pub order_id: String,
    pub accepted: bool,
    pub errors: Vec<String>,
}

/// Where an import stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportState {
    pub import_id: String,
    pub status: crate::model::ImportStatus,
    pub files: Vec<FileOutcome>,
}

impl ImportState {
    pub fn is_final(&self) -> bool {
        self.status.is_final()
    }
}

/// Where the next page of a listing is (opaque to the use cases).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PageToken(pub String);

/// One page of a listing, each order parsed on its own.
#[derive(Debug, Clone)]
pub struct OrdersPage {
    pub orders: Vec<Result<Order, OrderParseError>>,
    /// The next page, if any.
    pub next: Option<PageToken>,
}

/// One document of a bulk import: it is attached to `order_id` (the file is `<orderId>.pdf`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceFile {
    pub order_id: OrderId,
    pub bytes: Vec<u8>,
}

/// The most pages one listing follows (a loop in the marketplace's links stops there).
pub const MAX_PAGES: usize = 10_000;

#[async_trait]
pub trait Marketplace: Send + Sync {
    /// One page of the shipped (and delivered) orders updated since an instant, oldest update
    /// first; `page` is `None` for the first page.
    async fn shipped_orders_page(
        &self,
        creds: &MarketplaceCredentials,
        since: OffsetDateTime,
        page: Option<&PageToken>,
    ) -> Result<OrdersPage, MarketplaceError>;

    /// One order; `None` when the marketplace does not know it.
    async fn order(
        &self,
        creds: &MarketplaceCredentials,
        order_id: &OrderId,
    ) -> Result<Option<Order>, MarketplaceError>;
    /// Attaches a document to an order; returns the import started.
    async fn upload_invoice(
        &self,
        creds: &MarketplaceCredentials,
        order_id: &OrderId,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<ImportState, MarketplaceError>;
    /// Attaches several documents in one bulk import (`<orderId>.pdf` each); returns the import.
    /// The files are handed over (an import carries up to 20 MiB: no copy of it is made).
    async fn upload_invoices(
        &self,
        creds: &MarketplaceCredentials,
        files: Vec<InvoiceFile>,
    ) -> Result<ImportState, MarketplaceError>;
    async fn import_state(
        &self,
        creds: &MarketplaceCredentials,
        import_id: &str,
    ) -> Result<ImportState, MarketplaceError>;
    /// Checks credentials against the marketplace's token endpoint.
    async fn check_credentials(&self, creds: &MarketplaceCredentials) -> Result<(), MarketplaceError>;
}
