//! The portal and buyer-request use cases (the HTTP layer maps routes onto these), on the
//! embedded adapters and the simulator.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::{Outbox, World, cycle, world};
use marketbill_app::buyer_requests::{BuyerProof, BuyerRequestOutcome, buyer_request};
use marketbill_app::contract::Subject;
use marketbill_app::mail::parse_mail;
use marketbill_app::marketplace::MarketplaceCredentials;
use marketbill_app::model::{InvoiceQuery, OrderStage};
use marketbill_app::portal::PortalError;
use marketbill_app::ports::{Clock, ManualClock};
use marketbill_domain::buyer::BuyerBillingData;
use marketbill_domain::fees::FeePlans;
use marketbill_domain::{Order, SellerProfileInput};
use marketbill_local::{ChannelQueue, FolderStore, KeyFileSecretBox, OutboxMailer, SqliteLedger};

struct Folder(Arc<OutboxMailer>);

#[async_trait]
impl Outbox for Folder {
    async fn sent(&self) -> Vec<Vec<u8>> {
        self.0.messages().unwrap()
    }
}

async fn local_world(name: &str, shipped: usize) -> (World, PathBuf) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("portal").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let outbox = Arc::new(OutboxMailer::new(&dir.join("outbox")).unwrap());
    let subject = Subject {
        ledger: Arc::new(SqliteLedger::open(&dir.join("ledger.sqlite")).unwrap()),
        store: {
            let store = Arc::new(FolderStore::new(&dir.join("documents"), b"portal-link-key").unwrap());
            store.serve_links_at("http://127.0.0.1:9/files");
            store
        },
        mailer: outbox.clone(),
        queue: Arc::new(ChannelQueue::new(Duration::from_secs(30))),
        secrets: Arc::new(KeyFileSecretBox::open(&dir.join("master.key")).unwrap()),
    };
    (world(subject, Arc::new(Folder(outbox)), 1, shipped, 21).await, dir)
}

fn company(tax: &str) -> BuyerBillingData {
    common::requests::company_with(tax)
}

fn shipped_orders(w: &World) -> Vec<Order> {
    w.sim
        .orders(&w.sellers[0].1)
        .into_iter()
        .filter_map(|v| Order::from_value(v).ok())
        .filter(|o| {
            o.status.is_shipped()
                && o.lines
                    .iter()
                    .all(|l| l.shipping_address.as_ref().and_then(|a| a.country_code.as_deref()) == Some("FR"))
        })
        .collect()
}

#[tokio::test]
async fn the_profile_is_validated_by_field_and_credentials_are_checked_and_sealed() {
    let (w, _) = local_world("profile", 2).await;
    let id = &w.sellers[0].0;
    let mut input: SellerProfileInput = serde_json::from_value(
        serde_json::to_value(&w.services.ledger.get_seller(id).await.unwrap().unwrap().profile).unwrap(),
    )
    .unwrap();
    input.siren = Some("732829321".into());
    match w.services.account().put_profile(id, &input).await {
        Err(PortalError::Invalid(fields)) => assert!(fields.contains_key("siren"), "{fields:?}"),
        other => panic!("{other:?}"),
    }
    input.siren = Some("732829320".into());
    w.services.account().put_profile(id, &input).await.unwrap();

    let client = &w.sim.clients()[0];
    let mut creds = MarketplaceCredentials {
        client_id: client.client_id.clone(),
        client_secret: "wrong".into(),
        seller_id: client.seller_id.clone(),
    };
    match w.services.account().put_credentials(id, &creds).await {
        Err(PortalError::Invalid(fields)) => assert!(fields.contains_key("clientSecret"), "{fields:?}"),
        other => panic!("{other:?}"),
    }
    creds.client_secret = client.client_secret.clone();
    w.services.account().put_credentials(id, &creds).await.unwrap();
    let mut other_seller = creds.clone();
    other_seller.seller_id = "99999".into();
    assert!(matches!(w.services.account().put_credentials(id, &other_seller).await, Err(PortalError::Invalid(_))));
}

#[tokio::test]
async fn invoices_links_exports_usage_problems_and_resend() {
    let (w, dir) = local_world("seller-views", 10).await;
    cycle(&w).await;
    let id = &w.sellers[0].0;
    let page =
        w.services.documents().list_invoices(id, &InvoiceQuery { limit: 3, ..Default::default() }).await.unwrap();
    assert_eq!(page.items.len(), 3);
    assert!(page.next.is_some());
    let number = page.items[0].invoice.number.clone();
    let links = w.services.documents().invoice(id, &number).await.unwrap();
    let pdf_url = links.pdf.unwrap().url;
    assert!(pdf_url.starts_with("http://127.0.0.1:9/files/sellers/"), "{pdf_url}");
    let pdf = fetch_link(&dir, &pdf_url).unwrap();
    assert!(pdf.starts_with(b"%PDF-1.7"));

    // Documents carry their Paris date (a UTC date is the day before after 23:00).
    let today = marketbill_domain::calendar::paris_date(w.services.clock.now());
    let (zip_link, files) =
        w.services.exports().export(id, today - time::Duration::days(1), today, None).await.unwrap();
    assert_eq!(files, 20, "10 invoices, PDF and XML");
    let zip = fetch_link(&dir, &zip_link.url).unwrap();
    let archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    assert_eq!(archive.len(), 20);
    assert!(matches!(
        w.services.exports().export(id, today, today - time::Duration::days(1), None).await,
        Err(PortalError::Invalid(_))
    ));

    let usage = w.services.metering().usage(id, &FeePlans::bundled()).await.unwrap();
    assert_eq!(usage.invoices_this_month, 10);
    assert_eq!(usage.fee.amount_excl_vat.to_string(), "1.00");

    let problems = marketbill_app::problems::problems(w.services.ledger.as_ref(), id).await.unwrap();
    assert!(!problems.is_empty() && problems.iter().all(|p| p.refusal.is_some()), "{problems:?}");

    let before = w.outbox.sent().await.len();
    marketbill_app::problems::resend(&w.services, id, &number, None).await.unwrap();
    assert_eq!(w.outbox.sent().await.len(), before + 1);
    assert!(matches!(
        marketbill_app::problems::resend(&w.services, id, &"F2026-999999".parse().unwrap(), None).await,
        Err(PortalError::NotFound)
    ));
}

/// What `marketbill serve` answers for a download link of this world's store.
fn fetch_link(dir: &std::path::Path, url: &str) -> Result<Vec<u8>, marketbill_local::LinkError> {
    let store = FolderStore::new(&dir.join("documents"), b"portal-link-key").unwrap();
    let (key, expires, sig) = FolderStore::parse_link(url).ok_or(marketbill_local::LinkError::Invalid)?;
    store.open_link(&key, expires, &sig, w_now())
}

/// The daily purge over the world's ledger and store.
async fn purge(
    s: &marketbill_app::services::Services,
) -> Result<Vec<marketbill_app::model::SellerId>, marketbill_app::services::PipelineError> {
    marketbill_app::retention::purge(s.ledger.as_ref(), s.store.as_ref(), s.clock.now()).await
}

fn w_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

#[tokio::test]
async fn a_buyer_request_before_the_invoice_is_used_when_it_is_issued() {
    let (w, _) = local_world("request-before", 3).await;
    let order = shipped_orders(&w).remove(0);
    // The order is not known to the ledger yet: the request is refused like an unknown order.
    let email = order.buyer_email().unwrap().to_owned();
    assert_eq!(
        buyer_request(
            &w.services,
            order.order_id.as_str(),
            &BuyerProof::Email(String::from(&email)),
            company("FR40303265045"),
            None
        )
        .await,
        Err(PortalError::BuyerRefused)
    );
    // Once the order is known (refused for now: seen not shipped, for example), the data waits.
    w.services
        .ledger
        .record_skip(
            &w.sellers[0].0,
            &order.order_id,
            &marketbill_domain::Refusal::NotShipped { status: "InPreparation".into() },
            Some(&marketbill_app::crypto::buyer_email_hash(&w.services.settings.buyer_email_key, &email)),
            w.services.clock.now(),
        )
        .await
        .unwrap();
    let out = buyer_request(
        &w.services,
        order.order_id.as_str(),
        &BuyerProof::Email(String::from(&email)),
        company("FR40303265045"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(out, BuyerRequestOutcome::Recorded);
    cycle(&w).await;
    let rec = w.services.ledger.get_order(&w.sellers[0].0, &order.order_id).await.unwrap().unwrap();
    let inv = w.services.ledger.get_invoice(&w.sellers[0].0, rec.number.as_ref().unwrap()).await.unwrap().unwrap();
    assert_eq!(inv.invoice.body.buyer.name, "Atelier Durand SARL");
    assert!(inv.invoice.body.business);
}

#[tokio::test]
async fn a_buyer_request_after_the_invoice_issues_a_credit_note_and_a_corrected_invoice() {
    let (w, dir) = local_world("request-after", 3).await;
    cycle(&w).await;
    let id = &w.sellers[0].0;
    let order = shipped_orders(&w).remove(0);
    let email = order.buyer_email().unwrap().to_owned();
    let original = w.services.ledger.get_order(id, &order.order_id).await.unwrap().unwrap().number.unwrap();
    let out = buyer_request(
        &w.services,
        order.order_id.as_str(),
        &BuyerProof::Email(email.to_uppercase()),
        company("FR40303265045"),
        None,
    )
    .await
    .unwrap();
    let BuyerRequestOutcome::Corrected { credit_note, invoice } = out else { panic!("{out:?}") };
    let cn = w.services.ledger.get_invoice(id, &credit_note.parse().unwrap()).await.unwrap().unwrap();
    let inv = w.services.ledger.get_invoice(id, &invoice.parse().unwrap()).await.unwrap().unwrap();
    match &cn.invoice.kind {
        marketbill_domain::DocumentKind::CreditNote { corrects } => assert_eq!(corrects.number, original),
        other => panic!("{other:?}"),
    }
    assert_eq!(inv.invoice.body.buyer.name, "Atelier Durand SARL");
    assert_eq!(inv.invoice.body.buyer.vat_number.as_ref().unwrap().as_str(), "FR40303265045");
    // Both mailed.
    let mails: Vec<String> =
        w.outbox.sent().await.iter().filter_map(|m| parse_mail(m).1.into_iter().find_map(|p| p.file_name)).collect();
    assert!(mails.contains(&format!("{credit_note}.pdf")) && mails.contains(&format!("{invoice}.pdf")), "{mails:?}");
    // The order points to the corrected invoice, uploaded again.
    cycle(&w).await;
    let rec = w.services.ledger.get_order(id, &order.order_id).await.unwrap().unwrap();
    assert_eq!(rec.number.as_ref().map(|n| n.to_string()), Some(invoice.clone()));
    assert_eq!(rec.stage, OrderStage::Accepted);
    // Both documents pass the official EN 16931 rules (UBL and Factur-X).
    let files: Vec<PathBuf> = [&cn, &inv]
        .iter()
        .flat_map(|r| [r.pdf.as_ref().unwrap().key.clone(), r.xml.as_ref().unwrap().key.clone()])
        .map(|k| dir.join("documents").join(k))
        .collect();
    let venv = marketbill_harness::moto::venv().unwrap();
    let out = std::process::Command::new(venv.join("bin/python"))
        .arg(marketbill_harness::moto::workspace_root().join("tools/einvoice/validate.py"))
        .args(&files)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[tokio::test]
async fn buyer_refusals_do_not_say_what_was_wrong_and_requests_are_rate_limited() {
    let (w, _) = local_world("refusals", 2).await;
    cycle(&w).await;
    let order = shipped_orders(&w).remove(0);
    let email = order.buyer_email().unwrap().to_owned();
    let unknown = buyer_request(
        &w.services,
        "UNKNOWN000001",
        &BuyerProof::Email(String::from(&email)),
        company("303265045"),
        None,
    )
    .await;
    let wrong_mail = buyer_request(
        &w.services,
        order.order_id.as_str(),
        &BuyerProof::Email(String::from("someone@else.example")),
        company("303265045"),
        None,
    )
    .await;
    assert_eq!(unknown, Err(PortalError::BuyerRefused));
    assert_eq!(wrong_mail, Err(PortalError::BuyerRefused));
    assert_eq!(unknown.unwrap_err().to_string(), wrong_mail.unwrap_err().to_string());
    for _ in 0..3 {
        buyer_request(
            &w.services,
            order.order_id.as_str(),
            &BuyerProof::Email(String::from(&email)),
            company("303265045"),
            None,
        )
        .await
        .unwrap();
    }
    assert_eq!(
        buyer_request(
            &w.services,
            order.order_id.as_str(),
            &BuyerProof::Email(String::from(&email)),
            company("303265045"),
            None
        )
        .await,
        Err(PortalError::RateLimited)
    );
}

#[tokio::test]
async fn after_unsubscribing_no_invoice_is_issued_and_everything_is_purged_a_month_later() {
    let (mut w, _) = local_world("unsubscribe", 3).await;
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    w.services.clock = clock.clone();
    cycle(&w).await;
    let id = w.sellers[0].0.clone();
    let purge_after = w.services.account().unsubscribe(&id).await.unwrap();
    assert!(purge_after > clock.now() + time::Duration::days(30));
    // A new shipped order gets no invoice.
    let mut g = marketbill_testkit::OrderGenerator::new(77, &w.sellers[0].1);
    w.sim.put_orders(&w.sellers[0].1, [g.shipped(clock.now(), 2)]);
    let runs = cycle(&w).await;
    assert!(runs.is_empty(), "an unsubscribed seller is not scheduled: {runs:?}");
    // Downloads stay open during the month.
    let page =
        w.services.documents().list_invoices(&id, &InvoiceQuery { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(page.items.len(), 3);
    assert!(purge(&w.services).await.unwrap().is_empty());
    clock.advance(time::Duration::days(32));
    assert_eq!(purge(&w.services).await.unwrap(), vec![id.clone()]);
    assert!(w.services.ledger.get_seller(&id).await.unwrap().is_none());
    assert!(w.services.store.list(&format!("sellers/{id}/")).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_simultaneous_buyer_requests_make_one_correction() {
    let (w, _) = local_world("fifty", 3).await;
    common::requests::fifty_simultaneous_requests_make_one_correction(&w).await;
}

#[tokio::test]
async fn a_buyer_proves_the_order_by_the_mails_link_or_its_delivery() {
    let (w, _) = local_world("buyer-proofs", 3).await;
    common::requests::a_buyer_proves_the_order_by_the_mails_link_or_its_delivery(&w).await;
}

#[tokio::test]
async fn wrong_emails_look_like_unknown_orders_and_cost_no_marketplace_call() {
    let (w, _) = local_world("wrong-emails", 2).await;
    common::requests::wrong_emails_look_like_unknown_orders_and_cost_nothing(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resends_are_limited_per_day_and_exports_are_unique_and_swept_an_hour_later() {
    let (mut w, dir) = local_world("limits", 2).await;
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    w.services.clock = clock.clone();
    cycle(&w).await;
    let id = w.sellers[0].0.clone();
    let page =
        w.services.documents().list_invoices(&id, &InvoiceQuery { limit: 1, ..Default::default() }).await.unwrap();
    let number = page.items[0].invoice.number.clone();
    for _ in 0..3 {
        marketbill_app::problems::resend(&w.services, &id, &number, None).await.unwrap();
    }
    assert_eq!(marketbill_app::problems::resend(&w.services, &id, &number, None).await, Err(PortalError::RateLimited));
    clock.advance(time::Duration::days(1));
    marketbill_app::problems::resend(&w.services, &id, &number, None).await.unwrap();

    // Twenty identical exports at once: each its own file, none fails.
    let today = marketbill_domain::calendar::paris_date(clock.now());
    let mut handles = Vec::new();
    for _ in 0..20 {
        let (services, id) = (w.services.clone(), id.clone());
        handles.push(tokio::spawn(async move {
            services.exports().export(&id, today - time::Duration::days(1), today, None).await
        }));
    }
    let mut urls = std::collections::BTreeSet::new();
    for h in handles {
        let (link, _) = h.await.unwrap().unwrap();
        assert!(fetch_link(&dir, &link.url).is_ok());
        urls.insert(link.url);
    }
    assert_eq!(urls.len(), 20);
    let exports = format!("exports/{id}/");
    // Each export: its archive and its list of documents (the parts are gone once assembled).
    let kept = w.services.store.list(&exports).await.unwrap();
    assert_eq!(kept.len(), 40, "{kept:?}");
    assert_eq!(kept.iter().filter(|k| k.ends_with(".zip")).count(), 20);
    // An hour after they started, the files go: at the next export, and at the daily purge.
    clock.advance(marketbill_app::retention::EXPORT_TTL);
    w.services.exports().export(&id, today - time::Duration::days(1), today, None).await.unwrap();
    assert_eq!(w.services.store.list(&exports).await.unwrap().len(), 2);
    clock.advance(marketbill_app::retention::EXPORT_TTL);
    purge(&w.services).await.unwrap();
    assert!(w.services.store.list(&exports).await.unwrap().is_empty());
}

#[tokio::test]
async fn credit_notes_stay_off_the_marketplace_unless_the_setting_asks() {
    let (mut w, _dir) = local_world("credit-upload", 3).await;
    common::cycle(&w).await;
    let id = w.sellers[0].0.clone();
    let page =
        w.services.documents().list_invoices(&id, &InvoiceQuery { limit: 10, ..Default::default() }).await.unwrap();
    let first = page.items[0].clone();
    let second = page.items[1].clone();
    let items = [marketbill_domain::credit::CreditItem::Remainder];
    // By default the order keeps its invoice.
    let attached_before = w.sim.attached(first.order_id.as_str()).unwrap().bytes;
    let kept =
        marketbill_app::credit_notes::credit_note(&w.services, &id, &first.invoice.number, &items, "annulation", None)
            .await
            .unwrap();
    assert_eq!(w.sim.attached(first.order_id.as_str()).unwrap().bytes, attached_before, "the invoice stays attached");
    assert!(kept.not_mailed.is_none());
    // With the setting, the credit note replaces it.
    w.services.settings.runs.upload_credit_notes = true;
    let cn =
        marketbill_app::credit_notes::credit_note(&w.services, &id, &second.invoice.number, &items, "annulation", None)
            .await
            .unwrap();
    let stored = w.services.ledger.get_invoice(&id, &cn.credit_note).await.unwrap().unwrap();
    let pdf = w.services.store.get(&stored.pdf.unwrap().key).await.unwrap().unwrap();
    assert_eq!(w.sim.attached(second.order_id.as_str()).unwrap().bytes, pdf, "the credit note is attached");
}

#[tokio::test]
async fn repeated_requests_issue_one_document_one_mail_one_billed_invoice() {
    let (w, _) = local_world("repeats", 3).await;
    common::requests::repeated_requests_issue_once(&w).await;
}

#[tokio::test]
async fn a_business_buyer_of_an_oss_seller_is_invoiced_once_it_gives_its_vat_number() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("portal").join("oss-business");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let outbox = Arc::new(OutboxMailer::new(&dir.join("outbox")).unwrap());
    let subject = Subject {
        ledger: Arc::new(SqliteLedger::open(&dir.join("ledger.sqlite")).unwrap()),
        store: Arc::new(FolderStore::new(&dir.join("documents"), b"portal-link-key").unwrap()),
        mailer: outbox.clone(),
        queue: Arc::new(ChannelQueue::new(Duration::from_secs(30))),
        secrets: Arc::new(KeyFileSecretBox::open(&dir.join("master.key")).unwrap()),
    };
    let w = world(subject, Arc::new(Folder(outbox)), 2, 3, 23).await;
    common::requests::a_business_buyer_of_an_oss_seller_is_invoiced_once_it_gives_its_vat_number(&w).await;
}

#[tokio::test]
async fn a_french_business_without_siren_is_a_problem_until_the_buyer_answers() {
    let (w, _) = local_world("siren-missing", 3).await;
    common::requests::a_french_business_without_siren_is_a_problem_until_the_buyer_answers(&w).await;
}
