//! schemathesis against `marketbill serve` with the OpenAPI document: no 5xx, and every
//! response conforms to the document (status codes, content types, schemas, headers).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use std::io::BufRead;
use std::process::{Command, Stdio};

use marketbill_harness::moto::{venv, workspace_root};
use marketbill_testkit::simulator::{Simulator, SimulatorConfig};

use common::{Child, SELLER};

#[test]
fn schemathesis_finds_no_server_error_and_no_response_outside_the_document() {
    let bin = env!("CARGO_BIN_EXE_marketbill");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("schemathesis");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime.block_on(async {
        let sim = Simulator::start(SimulatorConfig::for_sellers(4, &["12345"])).await.unwrap();
        let mut g = marketbill_testkit::OrderGenerator::new(4, "12345");
        sim.put_orders(
            "12345",
            g.batch(
                marketbill_testkit::OrderMix { shipped: 5, not_shipped: 1, abroad: 1 },
                time::OffsetDateTime::now_utc(),
            ),
        );
        sim
    });
    let c = &sim.clients()[0];
    let profile: serde_json::Value = serde_json::from_str(SELLER).unwrap();
    let config = serde_json::json!({"dataDir": "data", "apiBase": sim.api_base(), "authBase": sim.auth_base(),
        "sellers": [{"id": "my-shop", "profile": profile, "credentials": {"clientId": c.client_id, "clientSecret": c.client_secret, "sellerId": "12345"}}]});
    std::fs::write(dir.join("cfg.json"), config.to_string()).unwrap();
    let run = Command::new(bin).args(["run", "--config"]).arg(dir.join("cfg.json")).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let data = dir.join("data");

    let mut serve = Child(
        Command::new(bin)
            .args([
                "serve",
                "--port",
                "0",
                "--api-base",
                &sim.api_base(),
                "--auth-base",
                &sim.auth_base(),
                "--data-dir",
            ])
            .arg(&data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = serve.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let ready: serde_json::Value =
        serde_json::from_str(&rx.recv_timeout(std::time::Duration::from_secs(30)).expect("serve is not ready"))
            .unwrap();
    let token = Command::new(bin).args(["token", "--seller", "my-shop", "--data-dir"]).arg(&data).output().unwrap();
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();

    let out = Command::new(venv().unwrap().join("bin/st"))
        .current_dir(workspace_root())
        .args(["run", ready["openapi"].as_str().unwrap(), "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance",
            "--max-examples",
            "25",
            "--seed",
            "1",
        ])
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("passed"), "{text}");
    drop(runtime);
}
