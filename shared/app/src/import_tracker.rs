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
    // A seller gone or unsubscribed since (credentials dropped): nothing can be asked of the
    // marketplace any more, so the import stops being tracked instead of failing every poll.
    let sealed = s.ledger.get_seller(seller_id).await?.and_then(|seller| seller.credentials);
    let Some(sealed) = sealed else {
        tracing::info!(seller = %seller_id, import = %import.import_id, "no credentials any more; import no longer tracked");
        import.status = crate::model::ImportStatus::Failure;
        s.ledger.put_import(seller_id, &import).await?;
        return Ok(());
    };
    let creds = open_credentials(s.secrets.as_ref(), &sealed).await?;
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
        } else if rec.upload_attempts < s.settings.runs.max_upload_attempts {
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
        // Each import on its own: one that fails (whatever the reason) is reported and left
        // for the next poll; every other seller's imports are still followed.
        if let Err(e) = track_one(s, &seller_id, import, &mut out).await {
            tracing::warn!(seller = %seller_id, import = %id, error = %e, retryable = e.is_retryable(), "import left for the next poll");
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
