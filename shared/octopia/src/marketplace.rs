//! The `Marketplace` port of the use cases, served by this client.

use std::sync::Arc;

use async_trait::async_trait;
use marketbill_app::marketplace::{
    FileOutcome, ImportState, InvoiceFile, Marketplace, MarketplaceCredentials, MarketplaceError, OrdersPage, PageToken,
};
use marketbill_domain::Order;
use time::OffsetDateTime;

use crate::{
    Credentials, ImportReport, ImportStatus, OctopiaClient, OctopiaError, OrderQuery, PageRef, Secret, SortField,
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
            statuses: vec!["Shipped".into(), "Delivered".into()],
            updated_at_min: Some(since),
            sort: Some(SortField::UpdatedAt),
            ..OrderQuery::default()
        };
        // Tokens: `index:N` (pageIndex paging) or `link:URL` (a `Link: rel="next"` target).
        let (index, link) = match page.map(|t| t.0.as_str()) {
            None => (1, None),
            Some(t) => match (t.strip_prefix("index:"), t.strip_prefix("link:")) {
                (Some(i), _) => (i.parse::<u32>().map_err(|_| bad_token(t))?, None),
                (_, Some(l)) => (0, Some(url::Url::parse(l).map_err(|_| bad_token(t))?)),
                _ => return Err(bad_token(t)),
            },
        };
        let result = match &link {
            Some(l) => self.client.orders_page(&creds(c), &query, PageRef::Link(l)).await,
            None => self.client.orders_page(&creds(c), &query, PageRef::Index(index)).await,
        };
        let page = result.map_err(error)?;
        let count = page.orders.len();
        let full = (self.client.config().page_size as usize).min(page.items_per_page.max(1));
        let next = match &page.next {
            Some(l) => Some(PageToken(format!("link:{l}"))),
            // Without links: the next index, until a short or empty page.
            None if count == 0 || count < full || link.is_some() => None,
            None => Some(PageToken(format!("index:{}", index + 1))),
        };
        Ok(OrdersPage { orders: page.orders, next })
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

    async fn upload_invoices(
        &self,
        c: &MarketplaceCredentials,
        files: &[InvoiceFile],
    ) -> Result<ImportState, MarketplaceError> {
        let files: Vec<UploadFile> = files
            .iter()
            .map(|f| UploadFile { file_name: format!("{}.pdf", f.order_id), bytes: f.bytes.clone() })
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
