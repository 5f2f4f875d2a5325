//! A buyer (no account) asks for its invoice in a company name or with corrected data.

use marketbill_domain::{BuyerBillingData, OrderId};
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::model::{BuyerRequestRecord, RequestStatus, SellerId, SellerRecord};
use crate::once::Once;
use crate::portal::{Conflict, PortalError, seller};
use crate::ports::RequestSlot;
use crate::services::{PipelineError, Services, open_credentials};

/// What a buyer request led to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum BuyerRequestOutcome {
    /// No invoice yet: the data will be used when it is issued.
    Recorded,
    /// The invoice was corrected: a credit note and a new invoice were issued and mailed.
    Corrected { credit_note: String, invoice: String },
}

/// How a buyer (no account) shows the order is theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuyerProof {
    /// The key of the link in the invoice mail ([`crate::crypto::buyer_link_key`]).
    Link(String),
    /// The order's e-mail address (on Cdiscount, a relay address the buyer may never have seen).
    Email(String),
    /// The postal code and the name of the order's delivery.
    Delivery { postal_code: String, name: String },
}

/// `POST /v1/invoice-requests`: a buyer (no account) asks for an invoice in a company name or
/// with corrected data.
///
/// What it reveals: nothing. An unknown order, a wrong proof, a seller gone: one refusal.
/// A link's key and an e-mail are checked before any marketplace call (the key is a keyed hash
/// of the order; the e-mail against the keyed hash recorded when the order was first seen);
/// a delivery's postal code and name can only be checked against the order itself, so each such
/// attempt counts against the order's daily limit first. Requests for one order are handled
/// one at a time (the others get `Conflict`).
///
/// Safe to repeat: the same data sent again (a reload, a retry) gives the first outcome, with
/// nothing issued or mailed again; with a key ([`Once`]), any repeat does.
pub async fn buyer_request(
    s: &Services,
    order_id: &str,
    proof: &BuyerProof,
    billing: BuyerBillingData,
    once: Option<&Once>,
) -> Result<BuyerRequestOutcome, PortalError> {
    let order_key = order_id.parse::<marketbill_domain::OrderId>().ok();
    let seller_id = match &order_key {
        Some(id) => s.ledger.find_order_seller(id).await?,
        None => None,
    };
    // The order record is read even for an unknown order, so both take the same reads.
    let probe: SellerId = seller_id.clone().unwrap_or_else(SellerId::placeholder);
    let order_record = s.ledger.get_order(&probe, order_key.as_ref().unwrap_or(&OrderId::placeholder())).await?;
    let key = &s.settings.buyer_email_key;
    let matches = match proof {
        BuyerProof::Link(given) => crate::crypto::buyer_link_matches(key, order_id, given) && order_record.is_some(),
        BuyerProof::Email(email) => order_record
            .as_ref()
            .and_then(|r| r.buyer_email_hash.as_deref())
            .is_some_and(|recorded| crate::crypto::buyer_email_matches(key, email, recorded)),
        // Checked against the order itself, under the order's limit.
        BuyerProof::Delivery { .. } => order_record.is_some(),
    };
    let (Some(seller_id), Some(order_id), true) = (seller_id, order_key, matches) else {
        return Err(PortalError::BuyerRefused);
    };
    let seller_record = seller(s.ledger.as_ref(), &seller_id).await.map_err(|_| PortalError::BuyerRefused)?;
    if !seller_record.is_active() || seller_record.credentials.is_none() {
        return Err(PortalError::BuyerRefused);
    }
    let now = s.clock.now();
    let day = crate::model::day_key(now);
    let subject = crate::correction::order_slot(&order_id);
    let slot = s
        .ledger
        .take_slot(
            &seller_id,
            &subject,
            &day,
            s.settings.limits.buyer_requests_per_day,
            now,
            now + crate::correction::ORDER_LEASE,
        )
        .await?;
    match slot {
        RequestSlot::LimitReached => return Err(PortalError::RateLimited),
        RequestSlot::Busy => {
            return Err(PortalError::Conflict(Conflict::OrderBusy));
        }
        RequestSlot::Taken => {}
    }
    let outcome = crate::once::once(s.ledger.as_ref(), s.clock.as_ref(), &seller_id, once, || {
        handle_buyer_request(s, &seller_id, &seller_record, &order_id, proof, billing, now)
    })
    .await;
    if let Err(e) = s.ledger.free_slot(&seller_id, &subject, &day).await {
        // The lease runs out by itself; the request's own outcome stands.
        tracing::warn!(seller = %seller_id, error = %e, "could not free a buyer request slot");
    }
    outcome
}

/// A buyer request that holds its order's slot.
async fn handle_buyer_request(
    s: &Services,
    seller_id: &SellerId,
    record: &SellerRecord,
    order_id: &OrderId,
    proof: &BuyerProof,
    billing: BuyerBillingData,
    now: OffsetDateTime,
) -> Result<BuyerRequestOutcome, PortalError> {
    let sealed = record.credentials.as_ref().ok_or(PortalError::BuyerRefused)?;
    let creds = open_credentials(s.secrets.as_ref(), sealed).await?;
    let order =
        s.marketplace.order(&creds, order_id).await.map_err(PipelineError::from)?.ok_or(PortalError::BuyerRefused)?;
    let matches = match proof {
        BuyerProof::Link(_) => true,
        BuyerProof::Email(email) => order.buyer_email().is_some_and(|e| e.trim().eq_ignore_ascii_case(email.trim())),
        BuyerProof::Delivery { postal_code, name } => order.delivery_matches(postal_code, name),
    };
    if !matches {
        return Err(PortalError::BuyerRefused);
    }
    let request_id = hex::encode(&Sha256::digest(format!("{order_id}{}", now.unix_timestamp_nanos()))[..8]);
    let mut request = BuyerRequestRecord {
        request_id,
        order_id: order_id.clone(),
        billing: billing.clone(),
        status: RequestStatus::Pending,
        received_at: now,
        credit_note: None,
        invoice: None,
    };
    let existing = s.ledger.get_order(seller_id, order_id).await?;
    let earlier = s.ledger.requests_for_order(seller_id, order_id).await?;
    let Some(current) = existing.and_then(|o| o.number) else {
        // The same data already waits for the invoice: nothing more to record.
        if !earlier.iter().any(|r| r.status == RequestStatus::Pending && r.billing == billing) {
            s.ledger.put_request(seller_id, &request).await?;
        }
        return Ok(BuyerRequestOutcome::Recorded);
    };
    // The current invoice is already the one this data asked for: the same answer again.
    let done = earlier.iter().filter(|r| r.status == RequestStatus::Done && r.billing == billing);
    if let Some(r) = done.max_by_key(|r| r.received_at)
        && r.invoice.as_deref() == Some(current.as_str())
        && let Some(cn) = &r.credit_note
    {
        return Ok(BuyerRequestOutcome::Corrected { credit_note: cn.clone(), invoice: current.to_string() });
    }
    // Already invoiced: cancel with a credit note, issue the corrected invoice, mail both.
    let original = s.ledger.get_invoice(seller_id, &current).await?.ok_or(PortalError::NotFound)?;
    let (cn, inv) = crate::correction::correct(
        s,
        seller_id,
        record,
        &creds,
        &order,
        &original,
        &billing,
        "données de facturation corrigées à la demande de l'acheteur",
        now,
    )
    .await?;
    request.status = RequestStatus::Done;
    request.credit_note = Some(cn.number.to_string());
    request.invoice = Some(inv.number.to_string());
    s.ledger.put_request(seller_id, &request).await?;
    Ok(BuyerRequestOutcome::Corrected { credit_note: cn.number.to_string(), invoice: inv.number.to_string() })
}
