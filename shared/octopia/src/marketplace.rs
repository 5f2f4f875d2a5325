//! The `Marketplace` port of the use cases, served by this client.

use std::sync::Arc;

use async_trait::async_trait;
use marketbill_app::marketplace::{FileOutcome, ImportState, Marketplace, MarketplaceCredentials, MarketplaceError};
use marketbill_domain::{Order, OrderParseError};
use time::OffsetDateTime;

use crate::{
    Credentials, ImportReport, ImportStatus, OctopiaClient, OctopiaError, OrderQuery, Secret, SortField, UploadFile,
};

pub struct OctopiaMarketplace {
    client: Arc<OctopiaClient>,
}

impl OctopiaMarketplace {
    pub fn new(client: Arc<OctopiaClient>) -> OctopiaMarketplace {
        OctopiaMarketplace { client }
    }
}

fn creds(c: &MarketplaceCredentials) -> Credentials {
    Credentials {
        client_id: c.client_id.clone(),
        client_secret: Secret::new(c.client_secret.clone()),
        seller_id: c.seller_id.clone(),
    }
}

fn error(e: OctopiaError) -> MarketplaceError {
    match e {
        OctopiaError::Auth { .. } | OctopiaError::Forbidden(_) => MarketplaceError::Credentials(e.to_string()),
        e if e.is_retryable() => MarketplaceError::Unavailable(e.to_string()),
        e => MarketplaceError::Refused(e.to_string()),
    }
}

fn state(r: ImportReport) -> ImportState {
    let status = match &r.status {
        ImportStatus::Running => "Running".to_owned(),
        ImportStatus::Success => "Success".to_owned(),
        ImportStatus::PartialSuccess => "PartialSuccess".to_owned(),
        ImportStatus::Failure => "Failure".to_owned(),
        ImportStatus::Other(s) => s.clone(),
    };
    let files = r
        .files
        .into_iter()
        .map(|f| FileOutcome {
            order_id: f.order_id.clone().unwrap_or_else(|| f.file_name.split('.').next().unwrap_or("").to_owned()),
            accepted: f.status == ImportStatus::Success,
            errors: f.errors.iter().map(|e| format!("{}: {}", e.code, e.message)).collect(),
        })
        .collect();
    ImportState { import_id: r.import_id, status, files }
}

#[async_trait]
impl Marketplace for OctopiaMarketplace {
    async fn shipped_orders(
        &self,
        c: &MarketplaceCredentials,
        since: OffsetDateTime,
    ) -> Result<Vec<Result<Order, OrderParseError>>, MarketplaceError> {
        // Delivered too: an order shipped and delivered between two runs must not be missed.
        let query = OrderQuery {
            statuses: vec!["Shipped".into(), "Delivered".into()],
            updated_at_min: Some(since),
            sort: Some(SortField::UpdatedAt),
            ..OrderQuery::default()
        };
        self.client.list_orders(&creds(c), &query).await.map_err(error)
    }

    async fn order(&self, c: &MarketplaceCredentials, order_id: &str) -> Result<Option<Order>, MarketplaceError> {
        match self.client.get_order(&creds(c), order_id).await {
            Ok(o) => Ok(Some(o)),
            Err(OctopiaError::NotFound(_)) => Ok(None),
            Err(e) => Err(error(e)),
        }
    }

    async fn upload_invoice(
        &self,
        c: &MarketplaceCredentials,
        order_id: &str,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<ImportState, MarketplaceError> {
        let file = UploadFile { file_name: file_name.to_owned(), bytes: bytes.to_vec() };
        self.client.upload_invoice(&creds(c), order_id, &file).await.map(state).map_err(error)
    }

    async fn import_state(&self, c: &MarketplaceCredentials, import_id: &str) -> Result<ImportState, MarketplaceError> {
        self.client.get_import(&creds(c), import_id).await.map(state).map_err(error)
    }

    async fn check_credentials(&self, c: &MarketplaceCredentials) -> Result<(), MarketplaceError> {
        self.client.check_credentials(&creds(c)).await.map_err(error)
    }
}
