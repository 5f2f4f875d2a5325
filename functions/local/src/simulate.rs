//! `marketbill simulate`: the Octopia simulator with seeded orders, for trying things by hand.

use anyhow::{Context, Result};
use marketbill_testkit::simulator::{Simulator, SimulatorConfig};
use marketbill_testkit::{OrderGenerator, OrderMix};
use serde_json::json;
use time::OffsetDateTime;

pub struct SimulateOptions {
    pub port: u16,
    pub seed: u64,
    pub sellers: usize,
    pub orders: usize,
}

/// The marketplace seller ids of the sample sellers.
pub fn seller_ids(count: usize) -> Vec<String> {
    (0..count).map(|k| (10_000 + k).to_string()).collect()
}

/// Starts a simulator holding `orders` shipped orders per seller plus some ineligible ones.
pub async fn start(o: &SimulateOptions, now: OffsetDateTime) -> Result<Simulator> {
    let ids = seller_ids(o.sellers);
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut config = SimulatorConfig::for_sellers(o.seed, &refs);
    config.port = o.port;
    let sim = Simulator::start(config).await.context("starting the simulator")?;
    for id in &ids {
        let mut g = OrderGenerator::new(o.seed, id);
        let mix = OrderMix { shipped: o.orders, not_shipped: o.orders / 5, abroad: o.orders / 10 };
        sim.put_orders(id, g.batch(mix, now));
    }
    Ok(sim)
}

pub fn run(o: &SimulateOptions) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async {
        let sim = start(o, OffsetDateTime::now_utc()).await?;
        let ready = json!({"apiBase": sim.api_base(), "authBase": sim.auth_base(), "clients": sim.clients()});
        println!("{ready}");
        eprintln!(
            "Octopia simulator on {} — admin routes under {}/_admin (orders, faults, config, stats, expire-tokens). Ctrl-C stops it.",
            sim.api_base(),
            sim.auth_base()
        );
        wait_for_stop().await;
        sim.stop().await;
        Ok(())
    })
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
