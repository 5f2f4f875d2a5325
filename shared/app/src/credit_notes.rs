//! Credit notes a seller issues from an invoice (units, amounts, the remainder, a gesture).

use crate::account::credentials;

use marketbill_domain::{InvoiceNumber, OrderId};
use serde::Serialize;

use crate::delivery::Delivery;
use crate::marketplace::MarketplaceCredentials;
use crate::model::{InvoiceQuery, InvoiceRecord, MailOutcome, SellerId, SellerRecord};
use crate::once::Once;
use crate::portal::{Conflict, PortalError, active_seller, all_invoices};
use crate::ports::{InvoiceLedger, IssuingLedger, LedgerError};
use crate::services::{PipelineError, Services};

/// A credit note the seller issued, and whether its mail left.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditNoteIssued {
    pub credit_note: InvoiceNumber,
    pub total_incl_vat: rust_decimal::Decimal,
    /// Still creditable on the invoice after it, VAT included.
    pub remaining_incl_vat: rust_decimal::Decimal,
    /// `None` when mailed; else why not (the document is issued and stored either way, and
    /// can be sent again with `resend`).
    pub not_mailed: Option<String>,
}

/// A credit note for part or all of an invoice, asked by its seller (returns, missing items,
/// gestures): computed against what the invoice's earlier credit notes left, numbered and
/// recorded in one write, stored and mailed to the buyer like an invoice. Not metered. The
/// marketplace copy of the order keeps the invoice (an upload would replace it).
///
/// Once per [`Once`]: a repeat gets the first credit note. Its key also goes into the
/// invoice's credited state in the write that numbers the credit note, so even a repeat after
/// a crash between the two (the key's answer not kept) finds it issued and issues nothing.
pub async fn credit_note(
    s: &Services,
    id: &SellerId,
    number: &InvoiceNumber,
    items: &[marketbill_domain::credit::CreditItem],
    reason: &str,
    once: Option<&Once>,
) -> Result<CreditNoteIssued, PortalError> {
    let marker = once.map(|o| format!("request-{}", &o.key()[..32]));
    crate::once::once(s.ledger.as_ref(), s.clock.as_ref(), id, once, || {
        credit_note_now(s, id, number, items, reason, marker)
    })
    .await
}

async fn credit_note_now(
    s: &Services,
    id: &SellerId,
    number: &InvoiceNumber,
    items: &[marketbill_domain::credit::CreditItem],
    reason: &str,
    marker: Option<String>,
) -> Result<CreditNoteIssued, PortalError> {
    let record = active_seller(s.ledger.as_ref(), id).await?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(PortalError::field("reason", "is required, at most 200 characters"));
    }
    let original = s.ledger.get_invoice(id, number).await?.ok_or(PortalError::NotFound)?;
    let before = crate::refunds::credited_state(s.ledger.as_ref(), id, &original).await?;
    if let Some(m) = &marker
        && before.applied.contains(m)
    {
        return issued_under_marker(s, id, &original, &before).await;
    }
    let now = s.clock.now();
    let (draft, mut after) =
        original.invoice.credit(&record.profile, now, items, reason, &before).map_err(PortalError::Credit)?;
    if let Some(m) = marker {
        after.applied.insert(m);
    }
    let cn = match s.ledger.issue_credit_note(id, &original.order_id, draft, &before, &after, now).await {
        Ok(cn) => cn,
        Err(LedgerError::CreditConflict { .. }) => {
            return Err(PortalError::Conflict(Conflict::CreditRaced));
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(seller = %id, invoice = %number, credit_note = %cn.number, "credit note issued by the seller");
    let rec = InvoiceRecord::new(id, &original.order_id, cn, now);
    let not_mailed = match buyer_email(s, &record, &original.order_id).await {
        // The one delivery path: stored, mailed, attached where asked, each step recorded.
        Ok((email, creds)) => {
            match Delivery::new(s, id, now, None).credit_note(&rec, email.as_deref(), Some(&creds)).await {
                Ok(Some(MailOutcome::Sent { .. })) | Ok(None) => None,
                Ok(Some(MailOutcome::Refused { reason })) => Some(reason),
                Err(e) => {
                    tracing::warn!(seller = %id, credit_note = %rec.invoice.number, error = %e, "credit note issued; its delivery is finished by the next run");
                    Some(e.to_string())
                }
            }
        }
        // Issued: the next seller run finishes its delivery from the step it reached.
        Err(e) => {
            tracing::warn!(seller = %id, credit_note = %rec.invoice.number, error = %e, "credit note issued; its delivery is left to the next run");
            Some(e.to_string())
        }
    };
    Ok(CreditNoteIssued {
        credit_note: rec.invoice.number.clone(),
        total_incl_vat: rec.invoice.body.totals.tax_inclusive,
        remaining_incl_vat: after.left_on(&original.invoice),
        not_mailed,
    })
}

/// The credit note a request already issued (found by its key in the credited state after a
/// crash lost its kept answer): the invoice's latest credit note.
async fn issued_under_marker(
    s: &Services,
    id: &SellerId,
    original: &InvoiceRecord,
    credited: &marketbill_domain::credit::Credited,
) -> Result<CreditNoteIssued, PortalError> {
    let query = InvoiceQuery {
        order_id: Some(original.order_id.to_string()),
        credit_notes: Some(true),
        limit: 100,
        ..Default::default()
    };
    let latest = all_invoices(s.ledger.as_ref(), id, query)
        .await?
        .into_iter()
        .filter(|r| {
            matches!(&r.invoice.kind, marketbill_domain::DocumentKind::CreditNote { corrects }
                if corrects.number == original.invoice.number)
        })
        .max_by_key(|r| r.invoice.number.counter().unwrap_or(0))
        .ok_or(PortalError::NotFound)?;
    Ok(CreditNoteIssued {
        credit_note: latest.invoice.number.clone(),
        total_incl_vat: latest.invoice.body.totals.tax_inclusive,
        remaining_incl_vat: credited.left_on(&original.invoice),
        not_mailed: None,
    })
}

/// What is still creditable on an invoice, VAT included (zero for a credit note).
pub async fn creditable(
    ledger: &(impl IssuingLedger + InvoiceLedger + ?Sized),
    id: &SellerId,
    number: &InvoiceNumber,
) -> Result<rust_decimal::Decimal, PortalError> {
    let original = ledger.get_invoice(id, number).await?.ok_or(PortalError::NotFound)?;
    if original.invoice.kind.is_credit_note() {
        return Ok(rust_decimal::Decimal::ZERO);
    }
    let credited = crate::refunds::credited_state(ledger, id, &original).await?;
    Ok(credited.left_on(&original.invoice))
}

/// The buyer's address of an order, as the marketplace has it now (it is not kept), and the
/// credentials that read it.
pub(crate) async fn buyer_email(
    s: &Services,
    record: &SellerRecord,
    order_id: &OrderId,
) -> Result<(Option<String>, MarketplaceCredentials), PortalError> {
    let creds = credentials(s.secrets.as_ref(), record).await?;
    let order = s.marketplace.order(&creds, order_id).await.map_err(PipelineError::from)?;
    Ok((order.and_then(|o| o.buyer_email().map(str::to_owned)), creds))
}
