//! `marketbill demo`: the whole twice-daily job on one machine — the marketplace simulator
//! with seeded orders, sample sellers registered with their API credentials, one scheduled
//! cycle on the embedded adapters (SQLite, folders, an outbox of .eml files).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use marketbill_app::marketplace::MarketplaceCredentials;
use marketbill_app::model::SellerId;
use marketbill_app::platform::PlatformCredentials;
use marketbill_app::transmission::seal_platform;
use marketbill_octopia::{OctopiaClient, OctopiaConfig, OctopiaMarketplace};
use marketbill_testkit::sellers::sample_seller;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing_subscriber::layer::SubscriberExt;

use crate::local;
use crate::simulate::{self, SimulateOptions};

pub struct DemoOptions {
    pub data_dir: PathBuf,
    pub sellers: usize,
    pub orders: usize,
    pub seed: u64,
}

/// What a data folder remembers between demos, so a second demo sees the same orders.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoState {
    #[serde(with = "time::serde::rfc3339")]
    epoch: OffsetDateTime,
}

/// Counts "invoice issued" events for the progress bar.
struct Progress(Arc<AtomicU64>, indicatif::ProgressBar);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Progress {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct IsIssue(bool);
        impl tracing::field::Visit for IsIssue {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" && format!("{value:?}") == "invoice issued" {
                    self.0 = true;
                }
            }
        }
        let mut v = IsIssue(false);
        event.record(&mut v);
        if v.0 {
            let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
            self.1.set_position(n);
        }
    }
}

pub fn run(o: &DemoOptions) -> Result<()> {
    marketbill_local::private::create_dir(&o.data_dir).with_context(|| format!("creating {}", o.data_dir.display()))?;
    let state_path = o.data_dir.join("demo.json");
    let state = match std::fs::read_to_string(&state_path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| format!("reading {}", state_path.display()))?,
        Err(_) => {
            let s = DemoState { epoch: OffsetDateTime::now_utc() };
            marketbill_local::private::write_file(&state_path, &serde_json::to_vec_pretty(&s)?)?;
            s
        }
    };
    let bar = indicatif::ProgressBar::new((o.sellers * o.orders) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} issuing invoices {pos}/{len} [{bar:30}] {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let progress = Progress(Arc::new(AtomicU64::new(0)), bar.clone());
    let subscriber =
        tracing_subscriber::registry().with(tracing_subscriber::EnvFilter::new("marketbill_app=debug")).with(progress);
    let _guard = tracing::subscriber::set_default(subscriber);

    // One thread, as in the Lambda functions: the run is sequential, and threads only add hand-offs.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let result = runtime.block_on(async {
        let sim = simulate::start(
            &SimulateOptions { port: 0, seed: o.seed, sellers: o.sellers, orders: o.orders },
            state.epoch,
        )
        .await?;
        let mut config = OctopiaConfig::new(&sim.api_base(), &sim.auth_base());
        config.base_backoff = std::time::Duration::from_millis(20);
        let marketplace = Arc::new(OctopiaMarketplace::new(Arc::new(OctopiaClient::new(config)?)));
        let (services, layout) = local::services(&o.data_dir, marketplace, "factures@marketbill.example")?;
        for (k, client) in sim.clients().iter().enumerate() {
            let seller_id: SellerId = format!("demo-seller-{k}").parse()?;
            let profile = sample_seller(k, &client.seller_id)?;
            let creds = MarketplaceCredentials {
                client_id: client.client_id.clone(),
                client_secret: client.client_secret.clone(),
                seller_id: client.seller_id.clone(),
            };
            services.account().register(&seller_id, profile, Some(&creds), state.epoch).await?;
        }
        // The French seller has an approved platform (a simulated one, on loopback).
        let platform_sim = marketbill_testkit::platform::PlatformSimulator::start("demo-seller-0", "demo-secret")
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        // The company its buyer names below, reachable in the simulated directory.
        platform_sim.add_company("303265045", "303265045");
        let platform_creds = PlatformCredentials {
            flow_url: platform_sim.flow_url(),
            directory_url: platform_sim.directory_url(),
            token_url: platform_sim.token_url(),
            client_id: "demo-seller-0".into(),
            client_secret: "demo-secret".into(),
            platform_id: "0042".into(),
            platform_name: "PA de démonstration".into(),
            prefer_ubl: false,
        };
        let first: SellerId = "demo-seller-0".parse()?;
        if let Some(mut record) = services.ledger.get_seller(&first).await?
            && record.profile.country().is_france()
        {
            record.platform = Some(seal_platform(services.secrets.as_ref(), &platform_creds).await?);
            services.ledger.put_seller(&record).await?;
        }
        let (runs, _) = local::cycle(&services).await?;
        bar.finish_and_clear();
        for (seller, outcome) in &runs {
            local::print_run(&services, seller, outcome).await?;
        }
        // A buyer of the French seller asks for its invoice in its company's name, with its
        // SIREN: the corrected invoice is an e-invoice, handed to the platform.
        if let Some(client) = sim.clients().first()
            && let Some((order_id, email)) = sim
                .orders(&client.seller_id)
                .into_iter()
                .rev()
                .filter_map(|v| marketbill_domain::Order::from_value(v).ok())
                .filter(|o| o.status.is_shipped())
                .find_map(|o| Some((o.order_id.to_string(), o.buyer_email()?.to_owned())))
        {
            let company = marketbill_testkit::buyers::company("303265045")?;
            match marketbill_app::buyer_requests::buyer_request(
                &services,
                &order_id,
                &marketbill_app::buyer_requests::BuyerProof::Email(email.clone()),
                company,
                None,
            )
            .await
            {
                Ok(marketbill_app::buyer_requests::BuyerRequestOutcome::Corrected { invoice, .. }) => {
                    println!("A buyer asked for an invoice in its company's name: corrected invoice {invoice}");
                }
                Ok(_) => {}
                Err(e) => println!("The buyer's request for a company invoice was refused: {e}"),
            }
        }
        let platform = marketbill_afnor::AfnorPlatform::new(marketbill_afnor::AfnorConfig::default())?;
        local::transmit(&services, &platform).await?;
        local::print_where(&layout);
        platform_sim.stop().await;
        sim.stop().await;
        anyhow::Ok(())
    });
    bar.finish_and_clear();
    result
}
