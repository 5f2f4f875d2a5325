//! Property tests of the invoicing rules §4 over generated orders: 1 to 60 lines, quantities
//! 1–20, unit prices 0.01–9,999.99, rates 20/10/5.5/2.1 mixed in one order, shipping 0–50.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use common::*;
use marketbill_domain::money::round_cents;
use marketbill_domain::{IssueRequest, VatRate, draft_invoice};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::json;
use time::macros::datetime;

const RATES: [&str; 4] = ["20", "10", "5.5", "2.1"];

fn cents(c: u32) -> String {
    Decimal::new(i64::from(c), 2).to_string()
}

/// (quantity, unit price in cents, shipping in cents, rate index)
fn line_strategy() -> impl Strategy<Value = (u32, u32, u32, usize)> {
    (1u32..=20, prop_oneof![1u32..=100, 1u32..=999_999], prop_oneof![Just(0u32), 0u32..=5_000], 0usize..RATES.len())
}

/// Whether some base B reaches `gross` with B + round(B × rate) — found by brute force,
/// independently of the code under test.
fn exact_base_exists(gross: Decimal, rate: VatRate) -> bool {
    let cent = Decimal::new(1, 2);
    let approx = round_cents(gross / (Decimal::ONE + rate.fraction()));
    (-10..=10).any(|k| {
        let b = approx + cent * Decimal::from(k);
        b >= Decimal::ZERO && b + round_cents(b * rate.fraction()) == gross
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn every_equation_of_section_4_holds_and_the_total_is_what_the_buyer_paid(
        lines in prop::collection::vec(line_strategy(), 1..=60)
    ) {
        let mut paid = Decimal::ZERO;
        let values: Vec<_> = lines.iter().enumerate().map(|(i, &(q, unit, ship, r))| {
            paid += Decimal::new(i64::from(unit), 2) * Decimal::from(q) + Decimal::new(i64::from(ship), 2);
            line(&(i + 1).to_string(), q, &cents(unit), &cents(ship), Some(RATES[r]))
        }).collect();
        let order = order("P1", values);
        let seller = seller(json!({}));
        let draft = draft_invoice(&IssueRequest {
            order: &order, seller: &seller, buyer_data: None, issued_at: datetime!(2026-11-22 05:00 UTC),
        }).unwrap();
        let b = &draft.body;
        let t = &b.totals;

        // Amounts are whole cents; nets are never negative.
        for l in &b.lines {
            prop_assert_eq!(l.net_amount, round_cents(l.net_amount));
            prop_assert!(l.net_amount >= Decimal::ZERO);
            // The unit price (6 decimals) times the quantity gives back the line amount.
            prop_assert!((l.unit_price_net * l.quantity - l.net_amount).abs() <= Decimal::new(5, 7) * l.quantity);
        }
        // BR-CO-10: sum of line net amounts = BT-106.
        prop_assert_eq!(b.lines.iter().map(|l| l.net_amount).sum::<Decimal>(), t.line_net_total);
        // BR-CO-13: BT-109 = BT-106 − allowances + charges (none).
        prop_assert_eq!(t.tax_exclusive, t.line_net_total);
        for group in &b.vat_breakdown {
            let lines_of_rate: Decimal = b.lines.iter().filter(|l| l.vat_rate == group.rate).map(|l| l.net_amount).sum();
            // BR-S-08: taxable base per rate = sum of that rate's line nets.
            prop_assert_eq!(group.taxable_amount, lines_of_rate);
            let gross_of_rate: Decimal = b.lines.iter().filter(|l| l.vat_rate == group.rate).map(|l| l.gross_amount).sum();
            prop_assert_eq!(group.taxable_amount + group.vat_amount, gross_of_rate);
            // BR-CO-17 / BR-S-09: VAT = base × rate rounded to the cent, whenever any base allows it…
            let expected = group.rate.vat_on(group.taxable_amount);
            if exact_base_exists(gross_of_rate, group.rate) {
                prop_assert_eq!(group.vat_amount, expected);
            } else {
                // …otherwise the other neighbouring cent (well inside the official ±1.00 tolerance).
                prop_assert!((group.vat_amount - group.taxable_amount * group.rate.fraction()).abs() < Decimal::new(1, 2));
            }
        }
        // BR-CO-14: BT-110 = Σ VAT per rate.
        prop_assert_eq!(t.vat_total, b.vat_breakdown.iter().map(|g| g.vat_amount).sum::<Decimal>());
        // BR-CO-15: BT-112 = BT-109 + BT-110, and equals what the buyer paid, to the cent.
        prop_assert_eq!(t.tax_inclusive, t.tax_exclusive + t.vat_total);
        prop_assert_eq!(t.tax_inclusive, paid);
        // BR-CO-16: BT-115 = BT-112 − BT-113 (+ rounding, none): a paid order owes nothing.
        prop_assert_eq!(t.prepaid, t.tax_inclusive);
        prop_assert_eq!(t.payable, t.tax_inclusive - t.prepaid);
        prop_assert_eq!(t.payable, Decimal::ZERO);
    }
}

#[test]
fn a_gross_no_base_can_reach_still_totals_to_the_cent() {
    // 0.03 € at 20 %: base 0.02 gives 0.02, base 0.03 gives 0.04 — no base gives 0.03.
    let rate: VatRate = "20".parse().unwrap();
    assert!(!exact_base_exists(Decimal::new(3, 2), rate));
    let (base, vat) = marketbill_domain::invoice::split_gross(Decimal::new(3, 2), rate);
    assert_eq!(base + vat, Decimal::new(3, 2));
    assert!((vat - base * rate.fraction()).abs() < Decimal::new(1, 2));
}

#[test]
fn the_exact_split_is_chosen_when_one_exists() {
    let rate: VatRate = "5.5".parse().unwrap();
    let (base, vat) = marketbill_domain::invoice::split_gross(Decimal::new(1055, 2), rate);
    assert_eq!((base, vat), (Decimal::new(1000, 2), Decimal::new(55, 2)));
}
