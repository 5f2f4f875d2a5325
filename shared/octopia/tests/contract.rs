//! Contract tests of the client against the simulator: every endpoint, both paging styles,
//! the token cache, and behaviour under injected faults.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::time::Duration;

use marketbill_octopia::{
    Credentials, ImportStatus, OctopiaClient, OctopiaConfig, OctopiaError, OrderQuery, PageRef, Secret, UploadFile,
};
use marketbill_testkit::simulator::{Fault, FaultKind, Route, Simulator, SimulatorConfig};
use marketbill_testkit::{OrderGenerator, OrderMix};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-11-22 05:00 UTC);
const SELLER_A: &str = "20001";
const SELLER_B: &str = "20002";

struct Fixture {
    sim: Simulator,
    client: OctopiaClient,
    a: Credentials,
    b: Credentials,
}

fn creds(sim: &Simulator, seller: &str) -> Credentials {
    let c = sim.clients().iter().find(|c| c.seller_id == seller).unwrap();
    Credentials {
        client_id: c.client_id.clone(),
        client_secret: Secret::new(c.client_secret.clone()),
        seller_id: seller.into(),
    }
}

fn fast_config(sim: &Simulator) -> OctopiaConfig {
    let mut c = OctopiaConfig::new(&sim.api_base(), &sim.auth_base());
    c.request_timeout = Duration::from_millis(500);
    c.base_backoff = Duration::from_millis(5);
    c.max_backoff = Duration::from_millis(40);
    c.max_retry_after = Duration::from_secs(2);
    c.max_attempts = 6;
    c.page_size = 10;
    c
}

/// A simulator with `shipped` shipped orders (and a few others) for seller A, 5 for seller B.
async fn fixture(shipped: usize) -> Fixture {
    let sim = Simulator::start(SimulatorConfig::for_sellers(1, &[SELLER_A, SELLER_B])).await.unwrap();
    let mut g = OrderGenerator::new(11, SELLER_A);
    g.max_lines = 3;
    sim.put_orders(SELLER_A, g.batch(OrderMix { shipped, not_shipped: 4, abroad: 0 }, NOW));
    let mut g = OrderGenerator::new(12, SELLER_B);
    sim.put_orders(SELLER_B, g.batch(OrderMix { shipped: 5, not_shipped: 0, abroad: 0 }, NOW));
    let client = OctopiaClient::new(fast_config(&sim)).unwrap();
    let a = creds(&sim, SELLER_A);
    let b = creds(&sim, SELLER_B);
    Fixture { sim, client, a, b }
}

fn shipped() -> OrderQuery {
    OrderQuery { statuses: vec!["Shipped".into(), "Delivered".into()], ..OrderQuery::default() }
}

fn expected_shipped(sim: &Simulator, seller: &str) -> Vec<String> {
    let mut ids: Vec<String> = sim
        .orders(seller)
        .iter()
        .filter(|o| matches!(o["status"].as_str(), Some("Shipped" | "Delivered")))
        .map(|o| o["orderId"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

async fn listed_ids(f: &Fixture, query: &OrderQuery) -> Result<Vec<String>, OctopiaError> {
    let orders = f.client.list_orders(&f.a, query).await?;
    let mut ids: Vec<String> = orders.into_iter().map(|o| o.unwrap().order_id.to_string()).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "an order came back twice");
    Ok(ids)
}

#[tokio::test]
async fn paging_follows_link_headers_across_pages() {
    let f = fixture(35).await;
    let ids = listed_ids(&f, &shipped()).await.unwrap();
    assert_eq!(ids, expected_shipped(&f.sim, SELLER_A));
    assert_eq!(ids.len(), 35);
    assert_eq!(f.sim.requests(Route::ListOrders), 4, "35 orders in pages of 10");
}

#[tokio::test]
async fn paging_by_page_index_when_no_link_is_sent() {
    let f = fixture(35).await;
    f.sim.set_link_header(false);
    let ids = listed_ids(&f, &shipped()).await.unwrap();
    assert_eq!(ids, expected_shipped(&f.sim, SELLER_A));
    assert_eq!(f.sim.requests(Route::ListOrders), 4, "stops at the short page");
}

#[tokio::test]
async fn paging_by_page_index_stops_at_an_empty_page() {
    let f = fixture(30).await;
    f.sim.set_link_header(false);
    let ids = listed_ids(&f, &shipped()).await.unwrap();
    assert_eq!(ids.len(), 30);
    assert_eq!(f.sim.requests(Route::ListOrders), 4, "three full pages, then an empty one");
}

#[tokio::test]
async fn filters_reach_the_api_and_count_agrees() {
    let f = fixture(20).await;
    let all = f.sim.orders(SELLER_A);
    let cancelled = all.iter().filter(|o| o["status"] == "Cancelled").count();
    let q = OrderQuery { statuses: vec!["Cancelled".into()], ..OrderQuery::default() };
    assert_eq!(f.client.list_orders(&f.a, &q).await.unwrap().len(), cancelled);
    assert_eq!(f.client.count_orders(&f.a, &q).await.unwrap(), cancelled as u64);

    let since = NOW - time::Duration::hours(24);
    let recent = all
        .iter()
        .filter(|o| {
            matches!(o["status"].as_str(), Some("Shipped"))
                && OffsetDateTime::parse(
                    o["updatedAt"].as_str().unwrap(),
                    &time::format_description::well_known::Rfc3339,
                )
                .unwrap()
                    >= since
        })
        .count();
    let q = OrderQuery::shipped_since(since);
    assert_eq!(f.client.list_orders(&f.a, &q).await.unwrap().len(), recent);
    assert_eq!(f.client.count_orders(&f.a, &q).await.unwrap(), recent as u64);

    let business = all.iter().filter(|o| o["businessOrder"] == true).count();
    let q = OrderQuery { business_order: Some(true), ..OrderQuery::default() };
    assert_eq!(f.client.count_orders(&f.a, &q).await.unwrap(), business as u64);
    let q = OrderQuery { shipping_country: Some("BE".into()), ..OrderQuery::default() };
    assert_eq!(f.client.count_orders(&f.a, &q).await.unwrap(), 0);
}

#[tokio::test]
async fn one_order_by_id_and_unknown_ids_as_not_found() {
    let f = fixture(3).await;
    let id = expected_shipped(&f.sim, SELLER_A)[0].clone();
    let order = f.client.get_order(&f.a, &id).await.unwrap();
    assert_eq!(order.order_id.as_str(), id);
    match f.client.get_order(&f.a, "NOPE").await {
        Err(OctopiaError::NotFound(p)) => {
            assert_eq!(p.status, 404);
            assert!(p.title.is_some() && p.trace_id.is_some(), "{p:?}");
        }
        other => panic!("{other:?}"),
    }
    // Seller B's orders are not seller A's.
    let b_id = expected_shipped(&f.sim, SELLER_B)[0].clone();
    let r = f.client.get_order(&f.a, &b_id).await;
    assert!(matches!(r, Err(OctopiaError::NotFound(_))), "{b_id}: {r:?}");
}

#[tokio::test]
async fn a_token_without_rights_on_the_seller_id_is_forbidden() {
    let f = fixture(2).await;
    let mut wrong = f.a.clone();
    wrong.seller_id = SELLER_B.into();
    match f.client.list_orders(&wrong, &shipped()).await {
        Err(OctopiaError::Forbidden(p)) => assert_eq!(p.status, 403),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn bad_credentials_are_an_auth_error_with_the_reason() {
    let f = fixture(1).await;
    let mut bad = f.a.clone();
    bad.client_secret = Secret::new("wrong");
    match f.client.list_orders(&bad, &shipped()).await {
        Err(OctopiaError::Auth { reason, status, .. }) => {
            assert_eq!(status, Some(401));
            assert!(reason.contains("invalid_client"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(f.client.check_credentials(&f.a).await.is_ok());
}

#[tokio::test]
async fn one_token_per_client_per_run_not_one_per_call() {
    let f = fixture(25).await;
    f.client.list_orders(&f.a, &shipped()).await.unwrap();
    let id = expected_shipped(&f.sim, SELLER_A)[0].clone();
    f.client.get_order(&f.a, &id).await.unwrap();
    f.client.count_orders(&f.a, &shipped()).await.unwrap();
    f.client.list_imports(&f.a, 10, None).await.unwrap();
    // Concurrent first calls share one token request too.
    let q = shipped();
    let (r1, r2, r3) =
        tokio::join!(f.client.count_orders(&f.b, &q), f.client.count_orders(&f.b, &q), f.client.list_orders(&f.b, &q));
    r1.unwrap();
    r2.unwrap();
    r3.unwrap();
    assert_eq!(f.sim.token_requests(&f.a.client_id), 1);
    assert_eq!(f.sim.token_requests(&f.b.client_id), 1);
}

#[tokio::test]
async fn an_expired_token_is_renewed_once_and_the_call_retried() {
    let f = fixture(5).await;
    f.client.count_orders(&f.a, &shipped()).await.unwrap();
    f.sim.expire_tokens();
    assert_eq!(f.client.count_orders(&f.a, &shipped()).await.unwrap(), 5);
    assert_eq!(f.sim.token_requests(&f.a.client_id), 2);
    // The injected variant: the API answers 401 as if the token had expired.
    f.sim.inject(Fault::times(Route::GetOrder, FaultKind::ExpiredToken, 1));
    let id = expected_shipped(&f.sim, SELLER_A)[0].clone();
    f.client.get_order(&f.a, &id).await.unwrap();
    assert_eq!(f.sim.token_requests(&f.a.client_id), 3);
}

#[tokio::test]
async fn every_order_comes_back_exactly_once_under_transient_faults() {
    let kinds = [
        FaultKind::TooManyRequests { retry_after: Some(0) },
        FaultKind::TooManyRequests { retry_after: None },
        FaultKind::ServerError,
        FaultKind::Unavailable,
        FaultKind::Delay { ms: 1500 },
        FaultKind::TruncatedJson,
        FaultKind::MalformedJson,
        FaultKind::ExpiredToken,
    ];
    for kind in kinds {
        let f = fixture(35).await;
        // Two faults in a row on the first page (one for an expired token: the client renews a
        // token once per call, as the reference says), one on the token endpoint, one later.
        let first = if kind == FaultKind::ExpiredToken { 1 } else { 2 };
        f.sim.inject(Fault::times(Route::ListOrders, kind.clone(), first));
        f.sim.inject(Fault::times(Route::Token, FaultKind::Unavailable, 1));
        let ids = listed_ids(&f, &shipped()).await.unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(ids, expected_shipped(&f.sim, SELLER_A), "{kind:?}");
        f.sim.inject(Fault::times(Route::ListOrders, kind.clone(), 1));
        let again = listed_ids(&f, &shipped()).await.unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(again, ids, "{kind:?}");
    }
}

#[tokio::test]
async fn random_faults_on_every_route_lose_nothing() {
    let f = fixture(45).await;
    f.sim.inject(Fault::sometimes(Route::Any, FaultKind::Unavailable, 0.2));
    f.sim.inject(Fault::sometimes(Route::ListOrders, FaultKind::TruncatedJson, 0.1));
    let mut config = fast_config(&f.sim);
    config.max_attempts = 12;
    let client = OctopiaClient::new(config).unwrap();
    let mut ids: Vec<String> = client
        .list_orders(&f.a, &shipped())
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.unwrap().order_id.to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, expected_shipped(&f.sim, SELLER_A));
}

/// Runs a call that must fail; a hang would trip the guard instead of the assertion.
async fn bounded<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), fut).await.expect("the client hung")
}

#[tokio::test]
async fn a_permanent_fault_gives_a_typed_error_after_a_bounded_number_of_tries() {
    let f = fixture(5).await;
    f.sim.inject(Fault::always(Route::ListOrders, FaultKind::Unavailable));
    match bounded(f.client.list_orders(&f.a, &shipped())).await {
        Err(e @ OctopiaError::Unavailable { status: 503, attempts: 6, .. }) => {
            assert!(e.is_retryable());
            assert!(e.problem().and_then(|p| p.trace_id.as_ref()).is_some());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(f.sim.requests(Route::ListOrders), 6);

    f.sim.clear_faults();
    f.sim.inject(Fault::always(Route::CountOrders, FaultKind::Delay { ms: 3000 }));
    assert!(matches!(
        bounded(f.client.count_orders(&f.a, &shipped())).await,
        Err(OctopiaError::Timeout { attempts: 6, .. })
    ));

    f.sim.clear_faults();
    f.sim.inject(Fault::always(Route::GetImport, FaultKind::TooManyRequests { retry_after: Some(3600) }));
    let before = f.sim.requests(Route::GetImport);
    assert!(matches!(
        bounded(f.client.get_import(&f.a, "imp-1")).await,
        Err(OctopiaError::Throttled { attempts: 1, .. })
    ));
    assert_eq!(f.sim.requests(Route::GetImport), before + 1, "a Retry-After longer than allowed is not waited for");

    f.sim.clear_faults();
    f.sim.inject(Fault::always(Route::GetOrder, FaultKind::MalformedJson));
    let id = expected_shipped(&f.sim, SELLER_A)[0].clone();
    assert!(matches!(
        bounded(f.client.get_order(&f.a, &id)).await,
        Err(OctopiaError::InvalidResponse { attempts: 6, .. })
    ));
}

#[tokio::test]
async fn a_malformed_order_does_not_lose_the_rest_of_its_page() {
    let f = fixture(12).await;
    let mut bad = f.sim.orders(SELLER_A).into_iter().find(|o| o["status"] == "Shipped").unwrap();
    let bad_id = "2611220000BAD0".to_owned();
    bad["orderId"] = bad_id.clone().into();
    bad["lines"][0]["quantity"] = "lots".into();
    f.sim.put_orders(SELLER_A, [bad]);
    let orders = f.client.list_orders(&f.a, &shipped()).await.unwrap();
    let (ok, failed): (Vec<_>, Vec<_>) = orders.into_iter().partition(Result::is_ok);
    assert_eq!(ok.len(), expected_shipped(&f.sim, SELLER_A).len() - 1);
    assert_eq!(failed.len(), 1);
    let err = failed.into_iter().next().unwrap().unwrap_err();
    assert_eq!(err.order, bad_id);
    assert_eq!(err.field, "lines[0].quantity");
}

#[tokio::test]
async fn a_next_link_to_another_host_is_refused_without_sending_the_token() {
    let f = fixture(1).await;
    let foreign = url::Url::parse("http://127.0.0.2:9/seller/v2/orders?pageIndex=2").unwrap();
    let err = f.client.orders_page(&f.a, &shipped(), PageRef::Link(&foreign)).await.unwrap_err();
    assert!(matches!(err, OctopiaError::InvalidResponse { .. }), "{err:?}");
    assert_eq!(f.sim.token_requests(&f.a.client_id), 0);
}

fn pdf(id: &str) -> UploadFile {
    UploadFile { file_name: format!("{id}.pdf"), bytes: format!("%PDF-1.7 invoice of {id}").into_bytes() }
}

#[tokio::test]
async fn an_uploaded_invoice_is_attached_and_its_import_ends_in_success() {
    let f = fixture(3).await;
    f.sim.set_import_delay(Duration::from_millis(200));
    let id = expected_shipped(&f.sim, SELLER_A)[0].clone();
    let report = f.client.upload_invoice(&f.a, &id, &pdf(&id)).await.unwrap();
    assert_eq!(report.status, ImportStatus::Running);
    assert_eq!(f.sim.attached(&id).unwrap().bytes, pdf(&id).bytes);
    // Poll until final, with a bound on the number of polls.
    let mut last = report.clone();
    for _ in 0..200 {
        last = f.client.get_import(&f.a, &report.import_id).await.unwrap();
        if last.status.is_final() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(last.status, ImportStatus::Success);
    assert_eq!(last.files[0].order_id.as_deref(), Some(id.as_str()));
    // A new upload replaces the attached document.
    let second = UploadFile { file_name: format!("{id}.pdf"), bytes: b"%PDF-1.7 corrected".to_vec() };
    f.client.upload_invoice(&f.a, &id, &second).await.unwrap();
    assert_eq!(f.sim.attached(&id).unwrap().bytes, second.bytes);
}

#[tokio::test]
async fn upload_rules_give_each_file_its_error() {
    let f = fixture(3).await;
    let shipped_id = expected_shipped(&f.sim, SELLER_A)[0].clone();
    let waiting = f
        .sim
        .orders(SELLER_A)
        .into_iter()
        .find(|o| !matches!(o["status"].as_str(), Some("Shipped" | "Delivered")))
        .unwrap();
    let waiting_id = waiting["orderId"].as_str().unwrap().to_owned();
    let files = vec![
        pdf(&shipped_id),
        pdf("UNKNOWN0001"),
        UploadFile { file_name: format!("{shipped_id}.docx"), bytes: b"PK..".to_vec() },
        UploadFile { file_name: format!("{shipped_id}.xml"), bytes: Vec::new() },
        pdf(&waiting_id),
    ];
    let report = f.client.upload_bulk(&f.a, &files).await.unwrap();
    let report = f.client.get_import(&f.a, &report.import_id).await.unwrap();
    assert_eq!(report.status, ImportStatus::PartialSuccess);
    let codes: Vec<(String, String)> = report
        .files
        .iter()
        .map(|file| (file.file_name.clone(), file.errors.first().map(|e| e.code.clone()).unwrap_or_default()))
        .collect();
    assert_eq!(codes[0], (format!("{shipped_id}.pdf"), String::new()));
    assert_eq!(codes[1].1, "OrderNotFound");
    assert_eq!(codes[2].1, "InvalidFormat");
    assert_eq!(codes[3].1, "InvalidFormat");
    assert_eq!(codes[4].1, "InvalidOrderState");

    let none = f.client.upload_bulk(&f.a, &[pdf("UNKNOWN0002")]).await.unwrap();
    assert_eq!(f.client.get_import(&f.a, &none.import_id).await.unwrap().status, ImportStatus::Failure);
}

#[tokio::test]
async fn an_import_takes_at_most_a_hundred_files() {
    let f = fixture(3).await;
    let id = expected_shipped(&f.sim, SELLER_A)[0].clone();
    let too_many: Vec<UploadFile> = (0..101).map(|_| pdf(&id)).collect();
    let err = f.client.upload_bulk(&f.a, &too_many).await.unwrap_err();
    match err {
        OctopiaError::Rejected(p) => assert!(p.to_string().contains("at most 100 files"), "{p}"),
        other => panic!("{other}"),
    }
    let hundred: Vec<UploadFile> = (0..100).map(|_| pdf(&id)).collect();
    let report = f.client.upload_bulk(&f.a, &hundred).await.unwrap();
    assert_eq!(f.client.get_import(&f.a, &report.import_id).await.unwrap().files.len(), 100);
}

#[tokio::test]
async fn a_zip_of_documents_is_one_import() {
    let f = fixture(3).await;
    let ids = expected_shipped(&f.sim, SELLER_A);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for id in &ids {
        zip.start_file(format!("{id}.pdf"), zip::write::SimpleFileOptions::default()).unwrap();
        std::io::Write::write_all(&mut zip, &pdf(id).bytes).unwrap();
    }
    let bytes = zip.finish().unwrap().into_inner();
    let report = f.client.upload_bulk(&f.a, &[UploadFile { file_name: "invoices.zip".into(), bytes }]).await.unwrap();
    let report = f.client.get_import(&f.a, &report.import_id).await.unwrap();
    assert_eq!(report.status, ImportStatus::Success);
    assert_eq!(report.files.len(), ids.len());
    for id in &ids {
        assert!(f.sim.attached(id).is_some());
    }
}

#[tokio::test]
async fn import_reports_are_listed_page_by_page_and_per_seller() {
    let f = fixture(5).await;
    let ids = expected_shipped(&f.sim, SELLER_A);
    for id in &ids {
        f.client.upload_invoice(&f.a, id, &pdf(id)).await.unwrap();
    }
    let b_id = expected_shipped(&f.sim, SELLER_B)[0].clone();
    f.client.upload_invoice(&f.b, &b_id, &pdf(&b_id)).await.unwrap();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let page = f.client.list_imports(&f.a, 2, cursor.as_deref()).await.unwrap();
        seen.extend(page.items.into_iter().map(|r| r.import_id));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), ids.len(), "only seller A's imports, across pages");
    // Seller B cannot read seller A's import.
    assert!(matches!(f.client.get_import(&f.b, &seen[0]).await, Err(OctopiaError::NotFound(_))));
}

#[tokio::test]
async fn admin_routes_drive_the_simulator_over_http() {
    let f = fixture(0).await;
    let http = reqwest::Client::new();
    let base = f.sim.auth_base();
    let order: Value = OrderGenerator::new(5, SELLER_A).shipped(NOW, 12);
    let id = order["orderId"].as_str().unwrap().to_owned();
    let r = http
        .post(format!("{base}/_admin/orders"))
        .json(&json!({"sellerId": SELLER_A, "orders": [order]}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let r = http
        .post(format!("{base}/_admin/faults"))
        .json(&json!({"route": "getOrder", "kind": {"type": "unavailable"}, "times": 1}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert_eq!(f.client.get_order(&f.a, &id).await.unwrap().order_id.as_str(), id);
    let stats: Value = http.get(format!("{base}/_admin/stats")).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["requests"]["getOrder"], 2, "{stats}");
}

#[tokio::test]
async fn checking_credentials_never_trusts_the_token_cache() {
    let f = fixture(1).await;
    f.client.count_orders(&f.a, &shipped()).await.unwrap();
    let mut wrong = f.a.clone();
    wrong.client_secret = Secret::new("not-the-secret");
    assert!(matches!(f.client.check_credentials(&wrong).await, Err(OctopiaError::Auth { .. })));
    assert!(f.client.check_credentials(&f.a).await.is_ok());
}
