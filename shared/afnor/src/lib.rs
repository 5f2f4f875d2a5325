//! # marketbill-afnor
//!
//! Client of an approved platform (PA) through the API every PA offers its users, AFNOR
//! XP Z12-013: annex A, the **Flow Service** 1.3.0 (`POST /v1/flows` multipart `flowInfo` +
//! `file`, `POST /v1/flows/search` with a cursor, `GET /v1/flows/{flowId}`, `GET
//! /v1/healthcheck`) and annex B, the **Directory Service** 1.3.0 (`POST
//! /v1/directory-line/search`). OAuth2 client credentials, tokens cached per client id and
//! renewed once on a 401; 429 (with `Retry-After`), 5xx, timeouts and garbled answers retried
//! with back-off and jitter a bounded number of times; errors name what was asked and carry the
//! platform's `errorCode`. A submission that fails after the platform may have taken it is
//! looked up by its `trackingId` before it is sent again: one flow per document.
//! The OpenAPI documents are in `docs/reference/platform/` (origin and licence beside them).

mod cdar;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use marketbill_app::platform::{
    AckDetail, AckStatus, FlowState, FlowSubmission, LifecycleStatus, Platform, PlatformCredentials, PlatformError,
};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use cdar::read_lifecycle;

/// How patient to be with a platform.
#[derive(Debug, Clone)]
pub struct AfnorConfig {
    pub request_timeout: Duration,
    /// Tries of one call (the first included).
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest `Retry-After` we wait; longer counts as unavailable now.
    pub max_retry_after: Duration,
    /// Results asked per search page (the standard's maximum is 100).
    pub page_size: u32,
    /// Pages of one search at most (a cursor loop stops there).
    pub max_pages: usize,
    pub token_margin: Duration,
}

impl Default for AfnorConfig {
    fn default() -> AfnorConfig {
        AfnorConfig {
            request_timeout: Duration::from_secs(30),
            max_attempts: 4,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            page_size: 100,
            max_pages: 1_000,
            token_margin: Duration::from_secs(60),
        }
    }
}

type TokenSlot = Arc<tokio::sync::Mutex<Option<CachedToken>>>;

#[derive(Clone)]
struct CachedToken {
    value: String,
    expires: Instant,
}

/// The client: one for every platform (the credentials say where each seller's is).
pub struct AfnorPlatform {
    http: reqwest::Client,
    config: AfnorConfig,
    /// One slot per (token URL, client id); the async lock makes concurrent callers share one
    /// token request.
    tokens: Mutex<HashMap<(String, String), TokenSlot>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// The standard's `Error` object.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    error_message: Option<String>,
}

enum Attempt<T> {
    Done(T),
    Retry(Duration, PlatformError),
    Unauthorized(String),
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    marketbill_app::retry::retry_after(headers.get(RETRY_AFTER)?.to_str().ok()?)
}

fn base(url: &str, what: &str) -> Result<url::Url, PlatformError> {
    let u = url::Url::parse(url.trim_end_matches('/'))
        .map_err(|e| PlatformError::Config(format!("{what} {url:?}: {e}")))?;
    if !matches!(u.scheme(), "https" | "http") || u.host_str().is_none() {
        return Err(PlatformError::Config(format!("{what} {url:?} is not an http(s) address")));
    }
    Ok(u)
}

fn join(base: &url::Url, path: &str) -> String {
    format!("{}{path}", base.as_str().trim_end_matches('/'))
}

/// A flow of the standard's `Flow` schema, as far as we read it.
fn flow_state(v: &Value) -> Result<FlowState, String> {
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let flow_id = text("flowId").ok_or("a flow without flowId")?;
    let ack = v.get("acknowledgement").ok_or("a flow without acknowledgement")?;
    let status = match ack.get("status").and_then(Value::as_str) {
        Some("Pending") => AckStatus::Pending,
        Some("Ok") => AckStatus::Ok,
        Some("Error") => AckStatus::Error,
        other => return Err(format!("acknowledgement status {other:?}")),
    };
    let details = match ack.get("details") {
        Some(d) => serde_json::from_value::<Vec<AckDetail>>(d.clone()).map_err(|e| format!("details: {e}"))?,
        None => Vec::new(),
    };
    Ok(FlowState {
        flow_id,
        tracking_id: text("trackingId"),
        ack: status,
        details,
        incoming: text("flowDirection").as_deref() == Some("In"),
        flow_type: text("flowType").unwrap_or_default(),
        updated_at: text("updatedAt").ok_or("a flow without updatedAt")?,
    })
}

impl AfnorPlatform {
    pub fn new(config: AfnorConfig) -> Result<AfnorPlatform, PlatformError> {
        if config.max_attempts == 0 {
            return Err(PlatformError::Config("max_attempts must be at least 1".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("marketbill/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PlatformError::Config(format!("HTTP client: {e}")))?;
        Ok(AfnorPlatform { http, config, tokens: Mutex::new(HashMap::new()) })
    }

    fn backoff(&self, attempt: u32) -> Duration {
        marketbill_app::retry::backoff(self.config.base_backoff, self.config.max_backoff, attempt)
    }

    fn unavailable(what: &str, reason: impl Into<String>) -> PlatformError {
        PlatformError::Unavailable { what: what.to_owned(), reason: reason.into() }
    }

    async fn token(&self, creds: &PlatformCredentials, refused: Option<&str>) -> Result<String, PlatformError> {
        let slot = {
            let mut map = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
            map.entry((creds.token_url.clone(), creds.client_id.clone())).or_default().clone()
        };
        let mut cached = slot.lock().await;
        if let Some(t) = cached.as_ref()
            && Instant::now() + self.config.token_margin < t.expires
            && refused != Some(t.value.as_str())
        {
            return Ok(t.value.clone());
        }
        let token_url = base(&creds.token_url, "token URL")?;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", creds.client_id.as_str()),
            ("client_secret", creds.client_secret.as_str()),
        ];
        let what = "the token request";
        let mut attempt = 0;
        let fetched = loop {
            attempt += 1;
            let outcome = match self.http.post(token_url.clone()).form(&form).send().await {
                Err(e) => Attempt::Retry(self.backoff(attempt), Self::unavailable(what, e.to_string())),
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    match resp.bytes().await {
                        Err(e) => Attempt::Retry(self.backoff(attempt), Self::unavailable(what, e.to_string())),
                        Ok(body) if status.is_success() => match serde_json::from_slice::<TokenAnswer>(&body) {
                            Ok(t) => Attempt::Done(CachedToken {
                                value: t.access_token,
                                expires: Instant::now() + Duration::from_secs(t.expires_in.unwrap_or(3600)),
                            }),
                            Err(e) => Attempt::Retry(
                                self.backoff(attempt),
                                PlatformError::Garbled { what: what.into(), reason: e.to_string() },
                            ),
                        },
                        Ok(body) if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() => {
                            self.transient(what, status, &headers, &body, attempt)
                        }
                        Ok(body) => {
                            let e: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                            let reason = e
                                .get("error_description")
                                .or_else(|| e.get("error"))
                                .and_then(Value::as_str)
                                .map(|s| s.chars().take(200).collect())
                                .unwrap_or_else(|| format!("HTTP {status}"));
                            return Err(PlatformError::Credentials(format!("client {}: {reason}", creds.client_id)));
                        }
                    }
                }
            };
            match outcome {
                Attempt::Done(t) => break t,
                Attempt::Retry(wait, _) if attempt < self.config.max_attempts && wait != Duration::MAX => {
                    tokio::time::sleep(wait).await
                }
                Attempt::Retry(_, err) => return Err(err),
                Attempt::Unauthorized(_) => return Err(PlatformError::Credentials(creds.client_id.clone())),
            }
        };
        let value = fetched.value.clone();
        *cached = Some(fetched);
        Ok(value)
    }

    fn transient<T>(
        &self,
        what: &str,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        attempt: u32,
    ) -> Attempt<T> {
        let e: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
        let reason = format!("HTTP {}{}", status.as_u16(), e.error_code.map(|c| format!(" {c}")).unwrap_or_default());
        let err = Self::unavailable(what, reason);
        if status == StatusCode::TOO_MANY_REQUESTS {
            let wait = retry_after(headers).unwrap_or_else(|| self.backoff(attempt));
            if wait > self.config.max_retry_after {
                return Attempt::Retry(Duration::MAX, err);
            }
            return Attempt::Retry(wait, err);
        }
        Attempt::Retry(self.backoff(attempt), err)
    }

    /// One call with retries (`attempts` tries at most), a token renewal on a 401, and the
    /// answer read by `read` (an unreadable 2xx counts as transient).
    async fn call<T>(
        &self,
        creds: &PlatformCredentials,
        what: &str,
        attempts: u32,
        build: impl Fn(&reqwest::Client) -> Result<RequestBuilder, PlatformError>,
        read: impl Fn(StatusCode, &[u8]) -> Result<T, String>,
    ) -> Result<T, PlatformError> {
        let mut attempt = 0u32;
        let mut refused: Option<String> = None;
        let mut renewed = false;
        loop {
            attempt += 1;
            let token = self.token(creds, refused.as_deref()).await?;
            let sent = build(&self.http)?.bearer_auth(&token).send().await;
            let outcome = match sent {
                Err(e) => Attempt::Retry(self.backoff(attempt), Self::unavailable(what, e.to_string())),
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    match resp.bytes().await {
                        Err(e) => Attempt::Retry(self.backoff(attempt), Self::unavailable(what, e.to_string())),
                        Ok(body) if status.is_success() => match read(status, &body) {
                            Ok(v) => Attempt::Done(v),
                            Err(reason) => Attempt::Retry(
                                self.backoff(attempt),
                                PlatformError::Garbled { what: what.into(), reason },
                            ),
                        },
                        Ok(_) if status == StatusCode::UNAUTHORIZED => Attempt::Unauthorized(token),
                        Ok(body) if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() => {
                            self.transient(what, status, &headers, &body, attempt)
                        }
                        Ok(body) => {
                            let e: ErrorBody = serde_json::from_slice(&body).unwrap_or_default();
                            return Err(PlatformError::Refused {
                                what: what.into(),
                                code: e.error_code.unwrap_or_else(|| format!("HTTP {}", status.as_u16())),
                                message: e.error_message.map(|m| m.chars().take(300).collect()),
                            });
                        }
                    }
                }
            };
            match outcome {
                Attempt::Done(v) => return Ok(v),
                Attempt::Unauthorized(token) if !renewed => {
                    renewed = true;
                    refused = Some(token);
                    attempt -= 1;
                }
                Attempt::Unauthorized(_) => {
                    return Err(PlatformError::Credentials(format!(
                        "client {}: every token refused ({what})",
                        creds.client_id
                    )));
                }
                Attempt::Retry(wait, err) if attempt < attempts && wait != Duration::MAX => {
                    tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, error = %err, "platform call retried");
                    tokio::time::sleep(wait).await;
                }
                Attempt::Retry(_, err) => return Err(err),
            }
        }
    }

    /// One page of `POST /v1/flows/search`.
    async fn search_page(
        &self,
        creds: &PlatformCredentials,
        filters: &Value,
        cursor: Option<&str>,
    ) -> Result<(Vec<FlowState>, Option<String>), PlatformError> {
        let flows = base(&creds.flow_url, "Flow Service URL")?;
        let url = join(&flows, "/v1/flows/search");
        let mut body = json!({"where": filters, "limit": self.config.page_size});
        if let Some(c) = cursor {
            body["cursor"] = Value::String(c.to_owned());
        }
        self.call(
            creds,
            "the flow search",
            self.config.max_attempts,
            |h| Ok(h.post(&url).json(&body)),
            |_, bytes| {
                let v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
                let results = match v.get("results") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(items)) => items.iter().map(flow_state).collect::<Result<Vec<_>, _>>()?,
                    Some(_) => return Err("results is not a list".into()),
                };
                let next = v.get("nextCursor").and_then(Value::as_str).map(str::to_owned);
                Ok((results, next))
            },
        )
        .await
    }

    async fn search_all(&self, creds: &PlatformCredentials, filters: Value) -> Result<Vec<FlowState>, PlatformError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..self.config.max_pages {
            let (mut page, next) = self.search_page(creds, &filters, cursor.as_deref()).await?;
            all.append(&mut page);
            match next {
                Some(n) if !n.is_empty() && Some(&n) != cursor.as_ref() => cursor = Some(n),
                _ => return Ok(all),
            }
        }
        Ok(all)
    }
}

#[async_trait]
impl Platform for AfnorPlatform {
    async fn check(&self, creds: &PlatformCredentials) -> Result<(), PlatformError> {
        let flows = base(&creds.flow_url, "Flow Service URL")?;
        base(&creds.directory_url, "Directory Service URL")?;
        let url = join(&flows, "/v1/healthcheck");
        self.call(creds, "the health check", self.config.max_attempts, |h| Ok(h.get(&url)), |_, _| Ok(())).await
    }

    async fn find_flow(
        &self,
        creds: &PlatformCredentials,
        tracking_id: &str,
    ) -> Result<Option<FlowState>, PlatformError> {
        let found = self.search_all(creds, json!({"trackingId": tracking_id, "flowDirection": ["Out"]})).await?;
        Ok(found.into_iter().filter(|f| f.tracking_id.as_deref() == Some(tracking_id)).min_by(|a, b| {
            // The one taken in, if several were submitted by someone else's retry.
            (a.ack == AckStatus::Error).cmp(&(b.ack == AckStatus::Error))
        }))
    }

    async fn submit(&self, creds: &PlatformCredentials, flow: &FlowSubmission) -> Result<String, PlatformError> {
        if flow.tracking_id.is_empty() || flow.tracking_id.chars().count() > 64 {
            return Err(PlatformError::Config(format!("tracking id {:?} is not 1–64 characters", flow.tracking_id)));
        }
        let flows = base(&creds.flow_url, "Flow Service URL")?;
        let url = join(&flows, "/v1/flows");
        let what = format!("flow {}", flow.tracking_id);
        let info = json!({
            "trackingId": flow.tracking_id,
            "name": flow.name.chars().take(255).collect::<String>(),
            "processingRule": flow.rule,
            "flowSyntax": flow.syntax,
            "sha256": hex::encode(Sha256::digest(&flow.file)),
        });
        let content_type = if flow.name.ends_with(".pdf") { "application/pdf" } else { "application/xml" };
        let mut attempt = 0;
        loop {
            attempt += 1;
            // One try at a time: a failure after the platform may have taken the flow is
            // looked up before the flow is sent again.
            let sent = self
                .call(
                    creds,
                    &what,
                    1,
                    |h| {
                        let info_part = reqwest::multipart::Part::text(info.to_string())
                            .mime_str("application/json")
                            .map_err(|e| PlatformError::Config(e.to_string()))?;
                        let file_part = reqwest::multipart::Part::bytes(flow.file.clone())
                            .file_name(flow.name.clone())
                            .mime_str(content_type)
                            .map_err(|e| PlatformError::Config(e.to_string()))?;
                        let form = reqwest::multipart::Form::new().part("flowInfo", info_part).part("file", file_part);
                        Ok(h.post(&url).multipart(form))
                    },
                    |_, bytes| {
                        let v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
                        v.get("flowId").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| "no flowId".into())
                    },
                )
                .await;
            match sent {
                Ok(id) => return Ok(id),
                Err(e) if e.is_retryable() && attempt < self.config.max_attempts => {
                    if let Some(found) = self.find_flow(creds, &flow.tracking_id).await? {
                        tracing::info!(tracking_id = %flow.tracking_id, "flow found after a failed answer");
                        return Ok(found.flow_id);
                    }
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn flows_updated_after(
        &self,
        creds: &PlatformCredentials,
        after: Option<&str>,
    ) -> Result<Vec<FlowState>, PlatformError> {
        let filters = match after {
            Some(t) => json!({"updatedAfter": t}),
            None => json!({"updatedAfter": "1970-01-01T00:00:00Z"}),
        };
        let mut flows = self.search_all(creds, filters).await?;
        flows.sort_by(|a, b| a.updated_at.cmp(&b.updated_at));
        Ok(flows)
    }

    async fn lifecycle(
        &self,
        creds: &PlatformCredentials,
        flow_id: &str,
    ) -> Result<Vec<LifecycleStatus>, PlatformError> {
        let flows = base(&creds.flow_url, "Flow Service URL")?;
        let mut url = url::Url::parse(&join(&flows, "/v1/flows/"))
            .map_err(|e| PlatformError::Config(format!("Flow Service URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|_| PlatformError::Config("Flow Service URL cannot take a path".into()))?
            .pop_if_empty()
            .push(flow_id);
        url.query_pairs_mut().append_pair("docType", "Original");
        let what = format!("lifecycle flow {flow_id}");
        self.call(
            creds,
            &what,
            self.config.max_attempts,
            |h| Ok(h.get(url.clone())),
            |_, bytes| cdar::read_lifecycle(bytes),
        )
        .await
    }

    async fn directory_address(
        &self,
        creds: &PlatformCredentials,
        siren: &str,
    ) -> Result<Option<String>, PlatformError> {
        if siren.len() != 9 || !siren.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PlatformError::Config(format!("{siren:?} is not a SIREN")));
        }
        let dir = base(&creds.directory_url, "Directory Service URL")?;
        let url = join(&dir, "/v1/directory-line/search");
        let body = json!({"filters": {"siren": {"op": "strict", "value": siren}}, "limit": 50});
        let lines: Vec<Value> = self
            .call(
                creds,
                "the directory search",
                self.config.max_attempts,
                |h| Ok(h.post(&url).json(&body)),
                |_, bytes| {
                    let v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
                    Ok(v.get("results").and_then(Value::as_array).cloned().unwrap_or_default())
                },
            )
            .await?;
        // An enabled line of the company itself (not one of a facility or a service), else any
        // enabled line.
        let enabled = |l: &&Value| {
            l.get("directoryLineStatus").and_then(Value::as_str) == Some("Enabled")
                && l.get("siren").and_then(Value::as_str) == Some(siren)
        };
        let address = |l: &Value| l.get("addressingIdentifier").and_then(Value::as_str).map(str::to_owned);
        let whole =
            lines.iter().filter(enabled).find(|l| l.get("siret").is_none() && l.get("routingIdentifier").is_none());
        Ok(whole.or_else(|| lines.iter().find(enabled)).and_then(address))
    }
}
