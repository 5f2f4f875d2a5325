//! Marketbill's own monthly invoices: on the first day of a month, for each seller with usage
//! in the month before, the invoice of its fee under its plan (see
//! [`marketbill_domain::fee_invoice`]), mailed to the seller and listed in its portal.
//!
//! The fee invoices are documents of the operator's account ([`OPERATOR_ACCOUNT`]) in the
//! ledger: numbered in the operator's series by the same atomic issue as buyer invoices, keyed
//! by the reference `FEE-<seller>-<YYYYMM>`, so a month is invoiced once whatever runs twice or
//! crashes (the second issue is `AlreadyIssued`), and the numbers have no gap. Each step after
//! the issue (stored, mailed) is recorded on that reference like an order's, and a later run
//! finishes what a crash left.

use crate::portal::{LINK_TTL, PortalError, seller};
use crate::ports::PresignedLink;
use marketbill_domain::calendar::YearMonth;
use marketbill_domain::fee_invoice::{FeeInvoiceError, FeeInvoiceRequest, draft_fee_invoice, fee_reference};
use marketbill_domain::seller::SellerProfile;
use marketbill_domain::{FeePlans, Invoice};
use serde::Serialize;
use time::OffsetDateTime;

use crate::delivery::Delivery;
use crate::model::{InvoiceQuery, InvoiceRecord, OrderRecord, OrderStage, SellerId};
use crate::ports::{Clock, InvoiceLedger, LedgerError};
use crate::services::{PipelineError, Services};

/// The ledger account the operator's series and fee invoices are kept under (not a seller:
/// it has no seller record, so no run, no portal sign-in).
pub const OPERATOR_ACCOUNT: &str = "marketbill-operator";

pub fn operator_account() -> Result<SellerId, PipelineError> {
    OPERATOR_ACCOUNT.parse().map_err(|_| PipelineError::Defect("the operator account id is not a seller id".into()))
}

/// What a billing pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeeRun {
    pub month: String,
    /// Numbers of the fee invoices issued by this pass.
    pub issued: Vec<String>,
    /// Sellers whose invoice of the month was issued before (finished if a crash left it).
    pub already_issued: u64,
    /// Sellers without usage (or a zero fee) in the month: nothing to invoice.
    pub nothing_to_bill: u64,
    /// Sellers that could not be invoiced, and why (they are tried again by the next pass).
    pub failed: Vec<(String, String)>,
}

/// The month before the one of `now` (Paris time): the month a pass on the 1st invoices.
pub fn month_before(now: OffsetDateTime) -> YearMonth {
    YearMonth::in_paris(now).previous()
}

/// Whether `now` is the first day of a month in Paris: the day fee invoices are issued.
pub fn is_billing_day(now: OffsetDateTime) -> bool {
    marketbill_domain::calendar::paris_date(now).day() == 1
}

/// The scheduler's part: on the first day of a month (Paris time), the fee invoices of the
/// month before, when the operator's profile is configured. Both cycles of that day call it;
/// the second finds every invoice issued.
pub async fn on_schedule(s: &Services, plans: &FeePlans) -> Result<Option<FeeRun>, PipelineError> {
    let now = s.clock.now();
    if !is_billing_day(now) {
        return Ok(None);
    }
    let Some(operator) = s.settings.operator.as_ref() else {
        tracing::warn!("no operator profile configured: the monthly fee invoices are not issued");
        return Ok(None);
    };
    Ok(Some(bill_month(s, operator, plans, month_before(now)).await?))
}

/// Invoices the fees of `month` to every seller with usage in it (active or
/// unsubscribed since).
pub async fn bill_month(
    s: &Services,
    operator: &SellerProfile,
    plans: &FeePlans,
    month: YearMonth,
) -> Result<FeeRun, PipelineError> {
    let mut run = FeeRun { month: month.to_string(), ..FeeRun::default() };
    let mut sellers = s.ledger.active_sellers().await?;
    sellers.extend(s.ledger.unsubscribed_sellers().await?.into_iter().map(|r| r.seller_id));
    sellers.sort();
    sellers.dedup();
    for id in sellers {
        // Each seller on its own: a failure is this seller's, tried again by the next pass.
        if let Err(e) = bill_seller(s, operator, plans, month, &id, &mut run).await {
            tracing::error!(seller = %id, error = %e, "fee invoice left for the next pass");
            run.failed.push((id.to_string(), e.to_string()));
        }
    }
    tracing::info!(month = %run.month, issued = run.issued.len(), already = run.already_issued, "fee invoices");
    Ok(run)
}

/// One seller's fee invoice of the month: issued and delivered, or found issued (and finished).
async fn bill_seller(
    s: &Services,
    operator: &SellerProfile,
    plans: &FeePlans,
    month: YearMonth,
    id: &SellerId,
    run: &mut FeeRun,
) -> Result<(), PipelineError> {
    let now = s.clock.now();
    let account = operator_account()?;
    let Some(record) = s.ledger.get_seller(id).await? else { return Ok(()) };
    let reference = fee_reference(id.as_str(), month).map_err(|e| PipelineError::Defect(e.to_string()))?;
    // Issued by an earlier pass: finish it if a crash left it behind, issue nothing.
    if let Some(earlier) = s.ledger.get_order(&account, &reference).await? {
        run.already_issued += 1;
        return deliver(s, &account, &record.profile.email, earlier, None, now).await;
    }
    let used = s.ledger.usage(id, month).await?;
    if used == 0 {
        run.nothing_to_bill += 1;
        return Ok(());
    }
    let used_before = s.ledger.usage(id, month.previous()).await?;
    let fee = plans.monthly_fee(record.profile.plan, used, used_before);
    let request = FeeInvoiceRequest {
        operator,
        customer: &record.profile,
        customer_id: id.as_str(),
        month,
        fee: &fee,
        issued_at: now,
    };
    let draft = match draft_fee_invoice(&request) {
        Ok(d) => d,
        Err(FeeInvoiceError::NothingToBill) => {
            run.nothing_to_bill += 1;
            return Ok(());
        }
        Err(e) => return Err(PipelineError::Defect(format!("fee invoice not drafted: {e}"))),
    };
    // The atomic issue decides between passes running at once: one wins, the other sees
    // `AlreadyIssued` and leaves the delivery to it.
    let invoice = match s.ledger.issue(&account, &reference, draft, None, now).await {
        Ok(invoice) => invoice,
        Err(LedgerError::AlreadyIssued { .. }) => {
            run.already_issued += 1;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    run.issued.push(invoice.number.to_string());
    // The record the atomic issue wrote; a failed delivery is finished by a later pass.
    let rec = OrderRecord::issued(&reference, &invoice.number, now);
    deliver(s, &account, &record.profile.email, rec, Some(invoice), now).await
}

/// A fee invoice issued before and not mailed yet is finished by a later pass only when its
/// last step is this old: younger, the pass that issued it is still at work (two scheduler
/// calls at once must not both mail it).
const LEFT_BEHIND: time::Duration = time::Duration::minutes(10);

/// Takes a fee invoice from issued to mailed, step by step, recording each on its reference.
/// `issued_now`: the invoice this pass has just issued; otherwise one issued earlier, finished
/// only if a crash left it behind.
async fn deliver(
    s: &Services,
    account: &SellerId,
    to: &str,
    mut rec: OrderRecord,
    issued_now: Option<Invoice>,
    now: OffsetDateTime,
) -> Result<(), PipelineError> {
    if rec.stage >= OrderStage::Mailed {
        return Ok(());
    }
    let doc = match issued_now {
        Some(invoice) => InvoiceRecord::new(account, &rec.order_id, invoice, now),
        None => {
            if now - rec.updated_at < LEFT_BEHIND {
                return Ok(());
            }
            let reference = &rec.order_id;
            let number = rec
                .number
                .clone()
                .ok_or_else(|| PipelineError::Defect(format!("fee invoice {reference} has no number")))?;
            s.ledger
                .get_invoice(account, &number)
                .await?
                .ok_or_else(|| PipelineError::Defect(format!("fee invoice {number} is not stored")))?
        }
    };
    let delivery = Delivery::new(s, account, now, None);
    let pdf = if rec.stage == OrderStage::Issued || doc.pdf.is_none() {
        let pdf = delivery.store(&doc.invoice).await?;
        if rec.stage == OrderStage::Issued {
            rec.move_to(OrderStage::Stored, now)?;
            s.ledger.update_order(account, &rec).await?;
        }
        pdf
    } else {
        delivery.pdf(&doc).await?
    };
    let mail = crate::mail::fee_invoice_mail(&doc.invoice, &pdf, &s.settings.sender, to, now)?;
    // The one sending path: paced and tried again like every document's mail.
    let id = delivery.send(&mail).await?;
    rec.message_id = Some(id);
    rec.move_to(OrderStage::Mailed, now)?;
    s.ledger.update_order(account, &rec).await?;
    Ok(())
}

/// A seller's fee invoices of the last `months` months (this one included: a month is
/// invoiced on the 1st of the next), newest first: one listing of the operator's documents
/// since then, not one per month.
pub async fn fee_invoices(
    invoices: &(impl InvoiceLedger + ?Sized),
    clock: &dyn Clock,
    seller: &SellerId,
    months: u32,
) -> Result<Vec<InvoiceRecord>, PipelineError> {
    let account = operator_account()?;
    let mut month = YearMonth::in_paris(clock.now());
    let mut references = Vec::new();
    for _ in 0..months {
        references.push(fee_reference(seller.as_str(), month).map_err(|e| PipelineError::Defect(e.to_string()))?);
        month = month.previous();
    }
    // From the first day of the oldest month (its invoice is issued later, on the 1st after it).
    let query = InvoiceQuery { from: Some(month.next().first_day()), limit: 500, ..Default::default() };
    let mut found: Vec<InvoiceRecord> = crate::portal::all_invoices(invoices, &account, query)
        .await?
        .into_iter()
        .filter(|r| references.contains(&r.order_id))
        .collect();
    // The references' months are newest first.
    found.sort_by_key(|r| references.iter().position(|reference| reference == &r.order_id));
    Ok(found)
}

/// The fee invoice `number` of a seller, if it is that seller's.
pub async fn fee_invoice(
    invoices: &(impl InvoiceLedger + ?Sized),
    seller: &SellerId,
    number: &str,
) -> Result<Option<InvoiceRecord>, PipelineError> {
    let account = operator_account()?;
    let Ok(number) = number.parse() else { return Ok(None) };
    let Some(rec) = invoices.get_invoice(&account, &number).await? else { return Ok(None) };
    let mine = rec.order_id.as_str().strip_prefix("FEE-").and_then(|r| r.rsplit_once('-')).map(|(who, _)| who)
        == Some(seller.as_str());
    Ok(mine.then_some(rec))
}

/// One of Marketbill's own invoices to the seller (its monthly fee), with links to its files.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeeInvoice {
    pub number: String,
    pub issue_date: String,
    /// `FEE-<seller>-<YYYYMM>`.
    pub reference: String,
    pub total_excl_vat: rust_decimal::Decimal,
    pub total_incl_vat: rust_decimal::Decimal,
    pub payable: rust_decimal::Decimal,
    pub pdf: Option<PresignedLink>,
    pub xml: Option<PresignedLink>,
}

/// Marketbill's own invoices to a seller are read with its documents.
impl crate::documents::Documents<'_> {
    /// The seller's fee invoices of the last two years, newest first.
    pub async fn fee_invoices(&self, id: &SellerId) -> Result<Vec<FeeInvoice>, PortalError> {
        seller(self.sellers, id).await?;
        let mut out = Vec::new();
        for rec in fee_invoices(self.invoices, self.clock, id, 24).await? {
            let link = |o: &Option<crate::model::StoredObject>| {
                let key = o.as_ref().map(|o| o.key.clone());
                async move {
                    match key {
                        Some(k) => self.store.presign_get(&k, LINK_TTL).await.map(Some).map_err(PipelineError::from),
                        None => Ok(None),
                    }
                }
            };
            let t = &rec.invoice.body.totals;
            out.push(FeeInvoice {
                number: rec.invoice.number.to_string(),
                issue_date: marketbill_domain::calendar::iso_date(rec.invoice.issue_date),
                reference: rec.order_id.to_string(),
                total_excl_vat: t.tax_exclusive,
                total_incl_vat: t.tax_inclusive,
                payable: t.payable,
                pdf: link(&rec.pdf).await?,
                xml: link(&rec.xml).await?,
            });
        }
        Ok(out)
    }
}
