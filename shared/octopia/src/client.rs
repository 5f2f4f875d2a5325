//! The HTTP client: tokens cached per client id, bounded retries with back-off and jitter,
//! `Retry-After` honoured, one token refresh on a 401, paging by `Link` or `pageIndex`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use marketbill_domain::{Order, OrderParseError};
use reqwest::header::{HeaderMap, LINK, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::error::{OctopiaError, Problem};
use crate::model::{Credentials, ImportPage, ImportReport, OrderQuery, UploadFile};

/// The token path under the auth base.
pub const TOKEN_PATH: &str = "/auth/realms/maas/protocol/openid-connect/token";

/// Where the API is and how patient to be with it.
#[derive(Debug, Clone)]
pub struct OctopiaConfig {
    /// `https://api.octopia-io.net/seller/v2` in production.
    pub api_base: String,
    /// `https://auth.octopia-io.net` in production.
    pub auth_base: String,
    /// Timeout of one request, body included.
    pub request_timeout: Duration,
    /// Tries of one call (the first included).
    pub max_attempts: u32,
    /// First back-off; doubles each try, with jitter.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest `Retry-After` we agree to wait; longer waits count as a failure now.
    pub max_retry_after: Duration,
    pub page_size: u32,
    /// A cached token is renewed this long before it expires.
    pub token_margin: Duration,
}

impl OctopiaConfig {
    pub fn production() -> OctopiaConfig {
        OctopiaConfig::new("https://api.octopia-io.net/seller/v2", "https://auth.octopia-io.net")
    }

    pub fn new(api_base: &str, auth_base: &str) -> OctopiaConfig {
        OctopiaConfig {
            api_base: api_base.trim_end_matches('/').to_owned(),
            auth_base: auth_base.trim_end_matches('/').to_owned(),
            request_timeout: Duration::from_secs(20),
            max_attempts: 5,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            page_size: 100,
            token_margin: Duration::from_secs(120),
        }
    }
}

#[derive(Clone)]
struct CachedToken {
    value: String,
    expires: Instant,
}

/// A page of orders: each item parsed on its own, so one malformed order does not lose the
/// rest of the page.
#[derive(Debug)]
pub struct OrdersPage {
    pub orders: Vec<Result<Order, OrderParseError>>,
    /// The `Link: rel="next"` target, when the API sent one.
    pub next: Option<Url>,
    pub items_per_page: usize,
}

/// The Octopia Seller API client. Cheap to share (`Arc`); safe to use from many tasks.
pub struct OctopiaClient {
    http: reqwest::Client,
    config: OctopiaConfig,
    api_base: Url,
    token_url: Url,
    /// One slot per client id; the async lock makes concurrent callers share one token request.
    tokens: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<CachedToken>>>>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct KeycloakError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

enum Attempt<T> {
    Done(T),
    /// Try again after this long (a transient fault), remembering what it was.
    Retry(Duration, OctopiaError),
    /// The token was refused: renew it and try again (once).
    Unauthorized(String),
}

fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    marketbill_app::retry::retry_after(headers.get(RETRY_AFTER)?.to_str().ok()?)
}

/// The `rel="next"` target of a `Link` header.
fn next_link(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get_all(LINK).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
    raw.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        is_next.then(|| target.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
    })
}

impl OctopiaClient {
    pub fn new(config: OctopiaConfig) -> Result<OctopiaClient, OctopiaError> {
        let api_base = Url::parse(&format!("{}/", config.api_base))
            .map_err(|e| OctopiaError::Config(format!("api base {:?}: {e}", config.api_base)))?;
        let token_url = Url::parse(&format!("{}{TOKEN_PATH}", config.auth_base))
            .map_err(|e| OctopiaError::Config(format!("auth base {:?}: {e}", config.auth_base)))?;
        if config.max_attempts == 0 {
            return Err(OctopiaError::Config("max_attempts must be at least 1".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("marketbill/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OctopiaError::Config(format!("HTTP client: {e}")))?;
        Ok(OctopiaClient { http, config, api_base, token_url, tokens: Mutex::new(HashMap::new()) })
    }

    pub fn config(&self) -> &OctopiaConfig {
        &self.config
    }

    fn backoff(&self, attempt: u32) -> Duration {
        marketbill_app::retry::backoff(self.config.base_backoff, self.config.max_backoff, attempt)
    }

    fn slot(&self, client_id: &str) -> Arc<tokio::sync::Mutex<Option<CachedToken>>> {
        let mut map = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(client_id.to_owned()).or_default().clone()
    }

    /// A valid token for these credentials: the cached one, or a new one.
    async fn token(&self, creds: &Credentials, refused: Option<&str>) -> Result<String, OctopiaError> {
        let slot = self.slot(&creds.client_id);
        let mut cached = slot.lock().await;
        if let Some(t) = cached.as_ref() {
            let fresh = Instant::now() + self.config.token_margin < t.expires;
            // Another caller may already have replaced the refused token.
            if fresh && refused != Some(t.value.as_str()) {
                return Ok(t.value.clone());
            }
        }
        let fetched = self.fetch_token(creds).await?;
        let value = fetched.value.clone();
        *cached = Some(fetched);
        Ok(value)
    }

    async fn fetch_token(&self, creds: &Credentials) -> Result<CachedToken, OctopiaError> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", creds.client_id.as_str()),
            ("client_secret", creds.client_secret.expose()),
        ];
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = match self.http.post(self.token_url.clone()).form(&form).send().await {
                Err(e) => Attempt::Retry(self.backoff(attempt), self.transport_error(&e, attempt)),
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    match resp.bytes().await {
                        Err(e) => Attempt::Retry(self.backoff(attempt), self.transport_error(&e, attempt)),
                        Ok(body) if status.is_success() => match serde_json::from_slice::<TokenResponse>(&body) {
                            Ok(t) => {
                                let ttl = Duration::from_secs(t.expires_in.unwrap_or(7200));
                                tracing::debug!(client_id = %creds.client_id, ttl_secs = ttl.as_secs(), "marketplace token issued");
                                return Ok(CachedToken { value: t.access_token, expires: Instant::now() + ttl });
                            }
                            Err(e) => Attempt::Retry(
                                self.backoff(attempt),
                                OctopiaError::InvalidResponse {
                                    attempts: attempt,
                                    reason: format!("token response: {e}"),
                                },
                            ),
                        },
                        Ok(body) if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() => {
                            self.transient(status, &headers, &body, attempt)
                        }
                        Ok(body) => {
                            let k: KeycloakError = serde_json::from_slice(&body)
                                .unwrap_or(KeycloakError { error: None, error_description: None });
                            let reason = match (k.error, k.error_description) {
                                (Some(e), Some(d)) => format!("{e}: {d}"),
                                (Some(e), None) => e,
                                (None, Some(d)) => d,
                                (None, None) => format!("HTTP {status}"),
                            };
                            return Err(OctopiaError::Auth {
                                client_id: creds.client_id.clone(),
                                status: Some(status.as_u16()),
                                reason,
                            });
                        }
                    }
                }
            };
            match outcome {
                Attempt::Done(t) => return Ok(t),
                Attempt::Retry(wait, err) => {
                    if attempt >= self.config.max_attempts {
                        return Err(err);
                    }
                    tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, error = %err, "token request retried");
                    tokio::time::sleep(wait).await;
                }
                Attempt::Unauthorized(_) => unreachable_unauthorized(),
            }
        }
    }

    fn transport_error(&self, e: &reqwest::Error, attempts: u32) -> OctopiaError {
        if e.is_timeout() {
            OctopiaError::Timeout { attempts, timeout: self.config.request_timeout }
        } else {
            // reqwest errors never carry our credentials; the URL holds no secret either.
            OctopiaError::Transport { attempts, reason: e.to_string() }
        }
    }

    fn transient<T>(&self, status: StatusCode, headers: &HeaderMap, body: &[u8], attempt: u32) -> Attempt<T> {
        let problem = Problem::from_body(status.as_u16(), body);
        if status == StatusCode::TOO_MANY_REQUESTS {
            let wait = parse_retry_after(headers).unwrap_or_else(|| self.backoff(attempt));
            let err = OctopiaError::Throttled { attempts: attempt, problem: Some(problem) };
            if wait > self.config.max_retry_after {
                // Asked to wait longer than we may: report now rather than hang.
                return Attempt::Retry(Duration::MAX, err);
            }
            Attempt::Retry(wait, err)
        } else {
            Attempt::Retry(
                self.backoff(attempt),
                OctopiaError::Unavailable { status: status.as_u16(), attempts: attempt, problem: Some(problem) },
            )
        }
    }

    /// Sends a request built by `build` with retries, and reads the answer with `read`.
    /// A body `read` cannot parse counts as a transient fault (truncated or garbled answer).
    async fn call<T>(
        &self,
        creds: &Credentials,
        what: &str,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
        read: impl Fn(&HeaderMap, &[u8]) -> Result<T, String>,
    ) -> Result<T, OctopiaError> {
        let mut attempt = 0u32;
        let mut refused_token: Option<String> = None;
        let mut renewed = false;
        loop {
            attempt += 1;
            let token = self.token(creds, refused_token.as_deref()).await?;
            let sent = build(&self.http).bearer_auth(&token).header("SellerId", &creds.seller_id).send().await;
            let outcome: Attempt<T> = match sent {
                Err(e) => Attempt::Retry(self.backoff(attempt), self.transport_error(&e, attempt)),
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    match resp.bytes().await {
                        Err(e) => Attempt::Retry(self.backoff(attempt), self.transport_error(&e, attempt)),
                        Ok(body) if status.is_success() => match read(&headers, &body) {
                            Ok(v) => Attempt::Done(v),
                            Err(reason) => Attempt::Retry(
                                self.backoff(attempt),
                                OctopiaError::InvalidResponse {
                                    attempts: attempt,
                                    reason: format!("{what}: {reason}"),
                                },
                            ),
                        },
                        Ok(_) if status == StatusCode::UNAUTHORIZED => Attempt::Unauthorized(token),
                        Ok(body) if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() => {
                            self.transient(status, &headers, &body, attempt)
                        }
                        Ok(body) => {
                            let p = Problem::from_body(status.as_u16(), &body);
                            return Err(match status {
                                StatusCode::FORBIDDEN => OctopiaError::Forbidden(p),
                                StatusCode::NOT_FOUND => OctopiaError::NotFound(p),
                                _ => OctopiaError::Rejected(p),
                            });
                        }
                    }
                }
            };
            match outcome {
                Attempt::Done(v) => return Ok(v),
                Attempt::Unauthorized(token) => {
                    if renewed {
                        return Err(OctopiaError::Auth {
                            client_id: creds.client_id.clone(),
                            status: Some(401),
                            reason: "the API refused a freshly issued token".into(),
                        });
                    }
                    // One refresh and one retry, not counted as a try.
                    tracing::debug!(what, "token refused by the API; renewing it");
                    renewed = true;
                    refused_token = Some(token);
                    attempt -= 1;
                }
                Attempt::Retry(wait, err) => {
                    if attempt >= self.config.max_attempts || wait == Duration::MAX {
                        return Err(err);
                    }
                    tracing::debug!(what, attempt, wait_ms = wait.as_millis() as u64, error = %err, "marketplace call retried");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    fn url(&self, path: &[&str]) -> Result<Url, OctopiaError> {
        let mut url = self.api_base.clone();
        {
            let mut segments =
                url.path_segments_mut().map_err(|_| OctopiaError::Config("api base cannot take a path".into()))?;
            segments.pop_if_empty();
            for p in path {
                segments.push(p);
            }
        }
        Ok(url)
    }

    /// One page of orders, by `pageIndex` (1-based) or by a `Link` target.
    pub async fn orders_page(
        &self,
        creds: &Credentials,
        query: &OrderQuery,
        page: PageRef<'_>,
    ) -> Result<OrdersPage, OctopiaError> {
        let url = match page {
            PageRef::Index(index) => {
                let mut url = self.url(&["orders"])?;
                {
                    let mut q = url.query_pairs_mut();
                    for (k, v) in query.pairs() {
                        q.append_pair(k, &v);
                    }
                    q.append_pair("pageIndex", &index.to_string());
                    q.append_pair("pageSize", &self.config.page_size.to_string());
                }
                url
            }
            PageRef::Link(link) => {
                // Never send our token anywhere but the configured API.
                if link.origin() != self.api_base.origin() || !link.path().starts_with(self.api_base.path()) {
                    return Err(OctopiaError::InvalidResponse {
                        attempts: 1,
                        reason: format!("the next-page link leaves the API: {}", link.origin().ascii_serialization()),
                    });
                }
                link.clone()
            }
        };
        let api_base = self.api_base.clone();
        self.call(
            creds,
            "list orders",
            |http| http.request(Method::GET, url.clone()),
            |headers, body| {
                let mut v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
                // The items are taken out of the page, not copied: each order is parsed from its
                // own value, so a malformed one is reported alone.
                let items = match v.get_mut("items").map(Value::take) {
                    Some(Value::Array(items)) => items,
                    _ => return Err("no items array".into()),
                };
                let next = next_link(headers).and_then(|l| api_base.join(&l).ok());
                Ok(OrdersPage {
                    items_per_page: v.get("itemsPerPage").and_then(Value::as_u64).unwrap_or(items.len() as u64)
                        as usize,
                    orders: items.into_iter().map(Order::from_value).collect(),
                    next,
                })
            },
        )
        .await
    }

    /// Every order matching the query: follows `Link: rel="next"` when sent, else increments
    /// `pageIndex` until a short or empty page. An order seen twice (the data moved between
    /// pages) is returned once; a malformed one comes back as its own error.
    pub async fn list_orders(
        &self,
        creds: &Credentials,
        query: &OrderQuery,
    ) -> Result<Vec<Result<Order, OrderParseError>>, OctopiaError> {
        const MAX_PAGES: usize = 10_000;
        let mut out = Vec::new();
        let mut seen_ids: HashSet<String> = HashSet::new();
        let mut seen_links: HashSet<String> = HashSet::new();
        let mut at = NextPage::Index(1);
        for _ in 0..MAX_PAGES {
            let page = self.orders_page(creds, query, at.as_ref()).await?;
            let next = self.next_page(&page, &at);
            for item in page.orders {
                let id = match &item {
                    Ok(o) => o.order_id.to_string(),
                    Err(e) => e.order.clone(),
                };
                if id == "<unknown>" || seen_ids.insert(id) {
                    out.push(item);
                }
            }
            match next {
                // A loop in the links: stop rather than spin.
                Some(NextPage::Link(link)) if !seen_links.insert(link.to_string()) => break,
                Some(n) => at = n,
                None => break,
            }
        }
        Ok(out)
    }

    /// Where a listing goes after `page`, fetched at `at`: the page's `Link: rel="next"` when
    /// the API sent one; else, with `pageIndex` paging, the next index until a short or empty
    /// page. A page reached through a link that names no next page is the last.
    pub fn next_page(&self, page: &OrdersPage, at: &NextPage) -> Option<NextPage> {
        if let Some(link) = &page.next {
            return Some(NextPage::Link(link.clone()));
        }
        let full = (self.config.page_size as usize).min(page.items_per_page.max(1));
        match at {
            NextPage::Index(i) if !page.orders.is_empty() && page.orders.len() >= full => Some(NextPage::Index(i + 1)),
            _ => None,
        }
    }

    /// One order by id.
    pub async fn get_order(&self, creds: &Credentials, order_id: &str) -> Result<Order, OctopiaError> {
        let url = self.url(&["orders", order_id])?;
        let parsed = self
            .call(
                creds,
                "get order",
                |http| http.get(url.clone()),
                |_, body| serde_json::from_slice::<Value>(body).map_err(|e| e.to_string()),
            )
            .await?;
        Order::from_value(parsed).map_err(|e| OctopiaError::InvalidResponse { attempts: 1, reason: e.to_string() })
    }

    /// How many orders match the query.
    pub async fn count_orders(&self, creds: &Credentials, query: &OrderQuery) -> Result<u64, OctopiaError> {
        let mut url = self.url(&["orders", "count"])?;
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in query.pairs() {
                q.append_pair(k, &v);
            }
        }
        self.call(
            creds,
            "count orders",
            |http| http.get(url.clone()),
            |_, body| {
                let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
                v.get("count").and_then(Value::as_u64).or_else(|| v.as_u64()).ok_or_else(|| "no count".to_owned())
            },
        )
        .await
    }

    fn report(body: &[u8]) -> Result<ImportReport, String> {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    }

    /// Attaches one document to one order (`multipart/form-data`, part `file`).
    pub async fn upload_invoice(
        &self,
        creds: &Credentials,
        order_id: &str,
        file: &UploadFile,
    ) -> Result<ImportReport, OctopiaError> {
        let url = self.url(&["orders", order_id, "invoice-documents"])?;
        self.call(
            creds,
            "upload invoice",
            |http| {
                let part = reqwest::multipart::Part::bytes(file.bytes.clone())
                    .file_name(file.file_name.clone())
                    .mime_str(file.content_type())
                    .unwrap_or_else(|_| {
                        reqwest::multipart::Part::bytes(file.bytes.clone()).file_name(file.file_name.clone())
                    });
                http.post(url.clone()).multipart(reqwest::multipart::Form::new().part("file", part))
            },
            |_, body| Self::report(body),
        )
        .await
    }

    /// Uploads several documents (parts `files`) or one ZIP in one import.
    pub async fn upload_bulk(&self, creds: &Credentials, files: &[UploadFile]) -> Result<ImportReport, OctopiaError> {
        let url = self.url(&["order-invoice-imports"])?;
        self.call(
            creds,
            "bulk upload",
            |http| {
                let mut form = reqwest::multipart::Form::new();
                for f in files {
                    let part = reqwest::multipart::Part::bytes(f.bytes.clone()).file_name(f.file_name.clone());
                    let part = match part.mime_str(f.content_type()) {
                        Ok(p) => p,
                        Err(_) => reqwest::multipart::Part::bytes(f.bytes.clone()).file_name(f.file_name.clone()),
                    };
                    form = form.part("files", part);
                }
                http.post(url.clone()).multipart(form)
            },
            |_, body| Self::report(body),
        )
        .await
    }

    /// One import report.
    pub async fn get_import(&self, creds: &Credentials, import_id: &str) -> Result<ImportReport, OctopiaError> {
        let url = self.url(&["order-invoice-imports", import_id])?;
        self.call(creds, "get import", |http| http.get(url.clone()), |_, body| Self::report(body)).await
    }

    /// A page of import reports.
    pub async fn list_imports(
        &self,
        creds: &Credentials,
        page_size: u32,
        cursor: Option<&str>,
    ) -> Result<ImportPage, OctopiaError> {
        let mut url = self.url(&["order-invoice-imports"])?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("pageSize", &page_size.to_string());
            if let Some(c) = cursor {
                q.append_pair("cursor", c);
            }
        }
        self.call(
            creds,
            "list imports",
            |http| http.get(url.clone()),
            |_, body| serde_json::from_slice::<ImportPage>(body).map_err(|e| e.to_string()),
        )
        .await
    }

    /// Checks credentials by asking for a new token (used when a seller registers them): never
    /// answered from the cache, which is keyed by client id and would accept a wrong secret.
    pub async fn check_credentials(&self, creds: &Credentials) -> Result<(), OctopiaError> {
        let token = self.fetch_token(creds).await?;
        let slot = self.slot(&creds.client_id);
        *slot.lock().await = Some(token);
        Ok(())
    }
}

/// Which page to fetch.
#[derive(Debug, Clone, Copy)]
pub enum PageRef<'a> {
    Index(u32),
    Link(&'a Url),
}

/// A page to fetch next, owned (see [`OctopiaClient::next_page`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextPage {
    Index(u32),
    Link(Url),
}

impl NextPage {
    pub fn as_ref(&self) -> PageRef<'_> {
        match self {
            NextPage::Index(i) => PageRef::Index(*i),
            NextPage::Link(l) => PageRef::Link(l),
        }
    }
}

#[cold]
fn unreachable_unauthorized() {
    // The token endpoint never yields `Attempt::Unauthorized`; nothing to do.
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn link_headers_are_read() {
        let mut h = HeaderMap::new();
        h.insert(LINK, HeaderValue::from_static("<https://x/a?p=1>; rel=\"prev\", <https://x/a?p=3>; rel=\"next\""));
        assert_eq!(next_link(&h).as_deref(), Some("https://x/a?p=3"));
        h.insert(LINK, HeaderValue::from_static("<https://x/a?p=1>; rel=\"prev\""));
        assert_eq!(next_link(&h), None);
    }

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(parse_retry_after(&h), Some(Duration::ZERO));
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let c = Credentials {
            client_id: "client-1".into(),
            client_secret: crate::Secret::new("s3cr3t-value"),
            seller_id: "12345".into(),
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("client-1"));
    }
}
