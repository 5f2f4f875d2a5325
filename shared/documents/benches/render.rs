//! Rendering cost and size per document: Factur-X PDF and UBL XML, for a 3-line and a 60-line
//! invoice. `cargo bench -p marketbill-documents` — figures go to the README, not to tests.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use marketbill_documents::{render_pdf, ubl::to_ubl};
use marketbill_testkit::invoices::sample_invoice;

fn bench(c: &mut Criterion) {
    for n in [3usize, 60] {
        let inv = sample_invoice(n).unwrap();
        let pdf = render_pdf(&inv).unwrap();
        let ubl = to_ubl(&inv);
        eprintln!(
            "{n}-line invoice: Factur-X PDF {} bytes ({} pages), UBL {} bytes",
            pdf.len(),
            // lopdf writes names without a space: every `/Type/Page`, less the one `/Type/Pages`.
            pdf.windows(10).filter(|w| w == b"/Type/Page").count().saturating_sub(1),
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
