//! Seller accounts: registration with a validated profile and sealed marketplace credentials.

use marketbill_domain::SellerProfile;
use time::OffsetDateTime;

use crate::marketplace::MarketplaceCredentials;
use crate::model::{SellerId, SellerRecord, SellerStatus};
use crate::services::{PipelineError, Services, seal_credentials};

/// Creates or updates a seller account. Credentials, when given, are checked against the
/// marketplace and stored sealed; the registration date of an existing account is kept.
pub async fn register(
    s: &Services,
    seller_id: &SellerId,
    profile: SellerProfile,
    credentials: Option<&MarketplaceCredentials>,
    now: OffsetDateTime,
) -> Result<SellerRecord, PipelineError> {
    let existing = s.ledger.get_seller(seller_id).await?;
    let sealed = match credentials {
        Some(c) => {
            s.marketplace.check_credentials(c).await?;
            Some(seal_credentials(s.secrets.as_ref(), c).await?)
        }
        None => existing.as_ref().and_then(|e| e.credentials.clone()),
    };
    let record = SellerRecord {
        seller_id: seller_id.clone(),
        profile,
        status: SellerStatus::Active,
        registered_at: existing.as_ref().map(|e| e.registered_at).unwrap_or(now),
        credentials: sealed,
        first_invoices_at: existing.as_ref().and_then(|e| e.first_invoices_at),
        handled_problems: existing.as_ref().map(|e| e.handled_problems.clone()).unwrap_or_default(),
        platform: existing.and_then(|e| e.platform),
    };
    s.ledger.put_seller(&record).await?;
    Ok(record)
}
