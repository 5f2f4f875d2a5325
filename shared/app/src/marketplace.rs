//! The marketplace port: where orders come from and where invoices go (Octopia's Seller API
//! in production and in the simulator; the adapter lives in `marketbill-octopia`).

use async_trait::async_trait;
use marketbill_domain::{Order, OrderParseError};
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

/// The outcome of one file of an import.
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
    /// `Running`, `Success`, `PartialSuccess`, `Failure`.
    pub status: String,
    pub files: Vec<FileOutcome>,
}

impl ImportState {
    pub fn is_final(&self) -> bool {
        matches!(self.status.as_str(), "Success" | "PartialSuccess" | "Failure")
    }
}

#[async_trait]
pub trait Marketplace: Send + Sync {
    /// Shipped (and delivered) orders updated since an instant; each parsed on its own.
    async fn shipped_orders(
        &self,
        creds: &MarketplaceCredentials,
        since: OffsetDateTime,
    ) -> Result<Vec<Result<Order, OrderParseError>>, MarketplaceError>;
    /// One order; `None` when the marketplace does not know it.
    async fn order(&self, creds: &MarketplaceCredentials, order_id: &str) -> Result<Option<Order>, MarketplaceError>;
    /// Attaches a document to an order; returns the import started.
    async fn upload_invoice(
        &self,
        creds: &MarketplaceCredentials,
        order_id: &str,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<ImportState, MarketplaceError>;
    async fn import_state(
        &self,
        creds: &MarketplaceCredentials,
        import_id: &str,
    ) -> Result<ImportState, MarketplaceError>;
    /// Checks credentials against the marketplace's token endpoint.
    async fn check_credentials(&self, creds: &MarketplaceCredentials) -> Result<(), MarketplaceError>;
}
