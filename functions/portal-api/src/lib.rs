//! # portal-api
//!
//! The seller portal and the buyer invoice requests: one axum router, served on AWS by the
//! `portal-api` Lambda behind an HTTP API (JWT authorizer) and locally by `marketbill serve`.
//! Thin: each route parses and checks its input, calls a use case of
//! `marketbill_app::portal`, and maps the result; errors are `application/problem+json` with a
//! field map. The seller id only ever comes from the [`auth::Authenticator`].

pub mod auth;
#[cfg(feature = "cognito")]
pub mod cognito;
mod pages;

pub use pages::sign_in_url;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use marketbill_app::buyer_requests::{BuyerProof, BuyerRequestOutcome};
use marketbill_app::marketplace::MarketplaceCredentials;
use marketbill_app::model::{InvoiceQuery, InvoiceRecord, SellerId, SellerStatus};
use marketbill_app::once::Once;
use marketbill_app::portal::PortalError;
use marketbill_app::services::Services;
use marketbill_domain::buyer::{BuyerAddress, BuyerBillingData, BuyerKind, TaxNumber};
use marketbill_domain::fees::FeePlans;
use marketbill_domain::money::format_amount;
use marketbill_domain::{CountryCode, InvoiceNumber, SellerProfileInput};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use auth::{Authenticator, LocalTokens};

/// The OpenAPI 3 document of this API.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// What the routes need.
pub struct Portal {
    pub services: Services,
    pub auth: Arc<dyn Authenticator>,
    pub plans: FeePlans,
    /// The client of the sellers' approved platforms (AFNOR XP Z12-013).
    pub platform: Arc<dyn marketbill_app::platform::Platform>,
}

type Shared = State<Arc<Portal>>;

/// An error answer: problem+json with an optional field map.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    title: &'static str,
    detail: String,
    /// A refusal's code (`alreadyReplaced`…), for clients that act on it.
    code: Option<&'static str>,
    errors: BTreeMap<String, Vec<String>>,
}

impl ApiError {
    fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError { status, title, detail: detail.into(), code: None, errors: BTreeMap::new() }
    }

    fn with_code(self, code: &'static str) -> ApiError {
        ApiError { code: Some(code), ..self }
    }

    fn invalid(errors: BTreeMap<String, Vec<String>>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            title: "Invalid request",
            detail: "some fields are not valid".into(),
            code: None,
            errors,
        }
    }

    fn field(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::invalid(BTreeMap::from([(field.to_owned(), vec![message.into()])]))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": format!("https://marketbill.example/problems/{}", self.status.as_u16()),
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let Some(code) = self.code {
            body["code"] = json!(code);
        }
        if !self.errors.is_empty() {
            body["errors"] = json!(self.errors);
        }
        let mut r = (self.status, Json(body)).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        r
    }
}

impl From<PortalError> for ApiError {
    fn from(e: PortalError) -> ApiError {
        match e {
            PortalError::Invalid(errors) => ApiError::invalid(errors),
            PortalError::Credit(why) => ApiError::field("items", why.to_string()),
            PortalError::NotFound => ApiError::new(StatusCode::NOT_FOUND, "Not found", "no such resource"),
            PortalError::Unsubscribed => ApiError::new(StatusCode::CONFLICT, "Unsubscribed", e.to_string()),
            PortalError::Conflict(c) => {
                ApiError::new(StatusCode::CONFLICT, "Conflict", c.to_string()).with_code(c.code())
            }
            PortalError::BuyerRefused => ApiError::new(StatusCode::NOT_FOUND, "Not found", e.to_string()),
            PortalError::RateLimited => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "Too many requests", e.to_string())
            }
            PortalError::InProgress => ApiError::new(StatusCode::CONFLICT, "Conflict", e.to_string()),
            PortalError::KeyReused => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Idempotency key reused", e.to_string())
            }
            PortalError::Pipeline(p) if p.is_retryable() => {
                tracing::warn!(error = %p, "portal request failed on a transient fault");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Unavailable",
                    "a service is unavailable; try again shortly",
                )
            }
            PortalError::Pipeline(p) => {
                tracing::error!(error = %p, "portal request failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error", "the request could not be completed")
            }
        }
    }
}

fn json_error(e: JsonRejection) -> ApiError {
    match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Payload too large", "the body is over 64 KiB")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported media type", "send application/json")
        }
        _ => ApiError::new(StatusCode::BAD_REQUEST, "Invalid body", e.body_text()),
    }
}

fn query_error(e: QueryRejection) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "Invalid query", e.body_text())
}

/// The `Idempotency-Key` of a request that issues or sends something (a string of 1 to 255
/// visible characters, quoted or not, as the IETF draft's structured field), scoped by the
/// route and bound to the body: the same key and body give the first answer again.
fn idempotency(headers: &HeaderMap, scope: &str, body: &[u8]) -> Result<Option<Once>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else { return Ok(None) };
    value
        .to_str()
        .ok()
        .map(|k| k.strip_prefix('"').and_then(|k| k.strip_suffix('"')).unwrap_or(k))
        .and_then(|k| Once::new(scope, k, body))
        .map(Some)
        .ok_or_else(|| ApiError::field("Idempotency-Key", "is 1 to 255 visible characters"))
}

/// A JSON body read from its bytes (kept for the idempotency fingerprint), with the errors
/// the `Json` extractor gives.
fn json_body<T: serde::de::DeserializeOwned>(headers: &HeaderMap, bytes: &Bytes) -> Result<T, ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            "send application/json",
        ));
    }
    Json::<T>::from_bytes(bytes).map(|Json(v)| v).map_err(json_error)
}

/// The verified caller.
pub struct Caller(pub SellerId);

impl FromRequestParts<Arc<Portal>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<Portal>) -> Result<Caller, ApiError> {
        state
            .auth
            .seller(parts)
            .map(Caller)
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", "a valid bearer token is required"))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SellerView {
    seller_id: String,
    status: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    registered_at: time::OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    purge_after: Option<time::OffsetDateTime>,
    has_credentials: bool,
    /// Whether the seller chose its approved platform (without one nothing is transmitted).
    has_platform: bool,
    profile: marketbill_domain::SellerProfile,
}

fn seller_view(r: marketbill_app::model::SellerRecord) -> SellerView {
    let (status, purge_after) = match r.status {
        SellerStatus::Active => ("active", None),
        SellerStatus::Unsubscribed { purge_after, .. } => ("unsubscribed", Some(purge_after)),
    };
    SellerView {
        seller_id: r.seller_id.to_string(),
        status,
        registered_at: r.registered_at,
        purge_after,
        has_credentials: r.credentials.is_some(),
        has_platform: r.platform.is_some(),
        profile: r.profile,
    }
}

async fn openapi() -> Response {
    let mut r = OPENAPI.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

async fn put_seller(
    State(p): Shared,
    Caller(id): Caller,
    body: Result<Json<SellerProfileInput>, JsonRejection>,
) -> Result<Json<SellerView>, ApiError> {
    let Json(input) = body.map_err(json_error)?;
    Ok(Json(seller_view(p.services.account().put_profile(&id, &input).await?)))
}

async fn get_seller(State(p): Shared, Caller(id): Caller) -> Result<Json<SellerView>, ApiError> {
    Ok(Json(seller_view(p.services.account().get_profile(&id).await?)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CredentialsBody {
    client_id: String,
    client_secret: String,
    seller_id: String,
}

async fn put_credentials(
    State(p): Shared,
    Caller(id): Caller,
    body: Result<Json<CredentialsBody>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(b) = body.map_err(json_error)?;
    // Checked by the use case, with the same rules as the page's form.
    let creds =
        MarketplaceCredentials { client_id: b.client_id, client_secret: b.client_secret, seller_id: b.seller_id };
    p.services.account().put_credentials(&id, &creds).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn put_platform(
    State(p): Shared,
    Caller(id): Caller,
    body: Result<Json<marketbill_app::platform::PlatformCredentials>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(creds) = body.map_err(json_error)?;
    p.services.platform_setup().put_platform(p.platform.as_ref(), &id, &creds).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_platform(State(p): Shared, Caller(id): Caller) -> Result<Json<Value>, ApiError> {
    match p.services.platform_setup().platform_of(&id).await? {
        Some(summary) => Ok(Json(json!(summary))),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "Not found", "no approved platform chosen")),
    }
}

async fn delete_platform(State(p): Shared, Caller(id): Caller) -> Result<StatusCode, ApiError> {
    p.services.platform_setup().remove_platform(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_transmissions(State(p): Shared, Caller(id): Caller) -> Result<Json<Value>, ApiError> {
    let items = p.services.platform_setup().transmissions(&id).await?;
    Ok(Json(json!({"items": items})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InvoicesParams {
    from: Option<String>,
    to: Option<String>,
    kind: Option<String>,
    order_id: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

fn date(field: &str, v: &Option<String>) -> Result<Option<time::Date>, ApiError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    v.as_deref()
        .map(|s| time::Date::parse(s, &format).map_err(|_| ApiError::field(field, "is a date YYYY-MM-DD")))
        .transpose()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InvoiceSummary {
    number: String,
    kind: &'static str,
    issue_date: String,
    order_id: String,
    buyer_name: String,
    total_incl_vat: String,
    currency: String,
    corrects: Option<String>,
    documents_stored: bool,
}

fn summary(r: &InvoiceRecord) -> InvoiceSummary {
    let inv = &r.invoice;
    InvoiceSummary {
        number: inv.number.to_string(),
        kind: if inv.kind.is_credit_note() { "creditNote" } else { "invoice" },
        issue_date: marketbill_domain::calendar::iso_date(inv.issue_date),
        order_id: r.order_id.to_string(),
        buyer_name: inv.body.buyer.name.clone(),
        total_incl_vat: format_amount(inv.body.totals.tax_inclusive),
        currency: inv.body.currency.clone(),
        corrects: match &inv.kind {
            marketbill_domain::DocumentKind::CreditNote { corrects } => Some(corrects.number.to_string()),
            marketbill_domain::DocumentKind::Invoice => None,
        },
        documents_stored: r.pdf.is_some(),
    }
}

async fn get_invoices(
    State(p): Shared,
    Caller(id): Caller,
    params: Result<Query<InvoicesParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = params.map_err(query_error)?;
    let credit_notes = match q.kind.as_deref() {
        None => None,
        Some("invoice") => Some(false),
        Some("creditNote") => Some(true),
        Some(_) => return Err(ApiError::field("kind", "is invoice or creditNote")),
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::field("limit", "is between 1 and 100"));
    }
    if let Some(c) = &q.cursor
        && c.parse::<InvoiceNumber>().is_err()
    {
        return Err(ApiError::field("cursor", "is not a cursor this API returned"));
    }
    if q.order_id.as_ref().is_some_and(|o| o.is_empty() || o.len() > 64) {
        return Err(ApiError::field("orderId", "is 1 to 64 characters"));
    }
    let query = InvoiceQuery {
        from: date("from", &q.from)?,
        to: date("to", &q.to)?,
        credit_notes,
        order_id: q.order_id,
        after: q.cursor,
        limit,
    };
    let page = p.services.documents().list_invoices(&id, &query).await?;
    Ok(Json(json!({"items": page.items.iter().map(summary).collect::<Vec<_>>(), "nextCursor": page.next})))
}

fn number(raw: &str) -> Result<InvoiceNumber, ApiError> {
    raw.parse().map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "Not found", "no such invoice"))
}

async fn get_invoice(State(p): Shared, Caller(id): Caller, Path(raw): Path<String>) -> Result<Json<Value>, ApiError> {
    let links = p.services.documents().invoice(&id, &number(&raw)?).await?;
    Ok(Json(json!({
        "summary": summary(&links.record),
        "invoice": links.record.invoice,
        "pdf": links.pdf,
        "xml": links.xml,
        "delivery": links.record.steps.as_ref().map(|steps| {
            use marketbill_app::model::{Attach, MailOutcome};
            let mail = match &steps.mail {
                Some(MailOutcome::Sent { .. }) => "sent",
                Some(MailOutcome::Refused { .. }) => "refused",
                None => "pending",
            };
            json!({"mail": mail, "attached": steps.attach == Attach::Done})
        }),
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExportBody {
    from: String,
    to: String,
}

async fn post_export(
    State(p): Shared,
    Caller(id): Caller,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let b: ExportBody = json_body(&headers, &bytes)?;
    let once = idempotency(&headers, "POST /v1/exports", &bytes)?;
    let from = date("from", &Some(b.from))?.unwrap_or(time::Date::MIN);
    let to = date("to", &Some(b.to))?.unwrap_or(time::Date::MIN);
    let (link, files) = p.services.exports().export(&id, from, to, once.as_ref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"url": link.url, "expiresAt": link.expires_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(), "files": files}),
        ),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JournalParams {
    format: String,
    from: String,
    to: String,
}

/// `GET /v1/journal?format=fec|csv|ereporting|ereporting-json&from&to`: the sales journal or
/// the e-reporting data of a period, as a file.
async fn get_journal(
    State(p): Shared,
    Caller(id): Caller,
    params: Result<Query<JournalParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = params.map_err(query_error)?;
    let from = date("from", &Some(q.from))?.unwrap_or(time::Date::MIN);
    let to = date("to", &Some(q.to))?.unwrap_or(time::Date::MIN);
    Ok(journal_response(
        p.services.documents().journal_file(&p.services.settings.accounts, &id, &q.format, from, to).await?,
    ))
}

/// A journal file as an answer: its type, and its name for the download.
pub(crate) fn journal_response(file: marketbill_app::journals::JournalFile) -> Response {
    let mut r = file.body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(file.content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", file.name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    r
}

/// `GET /v1/fee-invoices`: Marketbill's own invoices of the seller's monthly fees.
async fn get_fee_invoices(State(p): Shared, Caller(id): Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"items": p.services.documents().fee_invoices(&id).await?})))
}

async fn get_usage(State(p): Shared, Caller(id): Caller) -> Result<Json<marketbill_app::usage::Usage>, ApiError> {
    Ok(Json(p.services.metering().usage(&id, &p.plans).await?))
}

async fn post_resend(
    State(p): Shared,
    Caller(id): Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let number = number(&raw)?;
    let once = idempotency(&headers, &format!("POST /v1/invoices/{number}/resend"), b"")?;
    let message_id = marketbill_app::problems::resend(&p.services, &id, &number, once.as_ref()).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"messageId": message_id}))))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreditNoteBody {
    reason: String,
    items: Vec<marketbill_domain::credit::CreditItem>,
}

async fn post_credit_note(
    State(p): Shared,
    Caller(id): Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<(StatusCode, Json<marketbill_app::credit_notes::CreditNoteIssued>), ApiError> {
    let b: CreditNoteBody = json_body(&headers, &bytes)?;
    if b.items.len() > 1000 {
        return Err(ApiError::field("items", "at most 1000 items"));
    }
    let number = number(&raw)?;
    let once = idempotency(&headers, &format!("POST /v1/invoices/{number}/credit-notes"), &bytes)?;
    let issued =
        marketbill_app::credit_notes::credit_note(&p.services, &id, &number, &b.items, &b.reason, once.as_ref())
            .await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

async fn get_problems(State(p): Shared, Caller(id): Caller) -> Result<Json<Value>, ApiError> {
    let items: Vec<Value> = marketbill_app::problems::problems(p.services.ledger.as_ref(), &id)
        .await?
        .into_iter()
        .map(|o| {
            json!({
                "orderId": o.order_id,
                "stage": o.stage,
                "reason": o.refusal.as_ref().map(|r| r.code())
                    .or(o.mail_refused.as_ref().map(|_| "mailRefused"))
                    .or(o.buyer_siren_missing.then_some("buyerSirenMissing")),
                "message": o.refusal.as_ref().map(|r| r.to_string()).or(o.last_error.clone()).or(o.mail_refused.clone())
                    .or(o.buyer_siren_missing.then(|| "the buyer is a business in France whose SIREN is unknown: \
                        its invoice is e-reported meanwhile, and the buyer was asked for its SIREN".to_owned())),
                "invoiceNumber": o.number,
                "updatedAt": o.updated_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            })
        })
        .collect();
    Ok(Json(json!({"items": items})))
}

async fn delete_seller(State(p): Shared, Caller(id): Caller) -> Result<Json<Value>, ApiError> {
    let purge_after = p.services.account().unsubscribe(&id).await?;
    Ok(Json(
        json!({"purgeAfter": purge_after.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()}),
    ))
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AddressBody {
    pub(crate) line1: String,
    #[serde(default)]
    pub(crate) line2: Option<String>,
    pub(crate) postal_code: String,
    pub(crate) city: String,
    pub(crate) country_code: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct InvoiceRequestBody {
    pub(crate) order_id: String,
    /// The key of the link in the invoice mail; or
    #[serde(default)]
    pub(crate) link: Option<String>,
    /// the order's e-mail; or
    #[serde(default)]
    pub(crate) email: Option<String>,
    /// the postal code and the name of the order's delivery.
    #[serde(default)]
    pub(crate) delivery_postal_code: Option<String>,
    #[serde(default)]
    pub(crate) delivery_name: Option<String>,
    pub(crate) kind: BuyerKind,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) tax_number: Option<String>,
    pub(crate) address: AddressBody,
}

impl InvoiceRequestBody {
    pub(crate) fn billing(&self) -> BillingBody {
        BillingBody {
            kind: self.kind,
            name: self.name.clone(),
            tax_number: self.tax_number.clone(),
            address: self.address.clone(),
        }
    }
}

/// Billing data as typed (a buyer's request, a seller correcting a refused invoice).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct BillingBody {
    pub(crate) kind: BuyerKind,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) tax_number: Option<String>,
    pub(crate) address: AddressBody,
}

fn text_ok(v: &str, max: usize) -> bool {
    let t = v.trim();
    !t.is_empty() && t.chars().count() <= max && !t.chars().any(char::is_control)
}

type FieldErrors = BTreeMap<String, Vec<String>>;

fn refuse(errors: &mut FieldErrors, field: &str, reason: &str) {
    errors.entry(field.to_owned()).or_default().push(reason.to_owned());
}

/// A buyer's request checked field by field (the API and the buyer's page): the billing data
/// and how the buyer proves the order, or the errors per field (`orderId`, `address.city`…).
pub(crate) fn check_invoice_request(b: &InvoiceRequestBody) -> Result<(BuyerBillingData, BuyerProof), FieldErrors> {
    let mut errors = FieldErrors::new();
    // The order id and the address by the domain's own rules.
    if b.order_id.parse::<marketbill_domain::OrderId>().is_err() {
        refuse(&mut errors, "orderId", "is the marketplace order number");
    }
    let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
    let proof = match (given(&b.link), given(&b.email), given(&b.delivery_postal_code), given(&b.delivery_name)) {
        (Some(link), _, _, _) => Some(BuyerProof::Link(link)),
        (None, Some(email), _, _) => {
            if marketbill_domain::email::parse_address(&email).is_err() {
                refuse(&mut errors, "email", "is the e-mail address of the order");
            }
            Some(BuyerProof::Email(email))
        }
        (None, None, Some(postal_code), Some(name)) if postal_code.len() <= 20 && name.chars().count() <= 200 => {
            Some(BuyerProof::Delivery { postal_code, name })
        }
        (None, None, code, name) => {
            if code.as_ref().is_none_or(|c| c.len() > 20) {
                refuse(&mut errors, "deliveryPostalCode", "is the postal code the order was delivered to");
            }
            if name.as_ref().is_none_or(|n| n.chars().count() > 200) {
                refuse(&mut errors, "deliveryName", "is the name the order was delivered to");
            }
            None
        }
    };
    match (check_billing(&b.billing()), proof) {
        (Ok(billing), Some(proof)) if errors.is_empty() => Ok((billing, proof)),
        (Ok(_), _) => Err(errors),
        (Err(more), _) => {
            errors.extend(more);
            Err(errors)
        }
    }
}

/// Billing data checked field by field: one set of checks for every form and route that takes
/// it.
pub(crate) fn check_billing(b: &BillingBody) -> Result<BuyerBillingData, FieldErrors> {
    let mut errors = FieldErrors::new();
    if !text_ok(&b.name, 200) {
        refuse(&mut errors, "name", "is required, at most 200 characters");
    }
    let tax = match b.tax_number.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => match TaxNumber::parse(t) {
            Ok(n) => Some(n),
            Err(e) => {
                refuse(&mut errors, "taxNumber", &e.to_string());
                None
            }
        },
        None => None,
    };
    if b.kind == BuyerKind::Company && b.tax_number.as_deref().is_none_or(|t| t.trim().is_empty()) {
        refuse(&mut errors, "taxNumber", "is required for a company (VAT number or SIREN)");
    }
    for (f, v, max) in [
        ("address.line1", &b.address.line1, 200),
        ("address.postalCode", &b.address.postal_code, 20),
        ("address.city", &b.address.city, 100),
    ] {
        if !text_ok(v, max) {
            refuse(&mut errors, f, &format!("is required, at most {max} characters"));
        }
    }
    if b.address.line2.as_deref().is_some_and(|l| l.chars().count() > 200) {
        refuse(&mut errors, "address.line2", "is at most 200 characters");
    }
    let country = b.address.country_code.parse::<CountryCode>();
    match &country {
        Err(_) => refuse(&mut errors, "address.countryCode", "is a two-letter country code"),
        Ok(c) if text_ok(&b.address.postal_code, 20) && !c.postal_code_ok(&b.address.postal_code) => {
            refuse(&mut errors, "address.postalCode", &format!("is not a postal code of {c}"));
        }
        Ok(_) => {}
    }
    let (Ok(country_code), true) = (country, errors.is_empty()) else { return Err(errors) };
    Ok(BuyerBillingData {
        kind: b.kind,
        name: b.name.trim().to_owned(),
        tax_number: tax,
        address: BuyerAddress {
            line1: b.address.line1.trim().to_owned(),
            line2: b.address.line2.clone().map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()),
            postal_code: b.address.postal_code.trim().to_owned(),
            city: b.address.city.trim().to_owned(),
            country_code,
        },
    })
}

/// An invoice its platform rejected or its buyer refused, issued again with corrected buyer
/// data (a credit note cancels it).
async fn post_reissue(
    State(p): Shared,
    Caller(id): Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<(StatusCode, Json<marketbill_app::correction::Corrected>), ApiError> {
    let number = number(&raw)?;
    let b: BillingBody = json_body(&headers, &bytes)?;
    let billing = check_billing(&b).map_err(ApiError::invalid)?;
    let once = idempotency(&headers, &format!("POST /v1/invoices/{number}/reissue"), &bytes)?;
    let done = marketbill_app::correction::reissue(&p.services, &id, &number, billing, once.as_ref()).await?;
    Ok((StatusCode::CREATED, Json(done)))
}

async fn post_invoice_request(
    State(p): Shared,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let b: InvoiceRequestBody = json_body(&headers, &bytes)?;
    let (billing, proof) = check_invoice_request(&b).map_err(ApiError::invalid)?;
    let once = idempotency(&headers, "POST /v1/invoice-requests", &bytes)?;
    let outcome =
        marketbill_app::buyer_requests::buyer_request(&p.services, b.order_id.trim(), &proof, billing, once.as_ref())
            .await?;
    let body = match outcome {
        BuyerRequestOutcome::Recorded => json!({"outcome": "recorded"}),
        BuyerRequestOutcome::Corrected { credit_note, invoice } => {
            json!({"outcome": "corrected", "creditNote": credit_note, "invoice": invoice})
        }
    };
    Ok((StatusCode::ACCEPTED, Json(body)))
}

/// The seller has dealt with an order's problem: it leaves the problems list until another one.
async fn post_handled(State(p): Shared, Caller(id): Caller, Path(raw): Path<String>) -> Result<StatusCode, ApiError> {
    let order: marketbill_domain::OrderId =
        raw.parse().map_err(|_| ApiError::field("orderId", "is a marketplace order number"))?;
    marketbill_app::problems::mark_handled(p.services.ledger.as_ref(), &id, &order).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The seller's run now, outside the schedule (a few an hour).
async fn post_run(State(p): Shared, Caller(id): Caller) -> Result<(StatusCode, Json<Value>), ApiError> {
    let done = marketbill_app::schedule::run_now(
        p.services.ledger.as_ref(),
        p.services.queue.as_ref(),
        p.services.clock.as_ref(),
        &id,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"run": done}))))
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "Not found", "no such route")
}

/// The router of the whole API.
pub fn router(portal: Arc<Portal>) -> Router {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/v1/seller", put(put_seller).get(get_seller).delete(delete_seller))
        .route("/v1/seller/credentials", put(put_credentials))
        .route("/v1/seller/platform", put(put_platform).get(get_platform).delete(delete_platform))
        .route("/v1/transmissions", get(get_transmissions))
        .route("/v1/invoices", get(get_invoices))
        .route("/v1/invoices/{number}", get(get_invoice))
        .route("/v1/invoices/{number}/resend", post(post_resend))
        .route("/v1/invoices/{number}/credit-notes", post(post_credit_note))
        .route("/v1/invoices/{number}/reissue", post(post_reissue))
        .route("/v1/exports", post(post_export))
        .route("/v1/usage", get(get_usage))
        .route("/v1/journal", get(get_journal))
        .route("/v1/fee-invoices", get(get_fee_invoices))
        .route("/v1/orders/problems", get(get_problems))
        .route("/v1/invoice-requests", post(post_invoice_request))
        .route("/v1/runs", post(post_run))
        .route("/v1/orders/{order_id}/handled", post(post_handled))
        .merge(pages::routes(portal.clone()))
        .fallback(not_found)
        .layer(axum::middleware::map_response(private_answers))
        .layer(DefaultBodyLimit::max(64 * 1024))
        // The request's boundary: a defect answers this request with a 500 problem and
        // nothing else (release builds unwind for this).
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(defect_response))
        .with_state(portal)
}

/// Every answer is the caller's own (buyer data, signed links, documents): no cache keeps it
/// unless a route says otherwise, and no browser guesses another type than the one sent.
async fn private_answers(mut response: Response) -> Response {
    let h = response.headers_mut();
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

fn defect_response(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let problem = marketbill_app::seller_run::panic_message(panic.as_ref());
    tracing::error!(problem, "defect while handling a request");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error", "an internal error occurred; it was reported")
        .into_response()
}
