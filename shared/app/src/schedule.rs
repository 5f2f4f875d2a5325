//! The scheduler's use case: one queued run per active seller; and, where one process does the
//! whole job (the command line, `marketbill serve`), the queued runs themselves, each seller on
//! its own.

use std::time::Duration;

use crate::model::SellerId;
use crate::ports::{Queue, RunReason, SellerLedger, SellerRunMessage};
use crate::seller_run::{RunOutcome, run_message};
use crate::services::{PipelineError, Services};

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

/// One seller's run in a cycle: what it did, or why it failed. A failure is that seller's
/// alone: the cycle goes on with the others.
pub type SellerRunResult = (SellerId, Result<RunOutcome, PipelineError>);

/// Runs every queued seller run, one after the other, until the queue is empty (continuations
/// included). Each message is acknowledged once handled, whatever its outcome — as the
/// seller-run Lambda does for a failure that trying again cannot mend; a transient one is
/// reported and left to the next cycle.
pub async fn run_queued(s: &Services) -> Result<Vec<SellerRunResult>, PipelineError> {
    let mut runs = Vec::new();
    loop {
        let batch = s.queue.receive(10, Duration::ZERO).await?;
        if batch.is_empty() {
            return Ok(runs);
        }
        for r in batch {
            let result = run_message(s, &r.message, None).await;
            if let Err(e) = &result {
                tracing::warn!(seller = %r.message.seller_id, error = %e, retryable = e.is_retryable(), "seller run failed; the cycle goes on");
            }
            s.queue.ack(&r.receipt).await?;
            runs.push((r.message.seller_id, result));
        }
    }
}
