//! `marketbill demo`: sample sellers, generated orders, invoices issued into a folder.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use marketbill_domain::{IssueRequest, Order, draft_invoice};
use marketbill_testkit::sellers::sample_seller;
use marketbill_testkit::{OrderGenerator, OrderMix};
use time::OffsetDateTime;

pub struct DemoOptions {
    pub data_dir: PathBuf,
    pub sellers: usize,
    pub orders: usize,
    pub seed: u64,
}

/// What a seller's folder remembers: which order got which number, and each series' last number.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct SellerState {
    invoiced: BTreeMap<String, String>,
    series: BTreeMap<String, u64>,
}

fn load_state(path: &Path) -> Result<SellerState> {
    match fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| format!("reading {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SellerState::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

pub fn run(opts: &DemoOptions) -> Result<()> {
    // Orders are generated as of a fixed instant per seed so a second run sees the same orders.
    let now = OffsetDateTime::from_unix_timestamp(1_795_000_000 + (opts.seed % 1000) as i64 * 86_400)
        .context("demo clock")?;
    let issued_at = OffsetDateTime::now_utc().max(now);
    for k in 0..opts.sellers {
        let seller_id = format!("{}", 10_000 + k);
        let seller = sample_seller(k, &seller_id)?;
        let dir = opts.data_dir.join("sellers").join(&seller_id);
        fs::create_dir_all(dir.join("invoices")).with_context(|| format!("creating {}", dir.display()))?;
        let state_path = dir.join("state.json");
        let mut state = load_state(&state_path)?;

        let mut generator = OrderGenerator::new(opts.seed, &seller_id);
        let mix = OrderMix { shipped: opts.orders, not_shipped: opts.orders / 5, abroad: opts.orders / 10 };
        let batch = generator.batch(mix, now);
        let (mut issued, mut already) = (0usize, 0usize);
        let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
        for value in &batch {
            let order = match Order::from_value(value.clone()) {
                Ok(o) => o,
                Err(e) => {
                    *skipped.entry(format!("unreadable ({})", e.field)).or_default() += 1;
                    continue;
                }
            };
            if state.invoiced.contains_key(order.order_id.as_str()) {
                already += 1;
                continue;
            }
            let draft =
                match draft_invoice(&IssueRequest { order: &order, seller: &seller, buyer_data: None, issued_at }) {
                    Ok(d) => d,
                    Err(refusal) => {
                        *skipped.entry(refusal.code().to_owned()).or_default() += 1;
                        continue;
                    }
                };
            let counter = state.series.entry(draft.series.key()).or_default();
            *counter += 1;
            let number = draft.series.number(*counter)?;
            let invoice = draft.finalize(number.clone());
            let docs = marketbill_documents::render(&invoice)?;
            let folder = dir.join("invoices").join(invoice.issue_date.year().to_string());
            fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
            write_atomically(&folder.join(format!("{number}.pdf")), &docs.pdf)?;
            write_atomically(&folder.join(format!("{number}.xml")), &docs.ubl)?;
            write_atomically(&folder.join(format!("{number}.json")), &serde_json::to_vec_pretty(&invoice)?)?;
            state.invoiced.insert(order.order_id.to_string(), number.to_string());
            write_atomically(&state_path, &serde_json::to_vec_pretty(&state)?)?;
            issued += 1;
        }
        println!("{} (seller {seller_id}, {:?} scheme)", seller.legal_name, seller.vat_scheme);
        println!("  orders seen:        {}", batch.len());
        println!("  invoices issued:    {issued}");
        println!("  already invoiced:   {already}");
        for (reason, n) in &skipped {
            println!("  skipped {:<19} {n}", format!("{reason}:"));
        }
    }
    println!();
    let invoices = opts.data_dir.join("sellers").join("<seller>").join("invoices").join("<year>");
    println!("Invoices (Factur-X PDF, UBL XML and the JSON record): {}", invoices.display());
    Ok(())
}
