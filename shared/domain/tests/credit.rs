//! Credit notes for part of an invoice: units, shipping, gestures, the remainder; amounts
//! mirror the invoice and never exceed it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use common::*;
use marketbill_domain::credit::{CreditError, CreditItem, Credited};
use marketbill_domain::invoice::LineKind;
use marketbill_domain::{DocumentKind, Invoice, IssueRequest, VatRate, draft_invoice};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::json;
use time::macros::datetime;

const AT: time::OffsetDateTime = datetime!(2026-11-25 10:00 UTC);

/// Three lines: 2 × 30.00 at 20 % with 4.99 shipping, 1 × 12.00 at 5.5 %, 3 × 9.99 at 20 %.
fn invoice() -> Invoice {
    let o = order(
        "2611201000ABCD",
        vec![
            line("1", 2, "30.00", "4.99", Some("20")),
            line("2", 1, "12.00", "0", Some("5.5")),
            line("3", 3, "9.99", "0", Some("20")),
        ],
    );
    let s = seller(json!({}));
    let draft = draft_invoice(&IssueRequest { order: &o, seller: &s, buyer_data: None, issued_at: AT }).unwrap();
    let n = draft.series.number(7).unwrap();
    draft.finalize(n)
}

fn goods(inv: &Invoice) -> Vec<u32> {
    inv.body.lines.iter().filter(|l| l.kind == LineKind::Goods).map(|l| l.id).collect()
}

fn shipping(inv: &Invoice) -> u32 {
    inv.body.lines.iter().find(|l| l.kind == LineKind::Shipping).unwrap().id
}

/// Every EN 16931 sum of a document holds to the cent.
fn balanced(doc: &Invoice) {
    let b = &doc.body;
    let nets: Decimal = b.lines.iter().map(|l| l.net_amount).sum();
    assert_eq!(nets, b.totals.line_net_total);
    assert_eq!(b.totals.tax_exclusive, b.totals.line_net_total);
    let bases: Decimal = b.vat_breakdown.iter().map(|v| v.taxable_amount).sum();
    assert_eq!(bases, b.totals.tax_exclusive);
    let vat: Decimal = b.vat_breakdown.iter().map(|v| v.vat_amount).sum();
    assert_eq!(vat, b.totals.vat_total);
    assert_eq!(b.totals.tax_inclusive, b.totals.tax_exclusive + b.totals.vat_total);
    let grosses: Decimal = b.lines.iter().map(|l| l.gross_amount).sum();
    assert_eq!(grosses, b.totals.tax_inclusive, "the credit note gives back what the lines say");
    for v in &b.vat_breakdown {
        let base: Decimal = b.lines.iter().filter(|l| l.vat_rate == v.rate).map(|l| l.net_amount).sum();
        assert_eq!(base, v.taxable_amount, "rate {}", v.rate.to_french());
    }
}

fn issue(inv: &Invoice, items: &[CreditItem], credited: &Credited) -> Result<(Invoice, Credited), CreditError> {
    let s = seller(json!({}));
    let (draft, after) = inv.credit(&s, AT, items, "retour", credited)?;
    let n = draft.series.number(after.seq).unwrap();
    let doc = draft.finalize(n);
    balanced(&doc);
    Ok((doc, after))
}

#[test]
fn the_remainder_of_an_untouched_invoice_is_all_of_it() {
    let inv = invoice();
    let (cn, after) = issue(&inv, &[CreditItem::Remainder], &Credited::default()).unwrap();
    assert_eq!(cn.body.totals.tax_inclusive, inv.body.totals.tax_inclusive);
    assert_eq!(cn.body.totals.vat_total, inv.body.totals.vat_total);
    assert_eq!(after.total(), inv.body.totals.tax_inclusive);
    assert!(matches!(&cn.kind, DocumentKind::CreditNote { corrects } if corrects.number == inv.number));
    assert!(cn.body.notes[0].text.starts_with("Avoir annulant intégralement la facture"));
    assert!(cn.body.payment.terms.starts_with("Avoir — remboursé le"));
    assert_eq!(
        issue(&inv, &[CreditItem::Remainder], &after).unwrap_err(),
        CreditError::NothingLeft,
        "nothing is left after it"
    );
}

#[test]
fn one_unit_of_one_line_is_its_share_and_the_rest_comes_after() {
    let inv = invoice();
    let first = goods(&inv)[0];
    let line = inv.body.lines.iter().find(|l| l.id == first).unwrap().clone();
    assert_eq!(line.quantity, dec!(2));
    let (cn, after) =
        issue(&inv, &[CreditItem::Units { line: first, quantity: dec!(1) }], &Credited::default()).unwrap();
    assert_eq!(cn.body.lines.len(), 1);
    assert_eq!(cn.body.lines[0].gross_amount, dec!(30.00));
    assert_eq!(cn.body.lines[0].vat_rate, line.vat_rate);
    assert!(cn.body.notes[0].text.starts_with("Avoir partiel sur la facture"));
    // The second unit: exactly what is left, then nothing.
    let (cn2, after2) = issue(&inv, &[CreditItem::Units { line: first, quantity: dec!(1) }], &after).unwrap();
    assert_eq!(cn.body.lines[0].gross_amount + cn2.body.lines[0].gross_amount, line.gross_amount);
    assert_eq!(after2.seq, 2);
    let err = issue(&inv, &[CreditItem::Units { line: first, quantity: dec!(1) }], &after2).unwrap_err();
    assert!(matches!(err, CreditError::LineExceeded { remaining, .. } if remaining.is_zero()), "{err}");
}

#[test]
fn shipping_is_credited_by_amount_within_what_was_paid() {
    let inv = invoice();
    let ship = shipping(&inv);
    let paid = inv.body.lines.iter().find(|l| l.id == ship).unwrap().gross_amount;
    let (cn, after) =
        issue(&inv, &[CreditItem::Shipping { line: ship, amount: dec!(2.50) }], &Credited::default()).unwrap();
    assert_eq!(cn.body.lines[0].kind, LineKind::Shipping);
    assert_eq!(cn.body.totals.tax_inclusive, dec!(2.50));
    let err = issue(&inv, &[CreditItem::Shipping { line: ship, amount: paid }], &after).unwrap_err();
    assert_eq!(err, CreditError::LineExceeded { line: ship, remaining: paid - dec!(2.50), asked: paid });
    assert!(err.to_string().contains("left to credit"), "the refusal says what remains: {err}");
    // Units of a shipping line, or an amount on a goods line, are named refusals.
    assert!(matches!(
        issue(&inv, &[CreditItem::Units { line: ship, quantity: dec!(1) }], &after),
        Err(CreditError::WrongKind { .. })
    ));
}

#[test]
fn gestures_stay_within_their_rate_and_the_remainder_still_adds_up() {
    let inv = invoice();
    let twenty = VatRate::new(dec!(20)).unwrap();
    let (cn, after) =
        issue(&inv, &[CreditItem::Gesture { rate: twenty, amount: dec!(10) }], &Credited::default()).unwrap();
    assert_eq!(cn.body.totals.tax_inclusive, dec!(10.00));
    assert_eq!(cn.body.vat_breakdown.len(), 1);
    let fifty_five = VatRate::new(dec!(5.5)).unwrap();
    let err = issue(&inv, &[CreditItem::Gesture { rate: fifty_five, amount: dec!(12.01) }], &after).unwrap_err();
    assert!(matches!(err, CreditError::RateExceeded { .. }), "{err}");
    let ten = VatRate::new(dec!(10)).unwrap();
    assert!(matches!(
        issue(&inv, &[CreditItem::Gesture { rate: ten, amount: dec!(1) }], &after),
        Err(CreditError::NoSuchRate(_))
    ));
    // What remains after the gesture: the invoice less the gesture, to the cent.
    let (rest, done) = issue(&inv, &[CreditItem::Remainder], &after).unwrap();
    assert_eq!(rest.body.totals.tax_inclusive + dec!(10), inv.body.totals.tax_inclusive);
    assert_eq!(done.total(), inv.body.totals.tax_inclusive);
}

#[test]
fn requests_that_cannot_be_met_are_named() {
    let inv = invoice();
    let first = goods(&inv)[0];
    let none = Credited::default();
    assert_eq!(issue(&inv, &[], &none).unwrap_err(), CreditError::Empty);
    assert_eq!(
        issue(&inv, &[CreditItem::Units { line: 99, quantity: dec!(1) }], &none).unwrap_err(),
        CreditError::NoSuchLine(99)
    );
    assert!(matches!(
        issue(&inv, &[CreditItem::Units { line: first, quantity: dec!(3) }], &none),
        Err(CreditError::TooManyUnits { .. })
    ));
    assert!(matches!(
        issue(&inv, &[CreditItem::Units { line: first, quantity: dec!(0) }], &none),
        Err(CreditError::NotPositive { .. })
    ));
    // Two items on one line in one request count together.
    let both =
        [CreditItem::Units { line: first, quantity: dec!(2) }, CreditItem::Units { line: first, quantity: dec!(1) }];
    assert!(matches!(issue(&inv, &both, &none), Err(CreditError::LineExceeded { .. })));
    // A credit note is not credited.
    let (cn, _) = issue(&inv, &[CreditItem::Remainder], &none).unwrap();
    assert!(matches!(issue(&cn, &[CreditItem::Remainder], &none), Err(CreditError::NotAnInvoice(_))));
}

#[test]
fn refunds_the_marketplace_reports_are_read_once_each() {
    use marketbill_domain::credit::reported_refunds;
    let inv = invoice();
    let statuses = vec!["Cancelled".to_owned(), "Refunded".to_owned(), "Returned".to_owned()];
    let mut value = order_value(
        "2611201000ABCD",
        vec![
            line("1", 2, "30.00", "4.99", Some("20")),
            line("2", 1, "12.00", "0", Some("5.5")),
            line("3", 3, "9.99", "0", Some("20")),
        ],
    );
    // Nothing reported: nothing to credit.
    let order = marketbill_domain::Order::from_value(value.clone()).unwrap();
    assert!(reported_refunds(&inv, &order, &statuses, &Credited::default()).is_empty());
    // Line 2 returned, and a partial refund: one unit of line 3, 2.00 of shipping, a 1.50 gesture.
    value["lines"][1]["status"] = "Returned".into();
    value["refunds"] = json!([{"refundId": 71, "reason": "colis abîmé", "lines": [{"orderLineId": "3", "quantity": 1}],
                                "shippingAmount": "2.00", "amount": "1.50", "rate": "20"}]);
    let order = marketbill_domain::Order::from_value(value.clone()).unwrap();
    let found = reported_refunds(&inv, &order, &statuses, &Credited::default());
    assert_eq!(found.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), ["line-2", "refund-71"]);
    assert_eq!(found[1].items.len(), 3);
    assert_eq!(found[1].reason, "colis abîmé");
    // Each credited once: a key already applied is not reported again.
    let mut credited = Credited::default();
    credited.applied.insert("line-2".into());
    let again = reported_refunds(&inv, &order, &statuses, &credited);
    assert_eq!(again.len(), 1);
    // The order cancelled after invoicing: the remainder, and nothing else.
    value["status"] = "Cancelled".into();
    let order = marketbill_domain::Order::from_value(value).unwrap();
    let cancelled = reported_refunds(&inv, &order, &statuses, &credited);
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0].items, vec![CreditItem::Remainder]);
    // Every item it names can be credited against the invoice.
    for r in &found {
        issue(&inv, &r.items, &Credited::default()).unwrap();
    }
}

#[test]
fn a_shipping_refund_spreads_over_the_shipping_lines_pro_rata() {
    use marketbill_domain::credit::shipping_pro_rata;
    // Shipping paid at two rates (4.99 at 20 %, 2.00 at 5.5 %).
    let o = order(
        "2611201000ABCE",
        vec![line("1", 1, "30.00", "4.99", Some("20")), line("2", 1, "12.00", "2.00", Some("5.5"))],
    );
    let s = seller(json!({}));
    let draft = draft_invoice(&IssueRequest { order: &o, seller: &s, buyer_data: None, issued_at: AT }).unwrap();
    let inv = draft.finalize(marketbill_domain::Series::new("F".parse().unwrap(), 2026).number(1).unwrap());
    let parts = shipping_pro_rata(&inv, dec!(3.50));
    assert_eq!(parts.len(), 2);
    let sum: Decimal = parts
        .iter()
        .map(|p| match p {
            CreditItem::Shipping { amount, .. } => *amount,
            _ => Decimal::ZERO,
        })
        .sum();
    assert_eq!(sum, dec!(3.50), "the parts add up to the refund");
    let (cn, _) = issue(&inv, &parts, &Credited::default()).unwrap();
    assert_eq!(cn.body.vat_breakdown.len(), 2, "each rate gives back its share");
    assert!(shipping_pro_rata(&inv, dec!(0)).is_empty());
}

#[test]
fn a_refund_the_marketplace_lists_twice_is_reported_once() {
    use marketbill_domain::credit::reported_refunds;
    let inv = invoice();
    let statuses = vec!["Returned".to_owned()];
    let mut value = order_value(
        "2611201000ABCD",
        vec![
            line("1", 2, "30.00", "4.99", Some("20")),
            line("2", 1, "12.00", "0", Some("5.5")),
            line("3", 3, "9.99", "0", Some("20")),
        ],
    );
    let entry = json!({"refundId": 71, "lines": [{"orderLineId": "3", "quantity": 1}]});
    value["refunds"] = json!([entry.clone(), entry, {"refundId": 72, "amount": "1.00", "rate": "20"}]);
    let order = marketbill_domain::Order::from_value(value).unwrap();
    let found = reported_refunds(&inv, &order, &statuses, &Credited::default());
    assert_eq!(found.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), ["refund-71", "refund-72"]);
}

#[test]
fn credit_items_with_unknown_fields_are_refused() {
    let typo = json!({"type": "units", "line": 1, "quantiy": "1"});
    assert!(serde_json::from_value::<CreditItem>(typo).is_err());
    let extra = json!({"type": "remainder", "everything": true});
    assert!(serde_json::from_value::<CreditItem>(extra).is_err(), "a unit item takes no field either");
    let fine = json!({"type": "units", "line": 1, "quantity": "1"});
    assert!(serde_json::from_value::<CreditItem>(fine).is_ok());
}
