//! The `marketbill` command as a user runs it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
mod common;

use std::process::{Command, Output};

use common::{Child, SELLER};

fn marketbill(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_marketbill")).args(args).output().expect("run marketbill")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn order(status: &str) -> String {
    format!(
        r#"{{"orderId": "2611211432ABCD", "status": "{status}", "seller": {{"id": "12345"}},
 "purchasedAt": "2026-11-21T14:32:00Z", "updatedAt": "2026-11-21T18:00:00Z",
 "billingAddress": {{"firstName": "Élodie", "lastName": "Durand", "addressLine1": "3 rue des Lilas",
                    "postalCode": "69003", "city": "Lyon", "countryCode": "FR"}},
 "totalPrice": {{"sellingPrice": 64.97}},
 "lines": [{{"orderLineId": "1", "status": "{status}", "quantity": 2,
   "offer": {{"productTitle": "Théière en fonte"}},
   "sellingPrice": {{"unitSalesPrice": 29.99, "shippingCost": 4.99, "taxes": [{{"rate": 20.0}}]}},
   "shippingAddress": {{"countryCode": "FR"}}}}]}}"#
    )
}

fn inputs(dir: &Path, status: &str) -> (String, String) {
    let seller = dir.join("seller.json");
    let order_path = dir.join("order.json");
    std::fs::write(&seller, SELLER).unwrap();
    std::fs::write(&order_path, order(status)).unwrap();
    (seller.display().to_string(), order_path.display().to_string())
}

#[test]
fn render_writes_the_factur_x_pdf_and_the_ubl_of_an_order() {
    let dir = scratch("render-ok");
    let (seller, order) = inputs(&dir, "Shipped");
    let out = dir.join("out");
    let o = marketbill(&["render", "--seller", &seller, "--order", &order, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pdf = std::fs::read(out.join("F2026-000001.pdf")).unwrap();
    let xml = std::fs::read_to_string(out.join("F2026-000001.xml")).unwrap();
    assert!(pdf.starts_with(b"%PDF-1.7"));
    assert!(xml.contains("<cbc:ID>F2026-000001</cbc:ID>"));
    assert!(xml.contains("<cbc:TaxInclusiveAmount currencyID=\"EUR\">64.97</cbc:TaxInclusiveAmount>"));
    // The same input renders the same bytes.
    let again = dir.join("again");
    let o = marketbill(&["render", "--seller", &seller, "--order", &order, "--out", again.to_str().unwrap()]);
    assert!(o.status.success());
    assert_eq!(std::fs::read(again.join("F2026-000001.pdf")).unwrap(), pdf);
}

#[test]
fn render_takes_a_number_and_an_issue_date() {
    let dir = scratch("render-number");
    let (seller, order) = inputs(&dir, "Delivered");
    let out = dir.join("out");
    let o = marketbill(&[
        "render",
        "--seller",
        &seller,
        "--order",
        &order,
        "--out",
        out.to_str().unwrap(),
        "--number",
        "F2027-000042",
        "--issue-date",
        "2027-01-03",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let xml = std::fs::read_to_string(out.join("F2027-000042.xml")).unwrap();
    assert!(xml.contains("<cbc:IssueDate>2027-01-03</cbc:IssueDate>"));
}

fn assert_refused(o: &Output, out: &Path, expect: &str) {
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(expect), "{stderr}");
    assert!(!out.exists() || std::fs::read_dir(out).unwrap().next().is_none(), "files were written");
}

#[test]
fn a_refused_order_writes_nothing_and_says_why_in_one_line() {
    let dir = scratch("render-refused");
    let (seller, order) = inputs(&dir, "Cancelled");
    let out = dir.join("out");
    let o = marketbill(&["render", "--seller", &seller, "--order", &order, "--out", out.to_str().unwrap()]);
    assert_refused(&o, &out, "not shipped");
}

#[test]
fn invalid_input_writes_nothing_and_says_why_in_one_line() {
    let dir = scratch("render-invalid");
    let (seller, order) = inputs(&dir, "Shipped");
    std::fs::write(&seller, SELLER.replace("732829320\", \"siret", "732829321\", \"siret")).unwrap();
    let out = dir.join("out");
    let o = marketbill(&["render", "--seller", &seller, "--order", &order, "--out", out.to_str().unwrap()]);
    assert_refused(&o, &out, "siren");

    let (seller, order) = inputs(&dir, "Shipped");
    std::fs::write(&order, "{\"orderId\": \"X1\", \"status\": \"Shipped\", \"lines\": [{\"quantity\": \"many\"}]}")
        .unwrap();
    let o = marketbill(&["render", "--seller", &seller, "--order", &order, "--out", out.to_str().unwrap()]);
    assert_refused(&o, &out, "lines[0].quantity");

    let o = marketbill(&["render", "--seller", "/nonexistent.json", "--order", &order, "--out", out.to_str().unwrap()]);
    assert_refused(&o, &out, "/nonexistent.json");
}

#[test]
fn demo_runs_the_whole_job_once_and_a_second_run_issues_nothing_new() {
    let dir = scratch("demo");
    let data = dir.join("data");
    let first = marketbill(&["demo", "--data-dir", data.to_str().unwrap(), "--orders", "6"]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let text = String::from_utf8_lossy(&first.stdout);
    assert_eq!(text.matches("invoices issued:        6").count(), 2, "{text}");
    assert_eq!(text.matches("mailed:                 6").count(), 2, "{text}");
    assert_eq!(text.matches("accepted by Cdiscount:  6").count(), 2, "{text}");
    for place in ["documents", "outbox", "ledger.sqlite"] {
        assert!(text.contains(&data.join(place).canonicalize().unwrap().display().to_string()), "{place}: {text}");
    }
    let pdfs =
        std::fs::read_dir(data.join("documents/sellers/demo-seller-0/invoices/2026"))
            .or_else(|_| {
                std::fs::read_dir(data.join(format!(
                    "documents/sellers/demo-seller-0/invoices/{}",
                    time::OffsetDateTime::now_utc().year()
                )))
            })
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "pdf"))
            .count();
    // Six invoices, and a buyer's company request: its credit note and the corrected invoice,
    // an e-invoice handed to the French seller's (simulated) approved platform.
    assert_eq!(pdfs, 8);
    // Mails: each invoice's and the request's two documents (to the buyers), and one to each
    // seller when its first invoices are out.
    assert_eq!(std::fs::read_dir(data.join("outbox")).unwrap().count(), 16);
    assert!(text.contains("A buyer asked for an invoice in its company's name"), "{text}");
    assert!(text.contains("flows handed over now:  1"), "{text}");

    let second = marketbill(&["demo", "--data-dir", data.to_str().unwrap(), "--orders", "6"]);
    assert!(second.status.success());
    let text = String::from_utf8_lossy(&second.stdout);
    assert_eq!(text.matches("invoices issued:        0").count(), 2, "{text}");
    // The German seller's six; the French seller's corrected invoice was uploaded at the end of
    // the first demo, whose marketplace simulator (and its import report) is gone: five.
    assert_eq!(text.matches("accepted by Cdiscount:  6").count(), 1, "{text}");
    assert_eq!(text.matches("accepted by Cdiscount:  5").count(), 1, "{text}");
    assert_eq!(std::fs::read_dir(data.join("outbox")).unwrap().count(), 16, "no mail sent twice");
    assert!(text.contains("flows handed over now:  0"), "nothing handed over twice: {text}");
    assert_owner_only(&data);
}

/// Every folder under the data folder is 0700 and every file 0600 (buyer data, keys).
#[cfg(unix)]
fn assert_owner_only(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{}", dir.display());
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            assert_owner_only(&path);
        } else {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
    }
}

#[cfg(not(unix))]
fn assert_owner_only(_dir: &Path) {}

/// Starts `marketbill ARGS` and reads its ready line (a JSON object): a reader thread and a
/// bounded wait, so a silent child fails the test.
fn start_ready(args: &[&str]) -> (Child, serde_json::Value) {
    use std::io::BufRead;
    let child = Command::new(env!("CARGO_BIN_EXE_marketbill"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Child(child);
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("no ready line");
    (child, serde_json::from_str(&line).unwrap())
}

#[test]
fn simulate_prints_where_it_listens_and_serves_the_api() {
    let (_child, ready) = start_ready(&["simulate", "--sellers", "2", "--orders", "7", "--seed", "5"]);
    let clients = ready["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 2);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let config = marketbill_octopia::OctopiaConfig::new(
            ready["apiBase"].as_str().unwrap(),
            ready["authBase"].as_str().unwrap(),
        );
        let client = marketbill_octopia::OctopiaClient::new(config).unwrap();
        let c = &clients[0];
        let creds = marketbill_octopia::Credentials {
            client_id: c["clientId"].as_str().unwrap().into(),
            client_secret: marketbill_octopia::Secret::new(c["clientSecret"].as_str().unwrap()),
            seller_id: c["sellerId"].as_str().unwrap().into(),
        };
        let q = marketbill_octopia::OrderQuery {
            statuses: vec!["Shipped".into(), "Delivered".into()],
            shipping_country: Some("FR".into()),
            ..Default::default()
        };
        let orders = client.list_orders(&creds, &q).await.unwrap();
        assert_eq!(orders.len(), 7);
    });
}

/// A `marketbill run` configuration for the simulator's seller 12345, written into `dir`.
fn run_config(sim: &marketbill_testkit::simulator::Simulator, dir: &Path) -> (serde_json::Value, PathBuf) {
    let client = &sim.clients()[0];
    let config = serde_json::json!({
        "dataDir": "data",
        "apiBase": sim.api_base(),
        "authBase": sim.auth_base(),
        "sellers": [{
            "id": "my-shop",
            "profile": serde_json::from_str::<serde_json::Value>(SELLER).unwrap(),
            "credentials": {"clientId": client.client_id, "clientSecret": client.client_secret, "sellerId": "12345"}
        }]
    });
    let path = dir.join("marketbill.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    (config, path)
}

#[test]
fn run_does_one_cycle_against_configured_marketplace_urls() {
    use marketbill_testkit::simulator::{Simulator, SimulatorConfig};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime.block_on(async {
        let sim = Simulator::start(SimulatorConfig::for_sellers(3, &["12345"])).await.unwrap();
        let mut g = marketbill_testkit::OrderGenerator::new(3, "12345");
        sim.put_orders(
            "12345",
            g.batch(
                marketbill_testkit::OrderMix { shipped: 4, not_shipped: 1, abroad: 1 },
                time::OffsetDateTime::now_utc(),
            ),
        );
        sim
    });
    let dir = scratch("run-config");
    let (config, path) = run_config(&sim, &dir);
    let o = marketbill(&["run", "--config", path.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("invoices issued:        4"), "{text}");
    assert!(text.contains("notShippedToFrance"), "{text}");
    assert!(dir.join("data/ledger.sqlite").exists());
    // Wrong credentials: a clear error, non-zero exit.
    let mut bad = config.clone();
    bad["sellers"][0]["credentials"]["clientSecret"] = "nope".into();
    std::fs::write(&path, serde_json::to_vec_pretty(&bad).unwrap()).unwrap();
    let o = marketbill(&["run", "--config", path.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("credentials"), "{}", String::from_utf8_lossy(&o.stderr));
    drop(runtime);
}

#[test]
fn run_invoices_the_ready_sellers_when_another_has_no_credentials_yet() {
    use marketbill_app::ports::SellerLedger;
    use marketbill_testkit::simulator::{Simulator, SimulatorConfig};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime.block_on(async {
        let sim = Simulator::start(SimulatorConfig::for_sellers(5, &["12345"])).await.unwrap();
        let mut g = marketbill_testkit::OrderGenerator::new(5, "12345");
        let now = time::OffsetDateTime::now_utc();
        sim.put_orders("12345", g.batch(marketbill_testkit::OrderMix { shipped: 3, not_shipped: 0, abroad: 0 }, now));
        sim
    });
    let dir = scratch("run-onboarding");
    let (_, path) = run_config(&sim, &dir);
    // A seller who signed up in the space and saved the company data, not yet the credentials
    // (sorted before the ready one, so it runs first).
    runtime.block_on(async {
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let ledger = marketbill_local::SqliteLedger::open(&data.join("ledger.sqlite")).unwrap();
        let record = marketbill_app::model::SellerRecord {
            seller_id: "a-new-shop".parse().unwrap(),
            profile: marketbill_testkit::sellers::sample_seller(0, "99999").unwrap(),
            status: marketbill_app::model::SellerStatus::Active,
            registered_at: time::OffsetDateTime::now_utc(),
            credentials: None,
            platform: None,
            first_invoices_at: None,
            handled_problems: Default::default(),
        };
        ledger.put_seller(&record).await.unwrap();
    });
    let o = marketbill(&["run", "--config", path.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("invoices issued:        3"), "the ready seller is invoiced: {text}");
    assert!(text.contains("(a-new-shop)") && text.contains("no marketplace credentials yet"), "{text}");
    drop(runtime);
}

#[test]
fn token_lifetimes_are_capped_and_absurd_ones_are_a_clear_error() {
    let dir = scratch("token-hours");
    let data = dir.to_str().unwrap();
    for hours in ["2562047788015", "721", "0", "-5"] {
        let o = marketbill(&["token", "--seller", "shop-1", "--data-dir", data, &format!("--hours={hours}")]);
        assert_eq!(o.status.code(), Some(2), "--hours {hours}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stderr).contains("--hours"), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let o = marketbill(&["token", "--seller", "shop-1", "--data-dir", data, "--hours", "720"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("mbt.shop-1."));
}

#[test]
fn hostile_prefixes_and_numbers_are_refused_and_nothing_leaves_the_out_folder() {
    let dir = scratch("render-hostile");
    let out = dir.join("out");
    for prefix in ["/", "F//", "/F", "F/", "../F"] {
        let (seller, order) = inputs(&dir, "Shipped");
        std::fs::write(
            &seller,
            SELLER.replace("\"invoicePrefix\": \"F\"", &format!("\"invoicePrefix\": \"{prefix}\"")),
        )
        .unwrap();
        let o = marketbill(&["render", "--seller", &seller, "--order", &order, "--out", out.to_str().unwrap()]);
        assert_refused(&o, &out, "invoice prefix");
    }
    let (seller, order) = inputs(&dir, "Shipped");
    for number in ["/2026-000001", "../../2026-000001", "F//2026-1", "F/2026-1/"] {
        let o = marketbill(&[
            "render",
            "--seller",
            &seller,
            "--order",
            &order,
            "--out",
            out.to_str().unwrap(),
            "--number",
            number,
        ]);
        assert_refused(&o, &out, "--number");
    }
    // A '/' inside a number is legal; its file stays in --out.
    let o = marketbill(&[
        "render",
        "--seller",
        &seller,
        "--order",
        &order,
        "--out",
        out.to_str().unwrap(),
        "--number",
        "F/2026-000007",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut names: Vec<String> =
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["F_2026-000007.pdf", "F_2026-000007.xml"]);
    assert!(!Path::new("/2026-000001.pdf").exists());
}

/// One HTTP/1.1 request over a fresh connection: (status, body).
fn http(addr: &str, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() {
        req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("no header end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, raw[split + 4..].to_vec())
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().split(' ').next()?.parse().ok())
        .unwrap()
}

#[test]
fn serve_answers_signed_links_limits_buyers_and_stays_up_under_slow_connections() {
    use std::io::Write;
    let dir = scratch("serve");
    let data = dir.join("data");
    let demo = marketbill(&["demo", "--data-dir", data.to_str().unwrap(), "--orders", "3", "--sellers", "1"]);
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
    let (child, ready) = start_ready(&[
        "serve",
        "--port",
        "0",
        "--data-dir",
        data.to_str().unwrap(),
        "--api-base",
        "http://127.0.0.1:9/seller/v2",
        "--auth-base",
        "http://127.0.0.1:9",
    ]);
    let addr = ready["url"].as_str().unwrap().trim_start_matches("http://").to_owned();
    // The folder notes where it is served: later runs' mails link to this port, not 8080.
    assert_eq!(std::fs::read_to_string(data.join("portal-url")).unwrap().trim(), format!("http://{addr}"));
    let token = marketbill(&["token", "--seller", "demo-seller-0", "--data-dir", data.to_str().unwrap()]);
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();

    // A document's link: served over HTTP, signed, no server path, the stored bytes.
    let (status, page) = http(&addr, "GET", "/v1/invoices", Some(&token), None);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&page));
    let page: serde_json::Value = serde_json::from_slice(&page).unwrap();
    let number = page["items"][0]["number"].as_str().unwrap().to_owned();
    let (status, one) = http(&addr, "GET", &format!("/v1/invoices/{number}"), Some(&token), None);
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(&one).into_owned();
    assert!(!text.contains("file://") && !text.contains(data.canonicalize().unwrap().to_str().unwrap()), "{text}");
    let one: serde_json::Value = serde_json::from_slice(&one).unwrap();
    let url = one["pdf"]["url"].as_str().unwrap();
    let path = url.strip_prefix(&format!("http://{addr}")).expect("a link of this server");
    let (status, pdf) = http(&addr, "GET", path, None, None);
    assert_eq!(status, 200);
    let year = &number[2..6];
    let stored = std::fs::read(data.join(format!("documents/sellers/demo-seller-0/invoices/{year}/{number}.pdf")))
        .or_else(|_| {
            let dir = data.join("documents/sellers/demo-seller-0/invoices");
            let y = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
            std::fs::read(y.join(format!("{number}.pdf")))
        })
        .unwrap();
    assert_eq!(pdf, stored);
    // The signature's last digit changed (to another digit, whatever it was).
    let last = if path.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{last}", &path[..path.len() - 1]);
    assert_eq!(http(&addr, "GET", &tampered, None, None).0, 403);
    let elsewhere = path.replace("demo-seller-0", "demo-seller-1");
    assert_eq!(http(&addr, "GET", &elsewhere, None, None).0, 403);

    // The public buyer route: an unknown order and a known order with a wrong e-mail get the
    // same answer, and each client address is limited.
    let request = |order: &str, email: &str| {
        serde_json::json!({"orderId": order, "email": email, "kind": "company", "name": "Atelier Durand SARL", "taxNumber": "FR40303265045",
            "address": {"line1": "8 avenue Foch", "postalCode": "75016", "city": "Paris", "countryCode": "FR"}})
        .to_string()
    };
    let known = page["items"][0]["orderId"].as_str().unwrap().to_owned();
    let unknown = http(&addr, "POST", "/v1/invoice-requests", None, Some(&request("NOSUCHORDER1", "a@b.fr")));
    let wrong = http(&addr, "POST", "/v1/invoice-requests", None, Some(&request(&known, "a@b.fr")));
    assert_eq!(unknown.0, 404, "{}", String::from_utf8_lossy(&unknown.1));
    assert_eq!(unknown, wrong, "the same status and body");
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(http(&addr, "POST", "/v1/invoice-requests", None, Some(&request(&known, "a@b.fr"))).0);
    }
    assert!(statuses.iter().all(|s| *s == 404 || *s == 429), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");

    // 2,000 connections that never finish their request head: memory stays small and other
    // requests are still answered.
    let before = rss_kib(child.0.id());
    let mut slow = Vec::new();
    for _ in 0..2000 {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        let _ = s.write_all(b"GET /v1/usage HTTP/1.1\r\nHost: x\r\n");
        slow.push(s);
    }
    let (status, body) = http(&addr, "GET", "/openapi.json", None, None);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, _) = http(&addr, "GET", "/v1/invoices", Some(&token), None);
    assert_eq!(status, 200);
    let after = rss_kib(child.0.id());
    eprintln!("serve RSS: {before} KiB before, {after} KiB with 2,000 slow connections");
    assert!(after < 100 * 1024, "RSS {before} KiB before, {after} KiB with 2,000 slow connections");
    drop(slow);

    // 300 connections that send a whole request head announcing a body, and never the body.
    // Each waits for the server's "100 Continue": its head is read and its body awaited.
    let mut held = Vec::new();
    for _ in 0..300 {
        use std::io::{BufRead, BufReader};
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let head = "POST /connexion HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                    Content-Length: 1000\r\nExpect: 100-continue\r\n\r\n";
        s.write_all(head.as_bytes()).unwrap();
        let mut first = String::new();
        let _ = BufReader::new(&s).read_line(&mut first);
        held.push(s);
    }
    let (status, body) = http(&addr, "GET", "/openapi.json", None, None);
    assert_eq!(status, 200, "answered while 300 bodies never come: {}", String::from_utf8_lossy(&body));
    let (status, _) = http(&addr, "GET", "/v1/invoices", Some(&token), None);
    assert_eq!(status, 200);
    drop(held);
}

#[test]
fn run_finishes_normally_with_poison_orders_and_refuses_a_hostile_sender() {
    use marketbill_testkit::simulator::{Simulator, SimulatorConfig};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime.block_on(async {
        let sim = Simulator::start(SimulatorConfig::for_sellers(4, &["12345"])).await.unwrap();
        let mut g = marketbill_testkit::OrderGenerator::new(4, "12345");
        let now = time::OffsetDateTime::now_utc();
        let mut orders = g.batch(marketbill_testkit::OrderMix { shipped: 3, not_shipped: 0, abroad: 0 }, now);
        let mut date = g.shipped(now, 24);
        date["orderId"] = "POISONDATE".into();
        date["purchasedAt"] = "9999-12-31T23:30:00-05:00".into();
        let mut amount = g.shipped(now, 24);
        amount["orderId"] = "POISONAMOUNT".into();
        amount["lines"][0]["sellingPrice"]["unitSalesPrice"] = serde_json::from_str("1e27").unwrap();
        amount["lines"][0]["quantity"] = 100000.into();
        orders.extend([date, amount]);
        sim.put_orders("12345", orders);
        sim
    });
    let dir = scratch("run-poison");
    let (mut config, path) = run_config(&sim, &dir);
    let o = marketbill(&["run", "--config", path.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("invoices issued:        3"), "{text}");
    assert!(text.contains("unreadableOrder") && text.contains("invalidLine"), "{text}");

    config["sender"] = "factures@shop.example\r\nBcc: evil@y.fr".into();
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let o = marketbill(&["run", "--config", path.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("sender address") && err.trim_end().lines().count() == 1, "{err}");
}

#[test]
fn credit_note_issues_a_partial_then_the_rest_and_refuses_beyond() {
    let dir = scratch("credit-note");
    let data = dir.join("data");
    let demo = marketbill(&["demo", "--data-dir", data.to_str().unwrap(), "--orders", "3", "--sellers", "1"]);
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
    let year = time::OffsetDateTime::now_utc().year();
    let folder = data.join(format!("documents/sellers/demo-seller-0/invoices/{year}"));
    let mut numbers: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .filter_map(|e| e.ok()?.path().file_stem()?.to_str().map(str::to_owned))
        .collect();
    numbers.sort();
    numbers.dedup();
    let number = numbers.first().unwrap().replace('_', "/");
    let data = data.to_str().unwrap();
    // The demo's marketplace is gone: the credit note is issued and stored, and says it was not mailed.
    let base = [
        "credit-note",
        "--data-dir",
        data,
        "--seller",
        "demo-seller-0",
        "--invoice",
        &number,
        "--api-base",
        "http://127.0.0.1:9",
        "--auth-base",
        "http://127.0.0.1:9",
    ];
    let gesture = marketbill(&[&base[..], &["--gesture", "20=1,50", "--reason", "geste commercial"]].concat());
    let text = String::from_utf8_lossy(&gesture.stdout);
    assert!(gesture.status.success(), "{}{}", text, String::from_utf8_lossy(&gesture.stderr));
    assert!(text.contains("issued: 1,50") && text.contains("not mailed"), "{text}");
    let rest = marketbill(&[&base[..], &["--remainder", "--reason", "annulation"]].concat());
    let text = String::from_utf8_lossy(&rest.stdout);
    assert!(rest.status.success(), "{}{}", text, String::from_utf8_lossy(&rest.stderr));
    assert!(text.contains("still creditable") && text.contains(": 0,00"), "{text}");
    let beyond = marketbill(&[&base[..], &["--remainder", "--reason", "encore"]].concat());
    assert!(!beyond.status.success());
    assert!(String::from_utf8_lossy(&beyond.stderr).contains("nothing is left to credit"));
    let nothing = marketbill(
        &[&base[..1], &["--data-dir", data, "--seller", "demo-seller-0", "--invoice", &number, "--reason", "x"]]
            .concat(),
    );
    assert!(!nothing.status.success());
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("say what to credit"));
}

#[test]
fn export_writes_a_balanced_fec_and_a_csv_that_python_reads_to_the_same_totals() {
    let dir = scratch("export");
    let data = dir.join("data");
    let demo = marketbill(&["demo", "--data-dir", data.to_str().unwrap(), "--orders", "4", "--sellers", "1"]);
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
    let data = data.to_str().unwrap();
    // The month of the documents' Paris dates.
    let now = marketbill_domain::calendar::paris_date(time::OffsetDateTime::now_utc());
    let period = format!("{:04}-{:02}", now.year(), u8::from(now.month()));
    let out = dir.join("out");
    let export =
        |args: &[&str]| marketbill(&[&["export", "--data-dir", data, "--seller", "demo-seller-0"], args].concat());
    let run = |format: &str| {
        let o = export(&["--format", format, "--period", &period, "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::path::PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())
    };
    let fec = std::fs::read_to_string(run("fec")).unwrap();
    let num = |s: &str| {
        if s.is_empty() {
            rust_decimal::Decimal::ZERO
        } else {
            s.replace(',', ".").parse::<rust_decimal::Decimal>().unwrap()
        }
    };
    let rows: Vec<Vec<&str>> = fec.lines().skip(1).map(|l| l.split('\t').collect()).collect();
    assert!(!rows.is_empty() && rows.iter().all(|r| r.len() == 18));
    let debit: rust_decimal::Decimal = rows.iter().map(|r| num(r[11])).sum();
    let credit: rust_decimal::Decimal = rows.iter().map(|r| num(r[12])).sum();
    assert_eq!(debit, credit, "Σ debit = Σ credit");
    let customers: rust_decimal::Decimal = rows.iter().filter(|r| r[4] == "411").map(|r| num(r[11]) - num(r[12])).sum();

    let csv = run("csv");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = Command::new("bash").arg(root.join("scripts/python-env.sh")).output().unwrap();
    let python = Path::new(String::from_utf8(venv.stdout).unwrap().trim()).join("bin/python");
    let read = Command::new(python)
        .args(["-c", "import csv,sys\nrows=list(csv.DictReader(open(sys.argv[1],encoding='utf-8-sig'),delimiter=';'))\nprint(len(rows), sum(float(r['total_ttc'].replace(',','.')) for r in rows))", csv.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(read.status.success(), "{}", String::from_utf8_lossy(&read.stderr));
    let text = String::from_utf8_lossy(&read.stdout);
    let (count, total) = text.trim().split_once(' ').unwrap();
    assert_eq!(count.parse::<usize>().unwrap(), rows.iter().filter(|r| r[4] == "411").count(), "one row per document");
    let total: f64 = total.parse().unwrap();
    assert!((total - customers.to_string().parse::<f64>().unwrap()).abs() < 0.005, "{total} vs {customers}");
    // The e-reporting data of the same month: every document in one place (the e-invoice
    // flow, 10.1, 10.3, or out of scope with its reason), and the XML says the same as the
    // JSON, on the official structure (an initial report, `IN`).
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run("ereporting-json")).unwrap()).unwrap();
    let placed = json["documents"].as_array().unwrap();
    assert_eq!(placed.len(), rows.iter().filter(|r| r[4] == "411").count());
    assert!(placed.iter().all(|d| ["eInvoice", "10.1", "10.3", "outOfScope"].contains(&d["flow"].as_str().unwrap())));
    let in_aggregates: u64 = json["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["invoices"].as_u64().unwrap() + t["creditNotes"].as_u64().unwrap())
        .sum();
    assert_eq!(in_aggregates as usize, placed.iter().filter(|d| d["flow"] == "10.3").count());
    let xml = std::fs::read_to_string(run("ereporting")).unwrap();
    assert!(xml.starts_with("<?xml") && xml.contains("<TypeCode>IN</TypeCode>"), "{xml}");
    assert_eq!(xml.matches("<Transactions>").count(), json["transactions"].as_array().unwrap().len());
    assert_eq!(xml.matches("<Invoice>").count(), json["invoices"].as_array().unwrap().len());
    let refused = |format: &str, period: &str, says: &str| {
        let o = export(&["--format", format, "--period", period]);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{err}");
    };
    refused("pdf", &period, "--format is fec, csv, ereporting or ereporting-json");
    // The accountant's own accounts.
    let accounts = dir.join("accounts.json");
    std::fs::write(&accounts, r#"{"sales": "707100", "vat": "445710"}"#).unwrap();
    let mine = dir.join("mine");
    let o = export(&[
        "--format",
        "fec",
        "--period",
        &period,
        "--accounts",
        accounts.to_str().unwrap(),
        "--out",
        mine.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mine = std::fs::read_to_string(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    let accounts_used: std::collections::BTreeSet<&str> =
        mine.lines().skip(1).filter_map(|l| l.split('\t').nth(4)).collect();
    assert_eq!(accounts_used, ["411", "445710", "707100"].into_iter().collect());
    refused("ereporting", "2026-11-D4", "a period is YYYY-MM");
}
