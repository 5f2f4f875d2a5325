//! The use cases on in-memory fakes (`fakes`): what a seller run, a credit note, the usage
//! page, the fee billing and « Lancer maintenant » do, each in milliseconds — beside the
//! contract suite (each adapter against the ports) and the end-to-end suites (the simulator,
//! moto, the browser).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod fakes;

use std::sync::atomic::Ordering;

use marketbill_app::model::{InvoiceQuery, MailOutcome, OrderStage};
use marketbill_app::portal::{Conflict, PortalError};
use marketbill_app::schedule::{RunNow, run_now};
use marketbill_app::seller_run::run_seller;
use marketbill_domain::calendar::YearMonth;
use marketbill_domain::credit::CreditItem;
use time::macros::datetime;

use fakes::fixture;

const NOW: time::OffsetDateTime = datetime!(2026-11-20 09:00 UTC);

#[tokio::test]
async fn a_run_issues_mails_and_attaches_each_shipped_order_once() {
    let f = fixture(12, NOW).await;
    let first = run_seller(&f.services, &f.seller, None).await.unwrap();
    assert!(first.issued >= 10, "{first:?}");
    assert_eq!(first.mailed, first.issued);
    let invoiced = f
        .services
        .ledger
        .list_invoices(&f.seller, &InvoiceQuery { limit: 100, ..Default::default() })
        .await
        .unwrap()
        .items;
    assert_eq!(invoiced.len() as u64, first.issued);
    for rec in &invoiced {
        assert!(rec.pdf.is_some() && rec.xml.is_some(), "{} stored", rec.invoice.number);
        assert_eq!(f.market.attached_to(&rec.order_id), 1, "{} attached once", rec.order_id);
        let order = f.services.ledger.get_order(&f.seller, &rec.order_id).await.unwrap().unwrap();
        assert_eq!(order.stage, OrderStage::Uploaded);
    }
    let mails = f.mailer.sent.lock().unwrap().len();

    let again = run_seller(&f.services, &f.seller, None).await.unwrap();
    assert_eq!((again.issued, again.mailed), (0, 0), "{again:?}");
    assert_eq!(f.mailer.sent.lock().unwrap().len(), mails, "nothing mailed twice");
}

#[tokio::test]
async fn a_credit_note_left_before_its_mail_is_mailed_by_a_later_run_once() {
    let f = fixture(4, NOW).await;
    run_seller(&f.services, &f.seller, None).await.unwrap();
    let query = InvoiceQuery { limit: 10, ..Default::default() };
    let invoice = f.services.ledger.list_invoices(&f.seller, &query).await.unwrap().items.remove(0);
    let buyer = f.market.buyer_of(&invoice.order_id);
    let before = f.mailer.to(&buyer);

    // The mailer cannot take mail: the credit note is issued and stored, its mail left.
    f.mailer.down.store(true, Ordering::Relaxed);
    let issued = marketbill_app::credit_notes::credit_note(
        &f.services,
        &f.seller,
        &invoice.invoice.number,
        &[CreditItem::Remainder],
        "retour",
        None,
    )
    .await
    .unwrap();
    assert!(issued.not_mailed.is_some());
    let cn = f.services.ledger.get_invoice(&f.seller, &issued.credit_note).await.unwrap().unwrap();
    assert!(cn.pdf.is_some(), "stored");
    assert_eq!(cn.steps.as_ref().and_then(|s| s.mail.as_ref()), None, "not mailed");
    f.mailer.down.store(false, Ordering::Relaxed);

    // A run right after leaves it to the request that may still be delivering it.
    run_seller(&f.services, &f.seller, None).await.unwrap();
    assert_eq!(f.mailer.to(&buyer), before);
    // Later, the run finishes it: one mail, recorded.
    f.clock.advance(time::Duration::minutes(11));
    run_seller(&f.services, &f.seller, None).await.unwrap();
    assert_eq!(f.mailer.to(&buyer), before + 1, "mailed by the run");
    let cn = f.services.ledger.get_invoice(&f.seller, &issued.credit_note).await.unwrap().unwrap();
    assert!(matches!(cn.steps.as_ref().and_then(|s| s.mail.as_ref()), Some(MailOutcome::Sent { .. })));
    assert!(!cn.undelivered());
    f.clock.advance(time::Duration::hours(12));
    run_seller(&f.services, &f.seller, None).await.unwrap();
    assert_eq!(f.mailer.to(&buyer), before + 1, "once");
    // Not attached: by default the order keeps its invoice.
    assert_eq!(f.market.attached_to(&invoice.order_id), 1);
}

#[tokio::test]
async fn the_usage_page_reads_paris_months_at_the_turn_of_a_month() {
    // 23:00 in Paris on 31 March: still March.
    let f = fixture(5, datetime!(2026-03-31 21:00 UTC)).await;
    let run = run_seller(&f.services, &f.seller, None).await.unwrap();
    let plans = marketbill_domain::FeePlans::bundled();
    let march = f.services.metering().usage(&f.seller, &plans).await.unwrap();
    assert_eq!((march.month.as_str(), march.invoices_this_month), ("2026-03", run.issued));
    // 00:30 in Paris on 1 April (22:30 UTC on the 31st): April, and March is the month before.
    f.clock.advance(time::Duration::minutes(90));
    let april = f.services.metering().usage(&f.seller, &plans).await.unwrap();
    assert_eq!((april.month.as_str(), april.invoices_this_month), ("2026-04", 0));
    assert_eq!((april.previous_month.as_str(), april.invoices_previous_month), ("2026-03", run.issued));
    let history = f.services.metering().usage_history(&f.seller, &plans, 12).await.unwrap();
    let months: Vec<(&str, u64)> = history.iter().map(|m| (m.month.as_str(), m.invoices)).collect();
    assert_eq!(months, [("2026-04", 0), ("2026-03", run.issued)], "back to the month of registration");
}

#[tokio::test]
async fn a_month_of_fees_is_invoiced_once_and_mailed_once() {
    let f = fixture(3, NOW).await;
    let run = run_seller(&f.services, &f.seller, None).await.unwrap();
    assert!(run.issued > 0);
    let operator = marketbill_domain::fee_invoice::bundled_operator().unwrap();
    let plans = marketbill_domain::FeePlans::bundled();
    let email = f.services.ledger.get_seller(&f.seller).await.unwrap().unwrap().profile.email;
    let told = f.mailer.to(&email); // its first invoices are out
    f.clock.advance(time::Duration::days(11)); // 1 December
    let november = YearMonth::in_paris(NOW);
    let first = marketbill_app::fee_billing::bill_month(&f.services, &operator, &plans, november).await.unwrap();
    assert_eq!((first.month.as_str(), first.issued.len()), ("2026-11", 1), "{first:?}");
    assert_eq!(f.mailer.to(&email), told + 1);
    let again = marketbill_app::fee_billing::bill_month(&f.services, &operator, &plans, november).await.unwrap();
    assert_eq!((again.issued.len(), again.already_issued), (0, 1));
    assert_eq!(f.mailer.to(&email), told + 1, "mailed once");
    let mine =
        marketbill_app::fee_billing::fee_invoices(f.services.ledger.as_ref(), f.services.clock.as_ref(), &f.seller, 2)
            .await
            .unwrap();
    assert_eq!(mine.len(), 1);
    let fee = plans.monthly_fee(marketbill_domain::PlanKind::PerInvoice, run.issued, 0);
    assert_eq!(mine[0].invoice.body.totals.tax_exclusive, fee.amount_excl_vat);
    // Nothing used in October: nothing to invoice.
    let october = november.previous();
    let none = marketbill_app::fee_billing::bill_month(&f.services, &operator, &plans, october).await.unwrap();
    assert_eq!((none.issued.len(), none.nothing_to_bill), (0, 1));
}

/// « Lancer maintenant » for a seller, on the fixture's ports.
async fn ask_run(f: &fakes::Fixture, id: &marketbill_app::model::SellerId) -> Result<RunNow, PortalError> {
    run_now(f.services.ledger.as_ref(), f.services.queue.as_ref(), f.services.clock.as_ref(), id).await
}

#[tokio::test]
async fn runs_asked_for_are_queued_a_few_an_hour() {
    let f = fixture(1, NOW).await;
    assert_eq!(ask_run(&f, &f.seller).await.unwrap(), RunNow::Queued);
    // Within the minute: the run is already queued (the ask counts all the same).
    assert_eq!(ask_run(&f, &f.seller).await.unwrap(), RunNow::AlreadyQueued);
    f.clock.advance(time::Duration::minutes(2));
    assert_eq!(ask_run(&f, &f.seller).await.unwrap(), RunNow::Queued);
    f.clock.advance(time::Duration::minutes(2));
    assert!(matches!(ask_run(&f, &f.seller).await, Err(PortalError::RateLimited)));
    // The next hour, again.
    f.clock.advance(time::Duration::hours(1));
    assert_eq!(ask_run(&f, &f.seller).await.unwrap(), RunNow::Queued);
    let unknown = ask_run(&f, &"nobody".parse().unwrap()).await;
    assert!(matches!(unknown, Err(PortalError::NotFound)), "{unknown:?}");
    // A seller without credentials yet has nothing to run.
    let bare: marketbill_app::model::SellerId = "bare-seller".parse().unwrap();
    let profile = marketbill_testkit::sellers::sample_seller(0, "30002").unwrap();
    f.services.account().register(&bare, profile, None, NOW).await.unwrap();
    let refused = ask_run(&f, &bare).await;
    assert!(matches!(refused, Err(PortalError::Conflict(Conflict::NoCredentials))), "{refused:?}");
}

#[tokio::test]
async fn a_buyer_from_the_mail_link_gets_the_invoice_in_its_company_name_once() {
    use marketbill_app::buyer_requests::{BuyerProof, BuyerRequestOutcome, buyer_request};
    let f = fixture(3, NOW).await;
    run_seller(&f.services, &f.seller, None).await.unwrap();
    let query = InvoiceQuery { limit: 10, ..Default::default() };
    let invoice = f.services.ledger.list_invoices(&f.seller, &query).await.unwrap().items.remove(0);
    let order = invoice.order_id.to_string();
    let buyer = f.market.buyer_of(&invoice.order_id);
    let mails = f.mailer.to(&buyer);
    let company = || marketbill_testkit::buyers::company("FR40303265045").unwrap();

    // A link that is not the mail's: refused, saying nothing about the order.
    let forged = BuyerProof::Link("0".repeat(32));
    let refused = buyer_request(&f.services, &order, &forged, company(), None).await;
    assert!(matches!(refused, Err(PortalError::BuyerRefused)), "{refused:?}");

    // The mail's link: the invoice is cancelled by a credit note and issued again in the
    // company's name; both are mailed.
    let key = marketbill_app::crypto::buyer_link_key(&f.services.settings.buyer_email_key, &order);
    let proof = BuyerProof::Link(key);
    let first = buyer_request(&f.services, &order, &proof, company(), None).await.unwrap();
    let BuyerRequestOutcome::Corrected { credit_note, invoice: replacement } = first.clone() else {
        panic!("{first:?}")
    };
    let new = f.services.ledger.get_invoice(&f.seller, &replacement.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(new.invoice.body.buyer.name, "Atelier Durand SARL");
    assert_eq!(new.invoice.body.replaces.as_ref().map(|r| &r.number), Some(&invoice.invoice.number));
    let cn = f.services.ledger.get_invoice(&f.seller, &credit_note.parse().unwrap()).await.unwrap().unwrap();
    assert!(matches!(cn.steps.as_ref().and_then(|s| s.mail.as_ref()), Some(MailOutcome::Sent { .. })));
    assert_eq!(f.mailer.to(&buyer), mails + 2, "the credit note and the new invoice");
    // The new invoice replaces the old one on the order; the credit note is not attached.
    assert_eq!(f.market.attached_to(&invoice.order_id), 2);

    // Sent again (a reload): the same answer, nothing issued or mailed again.
    let again = buyer_request(&f.services, &order, &proof, company(), None).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(f.mailer.to(&buyer), mails + 2);
}

#[tokio::test]
async fn a_seller_finds_an_invoice_by_amount_or_buyer_newest_first_page_by_page() {
    use marketbill_app::documents::{Documents, Search};
    let f = fixture(12, NOW).await;
    let run = run_seller(&f.services, &f.seller, None).await.unwrap();
    // The room is built from the ports it uses alone: the ledger's sellers and documents, a
    // store and a clock (no mailer, marketplace, queue or platform).
    let ledger = f.services.ledger.as_ref();
    let store = fakes::MemoryStore::default();
    let documents = Documents { sellers: ledger, invoices: ledger, store: &store, clock: f.clock.as_ref() };
    // The default order: by date, newest first.
    let search = |text: &str, page: usize| Search { text: text.to_owned(), page, per_page: 5, ..Default::default() };
    let first = documents.find(&f.seller, &search("", 1)).await.unwrap();
    assert_eq!((first.total as u64, first.items.len()), (run.issued, 5));
    assert_eq!(first.pages, first.total.div_ceil(5));
    let numbers = |items: &[marketbill_app::model::InvoiceRecord]| {
        items.iter().map(|r| r.invoice.number.counter().unwrap()).collect::<Vec<_>>()
    };
    let shown = numbers(&first.items);
    assert!(shown.windows(2).all(|w| w[0] > w[1]), "newest first: {shown:?}");
    let second = documents.find(&f.seller, &search("", 2)).await.unwrap();
    assert!(numbers(&second.items).iter().all(|n| !shown.contains(n)), "page 2 goes on");

    // An amount as a French seller types it, and a buyer's name.
    let wanted = &first.items[2];
    let typed = wanted.invoice.body.totals.tax_inclusive.to_string().replace('.', ",");
    let by_amount = documents.find(&f.seller, &search(&typed, 1)).await.unwrap();
    assert!(by_amount.items.iter().any(|r| r.invoice.number == wanted.invoice.number), "{typed}");
    assert!(
        by_amount.items.iter().all(|r| r.invoice.body.totals.tax_inclusive == wanted.invoice.body.totals.tax_inclusive)
    );
    let name = wanted.invoice.body.buyer.name.split_whitespace().last().unwrap().to_lowercase();
    let by_name = documents.find(&f.seller, &search(&name, 1)).await.unwrap();
    assert!(by_name.total >= 1 && by_name.items.iter().any(|r| r.invoice.number == wanted.invoice.number), "{name}");
    let none = documents.find(&f.seller, &search("nobody-at-all", 1)).await.unwrap();
    assert_eq!(none.total, 0);
}
