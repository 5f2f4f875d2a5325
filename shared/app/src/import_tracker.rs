//! The import tracker: follows the marketplace's imports until they are final, reads each
//! file's result, retries refused files one by one a bounded number of times.

use crate::delivery::Delivery;
use crate::marketplace::ImportState;
use crate::model::{ImportRecord, OrderStage, SellerId};
use crate::services::{PipelineError, Services, open_credentials};

/// What the import tracker did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrackOutcome {
    pub polled: u64,
    pub accepted: u64,
    pub retried: u64,
    pub rejected: u64,
    pub still_running: u64,
    pub failed: Vec<(String, String)>,
}

async fn track_one(
    s: &Services,
    seller_id: &SellerId,
    mut import: ImportRecord,
    out: &mut TrackOutcome,
) -> Result<(), PipelineError> {
    let Some(seller) = s.ledger.get_seller(seller_id).await? else { return Ok(()) };
    let sealed = seller.credentials.as_ref().ok_or_else(|| PipelineError::NoCredentials(seller_id.clone()))?;
    let creds = open_credentials(s.secrets.as_ref(), sealed).await?;
    let state: ImportState = s.marketplace.import_state(&creds, &import.import_id).await?;
    out.polled += 1;
    import.polls += 1;
    if !state.is_final() {
        out.still_running += 1;
        s.ledger.put_import(seller_id, &import).await?;
        return Ok(());
    }
    let now = s.clock.now();
    let d = Delivery::new(s, seller_id, now, None);
    // A bulk import's refused files are retried one by one.
    for file in &state.files {
        // A file the marketplace reports under a name that is not an order id is none of ours.
        let Ok(order_id) = file.order_id.parse::<marketbill_domain::OrderId>() else { continue };
        let Some(mut rec) = s.ledger.get_order(seller_id, &order_id).await? else { continue };
        // Only the latest upload of an order decides its fate.
        if rec.import_id.as_deref() != Some(import.import_id.as_str()) || rec.stage != OrderStage::Uploaded {
            continue;
        }
        if file.accepted {
            rec.move_to(OrderStage::Accepted, now)?;
            rec.last_error = None;
            s.ledger.update_order(seller_id, &rec).await?;
            out.accepted += 1;
        } else if rec.upload_attempts < s.settings.max_upload_attempts {
            let Some(number) = rec.number.clone() else { continue };
            let Some(invoice) = s.ledger.get_invoice(seller_id, &number).await? else { continue };
            rec.last_error = Some(file.errors.join("; "));
            let pdf = d.pdf(&invoice).await?;
            d.upload_one(&creds, &mut rec, &pdf).await?;
            out.retried += 1;
        } else {
            rec.move_to(OrderStage::Rejected, now)?;
            rec.last_error = Some(format!(
                "refused by the marketplace after {} uploads: {}",
                rec.upload_attempts,
                file.errors.join("; ")
            ));
            s.ledger.update_order(seller_id, &rec).await?;
            out.rejected += 1;
        }
    }
    import.status = state.status;
    s.ledger.put_import(seller_id, &import).await?;
    Ok(())
}

/// The import tracker: every pending import polled once.
pub async fn track_imports(s: &Services) -> Result<TrackOutcome, PipelineError> {
    let mut out = TrackOutcome::default();
    for (seller_id, import) in s.ledger.pending_imports().await? {
        let id = import.import_id.clone();
        if let Err(e) = track_one(s, &seller_id, import, &mut out).await {
            if !e.is_retryable() && !matches!(e, PipelineError::Marketplace(_)) {
                return Err(e);
            }
            tracing::warn!(seller = %seller_id, import = %id, error = %e, "import left for the next poll");
            out.failed.push((id, e.to_string()));
        }
    }
    tracing::info!(
        polled = out.polled,
        accepted = out.accepted,
        retried = out.retried,
        rejected = out.rejected,
        "imports tracked"
    );
    Ok(out)
}
