//! The pages' sign-in on AWS: Cognito's managed login, authorization code with PKCE.
//!
//! `/connexion` (and `/inscription`, for self sign-up with e-mail verification) send the browser
//! to the user pool's hosted pages with a fresh `state` and PKCE challenge; the verifier and the
//! state wait in a short-lived HttpOnly cookie. The callback `/connexion/retour` checks the
//! state, exchanges the code (with the verifier) at the token endpoint, verifies the ID token
//! and keeps it as the session cookie (HttpOnly, Secure, SameSite=Lax). Every page request
//! verifies that token again: RS256 by a key of the pool's JWKS, the pool as issuer, this app
//! client as audience, `token_use` = `id`, not expired. The seller id is the token's `sub`.
//!
//! The JSON API keeps its authorizer: API Gateway verifies the bearer token, and `api` reads
//! the claims it passed on.

use std::sync::Arc;

use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use marketbill_app::crypto::random_key;
use marketbill_app::model::SellerId;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::auth::{Authenticator, HostedLogin, HostedSignIn, LoginFuture, Sessions};

/// How the API's callers are known (on Lambda: the claims API Gateway verified).
pub type ApiCaller = Arc<dyn Fn(&Parts) -> Option<SellerId> + Send + Sync>;

/// Where the user pool and this portal are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CognitoConfig {
    /// `https://cognito-idp.<region>.amazonaws.com/<pool id>`; its JWKS is under
    /// `/.well-known/jwks.json`.
    pub issuer: String,
    /// The app client (public, no secret: PKCE).
    pub client_id: String,
    /// The managed login's base URL (`https://<domain>.auth.<region>.amazoncognito.com`).
    pub login_url: String,
    /// The portal's own address; the callback is `<public_url>/connexion/retour`.
    pub public_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CognitoError {
    #[error("the user pool's keys cannot be fetched from {url}: {reason}")]
    Keys { url: String, reason: String },
    #[error("the HTTP client cannot be built: {0}")]
    Client(String),
}

/// The claims of a Cognito ID token that the pages use.
#[derive(Debug, Deserialize)]
struct IdClaims {
    sub: String,
    token_use: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<bool>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: String,
}

pub struct CognitoPages {
    config: CognitoConfig,
    keys: JwkSet,
    http: reqwest::Client,
    api: ApiCaller,
}

/// How long the wait for the hosted page's answer may last (the state cookie's life).
pub const LOGIN_WAIT: time::Duration = time::Duration::minutes(10);

impl CognitoPages {
    /// Fetches the pool's keys (once per cold start; Cognito does not rotate them in place).
    pub async fn discover(config: CognitoConfig, api: ApiCaller) -> Result<CognitoPages, CognitoError> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CognitoError::Client(e.to_string()))?;
        let url = format!("{}/.well-known/jwks.json", config.issuer);
        let keys_error = |reason: String| CognitoError::Keys { url: url.clone(), reason };
        let response = http.get(&url).send().await.map_err(|e| keys_error(e.to_string()))?;
        if !response.status().is_success() {
            return Err(keys_error(format!("status {}", response.status())));
        }
        let keys: JwkSet = response.json().await.map_err(|e| keys_error(e.to_string()))?;
        Ok(CognitoPages { config, keys, http, api })
    }

    fn callback(&self) -> String {
        format!("{}/connexion/retour", self.config.public_url)
    }

    /// The claims of an ID token of this pool and client, verified; `None` for anything else.
    fn id_claims(&self, token: &str) -> Option<IdClaims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::RS256 {
            return None;
        }
        let jwk = self.keys.find(header.kid.as_deref()?)?;
        let key = DecodingKey::from_jwk(jwk).ok()?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<IdClaims>(token, &key, &validation).ok()?.claims;
        (claims.token_use == "id").then_some(claims)
    }
}

/// A random value for `state` and the PKCE verifier (43 characters of base64url).
fn random_value() -> String {
    URL_SAFE_NO_PAD.encode(random_key())
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Authenticator for CognitoPages {
    fn seller(&self, parts: &Parts) -> Option<SellerId> {
        (self.api)(parts)
    }

    fn sessions(&self) -> Option<&dyn Sessions> {
        Some(self)
    }

    fn hosted(&self) -> Option<&dyn HostedSignIn> {
        Some(self)
    }
}

impl Sessions for CognitoPages {
    fn session(&self, cookie: &str) -> Option<SellerId> {
        self.id_claims(cookie)?.sub.parse().ok()
    }

    /// A Cognito session ends at the hosted page's logout (its token expires within the hour).
    fn end_session(&self, _cookie: &str) {}

    /// The session token itself proves the address, when Cognito verified it.
    fn proven_email(&self, token: &str) -> Option<String> {
        let claims = self.id_claims(token)?;
        if claims.email_verified == Some(true) { claims.email } else { None }
    }

    /// Cognito's ID tokens live an hour (template.yaml); the cookie no longer.
    fn session_lifetime(&self) -> time::Duration {
        time::Duration::hours(1)
    }
}

impl HostedSignIn for CognitoPages {
    fn login(&self, sign_up: bool) -> Option<HostedLogin> {
        let (state, verifier) = (random_value(), random_value());
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let query = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", self.config.client_id.as_str()),
            ("redirect_uri", self.callback().as_str()),
            ("scope", "openid email"),
            ("state", state.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .ok()?;
        let page = if sign_up { "signup" } else { "oauth2/authorize" };
        Some(HostedLogin {
            url: format!("{}/{page}?{query}", self.config.login_url),
            kept: format!("{state}.{verifier}"),
        })
    }

    fn finish_login<'a>(&'a self, code: &'a str, state: &'a str, kept: &'a str) -> LoginFuture<'a> {
        Box::pin(async move {
            let (kept_state, verifier) = kept.split_once('.')?;
            if !same(kept_state, state) || code.is_empty() || code.len() > 2048 {
                return None;
            }
            let form = [
                ("grant_type", "authorization_code"),
                ("client_id", self.config.client_id.as_str()),
                ("code", code),
                ("redirect_uri", &self.callback()),
                ("code_verifier", verifier),
            ];
            let url = format!("{}/oauth2/token", self.config.login_url);
            let response = match self.http.post(&url).form(&form).send().await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "the token endpoint did not answer");
                    return None;
                }
            };
            if !response.status().is_success() {
                tracing::warn!(status = %response.status(), "the token endpoint refused the code");
                return None;
            }
            let answer: TokenAnswer = response.json().await.ok()?;
            // Kept only if it is a token of this pool and client.
            self.id_claims(&answer.id_token).map(|_| answer.id_token)
        })
    }

    fn logout_url(&self) -> Option<String> {
        let query = serde_urlencoded::to_string([
            ("client_id", self.config.client_id.as_str()),
            ("logout_uri", &format!("{}/connexion", self.config.public_url)),
        ])
        .ok()?;
        Some(format!("{}/logout?{query}", self.config.login_url))
    }
}
