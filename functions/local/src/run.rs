//! `marketbill run --config FILE`: one scheduled cycle against configured marketplace URLs
//! (the real API or a simulator) on the embedded adapters.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use marketbill_app::marketplace::MarketplaceCredentials;
use marketbill_app::model::SellerId;
use marketbill_domain::SellerProfile;
use marketbill_octopia::{OctopiaClient, OctopiaConfig, OctopiaMarketplace};
use serde::Deserialize;

use crate::local;

/// The configuration file (JSON).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunConfig {
    /// Data folder (ledger, documents, outbox, key); relative to the file.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// `https://api.octopia-io.net/seller/v2`, or a simulator's `apiBase`.
    pub api_base: String,
    /// `https://auth.octopia-io.net`, or a simulator's `authBase`.
    pub auth_base: String,
    #[serde(default = "default_sender")]
    pub sender: String,
    /// Sellers to register (or update) before the cycle; those already in the data folder
    /// (signed up in the space) run too.
    #[serde(default)]
    pub sellers: Vec<SellerConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SellerConfig {
    pub id: String,
    pub profile: SellerProfile,
    pub credentials: MarketplaceCredentials,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("marketbill-data")
}

fn default_sender() -> String {
    "factures@marketbill.example".into()
}

pub fn run(config_path: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(config_path).with_context(|| format!("cannot read {}", config_path.display()))?;
    let config: RunConfig = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid configuration", config_path.display()))?;
    let base = config_path.parent().unwrap_or(Path::new("."));
    let data_dir = if config.data_dir.is_absolute() { config.data_dir.clone() } else { base.join(&config.data_dir) };
    // One thread, as in the Lambda functions: the run is sequential, and threads only add hand-offs.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let client = OctopiaClient::new(OctopiaConfig::new(&config.api_base, &config.auth_base))?;
        let marketplace = Arc::new(OctopiaMarketplace::new(Arc::new(client)));
        let (services, layout) = local::services(&data_dir, marketplace, &config.sender)?;
        let now = time::OffsetDateTime::now_utc();
        // The file is the operator's: a seller of it that cannot be registered (credentials
        // refused, a bad id) stops the command before any run, with its id. Sellers already in
        // the data folder (signed up in the space) are run too, each on its own.
        for s in &config.sellers {
            let id: SellerId = s.id.parse()?;
            services
                .account()
                .register(&id, s.profile.clone(), Some(&s.credentials), now)
                .await
                .with_context(|| format!("registering seller {}", s.id))?;
        }
        let (runs, _) = local::cycle(&services).await?;
        for (seller, outcome) in &runs {
            local::print_run(&services, seller, outcome).await?;
        }
        let platform = marketbill_afnor::AfnorPlatform::new(marketbill_afnor::AfnorConfig::default())?;
        local::transmit(&services, &platform).await?;
        local::print_where(&layout);
        anyhow::Ok(())
    })
}
