//! The scheduler's use case: one queued run per active seller.

use crate::ports::{Queue, RunReason, SellerLedger, SellerRunMessage};
use crate::services::PipelineError;

/// What the scheduler did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScheduleOutcome {
    pub queued: usize,
}

/// The scheduler: one queued run per active seller.
pub async fn schedule(ledger: &dyn SellerLedger, queue: &dyn Queue) -> Result<ScheduleOutcome, PipelineError> {
    let sellers = ledger.active_sellers().await?;
    for id in &sellers {
        queue.send(&SellerRunMessage { seller_id: id.clone(), reason: RunReason::Schedule, resume_from: None }).await?;
    }
    tracing::info!(queued = sellers.len(), "seller runs queued");
    Ok(ScheduleOutcome { queued: sellers.len() })
}
