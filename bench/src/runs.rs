//! Seller runs of 1,000 orders: on the embedded adapters (a child process of ours whose CPU
//! time is the figure; the simulator stays in the parent), and as the real `seller-run` Lambda
//! binary under the Runtime API stand-in against moto and the simulator.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use marketbill_app::marketplace::MarketplaceCredentials;
use marketbill_app::model::SellerId;
use marketbill_app::ports::SellerRunMessage;
use marketbill_app::services::Settings;
use marketbill_aws::{AwsClients, AwsSettings, provision::provision};
use marketbill_harness::moto::Moto;
use marketbill_octopia::{OctopiaClient, OctopiaConfig, OctopiaMarketplace};
use marketbill_testkit::sellers::sample_seller;
use marketbill_testkit::simulator::{Simulator, SimulatorConfig};
use marketbill_testkit::{OrderGenerator, OrderMix};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::proc;
use crate::runtime::Function;

const MARKETPLACE_SELLER: &str = "60001";

/// One seller run, measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunFigures {
    pub orders: usize,
    pub issued: u64,
    pub wall_s: f64,
    /// CPU time of the process doing the run (user + system), for the run only where that can
    /// be told apart (embedded), else for the process's whole life (Lambda).
    pub cpu_s: f64,
    pub cpu_user_s: f64,
    pub cpu_sys_s: f64,
    pub peak_rss_mib: f64,
    /// What the function wrote to its log (CloudWatch Logs ingestion), bytes.
    pub log_bytes: u64,
    /// Where the embedded adapters kept their files.
    #[serde(default)]
    pub data_dir: String,
    /// Our CPU in each repetition, when the run was repeated (this figure is the median).
    #[serde(default)]
    pub cpu_s_runs: Vec<f64>,
}

impl RunFigures {
    pub fn orders_per_s(&self) -> f64 {
        if self.wall_s > 0.0 { self.issued as f64 / self.wall_s } else { 0.0 }
    }
}

/// The simulator with `orders` shipped orders for one seller.
async fn simulator(orders: usize, seed: u64) -> Result<Simulator> {
    let sim = Simulator::start(SimulatorConfig::for_sellers(seed, &[MARKETPLACE_SELLER])).await?;
    let mut g = OrderGenerator::new(seed, MARKETPLACE_SELLER);
    let now = time::OffsetDateTime::now_utc();
    sim.put_orders(MARKETPLACE_SELLER, g.batch(OrderMix { shipped: orders, not_shipped: 0, abroad: 0 }, now));
    Ok(sim)
}

fn credentials(sim: &Simulator) -> Result<MarketplaceCredentials> {
    let c = sim.clients().first().ok_or_else(|| anyhow!("the simulator has no client"))?;
    Ok(MarketplaceCredentials {
        client_id: c.client_id.clone(),
        client_secret: c.client_secret.clone(),
        seller_id: c.seller_id.clone(),
    })
}

fn marketplace(api_base: &str, auth_base: &str) -> Result<Arc<OctopiaMarketplace>> {
    let client = OctopiaClient::new(OctopiaConfig::new(api_base, auth_base))?;
    Ok(Arc::new(OctopiaMarketplace::new(Arc::new(client))))
}

/// What the parent tells the embedded child.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChildJob {
    pub api_base: String,
    pub auth_base: String,
    pub credentials: MarketplaceCredentials,
    pub dir: PathBuf,
    pub orders: usize,
    /// The latency model: ledger 10 ms, store 25 ms, mail 60 ms per call (the simulator's
    /// 100 ms is set in the parent).
    #[serde(default)]
    pub latency: bool,
    /// Runs end this many seconds after they start and queue a continuation, which the child
    /// then runs (as SQS would hand it to the next Lambda invocation), until one completes.
    #[serde(default)]
    pub run_seconds: Option<u64>,
}

/// A first run of `orders` orders through continuations (runs of `run_seconds`).
pub async fn first_run(orders: usize, seed: u64, work: &Path, run_seconds: u64) -> Result<RunFigures> {
    let sim = simulator(orders, seed).await?;
    let mut job = job_for(&sim, orders, work, "first-run", false)?;
    job.run_seconds = Some(run_seconds);
    run_child(job).await
}

/// The latency-model run: the embedded adapters behind per-call delays (ledger 10 ms, store
/// 25 ms, mail 60 ms) and every marketplace call delayed 100 ms. The figure is the wall time.
pub async fn latency_model(orders: usize, seed: u64, work: &Path) -> Result<RunFigures> {
    let sim = simulator(orders, seed).await?;
    sim.inject(marketbill_testkit::simulator::Fault::always(
        marketbill_testkit::simulator::Route::Any,
        marketbill_testkit::simulator::FaultKind::Delay { ms: 100 },
    ));
    child(&sim, orders, work, "latency", true).await
}

/// The embedded run `times` times (a fresh data folder and simulator each time); the run of
/// median CPU time, with every run's CPU time.
pub async fn embedded_repeated(orders: usize, seed: u64, work: &Path, times: usize) -> Result<RunFigures> {
    let mut runs = Vec::with_capacity(times);
    for _ in 0..times.max(1) {
        runs.push(embedded(orders, seed, work).await?);
    }
    runs.sort_by(|a, b| a.cpu_s.total_cmp(&b.cpu_s));
    let all: Vec<f64> = runs.iter().map(|r| r.cpu_s).collect();
    let mut median = runs.swap_remove(runs.len() / 2);
    median.cpu_s_runs = all;
    Ok(median)
}

/// The embedded run: the simulator here, the run in a child process that reports its own
/// CPU time and peak memory.
pub async fn embedded(orders: usize, seed: u64, work: &Path) -> Result<RunFigures> {
    let sim = simulator(orders, seed).await?;
    // On tmpfs when there is one: the figure is our CPU, not the disk's file system (on ext4,
    // creating 3,000 files in a folder just emptied cost more system time than the run).
    child(&sim, orders, work, "embedded", false).await
}

fn job_for(sim: &Simulator, orders: usize, work: &Path, name: &str, latency: bool) -> Result<ChildJob> {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() { shm.join(format!("marketbill-bench-{name}")) } else { work.join(name) };
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ChildJob {
        api_base: sim.api_base(),
        auth_base: sim.auth_base(),
        credentials: credentials(sim)?,
        dir,
        orders,
        latency,
        run_seconds: None,
    })
}

/// Runs the seller once in a child process over a fresh data folder.
async fn child(sim: &Simulator, orders: usize, work: &Path, name: &str, latency: bool) -> Result<RunFigures> {
    run_child(job_for(sim, orders, work, name, latency)?).await
}

async fn run_child(job: ChildJob) -> Result<RunFigures> {
    let exe = std::env::current_exe()?;
    let out = tokio::process::Command::new(exe)
        .arg("embedded-child")
        .arg(serde_json::to_string(&job)?)
        .kill_on_drop(true)
        .output()
        .await?;
    if !out.status.success() {
        bail!("the embedded run failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let figures: RunFigures = serde_json::from_slice(&out.stdout).context("reading the child's figures")?;
    Ok(figures)
}

/// The child: registers the seller and runs it once on the embedded adapters.
pub fn embedded_child(job: &str) -> Result<()> {
    let job: ChildJob = serde_json::from_str(job)?;
    // One thread, as in the Lambda functions: the run is sequential, and threads only add hand-offs.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let figures = runtime.block_on(async {
        let embedded = marketbill_local::Embedded::open(&job.dir)?;
        // Short runs stop two seconds before their end (a Lambda's margin is 30 s of 15 min).
        let settings = match job.run_seconds {
            Some(_) => Settings {
                runs: marketbill_app::services::RunSettings {
                    deadline_margin: Duration::from_secs(2),
                    ..Default::default()
                },
                ..Settings::default()
            },
            None => Settings::default(),
        };
        let mut services = embedded.services(
            marketplace(&job.api_base, &job.auth_base)?,
            std::sync::Arc::new(marketbill_afnor::AfnorPlatform::new(marketbill_afnor::AfnorConfig::default())?),
            settings,
        );
        if job.latency {
            use crate::latency::Slow;
            services.ledger = Arc::new(marketbill_app::layer::Layered(Slow {
                inner: services.ledger.clone(),
                delay: Duration::from_millis(10),
            }));
            services.store = Arc::new(Slow { inner: services.store.clone(), delay: Duration::from_millis(25) });
            services.mailer = Arc::new(Slow { inner: services.mailer.clone(), delay: Duration::from_millis(60) });
        }
        let seller: SellerId = "bench-seller".parse()?;
        let now = time::OffsetDateTime::now_utc();
        services
            .account()
            .register(&seller, sample_seller(0, &job.credentials.seller_id)?, Some(&job.credentials), now)
            .await?;
        let (user0, sys0) = proc::own_cpu();
        let t = Instant::now();
        let deadline = || job.run_seconds.map(|s| Instant::now() + Duration::from_secs(s));
        let mut out = marketbill_app::seller_run::run_seller(&services, &seller, deadline()).await?;
        let mut runs = 1;
        let (mut issued, mut failed) = (out.issued, out.failed.len());
        // Continuations, as SQS would hand them to the next invocation.
        while out.continued {
            let queued = services.queue.receive(10, Duration::ZERO).await?;
            let next = queued.first().map(|m| m.message.clone()).ok_or_else(|| anyhow!("no continuation queued"))?;
            for m in &queued {
                services.queue.ack(&m.receipt).await?;
            }
            out = marketbill_app::seller_run::run_message(&services, &next, deadline()).await?;
            runs += 1;
            if out.continued && out.issued == 0 && out.resumed == 0 {
                bail!("a continuation made no progress (run {runs})");
            }
            issued += out.issued;
            failed += out.failed.len();
        }
        let wall = t.elapsed();
        if job.run_seconds.is_some() {
            // No duplicate, no gap: the series counter, the usage and the invoices agree.
            let series = marketbill_domain::Series::new("ML".parse()?, now.year());
            let counter = services.ledger.series_counter(&seller, &series).await?;
            let usage = services.ledger.usage(&seller, marketbill_domain::calendar::YearMonth::in_paris(now)).await?;
            eprintln!("first run: {runs} runs, {issued} issued, counter {counter}, usage {usage}, {failed} failed");
            if counter != issued || usage != issued || issued != job.orders as u64 || failed > 0 {
                bail!("first run: {issued} issued for {} orders, counter {counter}, usage {usage}", job.orders);
            }
            out.issued = issued;
        }
        let (user1, sys1) = proc::own_cpu();
        if !out.failed.is_empty() {
            bail!("{} orders failed, first: {:?}", out.failed.len(), out.failed.first());
        }
        let (user, sys) = (user1 - user0, sys1 - sys0);
        anyhow::Ok(RunFigures {
            orders: job.orders,
            issued: out.issued,
            wall_s: wall.as_secs_f64(),
            cpu_s: (user + sys).as_secs_f64(),
            cpu_user_s: user.as_secs_f64(),
            cpu_sys_s: sys.as_secs_f64(),
            peak_rss_mib: proc::status_kib(std::process::id(), "VmHWM").unwrap_or(0) as f64 / 1024.0,
            log_bytes: 0,
            data_dir: job.dir.display().to_string(),
            cpu_s_runs: Vec::new(),
        })
    })?;
    println!("{}", serde_json::to_string(&figures)?);
    Ok(())
}

/// Requests moto served, by `service operation`, with the bytes sent and received.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Requests {
    pub requests: BTreeMap<String, u64>,
    pub bytes_in: BTreeMap<String, u64>,
    pub bytes_out: BTreeMap<String, u64>,
}

impl Requests {
    pub fn count(&self, key: &str) -> u64 {
        self.requests.get(key).copied().unwrap_or(0)
    }

    pub fn sent(&self, key: &str) -> u64 {
        self.bytes_in.get(key).copied().unwrap_or(0)
    }

    pub fn received(&self, key: &str) -> u64 {
        self.bytes_out.get(key).copied().unwrap_or(0)
    }
}

/// The AWS requests and function figures of the Lambda runs on moto.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LambdaRuns {
    /// The first run: every order new.
    pub seller_run: RunFigures,
    pub seller_run_requests: Requests,
    /// The hourly import tracker after it (every import final).
    pub tracker_wall_s: f64,
    pub tracker_peak_rss_mib: f64,
    pub tracker_log_bytes: u64,
    pub tracker_requests: Requests,
    /// An hourly tracker run with nothing pending.
    pub idle_tracker_wall_s: f64,
    pub idle_tracker_requests: Requests,
    /// A run with nothing new: the fixed cost of each scheduled run.
    pub idle_run_wall_s: f64,
    pub idle_run_log_bytes: u64,
    pub idle_run_requests: Requests,
}

async fn moto_requests(http: &reqwest::Client, moto: &Moto, reset: bool) -> Result<Requests> {
    let url = format!("{}/_marketbill/requests", moto.endpoint);
    let r = if reset { http.post(&url).send().await? } else { http.get(&url).send().await? };
    Ok(r.error_for_status()?.json().await?)
}

fn sqs_event(message: &SellerRunMessage) -> Result<Value> {
    Ok(json!({"Records": [{
        "messageId": "bench-message", "receiptHandle": "bench-receipt",
        "body": serde_json::to_string(message)?,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0",
                       "SenderId": "bench", "ApproximateFirstReceiveTimestamp": "0"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-3:123456789012:bench", "awsRegion": "eu-west-3"
    }]}))
}

fn scheduled_event() -> Value {
    json!({"version": "0", "id": "bench", "detail-type": "Scheduled Event", "source": "aws.scheduler",
           "account": "123456789012", "time": "2026-11-22T05:00:00Z", "region": "eu-west-3",
           "resources": [], "detail": {}})
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// The function's environment (as the template sets it) against moto and the simulator.
pub fn function_env(names: &FunctionEnv) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("TABLE_NAME".into(), names.table.clone()),
        ("BUCKET_NAME".into(), names.table.clone()),
        ("QUEUE_URL".into(), names.queue_url.clone()),
        ("KMS_KEY_ID".into(), names.key_id.clone()),
        ("SENDER_ADDRESS".into(), "factures@marketbill.example".into()),
        ("BUYER_EMAIL_KEY".into(), "a-benchmark-key-of-at-least-thirty-two-characters".into()),
        ("OCTOPIA_API_BASE".into(), names.api_base.clone()),
        ("OCTOPIA_AUTH_BASE".into(), names.auth_base.clone()),
        ("AWS_ENDPOINT_URL".into(), names.aws_endpoint.clone()),
        ("AWS_REGION".into(), "eu-west-3".into()),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ("RUST_LOG".into(), "info".into()),
    ];
    env.retain(|(_, v)| !v.is_empty());
    env
}

/// Names a function needs.
#[derive(Debug, Clone, Default)]
pub struct FunctionEnv {
    pub table: String,
    pub queue_url: String,
    pub key_id: String,
    pub api_base: String,
    pub auth_base: String,
    pub aws_endpoint: String,
}

/// One invocation of a function binary: figures and the answer.
async fn invoke_once(
    binary: &Path,
    env: &[(String, String)],
    memory_mb: u32,
    event: Value,
    log: &Path,
) -> Result<(Value, RunFigures)> {
    let mut f = Function::start(binary, env, memory_mb, log).await?;
    f.ready(Duration::from_secs(10)).await?;
    let t = Instant::now();
    let answer = f.invoke(event, Duration::from_secs(3600)).await;
    let wall = t.elapsed();
    // Read from /proc before the process goes; the log is complete once it has.
    let (cpu, peak_kib) = (f.cpu().unwrap_or_default(), f.peak_rss_kib().unwrap_or(0));
    f.stop().await;
    let figures = RunFigures {
        wall_s: wall.as_secs_f64(),
        cpu_s: cpu.as_secs_f64(),
        peak_rss_mib: peak_kib as f64 / 1024.0,
        log_bytes: file_len(log),
        ..RunFigures::default()
    };
    Ok((answer?, figures))
}

/// The Lambda runs on moto: `seller-run` over `orders` new orders, the import tracker, and an
/// idle `seller-run`.
pub async fn lambda(orders: usize, seed: u64, bins: &Path, work: &Path) -> Result<LambdaRuns> {
    let moto = Moto::start()?;
    let http = reqwest::Client::new();
    let clients =
        AwsClients::new(&AwsSettings { region: Some("eu-west-3".into()), endpoint_url: Some(moto.endpoint.clone()) })
            .await;
    let name = "mb-bench";
    let p = provision(&clients, "eu-west-3", name, "factures@marketbill.example", None).await?;
    let sim = simulator(orders, seed).await?;
    let env = FunctionEnv {
        table: name.into(),
        queue_url: p.queue_url.clone(),
        key_id: p.key_id.clone(),
        api_base: sim.api_base(),
        auth_base: sim.auth_base(),
        aws_endpoint: moto.endpoint.clone(),
    };
    let services = p.services(
        marketplace(&sim.api_base(), &sim.auth_base())?,
        std::sync::Arc::new(marketbill_afnor::AfnorPlatform::new(marketbill_afnor::AfnorConfig::default())?),
        Settings::default(),
    );
    let seller: SellerId = "bench-seller".parse()?;
    let now = time::OffsetDateTime::now_utc();
    services.account().register(&seller, sample_seller(0, MARKETPLACE_SELLER)?, Some(&credentials(&sim)?), now).await?;
    let env = function_env(&env);
    let event = sqs_event(&SellerRunMessage {
        seller_id: seller.clone(),
        reason: marketbill_app::ports::RunReason::Manual,
        resume_from: None,
    })?;
    let seller_run = bins.join("seller-run");

    moto_requests(&http, &moto, true).await?;
    let (answer, mut run) = invoke_once(&seller_run, &env, 256, event.clone(), &work.join("seller-run.log")).await?;
    if answer["batchItemFailures"].as_array().is_some_and(|a| !a.is_empty()) {
        bail!("the seller run asked SQS to retry: {answer}");
    }
    let seller_run_requests = moto_requests(&http, &moto, true).await?;
    let month = marketbill_domain::calendar::YearMonth::in_paris(now);
    run.issued = services.ledger.usage(&seller, month).await?;
    run.orders = orders;

    let (_, tracker) =
        invoke_once(&bins.join("import-tracker"), &env, 128, scheduled_event(), &work.join("import-tracker.log"))
            .await?;
    let tracker_requests = moto_requests(&http, &moto, true).await?;
    let (_, idle_tracker) =
        invoke_once(&bins.join("import-tracker"), &env, 128, scheduled_event(), &work.join("import-tracker-idle.log"))
            .await?;
    let idle_tracker_requests = moto_requests(&http, &moto, true).await?;

    let (_, idle) = invoke_once(&seller_run, &env, 256, event, &work.join("seller-run-idle.log")).await?;
    let idle_run_requests = moto_requests(&http, &moto, true).await?;
    sim.stop().await;
    Ok(LambdaRuns {
        seller_run: run,
        seller_run_requests,
        tracker_wall_s: tracker.wall_s,
        tracker_peak_rss_mib: tracker.peak_rss_mib,
        tracker_log_bytes: tracker.log_bytes,
        tracker_requests,
        idle_tracker_wall_s: idle_tracker.wall_s,
        idle_tracker_requests,
        idle_run_wall_s: idle.wall_s,
        idle_run_log_bytes: idle.log_bytes,
        idle_run_requests,
    })
}
