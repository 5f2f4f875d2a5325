//! Retention: what is kept and for how long. Download exports (their parts and archive) go an
//! hour after they were started, well after their links expired; a seller who unsubscribed keeps read access for a month (`portal::GRACE`), then
//! the daily purge deletes their documents and records.

use time::OffsetDateTime;

use crate::model::{SellerId, SellerStatus};
use crate::ports::{DocumentStore, SellerLedger, StoreError};
use crate::services::PipelineError;

/// How long the files of an export are kept: time to build a large one step by step, then to
/// use its five-minute link.
pub const EXPORT_TTL: time::Duration = time::Duration::hours(1);

/// Deletes the exports under `prefix` started more than [`EXPORT_TTL`] ago (their name starts
/// with the unix time they were started). Every export sweeps its seller's; the daily purge sweeps them all.
pub async fn sweep_exports(store: &dyn DocumentStore, prefix: &str, now: OffsetDateTime) -> Result<u64, StoreError> {
    let mut removed = 0;
    for key in store.list(prefix).await? {
        // `exports/{seller}/{job}…`: the job's name starts with the time it was started.
        let made = key.split('/').nth(2).and_then(|name| name.split('-').next()).and_then(|t| t.parse::<i64>().ok());
        let expired = match made {
            Some(t) => t + EXPORT_TTL.whole_seconds() <= now.unix_timestamp(),
            // Older names without a time: gone too, they are past any link by now.
            None => true,
        };
        if expired {
            removed += store.delete_prefix(&key).await?;
        }
    }
    Ok(removed)
}

/// The scheduled purge: documents and records of sellers past their month.
pub async fn purge(
    sellers: &dyn SellerLedger,
    store: &dyn DocumentStore,
    now: OffsetDateTime,
) -> Result<Vec<SellerId>, PipelineError> {
    let swept = sweep_exports(store, "exports/", now).await?;
    tracing::info!(swept, "expired exports deleted");
    let mut purged = Vec::new();
    for record in sellers.unsubscribed_sellers().await? {
        if let SellerStatus::Unsubscribed { purge_after, .. } = record.status
            && purge_after <= now
        {
            // Each seller on its own: one that fails is purged by the next day's pass, the
            // others today.
            match purge_one(sellers, store, &record.seller_id).await {
                Ok(()) => purged.push(record.seller_id),
                Err(e) => tracing::warn!(seller = %record.seller_id, error = %e, "purge left for the next pass"),
            }
        }
    }
    Ok(purged)
}

/// A seller's documents, exports and records deleted (the records last: a pass that fails
/// half-way still finds the seller next time).
async fn purge_one(sellers: &dyn SellerLedger, store: &dyn DocumentStore, id: &SellerId) -> Result<(), PipelineError> {
    store.delete_prefix(&format!("sellers/{id}/")).await?;
    store.delete_prefix(&format!("exports/{id}/")).await?;
    sellers.delete_seller(id).await?;
    Ok(())
}
