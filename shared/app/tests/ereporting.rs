//! E-reporting (flow 10) of whole months: every document of a period in exactly one place —
//! the e-invoice flow, 10.1, 10.3, or out of scope with its reason —, the report's sums equal
//! the documents', and every file passes the DGFiP's XSD v3.2 and the FNFE-MPE flow-10
//! schematron (`tools/einvoice/validate.py`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use marketbill_app::ereporting::{EReport, ReportRequest, ReportSender, report, to_xml};
use marketbill_app::model::{InvoiceRecord, SellerId};
use marketbill_domain::buyer::BuyerKind;
use marketbill_domain::credit::{CreditItem, Credited};
use marketbill_domain::reporting::{
    AggregatedAs, OutOfScope, PeriodKind, Placement, ReportingPeriod, TransactionCategory,
};
use marketbill_domain::{Invoice, IssueRequest, Order, SellerProfile, draft_invoice};
use marketbill_testkit::OrderGenerator;
use marketbill_testkit::rng::SplitMix64;
use marketbill_testkit::sellers::sample_seller;
use rust_decimal::Decimal;
use serde_json::Value;
use time::macros::{date, datetime};
use time::{Date, OffsetDateTime};

/// Who a document of the test months is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Buyer {
    Consumer,
    FrenchCompany,
    FrenchCompanyWithoutSiren,
    GermanCompany,
}

struct Month {
    profile: SellerProfile,
    docs: Vec<Invoice>,
}

fn at(d: Date) -> OffsetDateTime {
    d.with_hms(10, 0, 0).unwrap().assume_utc()
}

/// An invoice of the seller for a generated order, issued on `day`, to `buyer`.
fn invoice(profile: &SellerProfile, g: &mut OrderGenerator, day: Date, buyer: Buyer, n: u64) -> Invoice {
    let order = loop {
        let mut v = g.shipped(at(day) - time::Duration::days(1), 20);
        // Consumers are consumers: the generator makes some orders business ones.
        if let Some(billing) = v["billingAddress"].as_object_mut() {
            billing.remove("companyName");
        }
        let o = Order::from_value(v).unwrap();
        if draft_invoice(&IssueRequest { order: &o, seller: profile, buyer_data: None, issued_at: at(day) }).is_ok() {
            break o;
        }
    };
    let billing = match buyer {
        Buyer::FrenchCompany => Some(marketbill_testkit::buyers::company("FR40303265045").unwrap()),
        _ => None,
    };
    let draft = draft_invoice(&IssueRequest {
        order: &order,
        seller: profile,
        buyer_data: billing.as_ref(),
        issued_at: at(day),
    })
    .unwrap();
    let mut inv =
        draft.finalize(marketbill_domain::Series::new(profile.invoice_prefix.clone(), day.year()).number(n).unwrap());
    let b = &mut inv.body.buyer;
    match buyer {
        Buyer::FrenchCompanyWithoutSiren => {
            b.kind = BuyerKind::Company;
            b.name = "SARL Sans Numéro".into();
            b.address.country = marketbill_domain::CountryCode::FR;
        }
        Buyer::GermanCompany => {
            b.kind = BuyerKind::Company;
            b.name = "Bürobedarf Schulz GmbH".into();
            b.vat_number = Some("DE136695976".parse().unwrap());
            b.address.country = "DE".parse().unwrap();
        }
        Buyer::Consumer | Buyer::FrenchCompany => {}
    }
    inv
}

/// A credit note of the first unit of `inv`'s first goods line, issued on `day`.
fn credit_note(profile: &SellerProfile, inv: &Invoice, day: Date, n: u64) -> Invoice {
    let line = inv.body.lines.iter().find(|l| l.kind == marketbill_domain::invoice::LineKind::Goods).unwrap().id;
    let (draft, _) = inv
        .credit(profile, at(day), &[CreditItem::Units { line, quantity: Decimal::ONE }], "retour", &Credited::default())
        .unwrap();
    draft.finalize(marketbill_domain::Series::new(profile.credit_note_prefix.clone(), day.year()).number(n).unwrap())
}

fn records(docs: &[Invoice]) -> Vec<InvoiceRecord> {
    let seller: SellerId = "er".parse().unwrap();
    docs.iter().map(|d| InvoiceRecord::new(&seller, &d.body.order_id, d.clone(), at(d.issue_date))).collect()
}

fn run(month: &Month, period: ReportingPeriod) -> EReport {
    report(&ReportRequest {
        profile: &month.profile,
        period,
        records: &records(&month.docs),
        sender: Some(&ReportSender { id: "9999".into(), name: "Plateforme de test".into() }),
        version: 1,
        created_at: datetime!(2026-12-06 19:30 UTC),
    })
}

fn signed(d: &Invoice, v: Decimal) -> Decimal {
    if d.kind.is_credit_note() { -v } else { v }
}

/// Every document of the period once; 10.3 sums per (day, rate) and 10.1 totals equal the
/// documents'.
fn check_partition(month: &Month, period: ReportingPeriod, r: &EReport) {
    let in_period: Vec<&Invoice> = month.docs.iter().filter(|d| period.contains(d.issue_date)).collect();
    assert_eq!(r.documents.len(), in_period.len(), "every document of the period, once");
    let mut seen = std::collections::BTreeSet::new();
    for p in &r.documents {
        assert!(seen.insert(p.number.clone()), "{} twice", p.number);
    }
    let by_number: BTreeMap<String, &Invoice> = in_period.iter().map(|d| (d.number.to_string(), *d)).collect();
    let mut expected: BTreeMap<(String, String), (Decimal, Decimal)> = BTreeMap::new();
    let mut reported_101 = Vec::new();
    for p in &r.documents {
        let d = by_number[&p.number];
        assert_eq!(p.placement, marketbill_domain::reporting::placement(&month.profile, d), "decided once");
        match p.placement {
            Placement::Aggregated { category, .. } => {
                for v in &d.body.vat_breakdown {
                    // No French VAT in TNT1: the base at rate 0.
                    let (rate, vat) = if category == TransactionCategory::Tnt1 {
                        (marketbill_domain::VatRate::ZERO, Decimal::ZERO)
                    } else {
                        (v.rate, v.vat_amount)
                    };
                    let e = expected
                        .entry((marketbill_domain::calendar::iso_date(d.issue_date), rate.to_string()))
                        .or_default();
                    e.0 += signed(d, v.taxable_amount);
                    e.1 += signed(d, vat);
                }
            }
            Placement::InvoiceReport => reported_101.push(p.number.clone()),
            _ => {}
        }
    }
    let mut got: BTreeMap<(String, String), (Decimal, Decimal)> = BTreeMap::new();
    for t in &r.transactions {
        let base: Decimal = t.subtotals.iter().map(|s| s.taxable_amount).sum();
        let vat: Decimal = t.subtotals.iter().map(|s| s.tax_amount).sum();
        assert_eq!((base, vat), (t.tax_exclusive_amount, t.tax_amount), "day {} adds up", t.date);
        for s in &t.subtotals {
            let e = got.entry((t.date.clone(), s.rate.to_string())).or_default();
            e.0 += s.taxable_amount;
            e.1 += s.tax_amount;
        }
    }
    assert_eq!(got, expected, "10.3: the documents' amounts per day and rate");
    let listed: Vec<String> = r.invoices.iter().map(|i| i.number.clone()).collect();
    assert_eq!(listed, reported_101, "10.1: the international B2B documents, one by one");
    for i in &r.invoices {
        let d = by_number[&i.number];
        assert_eq!((i.tax_exclusive_amount, i.tax_amount), (d.body.totals.tax_exclusive, d.body.totals.vat_total));
    }
}

/// The test month of the issue: a French seller's B2C, international B2B, domestic B2B with
/// and without SIREN, credit notes across periods; a foreign OSS seller; a seller taxed at
/// home.
fn french_month() -> Month {
    let profile = sample_seller(0, "10000").unwrap();
    let mut g = OrderGenerator::new(61, "10000");
    let mut docs = Vec::new();
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    let plan = [
        (date!(2026 - 10 - 30), Buyer::Consumer),
        (date!(2026 - 11 - 02), Buyer::Consumer),
        (date!(2026 - 11 - 02), Buyer::Consumer),
        (date!(2026 - 11 - 03), Buyer::FrenchCompany),
        (date!(2026 - 11 - 04), Buyer::FrenchCompanyWithoutSiren),
        (date!(2026 - 11 - 05), Buyer::GermanCompany),
        (date!(2026 - 11 - 12), Buyer::Consumer),
        (date!(2026 - 11 - 25), Buyer::GermanCompany),
    ];
    for (day, buyer) in plan {
        docs.push(invoice(&profile, &mut g, day, buyer, next()));
    }
    // Credit notes: of October's invoice in November's first ten days, of a consumer invoice
    // the same day, of the German company's invoice the next period, of the French company's.
    let c1 = credit_note(&profile, &docs[0], date!(2026 - 11 - 06), 1);
    let c2 = credit_note(&profile, &docs[1], date!(2026 - 11 - 02), 2);
    let c3 = credit_note(&profile, &docs[5], date!(2026 - 11 - 14), 3);
    let c4 = credit_note(&profile, &docs[3], date!(2026 - 11 - 07), 4);
    docs.extend([c1, c2, c3, c4]);
    Month { profile, docs }
}

#[test]
fn a_month_of_every_kind_of_document_is_partitioned_and_adds_up() {
    let month = french_month();
    let d1 = ReportingPeriod::parse("2026-11-D1").unwrap();
    let r = run(&month, d1);
    check_partition(&month, d1, &r);
    let flows: Vec<(&str, String)> = r
        .documents
        .iter()
        .map(|p| {
            let why = match p.placement {
                Placement::Aggregated { category, r#as } => format!("{}/{:?}", category.code(), r#as),
                Placement::OutOfScope { reason } => reason.code().to_owned(),
                _ => String::new(),
            };
            (p.placement.flow_code(), why)
        })
        .collect();
    let count = |flow: &str| flows.iter().filter(|(f, _)| *f == flow).count();
    // Nov 1–10: 2 consumer invoices and 2 credit notes of consumer invoices (one of October's)
    // and the company without SIREN in 10.3; the German company in 10.1; the French company
    // and its credit note e-invoiced.
    assert_eq!((count("10.3"), count("10.1"), count("eInvoice"), count("outOfScope")), (5, 1, 2, 0), "{flows:?}");
    assert!(flows.contains(&("10.3", "TLB1/BusinessWithoutSiren".into())), "{flows:?}");
    // The whole month: the German company's credit note (Nov 14) joins 10.1.
    let november = ReportingPeriod::parse("2026-11").unwrap();
    let whole = run(&month, november);
    check_partition(&month, november, &whole);
    assert_eq!(whole.invoices.len(), 3);
    assert!(whole.invoices.iter().any(|i| i.type_code == "381" && i.referenced.is_some()));
    // October's report holds October's invoice only; its credit note is November's.
    let october = run(&month, ReportingPeriod::parse("2026-10").unwrap());
    assert_eq!(october.documents.len(), 1);

    // A foreign seller under OSS: its sales to consumers are declared through the OSS, those
    // to French businesses by the buyers; nothing is its own to e-report.
    let foreign = sample_seller(1, "20000").unwrap();
    let mut g = OrderGenerator::new(62, "20000");
    let docs: Vec<Invoice> = [Buyer::Consumer, Buyer::Consumer, Buyer::FrenchCompany]
        .iter()
        .enumerate()
        .map(|(k, b)| invoice(&foreign, &mut g, date!(2026 - 11 - 04), *b, k as u64 + 1))
        .collect();
    let oss = Month { profile: foreign, docs };
    let r = run(&oss, d1);
    check_partition(&oss, d1, &r);
    let reasons: Vec<Placement> = r.documents.iter().map(|p| p.placement).collect();
    assert_eq!(
        reasons,
        vec![
            Placement::OutOfScope { reason: OutOfScope::DeclaredThroughOss },
            Placement::OutOfScope { reason: OutOfScope::DeclaredThroughOss },
            Placement::OutOfScope { reason: OutOfScope::ReportedByBuyer },
        ]
    );
    assert!(r.is_empty());

    // A seller taxed at home (under the distance-sales threshold), identified in France: TNT1.
    let home = sample_seller(3, "30000").unwrap();
    let mut g = OrderGenerator::new(63, "30000");
    let docs = vec![invoice(&home, &mut g, date!(2026 - 11 - 04), Buyer::Consumer, 1)];
    let italian = Month { profile: home, docs };
    let r = run(&italian, d1);
    check_partition(&italian, d1, &r);
    let categories: Vec<TransactionCategory> = r.transactions.iter().map(|t| t.category).collect();
    assert_eq!(categories, vec![TransactionCategory::Tnt1], "{:?}", r.documents);
    assert!(r.transactions[0].tax_amount.is_zero(), "no French VAT in TNT1");

    // Every file passes the official XSD and the flow-10 schematron.
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("fr-d1", to_xml(&run(&month, d1)).unwrap()),
        ("fr-month", to_xml(&whole).unwrap()),
        ("fr-d2", to_xml(&run(&month, ReportingPeriod::parse("2026-11-D2").unwrap())).unwrap()),
        ("it-d1", to_xml(&r).unwrap()),
    ];
    validate("month", &files);
}

#[test]
fn generated_months_place_every_document_once_and_their_reports_are_valid() {
    let profiles =
        [sample_seller(0, "10000").unwrap(), sample_seller(2, "10002").unwrap(), sample_seller(4, "10004").unwrap()];
    let buyers = [
        Buyer::Consumer,
        Buyer::Consumer,
        Buyer::FrenchCompany,
        Buyer::FrenchCompanyWithoutSiren,
        Buyer::GermanCompany,
    ];
    let mut rng = SplitMix64::new(2026);
    let mut files = Vec::new();
    for (k, profile) in profiles.iter().enumerate() {
        for month_no in 0..4u64 {
            let mut g = OrderGenerator::new(100 + k as u64 * 10 + month_no, &profile.marketplace_seller_id);
            let first =
                date!(2026 - 09 - 01).replace_month(time::Month::try_from(9 + month_no as u8).unwrap()).unwrap();
            let days = first.month().length(first.year());
            let mut docs = Vec::new();
            let (mut n, mut c) = (0, 0);
            for _ in 0..rng.range(5, 25) {
                n += 1;
                let day = first.replace_day(rng.range(1, u64::from(days)) as u8).unwrap();
                let inv = invoice(profile, &mut g, day, *rng.pick(&buyers), n);
                if rng.chance(30) {
                    c += 1;
                    let later =
                        (day + time::Duration::days(rng.range(0, 20) as i64)).min(first.replace_day(days).unwrap());
                    docs.push(credit_note(profile, &inv, later, c));
                }
                docs.push(inv);
            }
            let month = Month { profile: profile.clone(), docs };
            let kind = profile.reporting_period_kind();
            let mut period = ReportingPeriod::containing(kind, first);
            let mut placed = 0;
            while period.start <= first.replace_day(days).unwrap() {
                let r = run(&month, period);
                check_partition(&month, period, &r);
                placed += r.documents.len();
                if !r.is_empty() {
                    files.push((format!("gen-{k}-{month_no}-{}", period.label()), to_xml(&r).unwrap()));
                }
                period = period.next();
            }
            assert_eq!(placed, month.docs.len(), "the periods of a month hold each of its documents once");
        }
    }
    assert!(profiles.iter().any(|p| p.reporting_period_kind() == PeriodKind::TwoMonths), "a franchise seller");
    let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, x)| (n.as_str(), x.clone())).collect();
    validate("generated", &files);
}

#[test]
fn a_seller_without_a_french_identifier_has_no_flow_10_file() {
    let mut profile = sample_seller(1, "20000").unwrap();
    profile.french_vat_number = None;
    let month = Month { profile, docs: Vec::new() };
    let r = run(&month, ReportingPeriod::parse("2026-11").unwrap());
    assert!(r.declarant_siren.is_none());
    assert!(to_xml(&r).is_err());
    let _ = AggregatedAs::Consumer;
}

/// Runs the official validation on the files: no finding.
fn validate(name: &str, files: &[(&str, Vec<u8>)]) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e-reporting").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut paths = Vec::new();
    for (name, xml) in files {
        let path = dir.join(format!("{name}.xml"));
        std::fs::write(&path, xml).unwrap();
        paths.push(path);
    }
    let venv =
        Command::new("bash").arg(root.join("scripts/python-env.sh")).output().expect("run scripts/python-env.sh");
    assert!(venv.status.success(), "cannot prepare the Python tools: {}", String::from_utf8_lossy(&venv.stderr));
    let venv = PathBuf::from(String::from_utf8(venv.stdout).unwrap().trim());
    let out = Command::new(venv.join("bin/python"))
        .arg(root.join("tools/einvoice/validate.py"))
        .arg("--json")
        .args(&paths)
        .output()
        .expect("run the validator");
    let results: Vec<Value> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("validator output: {e}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(results.len(), paths.len());
    let mut failures = Vec::new();
    for r in &results {
        assert_eq!(r["kind"], "FRR flow 10", "{r}");
        if r["valid"] != true || !r["findings"].as_array().unwrap().is_empty() {
            failures.push(format!("{}: {}", r["file"], r["findings"]));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
