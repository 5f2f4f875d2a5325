//! Refunds the marketplace reports on invoiced orders become credit notes once each, the
//! same on both adapter sets (docs/reference/marketplace-refunds.md).

use std::collections::BTreeMap;

use marketbill_app::model::{InvoiceQuery, MailOutcome};
use marketbill_domain::credit::CreditItem;
use marketbill_domain::invoice::LineKind;
use marketbill_domain::{DocumentKind, Invoice};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use marketbill_testkit::simulator::SimRefund;

use super::{World, cycle};

/// Every document of the first seller, by order: (invoices, credit notes).
async fn documents(w: &World) -> BTreeMap<String, (Vec<Invoice>, Vec<Invoice>)> {
    let mut out: BTreeMap<String, (Vec<Invoice>, Vec<Invoice>)> = BTreeMap::new();
    let mut q = InvoiceQuery { limit: 500, ..Default::default() };
    loop {
        let page = w.services.ledger.list_invoices(&w.sellers[0].0, &q).await.unwrap();
        for r in &page.items {
            let entry = out.entry(r.order_id.to_string()).or_default();
            match r.invoice.kind {
                DocumentKind::Invoice => entry.0.push(r.invoice.clone()),
                DocumentKind::CreditNote { .. } => entry.1.push(r.invoice.clone()),
            }
        }
        match page.next {
            Some(n) => q.after = Some(n),
            None => break,
        }
    }
    out
}

fn total(docs: &[Invoice]) -> Decimal {
    docs.iter().map(|d| d.body.totals.tax_inclusive).sum()
}

/// The marketplace reports a refund on an order (the simulator follows the reference file).
fn report(w: &World, order: &str, refund: SimRefund) {
    assert!(w.sim.refund(&w.sellers[0].1, order, refund));
}

fn entry(value: Value) -> SimRefund {
    SimRefund::Entry(value)
}

pub async fn refunds_become_credit_notes_once(w: &World) {
    cycle(w).await;
    let before = documents(w).await;
    // Invoiced orders, and one with a shipping line.
    let invoiced: Vec<(String, Invoice)> =
        before.iter().filter_map(|(o, (inv, _))| inv.first().map(|i| (o.clone(), i.clone()))).collect();
    assert!(invoiced.len() >= 6, "{} invoiced orders", invoiced.len());
    let with_shipping =
        invoiced.iter().find(|(_, i)| i.body.lines.iter().any(|l| l.kind == LineKind::Shipping)).unwrap().clone();
    let others: Vec<&(String, Invoice)> = invoiced.iter().filter(|(o, _)| *o != with_shipping.0).collect();
    let (cancelled, returned, twice, beyond) = (others[0], others[1], others[2], others[3]);

    report(w, &cancelled.0, SimRefund::CancelOrder);
    let first_line = returned.1.body.lines[0].order_line.clone().unwrap();
    report(w, &returned.0, SimRefund::Line { order_line_id: first_line, status: "Returned".into() });
    report(w, &with_shipping.0, entry(json!({"refundId": "S1", "shippingAmount": "1.00"})));
    let rate = twice.1.body.lines[0].vat_rate.to_string();
    report(w, &twice.0, entry(json!({"refundId": "G1", "amount": "1.00", "rate": rate})));
    // The marketplace lists the same refund twice in the order: one credit note still.
    report(w, &twice.0, entry(json!({"refundId": "G1", "amount": "1.00", "rate": rate})));
    let too_much = (beyond.1.body.totals.tax_inclusive + Decimal::ONE).to_string();
    let beyond_rate = beyond.1.body.lines[0].vat_rate.to_string();
    report(w, &beyond.0, entry(json!({"refundId": "X1", "amount": too_much, "rate": beyond_rate})));

    let runs = cycle(w).await;
    let made: u64 = runs.iter().map(|r| r.as_ref().unwrap().credit_notes).sum();
    assert_eq!(made, 4, "{runs:?}");
    let after = documents(w).await;
    let cns = |o: &str| after[o].1.clone();
    assert_eq!(total(&cns(&cancelled.0)), cancelled.1.body.totals.tax_inclusive, "cancelled: the whole invoice");
    let returned_line = returned.1.body.lines[0].gross_amount;
    assert_eq!(total(&cns(&returned.0)), returned_line, "returned: its line");
    assert_eq!(total(&cns(&with_shipping.0)), Decimal::ONE, "shipping only");
    assert!(cns(&with_shipping.0)[0].body.lines.iter().all(|l| l.kind == LineKind::Shipping));
    assert_eq!(total(&cns(&twice.0)), Decimal::ONE);
    assert!(cns(&beyond.0).is_empty(), "a refund beyond the invoice is not credited");
    // An entry that cannot be read is never guessed: the order shows in the problems list.
    report(w, &beyond.0, entry(json!({"reason": "no id"})));
    cycle(w).await;
    let problems = marketbill_app::problems::problems(w.services.ledger.as_ref(), &w.sellers[0].0).await.unwrap();
    let noted = problems.iter().find(|p| p.order_id.as_str() == beyond.0).expect("in the problems list");
    assert!(noted.last_error.as_deref().unwrap_or_default().contains("cannot be read"), "{noted:?}");
    for cn in after.values().flat_map(|(_, c)| c) {
        let stored = w.services.ledger.get_invoice(&w.sellers[0].0, &cn.number).await.unwrap().unwrap();
        assert!(stored.pdf.is_some() && stored.xml.is_some(), "{} stored", cn.number);
    }

    // Reported again (the listing shows the same refunds once more): nothing more.
    let first_line = returned.1.body.lines[0].order_line.clone().unwrap();
    report(w, &returned.0, SimRefund::Line { order_line_id: first_line, status: "Returned".into() });
    let again: u64 = cycle(w).await.iter().map(|r| r.as_ref().unwrap().credit_notes).sum();
    assert_eq!(again, 0);

    // A second partial refund of the same order: one more credit note.
    report(w, &twice.0, entry(json!({"refundId": "G2", "amount": "0.50", "rate": rate})));
    // Two runs of the seller at once see it: one credit note.
    let (a, b) = tokio::join!(
        marketbill_app::seller_run::run_seller(&w.services, &w.sellers[0].0, None),
        marketbill_app::seller_run::run_seller(&w.services, &w.sellers[0].0, None)
    );
    assert_eq!(a.unwrap().credit_notes + b.unwrap().credit_notes, 1, "two runs, one credit note");
    let after = documents(w).await;
    assert_eq!(after[&twice.0].1.len(), 2);
    assert_eq!(total(&after[&twice.0].1), Decimal::new(150, 2));

    // A crash after the number is taken and before the mail (a quarter of an hour ago: a run
    // leaves younger ones to the request that is delivering them): the next run delivers it,
    // no gap and no second credit note.
    let crashed_at = time::OffsetDateTime::now_utc() - time::Duration::minutes(15);
    let fifth = others[4];
    let credited = w.services.ledger.credited(&w.sellers[0].0, &fifth.1.number).await.unwrap();
    let profile = w.services.ledger.get_seller(&w.sellers[0].0).await.unwrap().unwrap().profile;
    let (draft, mut after_state) = fifth
        .1
        .credit(&profile, time::OffsetDateTime::now_utc(), &[CreditItem::Remainder], "annulée", &credited)
        .unwrap();
    after_state.applied.insert("order-cancelled".into());
    let series = draft.series.clone();
    let numbered = w.services.ledger.series_counter(&w.sellers[0].0, &series).await.unwrap();
    let cn = w
        .services
        .ledger
        .issue_credit_note(&w.sellers[0].0, &fifth.1.body.order_id.clone(), draft, &credited, &after_state, crashed_at)
        .await
        .unwrap();
    assert_eq!(cn.number, series.number(numbered + 1).unwrap());
    report(w, &fifth.0, SimRefund::CancelOrder);
    let resumed = cycle(w).await;
    assert_eq!(resumed.iter().map(|r| r.as_ref().unwrap().credit_notes).sum::<u64>(), 0, "not credited twice");
    let stored = w.services.ledger.get_invoice(&w.sellers[0].0, &cn.number).await.unwrap().unwrap();
    assert!(stored.pdf.is_some(), "the interrupted credit note is delivered");
    assert_eq!(w.services.ledger.series_counter(&w.sellers[0].0, &series).await.unwrap(), numbered + 1, "no gap");
    assert_eq!(
        w.services.ledger.credited(&w.sellers[0].0, &fifth.1.number).await.unwrap(),
        after_state,
        "the credited state is the interrupted one's"
    );
    let steps = stored.steps.expect("a credit note keeps its steps");
    assert!(matches!(steps.mail, Some(MailOutcome::Sent { .. })), "mailed: {steps:?}");

    // A crash after the files were stored and before the mail (the old way's blind spot: a
    // stored credit note counted as delivered): the next run mails it, once.
    let sixth = others[5];
    let buyer = w
        .sim
        .orders(&w.sellers[0].1)
        .into_iter()
        .filter_map(|v| marketbill_domain::Order::from_value(v).ok())
        .find(|o| o.order_id.as_str() == sixth.0)
        .and_then(|o| o.buyer_email().map(str::to_owned))
        .expect("the order has a buyer address");
    let to_buyer = |all: Vec<Vec<u8>>| {
        all.iter()
            .filter(|m| marketbill_app::mail::parse_mail(m).0.iter().any(|(k, v)| k == "To" && v == &buyer))
            .count()
    };
    let credited = w.services.ledger.credited(&w.sellers[0].0, &sixth.1.number).await.unwrap();
    let (draft, after_state) =
        sixth.1.credit(&profile, crashed_at, &[CreditItem::Remainder], "geste", &credited).unwrap();
    let cn = w
        .services
        .ledger
        .issue_credit_note(&w.sellers[0].0, &sixth.1.body.order_id, draft, &credited, &after_state, crashed_at)
        .await
        .unwrap();
    let d = marketbill_app::delivery::Delivery::new(&w.services, &w.sellers[0].0, crashed_at, None);
    d.store(&cn).await.unwrap();
    let mails = to_buyer(w.outbox.sent().await);
    cycle(w).await;
    let stored = w.services.ledger.get_invoice(&w.sellers[0].0, &cn.number).await.unwrap().unwrap();
    assert!(matches!(stored.steps.as_ref().and_then(|s| s.mail.as_ref()), Some(MailOutcome::Sent { .. })));
    assert_eq!(to_buyer(w.outbox.sent().await), mails + 1, "mailed by the next run");
    cycle(w).await;
    assert_eq!(to_buyer(w.outbox.sent().await), mails + 1, "and only once");
}
