//! `marketbill credit-note`: a credit note for part or all of an invoice of the data folder,
//! by the same use case as the portal's page and API.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use marketbill_app::model::SellerId;
use marketbill_app::portal::PortalError;
use marketbill_domain::InvoiceNumber;
use marketbill_domain::credit::CreditItem;
use marketbill_domain::money::format_euros_fr;
use marketbill_octopia::{OctopiaClient, OctopiaConfig, OctopiaMarketplace};
use rust_decimal::Decimal;

use crate::local;

#[derive(Debug, clap::Args)]
pub struct CreditOptions {
    #[arg(long, default_value = "./marketbill-data")]
    pub data_dir: PathBuf,
    #[arg(long)]
    pub seller: String,
    /// The invoice's number.
    #[arg(long)]
    pub invoice: String,
    /// Returned units of a goods line, LINE=QUANTITY (repeatable).
    #[arg(long)]
    pub units: Vec<String>,
    /// Part of a shipping line, LINE=AMOUNT incl. VAT (repeatable).
    #[arg(long)]
    pub shipping: Vec<String>,
    /// A commercial gesture at one of the invoice's rates, RATE=AMOUNT incl. VAT.
    #[arg(long)]
    pub gesture: Option<String>,
    /// Everything not credited yet.
    #[arg(long)]
    pub remainder: bool,
    /// Printed on the credit note.
    #[arg(long)]
    pub reason: String,
    /// Marketplace API (the buyer's address for the mail).
    #[arg(long, default_value = "https://api.octopia-io.net/seller/v2")]
    pub api_base: String,
    #[arg(long, default_value = "https://auth.octopia-io.net")]
    pub auth_base: String,
}

fn pair(what: &str, text: &str) -> Result<(String, Decimal)> {
    let (left, right) = text.split_once('=').with_context(|| format!("--{what} is written A=B, got {text:?}"))?;
    let value = right
        .trim()
        .replace(',', ".")
        .parse::<Decimal>()
        .with_context(|| format!("--{what} {text:?}: not a number"))?;
    Ok((left.trim().to_owned(), value))
}

/// The items asked on the command line.
pub fn items(o: &CreditOptions) -> Result<Vec<CreditItem>> {
    let mut items = Vec::new();
    for u in &o.units {
        let (line, quantity) = pair("units", u)?;
        items.push(CreditItem::Units {
            line: line.parse().with_context(|| format!("--units {u:?}: not a line number"))?,
            quantity,
        });
    }
    for s in &o.shipping {
        let (line, amount) = pair("shipping", s)?;
        items.push(CreditItem::Shipping {
            line: line.parse().with_context(|| format!("--shipping {s:?}: not a line number"))?,
            amount,
        });
    }
    if let Some(g) = &o.gesture {
        let (rate, amount) = pair("gesture", g)?;
        items.push(CreditItem::Gesture {
            rate: rate.parse().map_err(|e| anyhow::anyhow!("--gesture {g:?}: {e}"))?,
            amount,
        });
    }
    if o.remainder {
        items.push(CreditItem::Remainder);
    }
    if items.is_empty() {
        bail!("say what to credit: --units LINE=QTY, --shipping LINE=AMOUNT, --gesture RATE=AMOUNT or --remainder");
    }
    Ok(items)
}

pub fn run(o: &CreditOptions) -> Result<()> {
    let items = items(o)?;
    let seller: SellerId = o.seller.parse()?;
    let number: InvoiceNumber = o.invoice.parse().map_err(|e| anyhow::anyhow!("--invoice {:?}: {e}", o.invoice))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let client = OctopiaClient::new(OctopiaConfig::new(&o.api_base, &o.auth_base))?;
        let marketplace = Arc::new(OctopiaMarketplace::new(Arc::new(client)));
        let (services, _) = local::services(&o.data_dir, marketplace, "factures@marketbill.example")?;
        match marketbill_app::credit_notes::credit_note(&services, &seller, &number, &items, &o.reason, None).await {
            Ok(issued) => {
                println!("credit note {} issued: {}", issued.credit_note, format_euros_fr(issued.total_incl_vat));
                println!("still creditable on {number}: {}", format_euros_fr(issued.remaining_incl_vat));
                match issued.not_mailed {
                    None => println!("mailed to the buyer"),
                    Some(why) => println!("not mailed to the buyer ({why}); send it again from the portal"),
                }
                Ok(())
            }
            Err(PortalError::Invalid(errors)) => {
                let why: Vec<String> = errors.into_iter().map(|(f, m)| format!("{f}: {}", m.join("; "))).collect();
                bail!("no credit note issued: {}", why.join(", "))
            }
            Err(PortalError::NotFound) => bail!("no invoice {number} for seller {seller}"),
            Err(e) => bail!("no credit note issued: {e}"),
        }
    })
}
