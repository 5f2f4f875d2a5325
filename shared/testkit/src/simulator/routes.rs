//! The HTTP side of the simulator: the Octopia routes as described in the team's reference,
//! the admin routes, and the fault-injection middleware.

// Helpers return the error `Response` itself, the way axum handlers answer; its size is fine.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::{Body, to_bytes};
use axum::extract::{DefaultBodyLimit, Form, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::faults::{Fault, FaultKind, Route};
use super::state::{Attached, FileOutcome, Import, Inner, OrderFilter, Token, sort_key};

pub const TOKEN_PATH: &str = "/auth/realms/maas/protocol/openid-connect/token";
pub const API_PREFIX: &str = "/seller/v2";

#[derive(Clone)]
pub struct AppState {
    pub inner: Arc<Mutex<Inner>>,
    pub api_base: Arc<String>,
}

impl AppState {
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock would be a simulator bug; keep serving regardless.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn problem(inner: &mut Inner, status: StatusCode, title: &str, detail: &str, errors: Option<Value>) -> Response {
    let mut body = json!({
        "type": format!("https://api.octopia-io.net/problems/{}", status.as_u16()),
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
        "traceId": inner.next_trace(),
    });
    if let Some(e) = errors {
        body["errors"] = e;
    }
    let mut r = (status, Json(body)).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    r
}

fn classify(method: &Method, path: &str) -> Option<Route> {
    if path == TOKEN_PATH {
        return Some(Route::Token);
    }
    let rest = path.strip_prefix(API_PREFIX)?;
    let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    Some(match (method.as_str(), parts.as_slice()) {
        ("GET", ["orders"]) => Route::ListOrders,
        ("GET", ["orders", "count"]) => Route::CountOrders,
        ("GET", ["orders", _]) => Route::GetOrder,
        ("POST", ["orders", _, "invoice-documents"]) => Route::UploadInvoice,
        ("POST", ["order-invoice-imports"]) => Route::BulkUpload,
        ("GET", ["order-invoice-imports"]) => Route::ListImports,
        ("GET", ["order-invoice-imports", _]) => Route::GetImport,
        _ => return None,
    })
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

async fn fault_layer(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let Some(route) = classify(req.method(), req.uri().path()) else {
        return next.run(req).await;
    };
    let fault = {
        let mut g = st.lock();
        *g.requests.entry(route).or_default() += 1;
        g.faults.draw(route)
    };
    match fault {
        None => next.run(req).await,
        Some(FaultKind::TooManyRequests { retry_after }) => {
            let mut r = problem(&mut st.lock(), StatusCode::TOO_MANY_REQUESTS, "Too Many Requests", "slow down", None);
            if let Some(s) = retry_after {
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
            }
            r
        }
        Some(FaultKind::ServerError) => {
            problem(&mut st.lock(), StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error", "injected fault", None)
        }
        Some(FaultKind::Unavailable) => {
            problem(&mut st.lock(), StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable", "injected fault", None)
        }
        Some(FaultKind::Delay { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            next.run(req).await
        }
        Some(kind @ (FaultKind::TruncatedJson | FaultKind::MalformedJson)) => {
            let response = next.run(req).await;
            let (mut parts, body) = response.into_parts();
            let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
            let broken: Vec<u8> = if kind == FaultKind::TruncatedJson {
                bytes[..bytes.len() / 2].to_vec()
            } else {
                b"<html><body>502 Bad Gateway</body></html>".to_vec()
            };
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(broken))
        }
        Some(FaultKind::ExpiredToken) => {
            let mut g = st.lock();
            if let Some(client) = bearer(req.headers()).and_then(|t| g.tokens.get(t)).map(|t| t.client_id.clone()) {
                let now = Instant::now();
                for t in g.tokens.values_mut().filter(|t| t.client_id == client) {
                    t.expires = now;
                }
            }
            problem(&mut g, StatusCode::UNAUTHORIZED, "Unauthorized", "the access token has expired", None)
        }
    }
}

/// Checks the bearer token and the `SellerId` header; returns the seller id.
fn authorize(g: &mut Inner, headers: &HeaderMap) -> Result<String, Response> {
    let Some(token) = bearer(headers) else {
        return Err(problem(g, StatusCode::UNAUTHORIZED, "Unauthorized", "missing bearer token", None));
    };
    let Some(Token { client_id, expires }) = g.tokens.get(token).cloned() else {
        return Err(problem(g, StatusCode::UNAUTHORIZED, "Unauthorized", "unknown token", None));
    };
    if Instant::now() >= expires {
        return Err(problem(g, StatusCode::UNAUTHORIZED, "Unauthorized", "the access token has expired", None));
    }
    let seller = headers.get("sellerid").and_then(|v| v.to_str().ok()).unwrap_or("").trim().to_owned();
    let allowed = g.clients.iter().any(|c| c.client_id == client_id && c.seller_id == seller);
    if !allowed {
        return Err(problem(g, StatusCode::FORBIDDEN, "Forbidden", "this token has no rights on that SellerId", None));
    }
    Ok(seller)
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn keycloak_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({"error": error, "error_description": description}))).into_response()
}

async fn token(State(st): State<AppState>, Form(f): Form<TokenForm>) -> Response {
    let mut g = st.lock();
    let client_id = f.client_id.unwrap_or_default();
    *g.token_requests.entry(client_id.clone()).or_default() += 1;
    if f.grant_type.as_deref() != Some("client_credentials") {
        return keycloak_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be client_credentials",
        );
    }
    let secret = f.client_secret.unwrap_or_default();
    if !g.clients.iter().any(|c| c.client_id == client_id && c.client_secret == secret) {
        return keycloak_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client or Invalid client credentials",
        );
    }
    g.token_seq += 1;
    let token = format!("simtok-{}-{:06}", g.token_seq, g.token_seq.wrapping_mul(7919) % 1_000_000);
    let ttl = g.token_ttl;
    g.tokens.insert(token.clone(), Token { client_id, expires: Instant::now() + ttl });
    Json(json!({"access_token": token, "expires_in": ttl.as_secs(), "token_type": "Bearer"})).into_response()
}

fn parse_filter(g: &mut Inner, q: &HashMap<String, String>) -> Result<OrderFilter, Response> {
    let mut errors = serde_json::Map::new();
    let mut date = |name: &str| -> Option<OffsetDateTime> {
        let raw = q.get(name)?;
        match OffsetDateTime::parse(raw, &Rfc3339) {
            Ok(t) => Some(t),
            Err(_) => {
                errors.insert(name.to_owned(), json!(["must be an ISO-8601 UTC date-time"]));
                None
            }
        }
    };
    let mut f = OrderFilter {
        created_min: date("createdAtMin"),
        created_max: date("createdAtMax"),
        updated_min: date("updatedAtMin"),
        updated_max: date("updatedAtMax"),
        shipped_min: date("shippedAtMin"),
        shipped_max: date("shippedAtMax"),
        ..OrderFilter::default()
    };
    if let Some(s) = q.get("status") {
        f.statuses = s.split(',').map(|x| x.trim().to_owned()).filter(|x| !x.is_empty()).collect();
    }
    f.sales_channel = q.get("salesChannelId").cloned();
    f.supply_mode = q.get("supplyMode").cloned();
    f.shipping_country = q.get("shippingCountry").cloned();
    if let Some(b) = q.get("businessOrder") {
        match b.as_str() {
            "true" => f.business = Some(true),
            "false" => f.business = Some(false),
            _ => {
                errors.insert("businessOrder".into(), json!(["must be true or false"]));
            }
        }
    }
    if errors.is_empty() {
        Ok(f)
    } else {
        Err(problem(g, StatusCode::BAD_REQUEST, "Bad Request", "invalid query parameters", Some(Value::Object(errors))))
    }
}

/// The caller's seller id and the listing filters, or the error answer.
fn authorize_and_filter(
    g: &mut Inner,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Result<(String, OrderFilter), Response> {
    let seller = authorize(g, headers)?;
    Ok((seller, parse_filter(g, q)?))
}

/// The orders matching a listing, sorted; borrowed, so a page clones only its own orders
/// (a seller with 50,000 orders is listed page by page without copying them all each time).
fn matching_orders<'g>(g: &'g Inner, seller: &str, f: &OrderFilter, q: &HashMap<String, String>) -> Vec<&'g Value> {
    let mut items: Vec<&Value> =
        g.orders.get(seller).map(|m| m.values().filter(|o| f.matches(o)).collect()).unwrap_or_default();
    let field = match q.get("sort").map(String::as_str) {
        Some("updatedAt") => "updatedAt",
        _ => "createdAt",
    };
    items.sort_by_cached_key(|o| sort_key(o, field));
    if q.get("desc").is_some_and(|d| d == "true") {
        items.reverse();
    }
    items
}

async fn list_orders(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut g = st.lock();
    let (seller, filter) = match authorize_and_filter(&mut g, &headers, &q) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let page_index: usize = match q.get("pageIndex").map(|v| v.parse::<usize>()) {
        None => 1,
        Some(Ok(n)) if n >= 1 => n,
        _ => {
            return problem(
                &mut g,
                StatusCode::BAD_REQUEST,
                "Bad Request",
                "invalid pageIndex",
                Some(json!({"pageIndex": ["must be 1 or more"]})),
            );
        }
    };
    let page_size: usize = match q.get("pageSize").map(|v| v.parse::<usize>()) {
        None => 50,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        _ => {
            return problem(
                &mut g,
                StatusCode::BAD_REQUEST,
                "Bad Request",
                "invalid pageSize",
                Some(json!({"pageSize": ["must be between 1 and 100"]})),
            );
        }
    };
    let all = matching_orders(&g, &seller, &filter, &q);
    let start = (page_index - 1).saturating_mul(page_size);
    let items: Vec<Value> = all.iter().skip(start).take(page_size).map(|o| (*o).clone()).collect();
    let more = start + items.len() < all.len();
    drop(all);
    let mut response = Json(json!({"itemsPerPage": page_size, "items": items})).into_response();
    if more && g.link_header {
        let mut next = url::Url::parse(&format!("{}/orders", st.api_base)).ok();
        if let Some(u) = next.as_mut() {
            let mut pairs = u.query_pairs_mut();
            let mut keys: Vec<&String> = q.keys().filter(|k| k.as_str() != "pageIndex").collect();
            keys.sort();
            for k in keys {
                pairs.append_pair(k, &q[k]);
            }
            pairs.append_pair("pageIndex", &(page_index + 1).to_string());
        }
        if let Some(v) = next.and_then(|u| HeaderValue::from_str(&format!("<{u}>; rel=\"next\"")).ok()) {
            response.headers_mut().insert(header::LINK, v);
        }
    }
    response
}

async fn count_orders(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut g = st.lock();
    let (seller, filter) = match authorize_and_filter(&mut g, &headers, &q) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let n = matching_orders(&g, &seller, &filter, &q).len();
    Json(json!({"count": n})).into_response()
}

async fn get_order(State(st): State<AppState>, headers: HeaderMap, Path(order_id): Path<String>) -> Response {
    let mut g = st.lock();
    let seller = match authorize(&mut g, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match g.order(&seller, &order_id).cloned() {
        Some(o) => Json(o).into_response(),
        None => problem(&mut g, StatusCode::NOT_FOUND, "Not Found", &format!("order {order_id} not found"), None),
    }
}

/// Checks one uploaded file and attaches it when it is acceptable.
fn accept_file(
    g: &mut Inner,
    seller: &str,
    import_id: &str,
    name: &str,
    bytes: &[u8],
    expected_order: Option<&str>,
) -> FileOutcome {
    let base = name.rsplit('/').next().unwrap_or(name);
    let (stem, ext) = base.rsplit_once('.').unwrap_or((base, ""));
    let fail = |code: &str, message: String| FileOutcome {
        file_name: base.to_owned(),
        order_id: (!stem.is_empty()).then(|| stem.to_owned()),
        error: Some((code.to_owned(), message)),
    };
    let ext = ext.to_ascii_lowercase();
    if ext != "pdf" && ext != "xml" {
        return fail("InvalidFormat", format!("{base}: only .pdf and .xml (UBL 2.1) files are accepted"));
    }
    if bytes.is_empty() {
        return fail("InvalidFormat", format!("{base} is empty"));
    }
    let looks_right = if ext == "pdf" {
        bytes.starts_with(b"%PDF-")
    } else {
        let trimmed = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        trimmed.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
    };
    if !looks_right {
        return fail("InvalidFormat", format!("{base} is not a {} file", ext.to_uppercase()));
    }
    if let Some(expected) = expected_order
        && stem != expected
    {
        return fail("InvalidFormat", format!("{base}: the file name must be {expected}.{ext}"));
    }
    let Some(order) = g.order(seller, stem) else {
        return fail("OrderNotFound", format!("order {stem} not found"));
    };
    let status = order["status"].as_str().unwrap_or("");
    if status != "Shipped" && status != "Delivered" {
        return fail(
            "InvalidOrderState",
            format!("order {stem} is {status}; invoices are accepted for shipped or delivered orders"),
        );
    }
    g.attached.insert(
        stem.to_owned(),
        Attached { file_name: base.to_owned(), bytes: bytes.to_vec(), import_id: import_id.to_owned() },
    );
    FileOutcome { file_name: base.to_owned(), order_id: Some(stem.to_owned()), error: None }
}

fn new_import(g: &mut Inner, seller: &str) -> String {
    let id = format!("imp-{:08}", g.imports.len() + 1);
    let now = OffsetDateTime::now_utc();
    let delay = g.import_delay;
    g.imports.push(Import {
        import_id: id.clone(),
        seller_id: seller.to_owned(),
        created_at: now,
        ready_at: Instant::now() + delay,
        ready_at_utc: now + delay,
        files: Vec::new(),
    });
    id
}

async fn read_parts(mut multipart: Multipart) -> Result<Vec<(String, Option<String>, Vec<u8>)>, String> {
    let mut parts = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(|e| e.to_string())? {
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let bytes = field.bytes().await.map_err(|e| e.to_string())?;
        parts.push((name, file_name, bytes.to_vec()));
    }
    Ok(parts)
}

fn created(g: &Inner, import_id: &str) -> Response {
    let report =
        g.imports.iter().find(|i| i.import_id == import_id).map(|i| i.report(Instant::now())).unwrap_or(Value::Null);
    (StatusCode::CREATED, Json(report)).into_response()
}

/// The caller's seller id and the parts of a multipart upload, or the error answer.
async fn authorized_parts(
    st: &AppState,
    headers: &HeaderMap,
    multipart: Multipart,
) -> Result<(String, Vec<(String, Option<String>, Vec<u8>)>), Response> {
    let seller = authorize(&mut st.lock(), headers)?;
    let parts = read_parts(multipart).await.map_err(|e| {
        problem(
            &mut st.lock(),
            StatusCode::BAD_REQUEST,
            "Bad Request",
            &format!("unreadable multipart body: {e}"),
            None,
        )
    })?;
    Ok((seller, parts))
}

/// Checks one uploaded file and adds its outcome to the import.
fn record_file(g: &mut Inner, seller: &str, import_id: &str, name: &str, bytes: &[u8], expected_order: Option<&str>) {
    let outcome = accept_file(g, seller, import_id, name, bytes, expected_order);
    if let Some(i) = g.imports.iter_mut().find(|i| i.import_id == import_id) {
        i.files.push(outcome);
    }
}

async fn upload_one(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(order_id): Path<String>,
    multipart: Multipart,
) -> Response {
    let (seller, parts) = match authorized_parts(&st, &headers, multipart).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut g = st.lock();
    let Some((_, file_name, bytes)) = parts
        .iter()
        .find(|(n, f, _)| n == "file" && f.is_some())
        .or_else(|| parts.iter().find(|(_, f, _)| f.is_some()))
    else {
        return problem(
            &mut g,
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "one file part named 'file' is expected",
            Some(json!({"file": ["is required"]})),
        );
    };
    let import_id = new_import(&mut g, &seller);
    record_file(&mut g, &seller, &import_id, file_name.as_deref().unwrap_or(""), bytes, Some(&order_id));
    created(&g, &import_id)
}

/// The most files one bulk import takes (docs/reference/marketplace-imports.md).
pub const MAX_IMPORT_FILES: usize = 100;

async fn upload_bulk(State(st): State<AppState>, headers: HeaderMap, multipart: Multipart) -> Response {
    let (seller, parts) = match authorized_parts(&st, &headers, multipart).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for (_, file_name, bytes) in parts.into_iter().filter(|(_, f, _)| f.is_some()) {
        let name = file_name.unwrap_or_default();
        if name.to_ascii_lowercase().ends_with(".zip") || bytes.starts_with(b"PK\x03\x04") {
            match zip::ZipArchive::new(std::io::Cursor::new(bytes)) {
                Ok(mut archive) => {
                    for i in 0..archive.len() {
                        if let Ok(mut entry) = archive.by_index(i) {
                            if entry.is_dir() {
                                continue;
                            }
                            let entry_name = entry.name().map(|n| n.to_string()).unwrap_or_default();
                            let mut data = Vec::new();
                            if entry.read_to_end(&mut data).is_ok() {
                                files.push((entry_name, data));
                            }
                        }
                    }
                }
                Err(_) => files.push((name, Vec::new())),
            }
        } else {
            files.push((name, bytes));
        }
    }
    let mut g = st.lock();
    if files.is_empty() {
        return problem(
            &mut g,
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "no file in the request",
            Some(json!({"files": ["at least one file is required"]})),
        );
    }
    // docs/reference/marketplace-imports.md: at most 100 files per import.
    if files.len() > MAX_IMPORT_FILES {
        return problem(
            &mut g,
            StatusCode::BAD_REQUEST,
            "Bad Request",
            &format!("{} files in one import", files.len()),
            Some(json!({"files": [format!("at most {MAX_IMPORT_FILES} files per import")]})),
        );
    }
    let import_id = new_import(&mut g, &seller);
    for (name, bytes) in files {
        record_file(&mut g, &seller, &import_id, &name, &bytes, None);
    }
    created(&g, &import_id)
}

async fn get_import(State(st): State<AppState>, headers: HeaderMap, Path(import_id): Path<String>) -> Response {
    let mut g = st.lock();
    let seller = match authorize(&mut g, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match g.imports.iter().find(|i| i.import_id == import_id && i.seller_id == seller) {
        Some(i) => Json(i.report(Instant::now())).into_response(),
        None => problem(&mut g, StatusCode::NOT_FOUND, "Not Found", &format!("import {import_id} not found"), None),
    }
}

async fn list_imports(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut g = st.lock();
    let seller = match authorize(&mut g, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let page_size = q.get("pageSize").and_then(|v| v.parse::<usize>().ok()).unwrap_or(20).clamp(1, 100);
    let start = q.get("cursor").and_then(|c| c.parse::<usize>().ok()).unwrap_or(0);
    let now = Instant::now();
    let mine: Vec<&Import> = g.imports.iter().filter(|i| i.seller_id == seller).collect();
    let items: Vec<Value> = mine.iter().skip(start).take(page_size).map(|i| i.report(now)).collect();
    let mut body = json!({"items": items});
    if start + page_size < mine.len() {
        body["nextCursor"] = (start + page_size).to_string().into();
    }
    Json(body).into_response()
}

// --- Admin routes (tests and people trying the system by hand) ---

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdminOrders {
    seller_id: String,
    orders: Vec<Value>,
}

async fn admin_orders(State(st): State<AppState>, Json(body): Json<AdminOrders>) -> Response {
    let mut g = st.lock();
    let n = body.orders.len();
    let map = g.orders.entry(body.seller_id).or_default();
    for o in body.orders {
        let id = match &o["orderId"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        map.insert(id, o);
    }
    Json(json!({"stored": n})).into_response()
}

async fn admin_add_fault(State(st): State<AppState>, Json(fault): Json<Fault>) -> Response {
    st.lock().faults.add(fault);
    StatusCode::NO_CONTENT.into_response()
}

async fn admin_clear_faults(State(st): State<AppState>) -> Response {
    st.lock().faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn admin_expire_tokens(State(st): State<AppState>) -> Response {
    let mut g = st.lock();
    let now = Instant::now();
    for t in g.tokens.values_mut() {
        t.expires = now;
    }
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdminConfig {
    link_header: Option<bool>,
    import_delay_ms: Option<u64>,
    token_ttl_secs: Option<u64>,
}

async fn admin_config(State(st): State<AppState>, Json(c): Json<AdminConfig>) -> Response {
    let mut g = st.lock();
    if let Some(v) = c.link_header {
        g.link_header = v;
    }
    if let Some(ms) = c.import_delay_ms {
        g.import_delay = Duration::from_millis(ms);
    }
    if let Some(s) = c.token_ttl_secs {
        g.token_ttl = Duration::from_secs(s);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn admin_stats(State(st): State<AppState>) -> Response {
    let g = st.lock();
    let requests: serde_json::Map<String, Value> = g
        .requests
        .iter()
        .map(|(r, n)| {
            (serde_json::to_value(r).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(), json!(n))
        })
        .collect();
    Json(json!({
        "tokenRequests": g.token_requests,
        "requests": requests,
        "orders": g.orders.values().map(|m| m.len()).sum::<usize>(),
        "attached": g.attached.len(),
        "imports": g.imports.len(),
    }))
    .into_response()
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/orders", get(list_orders))
        .route("/orders/count", get(count_orders))
        .route("/orders/{order_id}", get(get_order))
        .route("/orders/{order_id}/invoice-documents", post(upload_one))
        .route("/order-invoice-imports", post(upload_bulk).get(list_imports))
        .route("/order-invoice-imports/{import_id}", get(get_import));
    Router::new()
        .route(TOKEN_PATH, post(token))
        .nest(API_PREFIX, api)
        .route("/_admin/orders", post(admin_orders))
        .route("/_admin/faults", post(admin_add_fault).delete(admin_clear_faults))
        .route("/_admin/expire-tokens", post(admin_expire_tokens))
        .route("/_admin/config", post(admin_config))
        .route("/_admin/stats", get(admin_stats))
        .layer(middleware::from_fn_with_state(state.clone(), fault_layer))
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(state)
}
