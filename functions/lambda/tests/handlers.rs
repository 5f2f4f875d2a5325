//! The Lambda handlers fed with real event JSON (EventBridge scheduled event, SQS batch), on
//! the embedded adapters and the marketplace simulator.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use marketbill_app::marketplace::MarketplaceCredentials;
use marketbill_app::model::SellerId;
use marketbill_app::services::{Services, Settings};
use marketbill_lambda::{HandlerError, import_tracker, scheduler, seller_run};
use marketbill_local::Embedded;
use marketbill_octopia::{OctopiaClient, OctopiaConfig, OctopiaMarketplace};
use marketbill_testkit::sellers::sample_seller;
use marketbill_testkit::simulator::{Fault, FaultKind, Route, Simulator, SimulatorConfig};
use marketbill_testkit::{OrderGenerator, OrderMix};

const SCHEDULED: &str = include_str!("../../../infra/events/scheduled-cycle.json");
const SQS_BATCH: &str = include_str!("../../../infra/events/seller-run-batch.json");

async fn setup(name: &str) -> (Services, Simulator, Vec<SellerId>) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("handlers").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let sim = Simulator::start(SimulatorConfig::for_sellers(9, &["40001", "40002"])).await.unwrap();
    let mut config = OctopiaConfig::new(&sim.api_base(), &sim.auth_base());
    config.base_backoff = Duration::from_millis(5);
    config.max_attempts = 3;
    let marketplace = Arc::new(OctopiaMarketplace::new(Arc::new(OctopiaClient::new(config).unwrap())));
    let services = Embedded::open(&dir).unwrap().services(
        marketplace,
        std::sync::Arc::new(marketbill_afnor::AfnorPlatform::new(marketbill_afnor::AfnorConfig::default()).unwrap()),
        Settings::default(),
    );
    let mut ids = Vec::new();
    for (k, client) in sim.clients().iter().enumerate() {
        let mut g = OrderGenerator::new(9, &client.seller_id);
        g.max_lines = 3;
        sim.put_orders(
            &client.seller_id,
            g.batch(OrderMix { shipped: 5, not_shipped: 1, abroad: 0 }, time::OffsetDateTime::now_utc()),
        );
        let id: SellerId = format!("{name}-{k}").parse().unwrap();
        let creds = MarketplaceCredentials {
            client_id: client.client_id.clone(),
            client_secret: client.client_secret.clone(),
            seller_id: client.seller_id.clone(),
        };
        services
            .account()
            .register(&id, sample_seller(0, &client.seller_id).unwrap(), Some(&creds), time::OffsetDateTime::now_utc())
            .await
            .unwrap();
        ids.push(id);
    }
    (services, sim, ids)
}

fn batch_of(records: Vec<aws_lambda_events::sqs::SqsMessage>) -> SqsEvent {
    let mut e = SqsEvent::default();
    e.records = records;
    e
}

fn sqs_batch(ids: &[SellerId]) -> SqsEvent {
    let text = SQS_BATCH.replace("SELLER_A", ids[0].as_str()).replace("SELLER_B", ids[1].as_str());
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn the_scheduled_event_queues_one_run_per_active_seller() {
    let (s, _sim, ids) = setup("sched").await;
    let event: EventBridgeEvent<serde_json::Value> = serde_json::from_str(SCHEDULED).unwrap();
    assert_eq!(event.source, "aws.scheduler");
    let out = scheduler(&s, LambdaEvent::new(serde_json::to_value(event).unwrap(), Context::default())).await.unwrap();
    assert_eq!(out["queued"], 2);
    let got = s.queue.receive(10, Duration::ZERO).await.unwrap();
    let mut queued: Vec<SellerId> = got.into_iter().map(|r| r.message.seller_id).collect();
    queued.sort();
    assert_eq!(queued, ids);
    // A hand-made invocation (`aws lambda invoke --payload '{}'`) runs a cycle too.
    let by_hand = scheduler(&s, LambdaEvent::new(serde_json::json!({}), Context::default())).await.unwrap();
    assert_eq!(by_hand["queued"], 2);
}

#[tokio::test]
async fn an_sqs_batch_runs_each_seller_and_reports_only_retryable_failures() {
    let (s, sim, ids) = setup("batch").await;
    // Seller A's run goes well (the unreadable message is dropped, not retried); then the
    // API fails for seller B's whole run: only B's message must come back.
    let response = {
        // Run A alone first (healthy), then B with the API failing.
        let batch = sqs_batch(&ids);
        let a_only = batch_of(vec![batch.records[0].clone(), batch.records[2].clone()]);
        let r = seller_run(&s, LambdaEvent::new(a_only, Context::default())).await.unwrap();
        assert!(r.batch_item_failures.is_empty(), "{:?}", r.batch_item_failures);
        sim.inject(Fault::always(Route::ListOrders, FaultKind::Unavailable));
        let b_only = batch_of(vec![batch.records[1].clone()]);
        seller_run(&s, LambdaEvent::new(b_only, Context::default())).await.unwrap()
    };
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["2e1424d4-f796-459a-8184-9c92662be6da"]);
    assert_eq!(
        s.ledger
            .usage(&ids[0], marketbill_domain::calendar::YearMonth::in_paris(time::OffsetDateTime::now_utc()))
            .await
            .unwrap(),
        5
    );
    assert_eq!(
        s.ledger
            .usage(&ids[1], marketbill_domain::calendar::YearMonth::in_paris(time::OffsetDateTime::now_utc()))
            .await
            .unwrap(),
        0
    );
    // Once the API is back, the redelivered message succeeds.
    sim.clear_faults();
    let again =
        seller_run(&s, LambdaEvent::new(batch_of(vec![sqs_batch(&ids).records[1].clone()]), Context::default()))
            .await
            .unwrap();
    assert!(again.batch_item_failures.is_empty());
    assert_eq!(
        s.ledger
            .usage(&ids[1], marketbill_domain::calendar::YearMonth::in_paris(time::OffsetDateTime::now_utc()))
            .await
            .unwrap(),
        5
    );
}

#[tokio::test]
async fn the_hourly_event_tracks_pending_imports() {
    let (s, sim, ids) = setup("track").await;
    sim.set_import_delay(Duration::from_millis(0));
    let batch = sqs_batch(&ids);
    seller_run(&s, LambdaEvent::new(batch_of(vec![batch.records[0].clone()]), Context::default())).await.unwrap();
    // The run's five invoices went in one bulk import.
    let pending = s.ledger.pending_imports().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].1.order_ids.len(), 5);
    let event: serde_json::Value = serde_json::from_str(SCHEDULED).unwrap();
    let out = import_tracker(&s, LambdaEvent::new(event, Context::default())).await.unwrap();
    assert_eq!(out["accepted"], 5, "{out}");
    assert!(s.ledger.pending_imports().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_daily_purge_task_removes_sellers_past_their_month() {
    let (mut s, _sim, ids) = setup("purge").await;
    let clock = Arc::new(marketbill_app::ports::ManualClock::new(time::OffsetDateTime::now_utc()));
    s.clock = clock.clone();
    s.account().unsubscribe(&ids[0]).await.unwrap();
    let task = serde_json::json!({"task": "purge"});
    let out = scheduler(&s, LambdaEvent::new(task.clone(), Context::default())).await.unwrap();
    assert_eq!(out["purged"], 0, "downloads stay open for a month");
    clock.advance(time::Duration::days(32));
    let out = scheduler(&s, LambdaEvent::new(task, Context::default())).await.unwrap();
    assert_eq!(out["purged"], 1);
    assert!(s.ledger.get_seller(&ids[0]).await.unwrap().is_none());
    assert!(s.ledger.get_seller(&ids[1]).await.unwrap().is_some());
}

#[test]
fn handler_errors_carry_their_retry_class() {
    let d: Diagnostic = HandlerError { retryable: true, message: "ledger unavailable".into() }.into();
    assert_eq!(d.error_type, "Retryable");
    let d: Diagnostic = HandlerError { retryable: false, message: "no credentials".into() }.into();
    assert_eq!(d.error_type, "NonRetryable");
}

#[tokio::test]
async fn the_seller_run_handler_finishes_normally_with_poison_orders_in_the_listing() {
    let (s, sim, ids) = setup("poison").await;
    let mid = &sim.clients()[0].seller_id.clone();
    let mut g = OrderGenerator::new(31, mid);
    g.max_lines = 2;
    let now = time::OffsetDateTime::now_utc();
    let mut date = g.shipped(now, 24);
    date["orderId"] = "POISONDATE".into();
    date["updatedAt"] = "9999-12-31T23:30:00Z".into();
    let mut amount = g.shipped(now, 24);
    amount["orderId"] = "POISONAMOUNT".into();
    amount["lines"][0]["sellingPrice"]["unitSalesPrice"] = serde_json::from_str("1e27").unwrap();
    amount["lines"][0]["quantity"] = 100000.into();
    let mut mail = g.shipped(now, 24);
    mail["orderId"] = "POISONMAIL".into();
    for l in mail["lines"].as_array_mut().unwrap() {
        l["shippingAddress"]["email"] = "a@x.fr\r\nBcc: evil@y.fr".into();
    }
    sim.put_orders(mid, [date, amount, mail]);
    let batch = sqs_batch(&ids);
    let r =
        seller_run(&s, LambdaEvent::new(batch_of(vec![batch.records[0].clone()]), Context::default())).await.unwrap();
    assert!(r.batch_item_failures.is_empty(), "{:?}", r.batch_item_failures);
    // The five good orders and the one with the hostile e-mail are invoiced; the others refused.
    let month = marketbill_domain::calendar::YearMonth::in_paris(now);
    assert_eq!(s.ledger.usage(&ids[0], month).await.unwrap(), 6);
    let problems = marketbill_app::problems::problems(s.ledger.as_ref(), &ids[0]).await.unwrap();
    let reason = |id: &str| problems.iter().find(|p| p.order_id == id).map(|p| p.refusal.as_ref().map(|r| r.code()));
    assert_eq!(reason("POISONDATE"), Some(Some("unreadableOrder")));
    assert_eq!(reason("POISONAMOUNT"), Some(Some("invalidLine")));
    let mail = problems.iter().find(|p| p.order_id == "POISONMAIL").unwrap();
    assert!(mail.number.is_some() && mail.mail_refused.is_some(), "{mail:?}");
}

#[tokio::test]
async fn a_batch_with_a_seller_without_credentials_invoices_the_other_and_retries_nothing() {
    let (s, _sim, ids) = setup("unready").await;
    // Seller A saved its company data but not yet its credentials.
    let mut a = s.ledger.get_seller(&ids[0]).await.unwrap().unwrap();
    a.credentials = None;
    s.ledger.put_seller(&a).await.unwrap();
    let batch = sqs_batch(&ids);
    let both = batch_of(vec![batch.records[0].clone(), batch.records[1].clone()]);
    let r = seller_run(&s, LambdaEvent::new(both, Context::default())).await.unwrap();
    assert!(r.batch_item_failures.is_empty(), "not ready is no failure to retry: {:?}", r.batch_item_failures);
    let month = marketbill_domain::calendar::YearMonth::in_paris(time::OffsetDateTime::now_utc());
    assert_eq!(s.ledger.usage(&ids[1], month).await.unwrap(), 5, "B invoiced");
    assert_eq!(s.ledger.usage(&ids[0], month).await.unwrap(), 0);
    let last = s.ledger.runs(&ids[0], 1).await.unwrap();
    assert_eq!(last[0].not_run, Some(marketbill_app::model::NotRun::NoCredentials), "A's history says why");
}
