//! The embedded adapter set in a data folder, and the cycle the demo and `run` perform.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use marketbill_app::import_tracker::TrackOutcome;
use marketbill_app::marketplace::Marketplace;
use marketbill_app::model::{NotRun, OrderStage, SellerId};
use marketbill_app::schedule::SellerRunResult;
use marketbill_app::seller_run::RunOutcome;
use marketbill_app::services::{PipelineError, Services, Settings};
use marketbill_local::Embedded;

/// Where things go inside a data folder.
pub struct Layout {
    pub root: PathBuf,
    /// The document folder itself (its download links are answered by `serve`).
    pub store: Arc<marketbill_local::FolderStore>,
}

impl Layout {
    pub fn ledger(&self) -> PathBuf {
        self.root.join("ledger.sqlite")
    }
    pub fn documents(&self) -> PathBuf {
        self.root.join("documents")
    }
    pub fn outbox(&self) -> PathBuf {
        self.root.join("outbox")
    }
}

/// The file where `marketbill serve` notes the address it serves a data folder at.
pub const PORTAL_URL_FILE: &str = "portal-url";

/// Where the portal of a data folder is reached: what `marketbill serve` noted (a loopback
/// address only), else the default port.
pub fn portal_url(root: &Path) -> String {
    std::fs::read_to_string(root.join(PORTAL_URL_FILE))
        .ok()
        .map(|u| u.trim().to_owned())
        .filter(|u| u.strip_prefix("http://127.0.0.1:").is_some_and(|port| port.parse::<u16>().is_ok_and(|p| p > 0)))
        .unwrap_or_else(|| format!("http://127.0.0.1:{}", crate::serve::DEFAULT_PORT))
}

pub fn services(root: &Path, marketplace: Arc<dyn Marketplace>, sender: &str) -> Result<(Services, Layout)> {
    let sender = marketbill_domain::email::parse_address(sender)
        .map_err(|e| anyhow::anyhow!("the sender address {sender:?} is refused: {e}"))?;
    let sender = sender.as_str();
    let embedded = Embedded::open(root).with_context(|| format!("opening the data folder {}", root.display()))?;
    let platform = marketbill_afnor::AfnorPlatform::new(marketbill_afnor::AfnorConfig::default())?;
    let services = embedded.services(
        marketplace,
        Arc::new(platform),
        Settings {
            sender: sender.to_owned(),
            // Mails point to the buyer's page of `marketbill serve`: where it last served this
            // data folder, else its default port.
            public_url: Some(portal_url(root)),
            // Locally, the bundled sample of Marketbill's company issues the fee invoices.
            operator: Some(marketbill_domain::fee_invoice::bundled_operator()?),
            ..Settings::default()
        },
    );
    Ok((services, Layout { root: embedded.root, store: embedded.store }))
}

/// One scheduled cycle on the embedded adapters: queue every active seller, run them (each
/// on its own: one seller's failure or unready account never stops the others), then follow
/// the imports until final (bounded). The fee invoices of the 1st of a month are issued on
/// the way; their failure is reported, not fatal.
pub async fn cycle(s: &Services) -> Result<(Vec<SellerRunResult>, TrackOutcome)> {
    marketbill_app::schedule::schedule(s.ledger.as_ref(), s.queue.as_ref()).await?;
    if let Err(e) = marketbill_app::fee_billing::on_schedule(s, &marketbill_domain::FeePlans::bundled()).await {
        eprintln!("monthly fee invoices left for the next cycle: {e}");
    }
    let runs = marketbill_app::schedule::run_queued(s).await?;
    let mut tracked = TrackOutcome::default();
    for _ in 0..20 {
        if s.ledger.pending_imports().await?.is_empty() {
            break;
        }
        let t = marketbill_app::import_tracker::track_imports(s).await?;
        tracked.polled += t.polled;
        tracked.accepted += t.accepted;
        tracked.retried += t.retried;
        tracked.rejected += t.rejected;
        if t.still_running > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok((runs, tracked))
}

/// Prints what a run did for one seller, or why it did nothing.
pub async fn print_run(s: &Services, seller: &SellerId, result: &Result<RunOutcome, PipelineError>) -> Result<()> {
    let name = s.ledger.get_seller(seller).await?.map(|r| r.profile.legal_name).unwrap_or_default();
    let o = match result {
        Ok(o) if o.not_run.is_none() => o,
        Ok(o) => {
            let why = match o.not_run {
                Some(NotRun::NoCredentials) => "no marketplace credentials yet (save them in the space, step 2)",
                Some(NotRun::CredentialsRefused) => "the marketplace refuses the saved credentials (enter them again)",
                Some(NotRun::Unsubscribed) => "unsubscribed: no new invoices",
                Some(NotRun::NoSuchSeller) | None => "no such seller",
            };
            println!("{name} ({seller})");
            println!("  not run:                {why}");
            return Ok(());
        }
        Err(e) => {
            println!("{name} ({seller})");
            println!("  run failed, left for the next cycle: {e}");
            return Ok(());
        }
    };
    let mut accepted = 0;
    let mut rejected = 0;
    let page = s
        .ledger
        .list_invoices(seller, &marketbill_app::model::InvoiceQuery { limit: 1000, ..Default::default() })
        .await?;
    for rec in &page.items {
        if let Some(order) = s.ledger.get_order(seller, &rec.order_id).await?
            && order.number.as_ref() == Some(&rec.invoice.number)
        {
            match order.stage {
                OrderStage::Accepted => accepted += 1,
                OrderStage::Rejected => rejected += 1,
                _ => {}
            }
        }
    }
    println!("{name} ({seller})");
    println!("  orders seen:            {}", o.seen);
    println!("  invoices issued:        {}", o.issued);
    println!("  mailed:                 {}", o.mailed);
    println!("  uploaded:               {}", o.uploaded);
    println!(
        "  accepted by Cdiscount:  {accepted}{}",
        if rejected > 0 { format!(" ({rejected} rejected)") } else { String::new() }
    );
    for (reason, n) in &o.skipped {
        println!("  skipped, {:<15} {n}", format!("{reason}:"));
    }
    for (order, error) in &o.failed {
        println!("  left for the next run:  {order}: {error}");
    }
    Ok(())
}

/// Hands every seller's e-invoices and closed periods to its approved platform (sellers
/// without one are left out), and prints what went and where it stands.
pub async fn transmit(s: &Services, platform: &dyn marketbill_app::platform::Platform) -> Result<()> {
    use marketbill_app::model::TransmissionState;
    for (seller, result) in marketbill_app::transmission::transmit_all(s, platform).await? {
        let name = s.ledger.get_seller(&seller).await?.map(|r| r.profile.legal_name).unwrap_or_default();
        println!("{name} ({seller}), approved platform");
        match result {
            Err(e) => println!("  not transmitted, left for the next cycle: {e}"),
            Ok(o) => {
                let all = s.ledger.transmissions(&seller).await?;
                let count = |state| all.iter().filter(|t| t.state == state).count();
                println!("  flows handed over now:  {}", o.submitted.len());
                println!(
                    "  at the platform:        {} accepted, {} awaiting acknowledgement, {} rejected or refused",
                    count(TransmissionState::Accepted),
                    count(TransmissionState::Submitted) + count(TransmissionState::Submitting),
                    count(TransmissionState::Rejected)
                );
                if count(TransmissionState::Held) > 0 {
                    println!(
                        "  held:                   {} (the buyer's SIREN is not in the e-invoicing directory)",
                        count(TransmissionState::Held)
                    );
                }
                for t in all.iter().filter(|t| t.state == TransmissionState::Rejected) {
                    println!("  rejected:               {}: {}", t.tracking_id, t.reason.as_deref().unwrap_or(""));
                }
                for (what, why) in &o.failed {
                    println!("  left for the next pass: {what}: {why}");
                }
            }
        }
    }
    Ok(())
}

pub fn print_where(layout: &Layout) {
    println!();
    println!("Invoices (Factur-X PDF and UBL XML): {}", layout.documents().join("sellers").display());
    println!("Mails sent to buyers (.eml):         {}", layout.outbox().display());
    println!("Ledger (SQLite):                     {}", layout.ledger().display());
    println!();
    println!("Your sellers' personal space, in two steps:");
    println!("  1. marketbill serve --data-dir {}", layout.root.display());
    println!(
        "  2. open the \"Espace vendeur\" link it prints (or sign in at /connexion; the link arrives in the outbox)"
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_noted_portal_address_is_a_loopback_port_or_the_default() {
        let dir = std::env::temp_dir().join(format!("marketbill-portal-url-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(super::portal_url(&dir), "http://127.0.0.1:8080");
        for (noted, read) in [
            ("http://127.0.0.1:41234\n", "http://127.0.0.1:41234"),
            ("https://evil.example/phish", "http://127.0.0.1:8080"),
            ("http://127.0.0.1:0", "http://127.0.0.1:8080"),
            ("http://127.0.0.1:99999", "http://127.0.0.1:8080"),
        ] {
            std::fs::write(dir.join(super::PORTAL_URL_FILE), noted).unwrap();
            assert_eq!(super::portal_url(&dir), read, "{noted}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
