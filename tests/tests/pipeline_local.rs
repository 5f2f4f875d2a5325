//! The twice-daily job end to end on the embedded adapters and the marketplace simulator.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::faults::{Faults, FaultyLedger, FaultyMailer, FaultyStore, Op};
use common::{Outbox, World, check_invariants, cycle, world};
use marketbill_app::contract::Subject;
use marketbill_app::model::OrderStage;
use marketbill_local::{ChannelQueue, FolderStore, KeyFileSecretBox, OutboxMailer, SqliteLedger};
use marketbill_testkit::simulator::{Fault, FaultKind, Route};

struct Folder(Arc<OutboxMailer>);

#[async_trait]
impl Outbox for Folder {
    async fn sent(&self) -> Vec<Vec<u8>> {
        self.0.messages().unwrap()
    }
}

fn adapters(name: &str, faults: Option<Arc<Faults>>) -> (Subject, Arc<dyn Outbox>) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pipeline").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let outbox = Arc::new(OutboxMailer::new(&dir.join("outbox")).unwrap());
    let ledger: Arc<dyn marketbill_app::ports::Ledger> =
        Arc::new(SqliteLedger::open(&dir.join("ledger.sqlite")).unwrap());
    let store: Arc<dyn marketbill_app::ports::DocumentStore> =
        Arc::new(FolderStore::new(&dir.join("documents"), b"pipeline-link-key").unwrap());
    let mailer: Arc<dyn marketbill_app::ports::Mailer> = outbox.clone();
    let (ledger, store, mailer) = match faults {
        Some(f) => (
            FaultyLedger::ledger(ledger, f.clone()),
            Arc::new(FaultyStore { inner: store, faults: f.clone() }) as Arc<dyn marketbill_app::ports::DocumentStore>,
            Arc::new(FaultyMailer { inner: mailer, faults: f }) as Arc<dyn marketbill_app::ports::Mailer>,
        ),
        None => (ledger, store, mailer),
    };
    let a = Subject {
        ledger,
        store,
        mailer,
        queue: Arc::new(ChannelQueue::new(Duration::from_secs(30))),
        secrets: Arc::new(KeyFileSecretBox::open(&dir.join("master.key")).unwrap()),
    };
    (a, Arc::new(Folder(outbox)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_sellers_with_a_hundred_orders_each_are_invoiced_once_end_to_end() {
    let (a, outbox) = adapters("e2e", None);
    let w = world(a, outbox, 3, 100, 1).await;
    let outcomes = cycle(&w).await;
    assert_eq!(outcomes.len(), 3);
    for o in &outcomes {
        let o = o.as_ref().unwrap();
        assert!(o.complete, "{o:?}");
        assert!(o.failed.is_empty(), "{:?}", o.failed);
        assert!(o.skipped.contains_key("notShippedToFrance"), "{o:?}");
    }
    let checked = check_invariants(&w, 0).await;
    // A business buyer of the OSS seller that gave no VAT number waits for it (not an OSS sale).
    let waiting: u64 = outcomes
        .iter()
        .map(|o| o.as_ref().unwrap().skipped.get("businessBuyerWithoutVatNumber").copied().unwrap_or(0))
        .sum();
    assert!(checked + waiting as usize >= 280, "{checked} invoices, {waiting} waiting");
    // A second cycle issues, mails and uploads nothing new.
    let again = cycle(&w).await;
    for o in again {
        let o = o.unwrap();
        assert_eq!((o.issued, o.mailed, o.uploaded), (0, 0, 0), "{o:?}");
    }
    check_invariants(&w, 0).await;
}

fn ship_one(w: &World, seller: usize) -> String {
    let (_, mid, _) = &w.sellers[seller];
    let waiting = w
        .sim
        .orders(mid)
        .into_iter()
        .find(|o| {
            matches!(o["status"].as_str(), Some("WaitingAcceptance" | "InPreparation" | "Accepted" | "Processing"))
        })
        .expect("an order not shipped yet");
    let id = waiting["orderId"].as_str().unwrap().to_owned();
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    w.sim.update_order(mid, &id, |o| {
        o["status"] = "Shipped".into();
        o["updatedAt"] = now.clone().into();
        for l in o["lines"].as_array_mut().unwrap() {
            l["status"] = "Shipped".into();
        }
    });
    id
}

#[tokio::test]
async fn later_runs_pick_up_newly_shipped_orders_and_only_those() {
    let (a, outbox) = adapters("later", None);
    let w = world(a, outbox, 1, 20, 2).await;
    cycle(&w).await;
    let before = check_invariants(&w, 0).await;
    let shipped = ship_one(&w, 0);
    let outcomes = cycle(&w).await;
    let o = outcomes[0].as_ref().unwrap();
    assert_eq!(o.issued, 1, "{o:?}");
    assert_eq!(o.seen, 1, "only the order updated since the last run (with the overlap) is fetched: {o:?}");
    let rec = w.services.ledger.get_order(&w.sellers[0].0, &shipped.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(rec.stage, OrderStage::Accepted);
    assert_eq!(check_invariants(&w, 0).await, before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runs_of_the_same_seller_at_once_keep_every_invariant() {
    let (a, outbox) = adapters("duplicate-delivery", None);
    let w = world(a, outbox, 1, 40, 3).await;
    let seller = w.sellers[0].0.clone();
    let s1 = w.services.clone();
    let s2 = w.services.clone();
    let (id1, id2) = (seller.clone(), seller.clone());
    let (r1, r2) = tokio::join!(
        tokio::spawn(async move { marketbill_app::seller_run::run_seller(&s1, &id1, None).await }),
        tokio::spawn(async move { marketbill_app::seller_run::run_seller(&s2, &id2, None).await })
    );
    let (r1, r2) = (r1.unwrap().unwrap(), r2.unwrap().unwrap());
    assert_eq!(r1.issued + r2.issued, common::expectations(&w, 0).0.len() as u64);
    // Both runs may mail an order the other issued only in a tiny window; finish and check.
    let later: u64 = cycle(&w).await.iter().map(|o| o.as_ref().unwrap().mailed).sum();
    let duplicates_allowed = (r1.mailed + r2.mailed + later).saturating_sub(r1.issued + r2.issued) as usize;
    check_invariants(&w, duplicates_allowed).await;
}

/// Runs cycles until the world is healthy again (bounded).
async fn recover(w: &World, faults: &Faults) {
    faults.heal();
    w.sim.clear_faults();
    for _ in 0..3 {
        cycle(w).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_failures_once_or_for_a_whole_run_leave_nothing_behind() {
    for op in [Op::Issue, Op::SetDocuments, Op::StorePut, Op::MailSend, Op::UpdateOrder] {
        for times in [1, u32::MAX] {
            let faults = Arc::new(Faults::default());
            let (a, outbox) = adapters(&format!("fail-{op:?}-{times}"), Some(faults.clone()));
            let w = world(a, outbox, 1, 12, 4).await;
            faults.fail(op, times);
            let first = cycle(&w).await;
            assert!(first.iter().all(|r| r.is_ok()), "{op:?}: a failing step must not fail the whole run: {first:?}");
            recover(&w, &faults).await;
            check_invariants(&w, 0).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marketplace_faults_once_or_for_a_whole_run_leave_nothing_behind() {
    let routes = [Route::Token, Route::ListOrders, Route::UploadInvoice, Route::GetImport];
    for route in routes {
        for always in [false, true] {
            let faults = Arc::new(Faults::default());
            let (a, outbox) = adapters(&format!("market-{route:?}-{always}"), None);
            let w = world(a, outbox, 1, 12, 5).await;
            let fault = if always {
                Fault::always(route, FaultKind::Unavailable)
            } else {
                Fault::times(route, FaultKind::Unavailable, 1)
            };
            w.sim.inject(fault);
            cycle(&w).await;
            recover(&w, &faults).await;
            check_invariants(&w, 0).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_any_two_steps_is_recovered_with_at_most_one_duplicate_mail() {
    // (operation, successes before the crash): after the Nth issue, store, mail, step record…
    let crashes = [
        (Op::Issue, 0),
        (Op::Issue, 3),
        (Op::StorePut, 0),
        (Op::StorePut, 1),
        (Op::SetDocuments, 2),
        (Op::MailSend, 0),
        (Op::MailSend, 4),
        (Op::UpdateOrder, 0),
        (Op::UpdateOrder, 1),
        (Op::UpdateOrder, 2),
        (Op::UpdateOrder, 7),
    ];
    for (op, after) in crashes {
        let faults = Arc::new(Faults::default());
        let (a, outbox) = adapters(&format!("crash-{op:?}-{after}"), Some(faults.clone()));
        let w = world(a, outbox, 1, 12, 6).await;
        faults.crash_after(op, after);
        let _ = cycle(&w).await;
        assert!(faults.crashed(), "{op:?} after {after}: the crash did not happen");
        recover(&w, &faults).await;
        check_invariants(&w, 1).await;
    }
}

#[tokio::test]
async fn a_run_near_its_deadline_stops_cleanly_and_queues_the_rest() {
    let (a, outbox) = adapters("deadline", None);
    let w = world(a, outbox, 1, 10, 7).await;
    let seller = w.sellers[0].0.clone();
    // A deadline already inside the safety margin: nothing is started, the rest is queued.
    let soon = std::time::Instant::now() + Duration::from_secs(1);
    let out = marketbill_app::seller_run::run_seller(&w.services, &seller, Some(soon)).await.unwrap();
    assert!(out.continued && !out.complete, "{out:?}");
    assert_eq!(out.issued, 0);
    assert_eq!(
        w.services.ledger.watermark(&seller).await.unwrap(),
        None,
        "the watermark does not move over unhandled orders"
    );
    let queued = w.services.queue.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(
        (queued[0].message.seller_id.clone(), queued[0].message.reason),
        (seller.clone(), marketbill_app::ports::RunReason::Continuation)
    );
    w.services.queue.ack(&queued[0].receipt).await.unwrap();
    // The continuation finishes the work.
    cycle(&w).await;
    check_invariants(&w, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_orders_never_block_anyone() {
    let (a, outbox) = adapters("poison", None);
    let w = world(a, outbox, 2, 10, 8).await;
    common::poison::poison_orders_never_block_anyone(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_defect_in_one_order_is_set_aside_and_the_run_goes_on() {
    let (a, outbox) = adapters("defect", Some(Arc::new(Faults::default())));
    let w = world(a, outbox, 1, 6, 9).await;
    let (_, mid, _) = &w.sellers[0];
    let mut g = marketbill_testkit::OrderGenerator::new(99, mid);
    let mut defect = g.shipped(time::OffsetDateTime::now_utc(), 24);
    defect["orderId"] = "DEFECT0001".into();
    w.sim.put_orders(mid, [defect]);
    let outcomes = cycle(&w).await;
    let o = outcomes[0].as_ref().unwrap();
    assert!(o.complete, "{o:?}");
    assert_eq!(o.skipped.get("processingFailed"), Some(&1), "{o:?}");
    assert!(o.issued >= 6, "{o:?}");
    let problems = marketbill_app::problems::problems(w.services.ledger.as_ref(), &w.sellers[0].0).await.unwrap();
    let p = problems.iter().find(|p| p.order_id == "DEFECT0001").expect("in the problems list");
    assert_eq!(p.refusal.as_ref().map(|r| r.code()), Some("processingFailed"));
    assert!(p.refusal.as_ref().unwrap().to_string().contains("injected defect"), "{p:?}");
    // The next run does not trip on it again: it was set aside.
    let again = cycle(&w).await;
    assert!(again[0].as_ref().unwrap().complete);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_follow_the_listing_with_concurrent_delivery_over_many_pages() {
    let (a, outbox) = adapters("chronological", None);
    let mut w = world(a, outbox, 2, 60, 12).await;
    common::order::small_pages(&mut w, 7);
    common::order::numbers_follow_the_listing(&w).await;
    check_invariants(&w, 0).await;
}

#[tokio::test]
async fn a_continuation_goes_on_from_where_its_run_stopped() {
    let (a, outbox) = adapters("continuation", None);
    let mut w = world(a, outbox, 1, 30, 17).await;
    w.services.settings.runs.deadline_margin = Duration::ZERO;
    let seller = w.sellers[0].0.clone();
    // A run stopped after some orders (a deadline that passes while it works).
    let deadline = std::time::Instant::now() + Duration::from_millis(150);
    let first = marketbill_app::seller_run::run_seller(&w.services, &seller, Some(deadline)).await.unwrap();
    if !first.continued {
        // The machine was fast enough to finish: nothing to continue.
        check_invariants(&w, 0).await;
        return;
    }
    let queued = w.services.queue.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(queued.len(), 1);
    let message = queued[0].message.clone();
    w.services.queue.ack(&queued[0].receipt).await.unwrap();
    if first.issued > 0 {
        assert!(message.resume_from.is_some(), "{first:?}");
    }
    // The continuation lists from there: it does not see again what the first run handled.
    let second = marketbill_app::seller_run::run_message(&w.services, &message, None).await.unwrap();
    eprintln!(
        "first run: {} issued, {} seen; continuation: {} issued, {} seen",
        first.issued, first.seen, second.issued, second.seen
    );
    assert!(second.complete, "{second:?}");
    assert!(second.seen < 30 + 6 + 3, "{second:?}");
    assert_eq!(first.issued + second.issued, 30, "{first:?} {second:?}");
    // A cycle follows the imports to acceptance (and issues nothing new).
    cycle(&w).await;
    check_invariants(&w, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fee_invoices_are_issued_once() {
    let (a, outbox) = adapters("fees", None);
    let w = world(a, outbox, 3, 4, 31).await;
    common::fees::fee_invoices_are_issued_once(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_become_credit_notes_once() {
    let (a, outbox) = adapters("refunds", None);
    let w = world(a, outbox, 1, 12, 21).await;
    common::refunds::refunds_become_credit_notes_once(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_invoices_the_ready_sellers_and_reports_the_others() {
    let (a, outbox) = adapters("onboarding", None);
    let w = world(a, outbox, 4, 6, 41).await;
    common::onboarding::a_cycle_invoices_the_ready_sellers_and_reports_the_others(&w).await;
}

#[tokio::test]
async fn the_worker_runs_the_cycle_at_its_hours_and_the_runs_asked_for() {
    let (a, outbox) = adapters("worker", None);
    let w = world(a, outbox, 3, 4, 43).await;
    common::onboarding::the_worker_runs_the_cycle_at_its_hours_and_the_runs_asked_for(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_reach_the_platform_once_with_their_statuses() {
    let (a, outbox) = adapters("platform", None);
    let w = world(a, outbox, 1, 60, 77).await;
    common::platform::documents_reach_the_platform_once_with_their_statuses(&w).await;
}

#[tokio::test]
async fn a_rejected_invoice_is_corrected_and_issued_again() {
    let (a, outbox) = adapters("platform-rejected", None);
    let w = world(a, outbox, 1, 30, 78).await;
    common::platform::a_rejected_invoice_is_corrected_and_issued_again(&w).await;
}

#[tokio::test]
async fn each_period_gets_one_report_replaced_once() {
    let (a, outbox) = adapters("platform-periods", None);
    let w = world(a, outbox, 1, 20, 79).await;
    common::platform::each_period_gets_one_report_replaced_once(&w).await;
}
