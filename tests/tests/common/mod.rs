//! A whole Marketbill world for end-to-end tests: the simulator with seeded orders, sellers
//! registered with their marketplace credentials, the pipeline's services on a chosen adapter
//! set, helpers to run full cycles, and the invariants every test checks.
#![allow(dead_code)]

pub mod faults;
pub mod fees;
pub mod onboarding;
pub mod order;
pub mod platform;
pub mod poison;
pub mod refunds;
pub mod requests;

use marketbill_domain::calendar::YearMonth;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use marketbill_app::contract::Subject;
use marketbill_app::mail::parse_mail;
use marketbill_app::marketplace::MarketplaceCredentials;
use marketbill_app::model::{InvoiceQuery, OrderStage, SellerId};
use marketbill_app::ports::SystemClock;
use marketbill_app::seller_run::RunOutcome;
use marketbill_app::services::{Services, Settings};
use marketbill_domain::{IssueRequest, Order, draft_invoice};
use marketbill_octopia::{OctopiaClient, OctopiaConfig, OctopiaMarketplace};
use marketbill_testkit::sellers::sample_seller;
use marketbill_testkit::simulator::{Simulator, SimulatorConfig};
use marketbill_testkit::{OrderGenerator, OrderMix};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Reads back the mails the mailer sent.
#[async_trait]
pub trait Outbox: Send + Sync {
    async fn sent(&self) -> Vec<Vec<u8>>;
}

pub struct World {
    pub services: Services,
    pub sim: Simulator,
    /// (our seller id, marketplace seller id, sample profile index)
    pub sellers: Vec<(SellerId, String, usize)>,
    pub outbox: Arc<dyn Outbox>,
}

pub fn fast_marketplace(sim: &Simulator) -> Arc<OctopiaMarketplace> {
    let mut c = OctopiaConfig::new(&sim.api_base(), &sim.auth_base());
    c.request_timeout = Duration::from_secs(5);
    c.base_backoff = Duration::from_millis(5);
    c.max_backoff = Duration::from_millis(50);
    c.max_attempts = 4;
    c.max_retry_after = Duration::from_secs(1);
    Arc::new(OctopiaMarketplace::new(Arc::new(OctopiaClient::new(c).unwrap())))
}

/// Starts the simulator with `shipped` shipped orders per seller (and ineligible ones), and
/// registers the sellers. Profiles cycle through the sample sellers (FR SAS, DE OSS, FR
/// franchise…).
pub async fn world(adapters: Subject, outbox: Arc<dyn Outbox>, sellers: usize, shipped: usize, seed: u64) -> World {
    let now = OffsetDateTime::now_utc();
    let tag = now.unix_timestamp_nanos() % 1_000_000;
    let market_ids: Vec<String> = (0..sellers).map(|k| format!("{}", 30_000 + k)).collect();
    let refs: Vec<&str> = market_ids.iter().map(String::as_str).collect();
    let sim = Simulator::start(SimulatorConfig::for_sellers(seed, &refs)).await.unwrap();
    for id in &market_ids {
        let mut g = OrderGenerator::new(seed, id);
        g.max_lines = 6;
        sim.put_orders(id, g.batch(OrderMix { shipped, not_shipped: shipped / 5, abroad: shipped / 10 }, now));
    }
    let services = Services {
        ledger: adapters.ledger,
        store: adapters.store,
        mailer: adapters.mailer,
        queue: adapters.queue,
        secrets: adapters.secrets,
        marketplace: fast_marketplace(&sim),
        platform: Arc::new(platform::fast_platform()),
        clock: Arc::new(SystemClock),
        settings: Settings {
            sender: "factures@marketbill.example".into(),
            public_url: Some("https://factures.marketbill.example".into()),
            ..Settings::default()
        },
    };
    let mut registered = Vec::new();
    for (k, mid) in market_ids.iter().enumerate() {
        let seller_id: SellerId = format!("seller-{tag}-{k}").parse().unwrap();
        let client = sim.clients().iter().find(|c| &c.seller_id == mid).unwrap();
        let creds = MarketplaceCredentials {
            client_id: client.client_id.clone(),
            client_secret: client.client_secret.clone(),
            seller_id: mid.clone(),
        };
        let profile = sample_seller(k % 2, mid).unwrap();
        services.account().register(&seller_id, profile, Some(&creds), now).await.unwrap();
        registered.push((seller_id, mid.clone(), k % 2));
    }
    World { services, sim, sellers: registered, outbox }
}

/// One scheduled cycle: queue every seller, run what the queue holds until it is empty, then
/// poll imports until none is pending. Errors of single runs are returned, not raised.
pub async fn cycle(w: &World) -> Vec<Result<RunOutcome, String>> {
    // A "crashed" world fails every call: the cycle then just stops, as a dead process would.
    if marketbill_app::schedule::schedule(w.services.ledger.as_ref(), w.services.queue.as_ref()).await.is_err() {
        return Vec::new();
    }
    // The queued runs as one process runs them (the command line, `marketbill serve`).
    let outcomes: Vec<Result<RunOutcome, String>> = match marketbill_app::schedule::run_queued(&w.services).await {
        Ok(runs) => runs.into_iter().map(|(_, r)| r.map_err(|e| e.to_string())).collect(),
        Err(_) => return Vec::new(),
    };
    for _ in 0..10 {
        match w.services.ledger.pending_imports().await {
            Ok(p) if !p.is_empty() => {
                let _ = marketbill_app::import_tracker::track_imports(&w.services).await;
            }
            _ => break,
        }
    }
    outcomes
}

/// What should happen to each order of a seller, computed from the orders themselves.
pub fn expectations(w: &World, seller: usize) -> (BTreeSet<String>, BTreeMap<String, String>) {
    let (_, mid, profile) = &w.sellers[seller];
    let profile = sample_seller(*profile, mid).unwrap();
    let mut eligible = BTreeSet::new();
    let mut refused = BTreeMap::new();
    for v in w.sim.orders(mid) {
        let order = Order::from_value(v).unwrap();
        if !order.status.is_shipped() {
            continue; // never listed: the pipeline fetches shipped orders only
        }
        match draft_invoice(&IssueRequest {
            order: &order,
            seller: &profile,
            buyer_data: None,
            issued_at: OffsetDateTime::now_utc(),
        }) {
            Ok(_) => {
                eligible.insert(order.order_id.to_string());
            }
            Err(r) => {
                refused.insert(order.order_id.to_string(), r.code().to_owned());
            }
        }
    }
    (eligible, refused)
}

/// Checks every invariant of the pipeline; `max_duplicate_mails` is the number of crashes
/// injected. Returns the number of invoices checked.
pub async fn check_invariants(w: &World, max_duplicate_mails: usize) -> usize {
    let all: Vec<usize> = (0..w.sellers.len()).collect();
    check_invariants_of(w, max_duplicate_mails, &all).await
}

/// [`check_invariants`] for some of the world's sellers (by index).
pub async fn check_invariants_of(w: &World, max_duplicate_mails: usize, sellers: &[usize]) -> usize {
    let ledger = &w.services.ledger;
    // This world's recipients (a shared emulator may hold other tests' mails too).
    let recipients: BTreeSet<String> = w
        .sellers
        .iter()
        .flat_map(|(_, mid, _)| w.sim.orders(mid))
        .filter_map(|v| Order::from_value(v).ok()?.buyer_email().map(str::to_owned))
        .collect();
    // Mails by (recipient, invoice number): numbers repeat across sellers, recipients do not.
    let mut mails_per_number: BTreeMap<(String, String), usize> = BTreeMap::new();
    for raw in w.outbox.sent().await {
        let (headers, parts) = parse_mail(&raw);
        let to = headers.iter().find(|(k, _)| k == "To").map(|(_, v)| v.clone()).unwrap_or_default();
        if !recipients.contains(&to) {
            continue;
        }
        if let Some(name) = parts.iter().find_map(|p| p.file_name.clone()) {
            *mails_per_number.entry((to, name.trim_end_matches(".pdf").to_owned())).or_default() += 1;
        }
    }
    let duplicates: usize = mails_per_number.values().map(|n| n.saturating_sub(1)).sum();
    assert!(duplicates <= max_duplicate_mails, "{duplicates} duplicate mails for {max_duplicate_mails} crashes");
    let mut checked = 0;
    for &k in sellers {
        let seller = &w.sellers[k].0;
        let (eligible, refused) = expectations(w, k);
        // Every eligible order: one invoice, stored, mailed, uploaded and accepted.
        let (_, mid, _) = &w.sellers[k];
        let emails: BTreeMap<String, String> = w
            .sim
            .orders(mid)
            .into_iter()
            .filter_map(|v| {
                let o = Order::from_value(v).ok()?;
                Some((o.order_id.to_string(), o.buyer_email()?.to_owned()))
            })
            .collect();
        for order_id in &eligible {
            let rec = ledger
                .get_order(seller, &order_id.parse().unwrap())
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{order_id} has no record"));
            assert_eq!(rec.stage, OrderStage::Accepted, "{order_id}: {rec:?}");
            let number = rec.number.clone().unwrap();
            let inv = ledger.get_invoice(seller, &number).await.unwrap().unwrap();
            let pdf = inv.pdf.as_ref().unwrap_or_else(|| panic!("{number} has no PDF"));
            let xml = inv.xml.as_ref().unwrap();
            let stored_pdf = w.services.store.get(&pdf.key).await.unwrap().unwrap();
            let stored_xml = w.services.store.get(&xml.key).await.unwrap().unwrap();
            assert_eq!(hex::encode(Sha256::digest(&stored_pdf)), pdf.sha256, "{number}: PDF hash");
            assert_eq!(hex::encode(Sha256::digest(&stored_xml)), xml.sha256, "{number}: XML hash");
            let attached = w.sim.attached(order_id).unwrap_or_else(|| panic!("{order_id} not uploaded"));
            assert_eq!(attached.bytes, stored_pdf, "{order_id}: the marketplace holds another PDF");
            let to = emails.get(order_id).cloned().unwrap_or_default();
            assert!(
                mails_per_number.get(&(to, number.to_string())).copied().unwrap_or(0) >= 1,
                "{number} was not mailed"
            );
            checked += 1;
        }
        // Every refused order: recorded with its reason, no invoice.
        for (order_id, code) in &refused {
            let rec = ledger
                .get_order(seller, &order_id.parse().unwrap())
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{order_id} not recorded"));
            assert_eq!(rec.stage, OrderStage::Skipped);
            assert_eq!(rec.refusal.as_ref().map(|r| r.code()), Some(code.as_str()), "{order_id}");
        }
        // Numbers: one gapless series, usage equals invoices.
        let all = ledger.list_invoices(seller, &InvoiceQuery { limit: 1000, ..Default::default() }).await.unwrap();
        let mut counters: Vec<u64> = all
            .items
            .iter()
            .filter(|r| !r.invoice.kind.is_credit_note())
            .map(|r| r.invoice.number.counter().unwrap())
            .collect();
        counters.sort_unstable();
        assert_eq!(counters, (1..=counters.len() as u64).collect::<Vec<_>>(), "series of {seller}");
        assert_eq!(counters.len(), eligible.len(), "{seller}: one invoice per eligible order");
        let usage = ledger.usage(seller, YearMonth::in_paris(w.services.clock.now())).await.unwrap();
        assert_eq!(usage, counters.len() as u64, "{seller}: usage equals invoices issued");
    }
    checked
}
