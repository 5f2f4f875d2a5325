//! Invoices drafted from whole orders: one test per regime row of the invoicing rules §3,
//! one per refusal reason, and the mandatory mentions of §1.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use common::*;
use marketbill_domain::buyer::{BuyerAddress, BuyerBillingData, BuyerKind, TaxNumber};
use marketbill_domain::invoice::LineKind;
use marketbill_domain::{
    DocumentKind, IssueRequest, Order, Refusal, SellerProfile, VatCategory, VatRegime, draft_invoice,
};
use rust_decimal_macros::dec;
use serde_json::json;
use time::macros::datetime;

fn draft(order: &Order, seller: &SellerProfile) -> Result<marketbill_domain::Draft, Refusal> {
    draft_invoice(&IssueRequest { order, seller, buyer_data: None, issued_at: datetime!(2026-11-22 05:00 UTC) })
}

fn company_buyer(tax: &str) -> BuyerBillingData {
    BuyerBillingData {
        kind: BuyerKind::Company,
        name: "Atelier Durand SARL".into(),
        tax_number: Some(TaxNumber::parse(tax).unwrap()),
        address: BuyerAddress {
            line1: "8 avenue Foch".into(),
            line2: None,
            postal_code: "75016".into(),
            city: "Paris".into(),
            country_code: "FR".parse().unwrap(),
        },
    }
}

fn draft_for(
    order: &Order,
    seller: &SellerProfile,
    buyer: &BuyerBillingData,
) -> Result<marketbill_domain::Draft, Refusal> {
    draft_invoice(&IssueRequest { order, seller, buyer_data: Some(buyer), issued_at: datetime!(2026-11-22 05:00 UTC) })
}

#[test]
fn french_seller_to_consumer_charges_french_vat_with_every_b2c_mention() {
    let o = order("A1", vec![line("1", 2, "29.99", "4.99", Some("20.0")), line("2", 1, "12.50", "0", Some("5.5"))]);
    let d = draft(&o, &seller(json!({}))).unwrap();
    let b = &d.body;
    assert_eq!(b.regime, VatRegime::FrenchVat);
    assert_eq!(d.kind, DocumentKind::Invoice);
    assert_eq!(d.series.key(), "F2026");
    assert_eq!(b.totals.tax_inclusive, dec!(77.47));
    assert_eq!(b.totals.prepaid, dec!(77.47));
    assert_eq!(b.totals.payable, dec!(0));
    assert_eq!(b.order_id.as_str(), "A1");
    assert_eq!(b.seller.vat_number.as_ref().unwrap().as_str(), "FR44732829320");
    assert!(b.seller.legal_mentions.contains("SAS au capital de 10"));
    assert!(b.seller.legal_mentions.contains("RCS Lyon 732829320"));
    assert_eq!(b.buyer.name, "Élodie Durand");
    assert!(b.delivery.is_none(), "delivery equals billing: not repeated");
    assert_eq!(b.lines.iter().filter(|l| l.kind == LineKind::Shipping).count(), 1);
    assert_eq!(b.vat_breakdown.len(), 2);
    assert!(b.notes.iter().any(|n| n.text.contains("livraison de biens")));
    assert!(!b.business && !b.notes.iter().any(|n| n.subject.as_deref() == Some("PMT")));
    assert_eq!(b.payment.terms, "Payée le 20/11/2026 par carte bancaire sur la place de marché");
    assert_eq!(time::Date::from_calendar_date(2026, time::Month::November, 21).unwrap(), b.delivery_date);
}

#[test]
fn french_seller_to_business_adds_buyer_ids_and_b2b_mentions() {
    let o = order("A2", vec![line("1", 1, "120.00", "0", Some("20"))]);
    let buyer = company_buyer("FR40303265045");
    let d = draft_for(&o, &seller(json!({})), &buyer).unwrap();
    let b = &d.body;
    assert_eq!(b.regime, VatRegime::FrenchVat);
    assert!(b.business);
    assert_eq!(b.buyer.vat_number.as_ref().unwrap().as_str(), "FR40303265045");
    assert_eq!(b.buyer.siren.as_ref().unwrap().as_str(), "303265045");
    for code in ["PMD", "PMT", "AAB"] {
        assert!(b.notes.iter().any(|n| n.subject.as_deref() == Some(code)), "{code}");
    }
    assert!(b.notes.iter().any(|n| n.text.contains("40 €")));
    let delivery = b.delivery.as_ref().expect("delivery differs from the company's billing address");
    assert_eq!(delivery.address.city, "Lyon");
}

#[test]
fn eu_seller_under_threshold_uses_its_own_rates() {
    let o = order("B1", vec![line("1", 1, "119.00", "0", Some("20"))]);
    let d = draft(&o, &german_seller("homeCountry")).unwrap();
    assert_eq!(d.body.regime, VatRegime::HomeCountry { country: "DE".parse().unwrap() });
    assert_eq!(d.body.vat_breakdown[0].rate.to_string(), "19");
    assert_eq!(d.body.vat_breakdown[0].taxable_amount, dec!(100.00));
    assert_eq!(d.body.vat_breakdown[0].vat_amount, dec!(19.00));
    assert_eq!(d.body.seller.vat_number.as_ref().unwrap().as_str(), "DE136695976");
    assert!(d.body.notes.iter().any(|n| n.text.contains("Allemagne")));
}

#[test]
fn eu_seller_over_threshold_charges_french_vat_via_oss() {
    let o = order("B2", vec![line("1", 1, "120.00", "0", Some("20"))]);
    let d = draft(&o, &german_seller("oss")).unwrap();
    assert_eq!(d.body.regime, VatRegime::Oss);
    assert_eq!(d.body.vat_breakdown[0].vat_amount, dec!(20.00));
    assert_eq!(d.body.seller.vat_number.as_ref().unwrap().as_str(), "DE136695976");
    assert!(d.body.notes.iter().any(|n| n.text == "TVA due en France, déclarée via le guichet unique (OSS)"));
}

#[test]
fn eu_seller_from_french_stock_is_a_domestic_sale_with_its_french_number() {
    let mut s = german_seller("oss");
    s.french_vat_number = Some("FR40303265045".parse().unwrap());
    s.stock_location = marketbill_domain::seller::StockLocation::France;
    let o = order("B3", vec![line("1", 1, "120.00", "0", Some("20"))]);
    let d = draft(&o, &s).unwrap();
    assert_eq!(d.body.regime, VatRegime::FrenchVat);
    assert_eq!(d.body.seller.vat_number.as_ref().unwrap().as_str(), "FR40303265045");
}

#[test]
fn marketplace_fulfilment_ships_from_france() {
    let mut l = line("1", 1, "120.00", "0", Some("20"));
    l["offer"]["supplyMode"] = "Fulfillment".into();
    let o = order("B4", vec![l]);
    assert_eq!(draft(&o, &german_seller("oss")).unwrap_err(), Refusal::FrenchVatNumberRequired);
}

#[test]
fn eu_seller_to_french_business_is_exempt_and_charges_no_vat() {
    let o = order("B5", vec![line("1", 1, "120.00", "5.00", Some("20"))]);
    let d = draft_for(&o, &german_seller("oss"), &company_buyer("FR40303265045")).unwrap();
    let b = &d.body;
    assert_eq!(b.regime, VatRegime::IntraEuExempt);
    assert!(b.lines.iter().all(|l| l.category == VatCategory::K && l.vat_rate.is_zero()));
    assert_eq!(b.vat_breakdown.len(), 1);
    assert_eq!(b.vat_breakdown[0].exemption_code.as_deref(), Some("VATEX-EU-IC"));
    assert_eq!(b.totals.vat_total, dec!(0));
    assert_eq!(b.totals.tax_inclusive, dec!(125.00));
    assert!(b.seller.vat_number.is_some() && b.buyer.vat_number.is_some());
}

#[test]
fn eu_seller_from_france_to_french_business_is_reverse_charge() {
    let mut l = line("1", 1, "120.00", "0", Some("20"));
    l["offer"]["supplyMode"] = "Fulfillment".into();
    let o = order("B6", vec![l]);
    let d = draft_for(&o, &german_seller("oss"), &company_buyer("FR40303265045")).unwrap();
    assert_eq!(d.body.regime, VatRegime::ReverseCharge);
    assert_eq!(d.body.vat_breakdown[0].category, VatCategory::AE);
    assert!(d.body.notes.iter().any(|n| n.text.starts_with("Autoliquidation")));
}

#[test]
fn franchise_seller_issues_without_vat() {
    let s = seller(json!({"legalForm": "EI", "shareCapital": null, "rcsCity": null, "vatNumber": null,
                          "vatScheme": "franchise"}));
    let o = order("C1", vec![line("1", 3, "9.99", "2.50", Some("20"))]);
    let d = draft(&o, &s).unwrap();
    assert_eq!(d.body.regime, VatRegime::Franchise);
    assert_eq!(d.body.vat_breakdown[0].category, VatCategory::E);
    assert_eq!(d.body.totals.tax_exclusive, dec!(32.47));
    assert!(d.body.seller.vat_number.is_none());
    assert!(d.body.notes.iter().any(|n| n.text == "TVA non applicable, art. 293 B du CGI"));
}

#[test]
fn stock_outside_the_eu_makes_the_marketplace_the_deemed_supplier() {
    let mut s = seller(json!({}));
    s.stock_location = marketbill_domain::seller::StockLocation::OutsideEu;
    let o = order("D1", vec![line("1", 1, "49.90", "0", Some("20"))]);
    assert_eq!(draft(&o, &s).unwrap_err().code(), "deemedSupplier");
    let big = order("D2", vec![line("1", 1, "450.00", "0", Some("20"))]);
    assert_eq!(draft(&big, &s).unwrap_err(), Refusal::ImportNotSupported);
}

#[test]
fn orders_not_shipped_are_refused_with_their_status() {
    for status in ["Cancelled", "Refused", "Rejected", "Processing", "WaitingAcceptance", "InPreparation", "Teleported"]
    {
        let mut v = order_value("E1", vec![line("1", 1, "10.00", "0", None)]);
        v["status"] = status.into();
        let o = Order::from_value(v).unwrap();
        let err = draft(&o, &seller(json!({}))).unwrap_err();
        assert_eq!(err, Refusal::NotShipped { status: status.into() });
        assert!(err.may_change());
    }
    let mut v = order_value("E2", vec![line("1", 1, "10.00", "0", None)]);
    v["status"] = "Delivered".into();
    assert!(draft(&Order::from_value(v).unwrap(), &seller(json!({}))).is_ok());
}

#[test]
fn orders_shipped_outside_france_are_refused() {
    let mut l = line("1", 1, "10.00", "0", None);
    l["shippingAddress"] = fr_address("BE");
    let o = order("F1", vec![l, line("2", 1, "5.00", "0", None)]);
    assert_eq!(draft(&o, &seller(json!({}))).unwrap_err(), Refusal::NotShippedToFrance { countries: "BE".into() });
}

#[test]
fn overseas_departments_are_outside_the_french_vat_territory() {
    let mut l = line("1", 1, "10.00", "0", None);
    l["shippingAddress"]["postalCode"] = "97400".into();
    let err = draft(&order("F3", vec![l]), &seller(json!({}))).unwrap_err();
    assert_eq!(err, Refusal::OverseasDelivery { line: "1".into(), postal_code: "97400".into() });
    // Corsica (20…) is in.
    let mut l = line("1", 1, "10.00", "0", None);
    l["shippingAddress"]["postalCode"] = "20000".into();
    assert!(draft(&order("F4", vec![l]), &seller(json!({}))).is_ok());
}

#[test]
fn a_line_without_any_delivery_country_is_refused() {
    let mut v = order_value("F2", vec![line("1", 1, "10.00", "0", None)]);
    v["lines"][0]["shippingAddress"] = json!({"city": "Lyon"});
    v["billingAddress"] = json!({"lastName": "Durand"});
    let o = Order::from_value(v).unwrap();
    assert_eq!(draft(&o, &seller(json!({}))).unwrap_err(), Refusal::NoDeliveryCountry { line: "1".into() });
}

#[test]
fn totals_that_do_not_add_up_are_refused() {
    let mut v = order_value("G1", vec![line("1", 2, "10.00", "1.00", None)]);
    v["totalPrice"]["sellingPrice"] = num("21.10");
    let err = draft(&Order::from_value(v).unwrap(), &seller(json!({}))).unwrap_err();
    assert_eq!(err, Refusal::TotalsMismatch { what: "order total".into(), stated: dec!(21.10), computed: dec!(21.00) });
    let mut v = order_value("G2", vec![line("1", 2, "10.00", "1.00", None)]);
    v["lines"][0]["totalPrice"]["sellingPrice"] = num("20.00");
    let err = draft(&Order::from_value(v).unwrap(), &seller(json!({}))).unwrap_err();
    assert_eq!(err.code(), "totalsMismatch");
    assert!(err.to_string().contains("line 1 total"), "{err}");
}

#[test]
fn cancelled_lines_are_left_out_of_the_invoice_and_the_totals() {
    let mut cancelled = line("2", 1, "99.00", "0", None);
    cancelled["status"] = "Cancelled".into();
    let mut v = order_value("G3", vec![line("1", 1, "10.00", "0", None)]);
    v["lines"].as_array_mut().unwrap().push(cancelled);
    let d = draft(&Order::from_value(v).unwrap(), &seller(json!({}))).unwrap();
    assert_eq!(d.body.lines.len(), 1);
    assert_eq!(d.body.totals.tax_inclusive, dec!(10.00));
    let mut all_cancelled = order_value("G4", vec![line("1", 1, "10.00", "0", None)]);
    all_cancelled["lines"][0]["status"] = "Cancelled".into();
    let err = draft(&Order::from_value(all_cancelled).unwrap(), &seller(json!({}))).unwrap_err();
    assert_eq!(err, Refusal::NoSuppliedLines);
}

#[test]
fn invalid_lines_currency_rates_and_other_sellers_are_refused() {
    let s = seller(json!({}));
    let mut v = order_value("H1", vec![line("1", 1, "10.00", "0", None)]);
    v["lines"][0]["quantity"] = num("0");
    assert_eq!(draft(&Order::from_value(v).unwrap(), &s).unwrap_err().code(), "invalidLine");

    let mut v = order_value("H2", vec![line("1", 1, "10.00", "0", None)]);
    v["lines"][0]["sellingPrice"]["unitSalesPrice"] = serde_json::Value::Null;
    assert_eq!(draft(&Order::from_value(v).unwrap(), &s).unwrap_err().code(), "invalidLine");

    let mut v = order_value("H3", vec![line("1", 1, "10.00", "0", None)]);
    v["currencyCode"] = "PLN".into();
    assert_eq!(draft(&Order::from_value(v).unwrap(), &s).unwrap_err().code(), "unsupportedCurrency");

    let o = order("H4", vec![line("1", 1, "10.00", "0", Some("19"))]);
    let err = draft(&o, &s).unwrap_err();
    assert_eq!(err.code(), "unknownVatRate");
    assert!(err.to_string().contains("20, 10, 5.5, 2.1"), "{err}");

    let mut v = order_value("H5", vec![line("1", 1, "10.00", "0", None)]);
    v["seller"]["id"] = "999".into();
    assert_eq!(draft(&Order::from_value(v).unwrap(), &s).unwrap_err().code(), "otherSeller");

    let mut v = order_value("H6", vec![line("1", 1, "10.00", "0", None)]);
    v["billingAddress"] = json!({"countryCode": "FR"});
    v["lines"][0]["shippingAddress"] = json!({"countryCode": "FR"});
    assert_eq!(draft(&Order::from_value(v).unwrap(), &s).unwrap_err(), Refusal::MissingBuyer);
}

#[test]
fn amounts_that_would_overflow_are_refused_not_computed() {
    let s = seller(json!({}));
    // 1e27 × 100,000 overflowed rust_decimal's multiplication and aborted the process.
    let mut v = order_value("P1", vec![line("1", 1, "10.00", "0", None)]);
    v["lines"][0]["sellingPrice"]["unitSalesPrice"] = num("1e27");
    v["lines"][0]["quantity"] = num("100000");
    let err = draft(&Order::from_value(v).unwrap(), &s).unwrap_err();
    assert_eq!(err.code(), "invalidLine");
    assert!(err.to_string().contains("1,000,000"), "{err}");

    let mut v = order_value("P2", vec![line("1", 1, "10.00", "0", None)]);
    v["lines"][0]["sellingPrice"]["shippingCost"] = num("79228162514264337593543950335.0");
    assert_eq!(draft(&Order::from_value(v).unwrap(), &s).unwrap_err().code(), "invalidLine");

    // The largest order the bounds allow still adds up without overflow.
    let big = order("P3", vec![line("1", 100_000, "1000000.00", "100000", Some("20.0")); 3]);
    let mut big_v = serde_json::to_value(&big).unwrap();
    for (i, l) in big_v["lines"].as_array_mut().unwrap().iter_mut().enumerate() {
        l["orderLineId"] = (i + 1).to_string().into();
    }
    let d = draft(&Order::from_value(big_v).unwrap(), &s).unwrap();
    assert_eq!(d.body.totals.tax_inclusive, dec!(300000300000.00));
}

#[test]
fn an_order_with_more_lines_than_the_bound_is_refused() {
    let lines: Vec<_> = (0..1001).map(|i| line(&i.to_string(), 1, "1.00", "0", None)).collect();
    let o = order("P4", lines);
    assert_eq!(draft(&o, &seller(json!({}))).unwrap_err(), Refusal::TooManyLines { count: 1001, max: 1000 });
}

#[test]
fn every_refusal_code_is_distinct() {
    let all = [
        Refusal::NotShipped { status: "x".into() },
        Refusal::NoSuppliedLines,
        Refusal::NotShippedToFrance { countries: "BE".into() },
        Refusal::NoDeliveryCountry { line: "1".into() },
        Refusal::OverseasDelivery { line: "1".into(), postal_code: "97400".into() },
        Refusal::DeemedSupplier { why: "x".into() },
        Refusal::ImportNotSupported,
        Refusal::MixedShipFrom,
        Refusal::TotalsMismatch { what: "x".into(), stated: dec!(1), computed: dec!(2) },
        Refusal::InvalidLine { line: "1".into(), problem: "x".into() },
        Refusal::TooManyLines { count: 1001, max: 1000 },
        Refusal::UnknownVatRate { line: "1".into(), rate: "1".into(), allowed: "x".into() },
        Refusal::UnsupportedCurrency { currency: "x".into() },
        Refusal::FrenchVatNumberRequired,
        Refusal::OtherSeller { order_seller: "x".into() },
        Refusal::MissingBuyer,
        Refusal::Unreadable { field: "lines[0]".into(), problem: "x".into() },
        Refusal::ProcessingFailed { problem: "x".into() },
    ];
    let mut codes: Vec<&str> = all.iter().map(Refusal::code).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), all.len());
}

#[test]
fn mixed_ship_from_is_refused_for_foreign_sellers() {
    let mut fulfilled = line("2", 1, "10.00", "0", Some("20"));
    fulfilled["offer"]["supplyMode"] = "Fulfillment".into();
    let o = order("I1", vec![line("1", 1, "10.00", "0", Some("20")), fulfilled.clone()]);
    assert_eq!(draft(&o, &german_seller("oss")).unwrap_err(), Refusal::MixedShipFrom);
    // For a French seller both leave from France: one regime, no refusal.
    let o = order("I2", vec![line("1", 1, "10.00", "0", Some("20")), fulfilled]);
    assert!(draft(&o, &seller(json!({}))).is_ok());
}

#[test]
fn rate_comes_from_the_order_then_the_sku_map_then_the_default() {
    let s = seller(json!({"skuVatRates": {"SKU-2": "5.5"}, "defaultVatRate": "10"}));
    let o = order(
        "J1",
        vec![
            line("1", 1, "12.00", "0", Some("20")),
            line("2", 1, "10.55", "0", None),
            line("3", 1, "11.00", "0", None),
        ],
    );
    let d = draft(&o, &s).unwrap();
    let rates: Vec<String> = d.body.lines.iter().map(|l| l.vat_rate.to_string()).collect();
    assert_eq!(rates, ["20", "5.5", "10"]);
}

#[test]
fn shipping_is_its_own_line_per_rate_when_rates_are_mixed() {
    let o = order("K1", vec![line("1", 1, "12.00", "3.00", Some("20")), line("2", 2, "8.00", "1.99", Some("5.5"))]);
    let d = draft(&o, &seller(json!({}))).unwrap();
    let shipping: Vec<_> = d.body.lines.iter().filter(|l| l.kind == LineKind::Shipping).collect();
    assert_eq!(shipping.len(), 2);
    assert_eq!(shipping[0].gross_amount, dec!(3.00));
    assert_eq!(shipping[0].vat_rate.to_string(), "20");
    assert_eq!(shipping[1].gross_amount, dec!(1.99));
    assert!(shipping[1].description.contains("5,5"));
    assert_eq!(d.body.totals.tax_inclusive, dec!(32.99));
}

#[test]
fn relay_delivery_is_printed_with_the_relay_name() {
    let mut l = line("1", 1, "10.00", "0", None);
    l["shippingAddress"] = json!({"firstName": "Élodie", "lastName": "Durand", "pickupName": "Tabac de la Gare",
        "addressLine1": "1 place de la Gare", "postalCode": "69007", "city": "Lyon", "countryCode": "FR"});
    let d = draft(&order("L1", vec![l]), &seller(json!({}))).unwrap();
    let delivery = d.body.delivery.unwrap();
    assert!(delivery.name.contains("Tabac de la Gare"));
    assert_eq!(delivery.address.postal_code, "69007");
}

#[test]
fn business_orders_with_a_company_name_are_b2b_even_without_a_request() {
    let mut v = order_value("M1", vec![line("1", 1, "10.00", "0", None)]);
    v["businessOrder"] = true.into();
    v["billingAddress"]["companyName"] = "Durand & Fils".into();
    let d = draft(&Order::from_value(v).unwrap(), &seller(json!({}))).unwrap();
    assert_eq!(d.body.buyer.name, "Durand & Fils");
    assert!(d.body.business);
    // Without a VAT number, an EU seller keeps charging VAT.
    let mut v = order_value("M2", vec![line("1", 1, "10.00", "0", None)]);
    v["businessOrder"] = true.into();
    v["seller"]["id"] = "12345".into();
    let d = draft(&Order::from_value(v).unwrap(), &german_seller("oss")).unwrap();
    assert_eq!(d.body.regime, VatRegime::Oss);
}

#[test]
fn a_credit_note_cancels_the_invoice_in_its_own_series() {
    let s = seller(json!({}));
    let o = order("N1", vec![line("1", 1, "10.00", "0", None)]);
    let invoice = draft(&o, &s).unwrap().finalize("F2026-000007".parse().unwrap());
    let cn = invoice.credit_note(&s, datetime!(2026-11-23 10:00 UTC), "données de facturation corrigées");
    assert_eq!(cn.series.key(), "AV2026");
    assert_eq!(cn.kind.type_code(), "381");
    match &cn.kind {
        DocumentKind::CreditNote { corrects } => {
            assert_eq!(corrects.number.as_str(), "F2026-000007");
            assert_eq!(corrects.issue_date, invoice.issue_date);
        }
        other => panic!("not a credit note: {other:?}"),
    }
    assert_eq!(cn.body.totals, invoice.body.totals);
    assert!(cn.body.notes[0].text.contains("F2026-000007"));
}

#[test]
fn an_invoice_round_trips_through_json_unchanged() {
    let o = order("O1", vec![line("1", 3, "19.99", "4.90", Some("20")), line("2", 1, "7.35", "0", Some("5.5"))]);
    let inv = draft(&o, &seller(json!({}))).unwrap().finalize("F2026-000001".parse().unwrap());
    let text = serde_json::to_string(&inv).unwrap();
    let back: marketbill_domain::Invoice = serde_json::from_str(&text).unwrap();
    assert_eq!(back, inv);
}

#[test]
fn a_home_country_seller_shipping_from_france_charges_french_rates() {
    let mut s = german_seller("homeCountry");
    s.french_vat_number = Some("FR40303265045".parse().unwrap());
    let mut l = line("1", 1, "120.00", "0", Some("20"));
    l["offer"]["supplyMode"] = "Fulfillment".into();
    let d = draft(&order("Q1", vec![l]), &s).unwrap();
    assert_eq!(d.body.regime, VatRegime::FrenchVat);
    assert_eq!(d.body.vat_breakdown[0].rate.to_string(), "20");
    // Without a French rate in the order, the seller's German default cannot apply to a French sale.
    let mut l = line("1", 1, "120.00", "0", None);
    l["offer"]["supplyMode"] = "Fulfillment".into();
    assert_eq!(draft(&order("Q2", vec![l]), &s).unwrap_err().code(), "unknownVatRate");
}

#[test]
fn payment_terms_name_the_method_in_the_documents_language() {
    use marketbill_domain::invoice::{payment_method_name, payment_terms, refund_terms};
    use marketbill_domain::seller::Language;
    let d = time::macros::date!(2026 - 11 - 21);
    assert_eq!(
        payment_terms(Language::Fr, d, Some("CB")),
        "Payée le 21/11/2026 par carte bancaire sur la place de marché"
    );
    assert_eq!(payment_terms(Language::En, d, Some("Card")), "Paid on 2026-11-21 by card on the marketplace");
    assert_eq!(payment_terms(Language::De, d, Some("PayPal")), "Bezahlt am 21.11.2026 per PayPal über den Marktplatz");
    assert_eq!(payment_terms(Language::Fr, d, None), "Payée le 21/11/2026 sur la place de marché");
    // A code we do not know is kept, without control characters.
    assert_eq!(payment_method_name(Language::Fr, "Kdo\r\nX"), "KdoX");
    for lang in Language::ALL {
        assert!(!refund_terms(lang, d).is_empty());
        assert!(!payment_terms(lang, d, Some("CB")).contains("CB"), "{lang:?}");
    }
    assert_eq!(refund_terms(Language::Fr, d), "Avoir — remboursé le 21/11/2026 sur la place de marché");
}
