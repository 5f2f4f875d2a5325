//! The Lambda functions' start-up: time from process start to the first `next` call, memory
//! at that point, binary and zip sizes.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::render::{median, ms};
use crate::runs::{FunctionEnv, function_env};
use crate::runtime::Function;

pub const FUNCTIONS: [(&str, u32); 4] =
    [("scheduler", 128), ("seller-run", 256), ("import-tracker", 128), ("portal-api", 128)];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartFigures {
    pub function: String,
    pub runs: usize,
    pub ready_median_ms: f64,
    pub ready_min_ms: f64,
    pub ready_max_ms: f64,
    /// Resident memory when ready.
    pub rss_at_ready_mib: f64,
    pub binary_bytes: u64,
    /// The binary as `bootstrap` in a deflated zip, as Lambda takes it.
    pub zip_bytes: u64,
}

/// The deployment package: the binary as `bootstrap`, deflated.
pub fn zip_size(binary: &Path) -> Result<u64> {
    let bytes = std::fs::read(binary).with_context(|| format!("reading {}", binary.display()))?;
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut out);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o755);
        z.start_file("bootstrap", opts)?;
        z.write_all(&bytes)?;
        z.finish()?;
    }
    Ok(out.into_inner().len() as u64)
}

/// Starts `function` `runs` times; nothing it can reach is needed before its first event.
pub async fn measure(bins: &Path, function: &str, memory_mb: u32, runs: usize, work: &Path) -> Result<StartFigures> {
    let binary = bins.join(function);
    // Names only: start-up must not call AWS or the marketplace (a closed port proves it).
    let env = function_env(&FunctionEnv {
        table: "mb-bench".into(),
        queue_url: "http://127.0.0.1:9/queue/mb-bench".into(),
        key_id: "alias/mb-bench".into(),
        api_base: "http://127.0.0.1:9/seller/v2".into(),
        auth_base: "http://127.0.0.1:9".into(),
        aws_endpoint: "http://127.0.0.1:9".into(),
    });
    let mut samples = Vec::with_capacity(runs);
    let mut rss = Vec::with_capacity(runs);
    let log = work.join(format!("{function}-start.log"));
    for _ in 0..runs {
        let mut f = Function::start(&binary, &env, memory_mb, &log).await?;
        samples.push(f.ready(Duration::from_secs(10)).await?);
        rss.push(f.rss_kib().unwrap_or(0));
        f.stop().await;
    }
    rss.sort_unstable();
    let binary_bytes = std::fs::metadata(&binary)?.len();
    Ok(StartFigures {
        function: function.into(),
        runs,
        ready_median_ms: ms(median(samples.clone())),
        ready_min_ms: ms(samples.iter().min().copied().unwrap_or_default()),
        ready_max_ms: ms(samples.iter().max().copied().unwrap_or_default()),
        rss_at_ready_mib: rss.get(rss.len() / 2).copied().unwrap_or(0) as f64 / 1024.0,
        binary_bytes,
        zip_bytes: zip_size(&binary)?,
    })
}
