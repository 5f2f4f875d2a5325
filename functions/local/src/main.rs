//! `marketbill`: Marketbill's jobs on one machine, with embedded stand-ins for the cloud.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod credit;
mod demo;
mod export;
mod local;
mod render;
mod run;
mod serve;
mod simulate;

// See the workspace Cargo.toml: a document is many small allocations, which mimalloc makes cheaper.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "marketbill", version, about = "Automatic, legally complete invoices for marketplace sellers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate sample sellers and orders, and issue their invoices into a local folder.
    Demo {
        /// Where invoices and state are kept.
        #[arg(long, default_value = "./marketbill-data")]
        data_dir: PathBuf,
        /// Number of sample sellers.
        #[arg(long, default_value_t = 2)]
        sellers: usize,
        /// Shipped orders per seller (ineligible ones are added on top).
        #[arg(long, default_value_t = 25)]
        orders: usize,
        /// Seed of the order generator.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
    },
    /// Run one scheduled cycle against configured marketplace URLs, on the embedded adapters.
    Run {
        /// Configuration file (JSON: dataDir, apiBase, authBase, sender, sellers[{id, profile, credentials}]).
        #[arg(long)]
        config: PathBuf,
    },
    /// Serve the portal API on 127.0.0.1 over the embedded adapters.
    Serve {
        #[arg(long, default_value_t = serve::DEFAULT_PORT)]
        port: u16,
        #[arg(long, default_value = "./marketbill-data")]
        data_dir: PathBuf,
        /// Marketplace API (credential checks, buyer requests).
        #[arg(long, default_value = "https://api.octopia-io.net/seller/v2")]
        api_base: String,
        #[arg(long, default_value = "https://auth.octopia-io.net")]
        auth_base: String,
    },
    /// Print a portal token for a seller, signed with the data folder's key.
    Token {
        #[arg(long)]
        seller: String,
        #[arg(long, default_value = "./marketbill-data")]
        data_dir: PathBuf,
        /// Validity in hours (1 to 720: 30 days at most).
        #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(i64).range(1..=720))]
        hours: i64,
    },
    /// Serve the Octopia Seller API simulator with seeded orders until stopped.
    Simulate {
        /// Loopback port (0 picks a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Seed of the orders and credentials.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Number of sellers (one API client each).
        #[arg(long, default_value_t = 2)]
        sellers: usize,
        /// Shipped orders per seller (ineligible ones are added on top).
        #[arg(long, default_value_t = 25)]
        orders: usize,
    },
    /// Issue a credit note for part or all of an invoice (returned units, shipping, a gesture,
    /// or what remains), store it and mail it to the buyer.
    CreditNote(credit::CreditOptions),
    /// Write a period's sales journal for the accountant: FEC (tab-separated, the French tax
    /// format) or CSV (spreadsheets).
    Export(export::ExportOptions),
    /// Render the Factur-X PDF and UBL XML of one marketplace order for one seller.
    Render {
        /// Seller profile (JSON).
        #[arg(long)]
        seller: PathBuf,
        /// Marketplace order (Octopia JSON).
        #[arg(long)]
        order: PathBuf,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Invoice number (default: the first of the seller's series for the year).
        #[arg(long)]
        number: Option<String>,
        /// Issue date, YYYY-MM-DD (default: the day the order was last updated).
        #[arg(long)]
        issue_date: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo { data_dir, sellers, orders, seed } => {
            demo::run(&demo::DemoOptions { data_dir, sellers, orders, seed })
        }
        Command::Run { config } => run::run(&config),
        Command::Serve { port, data_dir, api_base, auth_base } => {
            serve::run(&serve::ServeOptions { port, data_dir, api_base, auth_base })
        }
        Command::Token { seller, data_dir, hours } => serve::token(&seller, &data_dir, hours).map(|t| println!("{t}")),
        Command::Simulate { port, seed, sellers, orders } => {
            simulate::run(&simulate::SimulateOptions { port, seed, sellers, orders })
        }
        Command::CreditNote(options) => credit::run(&options),
        Command::Export(options) => export::run(&options).map(|path| println!("{}", path.display())),
        Command::Render { seller, order, out, number, issue_date } => {
            render::run(&render::RenderOptions { seller, order, out, number, issue_date }).map(|files| {
                for f in files {
                    println!("{}", f.display());
                }
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("marketbill: {e:#}");
            ExitCode::FAILURE
        }
    }
}
