//! The seller's account: its company data, its marketplace credentials, sign-in links, and
//! unsubscribing.

use marketbill_domain::SellerProfileInput;
use time::OffsetDateTime;

use crate::marketplace::MarketplaceCredentials;
use crate::model::{SellerId, SellerRecord, SellerStatus};
use crate::portal::{Conflict, GRACE, PortalError, seller};
use crate::ports::{LedgerError, RequestSlot};
use crate::services::{PipelineError, Services, open_credentials};

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
    creds.validate().map_err(PortalError::Invalid)?;
    let mut record = crate::portal::active_seller(s, id).await?;
    if creds.seller_id != record.profile.marketplace_seller_id {
        return Err(PortalError::field("sellerId", "must be the marketplace seller id of the profile"));
    }
    s.marketplace.check_credentials(creds).await.map_err(|e| match e {
        crate::marketplace::MarketplaceError::Credentials(_) => {
            PortalError::field("clientSecret", "the marketplace refused these credentials")
        }
        other => PortalError::Pipeline(other.into()),
    })?;
    record.credentials = Some(crate::services::seal_credentials(s.secrets.as_ref(), creds).await?);
    s.ledger.put_seller(&record).await?;
    Ok(())
}

pub async fn get_profile(s: &Services, id: &SellerId) -> Result<SellerRecord, PortalError> {
    seller(s, id).await
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

/// A seller's marketplace credentials, opened (a `Conflict` when there are none).
pub(crate) async fn credentials(s: &Services, record: &SellerRecord) -> Result<MarketplaceCredentials, PortalError> {
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
