//! Rendering cost and size per document: Factur-X PDF and UBL XML, for a 3-line and a 60-line
//! invoice. `cargo bench -p marketbill-documents` — figures go to the README, not to tests.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use marketbill_documents::{render_pdf, ubl::to_ubl};
use marketbill_domain::{Invoice, IssueRequest, Order, draft_invoice};
use marketbill_testkit::sellers::sample_seller;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use time::macros::datetime;

/// An order of `n` lines with mixed rates and shipping on the first line.
fn invoice(n: usize) -> Invoice {
    let titles = [
        "Théière en fonte émaillée 1,2 L — rouge",
        "Livre « Les Misérables » édition illustrée",
        "Chargeur USB-C 65 W GaN",
    ];
    let rates = ["20.0", "5.5", "10.0"];
    let mut total = Decimal::ZERO;
    let lines: Vec<Value> = (0..n)
        .map(|i| {
            let unit = Decimal::new(1999 + i as i64 * 101, 2);
            let ship = if i == 0 { Decimal::new(499, 2) } else { Decimal::ZERO };
            let qty = 1 + (i % 3) as i64;
            total += unit * Decimal::from(qty) + ship;
            json!({"orderLineId": (i + 1).to_string(), "status": "Shipped", "quantity": qty,
                   "offer": {"sellerProductId": format!("SKU-{i}"), "productTitle": titles[i % 3]},
                   "sellingPrice": {"unitSalesPrice": serde_json::from_str::<Value>(&unit.to_string()).unwrap(),
                                    "shippingCost": serde_json::from_str::<Value>(&ship.to_string()).unwrap(),
                                    "taxes": [{"rate": serde_json::from_str::<Value>(rates[i % 3]).unwrap()}]},
                   "shippingAddress": {"firstName": "Élodie", "lastName": "Durand", "addressLine1": "3 rue des Lilas",
                                       "postalCode": "69003", "city": "Lyon", "countryCode": "FR"}})
        })
        .collect();
    let order = Order::from_value(json!({
        "orderId": "2611211432ABCD", "status": "Shipped", "seller": {"id": "10000"},
        "purchasedAt": "2026-11-21T10:00:00Z", "updatedAt": "2026-11-21T18:00:00Z",
        "billingAddress": {"firstName": "Élodie", "lastName": "Durand", "addressLine1": "3 rue des Lilas",
                           "postalCode": "69003", "city": "Lyon", "countryCode": "FR"},
        "totalPrice": {"sellingPrice": serde_json::from_str::<Value>(&total.to_string()).unwrap()},
        "lines": lines
    }))
    .unwrap();
    let seller = sample_seller(0, "10000").unwrap();
    let draft = draft_invoice(&IssueRequest {
        order: &order,
        seller: &seller,
        buyer_data: None,
        issued_at: datetime!(2026-11-22 05:00 UTC),
    })
    .unwrap();
    let number = draft.series.number(1).unwrap();
    draft.finalize(number)
}

fn bench(c: &mut Criterion) {
    for n in [3usize, 60] {
        let inv = invoice(n);
        let pdf = render_pdf(&inv).unwrap();
        let ubl = to_ubl(&inv);
        println!(
            "{n}-line invoice: Factur-X PDF {} bytes ({} pages), UBL {} bytes",
            pdf.len(),
            pdf.windows(10).filter(|w| w == b"/Type /Pag").count() - 1,
            ubl.len()
        );
        c.bench_function(&format!("pdf_{n}_lines"), |b| b.iter(|| render_pdf(black_box(&inv)).unwrap()));
        c.bench_function(&format!("ubl_{n}_lines"), |b| b.iter(|| to_ubl(black_box(&inv))));
        c.bench_function(&format!("pdf_and_ubl_{n}_lines"), |b| {
            b.iter(|| {
                let pdf = render_pdf(black_box(&inv)).unwrap();
                let ubl = to_ubl(black_box(&inv));
                (pdf.len(), ubl.len())
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
