//! `marketbill export`: the sales journal of a period (FEC or CSV) or its e-reporting data
//! (XML or JSON) from the data folder.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use marketbill_app::model::SellerId;
use marketbill_octopia::{OctopiaClient, OctopiaConfig, OctopiaMarketplace};

use crate::local;

#[derive(Debug, clap::Args)]
pub struct ExportOptions {
    #[arg(long, default_value = "./marketbill-data")]
    pub data_dir: PathBuf,
    #[arg(long)]
    pub seller: String,
    /// fec, csv, ereporting (XML) or ereporting-json.
    #[arg(long)]
    pub format: String,
    /// The period: a month (YYYY-MM), a ten-day period (YYYY-MM-D1, -D2, -D3) or two months
    /// (YYYY-MM+1).
    #[arg(long)]
    pub period: String,
    /// The journal's accounts as JSON (keys journalCode, journalLabel, customer, customerAux,
    /// customerAuxLabel, sales, vat; a key left out keeps its default).
    #[arg(long)]
    pub accounts: Option<PathBuf>,
    /// Folder the file is written to.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
}

pub fn run(o: &ExportOptions) -> Result<PathBuf> {
    let period = marketbill_domain::reporting::ReportingPeriod::parse(&o.period).context("--period")?;
    let (from, to) = (period.start, period.end);
    let seller: SellerId = o.seller.parse()?;
    if !matches!(o.format.as_str(), "fec" | "csv" | "ereporting" | "ereporting-json") {
        bail!("--format is fec, csv, ereporting or ereporting-json");
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        // The journal reads the ledger only; no marketplace call is made.
        let client = OctopiaClient::new(OctopiaConfig::new("http://127.0.0.1:9", "http://127.0.0.1:9"))?;
        let marketplace = Arc::new(OctopiaMarketplace::new(Arc::new(client)));
        let (mut services, _) = local::services(&o.data_dir, marketplace, "factures@marketbill.example")?;
        if let Some(path) = &o.accounts {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            services.settings.accounts = marketbill_app::accounting::Accounts::from_json(&text)
                .with_context(|| format!("--accounts {}", path.display()))?;
        }
        let file = services
            .documents()
            .journal_file(&services.settings.accounts, &seller, &o.format, from, to)
            .await
            .map_err(|e| anyhow::anyhow!("no journal for seller {seller}: {e:?}"))?;
        std::fs::create_dir_all(&o.out).with_context(|| format!("creating {}", o.out.display()))?;
        let path = o.out.join(&file.name);
        std::fs::write(&path, file.body).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    })
}
