//! An in-process approved platform (PA) speaking AFNOR XP Z12-013: the Flow Service 1.3.0
//! (`/flow-service/v1/…`: submit a flow, search with a cursor, read a flow's metadata or file,
//! health check) and the Directory Service 1.3.0 (`/directory-service/v1/directory-line/search`),
//! behind OAuth2 client credentials (`/token`). Built from the OpenAPI documents in
//! `docs/reference/platform/`; every request and answer it sees is kept so tests can check
//! both against those documents.
//!
//! What moves with time: a submitted flow is `Pending` until the next search or read, then
//! `Ok` (or `Error` with a reason when told to reject it, or when its trackingId was already
//! taken: `AlreadyExistingFlow`); an accepted B2B invoice then gets an incoming lifecycle flow
//! (CDAR, status 200 « Déposée »), and tests add more (refused by the buyer, paid…).
//! Faults: 401, 429, 5xx, a slow answer, a flow accepted but its answer lost.

#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Form, Multipart, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const FLOW_PREFIX: &str = "/flow-service";
pub const DIRECTORY_PREFIX: &str = "/directory-service";
pub const TOKEN_PATH: &str = "/token";

/// The routes faults can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PlatformRoute {
    Token,
    Health,
    Submit,
    Search,
    GetFlow,
    Directory,
    Any,
}

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum PlatformFault {
    /// 401 (the token is refused once).
    Unauthorized,
    /// 429 with a `Retry-After` in seconds.
    TooManyRequests { retry_after: u64 },
    /// 500.
    ServerError,
    /// 503.
    Unavailable,
    /// The answer is held back this long.
    Delay { ms: u64 },
    /// The flow is taken in, then the answer is a 500: the client cannot know it was.
    AcceptedButLost,
}

/// One recorded exchange: the route, the JSON the client sent (the `flowInfo` part for a
/// submission) and the JSON answered, with its status.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub route: PlatformRoute,
    pub request: Option<Value>,
    pub status: u16,
    pub answer: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct SimFlow {
    pub flow_id: String,
    pub tracking_id: Option<String>,
    pub name: String,
    pub processing_rule: String,
    pub flow_syntax: String,
    pub flow_type: String,
    pub incoming: bool,
    pub file: Vec<u8>,
    pub submitted_at: String,
    pub updated_at: String,
    pub ack: String,
    pub details: Vec<Value>,
    /// Set when the flow must be rejected at acknowledgement: (reasonCode, message).
    reject: Option<(String, String)>,
}

struct Inner {
    client_id: String,
    client_secret: String,
    tokens: Vec<String>,
    flows: Vec<SimFlow>,
    /// SIREN → addressing identifier of an enabled line.
    directory: BTreeMap<String, String>,
    faults: Vec<(PlatformRoute, PlatformFault, u32)>,
    /// Submissions to reject at acknowledgement: trackingId → (reasonCode, message).
    rejections: BTreeMap<String, (String, String)>,
    exchanges: Vec<Exchange>,
    seq: u64,
    /// The platform's clock: one second per event, so `updatedAt` orders strictly.
    clock: time::OffsetDateTime,
}

impl Inner {
    fn tick(&mut self) -> String {
        self.clock += time::Duration::seconds(1);
        self.clock.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
    }

    fn next_id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}-{:08}", self.seq)
    }

    fn draw(&mut self, route: PlatformRoute) -> Option<PlatformFault> {
        let i = self.faults.iter().position(|(r, _, n)| (*r == route || *r == PlatformRoute::Any) && *n > 0)?;
        let fault = self.faults[i].1.clone();
        self.faults[i].2 -= 1;
        self.faults.retain(|(_, _, n)| *n > 0);
        Some(fault)
    }

    /// Acknowledges every pending flow (what a platform does between two calls).
    fn settle(&mut self) {
        let pending: Vec<usize> = (0..self.flows.len()).filter(|i| self.flows[*i].ack == "Pending").collect();
        for i in pending {
            let tracking = self.flows[i].tracking_id.clone();
            let duplicate = tracking.as_ref().is_some_and(|t| {
                self.flows[..i].iter().any(|f| !f.incoming && f.tracking_id.as_ref() == Some(t) && f.ack != "Error")
            });
            let now = self.tick();
            let f = &mut self.flows[i];
            f.updated_at = now;
            if duplicate {
                f.ack = "Error".into();
                f.details = vec![json!({"level": "Error", "item": "trackingId", "reasonCode": "AlreadyExistingFlow",
                    "reasonMessage": "The flow has already been sent and received"})];
            } else if let Some((code, message)) = f.reject.take() {
                f.ack = "Error".into();
                f.details =
                    vec![json!({"level": "Error", "item": f.name, "reasonCode": code, "reasonMessage": message})];
            } else {
                f.ack = "Ok".into();
                if f.processing_rule == "B2B"
                    && let Some(number) = f.tracking_id.clone()
                {
                    self.add_status(&number, 200, None);
                }
            }
        }
    }

    fn add_status(&mut self, number: &str, code: u16, reason: Option<(&str, &str)>) {
        let now = self.tick();
        let flow_id = self.next_id("lc");
        let file = cdar(number, code, reason, &now).into_bytes();
        self.flows.push(SimFlow {
            flow_id,
            tracking_id: None,
            name: format!("CDAR-{number}-{code}.xml"),
            processing_rule: "B2B".into(),
            flow_syntax: "CDAR".into(),
            flow_type: "CustomerInvoiceLC".into(),
            incoming: true,
            file,
            submitted_at: now.clone(),
            updated_at: now,
            ack: "Ok".into(),
            details: Vec::new(),
            reject: None,
        });
    }
}

fn flow_json(f: &SimFlow) -> Value {
    let mut v = json!({
        "flowId": f.flow_id,
        "name": f.name,
        "processingRule": f.processing_rule,
        "flowSyntax": f.flow_syntax,
        "flowProfile": if f.flow_syntax == "Factur-X" || f.flow_syntax == "UBL" || f.flow_syntax == "CII" { "CIUS" } else { "Undefined" },
        "submittedAt": f.submitted_at,
        "updatedAt": f.updated_at,
        "flowType": f.flow_type,
        "processingRuleSource": "Input",
        "flowDirection": if f.incoming { "In" } else { "Out" },
        "acknowledgement": {"status": f.ack},
    });
    if let Some(t) = &f.tracking_id {
        v["trackingId"] = json!(t);
    }
    if !f.details.is_empty() {
        v["acknowledgement"]["details"] = json!(f.details);
    }
    v
}

/// A lifecycle message as the CDV profile of CDAR writes it.
fn cdar(number: &str, code: u16, reason: Option<(&str, &str)>, at: &str) -> String {
    let stamp: String = at.chars().filter(|c| c.is_ascii_digit()).take(14).collect();
    let status = match reason {
        Some((code, text)) => format!(
            "<ram:SpecifiedDocumentStatus><ram:ReasonCode>{}</ram:ReasonCode><ram:Reason>{}</ram:Reason></ram:SpecifiedDocumentStatus>",
            escape(code),
            escape(text)
        ),
        None => String::new(),
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossDomainAcknowledgementAndResponse xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossDomainAcknowledgementAndResponse:100" xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100" xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100" xmlns:qdt="urn:un:unece:uncefact:data:standard:QualifiedDataType:100">
<rsm:ExchangedDocumentContext><ram:BusinessProcessSpecifiedDocumentContextParameter><ram:ID>REGULATED</ram:ID></ram:BusinessProcessSpecifiedDocumentContextParameter><ram:GuidelineSpecifiedDocumentContextParameter><ram:ID>urn.cpro.gouv.fr:1p0:CDV:invoice</ram:ID></ram:GuidelineSpecifiedDocumentContextParameter></rsm:ExchangedDocumentContext>
<rsm:ExchangedDocument><ram:ID>CDV-{stamp}-{code}</ram:ID><ram:IssueDateTime><udt:DateTimeString format="204">{stamp}</udt:DateTimeString></ram:IssueDateTime><ram:SenderTradeParty><ram:RoleCode>WK</ram:RoleCode></ram:SenderTradeParty><ram:RecipientTradeParty><ram:RoleCode>SE</ram:RoleCode></ram:RecipientTradeParty></rsm:ExchangedDocument>
<rsm:AcknowledgementDocument><ram:TypeCode>23</ram:TypeCode><ram:IssueDateTime><udt:DateTimeString format="204">{stamp}</udt:DateTimeString></ram:IssueDateTime><ram:ReferenceReferencedDocument><ram:IssuerAssignedID>{number}</ram:IssuerAssignedID><ram:TypeCode>380</ram:TypeCode><ram:ProcessConditionCode>{code}</ram:ProcessConditionCode>{status}</ram:ReferenceReferencedDocument></rsm:AcknowledgementDocument>
</rsm:CrossDomainAcknowledgementAndResponse>
"#,
        number = escape(number)
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[derive(Clone)]
struct AppState(Arc<Mutex<Inner>>);

impl AppState {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"errorCode": code, "errorMessage": message}))).into_response()
}

fn route_of(method: &str, path: &str) -> Option<PlatformRoute> {
    if path == TOKEN_PATH {
        return Some(PlatformRoute::Token);
    }
    if let Some(rest) = path.strip_prefix(FLOW_PREFIX) {
        return Some(match (method, rest) {
            ("GET", "/v1/healthcheck") => PlatformRoute::Health,
            ("POST", "/v1/flows") => PlatformRoute::Submit,
            ("POST", "/v1/flows/search") => PlatformRoute::Search,
            ("GET", r) if r.starts_with("/v1/flows/") => PlatformRoute::GetFlow,
            _ => return None,
        });
    }
    if path.starts_with(DIRECTORY_PREFIX) {
        return Some(PlatformRoute::Directory);
    }
    None
}

/// Faults and the bearer check, before the route runs.
async fn gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(route) = route_of(req.method().as_str(), req.uri().path()) else {
        return next.run(req).await;
    };
    let fault = state.lock().draw(route);
    if route != PlatformRoute::Token {
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        let known = token.is_some_and(|t| state.lock().tokens.contains(&t));
        if !known {
            return error(StatusCode::UNAUTHORIZED, "MISSING_TOKEN", "no valid token");
        }
    }
    match fault {
        None => next.run(req).await,
        Some(PlatformFault::Unauthorized) => {
            state.lock().tokens.clear();
            error(StatusCode::UNAUTHORIZED, "INVALID_TOKEN", "the token has expired")
        }
        Some(PlatformFault::TooManyRequests { retry_after }) => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS", "slow down");
            if let Ok(v) = retry_after.to_string().parse() {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Some(PlatformFault::ServerError) => error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "boom"),
        Some(PlatformFault::Unavailable) => error(StatusCode::SERVICE_UNAVAILABLE, "RESOURCE_ERROR", "down"),
        Some(PlatformFault::Delay { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            next.run(req).await
        }
        Some(PlatformFault::AcceptedButLost) => {
            let _ = next.run(req).await;
            error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "the answer was lost")
        }
    }
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    client_id: String,
    client_secret: String,
}

async fn token(State(state): State<AppState>, Form(form): Form<TokenForm>) -> Response {
    let mut g = state.lock();
    if form.grant_type != "client_credentials" {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "unsupported_grant_type"}))).into_response();
    }
    if form.client_id != g.client_id || form.client_secret != g.client_secret {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client", "error_description": "unknown client"})),
        )
            .into_response();
    }
    let value = g.next_id("token");
    g.tokens.push(value.clone());
    Json(json!({"access_token": value, "token_type": "Bearer", "expires_in": 3600})).into_response()
}

async fn health() -> StatusCode {
    StatusCode::OK
}

fn record(state: &AppState, route: PlatformRoute, request: Option<Value>, status: StatusCode, answer: Option<&Value>) {
    state.lock().exchanges.push(Exchange { route, request, status: status.as_u16(), answer: answer.cloned() });
}

async fn submit(State(state): State<AppState>, mut parts: Multipart) -> Response {
    let mut info: Option<Value> = None;
    let mut file: Option<(String, Vec<u8>)> = None;
    loop {
        match parts.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                let file_name = field.file_name().map(str::to_owned);
                let Ok(bytes) = field.bytes().await else {
                    return error(StatusCode::BAD_REQUEST, "INVALID_MULTIPART", "unreadable part");
                };
                match name.as_str() {
                    "flowInfo" => info = serde_json::from_slice(&bytes).ok(),
                    "file" => file = Some((file_name.unwrap_or_default(), bytes.to_vec())),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(_) => return error(StatusCode::BAD_REQUEST, "INVALID_MULTIPART", "unreadable form"),
        }
    }
    let (Some(info), Some((_, bytes))) = (info, file) else {
        record(&state, PlatformRoute::Submit, None, StatusCode::BAD_REQUEST, None);
        return error(StatusCode::BAD_REQUEST, "MISSING_REQUIRED_FIELD", "flowInfo and file are required");
    };
    let text = |k: &str| info.get(k).and_then(Value::as_str).map(str::to_owned);
    let (Some(name), Some(syntax)) = (text("name"), text("flowSyntax")) else {
        record(&state, PlatformRoute::Submit, Some(info.clone()), StatusCode::BAD_REQUEST, None);
        return error(StatusCode::BAD_REQUEST, "MISSING_REQUIRED_FIELD", "name and flowSyntax are required");
    };
    if bytes.is_empty() {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "EMPTY_FLOW", "the file is empty");
    }
    let rule = text("processingRule").unwrap_or_else(|| "Undefined".into());
    let tracking_id = text("trackingId");
    let flow_type = match (syntax.as_str(), rule.as_str()) {
        ("FRR", "B2BInt") => "UnitaryCustomerTransactionReport",
        ("FRR", _) => "AggregatedCustomerTransactionReport",
        ("CDAR", _) => "CustomerInvoiceLC",
        _ => "CustomerInvoice",
    };
    let mut g = state.lock();
    let checksum_ok = text("sha256").is_none_or(|h| {
        use sha2::Digest;
        h == hex::encode(sha2::Sha256::digest(&bytes))
    });
    let mut reject = tracking_id.as_ref().and_then(|t| g.rejections.remove(t));
    if !checksum_ok {
        reject = Some(("ChecksumMismatch".into(), "Checksum provided is different from computed one".into()));
    }
    let now = g.tick();
    let flow_id = g.next_id("flow");
    let flow = SimFlow {
        flow_id,
        tracking_id,
        name,
        processing_rule: rule,
        flow_syntax: syntax,
        flow_type: flow_type.into(),
        incoming: false,
        file: bytes,
        submitted_at: now.clone(),
        updated_at: now,
        ack: "Pending".into(),
        details: Vec::new(),
        reject,
    };
    let mut answer = json!({
        "flowId": flow.flow_id, "submittedAt": flow.submitted_at, "name": flow.name,
        "processingRule": flow.processing_rule, "flowSyntax": flow.flow_syntax,
    });
    if let Some(t) = &flow.tracking_id {
        answer["trackingId"] = json!(t);
    }
    if let Some(h) = info.get("sha256") {
        answer["sha256"] = h.clone();
    }
    g.flows.push(flow);
    drop(g);
    record(&state, PlatformRoute::Submit, Some(info), StatusCode::ACCEPTED, Some(&answer));
    (StatusCode::ACCEPTED, Json(answer)).into_response()
}

async fn search(State(state): State<AppState>, body: Option<Json<Value>>) -> Response {
    let Some(Json(body)) = body else {
        return error(StatusCode::BAD_REQUEST, "INVALID_BODY", "a JSON body is required");
    };
    let Some(filters) = body.get("where").and_then(Value::as_object).cloned() else {
        record(&state, PlatformRoute::Search, Some(body), StatusCode::BAD_REQUEST, None);
        return error(StatusCode::BAD_REQUEST, "MISSING_REQUIRED_FIELD", "where is required");
    };
    if filters.is_empty() {
        return error(StatusCode::BAD_REQUEST, "MISSING_REQUIRED_FIELD", "at least one criterion is required");
    }
    let limit = body.get("limit").and_then(Value::as_u64).unwrap_or(25).clamp(1, 100) as usize;
    let start: usize =
        body.get("cursor").and_then(Value::as_str).and_then(|c| c.strip_prefix("at-")?.parse().ok()).unwrap_or(0);
    let mut g = state.lock();
    g.settle();
    let text = |k: &str| filters.get(k).and_then(Value::as_str);
    let list = |k: &str| -> Option<Vec<String>> {
        filters
            .get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
    };
    let mut matching: Vec<&SimFlow> = g
        .flows
        .iter()
        .filter(|f| text("trackingId").is_none_or(|t| f.tracking_id.as_deref() == Some(t)))
        .filter(|f| text("updatedAfter").is_none_or(|t| f.updated_at.as_str() > t))
        .filter(|f| text("ackStatus").is_none_or(|s| f.ack == s))
        .filter(|f| list("processingRule").is_none_or(|l| l.contains(&f.processing_rule)))
        .filter(|f| list("flowType").is_none_or(|l| l.contains(&f.flow_type)))
        .filter(|f| list("flowDirection").is_none_or(|l| l.iter().any(|d| (d == "In") == f.incoming)))
        .collect();
    matching.sort_by(|a, b| a.updated_at.cmp(&b.updated_at).then(a.flow_id.cmp(&b.flow_id)));
    let page: Vec<Value> = matching.iter().skip(start).take(limit).map(|f| flow_json(f)).collect();
    let mut answer = json!({"limit": limit, "filters": filters, "results": page});
    if start + limit < matching.len() {
        answer["nextCursor"] = json!(format!("at-{}", start + limit));
    }
    drop(g);
    record(&state, PlatformRoute::Search, Some(body), StatusCode::OK, Some(&answer));
    Json(answer).into_response()
}

#[derive(Deserialize)]
struct GetQuery {
    #[serde(rename = "docType")]
    doc_type: Option<String>,
}

async fn get_flow(State(state): State<AppState>, Path(id): Path<String>, Query(q): Query<GetQuery>) -> Response {
    let mut g = state.lock();
    g.settle();
    let Some(f) = g.flows.iter().find(|f| f.flow_id == id).cloned() else {
        return error(StatusCode::NOT_FOUND, "MISSING_RESOURCE", "Requested resource is Not Found");
    };
    drop(g);
    match q.doc_type.as_deref().unwrap_or("Metadata") {
        "Metadata" => {
            let v = flow_json(&f);
            record(&state, PlatformRoute::GetFlow, None, StatusCode::OK, Some(&v));
            Json(v).into_response()
        }
        "Original" => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment;filename={}", f.name)),
            ],
            f.file,
        )
            .into_response(),
        _ => error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER", "docType"),
    }
}

async fn directory_search(State(state): State<AppState>, Json(body): Json<Value>) -> Response {
    let siren = body.pointer("/filters/siren/value").and_then(Value::as_str).map(str::to_owned);
    let g = state.lock();
    let results: Vec<Value> = g
        .directory
        .iter()
        .filter(|(s, _)| siren.as_ref().is_none_or(|want| want == *s))
        .map(|(s, address)| {
            json!({"addressingIdentifier": address, "siren": s, "platformType": "WK", "directoryLineStatus": "Enabled"})
        })
        .collect();
    drop(g);
    let answer = json!({"search": body, "totalNumberOfResults": results.len(), "results": results});
    record(&state, PlatformRoute::Directory, answer.get("search").cloned(), StatusCode::OK, Some(&answer));
    Json(answer).into_response()
}

/// A running platform. Dropping it stops the server.
pub struct PlatformSimulator {
    addr: SocketAddr,
    state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot listen on 127.0.0.1: {0}")]
pub struct PlatformSimulatorError(std::io::Error);

impl PlatformSimulator {
    /// Binds a free loopback port and serves until dropped; ready when this returns.
    pub async fn start(client_id: &str, client_secret: &str) -> Result<PlatformSimulator, PlatformSimulatorError> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(PlatformSimulatorError)?;
        let addr = listener.local_addr().map_err(PlatformSimulatorError)?;
        let state = AppState(Arc::new(Mutex::new(Inner {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            tokens: Vec::new(),
            flows: Vec::new(),
            directory: BTreeMap::new(),
            faults: Vec::new(),
            rejections: BTreeMap::new(),
            exchanges: Vec::new(),
            seq: 0,
            clock: time::macros::datetime!(2026-09-01 08:00 UTC),
        })));
        let app = Router::new()
            .route(TOKEN_PATH, post(token))
            .route(&format!("{FLOW_PREFIX}/v1/healthcheck"), get(health))
            .route(&format!("{FLOW_PREFIX}/v1/flows"), post(submit))
            .route(&format!("{FLOW_PREFIX}/v1/flows/search"), post(search))
            .route(&format!("{FLOW_PREFIX}/v1/flows/{{id}}"), get(get_flow))
            .route(&format!("{DIRECTORY_PREFIX}/v1/healthcheck"), get(health))
            .route(&format!("{DIRECTORY_PREFIX}/v1/directory-line/search"), post(directory_search))
            .layer(middleware::from_fn_with_state(state.clone(), gate))
            .layer(DefaultBodyLimit::max(100 * 1024 * 1024))
            .with_state(state.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = served.await {
                tracing::error!(error = %e, "platform simulator stopped");
            }
        });
        Ok(PlatformSimulator { addr, state, shutdown: Some(tx), task: Some(task) })
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn flow_url(&self) -> String {
        format!("{}{FLOW_PREFIX}", self.base())
    }
    pub fn directory_url(&self) -> String {
        format!("{}{DIRECTORY_PREFIX}", self.base())
    }
    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.base())
    }

    /// A company that receives invoices at this address.
    pub fn add_company(&self, siren: &str, address: &str) {
        self.state.lock().directory.insert(siren.to_owned(), address.to_owned());
    }

    /// The next `times` requests to `route` meet `fault`.
    pub fn inject(&self, route: PlatformRoute, fault: PlatformFault, times: u32) {
        self.state.lock().faults.push((route, fault, times));
    }

    /// The next submission of this tracking id is rejected at acknowledgement.
    pub fn reject_next(&self, tracking_id: &str, reason_code: &str, message: &str) {
        self.state.lock().rejections.insert(tracking_id.to_owned(), (reason_code.to_owned(), message.to_owned()));
    }

    /// A lifecycle status for an invoice (e.g. 210 refused by the buyer, with its reason).
    pub fn add_status(&self, number: &str, code: u16, reason: Option<(&str, &str)>) {
        self.state.lock().add_status(number, code, reason);
    }

    /// Every flow, ours and the platform's.
    pub fn flows(&self) -> Vec<SimFlow> {
        self.state.lock().flows.clone()
    }

    /// Our flows of a tracking id.
    pub fn submitted(&self, tracking_id: &str) -> Vec<SimFlow> {
        self.state
            .lock()
            .flows
            .iter()
            .filter(|f| !f.incoming && f.tracking_id.as_deref() == Some(tracking_id))
            .cloned()
            .collect()
    }

    /// What was asked and answered, in order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.state.lock().exchanges.clone()
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for PlatformSimulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
