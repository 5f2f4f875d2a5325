//! Orders that need the seller: refused, failed or rejected ones, with a retry, a resend and
//! « handled ».

use crate::account::credentials;

use marketbill_domain::{InvoiceNumber, OrderId};
use serde::Serialize;

use crate::delivery::{Delivery, Mailed};
use crate::model::{OrderRecord, OrderStage, SellerId, SellerRecord};
use crate::once::Once;
use crate::portal::{Conflict, PortalError, seller};
use crate::ports::{OrderLedger, RequestSlot, SellerLedger};
use crate::services::{PipelineError, Services};

/// Orders refused or failing, with their reasons.
pub async fn problems(
    ledger: &(impl SellerLedger + OrderLedger + ?Sized),
    id: &SellerId,
) -> Result<Vec<OrderRecord>, PortalError> {
    let record = seller(ledger, id).await?;
    problem_orders(ledger, &record).await
}

/// The seller's orders with a problem it has not marked as handled.
pub(crate) async fn problem_orders(
    orders: &(impl OrderLedger + ?Sized),
    record: &SellerRecord,
) -> Result<Vec<OrderRecord>, PortalError> {
    let all = orders.list_orders(&record.seller_id).await?;
    Ok(all.into_iter().filter(|o| o.is_open_problem(&record.handled_problems)).collect())
}

/// `POST /v1/orders/{orderId}/handled`: the seller has dealt with an order's problem (by hand,
/// with the buyer…): it leaves the problems list until another problem comes.
pub async fn mark_handled(
    ledger: &(impl SellerLedger + OrderLedger + ?Sized),
    id: &SellerId,
    order_id: &OrderId,
) -> Result<(), PortalError> {
    let order = ledger.get_order(id, order_id).await?.ok_or(PortalError::NotFound)?;
    let Some(key) = order.problem_key() else {
        return Err(PortalError::Conflict(Conflict::NothingToRetry));
    };
    let mut record = seller(ledger, id).await?;
    if record.handled_problems.get(order_id) == Some(&key) {
        return Ok(());
    }
    // Marks of orders whose problem has gone are dropped on the way: the map stays small.
    let all = ledger.list_orders(id).await?;
    let open: std::collections::BTreeSet<&OrderId> =
        all.iter().filter(|o| o.problem_key().is_some()).map(|o| &o.order_id).collect();
    record.handled_problems.retain(|o, _| open.contains(o));
    record.handled_problems.insert(order_id.clone(), key);
    ledger.put_seller(&record).await?;
    Ok(())
}

/// `POST /v1/invoices/{number}/resend`: the invoice mailed to the buyer again; the provider's
/// message id. Once per [`Once`] (a repeat gets the first message id, no second mail).
pub async fn resend(
    s: &Services,
    id: &SellerId,
    number: &InvoiceNumber,
    once: Option<&Once>,
) -> Result<String, PortalError> {
    crate::once::once(s.ledger.as_ref(), s.clock.as_ref(), id, once, || resend_now(s, id, number)).await
}

async fn resend_now(s: &Services, id: &SellerId, number: &InvoiceNumber) -> Result<String, PortalError> {
    let record = seller(s.ledger.as_ref(), id).await?;
    let inv = s.ledger.get_invoice(id, number).await?.ok_or(PortalError::NotFound)?;
    // At most `resends_per_day` a day per invoice: a buyer's inbox is not a target.
    let now = s.clock.now();
    let slot = s
        .ledger
        .take_slot(
            id,
            &format!("resend:{number}"),
            &crate::model::day_key(now),
            s.settings.limits.resends_per_day,
            now,
            now,
        )
        .await?;
    if slot == RequestSlot::LimitReached {
        return Err(PortalError::RateLimited);
    }
    let creds = credentials(s.secrets.as_ref(), &record).await?;
    let order =
        s.marketplace.order(&creds, &inv.order_id).await.map_err(PipelineError::from)?.ok_or(PortalError::NotFound)?;
    let d = Delivery::new(s, id, now, None);
    let pdf = d.pdf(&inv).await?;
    match d.mail(&inv.invoice, &pdf, order.buyer_email()).await? {
        Mailed::Sent(id) => Ok(id),
        Mailed::Refused(why) => Err(PortalError::Conflict(Conflict::NotMailed(why))),
    }
}

/// What a retry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RetryOutcome {
    /// A document the marketplace refused was uploaded again, now.
    Uploaded,
    /// The order will be looked at again by a run queued now.
    Queued,
}

/// A problem order tried again: a refused upload is sent again at once; any other problem
/// (a step that failed, a refusal that may change) queues a run of the seller.
pub async fn retry(
    s: &Services,
    id: &SellerId,
    order_id: &OrderId,
    once: Option<&Once>,
) -> Result<RetryOutcome, PortalError> {
    crate::once::once(s.ledger.as_ref(), s.clock.as_ref(), id, once, || retry_now(s, id, order_id)).await
}

async fn retry_now(s: &Services, id: &SellerId, order_id: &OrderId) -> Result<RetryOutcome, PortalError> {
    let record = crate::portal::active_seller(s.ledger.as_ref(), id).await?;
    let mut order = s.ledger.get_order(id, order_id).await?.ok_or(PortalError::NotFound)?;
    if order.stage == OrderStage::Rejected {
        let number = order.number.clone().ok_or(PortalError::NotFound)?;
        let inv = s.ledger.get_invoice(id, &number).await?.ok_or(PortalError::NotFound)?;
        let creds = credentials(s.secrets.as_ref(), &record).await?;
        let d = Delivery::new(s, id, s.clock.now(), None);
        let pdf = d.pdf(&inv).await?;
        d.upload_one(&creds, &mut order, &pdf).await?;
        return Ok(RetryOutcome::Uploaded);
    }
    if !order.is_open() {
        return Err(PortalError::Conflict(Conflict::NothingToRetry));
    }
    let message = crate::ports::SellerRunMessage {
        seller_id: id.clone(),
        reason: crate::ports::RunReason::Manual,
        resume_from: None,
    };
    s.queue.send(&message).await.map_err(PipelineError::from)?;
    Ok(RetryOutcome::Queued)
}
