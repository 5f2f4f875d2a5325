//! Every route of the portal API over HTTP, each validation error, and tenant isolation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::sync::Arc;
use std::time::Duration;

use marketbill_app::marketplace::MarketplaceCredentials;
use marketbill_app::model::SellerId;
use marketbill_app::services::{Services, Settings};
use marketbill_domain::fees::FeePlans;
use marketbill_local::Embedded;
use marketbill_octopia::{OctopiaClient, OctopiaConfig, OctopiaMarketplace};
use marketbill_testkit::sellers::sample_seller;
use marketbill_testkit::simulator::{Simulator, SimulatorConfig};
use marketbill_testkit::{OrderGenerator, OrderMix};
use portal_api::{LocalTokens, Portal, router};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Api {
    base: String,
    http: reqwest::Client,
    tokens: LocalTokens,
    a: SellerId,
    b: SellerId,
    sim: Simulator,
    services: Services,
    store: Arc<marketbill_local::FolderStore>,
}

impl Api {
    /// What `marketbill serve` answers for one of this portal's download links.
    fn download(&self, url: &str) -> Vec<u8> {
        assert!(
            url.starts_with("http://127.0.0.1:9/files/sellers/")
                || url.starts_with("http://127.0.0.1:9/files/exports/"),
            "{url}"
        );
        let (key, expires, sig) = marketbill_local::FolderStore::parse_link(url).unwrap();
        self.store.open_link(&key, expires, &sig, time::OffsetDateTime::now_utc()).unwrap()
    }
}

impl Api {
    fn token(&self, id: &SellerId) -> String {
        self.tokens.mint(id, time::OffsetDateTime::now_utc() + time::Duration::hours(1))
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        who: Option<&SellerId>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(id) = who {
            req = req.bearer_auth(self.token(id));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

async fn api(name: &str) -> Api {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("routes").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sim = Simulator::start(SimulatorConfig::for_sellers(5, &["50001", "50002"])).await.unwrap();
    let mut config = OctopiaConfig::new(&sim.api_base(), &sim.auth_base());
    config.base_backoff = Duration::from_millis(5);
    let marketplace = Arc::new(OctopiaMarketplace::new(Arc::new(OctopiaClient::new(config).unwrap())));
    let embedded = Embedded::open(&dir).unwrap();
    embedded.store.serve_links_at("http://127.0.0.1:9/files");
    let store = embedded.store.clone();
    let services = embedded.services(
        marketplace,
        std::sync::Arc::new(marketbill_afnor::AfnorPlatform::new(marketbill_afnor::AfnorConfig::default()).unwrap()),
        Settings::default(),
    );
    let now = time::OffsetDateTime::now_utc();
    let mut ids = Vec::new();
    for (k, client) in sim.clients().iter().enumerate() {
        let mut g = OrderGenerator::new(5, &client.seller_id);
        g.max_lines = 3;
        sim.put_orders(&client.seller_id, g.batch(OrderMix { shipped: 6, not_shipped: 1, abroad: 1 }, now));
        let id: SellerId = format!("{name}-{k}").parse().unwrap();
        let creds = MarketplaceCredentials {
            client_id: client.client_id.clone(),
            client_secret: client.client_secret.clone(),
            seller_id: client.seller_id.clone(),
        };
        // Different profiles: seller A numbers ML…, seller B numbers BW…
        services
            .account()
            .register(&id, sample_seller(k, &client.seller_id).unwrap(), Some(&creds), now)
            .await
            .unwrap();
        marketbill_app::seller_run::run_seller(&services, &id, None).await.unwrap();
        ids.push(id);
    }
    marketbill_app::import_tracker::track_imports(&services).await.unwrap();
    let tokens_key = b"a test key of thirty-two bytes!!".to_vec();
    let portal = Arc::new(Portal {
        services: services.clone(),
        auth: Arc::new(LocalTokens::new(&tokens_key)),
        plans: FeePlans::bundled(),
        platform: Arc::new(marketbill_afnor::AfnorPlatform::new(marketbill_afnor::AfnorConfig::default()).unwrap()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router(portal)).await;
    });
    Api {
        base,
        http: reqwest::Client::new(),
        tokens: LocalTokens::new(&tokens_key),
        a: ids[0].clone(),
        b: ids[1].clone(),
        sim,
        services,
        store,
    }
}

#[tokio::test]
async fn every_seller_route_needs_a_valid_token() {
    let api = api("auth").await;
    // Every route the API document says needs a token.
    let (_, spec) = api.call(Method::GET, "/openapi.json", None, None).await;
    let mut routes: Vec<(String, String)> = Vec::new();
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (method, op) in operations.as_object().unwrap() {
            if op.get("security").is_some() {
                routes.push((
                    method.to_uppercase(),
                    path.replace("{number}", "ML2026-000001").replace("{orderId}", "2612041911MQXP002"),
                ));
            }
        }
    }
    assert!(routes.len() >= 15, "{routes:?}");
    for (method, path) in &routes {
        let (status, body) = api.call(method.parse().unwrap(), path, None, Some(json!({}))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
        assert_eq!(body["status"], 401);
        let r = api
            .http
            .request(method.parse().unwrap(), format!("{}{path}", api.base))
            .bearer_auth(api.token(&api.a).replace("mbt.", "mbt.x"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {path} with a forged token");
    }
}

#[tokio::test]
async fn the_seller_profile_and_credentials_routes_validate_their_input() {
    let api = api("seller").await;
    let (status, body) = api.call(Method::GET, "/v1/seller", Some(&api.a), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["hasCredentials"], true);
    assert!(!body.to_string().contains(&api.sim.clients()[0].client_secret), "the secret is never returned");
    let mut profile = body["profile"].clone();
    profile["siren"] = "732829321".into();
    let (status, body) = api.call(Method::PUT, "/v1/seller", Some(&api.a), Some(profile.clone())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["errors"]["siren"].is_array(), "{body}");
    profile["siren"] = "732829320".into();
    profile["favouriteColour"] = "blue".into();
    let (status, body) = api.call(Method::PUT, "/v1/seller", Some(&api.a), Some(profile.clone())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unknown fields are rejected: {body}");
    profile.as_object_mut().unwrap().remove("favouriteColour");
    let (status, _) = api.call(Method::PUT, "/v1/seller", Some(&api.a), Some(profile)).await;
    assert_eq!(status, StatusCode::OK);
    let huge = json!({"legalName": "x".repeat(70_000)});
    let (status, _) = api.call(Method::PUT, "/v1/seller", Some(&api.a), Some(huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let client = &api.sim.clients()[0];
    let wrong = json!({"clientId": client.client_id, "clientSecret": "wrong", "sellerId": client.seller_id});
    let (status, body) = api.call(Method::PUT, "/v1/seller/credentials", Some(&api.a), Some(wrong)).await;
    assert_eq!((status, body["errors"]["clientSecret"].is_array()), (StatusCode::BAD_REQUEST, true), "{body}");
    let empty = json!({"clientId": "", "clientSecret": "", "sellerId": ""});
    let (status, body) = api.call(Method::PUT, "/v1/seller/credentials", Some(&api.a), Some(empty)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"].as_object().unwrap().len(), 3);
    let right =
        json!({"clientId": client.client_id, "clientSecret": client.client_secret, "sellerId": client.seller_id});
    let (status, _) = api.call(Method::PUT, "/v1/seller/credentials", Some(&api.a), Some(right)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn invoices_exports_usage_problems_and_resend_over_http() {
    let api = api("invoices").await;
    let (status, page) = api.call(Method::GET, "/v1/invoices?limit=4", Some(&api.a), None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 4);
    let cursor = page["nextCursor"].as_str().unwrap().to_owned();
    let (_, rest) = api.call(Method::GET, &format!("/v1/invoices?limit=4&cursor={cursor}"), Some(&api.a), None).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 2);
    for bad in ["kind=bill", "limit=0", "limit=101", "from=yesterday", "cursor=%20", "color=blue"] {
        let (status, body) = api.call(Method::GET, &format!("/v1/invoices?{bad}"), Some(&api.a), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (_, credit) = api.call(Method::GET, "/v1/invoices?kind=creditNote", Some(&api.a), None).await;
    assert!(credit["items"].as_array().unwrap().is_empty());
    let number = page["items"][0]["number"].as_str().unwrap().to_owned();
    let order_id = page["items"][0]["orderId"].as_str().unwrap().to_owned();
    let (_, by_order) = api.call(Method::GET, &format!("/v1/invoices?orderId={order_id}"), Some(&api.a), None).await;
    assert_eq!(by_order["items"][0]["number"], number.as_str());

    let (status, one) = api.call(Method::GET, &format!("/v1/invoices/{number}"), Some(&api.a), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(api.download(one["pdf"]["url"].as_str().unwrap()).starts_with(b"%PDF-1.7"));
    assert_eq!(one["invoice"]["number"], number.as_str());
    let (status, _) = api.call(Method::GET, "/v1/invoices/ML2026-999999", Some(&api.a), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.call(Method::GET, "/v1/invoices/not%20a%20number", Some(&api.a), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let today = marketbill_domain::calendar::paris_date(time::OffsetDateTime::now_utc());
    let (status, export) = api
        .call(
            Method::POST,
            "/v1/exports",
            Some(&api.a),
            Some(json!({"from": (today - time::Duration::days(2)).to_string(), "to": today.to_string()})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{export}");
    assert_eq!(export["files"], 12);
    let (status, _) =
        api.call(Method::POST, "/v1/exports", Some(&api.a), Some(json!({"from": today.to_string()}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (_, usage) = api.call(Method::GET, "/v1/usage", Some(&api.a), None).await;
    assert_eq!(usage["invoicesThisMonth"], 6);
    assert_eq!(usage["fee"]["amountExclVat"], "0.60");
    let (_, problems) = api.call(Method::GET, "/v1/orders/problems", Some(&api.a), None).await;
    assert_eq!(problems["items"][0]["reason"], "notShippedToFrance", "{problems}");
    // A problem the seller dealt with leaves the list (and stays out when marked again).
    let listed = problems["items"].as_array().unwrap().len();
    let handled = problems["items"][0]["orderId"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let (status, _) = api.call(Method::POST, &format!("/v1/orders/{handled}/handled"), Some(&api.a), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let (_, problems) = api.call(Method::GET, "/v1/orders/problems", Some(&api.a), None).await;
    let left: Vec<&str> =
        problems["items"].as_array().unwrap().iter().map(|i| i["orderId"].as_str().unwrap()).collect();
    assert_eq!(left.len(), listed - 1);
    assert!(!left.contains(&handled.as_str()));
    let (status, _) = api.call(Method::POST, "/v1/orders/NOSUCHORDER1/handled", Some(&api.a), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, sent) = api.call(Method::POST, &format!("/v1/invoices/{number}/resend"), Some(&api.a), None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    // A run now: queued once; asked again at once, nothing more is queued.
    let (status, run) = api.call(Method::POST, "/v1/runs", Some(&api.a), None).await;
    assert_eq!((status, run["run"].as_str()), (StatusCode::ACCEPTED, Some("queued")), "{run}");
    let (status, run) = api.call(Method::POST, "/v1/runs", Some(&api.a), None).await;
    assert_eq!((status, run["run"].as_str()), (StatusCode::ACCEPTED, Some("alreadyQueued")), "{run}");
    // Issuing again is for an invoice the platform rejected or the buyer refused; the billing
    // data is checked field by field first.
    let billing = json!({"kind": "company", "name": "ACME SAS", "taxNumber": "303265045",
        "address": {"line1": "1 rue de la Paix", "postalCode": "75002", "city": "Paris", "countryCode": "FR"}});
    let reissue = format!("/v1/invoices/{number}/reissue");
    let (status, refused) = api.call(Method::POST, &reissue, Some(&api.a), Some(billing.clone())).await;
    assert_eq!((status, refused["code"].as_str()), (StatusCode::CONFLICT, Some("notRefused")), "{refused}");
    let mut bad = billing.clone();
    bad["taxNumber"] = json!("");
    bad["address"]["city"] = json!("");
    let (status, refused) = api.call(Method::POST, &reissue, Some(&api.a), Some(bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused["errors"]["taxNumber"].is_array() && refused["errors"]["address.city"].is_array(), "{refused}");
    let mut extra = billing;
    extra["orderId"] = json!("1");
    let (status, _) = api.call(Method::POST, &reissue, Some(&api.a), Some(extra)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, spec) = api.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(spec["openapi"].as_str().map(|v| v.starts_with("3.")), Some(true));
}

#[tokio::test]
async fn seller_a_can_neither_read_nor_change_anything_of_seller_b() {
    let api = api("tenancy").await;
    let (_, b_page) = api.call(Method::GET, "/v1/invoices", Some(&api.b), None).await;
    let b_numbers: Vec<String> =
        b_page["items"].as_array().unwrap().iter().map(|i| i["number"].as_str().unwrap().to_owned()).collect();
    let b_orders: Vec<String> =
        b_page["items"].as_array().unwrap().iter().map(|i| i["orderId"].as_str().unwrap().to_owned()).collect();
    assert!(!b_numbers.is_empty());
    for n in &b_numbers {
        let (status, _) = api.call(Method::GET, &format!("/v1/invoices/{n}"), Some(&api.a), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "A read B's invoice {n}");
        let (status, _) = api.call(Method::POST, &format!("/v1/invoices/{n}/resend"), Some(&api.a), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "A resent B's invoice {n}");
    }
    for o in &b_orders {
        let (_, page) = api.call(Method::GET, &format!("/v1/invoices?orderId={o}"), Some(&api.a), None).await;
        assert!(page["items"].as_array().unwrap().is_empty(), "A listed B's order {o}");
    }
    let (_, a_page) = api.call(Method::GET, "/v1/invoices?limit=100", Some(&api.a), None).await;
    assert!(
        a_page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| !b_numbers.contains(&i["number"].as_str().unwrap().to_owned()))
    );
    let (_, problems) = api.call(Method::GET, "/v1/orders/problems", Some(&api.a), None).await;
    let a_orders: Vec<String> =
        problems["items"].as_array().unwrap().iter().map(|i| i["orderId"].as_str().unwrap().to_owned()).collect();
    assert!(a_orders.iter().all(|o| !b_orders.contains(o)));
    let today = marketbill_domain::calendar::paris_date(time::OffsetDateTime::now_utc());
    let (_, export) = api
        .call(
            Method::POST,
            "/v1/exports",
            Some(&api.a),
            Some(json!({"from": today.to_string(), "to": today.to_string()})),
        )
        .await;
    let zip = api.download(export["url"].as_str().unwrap());
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    for i in 0..archive.len() {
        let name = archive.by_index(i).unwrap().name().unwrap().to_string();
        assert!(!b_numbers.iter().any(|n| name.contains(n.as_str())), "B's {name} in A's export");
    }
    // A's changes touch A only.
    let (_, before_b) = api.call(Method::GET, "/v1/seller", Some(&api.b), None).await;
    let (status, _) = api.call(Method::DELETE, "/v1/seller", Some(&api.a), None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, after_b) = api.call(Method::GET, "/v1/seller", Some(&api.b), None).await;
    assert_eq!(before_b, after_b);
    assert_eq!(after_b["status"], "active");
    let (_, a) = api.call(Method::GET, "/v1/seller", Some(&api.a), None).await;
    assert_eq!(a["status"], "unsubscribed");
    assert_eq!(a["hasCredentials"], false);
    let _ = &api.services;
}

#[tokio::test]
async fn buyer_requests_are_validated_refused_generically_and_corrected() {
    let api = api("buyers").await;
    let order = api
        .sim
        .orders("50001")
        .into_iter()
        .find(|o| o["status"] == "Shipped" && o["lines"][0]["shippingAddress"]["countryCode"] == "FR")
        .unwrap();
    let order_id = order["orderId"].as_str().unwrap().to_owned();
    let email = order["lines"][0]["shippingAddress"]["email"].as_str().unwrap().to_owned();
    let body = |o: &str, e: &str| {
        json!({"orderId": o, "email": e, "kind": "company", "name": "Atelier Durand SARL", "taxNumber": "FR40303265045",
               "address": {"line1": "8 avenue Foch", "postalCode": "75016", "city": "Paris", "countryCode": "FR"}})
    };
    let mut invalid = body(&order_id, "not-an-email");
    invalid["taxNumber"] = "FR41303265045".into();
    invalid["address"]["countryCode"] = "France".into();
    let (status, problem) = api.call(Method::POST, "/v1/invoice-requests", None, Some(invalid)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for f in ["email", "taxNumber", "address.countryCode"] {
        assert!(problem["errors"][f].is_array(), "{f}: {problem}");
    }
    let (s1, unknown) = api.call(Method::POST, "/v1/invoice-requests", None, Some(body("UNKNOWN00001", &email))).await;
    let (s2, mismatch) =
        api.call(Method::POST, "/v1/invoice-requests", None, Some(body(&order_id, "other@example.com"))).await;
    assert_eq!((s1, s2), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(unknown["detail"], mismatch["detail"], "the refusal does not say which part was wrong");
    let (status, done) = api.call(Method::POST, "/v1/invoice-requests", None, Some(body(&order_id, &email))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{done}");
    assert_eq!(done["outcome"], "corrected");
    assert!(done["creditNote"].as_str().unwrap().starts_with("MLAV2026-"));
}

/// A form's anti-forgery pair, from the page that shows it: the cookie to send back and the
/// hidden field's value.
async fn form_csrf(http: &reqwest::Client, url: &str, cookie: Option<&str>) -> (String, String) {
    let mut req = http.get(url);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let r = req.send().await.unwrap();
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("mb_csrf="))
        .expect("the page sets the anti-forgery cookie");
    assert!(set.contains("SameSite=Strict") && set.contains("HttpOnly"), "{set}");
    let page = r.text().await.unwrap();
    let value = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    (set.split(';').next().unwrap().to_owned(), value)
}

/// The newest mail of the outbox whose text contains `needle`, as text.
fn outbox_text(dir: &std::path::Path, needle: &str) -> Option<String> {
    let mut mails: Vec<_> = std::fs::read_dir(dir).ok()?.filter_map(Result::ok).map(|e| e.path()).collect();
    mails.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    mails.iter().rev().find_map(|p| {
        let raw = std::fs::read(p).ok()?;
        let (_, parts) = marketbill_app::mail::parse_mail(&raw);
        parts.iter().map(|part| String::from_utf8_lossy(&part.bytes).into_owned()).find(|t| t.contains(needle))
    })
}

#[tokio::test]
async fn the_seller_signs_in_by_a_one_time_link_and_reads_the_dashboard_and_invoices() {
    let api = api("pages").await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    // Not signed in: the personal space sends to the sign-in page.
    let r = http.get(format!("{}/espace", api.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/connexion");

    // Same answer for a known and an unknown address; only the known one gets a mail.
    let email = sample_seller(0, "50001").unwrap().email;
    let outbox = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("routes/pages/outbox");
    let (csrf_cookie, csrf) = form_csrf(&http, &format!("{}/connexion", api.base), None).await;
    let forged = http
        .post(format!("{}/connexion", api.base))
        .form(&[("email", email.as_str()), ("csrf", "0123456789abcdef0123456789abcdef")])
        .header("cookie", &csrf_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN, "a form without this browser's anti-forgery value");
    assert!(outbox_text(&outbox, "jeton=").is_none(), "a forged form sends nothing");
    let post = |email: String| {
        let (http, url, cookie, csrf) =
            (http.clone(), format!("{}/connexion", api.base), csrf_cookie.clone(), csrf.clone());
        async move {
            http.post(url).header("cookie", cookie).form(&[("email", email), ("csrf", csrf)]).send().await.unwrap()
        }
    };
    let unknown = post("nobody@example.com".into()).await;
    let unknown_page = unknown.text().await.unwrap();
    assert!(outbox_text(&outbox, "jeton=").is_none(), "no mail for an unknown address");
    let known = post(email.clone()).await;
    assert_eq!(known.status(), StatusCode::OK);
    assert_eq!(known.text().await.unwrap(), unknown_page, "the answer does not tell whether the address is known");
    let text = outbox_text(&outbox, "jeton=").expect("the sign-in mail is in the outbox");
    let link = text.split_whitespace().find(|w| w.contains("/connexion/lien?jeton=")).unwrap().to_owned();

    let r = http.get(format!("{}{link}", api.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();
    let again = http.get(format!("{}{link}", api.base)).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::FORBIDDEN, "a sign-in link works once");

    let page = |path: &str| {
        let (http, url, session) = (http.clone(), format!("{}{path}", api.base), session.clone());
        async move {
            let r = http.get(url).header("cookie", session).send().await.unwrap();
            let status = r.status();
            let csp = r.headers().get("content-security-policy").map(|v| v.to_str().unwrap().to_owned());
            (status, csp, r.text().await.unwrap())
        }
    };
    let (status, csp, dashboard) = page("/espace").await;
    assert_eq!(status, StatusCode::OK);
    assert!(csp.unwrap().contains("default-src 'none'"));
    let usage = portal_usage(&api, &api.a).await;
    assert!(dashboard.contains(&format!("id=\"invoices-this-month\">{usage}<")), "{dashboard}");
    assert!(dashboard.contains("<svg") && dashboard.contains("Factures par jour"));
    let (_, _, english) = page("/espace?lang=en").await;
    assert!(english.contains("Invoices per day"));

    let (_, _, list) = page("/espace/factures").await;
    let first = list.split("href=\"/espace/factures/").nth(1).unwrap().split('"').next().unwrap().to_owned();
    assert!(first.starts_with("ML"), "seller A's series: {first}");
    let (_, _, one) = page(&format!("/espace/factures/{first}")).await;
    let pdf_url = one
        .split("id=\"download-pdf\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&#x2f;", "/")
        .replace("&amp;", "&");
    assert!(api.download(&pdf_url).starts_with(b"%PDF-"));
    // Another seller's document is not found, and filters that cannot be read say so.
    let (status, _, _) = page("/espace/factures/BW2026-000001").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, bad) = page("/espace/factures?du=hier").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("AAAA-MM-JJ"));

    // Signing out ends the session: the same cookie, replayed, no longer opens the space.
    let (csrf_cookie, csrf) = form_csrf(&http, &format!("{}/espace", api.base), Some(&session)).await;
    let out = http
        .post(format!("{}/deconnexion", api.base))
        .header("cookie", format!("{session}; {csrf_cookie}"))
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let (status, _, _) = page("/espace").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the ended session sends to the sign-in page");
}

async fn portal_usage(api: &Api, id: &SellerId) -> u64 {
    api.services.metering().usage(id, &FeePlans::bundled()).await.unwrap().invoices_this_month
}

#[tokio::test]
async fn the_buyer_page_names_each_wrong_field_and_refuses_unknown_orders_alike() {
    let api = api("buyer-page").await;
    let http = reqwest::Client::new();
    let r = http.get(format!("{}/facture", api.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let form = r.text().await.unwrap();
    assert!(form.contains("<label for=\"orderId\">") && form.contains("lang=\"fr\""));
    let (cookie, csrf) = form_csrf(&http, &format!("{}/facture", api.base), None).await;

    let r = http
        .post(format!("{}/facture", api.base))
        .header("cookie", &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("kind", "company"),
            ("orderId", "<script>"),
            ("taxNumber", "FR00000000000"),
            ("countryCode", "France"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.unwrap();
    for field in [
        "orderId",
        "deliveryPostalCode",
        "deliveryName",
        "name",
        "taxNumber",
        "line1",
        "postalCode",
        "city",
        "countryCode",
    ] {
        assert!(page.contains(&format!("id=\"{field}-error\"")), "{field} has its error");
    }
    // In the page's language only: the tax number's refusal is said in French, not in the
    // domain's English.
    assert!(page.contains("Ce numéro de TVA n") && page.contains("est pas valable : vérifiez le code pays"), "{page}");
    assert!(!page.contains("check digit") && !page.contains("fails"), "no English on a French page");
    assert!(!page.contains("<script>"), "what was typed is escaped");
    assert!(page.contains("&lt;script&gt;"));

    let valid = |order: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("kind", "company".to_owned()),
            ("orderId", order.to_owned()),
            ("deliveryPostalCode", "75016".to_owned()),
            ("deliveryName", "Durand".to_owned()),
            ("name", "Atelier Durand".to_owned()),
            ("taxNumber", "FR40303265045".to_owned()),
            ("line1", "8 avenue Foch".to_owned()),
            ("postalCode", "75016".to_owned()),
            ("city", "Paris".to_owned()),
            ("countryCode", "FR".to_owned()),
        ]
    };
    let unknown = http
        .post(format!("{}/facture", api.base))
        .header("cookie", &cookie)
        .form(&valid("NOSUCHORDER1"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(unknown.text().await.unwrap().contains("Nous ne trouvons pas de commande"));
    // A link whose key was altered: said on the page, and refused like an unknown order.
    let forged = http.get(format!("{}/facture?commande=NOSUCHORDER1&cle=00ff", api.base)).send().await.unwrap();
    let forged = forged.text().await.unwrap();
    assert!(forged.contains("Ce lien n") && forged.contains("est pas valable (incomplet ou modifié)"), "{forged}");
    let mut with_key = valid("NOSUCHORDER1");
    with_key.push(("cle", "0".repeat(32)));
    let refused =
        http.post(format!("{}/facture", api.base)).header("cookie", &cookie).form(&with_key).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_problem_is_retried_from_its_page_a_refused_upload_at_once_a_failed_step_by_a_run() {
    let api = api("retry").await;
    let s = &api.services;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let session = format!("mb_session={}", portal_api::auth::EmailLinks::open_session(&api.tokens, &api.a).unwrap());
    let now = time::OffsetDateTime::now_utc();
    // One accepted order the marketplace then refused, one whose next upload failed.
    let orders = s.ledger.list_orders(&api.a).await.unwrap();
    let mut issued = orders.iter().filter(|o| o.stage >= marketbill_app::model::OrderStage::Uploaded);
    let mut refused = issued.next().unwrap().clone();
    refused.stage = marketbill_app::model::OrderStage::Uploaded;
    refused.move_to(marketbill_app::model::OrderStage::Rejected, now).unwrap();
    let mut failing = issued.next().unwrap().clone();
    failing.stage = marketbill_app::model::OrderStage::Uploaded;
    failing.upload_attempts += 1;
    failing.last_error = Some("the marketplace is unavailable".into());
    for rec in [&refused, &failing] {
        s.ledger.update_orders(&api.a, std::slice::from_ref(rec)).await.unwrap();
    }
    let uploads_before = api.sim.requests(marketbill_testkit::simulator::Route::UploadInvoice);

    let (csrf_cookie, csrf) = form_csrf(&http, &format!("{}/espace/problemes", api.base), Some(&session)).await;
    let retry = |order: String| {
        let (http, url) = (http.clone(), format!("{}/espace/problemes/relance", api.base));
        let (cookie, csrf) = (format!("{session}; {csrf_cookie}"), csrf.clone());
        let base = api.base.clone();
        async move {
            let r = http.post(url).header("cookie", &cookie).form(&[("csrf", csrf), ("commande", order)]).send().await;
            let r = r.unwrap();
            // Post, redirect, get: the page the form leads to says what was done.
            if r.status() == StatusCode::SEE_OTHER {
                let to = format!("{base}{}", r.headers()["location"].to_str().unwrap());
                let page = http.get(to).header("cookie", &cookie).send().await.unwrap();
                return (page.status(), page.text().await.unwrap());
            }
            (r.status(), r.text().await.unwrap())
        }
    };
    let (status, page) = retry(refused.order_id.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("déposée à nouveau"), "{page}");
    let after = s.ledger.get_order(&api.a, &refused.order_id).await.unwrap().unwrap();
    assert_eq!(after.stage, marketbill_app::model::OrderStage::Uploaded);
    assert_eq!(api.sim.requests(marketbill_testkit::simulator::Route::UploadInvoice), uploads_before + 1);

    let (status, page) = retry(failing.order_id.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("sera reprise au prochain passage"), "{page}");
    let queued = s.queue.receive(10, Duration::from_millis(10)).await.unwrap();
    assert!(queued.iter().any(|m| m.message.seller_id == api.a), "a run of this seller is queued");

    // Another seller's order, or nothing to retry: named refusals, nothing done.
    let (status, _) = retry("NOSUCHORDER1".into()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let b_order = s.ledger.list_orders(&api.b).await.unwrap()[0].order_id.to_string();
    let (status, _) = retry(b_order).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "seller B's order is not found for seller A");
}

#[tokio::test]
async fn a_seller_issues_credit_notes_by_line_shipping_and_remainder_never_beyond_the_invoice() {
    let api = api("credit").await;
    // An invoice of more than one line.
    let (_, list) = api.call(Method::GET, "/v1/invoices?kind=invoice&limit=50", Some(&api.a), None).await;
    let mut chosen = None;
    for item in list["items"].as_array().unwrap() {
        let number = item["number"].as_str().unwrap().to_owned();
        let (_, one) = api.call(Method::GET, &format!("/v1/invoices/{number}"), Some(&api.a), None).await;
        if one["invoice"]["body"]["lines"].as_array().unwrap().len() > 1 {
            chosen = Some((number, one));
            break;
        }
    }
    let (number, one) = chosen.expect("an invoice of several lines");
    let lines = one["invoice"]["body"]["lines"].as_array().unwrap().clone();
    let goods = lines.iter().find(|l| l["kind"] == "goods").unwrap().clone();
    let total: rust_decimal::Decimal =
        one["invoice"]["body"]["totals"]["taxInclusive"].as_str().unwrap().parse().unwrap();
    let path = format!("/v1/invoices/{number}/credit-notes");
    let units =
        json!({"reason": "retour d'un article", "items": [{"type": "units", "line": goods["id"], "quantity": "1"}]});

    // Another seller cannot credit it; an unknown invoice is not found.
    let (status, _) = api.call(Method::POST, &path, Some(&api.b), Some(units.clone())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, bad) = api
        .call(Method::POST, &path, Some(&api.a), Some(json!({"reason": "", "items": [{"type": "remainder"}]})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    assert!(bad["errors"]["reason"].is_array());

    let (status, first) = api.call(Method::POST, &path, Some(&api.a), Some(units.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let cn = first["creditNote"].as_str().unwrap().to_owned();
    assert!(cn.starts_with("MLAV2026-"), "{cn}");
    assert!(first["notMailed"].is_null(), "mailed to the buyer: {first}");
    let (_, doc) = api.call(Method::GET, &format!("/v1/invoices/{cn}"), Some(&api.a), None).await;
    assert_eq!(doc["summary"]["kind"], "creditNote");
    assert_eq!(doc["summary"]["corrects"], number.as_str());
    assert!(doc["pdf"]["url"].is_string(), "stored and linked");
    assert_eq!(doc["delivery"], json!({"mail": "sent", "attached": false}), "its own steps: mailed, not attached");
    let (_, invoice_doc) = api.call(Method::GET, &format!("/v1/invoices/{number}"), Some(&api.a), None).await;
    assert!(invoice_doc["delivery"].is_null(), "an invoice's steps are its order's");

    // The rest, then nothing more: a request beyond it is refused and says what is left.
    let (status, rest) = api
        .call(
            Method::POST,
            &path,
            Some(&api.a),
            Some(json!({"reason": "annulation", "items": [{"type": "remainder"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rest}");
    assert_eq!(
        rest["remainingInclVat"].as_str().map(|r| r.parse::<rust_decimal::Decimal>().unwrap()),
        Some(rust_decimal::Decimal::ZERO)
    );
    let credited: rust_decimal::Decimal = [&first, &rest]
        .iter()
        .map(|r| r["totalInclVat"].as_str().unwrap().parse::<rust_decimal::Decimal>().unwrap())
        .sum();
    assert_eq!(credited, total, "the credit notes add up to the invoice");
    let (status, refused) = api.call(Method::POST, &path, Some(&api.a), Some(units)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(refused["errors"]["items"][0].as_str().unwrap().contains("left to credit"), "{refused}");
    // A credit note is not credited, and credit notes are not metered.
    let (status, _) = api
        .call(
            Method::POST,
            &format!("/v1/invoices/{cn}/credit-notes"),
            Some(&api.a),
            Some(json!({"reason": "x", "items": [{"type": "remainder"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, usage) = api.call(Method::GET, "/v1/usage", Some(&api.a), None).await;
    let (_, all) = api.call(Method::GET, "/v1/invoices?kind=invoice&limit=100", Some(&api.a), None).await;
    assert_eq!(usage["invoicesThisMonth"].as_u64().unwrap() as usize, all["items"].as_array().unwrap().len());
}

#[tokio::test]
async fn the_sales_journal_balances_and_holds_only_the_sellers_documents() {
    let api = api("journal").await;
    let today = marketbill_domain::calendar::paris_date(time::OffsetDateTime::now_utc());
    let period = format!("from={}&to={}", today - time::Duration::days(3), today + time::Duration::days(1));
    let get = |who: SellerId, format: &str| {
        let (http, url) = (api.http.clone(), format!("{}/v1/journal?format={format}&{period}", api.base));
        let token = api.token(&who);
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            let (status, disposition) =
                (r.status(), r.headers().get("content-disposition").map(|v| v.to_str().unwrap().to_owned()));
            (status, disposition, r.text().await.unwrap())
        }
    };
    let (status, disposition, fec) = get(api.a.clone(), "fec").await;
    assert_eq!(status, StatusCode::OK);
    assert!(disposition.unwrap().contains("FEC"), "named as the format requires");
    let num = |s: &str| if s.is_empty() { rust_decimal::Decimal::ZERO } else { s.replace(',', ".").parse().unwrap() };
    let rows: Vec<Vec<&str>> = fec.lines().skip(1).map(|l| l.split('\t').collect()).collect();
    assert!(!rows.is_empty());
    assert_eq!(rows.iter().map(|r| num(r[11])).sum::<rust_decimal::Decimal>(), rows.iter().map(|r| num(r[12])).sum());
    assert!(rows.iter().all(|r| r[8].starts_with("ML")), "seller A's documents only");
    let (status, _, csv) = get(api.b.clone(), "csv").await;
    assert_eq!(status, StatusCode::OK);
    assert!(csv.starts_with('\u{feff}') && !csv.contains("ML2026-"), "seller B's journal has none of A's");
    // The e-reporting data of the month (a period of the VAT regime, exactly): each of A's
    // documents placed once, in a report or left out with its reason.
    let month = marketbill_domain::reporting::ReportingPeriod::containing(
        marketbill_domain::reporting::PeriodKind::Month,
        today,
    );
    let report_of = |format: &str| {
        let (http, token) = (api.http.clone(), api.token(&api.a));
        let url = format!("{}/v1/journal?format={format}&from={}&to={}", api.base, month.start, month.end);
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            let (status, disposition) =
                (r.status(), r.headers().get("content-disposition").map(|v| v.to_str().unwrap().to_owned()));
            (status, disposition, r.text().await.unwrap())
        }
    };
    let (status, disposition, report) = report_of("ereporting-json").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert!(disposition.unwrap().contains("e-reporting"));
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let placed = report["documents"].as_array().unwrap();
    assert_eq!(placed.len(), rows.iter().filter(|r| r[4] == "411").count());
    let (status, _, xml) = report_of("ereporting").await;
    assert_eq!(status, StatusCode::OK);
    assert!(xml.starts_with("<?xml") && xml.contains("<Report"), "{xml}");
    // Not a period of any regime: refused with the field named.
    let (status, _, refusal) = get(api.a.clone(), "ereporting").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refusal.contains("\"to\""), "{refusal}");
    let (status, _, _) = get(api.a.clone(), "pdf").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn fee_invoices_are_listed_for_their_seller_only_with_their_files() {
    let api = api("fees").await;
    let (status, none) = api.call(Method::GET, "/v1/fee-invoices", Some(&api.a), None).await;
    assert_eq!((status, none["items"].clone()), (StatusCode::OK, json!([])), "none before the 1st");
    // The month's fees, as the scheduler bills them on the 1st.
    let today = marketbill_domain::calendar::paris_date(api.services.clock.now());
    let operator = marketbill_domain::fee_invoice::bundled_operator().unwrap();
    let mut services = api.services.clone();
    let first = today.replace_day(1).unwrap() + time::Duration::days(40);
    services.clock = Arc::new(marketbill_app::ports::ManualClock::new(
        first.replace_day(1).unwrap().with_hms(6, 0, 0).unwrap().assume_utc(),
    ));
    let run = marketbill_app::fee_billing::bill_month(
        &services,
        &operator,
        &marketbill_domain::FeePlans::bundled(),
        marketbill_domain::calendar::YearMonth::of(today),
    )
    .await
    .unwrap();
    assert_eq!(run.issued.len(), 2, "{run:?}");
    let (status, listed) = api.call(Method::GET, "/v1/fee-invoices", Some(&api.a), None).await;
    assert_eq!(status, StatusCode::OK);
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    let mine = &items[0];
    assert!(mine["reference"].as_str().unwrap().starts_with(&format!("FEE-{}-", api.a)));
    assert_eq!(mine["payable"], mine["totalInclVat"], "due in full");
    let pdf = api.download(mine["pdf"]["url"].as_str().unwrap());
    assert!(pdf.starts_with(b"%PDF-1.7"));
    let (_, theirs) = api.call(Method::GET, "/v1/fee-invoices", Some(&api.b), None).await;
    let theirs = theirs["items"].as_array().unwrap();
    assert_eq!(theirs.len(), 1);
    assert_ne!(theirs[0]["number"], mine["number"], "B sees only its own");
}

/// Mails of the outbox whose text contains `needle`.
fn outbox_count(dir: &std::path::Path, needle: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            let raw = std::fs::read(e.path()).unwrap_or_default();
            let (_, parts) = marketbill_app::mail::parse_mail(&raw);
            parts.iter().any(|p| {
                String::from_utf8_lossy(&p.bytes).contains(needle)
                    || p.file_name.as_deref().is_some_and(|n| n.contains(needle))
            })
        })
        .count()
}

impl Api {
    /// A call with an `Idempotency-Key`.
    async fn call_keyed(
        &self,
        path: &str,
        who: Option<&SellerId>,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base)).header("idempotency-key", key);
        if let Some(id) = who {
            req = req.bearer_auth(self.token(id));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

#[tokio::test]
async fn json_answers_are_never_cached_nor_sniffed() {
    let api = api("private").await;
    let (_, page) = api.call(Method::GET, "/v1/invoices", Some(&api.a), None).await;
    let number = page["items"][0]["number"].as_str().unwrap().to_owned();
    for (path, who) in [
        (format!("/v1/invoices/{number}"), Some(&api.a)),
        ("/v1/orders/problems".to_owned(), Some(&api.a)),
        ("/v1/invoices".to_owned(), None),
        ("/v1/no-such-route".to_owned(), None),
    ] {
        let mut req = api.http.get(format!("{}{path}", api.base));
        if let Some(id) = who {
            req = req.bearer_auth(api.token(id));
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
    }
}

#[tokio::test]
async fn a_seller_cannot_take_another_sellers_address() {
    let api = api("addresses").await;
    let b_email = api.services.ledger.get_seller(&api.b).await.unwrap().unwrap().profile.email;
    let (_, a) = api.call(Method::GET, "/v1/seller", Some(&api.a), None).await;
    let mut profile = a["profile"].clone();
    profile["email"] = b_email.to_uppercase().into();
    let (status, body) = api.call(Method::PUT, "/v1/seller", Some(&api.a), Some(profile.clone())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["errors"]["email"].is_array(), "{body}");
    assert_eq!(portal_api_seller_for(&api, &b_email).await, Some(api.b.clone()), "B's sign-in still opens B");
    // A free address is A's to take; its old one is then free.
    let a_email = a["profile"]["email"].as_str().unwrap().to_owned();
    profile["email"] = "nouvelle-adresse@maison-lumiere.example".into();
    let (status, body) = api.call(Method::PUT, "/v1/seller", Some(&api.a), Some(profile)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(portal_api_seller_for(&api, "nouvelle-adresse@maison-lumiere.example").await, Some(api.a.clone()));
    assert_eq!(portal_api_seller_for(&api, &a_email).await, None);
}

async fn portal_api_seller_for(api: &Api, email: &str) -> Option<SellerId> {
    api.services.account().seller_for_email(email).await.unwrap()
}

#[tokio::test]
async fn sign_in_and_sign_up_links_are_limited_per_address() {
    let api = api("link-limits").await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let outbox = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("routes/link-limits/outbox");
    let known = api.services.ledger.get_seller(&api.a).await.unwrap().unwrap().profile.email;
    for (page, email, needle) in [
        ("/connexion", known.as_str(), "/connexion/lien?jeton="),
        ("/inscription", "new-shop@example.com", "/inscription/lien?jeton="),
    ] {
        let (cookie, csrf) = form_csrf(&http, &format!("{}{page}", api.base), None).await;
        let mut answers = std::collections::BTreeSet::new();
        for _ in 0..20 {
            let r = http
                .post(format!("{}{page}", api.base))
                .header("cookie", &cookie)
                .form(&[("email", email), ("csrf", csrf.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            answers.insert(r.text().await.unwrap());
        }
        assert_eq!(answers.len(), 1, "{page}: the answer never tells that the limit is reached");
        let sent = outbox_count(&outbox, needle);
        assert_eq!(sent, marketbill_app::account::LINKS_PER_DAY as usize, "{page}: 20 posts, {sent} mails");
    }
}

#[tokio::test]
async fn a_repeated_request_issues_one_document_and_one_mail() {
    let api = api("repeats").await;
    let outbox = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("routes/repeats/outbox");
    let (_, list) = api.call(Method::GET, "/v1/invoices?kind=invoice", Some(&api.a), None).await;
    let number = list["items"][0]["number"].as_str().unwrap().to_owned();
    let (_, one) = api.call(Method::GET, &format!("/v1/invoices/{number}"), Some(&api.a), None).await;
    let goods =
        one["invoice"]["body"]["lines"].as_array().unwrap().iter().find(|l| l["kind"] == "goods").unwrap().clone();
    let path = format!("/v1/invoices/{number}/credit-notes");
    let body = json!({"reason": "geste", "items": [{"type": "gesture", "rate": goods["vatRate"], "amount": "0.50"}]});

    // The same credit-note request twice (a client retrying after a timeout), then at once.
    let (s1, first) = api.call_keyed(&path, Some(&api.a), "cn-1", Some(body.clone())).await;
    let (s2, again) = api.call_keyed(&path, Some(&api.a), "\"cn-1\"", Some(body.clone())).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED), "{first} {again}");
    assert_eq!(first, again, "the first answer, again");
    let cn = first["creditNote"].as_str().unwrap().to_owned();
    let concurrent =
        futures_util::future::join_all((0..5).map(|_| api.call_keyed(&path, Some(&api.a), "cn-2", Some(body.clone()))))
            .await;
    let made: std::collections::BTreeSet<String> = concurrent
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .map(|(_, b)| b["creditNote"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(made.len(), 1, "five at once, one credit note: {concurrent:?}");
    assert!(concurrent.iter().all(|(s, _)| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT), "{concurrent:?}");
    let (_, notes) = api.call(Method::GET, "/v1/invoices?kind=creditNote", Some(&api.a), None).await;
    assert_eq!(notes["items"].as_array().unwrap().len(), 2, "two keys, two credit notes: {notes}");
    assert_eq!(outbox_count(&outbox, &cn), 1, "one mail for {cn}");
    // The same key with another body is refused, nothing issued.
    let other = json!({"reason": "geste", "items": [{"type": "gesture", "rate": goods["vatRate"], "amount": "0.60"}]});
    let (status, _) = api.call_keyed(&path, Some(&api.a), "cn-1", Some(other)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = api.call_keyed(&path, Some(&api.a), &"k".repeat(300), Some(body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The same resend twice: one mail.
    let resends_before = outbox_count(&outbox, &format!("{number}.pdf"));
    let resend = format!("/v1/invoices/{number}/resend");
    let (s1, a) = api.call_keyed(&resend, Some(&api.a), "resend-1", None).await;
    let (s2, b) = api.call_keyed(&resend, Some(&api.a), "resend-1", None).await;
    assert_eq!((s1, s2), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    assert_eq!(a, b);
    assert_eq!(outbox_count(&outbox, &format!("{number}.pdf")), resends_before + 1, "one more mail");

    // The same buyer request twice, without a key: one credit note, one corrected invoice,
    // one more billed invoice, and the same answer.
    let order = api
        .sim
        .orders("50001")
        .into_iter()
        .find(|o| {
            o["status"] == "Shipped"
                && o["lines"][0]["shippingAddress"]["countryCode"] == "FR"
                && o["orderId"] != one["invoice"]["body"]["orderId"]
        })
        .unwrap();
    let email = order["lines"][0]["shippingAddress"]["email"].as_str().unwrap().to_owned();
    let request = json!({"orderId": order["orderId"], "email": email, "kind": "company", "name": "Atelier Durand SARL",
        "taxNumber": "FR40303265045", "address": {"line1": "8 avenue Foch", "postalCode": "75016", "city": "Paris", "countryCode": "FR"}});
    let month = marketbill_domain::calendar::YearMonth::in_paris(time::OffsetDateTime::now_utc());
    let usage_before = api.services.ledger.usage(&api.a, month).await.unwrap();
    let (s1, first) = api.call(Method::POST, "/v1/invoice-requests", None, Some(request.clone())).await;
    let (s2, again) = api.call(Method::POST, "/v1/invoice-requests", None, Some(request)).await;
    assert_eq!((s1, s2), (StatusCode::ACCEPTED, StatusCode::ACCEPTED), "{first} {again}");
    assert_eq!(first, again);
    assert_eq!(api.services.ledger.usage(&api.a, month).await.unwrap(), usage_before + 1, "one billed invoice");
    let invoice = first["invoice"].as_str().unwrap();
    assert_eq!(outbox_count(&outbox, &format!("{invoice}.pdf")), 1, "the corrected invoice mailed once");
}

#[tokio::test]
async fn a_seller_chooses_its_platform_checked_before_it_is_saved_and_never_shown_back() {
    let api = api("platform").await;
    let sim = marketbill_testkit::platform::PlatformSimulator::start("pa-client", "pa-secret").await.unwrap();
    let body = |secret: &str, flow_url: &str| {
        json!({
            "flowUrl": flow_url, "directoryUrl": sim.directory_url(), "tokenUrl": sim.token_url(),
            "clientId": "pa-client", "clientSecret": secret, "platformId": "0042", "platformName": "PA simulée"
        })
    };
    let (status, seller) = api.call(Method::GET, "/v1/seller", Some(&api.a), None).await;
    assert_eq!((status, seller["hasPlatform"].clone()), (StatusCode::OK, json!(false)));
    let (status, _) = api.call(Method::GET, "/v1/seller/platform", Some(&api.a), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Refused before anything is saved, with the field named.
    let (status, problem) = api
        .call(Method::PUT, "/v1/seller/platform", Some(&api.a), Some(body("pa-secret", "javascript:alert(1)")))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(problem["errors"]["flowUrl"].is_array(), "{problem}");
    let (status, problem) =
        api.call(Method::PUT, "/v1/seller/platform", Some(&api.a), Some(body("wrong", &sim.flow_url()))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(problem["errors"]["clientSecret"].is_array(), "{problem}");
    let nobody = "http://127.0.0.1:9/flow-service";
    let (status, problem) =
        api.call(Method::PUT, "/v1/seller/platform", Some(&api.a), Some(body("pa-secret", nobody))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(problem["errors"]["flowUrl"].is_array(), "{problem}");
    let mut unknown = body("pa-secret", &sim.flow_url());
    unknown["extra"] = json!(1);
    let (status, _) = api.call(Method::PUT, "/v1/seller/platform", Some(&api.a), Some(unknown)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, seller) = api.call(Method::GET, "/v1/seller", Some(&api.a), None).await;
    assert_eq!(seller["hasPlatform"], json!(false), "nothing saved by a refusal");
    // Checked and saved; shown without its secret.
    let (status, _) =
        api.call(Method::PUT, "/v1/seller/platform", Some(&api.a), Some(body("pa-secret", &sim.flow_url()))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, shown) = api.call(Method::GET, "/v1/seller/platform", Some(&api.a), None).await;
    assert_eq!((status, shown["platformName"].clone()), (StatusCode::OK, json!("PA simulée")));
    assert!(!shown.to_string().contains("pa-secret"), "{shown}");
    let (_, seller) = api.call(Method::GET, "/v1/seller", Some(&api.a), None).await;
    assert_eq!(seller["hasPlatform"], json!(true));
    assert!(!seller.to_string().contains("pa-secret"));
    let (_, other) = api.call(Method::GET, "/v1/seller/platform", Some(&api.b), None).await;
    assert!(!other.to_string().contains("PA simulée"), "another seller's platform is not shown");
    let (status, list) = api.call(Method::GET, "/v1/transmissions", Some(&api.a), None).await;
    assert_eq!((status, list["items"].clone()), (StatusCode::OK, json!([])));
    let (status, _) = api.call(Method::DELETE, "/v1/seller/platform", Some(&api.a), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, seller) = api.call(Method::GET, "/v1/seller", Some(&api.a), None).await;
    assert_eq!(seller["hasPlatform"], json!(false));
}

/// What a reader sees of a page: its text, without the style sheet and the markup.
fn visible_text(html: &str) -> String {
    let mut rest = html;
    let mut out = String::new();
    while let Some(start) = rest.find("<style") {
        out.push_str(&rest[..start]);
        rest = rest[start..].find("</style>").map(|end| &rest[start + end + 8..]).unwrap_or("");
    }
    out.push_str(rest);
    let mut text = String::new();
    let mut in_tag = false;
    for c in out.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn a_french_page_with_every_kind_of_refusal_says_it_in_french() {
    let api = api("french").await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    // Signed in by the one-time link, as a seller is.
    let token = portal_api::auth::EmailLinks::sign_in_token(&api.tokens, &api.a).unwrap();
    let r = http.get(format!("{}/connexion/lien?jeton={token}", api.base)).send().await.unwrap();
    let session = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let (csrf_cookie, csrf) = form_csrf(&http, &format!("{}/espace", api.base), Some(&session)).await;
    let cookies = format!("{session}; {csrf_cookie}");
    let post = |path: String, form: Vec<(&'static str, String)>| {
        let (http, cookies, csrf, base) = (http.clone(), cookies.clone(), csrf.clone(), api.base.clone());
        async move {
            let mut form = form;
            form.push(("csrf", csrf));
            let r = http.post(format!("{base}{path}")).header("cookie", cookies).form(&form).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let get = |path: String| {
        let (http, cookies, base) = (http.clone(), cookies.clone(), api.base.clone());
        async move {
            let r = http.get(format!("{base}{path}")).header("cookie", cookies).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let page = api.call(Method::GET, "/v1/invoices?limit=1", Some(&api.a), None).await.1;
    let number = page["items"][0]["number"].as_str().unwrap().to_owned();
    let billing = |city: &str| {
        vec![
            ("kind", "company".to_owned()),
            ("name", "Atelier Durand".to_owned()),
            ("taxNumber", "303265045".to_owned()),
            ("line1", "8 avenue Foch".to_owned()),
            ("postalCode", "75016".to_owned()),
            ("city", city.to_owned()),
            ("countryCode", "FR".to_owned()),
        ]
    };
    let mut pages: Vec<(&str, (StatusCode, String))> = vec![
        (
            "profile: a SIREN that fails its check digit, a four-digit postal code",
            post(
                "/espace/profil".into(),
                [
                    ("legalName", "Atelier Neuf"),
                    ("legalForm", "SAS"),
                    ("shareCapital", "5 000"),
                    ("siren", "732829321"),
                    ("rcsCity", "Lyon"),
                    ("line1", "12 quai Saint-Antoine"),
                    ("postalCode", "6900"),
                    ("city", "Lyon"),
                    ("countryCode", "FR"),
                    ("vatScheme", "standard"),
                    ("vatNumber", "FR44732829320"),
                    ("stockLocation", "sellerCountry"),
                    ("defaultVatRate", "20"),
                    ("marketplaceSellerId", "50001"),
                    ("invoicePrefix", "AN"),
                    ("creditNotePrefix", "ANAV"),
                    ("language", "fr"),
                    ("plan", "perInvoice"),
                ]
                .into_iter()
                .map(|(k, v)| (k, v.to_owned()))
                .collect(),
            )
            .await,
        ),
        (
            "credit note: more units than invoiced",
            post(
                format!("/espace/factures/{number}/avoir"),
                vec![("units-1", "99".into()), ("reason", "retour".into())],
            )
            .await,
        ),
        (
            "credit note: no reason",
            post(format!("/espace/factures/{number}/avoir"), vec![("units-1", "1".into())]).await,
        ),
        (
            "credit note: nothing asked",
            post(format!("/espace/factures/{number}/avoir"), vec![("reason", "x".into())]).await,
        ),
        ("journal: a period backwards", get("/espace/journal?du=2026-12-31&au=2026-01-01&format=fec".into()).await),
        ("journal: an unknown format", get("/espace/journal?du=2026-01-01&au=2026-01-31&format=xls".into()).await),
        (
            "reissue: an invoice nobody refused",
            post(format!("/espace/factures/{number}/reemission"), billing("Paris")).await,
        ),
        ("reissue: a field emptied", post(format!("/espace/factures/{number}/reemission"), billing("")).await),
        (
            "platform: addresses that are not web addresses",
            post("/espace/plateforme".into(), vec![("flowUrl", "ftp://pa".into()), ("platformId", "0000".into())])
                .await,
        ),
        (
            "credentials: a secret the marketplace refuses",
            post(
                "/espace/identifiants".into(),
                vec![("clientId", "someone".into()), ("clientSecret", "wrong".into()), ("sellerId", "50001".into())],
            )
            .await,
        ),
        (
            "problems: an unknown order marked handled",
            post("/espace/problemes/traite".into(), vec![("commande", "NOSUCHORDER1".into())]).await,
        ),
        ("selection: nothing ticked", post("/espace/selection".into(), vec![]).await),
    ];
    pages.push(("an unknown document", get("/espace/factures/ML2099-999999".into()).await));
    let english = [
        " must ",
        "is required",
        "check digit",
        "asked on line",
        "which has",
        "invalid request",
        "is not a",
        "refused",
        "belongs to",
        "at most",
        " the ",
        "not found",
        "try again",
    ];
    for (what, (status, html)) in &pages {
        assert!(status.is_client_error(), "{what}: {status}");
        let text = visible_text(html);
        assert!(html.contains("lang=\"fr\""), "{what}");
        for word in english {
            assert!(!text.contains(word), "{what}: « {word} » on a French page: {text}");
        }
    }
    // And each says something: the refusal is there, in French.
    let said = |k: usize| visible_text(&pages[k].1.1);
    assert!(said(0).contains("Le SIREN n'est pas valable") && said(0).contains("5 chiffres en France"), "{}", said(0));
    assert!(said(1).contains("99 unités demandées sur la ligne 1"), "{}", said(1));
    assert!(said(4).contains("la fin de la période doit suivre son début"), "{}", said(4));
    assert!(said(6).contains("Seule une facture rejetée par la plateforme"), "{}", said(6));
}
