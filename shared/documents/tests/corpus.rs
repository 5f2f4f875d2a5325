//! The document corpus: 40+ invoices and credit notes covering every regime, B2C and B2B,
//! mixed rates, shipping, 1 to 65 lines, long accented titles and characters that need
//! escaping — all rendered, then validated in one batch by the official rules (UBL 2.1 XSD,
//! EN 16931 schematron, Factur-X XSD and schematron, PDF/A-3 container checks), and every
//! PDF's text checked for the mandatory mentions of its case and totals equal to the UBL's.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use marketbill_documents::font::{family, printable};
use marketbill_documents::render;
use marketbill_domain::buyer::{BuyerAddress, BuyerBillingData, BuyerKind, TaxNumber};
use marketbill_domain::calendar::local_date;
use marketbill_domain::invoice::LineKind;
use marketbill_domain::money::format_euros_fr;
use marketbill_domain::seller::{Language, StockLocation};
use marketbill_domain::{DocumentKind, Invoice, IssueRequest, Order, SellerProfile, draft_invoice};
use marketbill_testkit::sellers::sample_seller;
use marketbill_testkit::{OrderGenerator, OrderMix};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-11-22 05:00 UTC);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn company(tax: &str) -> BuyerBillingData {
    BuyerBillingData {
        kind: BuyerKind::Company,
        name: "Atelier Durand & Fils <SARL>".into(),
        tax_number: Some(TaxNumber::parse(tax).unwrap()),
        address: BuyerAddress {
            line1: "8 avenue Foch".into(),
            line2: Some("Bâtiment « B »".into()),
            postal_code: "75016".into(),
            city: "Paris".into(),
            country_code: "FR".parse().unwrap(),
        },
    }
}

fn issue(order: &Order, seller: &SellerProfile, buyer: Option<&BuyerBillingData>, n: u64) -> Invoice {
    let draft = draft_invoice(&IssueRequest { order, seller, buyer_data: buyer, issued_at: NOW })
        .unwrap_or_else(|r| panic!("order {} refused: {r}", order.order_id));
    let number = draft.series.number(n).unwrap();
    draft.finalize(number)
}

/// A long order: 65 lines, every French rate, quantities > 1, long titles.
fn long_order(seller_id: &str) -> Order {
    let titles = [
        "Coffret « Grand Cru » — 6 bouteilles & étui en chêne <édition limitée>",
        "Livre : L'Étranger, Albert Camus — poche",
        "Médicament remboursé (boîte de 30)",
        "Quotidien Le Monde — abonnement papier",
        "Câble HDMI 2.1 8K @ 60 Hz",
    ];
    let rates = ["20.0", "5.5", "2.1", "2.1", "10.0"];
    let mut total = Decimal::ZERO;
    let lines: Vec<Value> = (0..65)
        .map(|i| {
            let qty = 1 + (i % 4) as i64;
            let unit = Decimal::new(199 + (i as i64) * 137, 2);
            let ship = if i % 7 == 0 { Decimal::new(349, 2) } else { Decimal::ZERO };
            let line_total = unit * Decimal::from(qty) + ship;
            total += line_total;
            json!({
                "orderLineId": (i + 1).to_string(), "status": "Shipped", "quantity": qty,
                "offer": {"sellerProductId": format!("SKU-{i:03}"), "productTitle": format!("{} n°{}", titles[i % 5], i + 1)},
                "sellingPrice": {"unitSalesPrice": serde_json::from_str::<Value>(&unit.to_string()).unwrap(),
                                 "shippingCost": serde_json::from_str::<Value>(&ship.to_string()).unwrap(),
                                 "taxes": [{"code": "VAT", "rate": serde_json::from_str::<Value>(rates[i % 5]).unwrap()}]},
                "shippingAddress": {"firstName": "Zoé", "lastName": "N'Diaye", "addressLine1": "5 chemin des Écoliers",
                                    "postalCode": "31000", "city": "Toulouse", "countryCode": "FR"}
            })
        })
        .collect();
    Order::from_value(json!({
        "orderId": "2611220001LONG", "status": "Shipped", "seller": {"id": seller_id}, "currencyCode": "EUR",
        "purchasedAt": "2026-11-20T08:00:00Z", "updatedAt": "2026-11-21T08:00:00Z",
        "billingAddress": {"firstName": "Zoé", "lastName": "N'Diaye", "addressLine1": "5 chemin des Écoliers",
                           "postalCode": "31000", "city": "Toulouse", "countryCode": "FR"},
        "totalPrice": {"sellingPrice": serde_json::from_str::<Value>(&total.to_string()).unwrap()},
        "lines": lines
    }))
    .unwrap()
}

fn corpus() -> Vec<Invoice> {
    let mut docs = Vec::new();
    let mut counters: BTreeMap<String, u64> = BTreeMap::new();
    let mut next = |series: &str| {
        let c = counters.entry(series.to_owned()).or_default();
        *c += 1;
        *c
    };
    let seller_ids = ["10000", "10001", "10002", "10003", "10004"];
    let mut originals = Vec::new();
    for (k, id) in seller_ids.iter().enumerate() {
        let seller = sample_seller(k, id).unwrap();
        let mut g = OrderGenerator::new(7 + k as u64, id);
        g.max_lines = 8;
        let mut issued = 0;
        for value in g.batch(OrderMix { shipped: 12, not_shipped: 0, abroad: 0 }, NOW) {
            let order = Order::from_value(value).unwrap();
            let Ok(draft) =
                draft_invoice(&IssueRequest { order: &order, seller: &seller, buyer_data: None, issued_at: NOW })
            else {
                continue;
            };
            let n = next(&draft.series.key());
            docs.push(draft.finalize(draft_series_number(&seller, n)));
            issued += 1;
            if issued == 7 {
                break;
            }
        }
        originals.push(docs.len() - 1);
    }

    // B2B: French seller to a French company (VAT and SIREN), German seller exempt intra-EU,
    // German seller from fulfilment: reverse charge.
    let fr = sample_seller(0, "10000").unwrap();
    let de = sample_seller(1, "10001").unwrap();
    let mut g = OrderGenerator::new(99, "10000");
    let o = Order::from_value(g.shipped(NOW, 24)).unwrap();
    docs.push(issue(&o, &fr, Some(&company("FR40303265045")), 100));
    let o = Order::from_value(g.shipped(NOW, 24)).unwrap();
    docs.push(issue(&o, &fr, Some(&company("303265045")), 101));
    let mut g = OrderGenerator::new(98, "10001");
    let mut value = g.shipped(NOW, 24);
    for l in value["lines"].as_array_mut().unwrap() {
        l["offer"]["supplyMode"] = "Seller".into();
    }
    let o = Order::from_value(value).unwrap();
    docs.push(issue(&o, &de, Some(&company("FR40303265045")), 100));
    let mut value = g.shipped(NOW, 24);
    for l in value["lines"].as_array_mut().unwrap() {
        l["offer"]["supplyMode"] = "Fulfillment".into();
    }
    let o = Order::from_value(value).unwrap();
    docs.push(issue(&o, &de, Some(&company("FR40303265045")), 101));
    // The French seller's invoice to a company known by its SIREN gets a credit note below.
    let b2b_credited = docs.len() - 3;
    // The addresses the e-invoicing directory gives the seller and the buyer (BT-34, BT-49),
    // not their bare SIRENs.
    let o = Order::from_value(OrderGenerator::new(97, "10000").shipped(NOW, 24)).unwrap();
    let seller_address = format!("{}_FACTURES", fr.siren.as_ref().unwrap().as_str());
    let draft = draft_invoice(&IssueRequest {
        order: &o,
        seller: &fr,
        buyer_data: Some(&company("303265045")),
        issued_at: NOW,
    })
    .unwrap()
    .with_electronic_addresses(Some(&seller_address), Some("303265045_ACHATS"));
    assert_eq!(draft.body.buyer.electronic_address.as_deref(), Some("303265045_ACHATS"));
    // An address that is not the party's (another SIREN) or not allowed (spaces, markup, too
    // long) is not taken: the SIREN stays the address.
    let mut bare = draft.clone();
    bare.body.buyer.electronic_address = None;
    bare.body.seller.electronic_address = None;
    for (seller, buyer) in [
        ("999999999_X", "303265045 <x>"),
        ("", "732829320_ACHATS"),
        (&*"9".repeat(130), &*format!("303265045{}", "A".repeat(120))),
    ] {
        let kept = bare.clone().with_electronic_addresses(Some(seller), Some(buyer));
        assert_eq!((kept.body.seller.electronic_address, kept.body.buyer.electronic_address), (None, None));
    }
    assert_eq!(draft.body.seller.electronic_address.as_deref(), Some(seller_address.as_str()));
    docs.push(draft.finalize(draft_series_number(&fr, 102)));

    // 65 lines over several pages, in French and in English.
    docs.push(issue(&long_order("10000"), &fr, None, 200));
    let mut en = fr.clone();
    en.language = Language::En;
    docs.push(issue(&long_order("10000"), &en, None, 201));

    // Labels in each other language, and a credit note in German (long labels, `BW-AV…`).
    for (k, lang) in [(1, Language::De), (3, Language::Es), (3, Language::It), (4, Language::Nl), (0, Language::Pl)] {
        let id = format!("1000{k}");
        let mut seller = sample_seller(k, &id).unwrap();
        seller.language = lang;
        let mut g = OrderGenerator::new(120 + k as u64, &id);
        let o = Order::from_value(g.shipped(NOW, 24)).unwrap();
        let inv = issue(&o, &seller, None, 400 + k as u64);
        if lang == Language::De {
            let draft = inv.credit_note(&seller, NOW, "Rücksendung");
            let number = draft.series.number(400).unwrap();
            docs.push(draft.finalize(number));
        }
        docs.push(inv);
    }

    // A German seller selling from French stock (domestic French sale).
    let mut de_fr = de.clone();
    de_fr.stock_location = StockLocation::France;
    let mut g = OrderGenerator::new(97, "10001");
    let o = Order::from_value(g.shipped(NOW, 24)).unwrap();
    docs.push(issue(&o, &de_fr, None, 300));

    // Credit notes: one per sample seller, and one for a B2B invoice.
    for &i in originals.iter().chain([b2b_credited].iter()) {
        let original = docs[i].clone();
        let seller = sellers_by_legal_name(&original.body.seller.legal_name);
        let draft = original.credit_note(&seller, NOW, "données de facturation corrigées à la demande de l'acheteur");
        let n = next(&draft.series.key());
        let number = draft.series.number(n).unwrap();
        docs.push(draft.finalize(number));
    }

    // A corrected invoice (a buyer's request): it replaces the B2B invoice credited above.
    {
        let original = docs[b2b_credited].clone();
        let draft = marketbill_domain::Draft {
            kind: DocumentKind::Invoice,
            issue_date: original.issue_date,
            series: marketbill_domain::Series::new(
                sellers_by_legal_name(&original.body.seller.legal_name).invoice_prefix.clone(),
                original.issue_date.year(),
            ),
            body: original.body.clone(),
        }
        .replacing(&original);
        let n = next(&draft.series.key());
        let number = draft.series.number(n).unwrap();
        docs.push(draft.finalize(number));
    }

    // Partial credit notes: units of one line, part of the shipping with a gesture, then the
    // remainder, against the invoices of two sellers.
    use marketbill_domain::credit::{CreditItem, Credited};
    for &i in &originals[..2] {
        let original = docs[i].clone();
        let seller = sellers_by_legal_name(&original.body.seller.legal_name);
        let b = &original.body;
        let goods = b.lines.iter().find(|l| l.kind == marketbill_domain::invoice::LineKind::Goods).unwrap();
        let mut asks = vec![vec![CreditItem::Units { line: goods.id, quantity: Decimal::ONE }]];
        let mut second = vec![CreditItem::Gesture { rate: goods.vat_rate, amount: Decimal::new(150, 2) }];
        if let Some(ship) = b.lines.iter().find(|l| l.kind == marketbill_domain::invoice::LineKind::Shipping) {
            second.push(CreditItem::Shipping { line: ship.id, amount: ship.gross_amount / Decimal::TWO });
        }
        asks.push(second);
        asks.push(vec![CreditItem::Remainder]);
        let mut credited = Credited::default();
        for items in asks {
            let Ok((draft, after)) = original.credit(&seller, NOW, &items, "retour partiel", &credited) else {
                continue;
            };
            let n = next(&draft.series.key());
            let number = draft.series.number(n).unwrap();
            docs.push(draft.finalize(number));
            credited = after;
        }
    }
    // Marketbill's own fee invoices for November, in the operator's series: to a French seller
    // (French VAT, per-invoice plan) and to a German one (reverse charge, tiers).
    let operator = marketbill_domain::fee_invoice::bundled_operator().unwrap();
    let plans = marketbill_domain::FeePlans::bundled();
    for (k, plan, this_month, previous) in
        [(0, marketbill_domain::PlanKind::PerInvoice, 137, 90), (1, marketbill_domain::PlanKind::Tiered, 40, 230)]
    {
        let customer = sample_seller(k, seller_ids[k]).unwrap();
        let fee = plans.monthly_fee(plan, this_month, previous);
        let draft =
            marketbill_domain::fee_invoice::draft_fee_invoice(&marketbill_domain::fee_invoice::FeeInvoiceRequest {
                operator: &operator,
                customer: &customer,
                customer_id: seller_ids[k],
                month: marketbill_domain::calendar::YearMonth::new(2026, time::Month::November),
                fee: &fee,
                issued_at: time::macros::datetime!(2026-12-01 06:00 UTC),
            })
            .unwrap();
        let n = next(&draft.series.key());
        let number = draft.series.number(n).unwrap();
        docs.push(draft.finalize(number));
    }
    docs
}

fn draft_series_number(seller: &SellerProfile, n: u64) -> marketbill_domain::InvoiceNumber {
    marketbill_domain::Series::new(seller.invoice_prefix.clone(), 2026).number(n).unwrap()
}

fn sellers_by_legal_name(name: &str) -> SellerProfile {
    (0..5).map(|k| sample_seller(k, "1").unwrap()).find(|s| s.legal_name == name).unwrap()
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What the PDF text must contain for this document.
fn expected_mentions(inv: &Invoice, ubl: &[u8]) -> Vec<String> {
    let b = &inv.body;
    let f = family().unwrap();
    let p = |s: &str| printable(&f.regular, s);
    let mut m = vec![
        p(&b.seller.legal_name),
        p(&b.seller.address.city),
        inv.number.to_string(),
        local_date(b.language, inv.issue_date),
        local_date(b.language, b.delivery_date),
        b.order_id.to_string(),
        p(&b.buyer.name),
        p(&b.buyer.address.lines[0]),
        format!("{} 1 /", marketbill_documents::labels::for_language(b.language).page),
    ];
    if let Some(v) = &b.seller.vat_number {
        m.push(v.to_string());
    }
    // Each identifier once: in the header, or in the footer's legal mentions.
    if let Some(s) = &b.seller.siren {
        m.push(s.to_string());
    }
    if let Some(s) = &b.seller.siret {
        m.push(format!("SIRET {s}"));
    }
    m.push(b.seller.legal_form_line());
    if let Some(d) = &b.delivery {
        m.push(p(&d.address.lines[0]));
    }
    for l in &b.lines {
        m.push(p(&l.description));
    }
    for g in &b.vat_breakdown {
        m.push(g.rate.to_french());
    }
    m.push(b.payment.terms.clone());
    for n in &b.notes {
        m.push(p(&n.text));
        // A document in another language says its mentions in that language too.
        if b.language != Language::Fr {
            for french in
                ["opération", "guichet unique", "Pénalités", "Indemnité", "escompte", "Avoir ", "rectificative"]
            {
                assert!(
                    !n.text.contains(french),
                    "{}: French mention on a {:?} document: {}",
                    inv.number,
                    b.language,
                    n.text
                );
            }
        }
    }
    if let Some(v) = &b.buyer.vat_number {
        m.push(v.to_string());
    }
    if let Some(s) = &b.buyer.siren {
        m.push(s.to_string());
    }
    let labels = marketbill_documents::labels::for_language(b.language);
    match &inv.kind {
        DocumentKind::Invoice => {
            m.push(labels.invoice.into());
            // A corrected invoice names the one it replaces.
            if let Some(r) = &b.replaces {
                m.push(labels.replaces.into());
                m.push(format!("{} {} {}", r.number, labels.of_date, local_date(b.language, r.issue_date)));
            }
        }
        DocumentKind::CreditNote { corrects } => {
            m.push(labels.credit_note.into());
            // A partial credit note says so; a whole one cancels the invoice.
            m.push(if corrects.partial { labels.corrects_part } else { labels.corrects }.into());
            m.push(format!("{} {} {}", corrects.number, labels.of_date, local_date(b.language, corrects.issue_date)));
        }
    }
    // What is due and where to pay it.
    if let Some(due) = b.payment.due_date {
        m.push(labels.due_date.into());
        m.push(local_date(b.language, due));
    }
    // Unit prices with their currency.
    for l in b.lines.iter().take(3) {
        assert!(l.unit_price_net >= Decimal::ZERO);
    }
    if !b.lines.is_empty() {
        m.push("\u{a0}€".into());
    }
    // Totals as the UBL states them.
    let xml = std::str::from_utf8(ubl).unwrap();
    let doc = roxmltree::Document::parse(xml).unwrap();
    let total = |name: &str| -> Decimal {
        let node = doc
            .descendants()
            .find(|n| n.tag_name().name() == "LegalMonetaryTotal")
            .unwrap()
            .children()
            .find(|n| n.tag_name().name() == name)
            .unwrap();
        node.text().unwrap().parse().unwrap()
    };
    for name in ["TaxExclusiveAmount", "TaxInclusiveAmount", "PayableAmount"] {
        m.push(format_euros_fr(total(name)));
    }
    let vat: Decimal = doc
        .descendants()
        .find(|n| n.tag_name().name() == "TaxTotal")
        .and_then(|n| n.children().find(|c| c.tag_name().name() == "TaxAmount"))
        .and_then(|n| n.text())
        .unwrap()
        .parse()
        .unwrap();
    m.push(format_euros_fr(vat));
    m.into_iter().map(|s| collapse(&s)).collect()
}

trait LegalFormLine {
    fn legal_form_line(&self) -> String;
}

impl LegalFormLine for marketbill_domain::invoice::SellerParty {
    /// The legal mentions (legal form, capital, RCS) as printed.
    fn legal_form_line(&self) -> String {
        self.legal_mentions.clone()
    }
}

/// The French CTC rules that do not bind a document, so may stay flagged on it:
/// - a seller not established in France has no e-invoicing duty there: no SIREN (BR-FR-10),
///   its own country's VAT rates (BR-FR-16), and the rules below;
/// - a sale to a consumer is e-reported, not e-invoiced: the consumer has no electronic address
///   (BR-FR-12), and the late-payment and discount mentions are those of sales between
///   businesses (BR-FR-05).
///
/// A French seller's document to a business whose SIREN is known must pass every rule.
fn french_rules_that_do_not_apply(inv: &Invoice) -> Vec<&'static str> {
    let b = &inv.body;
    let established_in_france = b.seller.siren.is_some() && b.seller.address.country.is_france();
    let mut allowed = Vec::new();
    if !established_in_france {
        allowed.extend(["BR-FR-10_", "BR-FR-16_", "BR-FR-05_", "BR-FR-12_"]);
    }
    if !b.business || b.buyer.known_siren().is_none() {
        allowed.extend(["BR-FR-05_", "BR-FR-12_"]);
    }
    allowed
}

#[test]
fn every_document_of_the_corpus_passes_the_official_rules_and_shows_its_mentions() {
    let docs = corpus();
    assert!(docs.len() >= 40, "corpus has {} documents", docs.len());
    let kinds: Vec<_> = docs.iter().map(|d| d.body.regime).collect();
    for regime in ["FrenchVat", "Oss", "HomeCountry", "IntraEuExempt", "ReverseCharge", "Franchise"] {
        assert!(kinds.iter().any(|k| format!("{k:?}").starts_with(regime)), "no {regime} in the corpus");
    }
    assert!(docs.iter().any(|d| d.kind.is_credit_note()));
    assert!(docs.iter().any(|d| d.body.lines.len() >= 60));
    assert!(docs.iter().any(|d| d.body.business) && docs.iter().any(|d| !d.body.business));
    assert!(docs.iter().any(|d| d.body.vat_breakdown.len() > 1));
    assert!(docs.iter().any(|d| d.body.lines.iter().all(|l| l.kind == LineKind::Service)), "fee invoices");

    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-corpus/documents");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // The French CTC rules (BR-FR) each file may still break, and why (README, "The documents").
    let mut fr_allowed: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for inv in &docs {
        let r = render(inv).unwrap();
        let stem = format!(
            "{}-{}",
            inv.body.seller.legal_name.chars().filter(char::is_ascii_alphanumeric).collect::<String>(),
            inv.number
        );
        let pdf = dir.join(format!("{stem}.pdf"));
        let xml = dir.join(format!("{stem}.xml"));
        std::fs::write(&pdf, &r.pdf).unwrap();
        std::fs::write(&xml, &r.ubl).unwrap();
        expected.insert(pdf.display().to_string(), expected_mentions(inv, &r.ubl));
        let allowed = french_rules_that_do_not_apply(inv);
        fr_allowed.insert(pdf.display().to_string(), allowed.clone());
        fr_allowed.insert(xml.display().to_string(), allowed);
        files.push(pdf);
        files.push(xml);
    }

    let root = workspace_root();
    let venv =
        Command::new("bash").arg(root.join("scripts/python-env.sh")).output().expect("run scripts/python-env.sh");
    assert!(venv.status.success(), "cannot prepare the Python tools: {}", String::from_utf8_lossy(&venv.stderr));
    let venv = PathBuf::from(String::from_utf8(venv.stdout).unwrap().trim());
    let out = Command::new(venv.join("bin/python"))
        .arg(root.join("tools/einvoice/validate.py"))
        .arg("--json")
        .arg("--fr")
        .args(&files)
        .output()
        .expect("run the validator");
    let results: Vec<Value> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("validator output: {e}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(results.len(), files.len());

    let mut failures = Vec::new();
    for r in &results {
        let file = r["file"].as_str().unwrap();
        let errors: Vec<&Value> =
            r["findings"].as_array().unwrap().iter().filter(|f| f["severity"] == "error").collect();
        if !errors.is_empty() || r["valid"] != true {
            failures.push(format!("{file}: {}", serde_json::to_string(&errors).unwrap()));
        }
        for f in r["frFindings"].as_array().unwrap() {
            let rule = f["rule"].as_str().unwrap();
            if f["severity"] == "error" && !fr_allowed[file].iter().any(|prefix| rule.starts_with(prefix)) {
                failures.push(format!("{file}: French CTC rule {rule}: {}", f["message"]));
            }
        }
        if let Some(text) = r["text"].as_str() {
            let text = collapse(text);
            for mention in &expected[file] {
                if !text.contains(mention.as_str()) {
                    failures.push(format!("{file}: the page text lacks {mention:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} problems:\n{}", failures.len(), failures.join("\n"));
    let french_b2b = docs.iter().filter(|d| french_rules_that_do_not_apply(d).is_empty()).count();
    assert!(french_b2b >= 3, "the corpus has {french_b2b} documents bound by every French rule");
    println!("{} documents ({} files) valid", docs.len(), files.len());
}

#[test]
fn rendering_the_same_invoice_twice_gives_identical_bytes() {
    let seller = sample_seller(0, "10000").unwrap();
    let invoice = issue(&long_order("10000"), &seller, None, 1);
    let a = render(&invoice).unwrap();
    // Render other documents in between: nothing global may leak into the bytes.
    let mut g = OrderGenerator::new(3, "10000");
    for _ in 0..5 {
        let o = Order::from_value(g.shipped(NOW, 24)).unwrap();
        let _ = render(&issue(&o, &seller, None, 9)).unwrap();
    }
    let b = render(&invoice).unwrap();
    assert_eq!(a.pdf, b.pdf);
    assert_eq!(a.ubl, b.ubl);
}

#[test]
fn a_long_order_flows_over_pages() {
    let seller = sample_seller(0, "10000").unwrap();
    let invoice = issue(&long_order("10000"), &seller, None, 1);
    let pages = marketbill_documents::layout::layout(&invoice, family().unwrap());
    assert!(pages.len() >= 3, "{} pages", pages.len());
    // The table header is repeated on every page that holds lines.
    let headers = pages
        .iter()
        .filter(|p| {
            p.iter()
                .any(|d| matches!(d, marketbill_documents::layout::Draw::Text { text, .. } if text == "Désignation"))
        })
        .count();
    assert!(headers >= pages.len() - 1, "{headers} headers on {} pages", pages.len());
    // Nothing is drawn into the footer area except the footer.
    for page in &pages {
        for d in page {
            if let marketbill_documents::layout::Draw::Text { y, size, .. } = d {
                assert!(*y >= 60.0 || *size <= 7.5, "text at y={y}");
            }
        }
    }
}
