//! Our rendering, timed document by document, and the same invoices written out as JSON for
//! the Python peers.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use marketbill_documents::{render_pdf, ubl::to_ubl};
use marketbill_testkit::invoices::sample_invoice;
use serde::{Deserialize, Serialize};

/// The figures of one invoice length.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderFigures {
    pub lines: usize,
    pub iterations: usize,
    /// Median of one Factur-X PDF (CII embedded) plus one UBL file.
    pub pdf_and_ubl_ms: f64,
    pub pdf_ms: f64,
    pub ubl_ms: f64,
    pub pdf_bytes: usize,
    pub ubl_bytes: usize,
    pub pages: usize,
}

pub fn median(mut samples: Vec<Duration>) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort();
    samples[samples.len() / 2]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn time_each<T>(iterations: usize, mut f: impl FnMut() -> Result<T>) -> Result<Duration> {
    for _ in 0..iterations.min(50) {
        std::hint::black_box(f()?);
    }
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        std::hint::black_box(f()?);
        samples.push(t.elapsed());
    }
    Ok(median(samples))
}

/// Times our renderers on a `lines`-line invoice and writes that invoice to `invoice_json`.
pub fn measure(lines: usize, iterations: usize, invoice_json: &Path) -> Result<RenderFigures> {
    let inv = sample_invoice(lines)?;
    std::fs::write(invoice_json, serde_json::to_vec_pretty(&inv)?)
        .with_context(|| format!("writing {}", invoice_json.display()))?;
    let pdf = render_pdf(&inv)?;
    let ubl = to_ubl(&inv);
    let pages = pdf.windows(10).filter(|w| w == b"/Type/Page").count()
        - pdf.windows(11).filter(|w| w == b"/Type/Pages").count();
    let both = time_each(iterations, || {
        let pdf = render_pdf(&inv)?;
        let ubl = to_ubl(&inv);
        Ok(pdf.len() + ubl.len())
    })?;
    let pdf_only = time_each(iterations, || Ok(render_pdf(&inv)?))?;
    let ubl_only = time_each(iterations, || Ok(to_ubl(&inv)))?;
    Ok(RenderFigures {
        lines,
        iterations,
        pdf_and_ubl_ms: ms(both),
        pdf_ms: ms(pdf_only),
        ubl_ms: ms(ubl_only),
        pdf_bytes: pdf.len(),
        ubl_bytes: ubl.len(),
        pages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_takes_the_middle_sample() {
        let d = |n| Duration::from_micros(n);
        assert_eq!(median(vec![d(5), d(1), d(9)]), d(5));
        assert_eq!(median(vec![]), Duration::ZERO);
    }

    #[test]
    fn measures_and_writes_the_invoice() {
        let dir = std::env::temp_dir().join(format!("mb-bench-render-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = measure(3, 5, &dir.join("inv.json")).unwrap();
        assert_eq!(f.pages, 1);
        assert!(f.pdf_bytes > 10_000 && f.ubl_bytes > 1_000);
        let back: marketbill_domain::Invoice =
            serde_json::from_slice(&std::fs::read(dir.join("inv.json")).unwrap()).unwrap();
        assert_eq!(back.body.lines.len(), 4, "3 goods lines and the shipping line");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
