//! The scheduler's use case: one queued run per active seller; and, where one process does the
//! whole job (the command line, `marketbill serve`), the queued runs themselves, each seller on
//! its own.

use std::time::Duration;

use marketbill_domain::calendar::{paris_date, paris_instant};
use time::OffsetDateTime;

use crate::model::SellerId;
use crate::ports::{Clock, Queue, RequestLedger, RunReason, SellerLedger, SellerRunMessage};
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

/// The hours (Paris time) of the twice-daily cycle; the template's scheduler runs at the same.
pub const CYCLE_HOURS: [u8; 2] = [6, 18];

/// The latest scheduled cycle at or before `now`.
pub fn last_cycle(now: OffsetDateTime) -> OffsetDateTime {
    let today = paris_date(now);
    let yesterday = today.previous_day().unwrap_or(today);
    [today, yesterday]
        .into_iter()
        .flat_map(|d| CYCLE_HOURS.map(|h| paris_instant(d, h, 0)))
        .filter(|at| *at <= now)
        .max()
        .unwrap_or(now)
}

/// The next scheduled cycle after `now`.
pub fn next_cycle(now: OffsetDateTime) -> OffsetDateTime {
    let today = paris_date(now);
    let tomorrow = today.next_day().unwrap_or(today);
    [today, tomorrow]
        .into_iter()
        .flat_map(|d| CYCLE_HOURS.map(|h| paris_instant(d, h, 0)))
        .filter(|at| *at > now)
        .min()
        .unwrap_or(now)
}

/// Runs of one seller asked for by hand (« Lancer maintenant ») in an hour at most.
pub const RUNS_NOW_PER_HOUR: u32 = 3;

/// What asking for a run now did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RunNow {
    /// Queued: the seller's run starts within moments.
    Queued,
    /// A run was asked for a moment ago and is still to start: nothing more queued.
    AlreadyQueued,
}

/// `POST /v1/runs`: the seller's run now, outside the schedule (a few an hour). On AWS the
/// queue's message starts the seller-run function; in `marketbill serve`, its worker.
pub async fn run_now(
    ledger: &(impl SellerLedger + RequestLedger + ?Sized),
    queue: &dyn Queue,
    clock: &dyn Clock,
    id: &SellerId,
) -> Result<RunNow, crate::portal::PortalError> {
    use crate::portal::{Conflict, PortalError};
    let record = crate::portal::active_seller(ledger, id).await?;
    if record.credentials.is_none() {
        return Err(PortalError::Conflict(Conflict::NoCredentials));
    }
    let now = clock.now();
    let local = now.to_offset(marketbill_domain::calendar::paris_offset(now));
    let hour = format!("{}T{:02}", marketbill_domain::calendar::iso_date(local.date()), local.hour());
    let lease = now + time::Duration::minutes(1);
    match ledger.take_slot(id, "run-now", &hour, RUNS_NOW_PER_HOUR, now, lease).await? {
        crate::ports::RequestSlot::Taken => {}
        crate::ports::RequestSlot::Busy => return Ok(RunNow::AlreadyQueued),
        crate::ports::RequestSlot::LimitReached => return Err(PortalError::RateLimited),
    }
    let message = SellerRunMessage { seller_id: id.clone(), reason: RunReason::Manual, resume_from: None };
    queue.send(&message).await.map_err(PipelineError::from)?;
    tracing::info!(seller = %id, "run asked for by the seller, queued");
    Ok(RunNow::Queued)
}

/// Where one process does the whole job (`marketbill serve`): what is due is done at each
/// [`Worker::tick`] — the queued runs at once (« Lancer maintenant », continuations), the
/// twice-daily cycle at [`CYCLE_HOURS`] (with the fee invoices of the 1st), every hour the
/// imports and the approved platforms, every day after 03:30 the purge. What the AWS
/// deployment does with EventBridge schedules and queue triggers.
pub struct Worker {
    /// The last cycle done (a cycle missed while the process was down is not caught up: the
    /// next one lists from the watermark, so no order is lost).
    cycle_done: OffsetDateTime,
    hourly_done: Option<OffsetDateTime>,
    purged_on: Option<time::Date>,
}

impl Worker {
    /// A worker started at `now`: the next cycle is the next scheduled one.
    pub fn new(now: OffsetDateTime) -> Worker {
        Worker { cycle_done: last_cycle(now), hourly_done: None, purged_on: None }
    }

    /// Does what is due at the services' clock; one seller's or one job's failure is logged and
    /// left for its next turn.
    pub async fn tick(
        &mut self,
        s: &Services,
        plans: &marketbill_domain::FeePlans,
    ) -> Result<Vec<SellerRunResult>, PipelineError> {
        let now = s.clock.now();
        let due = last_cycle(now);
        if due > self.cycle_done {
            self.cycle_done = due;
            schedule(s.ledger.as_ref(), s.queue.as_ref()).await?;
            if let Err(e) = crate::fee_billing::on_schedule(s, plans).await {
                tracing::warn!(error = %e, "monthly fee invoices left for the next cycle");
            }
        }
        let runs = run_queued(s).await?;
        for (seller, result) in &runs {
            if result.as_ref().is_ok_and(|o| o.issued > 0)
                && let Err(e) = crate::transmission::transmit(s, s.platform.as_ref(), seller).await
            {
                tracing::warn!(seller = %seller, error = %e, "platform pass left for the next one");
            }
        }
        if self.hourly_done.is_none_or(|at| now - at >= time::Duration::hours(1)) {
            self.hourly_done = Some(now);
            if let Err(e) = crate::import_tracker::track_imports(s).await {
                tracing::warn!(error = %e, "imports left for the next hour");
            }
            if let Err(e) = crate::transmission::transmit_all(s, s.platform.as_ref()).await {
                tracing::warn!(error = %e, "platform passes left for the next hour");
            }
        }
        let today = paris_date(now);
        if self.purged_on != Some(today) && now >= paris_instant(today, 3, 30) {
            self.purged_on = Some(today);
            if let Err(e) = crate::retention::purge(s.ledger.as_ref(), s.store.as_ref(), now).await {
                tracing::warn!(error = %e, "purge left for tomorrow");
            }
        }
        Ok(runs)
    }
}

/// The worker of a one-process service: what is due, at each tick, for ever (the caller's
/// task ends it).
pub async fn work(services: Services, plans: marketbill_domain::FeePlans, tick: Duration) {
    let mut worker = Worker::new(services.clock.now());
    let mut every = tokio::time::interval(tick);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match worker.tick(&services, &plans).await {
            Ok(runs) => {
                for (seller, result) in runs {
                    match result {
                        Ok(o) => tracing::info!(seller = %seller, issued = o.issued, "seller run done"),
                        Err(e) => tracing::warn!(seller = %seller, error = %e, "seller run left for the next cycle"),
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "worker tick failed; trying again at the next"),
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn the_cycle_runs_at_six_and_eighteen_paris_time_in_winter_and_summer() {
        assert_eq!(next_cycle(datetime!(2026-12-06 22:41 UTC)), datetime!(2026-12-07 05:00 UTC));
        assert_eq!(last_cycle(datetime!(2026-12-06 22:41 UTC)), datetime!(2026-12-06 17:00 UTC));
        assert_eq!(next_cycle(datetime!(2026-07-01 03:59 UTC)), datetime!(2026-07-01 04:00 UTC));
        assert_eq!(next_cycle(datetime!(2026-07-01 04:00 UTC)), datetime!(2026-07-01 16:00 UTC));
        assert_eq!(last_cycle(datetime!(2026-07-01 04:00 UTC)), datetime!(2026-07-01 04:00 UTC));
        // Just after midnight in Paris: the last cycle was yesterday evening.
        assert_eq!(last_cycle(datetime!(2026-03-28 23:30 UTC)), datetime!(2026-03-28 17:00 UTC));
        // The night summer time starts: 06:00 is already +02:00.
        assert_eq!(next_cycle(datetime!(2026-03-29 00:30 UTC)), datetime!(2026-03-29 04:00 UTC));
    }
}
