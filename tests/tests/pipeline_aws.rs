//! The twice-daily job end to end on the AWS adapters (moto) and the marketplace simulator.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use common::{Outbox, check_invariants, cycle, world};
use marketbill_app::contract::Subject;
use marketbill_aws::provision::provision;
use marketbill_aws::{AwsClients, AwsSettings};
use marketbill_harness::moto::Moto;

const SENDER: &str = "factures@marketbill.example";

struct Ses(&'static Moto);

#[async_trait]
impl Outbox for Ses {
    async fn sent(&self) -> Vec<Vec<u8>> {
        self.0.sent_raw_mails().await.unwrap()
    }
}

async fn adapters(tag: &str) -> (Subject, Arc<dyn Outbox>) {
    let moto = Moto::shared().expect("moto");
    let clients =
        AwsClients::new(&AwsSettings { region: Some("eu-west-3".into()), endpoint_url: Some(moto.endpoint.clone()) })
            .await;
    let name = format!("mb-e2e-{tag}-{:x}", time::OffsetDateTime::now_utc().unix_timestamp_nanos() % 0xFFFF_FFFF);
    let p = provision(&clients, "eu-west-3", &name, SENDER, None).await.unwrap();
    let a = Subject {
        ledger: Arc::new(p.ledger),
        store: Arc::new(p.store),
        mailer: Arc::new(p.mailer),
        queue: Arc::new(p.queue),
        secrets: Arc::new(p.secrets),
    };
    (a, Arc::new(Ses(moto)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_sellers_with_a_hundred_orders_each_are_invoiced_once_on_aws() {
    let (a, outbox) = adapters("e2e").await;
    let w = world(a, outbox, 3, 100, 11).await;
    let outcomes = cycle(&w).await;
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    for o in &outcomes {
        let o = o.as_ref().unwrap();
        assert!(o.complete && o.failed.is_empty(), "{o:?}");
    }
    let checked = check_invariants(&w, 0).await;
    assert!(checked >= 280, "{checked}");
    for o in cycle(&w).await {
        let o = o.unwrap();
        assert_eq!((o.issued, o.mailed, o.uploaded), (0, 0, 0), "{o:?}");
    }
    // Later runs pick up newly shipped orders, and only those.
    let (_, mid, _) = &w.sellers[1];
    let waiting = w
        .sim
        .orders(mid)
        .into_iter()
        .find(|o| {
            matches!(o["status"].as_str(), Some("WaitingAcceptance" | "InPreparation" | "Accepted" | "Processing"))
        })
        .unwrap();
    let id = waiting["orderId"].as_str().unwrap().to_owned();
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    w.sim.update_order(mid, &id, |o| {
        o["status"] = "Shipped".into();
        o["updatedAt"] = now.clone().into();
        for l in o["lines"].as_array_mut().unwrap() {
            l["status"] = "Shipped".into();
        }
    });
    let later = cycle(&w).await;
    let issued: u64 = later.iter().map(|o| o.as_ref().unwrap().issued).sum();
    assert_eq!(issued, 1);
    assert_eq!(check_invariants(&w, 0).await, checked + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runs_of_the_same_seller_at_once_on_aws_keep_every_invariant() {
    let (a, outbox) = adapters("dup").await;
    let w = world(a, outbox, 1, 30, 12).await;
    let seller = w.sellers[0].0.clone();
    let (s1, s2) = (w.services.clone(), w.services.clone());
    let (i1, i2) = (seller.clone(), seller);
    let (r1, r2) = tokio::join!(
        tokio::spawn(async move { marketbill_app::seller_run::run_seller(&s1, &i1, None).await }),
        tokio::spawn(async move { marketbill_app::seller_run::run_seller(&s2, &i2, None).await })
    );
    let (r1, r2) = (r1.unwrap().unwrap(), r2.unwrap().unwrap());
    // Mails beyond one per invoice are the runs' duplicates (the cycle after them finishes
    // what a run left between steps).
    let later: u64 = cycle(&w).await.iter().map(|o| o.as_ref().unwrap().mailed).sum();
    let allowed = (r1.mailed + r2.mailed + later).saturating_sub(r1.issued + r2.issued) as usize;
    check_invariants(&w, allowed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_simultaneous_buyer_requests_make_one_correction_on_aws() {
    let (a, outbox) = adapters("fifty").await;
    let w = world(a, outbox, 1, 3, 5).await;
    common::requests::fifty_simultaneous_requests_make_one_correction(&w).await;
}

#[tokio::test]
async fn a_buyer_proves_the_order_by_the_mails_link_or_its_delivery_on_aws() {
    let (a, outbox) = adapters("buyer-proofs").await;
    let w = world(a, outbox, 1, 3, 6).await;
    common::requests::a_buyer_proves_the_order_by_the_mails_link_or_its_delivery(&w).await;
}

#[tokio::test]
async fn wrong_emails_look_like_unknown_orders_on_aws() {
    let (a, outbox) = adapters("wrong-emails").await;
    let w = world(a, outbox, 1, 2, 6).await;
    common::requests::wrong_emails_look_like_unknown_orders_and_cost_nothing(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_orders_never_block_anyone_on_aws() {
    let (a, outbox) = adapters("poison").await;
    let w = world(a, outbox, 2, 6, 8).await;
    common::poison::poison_orders_never_block_anyone(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_follow_the_listing_with_concurrent_delivery_on_aws() {
    let (a, outbox) = adapters("chronological").await;
    let mut w = world(a, outbox, 1, 40, 13).await;
    common::order::small_pages(&mut w, 9);
    common::order::numbers_follow_the_listing(&w).await;
    check_invariants(&w, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fee_invoices_are_issued_once_on_aws() {
    let (a, outbox) = adapters("fees").await;
    let w = world(a, outbox, 3, 4, 31).await;
    common::fees::fee_invoices_are_issued_once(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_become_credit_notes_once_on_aws() {
    let (a, outbox) = adapters("refunds").await;
    let w = world(a, outbox, 1, 12, 21).await;
    common::refunds::refunds_become_credit_notes_once(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_invoices_the_ready_sellers_and_reports_the_others_on_aws() {
    let (a, outbox) = adapters("onboarding").await;
    let w = world(a, outbox, 4, 6, 41).await;
    common::onboarding::a_cycle_invoices_the_ready_sellers_and_reports_the_others(&w).await;
}

#[tokio::test]
async fn repeated_requests_issue_one_document_one_mail_one_billed_invoice_on_aws() {
    let (a, outbox) = adapters("repeats").await;
    let w = world(a, outbox, 1, 3, 5).await;
    common::requests::repeated_requests_issue_once(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_reach_the_platform_once_with_their_statuses_on_aws() {
    let (a, outbox) = adapters("platform").await;
    let w = world(a, outbox, 1, 60, 77).await;
    common::platform::documents_reach_the_platform_once_with_their_statuses(&w).await;
}

#[tokio::test]
async fn a_rejected_invoice_is_corrected_and_issued_again_on_aws() {
    let (a, outbox) = adapters("platform-rejected").await;
    let w = world(a, outbox, 1, 30, 78).await;
    common::platform::a_rejected_invoice_is_corrected_and_issued_again(&w).await;
}
