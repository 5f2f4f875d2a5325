//! Correcting an issued invoice: a credit note cancels it whole and a new invoice, with the
//! corrected buyer data, replaces it (it names the one it replaces, BT-25/BT-26). Two callers,
//! one path: a buyer's request ([`crate::buyer_requests::buyer_request`]) and the seller issuing again an
//! invoice its approved platform rejected or its buyer refused ([`reissue`]).

use marketbill_domain::{BuyerBillingData, Invoice, InvoiceNumber, IssueRequest, OrderId, draft_invoice};
use serde::Serialize;
use time::OffsetDateTime;

use crate::delivery::Delivery;
use crate::marketplace::MarketplaceCredentials;
use crate::model::{InvoiceRecord, SellerId, SellerRecord, TransmissionState};
use crate::once::Once;
use crate::portal::{Conflict, PortalError};
use crate::ports::LedgerError;
use crate::ports::RequestSlot;
use crate::services::{PipelineError, Services};
use marketbill_domain::Order;

/// How long a correction holds its order's slot if it never frees it (a crash).
pub(crate) const ORDER_LEASE: time::Duration = time::Duration::minutes(2);

/// The slot that lets one correction of an order run at a time, whoever asks for it.
pub(crate) fn order_slot(order_id: &OrderId) -> String {
    format!("request:{order_id}")
}

/// What a correction issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Corrected {
    pub credit_note: String,
    pub invoice: String,
}

/// Cancels `original` by a credit note and issues the invoice of `order` with `billing`, in one
/// ledger write; then both go through the one delivery path: the credit note stored and mailed,
/// the new invoice stored, mailed and uploaded (it replaces the marketplace copy). The caller
/// holds the order's slot.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn correct(
    s: &Services,
    seller_id: &SellerId,
    record: &SellerRecord,
    creds: &MarketplaceCredentials,
    order: &Order,
    original: &InvoiceRecord,
    billing: &BuyerBillingData,
    reason: &str,
    now: OffsetDateTime,
) -> Result<(Invoice, Invoice), PortalError> {
    let order_id = &original.order_id;
    // The credit note says nothing was refunded; the new invoice names the one it replaces.
    let credit = original.invoice.correction_credit_note(&record.profile, now, reason);
    let replacement =
        draft_invoice(&IssueRequest { order, seller: &record.profile, buyer_data: Some(billing), issued_at: now })
            .map_err(|r| PortalError::Conflict(Conflict::NotDraftable(r.to_string())))?
            .replacing(&original.invoice);
    let replacement =
        crate::transmission::with_directory_addresses(s.secrets.as_ref(), s.platform.as_ref(), record, replacement)
            .await;
    let (cn, inv) = match s.ledger.issue_correction(seller_id, order_id, credit, replacement, now).await {
        Ok(issued) => issued,
        // The seller already gave part of it back: a correction would cancel more than is left.
        Err(LedgerError::CreditConflict { .. }) => return Err(PortalError::Conflict(Conflict::AlreadyCredited)),
        Err(e) => return Err(e.into()),
    };
    let d = Delivery::new(s, seller_id, now, None);
    // Not attached: the order gets the new invoice.
    d.credit_note(&InvoiceRecord::new(seller_id, order_id, cn.clone(), now), order.buyer_email(), None).await?;
    let mut rec = s
        .ledger
        .get_order(seller_id, order_id)
        .await?
        .ok_or_else(|| LedgerError::NotIssued { order_id: order_id.clone() })?;
    let inv_record = InvoiceRecord::new(seller_id, order_id, inv.clone(), now);
    // The order's slot is held, so no other correction moves it meanwhile.
    if let Some(pdf) = d.through_mail(order, &mut rec, &inv_record).await? {
        d.upload_one(creds, &mut rec, &pdf).await?;
    }
    Ok((cn, inv))
}

/// The reason printed on the credit note of an invoice issued again after a refusal.
const REISSUE_REASON: &str = "facture rejetée ou refusée via la plateforme de facturation, réémise corrigée";

/// `POST /v1/invoices/{number}/reissue`: an invoice the seller's approved platform rejected, or
/// its buyer refused, is cancelled by a credit note (an internal one: it is not transmitted)
/// and issued again with corrected buyer data; the next transmission hands the new one over.
///
/// Only such an invoice, and only while it is its order's current invoice: once replaced, the
/// answer names the replacement. One correction of an order at a time (a buyer's request
/// included); with a key ([`Once`]) a repeat gives the first answer.
pub async fn reissue(
    s: &Services,
    seller_id: &SellerId,
    number: &InvoiceNumber,
    billing: BuyerBillingData,
    once: Option<&Once>,
) -> Result<Corrected, PortalError> {
    let record = crate::portal::active_seller(s.ledger.as_ref(), seller_id).await?;
    let original = s.ledger.get_invoice(seller_id, number).await?.ok_or(PortalError::NotFound)?;
    if original.invoice.kind != marketbill_domain::DocumentKind::Invoice {
        return Err(PortalError::Conflict(Conflict::NotRefused));
    }
    let refused = s
        .ledger
        .transmission(seller_id, number.as_str())
        .await?
        .is_some_and(|t| t.state == TransmissionState::Rejected);
    if !refused {
        return Err(PortalError::Conflict(Conflict::NotRefused));
    }
    let creds = crate::account::credentials(s.secrets.as_ref(), &record).await?;
    let order_id = original.order_id.clone();
    let now = s.clock.now();
    let day = crate::model::day_key(now);
    let slot = order_slot(&order_id);
    match s.ledger.take_slot(seller_id, &slot, &day, u32::MAX, now, now + ORDER_LEASE).await? {
        RequestSlot::Taken => {}
        RequestSlot::Busy | RequestSlot::LimitReached => return Err(PortalError::Conflict(Conflict::OrderBusy)),
    }
    let outcome = crate::once::once(s.ledger.as_ref(), s.clock.as_ref(), seller_id, once, || async {
        // Read under the slot: a correction that just finished has moved the order on.
        let current = s.ledger.get_order(seller_id, &order_id).await?.and_then(|o| o.number);
        if let Some(current) = current.filter(|c| c != number) {
            return Err(PortalError::Conflict(Conflict::AlreadyReplaced(current.to_string())));
        }
        let order = s
            .marketplace
            .order(&creds, &order_id)
            .await
            .map_err(PipelineError::from)?
            .ok_or(PortalError::NotFound)?;
        let (cn, inv) = correct(s, seller_id, &record, &creds, &order, &original, &billing, REISSUE_REASON, now).await?;
        tracing::info!(seller = %seller_id, invoice = %number, credit_note = %cn.number, replacement = %inv.number, "refused invoice issued again");
        Ok(Corrected { credit_note: cn.number.to_string(), invoice: inv.number.to_string() })
    })
    .await;
    if let Err(e) = s.ledger.free_slot(seller_id, &slot, &day).await {
        tracing::warn!(seller = %seller_id, error = %e, "could not free an order's correction slot");
    }
    outcome
}
