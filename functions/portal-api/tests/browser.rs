//! The pages in a real browser: Debian's Chromium driven over WebDriver (chromium-driver) by
//! fantoccini. A seller signs up, enters the company data and credentials, gets invoices from
//! a run on the marketplace simulator, downloads one, exports a period, looks at the problems
//! and unsubscribes; a buyer asks for an invoice in a company name. Every page is checked with
//! axe-core (no serious or critical violation), at 375 px wide (no sideways scrolling) and for
//! its weight (under 100 KB), and photographed at both widths.
//!
//! Needs `chromium` and `chromedriver` on the PATH (or `CHROMIUM`, `CHROMEDRIVER`) and axe-core
//! (`MARKETBILL_AXE`, set by scripts/test.sh). Screenshots go to `MARKETBILL_SCREENSHOTS` if
//! set (the README's are made so), else under the build's temporary folder.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path as UrlPath, Query, State};
use axum::response::IntoResponse;
use fantoccini::{Client, ClientBuilder, Locator};
use marketbill_app::buyer_requests::{BuyerProof, BuyerRequestOutcome, buyer_request};
use marketbill_app::model::{InvoiceQuery, SellerId};
use marketbill_app::services::{Services, Settings};
use marketbill_domain::fees::FeePlans;
use marketbill_domain::money::format_euros_fr;
use marketbill_local::{Embedded, FolderStore};
use marketbill_octopia::{OctopiaClient, OctopiaConfig, OctopiaMarketplace};
use marketbill_testkit::simulator::{Simulator, SimulatorConfig};
use marketbill_testkit::{OrderGenerator, OrderMix};
use portal_api::{LocalTokens, Portal, router};
use serde_json::{Value, json};

/// The largest a page may weigh, as transferred.
const MAX_PAGE_BYTES: u64 = 100 * 1024;
/// How many times a test looks again for something that takes a moment (a file, a page).
const POLLS: usize = 200;
const POLL_EVERY: Duration = Duration::from_millis(100);

struct World {
    base: String,
    dir: PathBuf,
    sim: Simulator,
    services: Services,
}

/// The portal over the embedded adapters, on a loopback port, with the signed download links
/// of its folder store (what `marketbill serve` adds to the router).
async fn world(name: &str, orders: OrderMix) -> World {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sim = Simulator::start(SimulatorConfig::for_sellers(7, &["50001"])).await.unwrap();
    let client = &sim.clients()[0];
    let mut g = OrderGenerator::new(7, &client.seller_id);
    g.max_lines = 3;
    sim.put_orders(&client.seller_id, g.batch(orders, time::OffsetDateTime::now_utc()));
    let mut config = OctopiaConfig::new(&sim.api_base(), &sim.auth_base());
    config.base_backoff = Duration::from_millis(5);
    let marketplace = Arc::new(OctopiaMarketplace::new(Arc::new(OctopiaClient::new(config).unwrap())));
    let embedded = Embedded::open(&dir).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    embedded.store.serve_links_at(&format!("{base}/files"));
    let store = embedded.store.clone();
    let mut services = embedded.services(
        marketplace,
        std::sync::Arc::new(marketbill_afnor::AfnorPlatform::new(marketbill_afnor::AfnorConfig::default()).unwrap()),
        Settings::default(),
    );
    services.settings.public_url = Some(base.clone());
    let portal = Arc::new(Portal {
        services: services.clone(),
        auth: Arc::new(LocalTokens::new(b"a browser test key of 32 bytes!!")),
        plans: FeePlans::bundled(),
        platform: Arc::new(marketbill_afnor::AfnorPlatform::new(marketbill_afnor::AfnorConfig::default()).unwrap()),
    });
    let files = axum::Router::new().route("/files/{*key}", axum::routing::get(download)).with_state(store);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router(portal).merge(files)).await;
    });
    // The worker `marketbill serve` runs beside the portal (the runs sellers start).
    tokio::spawn(marketbill_app::schedule::work(services.clone(), FeePlans::bundled(), Duration::from_millis(200)));
    World { base, dir, sim, services }
}

/// A signed link of the folder store, as `marketbill serve` answers it.
async fn download(
    State(store): State<Arc<FolderStore>>,
    UrlPath(key): UrlPath<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    let expires = q.get("expires").and_then(|e| e.parse().ok()).unwrap_or(0);
    let sig = q.get("sig").cloned().unwrap_or_default();
    match store.open_link(&key, expires, &sig, time::OffsetDateTime::now_utc()) {
        Ok(bytes) => {
            let name = key.rsplit('/').next().unwrap_or("document").to_owned();
            (
                [
                    (axum::http::header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                    (axum::http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
                ],
                bytes,
            )
                .into_response()
        }
        Err(_) => axum::http::StatusCode::FORBIDDEN.into_response(),
    }
}

/// Chromium under chromedriver, headless, French, downloads into a folder of the test's.
struct Browser {
    client: Client,
    driver: Child,
    downloads: PathBuf,
    shots: PathBuf,
    axe: String,
}

impl Drop for Browser {
    /// The driver and the browsers it started share a process group of their own: all of it
    /// goes, even when a test fails before closing its session.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn tool(var: &str, name: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| name.to_owned())
}

async fn browser(dir: &Path) -> Browser {
    let axe_path = std::env::var("MARKETBILL_AXE").unwrap_or_else(|_| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        root.join(".cache/axe-core-4.14.1/axe.min.js").to_string_lossy().into_owned()
    });
    let axe = std::fs::read_to_string(&axe_path)
        .unwrap_or_else(|e| panic!("axe-core at {axe_path}: {e} (scripts/browser-env.sh fetches it)"));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = std::fs::File::create(dir.join("chromedriver.log")).unwrap();
    let driver = Command::new(tool("CHROMEDRIVER", "chromedriver"))
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("chromedriver does not start ({e}): apt-get install chromium chromium-driver"));
    let status = format!("http://127.0.0.1:{port}/status");
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..POLLS {
        if let Ok(r) = http.get(&status).send().await
            && r.status().is_success()
        {
            ready = true;
            break;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    assert!(ready, "chromedriver did not answer on port {port}");
    let downloads = dir.join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let shots = std::env::var("MARKETBILL_SCREENSHOTS").map(PathBuf::from).unwrap_or_else(|_| dir.join("screens"));
    std::fs::create_dir_all(&shots).unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": tool("CHROMIUM", "/usr/bin/chromium"),
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,900", "--lang=fr-FR", "--hide-scrollbars", "--no-first-run"],
            "prefs": {"download.default_directory": downloads.to_string_lossy(), "download.prompt_for_download": false}
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
    Browser { client, driver, downloads, shots, axe }
}

impl Browser {
    async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    async fn text(&self, css: &str) -> String {
        self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.unwrap()
    }

    async fn has(&self, css: &str) -> bool {
        // A page reloading itself may answer nothing for a moment: that is "not yet".
        self.client.find_all(Locator::Css(css)).await.is_ok_and(|found| !found.is_empty())
    }

    async fn fill(&self, id: &str, value: &str) {
        let e = self.client.find(Locator::Id(id)).await.unwrap_or_else(|e| panic!("#{id}: {e}"));
        e.clear().await.unwrap();
        e.send_keys(value).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
    }

    /// Clicks what submits a form or follows a link, and waits until the next page has loaded
    /// (a mark set on this document is gone and the new one is complete).
    async fn submit(&self, css: &str) {
        self.client.execute("window.__leaving = true;", vec![]).await.unwrap();
        self.click(css).await;
        self.wait_for_new_page().await;
    }

    async fn wait_for_new_page(&self) {
        for _ in 0..POLLS {
            let state = self
                .client
                .execute("return window.__leaving === undefined && document.readyState === 'complete';", vec![])
                .await;
            if matches!(state, Ok(Value::Bool(true))) {
                return;
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
        panic!("no new page after the click");
    }

    async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    /// The page as a user meets it: no serious or critical axe-core violation, no sideways
    /// scrolling at 375 px, under 100 KB; photographed at both widths as `name`.
    async fn check(&self, name: &str) {
        let title = self.client.title().await.unwrap();
        assert!(!title.contains('<') && title.chars().count() < 120, "{name}: the title is {title:?}");
        self.client.execute(&format!("{}\n;return true;", self.axe), vec![]).await.unwrap();
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations
                   .filter(v => v.impact === 'serious' || v.impact === 'critical')
                   .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))))
                   .catch(e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(found, json!([]), "{name}: accessibility violations");
        let weight = self
            .client
            .execute("return performance.getEntriesByType('navigation')[0].transferSize;", vec![])
            .await
            .unwrap();
        let weight = weight.as_u64().unwrap_or(0);
        assert!(weight > 0 && weight < MAX_PAGE_BYTES, "{name}: {weight} bytes");
        std::fs::write(self.shots.join(format!("{name}-desktop.png")), self.client.screenshot().await.unwrap())
            .unwrap();
        self.client.set_window_size(375, 812).await.unwrap();
        let fits = self
            .client
            .execute("return document.documentElement.scrollWidth <= window.innerWidth;", vec![])
            .await
            .unwrap();
        std::fs::write(self.shots.join(format!("{name}-375.png")), self.client.screenshot().await.unwrap()).unwrap();
        assert_eq!(fits, Value::Bool(true), "{name}: wider than 375 px");
        self.client.set_window_size(1280, 900).await.unwrap();
    }

    /// The file the browser finished downloading whose name ends with `suffix`.
    async fn downloaded(&self, suffix: &str) -> Vec<u8> {
        for _ in 0..POLLS {
            let done = std::fs::read_dir(&self.downloads)
                .unwrap()
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.to_string_lossy().ends_with(suffix));
            if let Some(path) = done {
                return std::fs::read(path).unwrap();
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
        panic!("no download ending with {suffix} in {}", self.downloads.display());
    }

    /// Waits for an element that a page reloading itself will show.
    async fn wait_for(&self, css: &str) {
        for _ in 0..POLLS {
            if self.has(css).await {
                return;
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
        panic!("{css} never appeared (at {})", self.path().await);
    }
}

/// The newest mail of the outbox whose text contains `needle`, as text.
fn outbox_text(dir: &Path, needle: &str) -> Option<String> {
    let mut mails: Vec<_> = std::fs::read_dir(dir).ok()?.filter_map(Result::ok).map(|e| e.path()).collect();
    mails.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    mails.iter().rev().find_map(|p| {
        let raw = std::fs::read(p).ok()?;
        let (_, parts) = marketbill_app::mail::parse_mail(&raw);
        parts.iter().map(|part| String::from_utf8_lossy(&part.bytes).into_owned()).find(|t| t.contains(needle))
    })
}

/// Every mail of the outbox sent to `to`, as (subject line, text).
fn mails_to(dir: &Path, to: &str) -> Vec<String> {
    let mut out = Vec::new();
    for p in std::fs::read_dir(dir).unwrap().filter_map(Result::ok).map(|e| e.path()) {
        let raw = std::fs::read(&p).unwrap();
        let (headers, parts) = marketbill_app::mail::parse_mail(&raw);
        if headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("To") && v == to) {
            let subject = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("Subject")).map(|(_, v)| v.clone());
            let text = parts.first().map(|p| String::from_utf8_lossy(&p.bytes).into_owned()).unwrap_or_default();
            out.push(format!("{}\n{text}", subject.unwrap_or_default()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seller_signs_up_onboards_gets_invoices_downloads_exports_and_unsubscribes() {
    let w = world("seller", OrderMix { shipped: 8, not_shipped: 1, abroad: 1 }).await;
    let b = browser(&w.dir).await;
    let url = |path: &str| format!("{}{path}", w.base);
    let email = "gerance@atelier-neuf.example";

    // Sign-up, with the keyboard only: tab to the address, type it, Enter.
    b.goto(&url("/inscription")).await;
    b.check("sign-up").await;
    let mut reached = false;
    for _ in 0..20 {
        b.client.active_element().await.unwrap().send_keys("\u{E004}").await.unwrap(); // Tab
        if b.client.active_element().await.unwrap().attr("id").await.unwrap().as_deref() == Some("email") {
            reached = true;
            break;
        }
    }
    assert!(reached, "the address field is reached with the Tab key");
    b.client.execute("window.__leaving = true;", vec![]).await.unwrap();
    b.client.active_element().await.unwrap().send_keys(&format!("{email}\u{E007}")).await.unwrap(); // Enter
    b.wait_for_new_page().await;
    assert!(b.text("#link-sent").await.contains("Un lien vient d'être envoyé"));
    b.check("sign-up-sent").await;
    let mail = outbox_text(&w.dir.join("outbox"), "/inscription/lien?jeton=").expect("the sign-up mail");
    let link = mail.split_whitespace().find(|w| w.contains("/inscription/lien?jeton=")).unwrap().to_owned();

    // Verify: the link opens the onboarding, and no token stays in the address bar.
    b.goto(&link).await;
    assert_eq!(b.path().await, "/espace/profil");
    assert!(b.client.current_url().await.unwrap().query().is_none());
    assert_eq!(b.client.find(Locator::Id("email")).await.unwrap().prop("value").await.unwrap().as_deref(), Some(email));
    // Until the company is saved, the space's pages lead back to its form.
    for path in ["/espace/factures", "/espace/problemes", "/espace"] {
        b.goto(&url(path)).await;
        assert_eq!(b.path().await, "/espace/profil", "{path} before the company is saved");
    }

    // The company data: a wrong SIREN is named on its field, by the domain's check digits.
    let profile = [
        ("legalName", "Atelier Neuf"),
        ("legalForm", "SAS"),
        ("shareCapital", "5 000"),
        ("siren", "732829321"),
        ("siret", "73282932000074"),
        ("rcsCity", "Lyon"),
        ("line1", "12 quai Saint-Antoine"),
        ("postalCode", "69002"),
        ("city", "Lyon"),
        ("vatNumber", "FR44732829320"),
        ("marketplaceSellerId", "50001"),
        ("invoicePrefix", "AN"),
        ("creditNotePrefix", "ANAV"),
    ];
    for (id, value) in profile {
        b.fill(id, value).await;
    }
    b.check("onboarding").await;
    b.submit("form.stack button[type=submit]").await;
    assert!(b.text("#siren-error").await.contains("SIREN"), "the SIREN's error is on its field");
    assert_eq!(
        b.client.find(Locator::Id("siren")).await.unwrap().attr("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );
    b.check("onboarding-errors").await;
    b.fill("siren", "732829320").await;
    b.click("#plan-tiered").await;
    b.submit("form.stack button[type=submit]").await;
    assert_eq!(b.path().await, "/espace/identifiants", "a new account goes on to its credentials");

    // Credentials: checked against the marketplace's token endpoint before they are kept.
    let client = w.sim.clients()[0].clone();
    b.fill("clientId", &client.client_id).await;
    b.fill("clientSecret", "not-the-secret").await;
    b.submit("form.stack button[type=submit]").await;
    assert!(b.text("#clientSecret-error").await.contains("Cdiscount refuse"));
    b.fill("clientSecret", &client.client_secret).await;
    b.submit("form.stack button[type=submit]").await;
    assert!(b.has("#credentials-ok").await);
    b.check("credentials").await;

    // On to the first invoices, from the page: the dashboard guides, « Lancer maintenant »
    // starts the seller's run.
    b.submit("#next-step").await;
    assert_eq!(b.path().await, "/espace");
    let steps = b.text("#getting-started").await;
    assert!(steps.contains("Vos identifiants Cdiscount — fait") && steps.contains("lancez un passage"), "{steps}");
    assert!(b.text("#next-run").await.contains("Prochain passage automatique"));
    b.check("dashboard-start").await;
    b.submit("#run-now").await;
    assert!(b.text("#run-message").await.contains("Passage lancé"));
    let seller: SellerId = w.services.account().seller_for_email(email).await.unwrap().expect("the new account");
    let mut done = false;
    for _ in 0..POLLS {
        // The run is over when the seller's run history has it.
        if !w.services.ledger.runs(&seller, 1).await.unwrap().is_empty() {
            done = true;
            break;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    assert!(done, "the run started from the page ran");
    let issued = documents_of(&w, &seller).await;
    assert!(!issued.is_empty(), "the run started from the page issued the invoices");
    b.goto(&url("/espace")).await;
    assert!(!b.has("#getting-started").await, "once invoices are out, the dashboard is no longer a guide");
    marketbill_app::import_tracker::track_imports(&w.services).await.unwrap();
    // The seller hears once that its first invoices are out.
    let told = mails_to(&w.dir.join("outbox"), email);
    let firsts: Vec<&String> = told.iter().filter(|m| m.starts_with("Vos premières factures sont parties")).collect();
    assert_eq!(firsts.len(), 1, "{told:?}");
    assert!(firsts[0].contains("/espace/factures"));

    b.goto(&url("/espace")).await;
    assert_eq!(b.text("#invoices-this-month").await, issued.len().to_string());
    b.check("dashboard").await;

    // The list, one invoice, its PDF: the browser's download is the stored document.
    b.goto(&url("/espace/factures")).await;
    let numbers = "tbody tr td:nth-child(2) a";
    let rows = b.client.find_all(Locator::Css(numbers)).await.unwrap();
    assert_eq!(rows.len(), issued.len());
    b.check("invoices").await;
    // Newest first; found by its amount or its buyer's name; sorted by total on a click.
    let newest = issued.iter().max_by_key(|r| (r.invoice.issue_date, r.invoice.number.to_string())).unwrap();
    assert_eq!(rows[0].text().await.unwrap(), newest.invoice.number.as_str());
    let total = newest.invoice.body.totals.tax_inclusive;
    b.fill("q", &total.to_string().replace('.', ",")).await;
    b.submit("#search").await;
    let found: Vec<String> = {
        let mut v = Vec::new();
        for a in b.client.find_all(Locator::Css(numbers)).await.unwrap() {
            v.push(a.text().await.unwrap());
        }
        v
    };
    assert!(found.contains(&newest.invoice.number.to_string()), "{found:?}");
    assert!(found.len() < issued.len() || issued.iter().all(|r| r.invoice.body.totals.tax_inclusive == total));
    let buyer_word = newest.invoice.body.buyer.name.split_whitespace().last().unwrap().to_owned();
    b.fill("q", &buyer_word).await;
    b.submit("#search").await;
    assert!(b.text("tbody").await.contains(newest.invoice.number.as_str()));
    b.fill("q", "").await;
    b.submit("#search").await;
    b.submit("#sort-total").await;
    let largest = issued.iter().map(|r| r.invoice.body.totals.tax_inclusive).max().unwrap();
    let first_total = b.text("tbody tr:first-child td:nth-child(6)").await;
    assert_eq!(first_total, format_euros_fr(largest).replace('\u{a0}', " "), "largest first");
    assert!(b.has("th[aria-sort=descending] #sort-total").await, "the sorted column says so");
    // Two ticked documents as one archive, named by seller.
    b.goto(&url("/espace/factures")).await;
    b.click("#pick-1").await;
    b.click("#pick-2").await;
    b.click("#download-selection").await;
    let chosen = b.downloaded("_selection-2.zip").await;
    let chosen = zip::ZipArchive::new(std::io::Cursor::new(chosen)).unwrap();
    assert_eq!(chosen.len(), 4, "two PDFs and two XML");
    b.goto(&url("/espace/factures")).await;
    let rows = b.client.find_all(Locator::Css(numbers)).await.unwrap();
    b.client.execute("window.__leaving = true;", vec![]).await.unwrap();
    // The oldest (the list is newest first).
    rows[rows.len() - 1].click().await.unwrap();
    b.wait_for_new_page().await;
    let number = b.path().await.rsplit('/').next().unwrap().to_owned();
    assert!(number.starts_with("AN2026-") || number.starts_with("AN20"), "{number}");
    b.check("invoice").await;
    b.click("#download-pdf").await;
    let pdf = b.downloaded(&format!("{number}.pdf")).await;
    let record = issued.iter().find(|r| r.invoice.number.as_str() == number).unwrap();
    let stored = w.services.store.get(&record.pdf.as_ref().unwrap().key).await.unwrap().unwrap();
    assert_eq!(pdf, stored, "the downloaded PDF is the stored one, byte for byte");

    // A returned unit: a credit note from the invoice's page, mailed to the buyer.
    let before = b.text("#creditable").await;
    let units = b.client.find(Locator::Css("input[name^='units-']")).await.unwrap();
    units.send_keys("1").await.unwrap();
    b.fill("reason", "Retour d'un article").await;
    b.submit("#issue-credit-note").await;
    let notice = b.text("p.notice").await;
    assert!(notice.contains("Avoir ANAV2026-000001") && notice.contains("envoyé"), "{notice}");
    assert_ne!(b.text("#creditable").await, before, "what is left to credit went down");
    // Reloading the page after the form (post, redirect, get) issues and mails nothing more.
    let seller = w.services.account().seller_for_email(email).await.unwrap().unwrap();
    let credit_notes = || async {
        let q = marketbill_app::model::InvoiceQuery { credit_notes: Some(true), limit: 100, ..Default::default() };
        w.services.ledger.list_invoices(&seller, &q).await.unwrap().items.len()
    };
    let outbox = w.dir.join("outbox");
    let mails_before = std::fs::read_dir(&outbox).unwrap().count();
    b.client.refresh().await.unwrap();
    b.wait_for("p.notice").await;
    assert!(b.text("p.notice").await.contains("ANAV2026-000001"));
    assert_eq!(credit_notes().await, 1, "one credit note after a reload");
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), mails_before, "no mail after a reload");
    // What became of the invoice, and its credit note linked both ways.
    let way = b.text("#way").await;
    assert!(way.contains("Émise le") && way.contains("Envoyée à l'acheteur"), "{way}");
    assert!(b.text("#related").await.contains("ANAV2026-000001"));
    b.check("invoice-credit-note").await;
    b.submit("#related a").await;
    assert!(b.text("#related").await.contains("Avoir de la facture"), "the credit note links back to its invoice");
    assert!(b.text("tbody").await.contains('−'), "a credit note's total is negative");
    b.client.back().await.unwrap();
    b.wait_for("#way").await;

    // Export of the period as a ZIP, with its progress page.
    b.goto(&url("/espace/export")).await;
    b.check("export").await;
    let today = marketbill_domain::calendar::paris_date(time::OffsetDateTime::now_utc());
    let first = today.replace_day(1).unwrap();
    // The « ce mois-ci » preset fills the period.
    b.submit("#presets a").await;
    assert_eq!(b.client.find(Locator::Id("du")).await.unwrap().prop("value").await.unwrap(), Some(first.to_string()));
    assert_eq!(b.client.find(Locator::Id("au")).await.unwrap().prop("value").await.unwrap(), Some(today.to_string()));
    b.submit("#start-export").await;
    b.wait_for("#export-ready").await;
    b.check("export-ready").await;
    b.click("#download-zip").await;
    // Named by seller and period.
    let zip = b.downloaded(&format!("_{first}_{today}.zip")).await;
    assert!(
        std::fs::read_dir(&b.downloads)
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().starts_with(&format!("factures_{seller}_"))),
        "the archive is named by seller and period"
    );
    let archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    // Every document of the period, the credit note included.
    let documents = documents_of(&w, &seller).await;
    assert_eq!(documents.len(), issued.len() + 1);
    let stored_files =
        documents.iter().map(|r| usize::from(r.pdf.is_some()) + usize::from(r.xml.is_some())).sum::<usize>();
    assert_eq!(archive.len(), stored_files, "every PDF and XML of the period");
    // The sales journal of the month, for the accountant.
    b.goto(&url("/espace/export")).await;
    b.client
        .execute(
            "document.getElementById('journal-du').value = arguments[0]; document.getElementById('journal-au').value = arguments[1];",
            vec![json!(first.to_string()), json!(today.to_string())],
        )
        .await
        .unwrap();
    b.click("#download-journal").await;
    let fec = String::from_utf8(b.downloaded(".txt").await).unwrap();
    assert!(fec.starts_with("JournalCode\tJournalLib"), "{fec}");
    assert_eq!(fec.lines().filter(|l| l.contains("\t411\t")).count(), documents.len(), "one entry per document");

    // Problems: the order shipped abroad, in plain words.
    b.goto(&url("/espace/problemes")).await;
    let problems = b.text("tbody").await;
    assert!(problems.contains("pas livrée en France"), "{problems}");
    b.check("problems").await;

    b.goto(&url("/espace/consommation")).await;
    assert_eq!(b.text("tbody tr:first-child td:nth-child(2)").await, issued.len().to_string());
    assert_eq!(b.text("tbody tr:first-child td:nth-child(3)").await, "1", "the month's credit note, not billed");
    b.check("usage").await;

    // The approved platform: none yet (said plainly), then chosen, checked before it is saved.
    b.goto(&url("/espace/plateforme")).await;
    assert!(b.text("#platform-none").await.contains("ne sont pas transmises"));
    b.check("platform-none").await;
    let pa = marketbill_testkit::platform::PlatformSimulator::start("pa-client", "pa-secret").await.unwrap();
    pa.add_company("303265045", "303265045");
    for (id, value) in [
        ("platformName", "PA simulée".to_owned()),
        ("platformId", "0042".to_owned()),
        ("flowUrl", pa.flow_url()),
        ("directoryUrl", pa.directory_url()),
        ("tokenUrl", pa.token_url()),
        ("clientId", "pa-client".to_owned()),
        ("clientSecret", "wrong".to_owned()),
    ] {
        b.fill(id, &value).await;
    }
    b.submit("form.stack button[type=submit]").await;
    assert!(b.text("#clientSecret-error").await.contains("refusé"), "the refusal is on the secret's field");
    b.check("platform-refused").await;
    b.fill("clientSecret", "pa-secret").await;
    b.submit("form.stack button[type=submit]").await;
    assert!(b.has("#platform-ok").await);
    assert!(b.text("#platform-current").await.contains("PA simulée"));
    // A buyer asks for its invoice in its company's name (with its SIREN): the corrected
    // invoice is an e-invoice; the platform takes it, then the buyer refuses it.
    let orders: Vec<(String, String)> = w
        .sim
        .orders(&client.seller_id)
        .into_iter()
        .filter_map(|v| marketbill_domain::Order::from_value(v).ok())
        .filter(|o| o.status.is_shipped())
        .filter_map(|o| Some((o.order_id.to_string(), o.buyer_email()?.to_owned())))
        .collect();
    let mut corrected = None;
    for (order_id, buyer) in orders {
        let company = marketbill_testkit::buyers::company("303265045").unwrap();
        // The order credited above is the seller's to correct by hand: the next one.
        if let Ok(BuyerRequestOutcome::Corrected { invoice, .. }) =
            buyer_request(&w.services, &order_id, &BuyerProof::Email(String::from(&buyer)), company, None).await
        {
            corrected = Some(invoice);
            break;
        }
    }
    let corrected = corrected.expect("a corrected invoice");
    let platform = marketbill_afnor::AfnorPlatform::new(marketbill_afnor::AfnorConfig::default()).unwrap();
    marketbill_app::transmission::transmit(&w.services, &platform, &seller).await.unwrap();
    b.goto(&url("/espace/plateforme")).await;
    let flows = b.text("#transmissions").await;
    assert!(flows.contains(&format!("Facture {corrected}")) && flows.contains("Accepté par la plateforme"), "{flows}");
    assert!(flows.contains("200 Déposée"), "{flows}");
    pa.add_status(&corrected, 210, Some(("TX_TVA_ERR", "Taux de TVA erroné")));
    marketbill_app::transmission::transmit(&w.services, &platform, &seller).await.unwrap();
    b.client.refresh().await.unwrap();
    b.wait_for("#transmissions").await;
    let flows = b.text("#transmissions").await;
    assert!(
        flows.contains("Rejeté ou refusé") && flows.contains("210 Refusée") && flows.contains("Taux de TVA erroné"),
        "{flows}"
    );
    b.check("platform").await;
    // The list filters by where documents stand at the platform.
    b.goto(&url("/espace/factures?plateforme=rejetee")).await;
    let listed = b.client.find_all(Locator::Css("tbody tr td:nth-child(2) a")).await.unwrap();
    assert_eq!(listed.len(), 1, "one refused document");
    assert_eq!(listed[0].text().await.unwrap(), corrected);
    assert!(b.text("tbody").await.contains("210 Refusée"));
    b.check("invoices-platform").await;
    // The refusal is also a problem, in the platform's words, linked to the invoice.
    b.goto(&url("/espace/problemes")).await;
    let refused = b.text("#platform-refused").await;
    assert!(refused.contains(&corrected) && refused.contains("Taux de TVA erroné"), "{refused}");
    // An order's problem the seller dealt with is marked handled and leaves the list.
    let before = b.client.find_all(Locator::Css("button[id^=handled-]")).await.unwrap().len();
    assert!(before > 0, "the world has a refused order");
    b.submit("button[id^=handled-]").await;
    assert!(b.text("#retry-message").await.contains("marquée comme traitée"));
    assert_eq!(b.client.find_all(Locator::Css("button[id^=handled-]")).await.unwrap().len(), before - 1);
    // From the invoice's page the seller corrects the buyer's data and issues it again: a new
    // invoice replaces it and goes to the platform at the next pass.
    b.goto(&url(&format!("/espace/factures/{corrected}"))).await;
    assert!(b.text("#platform-standing").await.contains("Taux de TVA erroné"));
    b.fill("city", "").await;
    b.submit("#reissue").await;
    assert!(b.has("#city-error").await, "an emptied field is named");
    b.fill("city", "Lyon").await;
    b.fill("name", "ACME SAS, service achats").await;
    b.check("invoice-reissue").await;
    b.submit("#reissue").await;
    let said = b.text(".notice").await;
    assert!(said.contains(&format!("remplace la facture {corrected}")), "{said}");
    let replacement = b.path().await.trim_start_matches("/espace/factures/").to_owned();
    assert_ne!(replacement, corrected);
    marketbill_app::transmission::transmit(&w.services, &platform, &seller).await.unwrap();
    b.goto(&url("/espace/plateforme")).await;
    let flows = b.text("#transmissions").await;
    assert!(flows.contains(&format!("Facture {replacement}")), "{flows}");
    assert_eq!(pa.submitted(&replacement).len(), 1);

    // Unsubscribing: refused until the box is ticked, then the month left is stated.
    b.goto(&url("/espace/compte")).await;
    b.check("account").await;
    b.submit("#unsubscribe").await;
    assert!(b.has("#confirmer-error").await);
    b.click("#confirmer").await;
    b.submit("#unsubscribe").await;
    let message = b.text("#account-message").await;
    assert!(message.contains("résilié") && message.contains("jusqu'au"), "{message}");
    assert!(b.text("#status").await.contains("résilié"));
    b.check("account-unsubscribed").await;

    // Signing out ends the session.
    b.submit("header form button").await;
    assert_eq!(b.path().await, "/connexion");
    b.check("sign-in").await;
    b.goto(&url("/espace")).await;
    assert_eq!(b.path().await, "/connexion");
    b.client.clone().close().await.unwrap();
}

/// Every document of a seller, as the list reads them.
async fn documents_of(w: &World, seller: &SellerId) -> Vec<marketbill_app::model::InvoiceRecord> {
    let q = InvoiceQuery { limit: 100, ..Default::default() };
    w.services.documents().list_invoices(seller, &q).await.unwrap().items
}

/// The company a buyer asks its invoice in the name of, as the form's fields.
const COMPANY: [(&str, &str); 5] = [
    ("name", "Atelier Durand SARL"),
    ("taxNumber", "FR40303265045"),
    ("line1", "8 avenue Foch"),
    ("postalCode", "75016"),
    ("city", "Paris"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_asks_for_an_invoice_in_a_company_name_and_gets_the_credit_note_and_corrected_invoice() {
    let w = world("buyer", OrderMix { shipped: 3, not_shipped: 0, abroad: 0 }).await;
    let client = w.sim.clients()[0].clone();
    let seller: SellerId = "buyer-flow".parse().unwrap();
    let creds = marketbill_app::marketplace::MarketplaceCredentials {
        client_id: client.client_id.clone(),
        client_secret: client.client_secret.clone(),
        seller_id: client.seller_id.clone(),
    };
    let profile = marketbill_testkit::sellers::sample_seller(0, &client.seller_id).unwrap();
    let now = time::OffsetDateTime::now_utc();
    w.services.account().register(&seller, profile, Some(&creds), now).await.unwrap();
    marketbill_app::seller_run::run_seller(&w.services, &seller, None).await.unwrap();
    let order = w.sim.orders("50001").into_iter().find(|o| o["status"] == "Shipped").unwrap();
    let order_id = order["orderId"].as_str().unwrap().to_owned();
    let email = order["lines"][0]["shippingAddress"]["email"].as_str().unwrap().to_owned();

    // The invoice mail points to the buyer's page, with the order already known.
    let outbox = w.dir.join("outbox");
    let invoice_mail = mails_to(&outbox, &email);
    let mail =
        invoice_mail.iter().find(|m| m.contains(&format!("commande={order_id}&cle="))).expect("the order's mail");
    assert!(mail.contains("Besoin d'une facture au nom de votre société"));
    let prefix = format!("{}/facture?commande=", w.base);
    let link = mail.split_whitespace().find(|word| word.starts_with(&prefix)).unwrap();

    let b = browser(&w.dir).await;
    // Without the link, a buyer proves the order by what it knows: the delivery's postal code
    // and name (never the marketplace's relay address). Wrong fields first: each is named.
    b.goto(&format!("{}/facture", w.base)).await;
    assert!(!b.has("#email").await, "no e-mail to type");
    b.check("buyer").await;
    b.fill("orderId", &order_id).await;
    b.submit("form.stack button[type=submit]").await;
    for field in ["deliveryPostalCode", "deliveryName", "name", "taxNumber", "line1", "postalCode", "city"] {
        assert!(b.has(&format!("#{field}-error")).await, "{field} has its error");
    }
    b.check("buyer-errors").await;
    // A wrong postal code: the one refusal that tells nothing.
    b.fill("deliveryPostalCode", "99999").await;
    b.fill("deliveryName", "Personne").await;
    for (id, value) in COMPANY {
        b.fill(id, value).await;
    }
    b.submit("form.stack button[type=submit]").await;
    assert!(b.text("#form-error").await.contains("Nous ne trouvons pas"));

    // From the mail's link: the order is shown, nothing to prove, only the billing data.
    b.goto(link).await;
    assert_eq!(
        b.client.find(Locator::Id("orderId")).await.unwrap().prop("value").await.unwrap().as_deref(),
        Some(order_id.as_str())
    );
    assert!(!b.has("#deliveryPostalCode").await && !b.has("#email").await);
    b.check("buyer-linked").await;
    for (id, value) in COMPANY {
        b.fill(id, value).await;
    }
    b.submit("form.stack button[type=submit]").await;
    let confirmation = b.text("#confirmation").await;
    assert!(confirmation.contains("facture corrigée") && confirmation.contains("avoir"), "{confirmation}");
    b.check("buyer-done").await;
    // Reloading the confirmation cancels nothing and issues nothing.
    let mailed = mails_to(&outbox, &email).len();
    b.client.refresh().await.unwrap();
    b.wait_for("#confirmation").await;
    assert_eq!(mails_to(&outbox, &email).len(), mailed, "no new document after a reload");
    // Both documents were mailed to the buyer: the credit note and the corrected invoice.
    let mails = mails_to(&outbox, &email);
    assert!(mails.iter().any(|m| m.starts_with("Votre avoir MLAV2026-")), "{mails:?}");
    assert!(mails.iter().filter(|m| m.starts_with("Votre facture ML2026-")).count() >= 2, "{mails:?}");
    assert!(mails.iter().any(|m| m.contains("Atelier Durand SARL") || m.contains("annule la facture")));
    // The corrected invoice's mail does not offer the correction again; nothing says refunded.
    let corrected = mails.iter().find(|m| m.contains("qui remplace la facture")).expect("the corrected invoice's mail");
    assert!(!corrected.contains("Besoin d'une facture"), "{corrected}");
    assert!(mails.iter().all(|m| !m.contains("remboursé le")), "{mails:?}");
    assert!(mails.iter().any(|m| m.contains("aucun remboursement")), "the credit note says nothing was refunded");
    b.client.clone().close().await.unwrap();
}
