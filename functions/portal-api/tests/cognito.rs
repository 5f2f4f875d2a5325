//! The pages' sign-in on AWS, against a local stand-in of Cognito's managed login (authorize,
//! token and JWKS endpoints, with PKCE checked as Cognito does): the authorization code flow
//! end to end, and every forged, foreign or expired token refused.

#![cfg(feature = "cognito")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use marketbill_app::services::Settings;
use marketbill_domain::fees::FeePlans;
use marketbill_local::Embedded;
use marketbill_octopia::{OctopiaClient, OctopiaConfig, OctopiaMarketplace};
use portal_api::cognito::{CognitoConfig, CognitoPages};
use portal_api::{Portal, router};
use serde_json::json;
use sha2::{Digest, Sha256};

const CLIENT_ID: &str = "portal-client";
const KEY_DER: &[u8] = include_bytes!("data/test-signing-key.der");
const JWKS: &str = include_str!("data/test-jwks.json");

/// What the stand-in remembers of each code it gave: the PKCE challenge and the callback.
#[derive(Default)]
struct Fake {
    codes: Mutex<HashMap<String, (String, String)>>,
    issuer: Mutex<String>,
}

fn id_token(issuer: &str, audience: &str, token_use: &str, expires_in: i64, kid: &str) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({
        "sub": "7f1c2a9e-0000-4000-8000-000000000001", "email": "vendeur@example.com", "email_verified": true,
        "token_use": token_use, "aud": audience, "iss": issuer, "iat": now, "exp": now + expires_in,
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_der(KEY_DER)).unwrap()
}

async fn authorize(State(f): State<Arc<Fake>>, Query(q): Query<HashMap<String, String>>) -> Response {
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["response_type"], "code");
    let code = format!("code-{}", f.codes.lock().unwrap().len());
    f.codes.lock().unwrap().insert(code.clone(), (q["code_challenge"].clone(), q["redirect_uri"].clone()));
    let sep = if q["redirect_uri"].contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{}{sep}code={code}&state={}", q["redirect_uri"], q["state"])).into_response()
}

/// The token endpoint: a code once, with the verifier of its challenge and the same callback.
async fn token(State(f): State<Arc<Fake>>, Form(form): Form<HashMap<String, String>>) -> Response {
    let Some((challenge, redirect)) = f.codes.lock().unwrap().remove(&form["code"]) else {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant"}))).into_response();
    };
    let verified = URL_SAFE_NO_PAD.encode(Sha256::digest(form["code_verifier"].as_bytes())) == challenge;
    if !verified || form["redirect_uri"] != redirect || form["client_id"] != CLIENT_ID {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant"}))).into_response();
    }
    let issuer = f.issuer.lock().unwrap().clone();
    axum::Json(json!({"id_token": id_token(&issuer, CLIENT_ID, "id", 3600, "test-key-1"), "token_type": "Bearer"}))
        .into_response()
}

struct Setup {
    base: String,
    login: String,
    issuer: String,
}

async fn setup(name: &str) -> Setup {
    let fake = Arc::new(Fake::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let login = format!("http://{}", listener.local_addr().unwrap());
    let issuer = format!("{login}/pool");
    *fake.issuer.lock().unwrap() = issuer.clone();
    let app = axum::Router::new()
        .route("/pool/.well-known/jwks.json", get(|| async { ([("content-type", "application/json")], JWKS) }))
        .route("/oauth2/authorize", get(authorize))
        .route("/oauth2/token", post(token))
        .with_state(fake);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cognito").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The marketplace is not called by these pages.
    let marketplace = Arc::new(OctopiaMarketplace::new(Arc::new(
        OctopiaClient::new(OctopiaConfig::new("http://127.0.0.1:9", "http://127.0.0.1:9")).unwrap(),
    )));
    let services = Embedded::open(&dir).unwrap().services(
        marketplace,
        std::sync::Arc::new(marketbill_afnor::AfnorPlatform::new(marketbill_afnor::AfnorConfig::default()).unwrap()),
        Settings::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = CognitoConfig {
        issuer: issuer.clone(),
        client_id: CLIENT_ID.into(),
        login_url: login.clone(),
        public_url: base.clone(),
    };
    let auth = CognitoPages::discover(config, Arc::new(|_| None)).await.unwrap();
    let platform = Arc::new(marketbill_afnor::AfnorPlatform::new(marketbill_afnor::AfnorConfig::default()).unwrap());
    let portal = Arc::new(Portal { services, auth: Arc::new(auth), plans: FeePlans::bundled(), platform });
    tokio::spawn(async move {
        let _ = axum::serve(listener, router(portal)).await;
    });
    Setup { base, login, issuer }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// The `name=value` of a Set-Cookie the response carries for `name`.
fn set_cookie(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie"))
}

#[tokio::test]
async fn the_managed_login_signs_in_with_pkce_and_the_session_is_a_verified_id_token() {
    let s = setup("flow").await;
    let http = http();
    // Sign-in and sign-up are the hosted pages, with a challenge and a state.
    let r = http.get(format!("{}/connexion", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    assert!(to.starts_with(&format!("{}/oauth2/authorize?", s.login)), "{to}");
    assert!(to.contains("code_challenge_method=S256") && to.contains("redirect_uri="));
    let kept = set_cookie(&r, "mb_login");
    assert!(kept.contains("HttpOnly") && kept.contains("SameSite=Lax"), "{kept}");
    let kept = kept.split(';').next().unwrap().to_owned();
    let r = http.get(format!("{}/inscription", s.base)).send().await.unwrap();
    assert!(location(&r).starts_with(&format!("{}/signup?", s.login)));

    // The user signs in there; the pool sends the browser back with a code.
    let back = http.get(&to).send().await.unwrap();
    let callback = location(&back);
    assert!(callback.starts_with(&format!("{}/connexion/retour?code=", s.base)), "{callback}");

    // A wrong state is refused, and uses nothing up.
    let wrong = callback.replace("state=", "state=x");
    let r = http.get(&wrong).header("cookie", &kept).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Without the cookie that kept the verifier, neither.
    let r = http.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let r = http.get(&callback).header("cookie", &kept).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/espace", "no token in any address after sign-in");
    let session = set_cookie(&r, "mb_session");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"), "{session}");
    let session = session.split(';').next().unwrap().to_owned();
    let email = set_cookie(&r, "mb_email").split(';').next().unwrap().to_owned();
    // A code works once.
    let r = http.get(&callback).header("cookie", &kept).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // A new account goes to its company data, with the address Cognito verified.
    let r = http.get(format!("{}/espace", s.base)).header("cookie", &session).send().await.unwrap();
    assert_eq!(location(&r), "/espace/profil");
    let r = http
        .get(format!("{}/espace/profil", s.base))
        .header("cookie", format!("{session}; {email}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("value=\"vendeur@example.com\""));

    // Signing out ends the pool's session too.
    let r = http
        .get(format!("{}/espace/profil", s.base))
        .header("cookie", format!("{session}; {email}"))
        .send()
        .await
        .unwrap();
    let csrf_cookie = set_cookie(&r, "mb_csrf").split(';').next().unwrap().to_owned();
    let page = r.text().await.unwrap();
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let r = http
        .post(format!("{}/deconnexion", s.base))
        .header("cookie", format!("{session}; {csrf_cookie}"))
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    let out = location(&r);
    assert!(out.starts_with(&format!("{}/logout?client_id={CLIENT_ID}", s.login)), "{out}");
}

#[tokio::test]
async fn tokens_of_another_client_another_issuer_another_use_or_past_their_time_open_nothing() {
    let s = setup("forged").await;
    let http = http();
    let good = id_token(&s.issuer, CLIENT_ID, "id", 3600, "test-key-1");
    let cases = [
        ("another client", id_token(&s.issuer, "other-client", "id", 3600, "test-key-1")),
        (
            "another issuer",
            id_token("https://cognito-idp.eu-west-3.amazonaws.com/other", CLIENT_ID, "id", 3600, "test-key-1"),
        ),
        ("an access token", id_token(&s.issuer, CLIENT_ID, "access", 3600, "test-key-1")),
        ("expired", id_token(&s.issuer, CLIENT_ID, "id", -120, "test-key-1")),
        ("an unknown key", id_token(&s.issuer, CLIENT_ID, "id", 3600, "other-key")),
        ("tampered", {
            let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
            let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
            parts[1] = URL_SAFE_NO_PAD.encode(claims.replace("000000000001", "000000000002"));
            parts.join(".")
        }),
        ("unsigned", {
            let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"test-key-1"}"#);
            let body = good.split('.').nth(1).unwrap();
            format!("{header}.{body}.")
        }),
    ];
    let r = http.get(format!("{}/espace", s.base)).header("cookie", format!("mb_session={good}")).send().await.unwrap();
    assert_eq!(location(&r), "/espace/profil", "the good token opens the space");
    for (what, token) in cases {
        let r = http
            .get(format!("{}/espace", s.base))
            .header("cookie", format!("mb_session={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{what}");
        assert_eq!(location(&r), "/connexion", "{what}: not signed in");
    }
}
