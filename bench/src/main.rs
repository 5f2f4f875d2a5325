//! `marketbill-bench`: the side-by-side benchmark suite (issue 9). `scripts/bench.sh` builds
//! what it needs and runs `marketbill-bench all`, which writes `target/bench/results.json` and
//! prints the README's performance tables. Figures, not pass/fail: nothing here is a test.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};

mod cold;
mod cost;
mod latency;
mod proc;
mod render;
mod report;
mod runs;
mod runtime;

// See the workspace Cargo.toml: a document is many small allocations, which mimalloc makes cheaper.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "marketbill-bench", about = "Marketbill's performance, measured side by side")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Everything: rendering against the peers, seller runs, Lambda start-up, cost model.
    All(AllOptions),
    /// Reprint the tables and the cost model of a results file (prices re-read).
    Report {
        #[arg(long, default_value = "target/bench/results.json")]
        results: PathBuf,
        #[arg(long, default_value = "bench/aws-prices.json")]
        prices: PathBuf,
    },
    /// Our rendering alone (figures as JSON; handy under perf).
    Render {
        #[arg(long, default_value_t = 3)]
        lines: usize,
        #[arg(long, default_value_t = 2000)]
        iterations: usize,
        /// Where to write the invoice as JSON (for the peers).
        #[arg(long)]
        invoice: Option<PathBuf>,
    },
    /// The embedded seller run alone, `times` times (the median's figures as JSON).
    Embedded {
        #[arg(long, default_value_t = 1000)]
        orders: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        #[arg(long, default_value_t = 5)]
        times: usize,
        #[arg(long, default_value = "target/bench")]
        out: PathBuf,
    },
    /// The latency-model seller run alone (figures as JSON).
    Latency {
        #[arg(long, default_value_t = 1000)]
        orders: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        #[arg(long, default_value = "target/bench")]
        out: PathBuf,
    },
    /// A seller's first run of many orders through continuations (peak memory, no duplicate,
    /// no gap).
    FirstRun {
        #[arg(long, default_value_t = 50_000)]
        orders: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Seconds each run may take before it queues a continuation.
        #[arg(long, default_value_t = 20)]
        run_seconds: u64,
        #[arg(long, default_value = "target/bench")]
        out: PathBuf,
    },
    /// (internal) The embedded seller run, in its own process.
    #[command(hide = true)]
    EmbeddedChild { job: String },
}

#[derive(clap::Args)]
struct AllOptions {
    /// Orders of the seller runs.
    #[arg(long, default_value_t = 1000)]
    orders: usize,
    /// Orders of the Lambda run on moto (0: skip it).
    #[arg(long, default_value_t = 1000)]
    moto_orders: usize,
    /// Where the release binaries of the functions are.
    #[arg(long, default_value = "target/release")]
    bins: PathBuf,
    /// Python of the venv holding reportlab and WeasyPrint.
    #[arg(long)]
    python: PathBuf,
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    #[arg(long, default_value = "bench/aws-prices.json")]
    prices: PathBuf,
    /// Starts of each function for the start-up figures.
    #[arg(long, default_value_t = 20)]
    starts: usize,
    #[arg(long, default_value_t = 2026)]
    seed: u64,
}

/// A peer's figures for one invoice (from bench/peers.py).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerFigures {
    pub median_ms: f64,
    pub bytes: u64,
    pub pages: u64,
    pub iterations: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderRow {
    pub ours: render::RenderFigures,
    pub reportlab: PeerFigures,
    pub weasyprint: PeerFigures,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub rustc: String,
    pub python: String,
    pub peers: String,
    pub date: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Results {
    pub machine: Machine,
    pub render: Vec<RenderRow>,
    pub embedded: runs::RunFigures,
    pub lambda: Option<runs::LambdaRuns>,
    pub starts: Vec<cold::StartFigures>,
    pub cost: Option<cost::CostModel>,
}

fn command_line(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn machine(python: &Path) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown")
        .trim()
        .to_owned();
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse::<f64>().ok()))
        .unwrap_or(0.0);
    Machine {
        cpu,
        cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        memory_gib: mem_kib / 1024.0 / 1024.0,
        rustc: command_line("rustc", &["--version"]),
        python: command_line(&python.to_string_lossy(), &["--version"]),
        peers: String::new(),
        date: time::OffsetDateTime::now_utc().date().to_string(),
    }
}

fn peers(python: &Path, invoice: &Path, lines: usize, out: &Path) -> Result<(PeerFigures, PeerFigures, String)> {
    let font = Path::new("shared/documents/fonts/DejaVuSans.ttf").canonicalize()?;
    let (n, w) = if lines > 10 { ("20", "5") } else { ("100", "20") };
    let o = std::process::Command::new(python)
        .arg("bench/peers.py")
        .arg("--invoice")
        .arg(invoice)
        .arg("--font")
        .arg(&font)
        .args(["--iterations", n, "--weasyprint-iterations", w, "--keep"])
        .arg(out)
        .output()
        .context("running bench/peers.py")?;
    if !o.status.success() {
        bail!("bench/peers.py failed: {}", String::from_utf8_lossy(&o.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)?;
    let versions = format!(
        "reportlab {}, WeasyPrint {}",
        v["versions"]["reportlab"].as_str().unwrap_or("?"),
        v["versions"]["weasyprint"].as_str().unwrap_or("?")
    );
    Ok((serde_json::from_value(v["reportlab"].clone())?, serde_json::from_value(v["weasyprint"].clone())?, versions))
}

fn read_prices(path: &Path) -> Result<cost::Prices> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a price list", path.display()))
}

fn init_times(starts: &[cold::StartFigures]) -> cost::InitTimes {
    let of = |f: &str| starts.iter().find(|s| s.function == f).map(|s| s.ready_median_ms / 1000.0).unwrap_or(0.0);
    cost::InitTimes { seller_run_s: of("seller-run"), tracker_s: of("import-tracker"), scheduler_s: of("scheduler") }
}

async fn all(o: &AllOptions) -> Result<Results> {
    std::fs::create_dir_all(&o.out)?;
    let mut m = machine(&o.python);
    eprintln!("== rendering (ours, then reportlab and WeasyPrint)");
    let mut rows = Vec::new();
    for (lines, iterations) in [(3usize, 2000usize), (60, 300)] {
        let invoice = o.out.join(format!("invoice-{lines}.json"));
        // In a process of its own, like the peers: nothing else of this run shares its heap.
        let out = std::process::Command::new(std::env::current_exe()?)
            .args(["render", "--lines", &lines.to_string(), "--iterations", &iterations.to_string(), "--invoice"])
            .arg(&invoice)
            .output()?;
        if !out.status.success() {
            bail!("rendering failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let ours: render::RenderFigures = serde_json::from_slice(&out.stdout)?;
        let (reportlab, weasyprint, versions) = peers(&o.python, &invoice, lines, &o.out)?;
        m.peers = versions;
        rows.push(RenderRow { ours, reportlab, weasyprint });
    }
    eprintln!("== seller run of {} orders on the embedded adapters (5 times)", o.orders);
    let embedded = runs::embedded_repeated(o.orders, o.seed, &o.out, 5).await?;
    eprintln!("== Lambda start-up ({} starts each)", o.starts);
    let mut starts = Vec::new();
    for (f, mem) in cold::FUNCTIONS {
        starts.push(cold::measure(&o.bins, f, mem, o.starts, &o.out).await?);
    }
    let lambda = if o.moto_orders > 0 {
        eprintln!("== seller-run Lambda over {} orders on moto and the simulator (minutes)", o.moto_orders);
        Some(runs::lambda(o.moto_orders, o.seed, &o.bins, &o.out).await?)
    } else {
        None
    };
    let prices = read_prices(&o.prices)?;
    let cost = lambda.as_ref().map(|l| cost::model(&prices, l, init_times(&starts)));
    Ok(Results { machine: m, render: rows, embedded, lambda, starts, cost })
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::All(o) => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let results = runtime.block_on(all(&o))?;
            let path = o.out.join("results.json");
            std::fs::write(&path, serde_json::to_vec_pretty(&results)?)?;
            let text = report::markdown(&results);
            std::fs::write(o.out.join("results.md"), &text)?;
            println!("{text}");
            eprintln!("written: {} and results.md", path.display());
        }
        Command::Report { results, prices } => {
            let text = std::fs::read_to_string(&results).with_context(|| format!("reading {}", results.display()))?;
            let mut r: Results = serde_json::from_str(&text)?;
            let prices = read_prices(&prices)?;
            r.cost = r.lambda.as_ref().map(|l| cost::model(&prices, l, init_times(&r.starts)));
            println!("{}", report::markdown(&r));
        }
        Command::Render { lines, iterations, invoice } => {
            let invoice =
                invoice.unwrap_or_else(|| std::env::temp_dir().join(format!("marketbill-bench-invoice-{lines}.json")));
            let figures = render::measure(lines, iterations, &invoice)?;
            println!("{}", serde_json::to_string_pretty(&figures)?);
        }
        Command::Embedded { orders, seed, times, out } => {
            one_run(&out, |out| runs::embedded_repeated(orders, seed, out, times))?
        }
        Command::Latency { orders, seed, out } => one_run(&out, |out| runs::latency_model(orders, seed, out))?,
        Command::FirstRun { orders, seed, run_seconds, out } => {
            one_run(&out, |out| runs::first_run(orders, seed, out, run_seconds))?
        }
        Command::EmbeddedChild { job } => runs::embedded_child(&job)?,
    }
    Ok(())
}

/// One kind of seller run alone, its figures printed as JSON.
fn one_run<'a, F>(out: &'a std::path::Path, run: impl FnOnce(&'a std::path::Path) -> F) -> Result<()>
where
    F: std::future::Future<Output = Result<runs::RunFigures>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    std::fs::create_dir_all(out)?;
    let figures = runtime.block_on(run(out))?;
    println!("{}", serde_json::to_string_pretty(&figures)?);
    Ok(())
}
