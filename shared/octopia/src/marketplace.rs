//! The `Marketplace` port of the use cases, served by this client.

use std::sync::Arc;

use async_trait::async_trait;
use marketbill_app::marketplace::{
    FileOutcome, ImportState, InvoiceFile, Marketplace, MarketplaceCredentials, MarketplaceError, OrdersPage, PageToken,
};
use marketbill_domain::{Order, OrderId};
use time::OffsetDateTime;

use crate::{
    Credentials, ImportReport, ImportStatus, NextPage, OctopiaClient, OctopiaError, OrderQuery, Secret, SortField,
    UploadFile,
};

fn bad_token(t: &str) -> MarketplaceError {
    MarketplaceError::Refused(format!("not a page token of this listing: {t:?}"))
}

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
    use marketbill_app::model::ImportStatus as Status;
    let status = match &r.status {
        ImportStatus::Success => Status::Success,
        ImportStatus::PartialSuccess => Status::PartialSuccess,
        ImportStatus::Failure => Status::Failure,
        // A status we do not know yet is not final: the tracker polls again (and counts).
        ImportStatus::Running | ImportStatus::Other(_) => Status::Running,
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
    async fn shipped_orders_page(
        &self,
        c: &MarketplaceCredentials,
        since: OffsetDateTime,
        page: Option<&PageToken>,
    ) -> Result<OrdersPage, MarketplaceError> {
        // Delivered too: an order shipped and delivered between two runs must not be missed.
        let query = OrderQuery {
            // Cancelled too: an invoiced order cancelled afterwards is refunded (credit note).
            statuses: vec!["Shipped".into(), "Delivered".into(), "Cancelled".into()],
            updated_at_min: Some(since),
            sort: Some(SortField::UpdatedAt),
            ..OrderQuery::default()
        };
        // Tokens: `index:N` (pageIndex paging) or `link:URL` (a `Link: rel="next"` target).
        let at = match page.map(|t| t.0.as_str()) {
            None => NextPage::Index(1),
            Some(t) => match (t.strip_prefix("index:"), t.strip_prefix("link:")) {
                (Some(i), _) => NextPage::Index(i.parse::<u32>().map_err(|_| bad_token(t))?),
                (_, Some(l)) => NextPage::Link(url::Url::parse(l).map_err(|_| bad_token(t))?),
                _ => return Err(bad_token(t)),
            },
        };
        let page = self.client.orders_page(&creds(c), &query, at.as_ref()).await.map_err(error)?;
        let next = self.client.next_page(&page, &at).map(|n| match n {
            NextPage::Index(i) => PageToken(format!("index:{i}")),
            NextPage::Link(l) => PageToken(format!("link:{l}")),
        });
        Ok(OrdersPage { orders: page.orders, next })
    }

    async fn order(&self, c: &MarketplaceCredentials, order_id: &OrderId) -> Result<Option<Order>, MarketplaceError> {
        match self.client.get_order(&creds(c), order_id.as_str()).await {
            Ok(o) => Ok(Some(o)),
            Err(OctopiaError::NotFound(_)) => Ok(None),
            Err(e) => Err(error(e)),
        }
    }

    async fn upload_invoice(
        &self,
        c: &MarketplaceCredentials,
        order_id: &OrderId,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<ImportState, MarketplaceError> {
        let file = UploadFile { file_name: file_name.to_owned(), bytes: bytes.to_vec() };
        self.client.upload_invoice(&creds(c), order_id.as_str(), &file).await.map(state).map_err(error)
    }

    async fn upload_invoices(
        &self,
        c: &MarketplaceCredentials,
        files: Vec<InvoiceFile>,
    ) -> Result<ImportState, MarketplaceError> {
        let files: Vec<UploadFile> = files
            .into_iter()
            .map(|f| UploadFile { file_name: format!("{}.pdf", f.order_id), bytes: f.bytes })
            .collect();
        self.client.upload_bulk(&creds(c), &files).await.map(state).map_err(error)
    }

    async fn import_state(&self, c: &MarketplaceCredentials, import_id: &str) -> Result<ImportState, MarketplaceError> {
        self.client.get_import(&creds(c), import_id).await.map(state).map_err(error)
    }

    async fn check_credentials(&self, c: &MarketplaceCredentials) -> Result<(), MarketplaceError> {
        self.client.check_credentials(&creds(c)).await.map_err(error)
    }
}
