//! The seller's account: its company data, its marketplace credentials, sign-in links, and
//! unsubscribing.

use marketbill_domain::{SellerProfile, SellerProfileInput};
use time::OffsetDateTime;

use crate::marketplace::{Marketplace, MarketplaceCredentials};
use crate::model::{SellerId, SellerRecord, SellerStatus};
use crate::portal::{Conflict, GRACE, PortalError, seller};
use crate::ports::{Clock, LedgerError, RequestSlot, SecretBox, SellerLedger};
use crate::services::{PipelineError, Services, open_credentials, seal_credentials};

/// What the seller's account uses: the sellers, the marketplace (to check credentials before
/// they are kept), the secret box that seals them, and the time.
#[derive(Clone, Copy)]
pub struct Account<'a> {
    pub sellers: &'a dyn SellerLedger,
    pub marketplace: &'a dyn Marketplace,
    pub secrets: &'a dyn SecretBox,
    pub clock: &'a dyn Clock,
}

impl Services {
    /// The account's use cases, on this deployment's ports.
    pub fn account(&self) -> Account<'_> {
        Account {
            sellers: self.ledger.as_ref(),
            marketplace: self.marketplace.as_ref(),
            secrets: self.secrets.as_ref(),
            clock: self.clock.as_ref(),
        }
    }
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
    // Through the one sending path, like every mail: tried again while the provider throttles.
    crate::delivery::send(s.mailer.as_ref(), None, &mail).await.map_err(PipelineError::from)?;
    Ok(true)
}

/// A seller's marketplace credentials, opened (a `Conflict` when there are none).
pub(crate) async fn credentials(
    secrets: &dyn SecretBox,
    record: &SellerRecord,
) -> Result<MarketplaceCredentials, PortalError> {
    let sealed = record.credentials.as_ref().ok_or(PortalError::Conflict(Conflict::NoCredentials))?;
    Ok(open_credentials(secrets, sealed).await?)
}

impl Account<'_> {
    /// Creates or updates a seller account (the command line's and the tests' registration; the
    /// space saves the profile and the credentials in two steps, [`Account::put_profile`] and
    /// [`Account::put_credentials`]). Credentials, when given, are checked against the
    /// marketplace and stored sealed; the registration date of an existing account is kept.
    pub async fn register(
        &self,
        seller_id: &SellerId,
        profile: SellerProfile,
        credentials: Option<&MarketplaceCredentials>,
        now: OffsetDateTime,
    ) -> Result<SellerRecord, PipelineError> {
        let existing = self.sellers.get_seller(seller_id).await?;
        let mut record = active_record(seller_id, profile, existing, now);
        if let Some(c) = credentials {
            self.marketplace.check_credentials(c).await?;
            record.credentials = Some(seal_credentials(self.secrets, c).await?);
        }
        self.sellers.put_seller(&record).await?;
        Ok(record)
    }

    /// `PUT /v1/seller`: registers or updates the company profile (validated, eligible country).
    pub async fn put_profile(&self, id: &SellerId, input: &SellerProfileInput) -> Result<SellerRecord, PortalError> {
        let profile = input.validate().map_err(|e| PortalError::Invalid(e.0))?;
        let now = self.clock.now();
        let existing = self.sellers.get_seller(id).await?;
        if let Some(e) = &existing
            && !e.is_active()
        {
            return Err(PortalError::Unsubscribed);
        }
        // An address is one account's: claimed before the profile takes it.
        let changed =
            existing.as_ref().is_none_or(|e| !e.profile.email.trim().eq_ignore_ascii_case(profile.email.trim()));
        if changed {
            match self.sellers.claim_email(id, &profile.email).await {
                Ok(()) => {}
                Err(LedgerError::EmailTaken { .. }) => {
                    return Err(PortalError::field("email", "belongs to another account"));
                }
                Err(e) => return Err(e.into()),
            }
        }
        let record = active_record(id, profile, existing, now);
        self.sellers.put_seller(&record).await?;
        Ok(record)
    }

    /// `PUT /v1/seller/credentials`: checked against the marketplace, stored sealed.
    pub async fn put_credentials(&self, id: &SellerId, creds: &MarketplaceCredentials) -> Result<(), PortalError> {
        creds.validate().map_err(PortalError::Invalid)?;
        let mut record = crate::portal::active_seller(self.sellers, id).await?;
        if creds.seller_id != record.profile.marketplace_seller_id {
            return Err(PortalError::field("sellerId", "must be the marketplace seller id of the profile"));
        }
        self.marketplace.check_credentials(creds).await.map_err(|e| match e {
            crate::marketplace::MarketplaceError::Credentials(_) => {
                PortalError::field("clientSecret", "the marketplace refused these credentials")
            }
            other => PortalError::Pipeline(other.into()),
        })?;
        record.credentials = Some(seal_credentials(self.secrets, creds).await?);
        self.sellers.put_seller(&record).await?;
        Ok(())
    }

    /// The seller's record: its profile, status and onboarding.
    pub async fn get_profile(&self, id: &SellerId) -> Result<SellerRecord, PortalError> {
        seller(self.sellers, id).await
    }

    /// The seller whose account holds this e-mail address (the local sign-in by e-mail; on AWS the
    /// user pool knows its users). Compared without case; `None` for an unknown address. A seller
    /// who unsubscribed still signs in during their last month, to download.
    pub async fn seller_for_email(&self, email: &str) -> Result<Option<SellerId>, PortalError> {
        let Ok(wanted) = marketbill_domain::email::parse_address(email.trim()) else { return Ok(None) };
        let Some(id) = self.sellers.seller_by_email(&wanted).await? else { return Ok(None) };
        Ok(self.sellers.get_seller(&id).await?.map(|r| r.seller_id))
    }

    /// `DELETE /v1/seller`: no new invoices from now; downloads stay open a month.
    pub async fn unsubscribe(&self, id: &SellerId) -> Result<OffsetDateTime, PortalError> {
        let mut record = seller(self.sellers, id).await?;
        let now = self.clock.now();
        let purge_after = match record.status {
            SellerStatus::Unsubscribed { purge_after, .. } => purge_after,
            SellerStatus::Active => now + GRACE,
        };
        record.status = SellerStatus::Unsubscribed { at: now, purge_after };
        record.credentials = None;
        self.sellers.put_seller(&record).await?;
        Ok(purge_after)
    }
}

/// A seller's record under a profile, active, keeping what an existing account holds: its
/// registration date, credentials, platform, first-invoices mail and handled problems.
fn active_record(
    id: &SellerId,
    profile: SellerProfile,
    existing: Option<SellerRecord>,
    now: OffsetDateTime,
) -> SellerRecord {
    match existing {
        Some(e) => SellerRecord { profile, status: SellerStatus::Active, ..e },
        None => SellerRecord {
            seller_id: id.clone(),
            profile,
            status: SellerStatus::Active,
            registered_at: now,
            credentials: None,
            platform: None,
            handled_problems: Default::default(),
            first_invoices_at: None,
        },
    }
}
