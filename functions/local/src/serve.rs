//! `marketbill serve` and `marketbill token`: the portal on 127.0.0.1 over the embedded
//! adapters, with tokens signed by a key kept in the data folder — and the whole service: its
//! worker runs the twice-daily cycle (06:00 and 18:00 Paris time), the runs sellers start from
//! the space, the hourly imports and platform passes and the daily purge.
//!
//! The server is built to stay up in front of anyone on the machine:
//! - a request must send its head within [`HEADER_TIMEOUT`] and its body within
//!   [`BODY_TIMEOUT`], and is answered within [`REQUEST_TIMEOUT`];
//! - at most [`MAX_CONNECTIONS`] connections are held; when all are taken, the oldest one
//!   that is not in a request (still sending its head or its body, or idle) makes room, so
//!   slow or idle connections cannot keep others out;
//! - the public buyer route is limited per client address ([`BUYER_REQUESTS_PER_MINUTE`]);
//! - a defect in one request is that request's 500, never the server's end;
//! - download links (`/files/…`) are signed and expire (see `FolderStore`).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::{ConnectInfo, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use hyper_util::rt::{TokioIo, TokioTimer};
use marketbill_app::model::SellerId;
use marketbill_domain::fees::FeePlans;
use marketbill_local::{FolderStore, LinkError};
use marketbill_octopia::{OctopiaClient, OctopiaConfig, OctopiaMarketplace};
use portal_api::{LocalTokens, Portal, router};
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

use crate::local;

/// The port `marketbill serve` listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 8080;
/// Connections held at once.
pub const MAX_CONNECTIONS: usize = 256;
/// Time to send a request head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time to send a request body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(15);
/// Time to answer a request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest life of one connection, keep-alive included.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(300);
/// Buyer requests per client address and minute.
pub const BUYER_REQUESTS_PER_MINUTE: u32 = 10;

/// How often `marketbill serve`'s worker looks at what is due (a run asked for in the space
/// starts within this).
pub const WORKER_TICK: Duration = Duration::from_secs(2);

pub struct ServeOptions {
    pub port: u16,
    pub data_dir: PathBuf,
    pub api_base: String,
    pub auth_base: String,
}

/// The token-signing key of a data folder (created on first use, mode 0600).
pub fn token_key(data_dir: &Path) -> Result<Vec<u8>> {
    let path = data_dir.join("token.key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return hex::decode(text.trim()).with_context(|| format!("{} is not a hex key", path.display()));
    }
    marketbill_local::private::create_dir(data_dir)?;
    let key = marketbill_app::crypto::random_key();
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
        f.write_all(hex::encode(key).as_bytes())?;
    }
    #[cfg(not(unix))]
    std::fs::write(&path, hex::encode(key))?;
    Ok(key.to_vec())
}

pub fn token(seller: &str, data_dir: &Path, hours: i64) -> Result<String> {
    let id: SellerId = seller.parse()?;
    let hours = time::Duration::hours(hours);
    if hours > LocalTokens::MAX_LIFETIME || hours <= time::Duration::ZERO {
        anyhow::bail!("a token lives at most {} hours", LocalTokens::MAX_LIFETIME.whole_hours());
    }
    let tokens = LocalTokens::new(&token_key(data_dir)?);
    Ok(tokens.mint(&id, time::OffsetDateTime::now_utc() + hours))
}

/// `GET /files/{key}?expires=…&sig=…`: a signed download link of the data folder's store.
async fn download(
    State(store): State<Arc<FolderStore>>,
    UrlPath(key): UrlPath<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let expires = q.get("expires").and_then(|e| e.parse::<i64>().ok());
    let (Some(expires), Some(sig)) = (expires, q.get("sig")) else {
        return (StatusCode::FORBIDDEN, "this link is not valid\n").into_response();
    };
    match store.open_link(&key, expires, sig, time::OffsetDateTime::now_utc()) {
        Ok(bytes) => {
            let kind = match key.rsplit('.').next() {
                Some("pdf") => "application/pdf",
                Some("xml") => "application/xml",
                Some("zip") => "application/zip",
                _ => "application/octet-stream",
            };
            let name = key.rsplit('/').next().unwrap_or("document");
            let mut response = bytes.into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                headers.insert(header::CONTENT_DISPOSITION, v);
            }
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
            response
        }
        Err(LinkError::Expired) => (StatusCode::GONE, "this link has expired; ask for a new one\n").into_response(),
        Err(LinkError::Gone) => (StatusCode::NOT_FOUND, "this document no longer exists\n").into_response(),
        Err(LinkError::Invalid) => (StatusCode::FORBIDDEN, "this link is not valid\n").into_response(),
        Err(LinkError::Store(_)) => (StatusCode::SERVICE_UNAVAILABLE, "try again later\n").into_response(),
    }
}

/// The per-address limit of the public buyer route.
async fn limit_buyers(
    State(limiter): State<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    request: Request,
    next: Next,
) -> Response {
    let is_buyer_route = request.uri().path() == "/v1/invoice-requests"
        || (request.uri().path() == "/facture" && request.method() == axum::http::Method::POST);
    let client = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if is_buyer_route
        && let Some(ip) = client
        && limiter.check_key(&ip).is_err()
    {
        let body = serde_json::json!({
            "type": "about:blank", "title": "Too many requests", "status": 429,
            "detail": "too many requests from this address; try again in a minute"
        });
        let mut response = (StatusCode::TOO_MANY_REQUESTS, body.to_string()).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        return response;
    }
    next.run(request).await
}

/// The whole local application: the portal, the download links, the limits.
pub fn app(portal: Arc<Portal>, store: Arc<FolderStore>) -> Router {
    let per_minute = NonZeroU32::new(BUYER_REQUESTS_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
    let limiter: Arc<DefaultKeyedRateLimiter<IpAddr>> = Arc::new(RateLimiter::keyed(Quota::per_minute(per_minute)));
    let files = Router::new().route("/files/{*key}", get(download)).with_state(store);
    router(portal)
        .merge(files)
        .layer(axum::middleware::from_fn_with_state(limiter, limit_buyers))
        .layer(RequestBodyTimeoutLayer::new(BODY_TIMEOUT))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
}

/// The most a request body may be when read ahead of the portal (which itself takes 64 KiB).
const MAX_BUFFERED_BODY: usize = 65 * 1024;

/// An answer given before the portal sees the request (problem+json, then close).
fn refusal(status: StatusCode, detail: &str) -> Response {
    let body = serde_json::json!({"type": "about:blank", "title": status.canonical_reason().unwrap_or("Refused"),
        "status": status.as_u16(), "detail": detail});
    let mut response = (status, body.to_string()).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// One held connection: whether it is inside a request (its body received, the portal at
/// work), and how to close it.
struct Held {
    id: u64,
    in_request: Arc<AtomicBool>,
    abort: tokio::task::AbortHandle,
}

/// The connections held, oldest first.
#[derive(Default)]
struct Connections {
    held: Mutex<VecDeque<Held>>,
}

impl Connections {
    fn count(&self) -> usize {
        self.held.lock().map(|h| h.len()).unwrap_or(0)
    }

    /// Closes the oldest connection that is not inside a request; false when every one is.
    fn evict_idle(&self) -> bool {
        let Ok(mut held) = self.held.lock() else { return false };
        match held.iter().position(|c| !c.in_request.load(Ordering::SeqCst)) {
            Some(i) => {
                if let Some(c) = held.remove(i) {
                    c.abort.abort();
                }
                true
            }
            None => false,
        }
    }

    fn add(&self, c: Held) {
        if let Ok(mut held) = self.held.lock() {
            held.push_back(c);
        }
    }

    fn remove(&self, id: u64) {
        if let Ok(mut held) = self.held.lock()
            && let Some(i) = held.iter().position(|c| c.id == id)
        {
            held.remove(i);
        }
    }
}

/// Serves `app` on `listener` with the limits above until `shutdown` completes.
pub async fn serve_bounded(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let connections = Arc::new(Connections::default());
    let ids = AtomicU64::new(0);
    tokio::pin!(shutdown);
    loop {
        let (mut stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors and the like: wait a little, keep serving.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        if connections.count() >= MAX_CONNECTIONS && !connections.evict_idle() {
            // Every held connection is inside a request: say so and close.
            tokio::spawn(async move {
                let _ = stream
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
            continue;
        }
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let in_request = Arc::new(AtomicBool::new(false));
        let flag = in_request.clone();
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            let flag = flag.clone();
            async move {
                // The body is read before the connection counts as inside a request: one
                // that trickles its body (or never sends it) is as sheddable as one still
                // sending its head, so such connections cannot keep others out.
                let (parts, body) = request.into_parts();
                let body = match tokio::time::timeout(
                    BODY_TIMEOUT,
                    axum::body::to_bytes(axum::body::Body::new(body), MAX_BUFFERED_BODY),
                )
                .await
                {
                    Ok(Ok(bytes)) => bytes,
                    Ok(Err(_)) => return Ok(refusal(StatusCode::PAYLOAD_TOO_LARGE, "the body is over 64 KiB")),
                    Err(_) => return Ok(refusal(StatusCode::REQUEST_TIMEOUT, "the body did not arrive in time")),
                };
                flag.store(true, Ordering::SeqCst);
                let response = app.oneshot(Request::from_parts(parts, axum::body::Body::from(body))).await;
                flag.store(false, Ordering::SeqCst);
                response
            }
        });
        let held = connections.clone();
        let task = tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
            held.remove(id);
        });
        connections.add(Held { id, in_request, abort: task.abort_handle() });
    }
}

pub fn run(o: &ServeOptions) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let client = OctopiaClient::new(OctopiaConfig::new(&o.api_base, &o.auth_base))?;
        let marketplace = Arc::new(OctopiaMarketplace::new(Arc::new(client)));
        let (mut services, layout) = local::services(&o.data_dir, marketplace, "factures@marketbill.example")?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", o.port))
            .await
            .with_context(|| format!("listening on port {}", o.port))?;
        let addr = listener.local_addr()?;
        layout.store.serve_links_at(&format!("http://{addr}/files"));
        services.settings.public_url = Some(format!("http://{addr}"));
        // The mails of later runs of this folder (`run`, `demo`) link to this address.
        if let Err(e) = std::fs::write(o.data_dir.join(local::PORTAL_URL_FILE), format!("http://{addr}\n")) {
            tracing::warn!(error = %e, "the portal's address was not noted in the data folder");
        }
        let auth = Arc::new(LocalTokens::new(&token_key(&o.data_dir)?));
        // Whoever holds the data folder holds its key: one sign-in link per seller, to start with.
        for id in services.ledger.active_sellers().await?.into_iter().take(10) {
            if let Some(token) = portal_api::auth::EmailLinks::sign_in_token(auth.as_ref(), &id) {
                let link = portal_api::sign_in_url(&format!("http://{addr}"), &token);
                eprintln!("Espace vendeur {id} (lien valable 15 min, une fois) : {link}");
            }
        }
        eprintln!("Demande de facture acheteur : http://{addr}/facture");
        let platform = Arc::new(marketbill_afnor::AfnorPlatform::new(marketbill_afnor::AfnorConfig::default())?);
        let portal = Arc::new(Portal { services, auth, plans: FeePlans::bundled(), platform });
        // The whole service in one process: the schedule, the queued runs, the hourly and
        // daily jobs (see `schedule::Worker`).
        tokio::spawn(marketbill_app::schedule::work(portal.services.clone(), FeePlans::bundled(), WORKER_TICK));
        println!(
            "{}",
            serde_json::json!({"url": format!("http://{addr}"), "openapi": format!("http://{addr}/openapi.json")})
        );
        eprintln!(
            "Marketbill portal on http://{addr} — tokens: marketbill token --seller ID --data-dir {}",
            o.data_dir.display()
        );
        serve_bounded(listener, app(portal, layout.store.clone()), async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
    })
}
