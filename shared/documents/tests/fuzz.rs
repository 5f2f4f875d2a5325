//! Hostile input all the way through: valid marketplace orders and seller profiles, mutated
//! (wrong types, missing fields, extreme numbers, dates up to year 9999, long strings, control
//! characters, thousands of lines), then parsed, drafted and rendered. Never a panic: either a
//! named refusal (or parse error) with a reason, or documents that hold together — and a
//! sample of those goes through the official validation in one batch at the end.
//!
//! Cases: `MARKETBILL_FUZZ_CASES` (2,000 by default; `scripts/bench.sh` runs a longer pass).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use marketbill_documents::render;
use marketbill_domain::{IssueRequest, Order, SellerProfile, draft_invoice};
use marketbill_testkit::OrderGenerator;
use marketbill_testkit::sellers::sample_seller;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use time::macros::datetime;

/// One change to a JSON document: where (an index into its nodes) and what.
#[derive(Debug, Clone)]
enum Mutation {
    Remove(usize),
    Replace(usize, Value),
    Lines(usize),
}

fn hostile_values() -> Vec<Value> {
    let n = |t: &str| serde_json::from_str::<Value>(t).unwrap_or(Value::Null);
    vec![
        Value::Null,
        json!(true),
        json!([]),
        json!({}),
        json!(""),
        json!("   "),
        json!("x".repeat(10_000)),
        json!("a\u{0}b\r\nBcc: evil@example.com\u{7}\u{202e}"),
        json!("été 😀 中文 ﷽"),
        json!("9999-12-31T23:30:00Z"),
        json!("9999-12-31T23:30:00-05:00"),
        json!("0000-01-01T00:00:00+23:59"),
        json!("2026-02-30T10:00:00Z"),
        json!("-1"),
        n("0"),
        n("-0.01"),
        n("1e27"),
        n("1e-30"),
        n("0.000000001"),
        n("79228162514264337593543950335"),
        n("79228162514264337593543950335.9"),
        n("100000"),
        n("100001"),
        n("999999.99"),
        n("18446744073709551616"),
        n("3.14159265358979323846264338327950288"),
        json!("12,50"),
        json!("FR"),
        json!("XX"),
    ]
}

/// Every node's path in a JSON document, in a stable order.
fn paths(v: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                prefix.push(k.clone());
                out.push(prefix.clone());
                paths(x, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate().take(4) {
                prefix.push(i.to_string());
                out.push(prefix.clone());
                paths(x, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn apply(doc: &mut Value, m: &Mutation) {
    let mut all = Vec::new();
    paths(doc, &mut Vec::new(), &mut all);
    if all.is_empty() {
        return;
    }
    match m {
        Mutation::Lines(n) => {
            if let Some(lines) = doc.get_mut("lines").and_then(Value::as_array_mut)
                && let Some(first) = lines.first().cloned()
            {
                lines.clear();
                for i in 0..*n {
                    let mut l = first.clone();
                    if let Some(map) = l.as_object_mut() {
                        map.insert("orderLineId".into(), json!(i.to_string()));
                    }
                    lines.push(l);
                }
            }
        }
        Mutation::Remove(i) | Mutation::Replace(i, _) => {
            let path = &all[i % all.len()];
            let (last, parent_path) = path.split_last().unwrap_or((&path[0], &[]));
            let mut parent = &mut *doc;
            for p in parent_path {
                parent = match parent {
                    Value::Object(map) => map.get_mut(p).unwrap(),
                    Value::Array(items) => &mut items[p.parse::<usize>().unwrap()],
                    _ => return,
                };
            }
            match (parent, m) {
                (Value::Object(map), Mutation::Remove(_)) => {
                    map.remove(last);
                }
                (Value::Object(map), Mutation::Replace(_, v)) => {
                    map.insert(last.clone(), v.clone());
                }
                (Value::Array(items), Mutation::Remove(_)) => {
                    items.remove(last.parse::<usize>().unwrap());
                }
                (Value::Array(items), Mutation::Replace(_, v)) => {
                    items[last.parse::<usize>().unwrap()] = v.clone();
                }
                _ => {}
            }
        }
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let values = hostile_values();
    prop_oneof![
        3 => any::<usize>().prop_map(Mutation::Remove),
        6 => (any::<usize>(), 0..values.len()).prop_map(move |(i, v)| Mutation::Replace(i, values[v].clone())),
        1 => prop_oneof![Just(0usize), Just(1), Just(61), Just(1000), Just(1001), Just(3000)].prop_map(Mutation::Lines),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    seed: u64,
    seller: usize,
    business: bool,
    order_mutations: Vec<Mutation>,
    seller_mutations: Vec<Mutation>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<u64>(),
        0..5usize,
        any::<bool>(),
        prop::collection::vec(mutation(), 0..4),
        prop::collection::vec(mutation(), 0..2),
    )
        .prop_map(|(seed, seller, business, order_mutations, seller_mutations)| Case {
            seed,
            seller,
            business,
            order_mutations,
            seller_mutations,
        })
}

/// What one case led to.
enum Outcome {
    Refused,
    Issued(Box<marketbill_domain::Invoice>, marketbill_documents::Rendered),
}

fn run(c: &Case) -> Result<Outcome, TestCaseError> {
    let now = datetime!(2026-11-22 05:00 UTC);
    let Ok(seller) = sample_seller(c.seller, "12345") else { return Ok(Outcome::Refused) };
    let mut seller_json = serde_json::to_value(&seller).map_err(|e| TestCaseError::fail(e.to_string()))?;
    for m in &c.seller_mutations {
        apply(&mut seller_json, m);
    }
    let seller: SellerProfile = match serde_json::from_value(seller_json) {
        Ok(s) => s,
        Err(e) => {
            prop_assert!(!e.to_string().is_empty());
            return Ok(Outcome::Refused);
        }
    };
    let mut g = OrderGenerator::new(c.seed, "12345");
    g.max_lines = 4;
    let mut order_json = g.shipped(now, 48);
    if c.business {
        order_json["businessOrder"] = json!(true);
    }
    for m in &c.order_mutations {
        apply(&mut order_json, m);
    }
    let order = match Order::from_value(order_json) {
        Ok(o) => o,
        Err(e) => {
            prop_assert!(!e.reason.is_empty() && !e.field.is_empty(), "{e:?}");
            return Ok(Outcome::Refused);
        }
    };
    let draft = match draft_invoice(&IssueRequest { order: &order, seller: &seller, buyer_data: None, issued_at: now })
    {
        Ok(d) => d,
        Err(refusal) => {
            prop_assert!(!refusal.code().is_empty() && !refusal.to_string().is_empty());
            return Ok(Outcome::Refused);
        }
    };
    let number = draft.series.number(1).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let invoice = draft.finalize(number);
    let rendered = render(&invoice).map_err(|e| TestCaseError::fail(format!("an issued invoice must render: {e}")))?;
    // The documents hold together: XML that parses and states the invoice's totals, a whole PDF.
    let xml = std::str::from_utf8(&rendered.ubl).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let doc = roxmltree::Document::parse(xml).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let total = doc
        .descendants()
        .find(|n| n.tag_name().name() == "TaxInclusiveAmount")
        .and_then(|n| n.text())
        .unwrap_or_default()
        .to_owned();
    prop_assert_eq!(total, marketbill_domain::money::format_amount(invoice.body.totals.tax_inclusive));
    let lines: rust_decimal::Decimal = invoice.body.lines.iter().map(|l| l.net_amount).sum();
    prop_assert_eq!(lines, invoice.body.totals.line_net_total);
    prop_assert!(rendered.pdf.starts_with(b"%PDF-") && rendered.pdf.ends_with(b"%%EOF\n"));
    Ok(Outcome::Issued(Box::new(invoice), rendered))
}

#[test]
fn mutated_orders_and_profiles_never_panic_and_issue_only_valid_documents() {
    let cases: u32 = std::env::var("MARKETBILL_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sample: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    let counts = Mutex::new((0u32, 0u32));
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let result = runner.run(&case(), |c| {
        let outcome = run(&c)?;
        let mut n = counts.lock().unwrap();
        match outcome {
            Outcome::Refused => n.0 += 1,
            Outcome::Issued(inv, r) => {
                n.1 += 1;
                // Every 10th issued document, up to 40 files, goes to the official validation.
                let mut files = sample.lock().unwrap();
                if n.1 % 10 == 1 && files.len() < 40 {
                    let stem = dir.join(format!("case-{}-{}", n.1, inv.number.file_stem()));
                    let (pdf, xml) = (stem.with_extension("pdf"), stem.with_extension("xml"));
                    std::fs::write(&pdf, &r.pdf).unwrap();
                    std::fs::write(&xml, &r.ubl).unwrap();
                    files.push(pdf);
                    files.push(xml);
                }
            }
        }
        Ok(())
    });
    let (refused, issued) = *counts.lock().unwrap();
    eprintln!("fuzz: {} cases, {refused} refused or unreadable, {issued} issued", refused + issued);
    result.unwrap();
    assert_eq!(refused + issued, cases);
    assert!(issued > 0 && refused > 0, "both outcomes occur ({refused} refused, {issued} issued)");

    let files = sample.into_inner().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = Command::new("bash").arg(root.join("scripts/python-env.sh")).output().unwrap();
    assert!(venv.status.success(), "{}", String::from_utf8_lossy(&venv.stderr));
    let venv = PathBuf::from(String::from_utf8(venv.stdout).unwrap().trim());
    let out = Command::new(venv.join("bin/python"))
        .arg(root.join("tools/einvoice/validate.py"))
        .args(&files)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}
