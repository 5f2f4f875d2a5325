//! Refunds the marketplace reports on invoiced orders become credit notes, once each
//! (docs/reference/marketplace-refunds.md). A seller run calls this for every invoiced order
//! its listing brings back; the once-only keys live in the invoice's credited state, which
//! moves only in the atomic write that numbers the credit note.

use marketbill_domain::credit::{CreditError, Credited, reported_refunds, shows_refunds};
use marketbill_domain::{DocumentKind, Order};

use crate::delivery::Delivery;
use crate::model::{InvoiceQuery, InvoiceRecord, OrderRecord, SellerId, SellerRecord};
use crate::ports::{InvoiceLedger, IssuingLedger, LedgerError};
use crate::services::{PipelineError, Services};

/// Issues, stores and mails the credit notes of the refunds an invoiced order now shows and
/// no credit note applied yet; returns how many.
pub async fn credit_reported(
    s: &Services,
    seller: &SellerRecord,
    d: &Delivery<'_>,
    creds: &crate::marketplace::MarketplaceCredentials,
    order: &Order,
    rec: &OrderRecord,
) -> Result<u64, PipelineError> {
    let id = &seller.seller_id;
    if order.unreadable_refunds > 0 {
        note_unreadable(s, id, order, rec, d.now).await?;
    }
    let Some(number) = &rec.number else { return Ok(0) };
    if !shows_refunds(order, &s.settings.runs.refunded_line_statuses) {
        return Ok(0);
    }
    let Some(original) = s.ledger.get_invoice(id, number).await? else { return Ok(0) };
    let mut credited = credited_state(s.ledger.as_ref(), id, &original).await?;
    let mut issued = 0;
    for refund in reported_refunds(&original.invoice, order, &s.settings.runs.refunded_line_statuses, &credited) {
        // Once per key, also against what this loop just credited.
        if credited.applied.contains(&refund.key) {
            continue;
        }
        let (draft, mut after) = match original.invoice.credit(
            &seller.profile,
            d.now,
            &refund.items,
            &refund.reason,
            &credited,
        ) {
            Ok(made) => made,
            // Already given back (by the seller's own credit notes): nothing more to credit.
            Err(CreditError::NothingLeft) => continue,
            Err(e) => {
                tracing::warn!(seller = %id, invoice = %number, refund = %refund.key, error = %e, "a reported refund cannot be credited");
                continue;
            }
        };
        after.applied.insert(refund.key.clone());
        let cn = match s.ledger.issue_credit_note(id, &order.order_id, draft, &credited, &after, d.now).await {
            Ok(cn) => cn,
            // Another run credited it meanwhile: the next run sees what is left.
            Err(LedgerError::CreditConflict { .. }) => break,
            Err(e) => return Err(e.into()),
        };
        credited = after;
        issued += 1;
        tracing::info!(seller = %id, invoice = %number, credit_note = %cn.number, refund = %refund.key, "credit note for a marketplace refund");
        let rec = InvoiceRecord::new(id, &order.order_id, cn, d.now);
        d.credit_note(&rec, order.buyer_email(), Some(creds)).await?;
    }
    Ok(issued)
}

/// Refund entries the marketplace reports that cannot be read are never guessed: the order
/// shows in the problems list, for the seller to credit by hand.
async fn note_unreadable(
    s: &Services,
    id: &SellerId,
    order: &Order,
    rec: &OrderRecord,
    now: time::OffsetDateTime,
) -> Result<(), PipelineError> {
    let why = format!("{} refund(s) reported by the marketplace cannot be read", order.unreadable_refunds);
    if rec.last_error.as_deref() == Some(why.as_str()) {
        return Ok(());
    }
    tracing::warn!(seller = %id, order = %order.order_id, "{why}");
    let mut noted = rec.clone();
    noted.last_error = Some(why);
    noted.updated_at = now;
    match s.ledger.update_order(id, &noted).await {
        Ok(()) | Err(LedgerError::Superseded { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// What an invoice's credit notes have taken. An invoice a credit note cancelled before these
/// states were kept (a buyer's correction) reads as wholly credited, so nothing credits it again.
pub async fn credited_state(
    ledger: &(impl IssuingLedger + InvoiceLedger + ?Sized),
    id: &SellerId,
    original: &InvoiceRecord,
) -> Result<Credited, LedgerError> {
    let state = ledger.credited(id, &original.invoice.number).await?;
    if state != Credited::default() {
        return Ok(state);
    }
    let query = InvoiceQuery {
        order_id: Some(original.order_id.to_string()),
        credit_notes: Some(true),
        limit: 100,
        ..Default::default()
    };
    let cancelled = ledger.list_invoices(id, &query).await?.items.iter().any(|r| {
        matches!(&r.invoice.kind, DocumentKind::CreditNote { corrects } if corrects.number == original.invoice.number)
    });
    // `seq` stays that of the stored state: nothing is left, so nothing is ever written from it.
    Ok(if cancelled { Credited { seq: state.seq, ..Credited::whole(&original.invoice) } } else { state })
}

/// How far back a run looks for credit notes numbered but not yet delivered.
const PENDING_WINDOW: time::Duration = time::Duration::days(31);

/// A credit note younger than this is still in the hands of the request or run that issued it
/// (it delivers it within seconds): a run finishes only those a crash left behind, so the two
/// never mail it both.
const IN_FLIGHT: time::Duration = time::Duration::minutes(10);

/// Credit notes a crash left numbered but not delivered (not stored, not mailed, or not
/// attached as decided): finished now, from the step they reached.
pub async fn deliver_pending(
    s: &Services,
    seller: &SellerRecord,
    d: &Delivery<'_>,
    creds: &crate::marketplace::MarketplaceCredentials,
) -> Result<u64, PipelineError> {
    let id = &seller.seller_id;
    let today = marketbill_domain::calendar::paris_date(d.now);
    // Most sellers issue no credit note for weeks: one counter read says so, without listing.
    let prefix = &seller.profile.credit_note_prefix;
    let mut any = false;
    for year in [today.year(), (today - PENDING_WINDOW).year()] {
        any |= s.ledger.series_counter(id, &marketbill_domain::Series::new(prefix.clone(), year)).await? > 0;
    }
    if !any {
        return Ok(0);
    }
    let query =
        InvoiceQuery { from: Some(today - PENDING_WINDOW), credit_notes: Some(true), limit: 200, ..Default::default() };
    let mut delivered = 0;
    let left = crate::portal::all_invoices(s.ledger.as_ref(), id, query).await?;
    for rec in left.iter().filter(|r| r.undelivered() && d.now - r.issued_at >= IN_FLIGHT) {
        let order = s.marketplace.order(creds, &rec.order_id).await?;
        d.credit_note(rec, order.as_ref().and_then(|o| o.buyer_email()), Some(creds)).await?;
        delivered += 1;
    }
    Ok(delivered)
}
