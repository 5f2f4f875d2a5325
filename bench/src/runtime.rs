//! A minimal stand-in for the Lambda Runtime API (the part a function's runtime client uses:
//! `next`, `response`, `error`, `init/error`), so the real function binaries can be started,
//! timed to their first `next` and given events, on loopback.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::proc;

/// What the stand-in saw.
#[derive(Debug)]
pub enum Seen {
    /// The function asked for its first event: initialisation is over.
    Ready(Instant),
    Response(Value),
    /// `init` or the request id, and what the function said.
    Error(String, String),
}

struct Shared {
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Value>>,
    first_next: AtomicBool,
    seen: mpsc::UnboundedSender<Seen>,
    deadline: Duration,
}

async fn next(State(s): State<Arc<Shared>>) -> (HeaderMap, String) {
    if !s.first_next.swap(true, Ordering::SeqCst) {
        let _ = s.seen.send(Seen::Ready(Instant::now()));
    }
    // Without work the call stays open, as Lambda holds it between invocations.
    let event = loop {
        if let Some(event) = s.events.lock().await.recv().await {
            break event;
        }
        std::future::pending::<()>().await;
    };
    let id = format!("bench-{:x}", time::OffsetDateTime::now_utc().unix_timestamp_nanos());
    let deadline_ms =
        time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000 + s.deadline.as_millis() as i128;
    let mut h = HeaderMap::new();
    let mut put = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    put("lambda-runtime-aws-request-id", id);
    put("lambda-runtime-deadline-ms", deadline_ms.to_string());
    put("lambda-runtime-invoked-function-arn", "arn:aws:lambda:eu-west-3:123456789012:function:bench".into());
    put("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000;Sampled=0".into());
    (h, event.to_string())
}

async fn response(State(s): State<Arc<Shared>>, UrlPath(_id): UrlPath<String>, body: Bytes) -> &'static str {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let _ = s.seen.send(Seen::Response(value));
    "{}"
}

async fn error(State(s): State<Arc<Shared>>, UrlPath(id): UrlPath<String>, body: Bytes) -> &'static str {
    let _ = s.seen.send(Seen::Error(id, String::from_utf8_lossy(&body).into_owned()));
    "{}"
}

async fn init_error(State(s): State<Arc<Shared>>, body: Bytes) -> &'static str {
    let _ = s.seen.send(Seen::Error("init".into(), String::from_utf8_lossy(&body).into_owned()));
    "{}"
}

/// One function process under the stand-in.
pub struct Function {
    pub child: tokio::process::Child,
    pub pid: u32,
    pub started: Instant,
    seen: mpsc::UnboundedReceiver<Seen>,
    events: mpsc::UnboundedSender<Value>,
    server: tokio::task::JoinHandle<()>,
}

impl Function {
    /// Starts `binary` with `env` and the Lambda variables, pointed at a fresh stand-in. Its
    /// standard output (the function's logs) goes to `log`.
    pub async fn start(binary: &Path, env: &[(String, String)], memory_mb: u32, log: &Path) -> Result<Function> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: tokio::sync::Mutex::new(events_rx),
            first_next: AtomicBool::new(false),
            seen: tx,
            deadline: Duration::from_secs(900),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let name = binary.file_name().and_then(|n| n.to_str()).unwrap_or("function").to_owned();
        let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = tokio::process::Command::new(binary);
        cmd.env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string())
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true);
        let started = Instant::now();
        let child = cmd.spawn().with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().ok_or_else(|| anyhow!("{name} exited at once"))?;
        Ok(Function { child, pid, started, seen: rx, events, server })
    }

    /// Waits for the first `next` call; returns the time from process start.
    pub async fn ready(&mut self, bound: Duration) -> Result<Duration> {
        match tokio::time::timeout(bound, self.seen.recv()).await {
            Ok(Some(Seen::Ready(at))) => Ok(at - self.started),
            Ok(Some(Seen::Error(at, e))) => bail!("the function failed ({at}) before it was ready: {e}"),
            Ok(other) => bail!("unexpected before ready: {other:?}"),
            Err(_) => {
                let status = self.child.try_wait().ok().flatten();
                bail!("not ready within {bound:?} (exit status {status:?})")
            }
        }
    }

    /// Gives the function one event and waits for its answer.
    pub async fn invoke(&mut self, event: Value, bound: Duration) -> Result<Value> {
        // Served to the `next` call the function already has open.
        self.events.send(event).map_err(|_| anyhow!("the stand-in has stopped"))?;
        match tokio::time::timeout(bound, self.seen.recv()).await {
            Ok(Some(Seen::Response(v))) => Ok(v),
            Ok(Some(Seen::Error(id, e))) => bail!("the function reported an error for {id}: {e}"),
            Ok(other) => bail!("unexpected answer: {other:?}"),
            Err(_) => bail!("no answer within {bound:?}"),
        }
    }

    pub fn peak_rss_kib(&self) -> Option<u64> {
        proc::status_kib(self.pid, "VmHWM")
    }

    pub fn rss_kib(&self) -> Option<u64> {
        proc::status_kib(self.pid, "VmRSS")
    }

    pub fn cpu(&self) -> Option<Duration> {
        proc::process_cpu(self.pid)
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
        self.server.abort();
    }
}
