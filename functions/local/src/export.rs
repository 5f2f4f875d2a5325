//! `marketbill export`: the sales journal of a period (FEC or CSV) from the data folder.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use marketbill_app::model::SellerId;
use marketbill_app::portal;
use marketbill_octopia::{OctopiaClient, OctopiaConfig, OctopiaMarketplace};

use crate::local;

#[derive(Debug, clap::Args)]
pub struct ExportOptions {
    #[arg(long, default_value = "./marketbill-data")]
    pub data_dir: PathBuf,
    #[arg(long)]
    pub seller: String,
    /// fec or csv.
    #[arg(long)]
    pub format: String,
    /// The month, YYYY-MM.
    #[arg(long)]
    pub period: String,
    /// Folder the file is written to.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
}

/// The first and last day of a month written `YYYY-MM`.
fn month(period: &str) -> Result<(time::Date, time::Date)> {
    let (y, m) = period.split_once('-').with_context(|| format!("--period is YYYY-MM, got {period:?}"))?;
    let year: i32 = y.parse().with_context(|| format!("--period {period:?}: not a year"))?;
    let month: u8 = m.parse().with_context(|| format!("--period {period:?}: not a month"))?;
    let month = time::Month::try_from(month).with_context(|| format!("--period {period:?}: not a month"))?;
    let first = time::Date::from_calendar_date(year, month, 1).with_context(|| format!("--period {period:?}"))?;
    let last = time::Date::from_calendar_date(year, month, month.length(year))?;
    Ok((first, last))
}

pub fn run(o: &ExportOptions) -> Result<PathBuf> {
    let (from, to) = month(&o.period)?;
    let seller: SellerId = o.seller.parse()?;
    if !matches!(o.format.as_str(), "fec" | "csv") {
        bail!("--format is fec or csv (the e-reporting file is not built yet)");
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        // The journal reads the ledger only; no marketplace call is made.
        let client = OctopiaClient::new(OctopiaConfig::new("http://127.0.0.1:9", "http://127.0.0.1:9"))?;
        let marketplace = Arc::new(OctopiaMarketplace::new(Arc::new(client)));
        let (services, _) = local::services(&o.data_dir, marketplace, "factures@marketbill.example")?;
        let file = portal::journal_file(&services, &seller, &o.format, from, to)
            .await
            .map_err(|e| anyhow::anyhow!("no journal for seller {seller}: {e:?}"))?;
        std::fs::create_dir_all(&o.out).with_context(|| format!("creating {}", o.out.display()))?;
        let path = o.out.join(&file.name);
        std::fs::write(&path, file.body).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    })
}
