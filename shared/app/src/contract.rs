//! The contract every adapter set must honour, written once and run on both: the AWS adapters
//! against moto, the embedded ones on SQLite and folders. Each function is one behaviour;
//! the adapter crates call them from their tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use marketbill_domain::calendar::YearMonth;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use marketbill_domain::{Draft, InvoiceNumber, IssueRequest, Order, OrderId, Refusal, SellerProfile, draft_invoice};
use marketbill_testkit::OrderGenerator;
use marketbill_testkit::sellers::sample_seller;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::datetime;

use crate::mail::{invoice_mail, parse_mail};
use crate::model::{
    BuyerRequestRecord, ImportRecord, InvoiceQuery, OrderStage, RunRecord, SellerId, SellerRecord, SellerStatus,
    StoredObject,
};
use crate::ports::{
    DocumentStore, ImportLedger, IssuingLedger, Ledger, LedgerError, Mailer, OrderLedger, Queue, RequestLedger,
    RequestSlot, RunLedger, RunReason, SecretBox, SellerLedger, SellerRunMessage,
};

/// The whole contract suite as tests of one adapter set, from this one list: each adapter
/// crate writes `marketbill_app::contract_suite!(open, "sender@…");` where `open(tag)` is an
/// async fn giving a fresh adapter set (a value with a `subject` field that is also the
/// [`Probe`]), and gets every test below.
#[macro_export]
macro_rules! contract_suite {
    ($open:path, $sender:expr) => {
        #[tokio::test]
        async fn sellers_are_stored_listed_unsubscribed_and_purged() {
            let a = $open("sellers").await;
            $crate::contract::sellers_are_stored_listed_unsubscribed_and_purged(&a.subject).await;
        }

        #[tokio::test]
        async fn issuing_numbers_records_and_meters_in_one_write() {
            let a = $open("issue").await;
            $crate::contract::issuing_numbers_records_and_meters_in_one_write(&a.subject).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn concurrent_issues_never_skip_or_reuse_a_number() {
            let a = $open("concurrency").await;
            $crate::contract::concurrent_issues_never_skip_or_reuse_a_number(&a.subject, 200, 8).await;
        }

        #[tokio::test]
        async fn watermarks_go_forward_and_runs_are_kept() {
            let a = $open("runs").await;
            let l = &a.subject.ledger;
            $crate::contract::watermarks_go_forward_and_runs_are_kept(l.as_ref(), l.as_ref()).await;
        }

        #[tokio::test]
        async fn imports_are_pending_until_final() {
            let a = $open("imports").await;
            $crate::contract::imports_are_pending_until_final(a.subject.ledger.as_ref()).await;
        }

        #[tokio::test]
        async fn buyer_requests_are_kept_per_order() {
            let a = $open("requests").await;
            $crate::contract::buyer_requests_are_kept_per_order(a.subject.ledger.as_ref()).await;
        }

        #[tokio::test]
        async fn order_steps_go_forward_singly_and_in_batches() {
            let a = $open("steps").await;
            let l = &a.subject.ledger;
            $crate::contract::order_steps_go_forward_singly_and_in_batches(l.as_ref(), l.as_ref()).await;
        }

        #[tokio::test]
        async fn documents_are_stored_hashed_listed_linked_and_purged() {
            let a = $open("documents").await;
            $crate::contract::documents_are_stored_hashed_listed_linked_and_purged(&a.subject, &a).await;
        }

        #[tokio::test]
        async fn a_sent_mail_carries_the_pdf_byte_for_byte() {
            let a = $open("mail").await;
            $crate::contract::a_sent_mail_carries_the_pdf_byte_for_byte(&a.subject, &a, $sender).await;
        }

        #[tokio::test]
        async fn queued_runs_are_received_and_acknowledged() {
            let a = $open("queue").await;
            $crate::contract::queued_runs_are_received_and_acknowledged(&a.subject).await;
        }

        #[tokio::test]
        async fn secrets_are_sealed_and_never_stored_in_clear() {
            let a = $open("secrets").await;
            $crate::contract::secrets_are_sealed_and_never_stored_in_clear(&a.subject, &a).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn credit_notes_take_what_is_left_once_and_never_more() {
            let a = $open("credit").await;
            $crate::contract::credit_notes_take_what_is_left_once_and_never_more(&a.subject, 8).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn an_address_belongs_to_one_account() {
            let a = $open("emails").await;
            $crate::contract::an_address_belongs_to_one_account(a.subject.ledger.as_ref()).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn transmissions_are_kept_per_tracking_id_with_the_cursor() {
            let a = $open("transmissions").await;
            $crate::contract::transmissions_are_kept_per_tracking_id_with_the_cursor(a.subject.ledger.as_ref()).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_key_is_claimed_once_and_gives_its_answer_again() {
            let a = $open("keys").await;
            $crate::contract::a_key_is_claimed_once_and_gives_its_answer_again(a.subject.ledger.clone()).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn limited_attempts_take_one_slot_and_all_count() {
            let a = $open("slots").await;
            $crate::contract::limited_attempts_take_one_slot_and_all_count(&a.subject).await;
        }
    };
}

/// The adapter set under test.
pub struct Subject {
    pub ledger: Arc<dyn Ledger>,
    pub store: Arc<dyn DocumentStore>,
    pub mailer: Arc<dyn Mailer>,
    pub queue: Arc<dyn Queue>,
    pub secrets: Arc<dyn SecretBox>,
}

/// What the tests need to look behind an adapter.
#[async_trait]
pub trait Probe: Send + Sync {
    /// The raw MIME of every mail the mailer sent.
    async fn sent_mails(&self) -> Vec<Vec<u8>>;
    /// Every byte the ledger holds, as stored.
    async fn raw_ledger(&self) -> Vec<u8>;
    /// Fetches a presigned link the way a browser would.
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, String>;
}

pub const NOW: OffsetDateTime = datetime!(2026-11-22 05:00 UTC);

/// A seller id unique to one test (the adapters are shared between tests).
pub fn unique_seller(tag: &str) -> SellerId {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{tag}-{:x}", n % 0xFFFF_FFFF_FFFF).parse().unwrap()
}

pub fn profile() -> SellerProfile {
    sample_seller(0, "10000").unwrap()
}

pub fn seller_record(id: &SellerId) -> SellerRecord {
    SellerRecord {
        seller_id: id.clone(),
        profile: profile(),
        status: SellerStatus::Active,
        registered_at: NOW - time::Duration::days(3),
        credentials: None,
        platform: None,
        first_invoices_at: None,
        handled_problems: Default::default(),
    }
}

/// An order id of the tests.
pub fn oid(id: &str) -> OrderId {
    id.parse().unwrap()
}

/// `n` shipped orders of seller "10000" and their drafts.
pub fn drafts(seed: u64, n: usize) -> Vec<(OrderId, Draft)> {
    let seller = profile();
    let mut g = OrderGenerator::new(seed, "10000");
    g.max_lines = 4;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let order = Order::from_value(g.shipped(NOW, 48)).unwrap();
        if let Ok(d) = draft_invoice(&IssueRequest { order: &order, seller: &seller, buyer_data: None, issued_at: NOW })
        {
            out.push((order.order_id.clone(), d));
        }
    }
    out
}

pub async fn sellers_are_stored_listed_unsubscribed_and_purged(s: &Subject) {
    let a = unique_seller("sa");
    let b = unique_seller("sb");
    s.ledger.put_seller(&seller_record(&a)).await.unwrap();
    s.ledger.put_seller(&seller_record(&b)).await.unwrap();
    assert_eq!(s.ledger.get_seller(&a).await.unwrap().unwrap(), seller_record(&a));
    let active = s.ledger.active_sellers().await.unwrap();
    assert!(active.contains(&a) && active.contains(&b));

    let mut gone = seller_record(&b);
    gone.status = SellerStatus::Unsubscribed { at: NOW, purge_after: NOW + time::Duration::days(31) };
    s.ledger.put_seller(&gone).await.unwrap();
    assert!(!s.ledger.active_sellers().await.unwrap().contains(&b));
    assert!(s.ledger.unsubscribed_sellers().await.unwrap().iter().any(|r| r.seller_id == b));

    let (order_id, draft) = drafts(1, 1).pop().unwrap();
    s.ledger.issue(&b, &order_id, draft, None, NOW).await.unwrap();
    let removed = s.ledger.delete_seller(&b).await.unwrap();
    assert!(removed >= 4, "profile, order, invoice, series, usage: {removed}");
    assert_eq!(s.ledger.get_seller(&b).await.unwrap(), None);
    assert_eq!(s.ledger.get_order(&b, &order_id).await.unwrap(), None);
    assert!(s.ledger.get_seller(&a).await.unwrap().is_some(), "the other seller is untouched");
    assert_eq!(s.ledger.get_seller(&unique_seller("none")).await.unwrap(), None);
}

pub async fn issuing_numbers_records_and_meters_in_one_write(s: &Subject) {
    let seller = unique_seller("iss");
    s.ledger.put_seller(&seller_record(&seller)).await.unwrap();
    let mut batch = drafts(2, 3);
    let (o1, d1) = batch.remove(0);
    let series = d1.series.clone();
    let inv = s.ledger.issue(&seller, &o1, d1.clone(), None, NOW).await.unwrap();
    assert_eq!(inv.number.as_str(), "ML2026-000001");
    assert_eq!(s.ledger.series_counter(&seller, &series).await.unwrap(), 1);
    assert_eq!(s.ledger.usage(&seller, YearMonth::in_paris(NOW)).await.unwrap(), 1);
    let order = s.ledger.get_order(&seller, &o1).await.unwrap().unwrap();
    assert_eq!((order.stage, order.number.clone()), (OrderStage::Issued, Some(inv.number.clone())));
    let rec = s.ledger.get_invoice(&seller, &inv.number).await.unwrap().unwrap();
    assert_eq!(rec.invoice, inv);
    assert_eq!(rec.order_id, o1);
    assert_eq!(s.ledger.find_order_seller(&o1).await.unwrap(), Some(seller.clone()));

    // The same order again: refused, nothing consumed.
    match s.ledger.issue(&seller, &o1, d1, None, NOW).await {
        Err(LedgerError::AlreadyIssued { number, .. }) => assert_eq!(number, "ML2026-000001"),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.ledger.series_counter(&seller, &series).await.unwrap(), 1);
    assert_eq!(s.ledger.usage(&seller, YearMonth::in_paris(NOW)).await.unwrap(), 1);

    // A skip never overwrites an invoice; a refused order is recorded with its reason.
    let refusal = Refusal::NotShipped { status: "Cancelled".into() };
    s.ledger.record_skip(&seller, &o1, &refusal, None, NOW).await.unwrap();
    assert_eq!(s.ledger.get_order(&seller, &o1).await.unwrap().unwrap().stage, OrderStage::Issued);
    s.ledger.record_skip(&seller, &oid("SKIPPED0001"), &refusal, None, NOW).await.unwrap();
    let skipped = s.ledger.get_order(&seller, &oid("SKIPPED0001")).await.unwrap().unwrap();
    assert_eq!((skipped.stage, skipped.refusal), (OrderStage::Skipped, Some(refusal.clone())));

    // Steps are recorded on the order.
    let mut step = s.ledger.get_order(&seller, &o1).await.unwrap().unwrap();
    step.stage = OrderStage::Mailed;
    step.message_id = Some("msg-1".into());
    s.ledger.update_order(&seller, &step).await.unwrap();
    assert_eq!(s.ledger.get_order(&seller, &o1).await.unwrap().unwrap().message_id.as_deref(), Some("msg-1"));
    let all_orders = s.ledger.list_orders(&seller).await.unwrap();
    assert_eq!(all_orders.len(), 2, "{all_orders:?}");
    let unfinished = s.ledger.unfinished_orders(&seller).await.unwrap();
    assert!(unfinished.iter().any(|o| o.order_id == o1));
    assert!(unfinished.iter().any(|o| o.order_id == "SKIPPED0001"), "a refusal that may change is looked at again");
    let mut never = step.clone();
    never.order_id = oid("NEVERISSUED");
    assert!(matches!(s.ledger.update_order(&seller, &never).await, Err(LedgerError::NotIssued { .. })));

    // Documents are recorded beside the frozen invoice.
    let pdf = crate::model::StoredObject { key: "sellers/x/a.pdf".into(), sha256: "ab".repeat(32), size: 10 };
    let xml = crate::model::StoredObject { key: "sellers/x/a.xml".into(), sha256: "cd".repeat(32), size: 20 };
    s.ledger.set_documents(&seller, &inv.number, &pdf, &xml).await.unwrap();
    let rec = s.ledger.get_invoice(&seller, &inv.number).await.unwrap().unwrap();
    assert_eq!((rec.pdf, rec.xml, rec.invoice), (Some(pdf.clone()), Some(xml.clone()), inv.clone()));
    let listed = s.ledger.list_invoices(&seller, &InvoiceQuery { limit: 100, ..Default::default() }).await.unwrap();
    let listed = listed.items.into_iter().find(|r| r.invoice.number == inv.number).unwrap();
    assert_eq!((listed.pdf, listed.xml), (Some(pdf.clone()), Some(xml.clone())), "the listing carries them too");
    let unknown: marketbill_domain::InvoiceNumber = "ML2026-999999".parse().unwrap();
    assert!(matches!(
        s.ledger.set_documents(&seller, &unknown, &pdf, &xml).await,
        Err(LedgerError::UnknownDocument { .. })
    ));
    assert!(s.ledger.get_invoice(&seller, &unknown).await.unwrap().is_none(), "no invoice made up for the files");

    // A correction: credit note and new invoice, atomically.
    let (o2, d2) = batch.remove(0);
    let original = s.ledger.issue(&seller, &o2, d2.clone(), None, NOW).await.unwrap();
    let credit = original.credit_note(&profile(), NOW, "données corrigées");
    let (cn, replacement) = s.ledger.issue_correction(&seller, &o2, credit, d2, NOW).await.unwrap();
    assert_eq!(cn.number.as_str(), "MLAV2026-000001");
    assert_eq!(replacement.number.as_str(), "ML2026-000003");
    assert_eq!(s.ledger.get_order(&seller, &o2).await.unwrap().unwrap().number, Some(replacement.number.clone()));
    assert_eq!(s.ledger.usage(&seller, YearMonth::in_paris(NOW)).await.unwrap(), 3);

    // Listing with filters and paging.
    let (o3, d3) = batch.remove(0);
    let inv3 = s.ledger.issue(&seller, &o3, d3, None, NOW).await.unwrap();
    let all = s.ledger.list_invoices(&seller, &InvoiceQuery { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(all.items.len(), 5);
    let first = s.ledger.list_invoices(&seller, &InvoiceQuery { limit: 2, ..Default::default() }).await.unwrap();
    assert_eq!(first.items.len(), 2);
    let rest = s
        .ledger
        .list_invoices(&seller, &InvoiceQuery { limit: 10, after: first.next.clone(), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 3);
    let numbers: BTreeSet<String> =
        first.items.iter().chain(rest.items.iter()).map(|r| r.invoice.number.to_string()).collect();
    assert_eq!(numbers.len(), 5);
    let credits = s
        .ledger
        .list_invoices(&seller, &InvoiceQuery { credit_notes: Some(true), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(credits.items.len(), 1);
    let of_order = s
        .ledger
        .list_invoices(&seller, &InvoiceQuery { order_id: Some(o2.to_string()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(of_order.items.len(), 3);
    let later = s
        .ledger
        .list_invoices(
            &seller,
            &InvoiceQuery { from: Some(time::macros::date!(2026 - 12 - 01)), limit: 10, ..Default::default() },
        )
        .await
        .unwrap();
    assert!(later.items.is_empty());
    // Another seller sees none of it.
    let other = unique_seller("other");
    assert!(
        s.ledger
            .list_invoices(&other, &InvoiceQuery { limit: 10, ..Default::default() })
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(s.ledger.get_invoice(&other, &inv.number).await.unwrap(), None);

    // The files and the order's `Stored` step in one call: both recorded.
    let mut stored = s.ledger.get_order(&seller, &o3).await.unwrap().unwrap();
    assert_eq!(stored.stage, OrderStage::Issued);
    stored.stage = OrderStage::Stored;
    s.ledger.set_documents_and_step(&seller, &pdf, &xml, &stored).await.unwrap();
    assert_eq!(s.ledger.get_order(&seller, &o3).await.unwrap().unwrap().stage, OrderStage::Stored);
    assert_eq!(s.ledger.get_invoice(&seller, &inv3.number).await.unwrap().unwrap().pdf, Some(pdf.clone()));
    // A later step already recorded stands (Superseded); the new files are recorded all the same.
    let mut mailed = stored.clone();
    mailed.stage = OrderStage::Mailed;
    s.ledger.update_order(&seller, &mailed).await.unwrap();
    let again = crate::model::StoredObject { key: "sellers/x/b.pdf".into(), sha256: "ef".repeat(32), size: 11 };
    assert!(matches!(
        s.ledger.set_documents_and_step(&seller, &again, &xml, &stored).await,
        Err(LedgerError::Superseded { .. })
    ));
    assert_eq!(s.ledger.get_order(&seller, &o3).await.unwrap().unwrap().stage, OrderStage::Mailed);
    assert_eq!(s.ledger.get_invoice(&seller, &inv3.number).await.unwrap().unwrap().pdf, Some(again.clone()));
    // No such invoice: refused, and the order is left as it was.
    let mut elsewhere = stored.clone();
    elsewhere.number = Some(unknown.clone());
    assert!(matches!(
        s.ledger.set_documents_and_step(&seller, &pdf, &xml, &elsewhere).await,
        Err(LedgerError::UnknownDocument { .. })
    ));
    assert_eq!(s.ledger.get_order(&seller, &o3).await.unwrap().unwrap().stage, OrderStage::Mailed);
    // A step that names no invoice: refused before anything is written.
    let mut unnumbered = stored.clone();
    unnumbered.number = None;
    assert!(matches!(
        s.ledger.set_documents_and_step(&seller, &again, &xml, &unnumbered).await,
        Err(LedgerError::NotIssued { .. })
    ));
}

/// 8 tasks issue invoices for the same 200 orders at once, each order tried by every task:
/// numbers are exactly 1..=200, none twice, usage 200.
/// A credit note is numbered, stored and moves its invoice's credited state in one write, only
/// from the state it was computed from: of `tasks` computed from the same state, one is issued;
/// the credit-note series has no gap; usage does not count credit notes.
pub async fn credit_notes_take_what_is_left_once_and_never_more(s: &Subject, tasks: usize) {
    use marketbill_domain::credit::{CreditItem, Credited};
    let seller = unique_seller("credit");
    s.ledger.put_seller(&seller_record(&seller)).await.unwrap();
    let (order_id, draft) = drafts(11, 1).remove(0);
    let invoice = s.ledger.issue(&seller, &order_id, draft, None, NOW).await.unwrap();
    let usage = s.ledger.usage(&seller, YearMonth::in_paris(NOW)).await.unwrap();
    assert_eq!(s.ledger.credited(&seller, &invoice.number).await.unwrap(), Credited::default());
    let first_line = invoice.body.lines[0].id;
    let one = [CreditItem::Units { line: first_line, quantity: invoice.body.lines[0].quantity }];
    let (d1, after1) = invoice.credit(&profile(), NOW, &one, "retour", &Credited::default()).unwrap();
    let cn1 =
        s.ledger.issue_credit_note(&seller, &order_id, d1.clone(), &Credited::default(), &after1, NOW).await.unwrap();
    assert_eq!(cn1.number, d1.series.number(1).unwrap());
    assert_eq!(s.ledger.credited(&seller, &invoice.number).await.unwrap(), after1);
    assert_eq!(s.ledger.get_invoice(&seller, &cn1.number).await.unwrap().unwrap().invoice, cn1);
    credit_note_steps_are_recorded_on_the_document(s, &seller, &invoice.number, &cn1.number).await;
    // A credit note computed from the state before the first: refused, nothing written.
    let stale = s.ledger.issue_credit_note(&seller, &order_id, d1.clone(), &Credited::default(), &after1, NOW).await;
    assert!(matches!(stale, Err(LedgerError::CreditConflict { .. })), "{stale:?}");
    assert_eq!(s.ledger.series_counter(&seller, &d1.series).await.unwrap(), 1, "no number was taken");
    // Many computed from the same state at once: one is issued.
    let (rest, after_rest) = invoice.credit(&profile(), NOW, &[CreditItem::Remainder], "retour", &after1).unwrap();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (ledger, seller, order_id) = (s.ledger.clone(), seller.clone(), order_id.clone());
        let (rest, before, after) = (rest.clone(), after1.clone(), after_rest.clone());
        handles.push(tokio::spawn(async move {
            ledger.issue_credit_note(&seller, &order_id, rest, &before, &after, NOW).await
        }));
    }
    let mut issued = Vec::new();
    for h in handles {
        match h.await.unwrap() {
            Ok(cn) => issued.push(cn),
            Err(LedgerError::CreditConflict { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(issued.len(), 1, "one credit note of the remainder");
    assert_eq!(issued[0].number, d1.series.number(2).unwrap(), "the next number, no gap");
    assert_eq!(s.ledger.series_counter(&seller, &d1.series).await.unwrap(), 2);
    let credited = s.ledger.credited(&seller, &invoice.number).await.unwrap();
    assert_eq!(credited.total(), invoice.body.totals.tax_inclusive, "the whole invoice, not more");
    assert_eq!(s.ledger.usage(&seller, YearMonth::in_paris(NOW)).await.unwrap(), usage, "not metered");

    // A correction (cancel and reissue) cancels a whole invoice: refused once a credit note
    // took part of it, and a credit note is refused once a correction cancelled it.
    let replacement = drafts(11, 1).remove(0).1;
    let refused = s
        .ledger
        .issue_correction(&seller, &order_id, invoice.credit_note(&profile(), NOW, "x"), replacement, NOW)
        .await;
    assert!(matches!(refused, Err(LedgerError::CreditConflict { .. })), "{refused:?}");
    let (other_order, other_draft) = drafts(12, 1).remove(0);
    let other = s.ledger.issue(&seller, &other_order, other_draft.clone(), None, NOW).await.unwrap();
    let (partial, partial_after) =
        other.credit(&profile(), NOW, &[CreditItem::Remainder], "r", &Credited::default()).unwrap();
    s.ledger
        .issue_correction(&seller, &other_order, other.credit_note(&profile(), NOW, "x"), other_draft, NOW)
        .await
        .unwrap();
    assert_eq!(s.ledger.credited(&seller, &other.number).await.unwrap(), Credited::whole(&other));
    let late =
        s.ledger.issue_credit_note(&seller, &other_order, partial, &Credited::default(), &partial_after, NOW).await;
    assert!(matches!(late, Err(LedgerError::CreditConflict { .. })), "{late:?}");
}

/// A credit note keeps its own delivery steps (an invoice's are its order's): they start empty,
/// are replaced as a whole, survive its files being recorded, and are listed with it.
async fn credit_note_steps_are_recorded_on_the_document(
    s: &Subject,
    seller: &SellerId,
    invoice: &InvoiceNumber,
    cn: &InvoiceNumber,
) {
    use crate::model::{Attach, DocumentSteps, MailOutcome};
    let read = |n: &InvoiceNumber| {
        let n = n.clone();
        async move { s.ledger.get_invoice(seller, &n).await.unwrap().unwrap() }
    };
    assert_eq!(read(invoice).await.steps, None, "an invoice's steps are its order's");
    let fresh = read(cn).await;
    assert_eq!(fresh.steps, Some(DocumentSteps::default()));
    assert!(fresh.undelivered());
    let mailed = DocumentSteps { mail: Some(MailOutcome::Sent { message_id: "m-1".into() }), attach: Attach::Pending };
    s.ledger.set_steps(seller, cn, &mailed).await.unwrap();
    let object = |ext: &str| StoredObject { key: format!("k.{ext}"), sha256: "0".repeat(64), size: 1 };
    s.ledger.set_documents(seller, cn, &object("pdf"), &object("xml")).await.unwrap();
    let stored = read(cn).await;
    assert_eq!(stored.steps.as_ref(), Some(&mailed), "the files recorded, the steps kept");
    assert!(stored.undelivered(), "still to attach");
    let done = DocumentSteps { attach: Attach::Done, ..mailed };
    s.ledger.set_steps(seller, cn, &done).await.unwrap();
    let listed = s
        .ledger
        .list_invoices(seller, &InvoiceQuery { credit_notes: Some(true), limit: 10, ..Default::default() })
        .await
        .unwrap();
    let listed = listed.items.iter().find(|r| &r.invoice.number == cn).unwrap();
    assert_eq!(listed.steps.as_ref(), Some(&done));
    assert!(!listed.undelivered());
    let unknown = s.ledger.set_steps(seller, &"AV-2026-999999".parse().unwrap(), &done).await;
    assert!(matches!(unknown, Err(LedgerError::UnknownDocument { .. })), "{unknown:?}");
}

pub async fn concurrent_issues_never_skip_or_reuse_a_number(s: &Subject, orders: usize, tasks: usize) {
    let seller = unique_seller("conc");
    s.ledger.put_seller(&seller_record(&seller)).await.unwrap();
    let batch = Arc::new(drafts(3, orders));
    let series = batch[0].1.series.clone();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let ledger = s.ledger.clone();
        let batch = batch.clone();
        let seller = seller.clone();
        handles.push(tokio::spawn(async move {
            let mut issued = Vec::new();
            // Each task walks the orders from a different starting point.
            for i in 0..batch.len() {
                let (order_id, draft) = &batch[(i + t * batch.len() / tasks) % batch.len()];
                match ledger.issue(&seller, order_id, draft.clone(), None, NOW).await {
                    Ok(inv) => issued.push((order_id.clone(), inv.number.counter().unwrap())),
                    Err(LedgerError::AlreadyIssued { .. }) => {}
                    Err(e) => panic!("task {t}: {e}"),
                }
            }
            issued
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let mut counters: Vec<u64> = all.iter().map(|(_, n)| *n).collect();
    counters.sort_unstable();
    assert_eq!(counters, (1..=orders as u64).collect::<Vec<_>>(), "numbers 1..={orders}, no gap, no duplicate");
    let distinct_orders: BTreeSet<&OrderId> = all.iter().map(|(o, _)| o).collect();
    assert_eq!(distinct_orders.len(), orders, "each order invoiced once");
    assert_eq!(s.ledger.usage(&seller, YearMonth::in_paris(NOW)).await.unwrap(), orders as u64);
    assert_eq!(s.ledger.series_counter(&seller, &series).await.unwrap(), orders as u64);
    for (order_id, _) in batch.iter() {
        let rec = s.ledger.get_order(&seller, order_id).await.unwrap().unwrap();
        assert_eq!(rec.stage, OrderStage::Issued);
    }
}

/// Of 50 simultaneous attempts at one limited subject, exactly one takes the slot; every
/// attempt counts towards the day's limit; a freed slot can be taken again within the limit;
/// the buyer e-mail hash given at issue stays on the order record, through a correction too.
pub async fn limited_attempts_take_one_slot_and_all_count(s: &Subject) {
    let seller = unique_seller("slot");
    s.ledger.put_seller(&seller_record(&seller)).await.unwrap();
    let until = NOW + time::Duration::minutes(2);
    let mut handles = Vec::new();
    for _ in 0..50 {
        let ledger = s.ledger.clone();
        let seller = seller.clone();
        handles.push(tokio::spawn(async move {
            ledger.take_slot(&seller, "request:ORDER1", "2026-11-22", 3, NOW, until).await.unwrap()
        }));
    }
    let mut got = Vec::new();
    for h in handles {
        got.push(h.await.unwrap());
    }
    let taken = got.iter().filter(|g| **g == RequestSlot::Taken).count();
    let busy = got.iter().filter(|g| **g == RequestSlot::Busy).count();
    let limited = got.iter().filter(|g| **g == RequestSlot::LimitReached).count();
    assert_eq!((taken, busy, limited), (1, 2, 47), "{got:?}");
    // Freed, the day's limit still holds (all 50 attempts counted).
    s.ledger.free_slot(&seller, "request:ORDER1", "2026-11-22").await.unwrap();
    let again = s.ledger.take_slot(&seller, "request:ORDER1", "2026-11-22", 3, NOW, until).await.unwrap();
    assert_eq!(again, RequestSlot::LimitReached);
    // Another day, another subject: free; a held slot is busy until it is freed or expires.
    let day2 = s.ledger.take_slot(&seller, "request:ORDER1", "2026-11-23", 3, NOW, until).await.unwrap();
    assert_eq!(day2, RequestSlot::Taken);
    let held = s.ledger.take_slot(&seller, "request:ORDER1", "2026-11-23", 3, NOW, until).await.unwrap();
    assert_eq!(held, RequestSlot::Busy);
    let later = s.ledger.take_slot(&seller, "request:ORDER1", "2026-11-23", 3, until, until).await.unwrap();
    assert_eq!(later, RequestSlot::Taken, "an abandoned slot frees itself when its lease ends");

    let (order_id, draft) = drafts(9, 1).pop().unwrap();
    s.ledger.issue(&seller, &order_id, draft.clone(), Some("hash-1"), NOW).await.unwrap();
    let rec = s.ledger.get_order(&seller, &order_id).await.unwrap().unwrap();
    assert_eq!(rec.buyer_email_hash.as_deref(), Some("hash-1"));
    s.ledger.record_skip(&seller, &oid("SKIPPED0002"), &Refusal::NoSuppliedLines, Some("hash-2"), NOW).await.unwrap();
    let rec = s.ledger.get_order(&seller, &oid("SKIPPED0002")).await.unwrap().unwrap();
    assert_eq!(rec.buyer_email_hash.as_deref(), Some("hash-2"));
    // A page's records in one read: known ones come back, unknown ones are absent.
    let ids = vec![order_id.clone(), oid("SKIPPED0002"), oid("NEVERSEEN01")];
    let got = s.ledger.get_orders(&seller, &ids).await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[&oid("SKIPPED0002")].refusal, Some(Refusal::NoSuppliedLines));
    assert!(got[&order_id].number.is_some());
    let original = s
        .ledger
        .get_invoice(&seller, &s.ledger.get_order(&seller, &order_id).await.unwrap().unwrap().number.unwrap())
        .await
        .unwrap()
        .unwrap();
    let credit = original.invoice.credit_note(&profile(), NOW, "test");
    s.ledger.issue_correction(&seller, &order_id, credit, draft, NOW).await.unwrap();
    let rec = s.ledger.get_order(&seller, &order_id).await.unwrap().unwrap();
    assert_eq!(rec.buyer_email_hash.as_deref(), Some("hash-1"), "a correction keeps the hash");
}

/// An address belongs to one account: claimed by the first, refused to the others, let go
/// when the account changes it or is deleted.
pub async fn an_address_belongs_to_one_account(ledger: &dyn Ledger) {
    let (a, b) = (unique_seller("ea"), unique_seller("eb"));
    let x = format!("{a}@shop.example");
    let y = format!("{a}-new@shop.example");
    let mut ra = seller_record(&a);
    ra.profile.email = x.clone();
    ledger.put_seller(&ra).await.unwrap();
    assert_eq!(ledger.seller_by_email(&x.to_uppercase()).await.unwrap(), Some(a.clone()), "without case");
    assert_eq!(ledger.claim_email(&a, &x).await, Ok(()), "its own address");
    assert!(matches!(ledger.claim_email(&b, &x).await, Err(LedgerError::EmailTaken { .. })));
    // Simultaneous claims of a free address: exactly one account gets it.
    let free = format!("{a}-race@shop.example");
    let claims = futures_util::future::join_all((0..8).map(|k| {
        let (free, id) = (free.clone(), unique_seller(&format!("r{k}")));
        async move { ledger.claim_email(&id, &free).await }
    }))
    .await;
    assert_eq!(claims.iter().filter(|c| c.is_ok()).count(), 1, "{claims:?}");
    // The operator's own writes never steal an address.
    let mut rb = seller_record(&b);
    rb.profile.email = x.clone();
    ledger.put_seller(&rb).await.unwrap();
    assert_eq!(ledger.seller_by_email(&x).await.unwrap(), Some(a.clone()));
    // A changes its address: the old one is free again.
    ledger.claim_email(&a, &y).await.unwrap();
    ra.profile.email = y.clone();
    ledger.put_seller(&ra).await.unwrap();
    assert_eq!(ledger.seller_by_email(&x).await.unwrap(), None);
    assert_eq!(ledger.seller_by_email(&y).await.unwrap(), Some(a.clone()));
    ledger.claim_email(&b, &x).await.unwrap();
    assert_eq!(ledger.seller_by_email(&x).await.unwrap(), Some(b.clone()));
    // Deleted, an account lets its address go.
    ledger.delete_seller(&a).await.unwrap();
    assert_eq!(ledger.seller_by_email(&y).await.unwrap(), None);
}

/// A flow's state replaces the earlier one of its tracking id; a seller sees only its own; the
/// platform cursor moves.
pub async fn transmissions_are_kept_per_tracking_id_with_the_cursor(ledger: &dyn Ledger) {
    use crate::model::{TransmissionRecord, TransmissionState, TransmissionSubject};
    let (a, b) = (unique_seller("txa"), unique_seller("txb"));
    assert!(ledger.transmissions(&a).await.unwrap().is_empty());
    assert_eq!(ledger.platform_cursor(&a).await.unwrap(), None);
    let at = time::macros::datetime!(2026-12-01 10:00 UTC);
    let mut t = TransmissionRecord {
        tracking_id: "ML2026-000001".into(),
        subject: TransmissionSubject::Document { number: "ML2026-000001".into() },
        flow_id: None,
        state: TransmissionState::Submitting,
        lifecycle: None,
        reason: None,
        updated_at: at,
    };
    ledger.put_transmission(&a, &t).await.unwrap();
    t.flow_id = Some("flow-1".into());
    t.state = TransmissionState::Accepted;
    t.lifecycle = Some(200);
    ledger.put_transmission(&a, &t).await.unwrap();
    let report = TransmissionRecord {
        tracking_id: "MB-732829320-20261101-20261130-1".into(),
        subject: TransmissionSubject::Report { period: "2026-11".into(), version: 1, content: "ab".repeat(32) },
        ..t.clone()
    };
    ledger.put_transmission(&a, &report).await.unwrap();
    assert_eq!(ledger.transmissions(&a).await.unwrap(), vec![report, t.clone()], "by tracking id");
    assert!(ledger.transmissions(&b).await.unwrap().is_empty(), "another seller's are not listed");
    assert_eq!(ledger.transmission(&a, "ML2026-000001").await.unwrap(), Some(t.clone()), "one, by tracking id");
    assert_eq!(ledger.transmission(&b, "ML2026-000001").await.unwrap(), None, "not another seller's");
    assert_eq!(ledger.transmission(&a, "ML2026-000002").await.unwrap(), None);
    ledger.set_platform_cursor(&a, "2026-12-01T10:00:00Z").await.unwrap();
    ledger.set_platform_cursor(&a, "2026-12-01T11:00:00Z").await.unwrap();
    assert_eq!(ledger.platform_cursor(&a).await.unwrap().as_deref(), Some("2026-12-01T11:00:00Z"));
    assert_eq!(ledger.platform_cursor(&b).await.unwrap(), None);
}

/// An idempotency key: one claim among simultaneous requests, its answer given to repeats,
/// refused to another request, free again once let go or expired.
pub async fn a_key_is_claimed_once_and_gives_its_answer_again(ledger: Arc<dyn Ledger>) {
    use crate::ports::KeyClaim;
    let seller = unique_seller("key");
    let key = "a".repeat(64);
    let until = NOW + time::Duration::minutes(2);
    let mut handles = Vec::new();
    for _ in 0..20 {
        let (ledger, seller, key) = (ledger.clone(), seller.clone(), key.clone());
        handles.push(tokio::spawn(async move { ledger.claim_key(&seller, &key, "fp-1", NOW, until).await.unwrap() }));
    }
    let mut got = Vec::new();
    for h in handles {
        got.push(h.await.unwrap());
    }
    assert_eq!(got.iter().filter(|c| **c == KeyClaim::Claimed).count(), 1, "{got:?}");
    assert!(got.iter().all(|c| matches!(c, KeyClaim::Claimed | KeyClaim::InProgress)), "{got:?}");
    assert_eq!(ledger.claim_key(&seller, &key, "fp-2", NOW, until).await.unwrap(), KeyClaim::Mismatch);
    ledger.finish_key(&seller, &key, "{\"number\":\"AV1\"}").await.unwrap();
    assert_eq!(
        ledger.claim_key(&seller, &key, "fp-1", NOW, until).await.unwrap(),
        KeyClaim::Done("{\"number\":\"AV1\"}".into())
    );
    // An answered key is not let go; after its lifetime it is new again.
    ledger.release_key(&seller, &key).await.unwrap();
    assert!(matches!(ledger.claim_key(&seller, &key, "fp-1", NOW, until).await.unwrap(), KeyClaim::Done(_)));
    let later = NOW + crate::ports::KEY_LIFETIME + time::Duration::seconds(1);
    assert_eq!(ledger.claim_key(&seller, &key, "fp-2", later, later).await.unwrap(), KeyClaim::Claimed);
    // An unanswered claim: let go, or its lease run out, the same request may claim it again.
    let other = "b".repeat(64);
    assert_eq!(ledger.claim_key(&seller, &other, "fp-1", NOW, until).await.unwrap(), KeyClaim::Claimed);
    ledger.release_key(&seller, &other).await.unwrap();
    assert_eq!(ledger.claim_key(&seller, &other, "fp-1", NOW, until).await.unwrap(), KeyClaim::Claimed);
    assert_eq!(ledger.claim_key(&seller, &other, "fp-1", until, until).await.unwrap(), KeyClaim::Claimed);
}

/// The watermark only moves forward; runs are kept newest first.
pub async fn watermarks_go_forward_and_runs_are_kept(sellers: &dyn SellerLedger, runs: &dyn RunLedger) {
    let seller = unique_seller("runs");
    sellers.put_seller(&seller_record(&seller)).await.unwrap();
    assert_eq!(runs.watermark(&seller).await.unwrap(), None);
    runs.advance_watermark(&seller, NOW).await.unwrap();
    runs.advance_watermark(&seller, NOW - time::Duration::hours(5)).await.unwrap();
    assert_eq!(runs.watermark(&seller).await.unwrap(), Some(NOW), "the watermark never goes back");
    runs.advance_watermark(&seller, NOW + time::Duration::hours(1)).await.unwrap();
    assert_eq!(runs.watermark(&seller).await.unwrap(), Some(NOW + time::Duration::hours(1)));

    let run = RunRecord {
        started_at: "2026-11-22T05:00:00Z".into(),
        orders_seen: 3,
        issued: 2,
        complete: true,
        ..Default::default()
    };
    runs.record_run(&seller, NOW, &run).await.unwrap();
    let mut later = run.clone();
    later.issued = 1;
    runs.record_run(&seller, NOW + time::Duration::hours(12), &later).await.unwrap();
    assert_eq!(runs.runs(&seller, 10).await.unwrap(), vec![later.clone(), run], "newest first");
    assert_eq!(runs.runs(&seller, 1).await.unwrap(), vec![later], "at most the limit");
}

/// An import stays pending (for the tracker) until its status is final.
pub async fn imports_are_pending_until_final(imports: &dyn ImportLedger) {
    let seller = unique_seller("imports");
    let import = ImportRecord {
        import_id: format!("imp-{seller}"),
        order_ids: vec![oid("A"), oid("B")],
        status: crate::model::ImportStatus::Running,
        polls: 0,
        created_at: NOW,
    };
    imports.put_import(&seller, &import).await.unwrap();
    let pending = imports.pending_imports().await.unwrap();
    assert!(pending.iter().any(|(sid, i)| sid == &seller && i == &import));
    let mut done = import.clone();
    done.status = crate::model::ImportStatus::Success;
    done.polls = 2;
    imports.put_import(&seller, &done).await.unwrap();
    assert!(!imports.pending_imports().await.unwrap().iter().any(|(_, i)| i.import_id == import.import_id));
}

/// Buyer requests are kept and found by their order.
pub async fn buyer_requests_are_kept_per_order(requests: &dyn RequestLedger) {
    let seller = unique_seller("requests");
    let request = BuyerRequestRecord {
        credit_note: None,
        invoice: None,
        request_id: "req-1".into(),
        order_id: oid("ORD-9"),
        billing: marketbill_testkit::buyers::company("FR40303265045").unwrap(),
        status: crate::model::RequestStatus::Pending,
        received_at: NOW,
    };
    requests.put_request(&seller, &request).await.unwrap();
    assert_eq!(requests.requests_for_order(&seller, &oid("ORD-9")).await.unwrap(), vec![request]);
    assert!(requests.requests_for_order(&seller, &oid("ORD-8")).await.unwrap().is_empty());
}

/// A step never goes back (a new upload attempt is a step forward), one at a time or in a batch; a batch names the orders another run
/// took further and records all the others, past DynamoDB's 100 items per transaction.
pub async fn order_steps_go_forward_singly_and_in_batches(issuing: &dyn IssuingLedger, orders: &dyn OrderLedger) {
    let seller = unique_seller("steps");
    let batch = drafts(7, 130);
    let mut recs = Vec::new();
    for (order_id, draft) in batch {
        issuing.issue(&seller, &order_id, draft, None, NOW).await.unwrap();
        recs.push(orders.get_order(&seller, &order_id).await.unwrap().unwrap());
    }
    // One order is already further along (another run uploaded it).
    let mut ahead = recs[101].clone();
    ahead.stage = OrderStage::Uploaded;
    orders.update_order(&seller, &ahead).await.unwrap();
    let mut back = ahead.clone();
    back.stage = OrderStage::Mailed;
    assert!(matches!(orders.update_order(&seller, &back).await, Err(LedgerError::Superseded { .. })));

    for r in &mut recs {
        r.stage = OrderStage::Mailed;
        r.message_id = Some(format!("msg-{}", r.order_id));
    }
    let superseded = orders.update_orders(&seller, &recs).await.unwrap();
    assert_eq!(superseded, vec![ahead.order_id.clone()]);
    let ids: Vec<OrderId> = recs.iter().map(|r| r.order_id.clone()).collect();
    let now = orders.get_orders(&seller, &ids).await.unwrap();
    assert_eq!(now.len(), 130);
    for r in &recs {
        let stored = &now[&r.order_id];
        if r.order_id == ahead.order_id {
            assert_eq!((stored.stage, stored.message_id.as_deref()), (OrderStage::Uploaded, None), "kept as it was");
        } else {
            assert_eq!(stored, r);
        }
    }
    // A rejected file that the seller sends again (a new upload attempt) goes forward from
    // Rejected; a late write of the earlier attempt does not.
    let mut rejected = now[&ahead.order_id].clone();
    rejected.upload_attempts = 1;
    rejected.stage = OrderStage::Rejected;
    orders.update_order(&seller, &rejected).await.unwrap();
    let mut late = rejected.clone();
    late.stage = OrderStage::Uploaded;
    assert!(matches!(orders.update_order(&seller, &late).await, Err(LedgerError::Superseded { .. })));
    let mut again = late.clone();
    again.upload_attempts = 2;
    assert!(orders.update_orders(&seller, std::slice::from_ref(&again)).await.unwrap().is_empty());
    assert_eq!(orders.get_order(&seller, &again.order_id).await.unwrap().unwrap().stage, OrderStage::Uploaded);
    // An order that was never issued fails the batch by name.
    let mut never = recs[0].clone();
    never.order_id = oid("NEVERISSUED2");
    assert!(matches!(orders.update_orders(&seller, &[never]).await, Err(LedgerError::NotIssued { .. })));
}

pub async fn documents_are_stored_hashed_listed_linked_and_purged(s: &Subject, probe: &dyn Probe) {
    let prefix = format!("sellers/{}/", unique_seller("doc"));
    let pdf = b"%PDF-1.7 test document \xE2\x82\xAC".to_vec();
    let key = format!("{prefix}invoices/2026/F2026-000001.pdf");
    let stored = s.store.put(&key, &pdf, "application/pdf").await.unwrap();
    assert_eq!(stored.sha256, hex::encode(Sha256::digest(&pdf)));
    assert_eq!(stored.size, pdf.len() as u64);
    assert_eq!(s.store.get(&key).await.unwrap(), Some(pdf.clone()));
    assert_eq!(s.store.get(&format!("{prefix}missing.pdf")).await.unwrap(), None);
    s.store.put(&format!("{prefix}invoices/2026/F2026-000001.xml"), b"<x/>", "application/xml").await.unwrap();
    // Rewriting the same key with the same bytes is harmless.
    s.store.put(&key, &pdf, "application/pdf").await.unwrap();
    let listed = s.store.list(&prefix).await.unwrap();
    assert_eq!(listed, vec![key.clone(), format!("{prefix}invoices/2026/F2026-000001.xml")]);

    let link = s.store.presign_get(&key, Duration::from_secs(300)).await.unwrap();
    let lifetime = link.expires_at - OffsetDateTime::now_utc();
    assert!(lifetime > time::Duration::minutes(4) && lifetime <= time::Duration::minutes(5), "{lifetime}");
    assert_eq!(probe.fetch(&link.url).await.unwrap(), pdf);

    assert!(s.store.put("../etc/passwd", b"x", "text/plain").await.is_err());
    assert!(s.store.put("/abs", b"x", "text/plain").await.is_err());

    assert_eq!(s.store.delete_prefix(&prefix).await.unwrap(), 2);
    assert!(s.store.list(&prefix).await.unwrap().is_empty());
}

pub async fn a_sent_mail_carries_the_pdf_byte_for_byte(s: &Subject, probe: &dyn Probe, from: &str) {
    let (_, draft) = drafts(4, 1).pop().unwrap();
    let invoice = draft.finalize("ML2026-000042".parse().unwrap());
    let pdf = marketbill_documents::render_pdf(&invoice).unwrap();
    let to = format!("{}@relay.marketplace.example", unique_seller("buyer"));
    let mail = invoice_mail(&invoice, &pdf, from, &to, NOW, None).unwrap();
    let id = s.mailer.send(&mail).await.unwrap();
    assert!(!id.is_empty());
    let sent = probe.sent_mails().await;
    let ours = sent
        .iter()
        .map(|m| parse_mail(m))
        .find(|(headers, _)| headers.iter().any(|(k, v)| k == "To" && v.contains(&to)))
        .expect("the mail was not found among the sent ones");
    let subject = ours.0.iter().find(|(k, _)| k == "Subject").map(|(_, v)| v.clone()).unwrap();
    assert!(subject.contains("ML2026-000042") && subject.contains("Maison Lumière"), "{subject}");
    let attachment = ours.1.iter().find(|p| p.content_type == "application/pdf").unwrap();
    assert_eq!(attachment.file_name.as_deref(), Some("ML2026-000042.pdf"));
    assert_eq!(attachment.bytes, pdf, "the attachment is the PDF, byte for byte");
    let text = ours.1.iter().find(|p| p.content_type == "text/plain").unwrap();
    let body = String::from_utf8(text.bytes.clone()).unwrap();
    assert!(body.contains("facture ML2026-000042") && body.contains("Maison Lumière"), "{body}");
}

pub async fn queued_runs_are_received_and_acknowledged(s: &Subject) {
    let ids: Vec<SellerId> = (0..3).map(|i| unique_seller(&format!("q{i}"))).collect();
    for id in &ids {
        s.queue
            .send(&SellerRunMessage { seller_id: id.clone(), reason: RunReason::Schedule, resume_from: None })
            .await
            .unwrap();
    }
    let mut got = Vec::new();
    for _ in 0..20 {
        if got.len() >= ids.len() {
            break;
        }
        got.extend(s.queue.receive(10, Duration::from_millis(500)).await.unwrap());
    }
    let mut received: Vec<SellerId> = got.iter().map(|r| r.message.seller_id.clone()).collect();
    received.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(received, expected);
    for r in &got {
        s.queue.ack(&r.receipt).await.unwrap();
    }
    assert!(s.queue.receive(10, Duration::from_millis(200)).await.unwrap().is_empty());
}

pub async fn secrets_are_sealed_and_never_stored_in_clear(s: &Subject, probe: &dyn Probe) {
    let secret = format!("octopia-secret-{}", unique_seller("x"));
    let sealed = s.secrets.seal(secret.as_bytes()).await.unwrap();
    assert!(!sealed.ciphertext.windows(secret.len()).any(|w| w == secret.as_bytes()));
    assert_eq!(s.secrets.open(&sealed).await.unwrap(), secret.as_bytes());
    let mut tampered = sealed.clone();
    tampered.ciphertext[0] ^= 0x55;
    assert!(s.secrets.open(&tampered).await.is_err());

    let seller = unique_seller("cred");
    let mut record = seller_record(&seller);
    record.credentials = Some(sealed);
    s.ledger.put_seller(&record).await.unwrap();
    let raw = probe.raw_ledger().await;
    assert!(!raw.is_empty());
    assert!(!raw.windows(secret.len()).any(|w| w == secret.as_bytes()), "the plaintext secret is in the ledger");
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, secret.as_bytes());
    assert!(!raw.windows(b64.len()).any(|w| w == b64.as_bytes()), "the secret is in the ledger in base64");
    let back = s.ledger.get_seller(&seller).await.unwrap().unwrap();
    assert_eq!(s.secrets.open(back.credentials.as_ref().unwrap()).await.unwrap(), secret.as_bytes());
}
