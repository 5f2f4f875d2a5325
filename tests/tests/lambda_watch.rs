//! Real function binaries under `cargo lambda watch` (the local Lambda runtime emulator),
//! invoked with a scheduled event and with an HTTP API event, against moto and the simulator.
//! The binaries are the functions' own mains built by this test build (tests/Cargo.toml); the
//! emulator serves only the Lambda APIs, so it builds nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use marketbill_app::marketplace::MarketplaceCredentials;
use marketbill_app::model::SellerId;
use marketbill_app::services::Settings;
use marketbill_aws::provision::provision;
use marketbill_aws::{AwsClients, AwsSettings};
use marketbill_harness::moto::{Moto, venv, workspace_root};
use marketbill_testkit::sellers::sample_seller;
use marketbill_testkit::simulator::{Simulator, SimulatorConfig};
use marketbill_testkit::{OrderGenerator, OrderMix};

struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        // SIGTERM lets cargo-lambda stop the function processes it started.
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

/// A function process, stopped with the test.
struct Function(Child);

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Invokes a function through the emulator; fails (with the function's log) if no answer comes
/// within two minutes — a function that died leaves the emulator waiting for ever.
fn invoke(port: u16, function: &str, event: &str, function_log: &std::path::Path) -> serde_json::Value {
    let path = std::env::temp_dir().join(format!("marketbill-event-{function}-{port}.json"));
    std::fs::write(&path, event).unwrap();
    let mut child = Command::new(venv().unwrap().join("bin/cargo-lambda"))
        .args(["lambda", "invoke", function, "--invoke-port", &port.to_string(), "--data-file"])
        .arg(&path)
        .env("PATH", path_with_venv())
        .current_dir(workspace_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let log = std::fs::read_to_string(function_log).unwrap_or_default();
            panic!("{function}: no answer within two minutes; its log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{function}: {text}{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{function}: {e}: {text}"))
}

fn path_with_venv() -> String {
    format!("{}:{}", venv().unwrap().join("bin").display(), std::env::var("PATH").unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_binaries_answer_a_scheduled_event_and_an_http_api_event() {
    let moto = Moto::shared().unwrap();
    let clients =
        AwsClients::new(&AwsSettings { region: Some("eu-west-3".into()), endpoint_url: Some(moto.endpoint.clone()) })
            .await;
    let name = format!("mb-watch-{:x}", time::OffsetDateTime::now_utc().unix_timestamp_nanos() % 0xFFFF_FFFF);
    let sender = "factures@marketbill.example";
    let p = provision(&clients, "eu-west-3", &name, sender, None).await.unwrap();
    let (queue_url, key_id) = (p.queue_url.clone(), p.key_id.clone());
    let sim = Simulator::start(SimulatorConfig::for_sellers(8, &["60001"])).await.unwrap();
    let mut g = OrderGenerator::new(8, "60001");
    sim.put_orders(
        "60001",
        g.batch(OrderMix { shipped: 3, not_shipped: 0, abroad: 0 }, time::OffsetDateTime::now_utc()),
    );
    let services = p.services(
        common_marketplace(&sim),
        std::sync::Arc::new(marketbill_afnor::AfnorPlatform::new(marketbill_afnor::AfnorConfig::default()).unwrap()),
        Settings::default(),
    );
    let seller: SellerId = format!("{name}-seller").parse().unwrap();
    let c = &sim.clients()[0];
    let creds = MarketplaceCredentials {
        client_id: c.client_id.clone(),
        client_secret: c.client_secret.clone(),
        seller_id: "60001".into(),
    };
    services
        .account()
        .register(&seller, sample_seller(0, "60001").unwrap(), Some(&creds), time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    // The seller's invoices are issued by the pipeline, so the portal has usage to show.
    marketbill_app::seller_run::run_seller(&services, &seller, None).await.unwrap();

    let env: Vec<(&str, String)> = vec![
        ("TABLE_NAME", name.clone()),
        ("BUCKET_NAME", name.clone()),
        ("QUEUE_URL", queue_url.clone()),
        ("KMS_KEY_ID", key_id.clone()),
        ("SENDER_ADDRESS", sender.to_owned()),
        ("BUYER_EMAIL_KEY", "a-test-key-of-at-least-thirty-two-characters".to_owned()),
        ("OCTOPIA_API_BASE", sim.api_base()),
        ("OCTOPIA_AUTH_BASE", sim.auth_base()),
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        ("AWS_REGION", "eu-west-3".to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
    ];
    let port = free_port();
    let log_path = |what: &str| std::env::temp_dir().join(format!("{name}-{what}.log"));
    let log = |what: &str| std::fs::File::create(log_path(what)).unwrap();
    // The emulator's Lambda APIs only: the functions are the binaries this test build made
    // from the functions' own mains (tests/Cargo.toml), started here against them.
    let watch_log = log("watch");
    let _watch = Watch(
        Command::new(venv().unwrap().join("bin/cargo-lambda"))
            .args(["lambda", "watch", "--only-lambda-apis", "--invoke-port", &port.to_string()])
            .env("PATH", path_with_venv())
            .current_dir(workspace_root())
            .stdout(Stdio::from(watch_log.try_clone().unwrap()))
            .stderr(Stdio::from(watch_log))
            .spawn()
            .unwrap(),
    );
    let function = |function: &str, binary: &str| {
        let out = log(function);
        let mut command = Command::new(binary);
        command
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{port}/.rt/{function}"))
            .env("AWS_LAMBDA_FUNCTION_NAME", function)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out));
        command
    };
    // Poll until the emulator listens (bounded).
    let mut ready = false;
    for _ in 0..600 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "cargo lambda watch did not listen");
    let (scheduler_log, portal_log) = (log_path("scheduler"), log_path("portal-api"));
    let _scheduler = Function(function("scheduler", env!("CARGO_BIN_EXE_lambda-scheduler")).spawn().unwrap());
    let _portal = Function(function("portal-api", env!("CARGO_BIN_EXE_lambda-portal-api")).spawn().unwrap());

    let scheduled = std::fs::read_to_string(workspace_root().join("infra/events/scheduled-cycle.json")).unwrap();
    let out = tokio::task::spawn_blocking(move || invoke(port, "scheduler", &scheduled, &scheduler_log)).await.unwrap();
    assert!(out["queued"].as_u64().unwrap() >= 1, "{out}");

    let http = std::fs::read_to_string(workspace_root().join("infra/events/http-get-usage.json"))
        .unwrap()
        .replace("SELLER_ID", seller.as_str());
    let out = tokio::task::spawn_blocking(move || invoke(port, "portal-api", &http, &portal_log)).await.unwrap();
    assert_eq!(out["statusCode"], 200, "{out}");
    let body: serde_json::Value = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["invoicesThisMonth"], 3, "{body}");
}

fn common_marketplace(sim: &Simulator) -> std::sync::Arc<dyn marketbill_app::marketplace::Marketplace> {
    let mut c = marketbill_octopia::OctopiaConfig::new(&sim.api_base(), &sim.auth_base());
    c.base_backoff = Duration::from_millis(5);
    std::sync::Arc::new(marketbill_octopia::OctopiaMarketplace::new(std::sync::Arc::new(
        marketbill_octopia::OctopiaClient::new(c).unwrap(),
    )))
}
