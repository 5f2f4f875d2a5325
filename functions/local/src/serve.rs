//! `marketbill serve` and `marketbill token`: the portal API on 127.0.0.1 over the embedded
//! adapters, with tokens signed by a key kept in the data folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use marketbill_app::model::SellerId;
use marketbill_domain::fees::FeePlans;
use marketbill_octopia::{OctopiaClient, OctopiaConfig, OctopiaMarketplace};
use portal_api::{LocalTokens, Portal, router};

use crate::local;

pub struct ServeOptions {
    pub port: u16,
    pub data_dir: PathBuf,
    pub api_base: String,
    pub auth_base: String,
}

/// The token-signing key of a data folder (created on first use, mode 0600).
pub fn token_key(data_dir: &Path) -> Result<Vec<u8>> {
    let path = data_dir.join("token.key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return hex::decode(text.trim()).with_context(|| format!("{} is not a hex key", path.display()));
    }
    marketbill_local::private::create_dir(data_dir)?;
    let key = marketbill_app::crypto::random_key();
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
        f.write_all(hex::encode(key).as_bytes())?;
    }
    #[cfg(not(unix))]
    std::fs::write(&path, hex::encode(key))?;
    Ok(key.to_vec())
}

pub fn token(seller: &str, data_dir: &Path, hours: i64) -> Result<String> {
    let id: SellerId = seller.parse()?;
    let tokens = LocalTokens::new(&token_key(data_dir)?);
    Ok(tokens.mint(&id, time::OffsetDateTime::now_utc() + time::Duration::hours(hours)))
}

pub fn run(o: &ServeOptions) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let client = OctopiaClient::new(OctopiaConfig::new(&o.api_base, &o.auth_base))?;
        let marketplace = Arc::new(OctopiaMarketplace::new(Arc::new(client)));
        let (services, _) = local::services(&o.data_dir, marketplace, "factures@marketbill.example")?;
        let auth = Arc::new(LocalTokens::new(&token_key(&o.data_dir)?));
        let portal = Arc::new(Portal { services, auth, plans: FeePlans::bundled() });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", o.port))
            .await
            .with_context(|| format!("listening on port {}", o.port))?;
        let addr = listener.local_addr()?;
        println!(
            "{}",
            serde_json::json!({"url": format!("http://{addr}"), "openapi": format!("http://{addr}/openapi.json")})
        );
        eprintln!(
            "Marketbill portal on http://{addr} — tokens: marketbill token --seller ID --data-dir {}",
            o.data_dir.display()
        );
        axum::serve(listener, router(portal))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        anyhow::Ok(())
    })
}
