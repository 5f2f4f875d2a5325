//! The web pages of the personal space and the buyer's request, rendered on the server from
//! templates (minijinja, auto-escaped) by the same router and the same Lambda as the JSON API.
//! No JavaScript: forms post, links link. French by default, English with `?lang=en` (kept in a
//! cookie).
//!
//! Sign-in: locally by e-mail, with a one-time link written to the outbox; the session is an
//! HttpOnly, SameSite=Lax cookie signed with the data folder's key (Secure unless the portal is
//! on a loopback address). On AWS the session comes from Cognito's managed login, which is not
//! built yet: there the pages say so and the JSON API keeps its authorizer.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{Form, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use cookie::{Cookie, SameSite};
use marketbill_app::buyer_requests::BuyerRequestOutcome;
use marketbill_app::model::{InvoiceQuery, InvoiceRecord, SellerId};
use marketbill_app::once::Once;
use marketbill_app::portal::PortalError;
use marketbill_domain::InvoiceNumber;
use marketbill_domain::buyer::BuyerKind;
use marketbill_domain::calendar::iso_date;
use marketbill_domain::fees::PlanKind;
use marketbill_domain::money::format_euros_fr;
use minijinja::{Environment, Value, context};
use serde_json::json;

use crate::auth::SESSION_LIFETIME;
use crate::{AddressBody, BillingBody, InvoiceRequestBody, Portal, check_billing, check_invoice_request};

mod account;
pub(crate) mod platform;
mod texts;
mod work;

use texts::{text, texts};

const SESSION_COOKIE: &str = "mb_session";
const LANG_COOKIE: &str = "mb_lang";
/// The anti-forgery value every form carries back (double submit: the cookie, SameSite=Strict,
/// and the form's hidden field must match).
const CSRF_COOKIE: &str = "mb_csrf";
/// The address a sign-up link proved, until the company data is entered.
const EMAIL_COOKIE: &str = "mb_email";
/// What waits for the hosted login's answer (AWS: the state and PKCE verifier).
const LOGIN_COOKIE: &str = "mb_login";

/// The one-time sign-in link of a token, under the portal's address (`base`, empty: relative).
pub fn sign_in_url(base: &str, token: &str) -> String {
    format!("{base}/connexion/lien?jeton={token}")
}

/// A signed-in account without its company data yet is guided: every page of the space leads
/// to the company form until it is saved (the menu's pages would have nothing to show).
async fn guided(
    State(p): State<Arc<Portal>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    let open = !path.starts_with("/espace") || path == "/espace/profil";
    if open {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let Ok(page) = Page::from_request_parts(&mut parts, &p).await;
    if let Some(seller) = &page.seller
        && matches!(p.services.ledger.get_seller(seller).await, Ok(None))
    {
        return to_onboarding();
    }
    next.run(axum::extract::Request::from_parts(parts, body)).await
}

/// The page routes.
pub fn routes(portal: Arc<Portal>) -> Router<Arc<Portal>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/espace") }))
        .route("/connexion", get(sign_in_page).post(sign_in_post))
        .route("/connexion/lien", get(sign_in_link))
        .route("/connexion/retour", get(sign_in_callback))
        .route("/deconnexion", post(sign_out))
        .route("/inscription", get(account::sign_up_page).post(account::sign_up_post))
        .route("/inscription/lien", get(account::sign_up_link))
        .route("/espace", get(dashboard))
        .route("/espace/passage", post(run_now))
        .route("/espace/profil", get(account::profile_page).post(account::profile_post))
        .route("/espace/identifiants", get(account::credentials_page).post(account::credentials_post))
        .route("/espace/plateforme", get(platform::platform_page).post(platform::platform_post))
        .route("/espace/plateforme/retrait", post(platform::platform_remove))
        .route("/espace/compte", get(account::account_page))
        .route("/espace/compte/resiliation", post(account::unsubscribe))
        .route("/espace/factures", get(invoices))
        .route("/espace/factures/{number}", get(invoice))
        .route("/espace/factures/{number}/pdf", get(pdf))
        .route("/espace/selection", post(selection))
        .route("/espace/factures/{number}/renvoi", post(resend))
        .route("/espace/factures/{number}/avoir", post(work::credit_note))
        .route("/espace/factures/{number}/reemission", post(reissue))
        .route("/espace/problemes", get(work::problems_page))
        .route("/espace/problemes/relance", post(work::retry))
        .route("/espace/problemes/traite", post(work::handled))
        .route("/espace/consommation", get(work::usage_page))
        .route("/espace/export", get(work::export_page).post(work::export_post))
        .route("/espace/export/{job}", get(work::export_progress))
        .route("/espace/journal", get(work::journal))
        .route("/facture", get(buyer_page).post(buyer_post))
        .route("/facture/merci", get(buyer_thanks))
        .route_layer(axum::middleware::from_fn_with_state(portal, guided))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    Fr,
    En,
}

impl Lang {
    fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }
}

/// What every page knows of its request: the language, the signed-in seller, the cookies to set.
struct Page {
    lang: Lang,
    /// The language was chosen by this request (`?lang=`): remembered in a cookie.
    chosen: bool,
    seller: Option<SellerId>,
    /// The session cookie's value (to end it at sign-out).
    session: Option<String>,
    /// Cookies are `Secure` unless the portal answers on a loopback address.
    secure: bool,
    /// The anti-forgery value of this browser, and whether this request made it.
    csrf: String,
    csrf_new: bool,
    /// The address a sign-up link proved (before the company data is entered).
    proven_email: Option<String>,
    /// What the hosted login's answer is checked against.
    login_kept: Option<String>,
    /// The section of the space this page belongs to (`/espace/factures`), for the menu's
    /// current-page marker.
    section: String,
}

fn cookies(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| Cookie::split_parse(v.to_owned()).filter_map(Result::ok).collect::<Vec<_>>())
        .map(|c| (c.name().to_owned(), c.value().to_owned()))
        .collect()
}

impl FromRequestParts<Arc<Portal>> for Page {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<Portal>) -> Result<Page, Self::Rejection> {
        let jar = cookies(&parts.headers);
        let asked = parts.uri.query().and_then(|q| {
            q.split('&').find_map(|kv| match kv {
                "lang=en" => Some(Lang::En),
                "lang=fr" => Some(Lang::Fr),
                _ => None,
            })
        });
        let lang = asked.or(match jar.get(LANG_COOKIE).map(String::as_str) {
            Some("en") => Some(Lang::En),
            _ => None,
        });
        let session = jar.get(SESSION_COOKIE).cloned();
        let seller = session.as_deref().and_then(|c| state.auth.session(c));
        let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
        let secure = !matches!(name, "127.0.0.1" | "localhost" | "[::1]");
        let (csrf, csrf_new) = match jar.get(CSRF_COOKIE) {
            Some(v) if v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()) => (v.clone(), false),
            _ => (hex::encode(&marketbill_app::crypto::random_key()[..16]), true),
        };
        let proven_email = jar.get(EMAIL_COOKIE).and_then(|c| state.auth.proven_email(c));
        let login_kept = jar.get(LOGIN_COOKIE).cloned();
        let section = parts.uri.path().split('/').take(3).collect::<Vec<_>>().join("/");
        Ok(Page {
            lang: lang.unwrap_or(Lang::Fr),
            chosen: asked.is_some(),
            seller,
            session,
            secure,
            csrf,
            csrf_new,
            proven_email,
            login_kept,
            section,
        })
    }
}

/// A posted form whose anti-forgery value matched: the page's context and the form's fields.
/// Anything else is answered before the handler runs (a 403 page, or an unreadable body).
struct Posted {
    page: Page,
    values: BTreeMap<String, String>,
}

impl axum::extract::FromRequest<Arc<Portal>> for Posted {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &Arc<Portal>) -> Result<Posted, Response> {
        let (mut parts, body) = req.into_parts();
        let Ok(page) = Page::from_request_parts(&mut parts, state).await;
        let req = axum::extract::Request::from_parts(parts, body);
        let Form(values) = Form::<BTreeMap<String, String>>::from_request(req, state)
            .await
            .map_err(|e| message_page(&page, StatusCode::BAD_REQUEST, e.body_text()))?;
        match forged(&page, &values) {
            Some(refused) => Err(refused),
            None => Ok(Posted { page, values }),
        }
    }
}

/// A genuine form posted by a signed-in seller (a visitor who is not is sent to sign in).
struct SellerPost {
    page: Page,
    seller: SellerId,
    values: BTreeMap<String, String>,
}

impl axum::extract::FromRequest<Arc<Portal>> for SellerPost {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &Arc<Portal>) -> Result<SellerPost, Response> {
        let Posted { page, values } = Posted::from_request(req, state).await?;
        match page.seller.clone() {
            Some(seller) => Ok(SellerPost { page, seller, values }),
            None => Err(to_sign_in()),
        }
    }
}

/// A form's one-time value as the request's key (see [`marketbill_app::once`]): the same form
/// sent again — a reload of its answer, a double click, going back — gives the first outcome;
/// the same value with other fields is refused. Scoped by where the form went.
fn form_once(scope: &str, values: &BTreeMap<String, String>) -> Option<Once> {
    let key = values.get("once")?;
    let fields: BTreeMap<&String, &String> =
        values.iter().filter(|(k, _)| !matches!(k.as_str(), "csrf" | "once")).collect();
    let body = serde_urlencoded::to_string(&fields).unwrap_or_default();
    Once::new(scope, key, body.as_bytes())
}

/// A form whose anti-forgery field does not match this browser's cookie: refused, with a page
/// that says to load the form again. `None` when the form is genuine.
fn forged(page: &Page, form: &BTreeMap<String, String>) -> Option<Response> {
    let sent = form.get("csrf").map(String::as_bytes).unwrap_or_default();
    let genuine = !page.csrf_new
        && sent.len() == page.csrf.len()
        && sent.iter().zip(page.csrf.as_bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if genuine {
        return None;
    }
    Some(message_page(page, StatusCode::FORBIDDEN, text(page.lang, "forged").into()))
}

/// The templates, embedded in the binary.
const TEMPLATES: [(&str, &str); 16] = [
    ("base.html", include_str!("../../templates/base.html")),
    ("message.html", include_str!("../../templates/message.html")),
    ("sign_in.html", include_str!("../../templates/sign_in.html")),
    ("dashboard.html", include_str!("../../templates/dashboard.html")),
    ("invoices.html", include_str!("../../templates/invoices.html")),
    ("invoice.html", include_str!("../../templates/invoice.html")),
    ("buyer.html", include_str!("../../templates/buyer.html")),
    ("sign_up.html", include_str!("../../templates/sign_up.html")),
    ("profile.html", include_str!("../../templates/profile.html")),
    ("credentials.html", include_str!("../../templates/credentials.html")),
    ("account.html", include_str!("../../templates/account.html")),
    ("problems.html", include_str!("../../templates/problems.html")),
    ("usage.html", include_str!("../../templates/usage.html")),
    ("export.html", include_str!("../../templates/export.html")),
    ("platform.html", include_str!("../../templates/platform.html")),
    ("macros.html", include_str!("../../templates/macros.html")),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                // A template of ours that does not parse is a defect; its pages answer 500.
                tracing::error!(template = name, error = %e, "template refused");
            }
        }
        env
    })
}

fn html_headers(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
}

fn set_cookie(response: &mut Response, cookie: Cookie<'_>) {
    if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Every cookie of the pages: whole site, HttpOnly, SameSite=Lax, Secure unless on loopback.
fn cookie(page: &Page, name: &'static str, value: String, max_age: time::Duration) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(page.secure)
        .max_age(max_age)
        .build()
}

/// Renders a template with the page's common context.
fn render(page: &Page, status: StatusCode, template: &str, ctx: Value) -> Response {
    let other = match page.lang {
        Lang::Fr => Lang::En,
        Lang::En => Lang::Fr,
    };
    let common = context! {
        lang => page.lang.code(),
        other_lang => other.code(),
        t => Value::from_serialize(texts(page.lang)),
        signed_in => page.seller.is_some(),
        section => page.section.clone(),
        csrf => page.csrf.clone(),
        // Each form's one-time value: a repeat of the same form finds the first outcome.
        once => hex::encode(&marketbill_app::crypto::random_key()[..16]),
    };
    let result = env().get_template(template).and_then(|t| t.render(context! { ..ctx, ..common }));
    let mut response = match result {
        Ok(body) => (status, body).into_response(),
        Err(e) => {
            tracing::error!(template, error = %e, "page not rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    };
    html_headers(&mut response);
    if page.chosen {
        set_cookie(&mut response, cookie(page, LANG_COOKIE, page.lang.code().into(), time::Duration::days(365)));
    }
    if page.csrf_new {
        let mut c = cookie(page, CSRF_COOKIE, page.csrf.clone(), SESSION_LIFETIME);
        c.set_same_site(SameSite::Strict);
        set_cookie(&mut response, c);
    }
    response
}

/// A page that only says what went wrong.
fn message_page(page: &Page, status: StatusCode, error: String) -> Response {
    render(page, status, "message.html", context! { error })
}

/// Where a page that needs a seller sends a visitor who is not signed in.
fn to_sign_in() -> Response {
    Redirect::to("/connexion").into_response()
}

/// Where a page that needs the company data sends a signed-in account that has none yet.
fn to_onboarding() -> Response {
    Redirect::to("/espace/profil").into_response()
}

/// A use case's failure as a page's message.
fn failure(page: &Page, e: &PortalError) -> String {
    match e {
        PortalError::NotFound => text(page.lang, "not_found").into(),
        PortalError::RateLimited => text(page.lang, "rate_limited").into(),
        PortalError::InProgress => text(page.lang, "in_progress").into(),
        PortalError::KeyReused => text(page.lang, "form_reused").into(),
        PortalError::Conflict(c) => conflict_text(page.lang, c),
        PortalError::Pipeline(p) => {
            tracing::warn!(error = %p, "page request failed");
            text(page.lang, "unavailable").into()
        }
        PortalError::Invalid(_) => text(page.lang, "fix_fields").into(),
        PortalError::Unsubscribed => text(page.lang, "unsubscribed_locked").into(),
        PortalError::BuyerRefused => text(page.lang, "buyer_refused").into(),
        PortalError::Credit(why) => {
            format!("{} {}", text(page.lang, "credit_refused"), work::credit_refusal(page.lang, why))
        }
    }
}

/// A conflict in the page's language, with the values it names.
fn conflict_text(lang: Lang, c: &marketbill_app::portal::Conflict) -> String {
    let t = text(lang, &format!("conflict_{}", c.code()));
    match c {
        marketbill_app::portal::Conflict::AlreadyReplaced(number) => t.replace("{number}", number),
        _ => t.to_owned(),
    }
}

/// Dates as the page's language writes them.
fn date(page: &Page, d: time::Date) -> String {
    match page.lang {
        Lang::Fr => format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year()),
        Lang::En => iso_date(d),
    }
}

async fn sign_in_page(page: Page, State(p): State<Arc<Portal>>) -> Response {
    if page.seller.is_some() {
        return Redirect::to("/espace").into_response();
    }
    if let Some(hosted) = to_hosted_login(&page, &p, false) {
        return hosted;
    }
    render(&page, StatusCode::OK, "sign_in.html", context! {})
}

/// Where sign-in and sign-up are hosted elsewhere (AWS: Cognito's managed login): the redirect
/// there, with what its answer will be checked against in a short-lived cookie.
fn to_hosted_login(page: &Page, p: &Portal, sign_up: bool) -> Option<Response> {
    let hosted = p.auth.hosted_login(sign_up)?;
    let mut response = Redirect::to(&hosted.url).into_response();
    set_cookie(&mut response, cookie(page, LOGIN_COOKIE, hosted.kept, time::Duration::minutes(10)));
    Some(response)
}

#[derive(serde::Deserialize)]
struct CallbackQuery {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
}

/// The hosted login's answer: a session if the state matches and the code is good.
async fn sign_in_callback(page: Page, State(p): State<Arc<Portal>>, Query(q): Query<CallbackQuery>) -> Response {
    let kept = page.login_kept.clone().unwrap_or_default();
    let Some(session) = p.auth.finish_login(&q.code, &q.state, &kept).await else {
        let error = text(page.lang, "login_failed").to_owned();
        return message_page(&page, StatusCode::FORBIDDEN, error);
    };
    let lifetime = p.auth.session_lifetime();
    let mut response = Redirect::to("/espace").into_response();
    set_cookie(&mut response, cookie(&page, SESSION_COOKIE, session.clone(), lifetime));
    // The token also carries the verified address, for the company form of a new account.
    set_cookie(&mut response, cookie(&page, EMAIL_COOKIE, session, lifetime));
    set_cookie(&mut response, cookie(&page, LOGIN_COOKIE, String::new(), time::Duration::ZERO));
    response
}

/// Sends a one-time link to the address if it is a seller's; the answer is the same either way.
async fn sign_in_post(State(p): State<Arc<Portal>>, Posted { page, values: form }: Posted) -> Response {
    let email = form.get("email").map(String::as_str).unwrap_or_default();
    match send_sign_in_link(&p, email).await {
        Ok(true) => render(&page, StatusCode::OK, "sign_in.html", context! { sent => true }),
        Ok(false) => {
            let error = text(page.lang, "cognito_pending").to_owned();
            render(&page, StatusCode::OK, "sign_in.html", context! { error })
        }
        Err(e) => {
            let error = failure(&page, &e);
            render(&page, StatusCode::SERVICE_UNAVAILABLE, "sign_in.html", context! { error })
        }
    }
}

/// Mails a sign-in link to the address if it is a seller's (nothing otherwise: the caller
/// answers the same). False where links are not how sellers sign in (AWS: Cognito).
async fn send_sign_in_link(p: &Portal, email: &str) -> Result<bool, PortalError> {
    let s = &p.services;
    let Some(seller) = marketbill_app::account::seller_for_email(s, email).await? else { return Ok(true) };
    let Some(token) = p.auth.sign_in_token(&seller) else { return Ok(false) };
    let base = s.settings.public_url.as_deref().unwrap_or("");
    mail_link(s, email, &sign_in_url(base, &token)).await;
    Ok(true)
}

/// Mails a one-time link (at most a few a day to one address); the page says the same whether
/// it left or not, so a failure is only logged.
async fn mail_link(s: &marketbill_app::services::Services, email: &str, link: &str) {
    if let Err(e) = marketbill_app::account::mail_link(s, email, link).await {
        tracing::warn!(error = %e, "link mail not sent");
    }
}

#[derive(serde::Deserialize)]
struct LinkQuery {
    #[serde(default)]
    jeton: String,
}

async fn sign_in_link(page: Page, State(p): State<Arc<Portal>>, Query(q): Query<LinkQuery>) -> Response {
    let Some(seller) = p.auth.redeem(&q.jeton) else {
        let error = text(page.lang, "link_invalid").to_owned();
        return render(&page, StatusCode::FORBIDDEN, "sign_in.html", context! { error });
    };
    let Some(session) = p.auth.open_session(&seller) else {
        return Redirect::to("/connexion").into_response();
    };
    let mut response = Redirect::to("/espace").into_response();
    set_cookie(&mut response, cookie(&page, SESSION_COOKIE, session, SESSION_LIFETIME));
    response
}

async fn sign_out(State(p): State<Arc<Portal>>, Posted { page, .. }: Posted) -> Response {
    if let Some(session) = &page.session {
        p.auth.end_session(session);
    }
    // Hosted sign-in: its own session ends too, at its logout page.
    let next = p.auth.logout_url().unwrap_or_else(|| "/connexion".to_owned());
    let mut response = Redirect::to(&next).into_response();
    set_cookie(&mut response, cookie(&page, EMAIL_COOKIE, String::new(), time::Duration::ZERO));
    set_cookie(&mut response, cookie(&page, SESSION_COOKIE, String::new(), time::Duration::ZERO));
    response
}

/// Invoices per day as bars, drawn here (numbers only, no text from outside).
/// The chart's text alternative: what a reader of the bars would take from them.
fn chart_summary(lang: Lang, per_day: &[u64]) -> String {
    let total: u64 = per_day.iter().sum();
    let busiest = per_day.iter().enumerate().max_by_key(|(i, n)| (**n, std::cmp::Reverse(*i)));
    match (busiest, total) {
        (Some((day, n)), 1..) => text(lang, "chart_summary")
            .replace("{total}", &total.to_string())
            .replace("{days}", &per_day.iter().filter(|n| **n > 0).count().to_string())
            .replace("{day}", &(day + 1).to_string())
            .replace("{most}", &n.to_string()),
        _ => text(lang, "chart_summary_none").to_owned(),
    }
}

fn chart(lang: Lang, per_day: &[u64]) -> String {
    let (w, h, pad) = (640u64, 160u64, 20u64);
    let max = per_day.iter().copied().max().unwrap_or(0).max(1);
    let days = per_day.len().max(1) as u64;
    let bar = (w - 2 * pad) / days;
    // Digits and words only: nothing to escape.
    let mut svg = format!(
        "<svg role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {w} {h}\" width=\"100%\" xmlns=\"http://www.w3.org/2000/svg\">",
        chart_summary(lang, per_day)
    );
    for (i, n) in per_day.iter().enumerate() {
        let height = n * (h - 2 * pad) / max;
        let x = pad + i as u64 * bar;
        let y = h - pad - height;
        svg.push_str(&format!(
            "<rect x=\"{x}\" y=\"{y}\" width=\"{}\" height=\"{height}\" fill=\"#1f5fa8\"><title>{}: {n}</title></rect>",
            bar.saturating_sub(2).max(1),
            i + 1
        ));
        if i % 5 == 0 {
            svg.push_str(&format!("<text x=\"{x}\" y=\"{}\">{}</text>", h - 4, i + 1));
        }
    }
    svg.push_str(&format!("<text x=\"{pad}\" y=\"12\">max {max}</text></svg>"));
    svg
}

#[derive(serde::Deserialize, Default)]
struct DashboardQuery {
    /// What « Lancer maintenant » did: `lance`, `deja`.
    #[serde(default)]
    passage: String,
}

async fn dashboard(page: Page, State(p): State<Arc<Portal>>, Query(q): Query<DashboardQuery>) -> Response {
    let message = match q.passage.as_str() {
        "lance" => Some(text(page.lang, "run_queued")),
        "deja" => Some(text(page.lang, "run_already_queued")),
        _ => None,
    };
    dashboard_page(page, &p, message, None).await
}

/// « Lancer maintenant »: the seller's run, queued; post, redirect, get.
async fn run_now(State(p): State<Arc<Portal>>, post: SellerPost) -> Response {
    let SellerPost { page, seller, .. } = post;
    match marketbill_app::schedule::run_now(&p.services, &seller).await {
        Ok(marketbill_app::schedule::RunNow::Queued) => Redirect::to("/espace?passage=lance").into_response(),
        Ok(marketbill_app::schedule::RunNow::AlreadyQueued) => Redirect::to("/espace?passage=deja").into_response(),
        Err(e) => {
            let error = match e {
                PortalError::RateLimited => text(page.lang, "run_limited").to_owned(),
                e => failure(&page, &e),
            };
            dashboard_page(page, &p, None, Some(error)).await
        }
    }
}

async fn dashboard_page(page: Page, p: &Portal, message: Option<&str>, error: Option<String>) -> Response {
    let Some(seller) = page.seller.clone() else { return to_sign_in() };
    match marketbill_app::usage::dashboard(&p.services, &seller, &p.plans).await {
        Ok(d) => {
            let plan = match (d.usage.fee.plan, page.lang) {
                (PlanKind::PerInvoice, Lang::Fr) => "à la facture",
                (PlanKind::PerInvoice, Lang::En) => "per invoice",
                (PlanKind::Tiered, Lang::Fr) => "par palier",
                (PlanKind::Tiered, Lang::En) => "tiered",
            };
            let last_run_at = d.last_run.as_ref().map(|r| paris_time(page.lang, &r.finished_at));
            let next_run_at = paris_time(page.lang, &d.next_run);
            let today = marketbill_domain::calendar::paris_date(p.services.clock.now());
            let month_start = iso_date(marketbill_domain::calendar::first_of_month(today));
            let status = if error.is_some() { StatusCode::TOO_MANY_REQUESTS } else { StatusCode::OK };
            let ctx = context! {
                d => Value::from_serialize(&d),
                next_run_at,
                month_start,
                message,
                error,
                fee => format_euros_fr(d.usage.fee.amount_excl_vat),
                plan,
                last_run_at,
                chart => chart(page.lang, &d.per_day),
            };
            render(&page, status, "dashboard.html", ctx)
        }
        Err(PortalError::NotFound) => to_onboarding(),
        Err(e) => message_page(&page, StatusCode::SERVICE_UNAVAILABLE, failure(&page, &e)),
    }
}

/// An RFC 3339 instant as the page's reader lives it: Paris time (`06/12/2026 20:11`); as
/// given when it cannot be read.
fn paris_time(lang: Lang, rfc3339: &str) -> String {
    let Ok(at) = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339) else {
        return rfc3339.to_owned();
    };
    let local = at.to_offset(marketbill_domain::calendar::paris_offset(at));
    let day = match lang {
        Lang::Fr => marketbill_domain::calendar::french_date(local.date()),
        Lang::En => iso_date(local.date()),
    };
    format!("{day} {:02}:{:02}", local.hour(), local.minute())
}

#[derive(serde::Deserialize, serde::Serialize, Default, Clone)]
struct ListQuery {
    #[serde(default)]
    du: String,
    #[serde(default)]
    au: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    commande: String,
    /// At the approved platform: `acceptee`, `rejetee`, `en-attente`, `non-transmise`.
    #[serde(default)]
    plateforme: String,
    /// Words or an amount to find.
    #[serde(default)]
    q: String,
    /// `date` (default), `numero`, `acheteur`, `montant`.
    #[serde(default)]
    tri: String,
    /// `croissant`; anything else is newest (or largest) first.
    #[serde(default)]
    ordre: String,
    #[serde(default)]
    page: String,
}

fn parse_day(s: &str) -> Result<Option<time::Date>, ()> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s.trim(), &format).map(Some).map_err(|_| ())
}

/// Where a document stands at the platform, as the list filters it.
fn platform_key(t: Option<&marketbill_app::model::TransmissionRecord>) -> &'static str {
    use marketbill_app::model::TransmissionState;
    match t.map(|t| t.state) {
        None => "non-transmise",
        Some(TransmissionState::Accepted) => "acceptee",
        Some(TransmissionState::Rejected) => "rejetee",
        Some(TransmissionState::Submitting | TransmissionState::Submitted | TransmissionState::Held) => "en-attente",
    }
}

fn row(page: &Page, r: &InvoiceRecord, t: Option<&marketbill_app::model::TransmissionRecord>) -> serde_json::Value {
    let platform = t.map(|t| platform::standing(page.lang, t));
    json!({
        "platform": platform,
        "number": r.invoice.number.as_str(),
        "credit": r.invoice.kind.is_credit_note(),
        "date": date(page, r.invoice.issue_date),
        "order": r.order_id.as_str(),
        "buyer": r.invoice.body.buyer.name,
        "total": signed_total(r),
    })
}

/// A document's total as the lists show it: a credit note takes back, so it is negative.
fn signed_total(r: &InvoiceRecord) -> String {
    let total = r.invoice.body.totals.tax_inclusive;
    if r.invoice.kind.is_credit_note() { format!("−{}", format_euros_fr(total)) } else { format_euros_fr(total) }
}

/// Documents shown on one page of the list.
const PER_PAGE: usize = 50;

async fn invoices(page: Page, State(p): State<Arc<Portal>>, Query(q): Query<ListQuery>) -> Response {
    invoices_page(page, &p, q, None).await
}

async fn invoices_page(page: Page, p: &Portal, q: ListQuery, error: Option<String>) -> Response {
    use marketbill_app::documents::{Search, SortBy};
    let Some(seller) = page.seller.clone() else { return to_sign_in() };
    let (from, to) = match (parse_day(&q.du), parse_day(&q.au)) {
        (Ok(f), Ok(t)) => (f, t),
        _ => {
            let error = text(page.lang, "bad_dates").to_owned();
            let ctx = context! { error, rows => Vec::<Value>::new(), q => Value::from_serialize(&q) };
            return render(&page, StatusCode::BAD_REQUEST, "invoices.html", ctx);
        }
    };
    let order = q.commande.trim();
    let filters = InvoiceQuery {
        from,
        to,
        credit_notes: match q.kind.as_str() {
            "factures" => Some(false),
            "avoirs" => Some(true),
            _ => None,
        },
        order_id: (!order.is_empty()).then(|| order.to_owned()),
        after: None,
        limit: PER_PAGE,
    };
    let flows: BTreeMap<String, marketbill_app::model::TransmissionRecord> =
        match marketbill_app::transmission::transmissions(&p.services, &seller).await {
            Ok(all) => all
                .into_iter()
                .filter_map(|t| match &t.subject {
                    marketbill_app::model::TransmissionSubject::Document { number } => Some((number.clone(), t)),
                    _ => None,
                })
                .collect(),
            Err(e) => return message_page(&page, StatusCode::SERVICE_UNAVAILABLE, failure(&page, &e)),
        };
    // Where documents stand at the platform, as sets of numbers.
    let filter = q.plateforme.trim();
    let (only, except) = match filter {
        "" => (None, Default::default()),
        "non-transmise" => (None, flows.keys().cloned().collect()),
        key => (
            Some(flows.iter().filter(|(_, t)| platform_key(Some(t)) == key).map(|(n, _)| n.clone()).collect()),
            Default::default(),
        ),
    };
    let sort = SortBy::parse(&q.tri);
    let ascending = q.ordre == "croissant";
    let search = Search {
        filters,
        text: q.q.clone(),
        sort,
        ascending,
        only,
        except,
        page: q.page.parse().unwrap_or(1),
        per_page: PER_PAGE,
    };
    match marketbill_app::documents::find(&p.services, &seller, &search).await {
        Ok(found) => {
            let rows: Vec<serde_json::Value> =
                found.items.iter().map(|r| row(&page, r, flows.get(r.invoice.number.as_str()))).collect();
            let platform_column = !flows.is_empty();
            let link = |changes: &[(&str, String)]| {
                let mut next = q.clone();
                for (k, v) in changes {
                    match *k {
                        "page" => next.page = v.clone(),
                        "tri" => next.tri = v.clone(),
                        "ordre" => next.ordre = v.clone(),
                        _ => {}
                    }
                }
                serde_urlencoded::to_string(&next).map(|q| format!("/espace/factures?{q}")).unwrap_or_default()
            };
            let pages: Vec<serde_json::Value> = (1..=found.pages)
                .map(|n| json!({"n": n, "href": link(&[("page", n.to_string())]), "current": n == found.page}))
                .collect();
            // Each column's header sorts by it; again, the other way.
            let columns: Vec<serde_json::Value> = [
                (SortBy::Number, "number"),
                (SortBy::Date, "date"),
                (SortBy::Buyer, "buyer"),
                (SortBy::Total, "total"),
            ]
            .into_iter()
            .map(|(key, label)| {
                let active = key == sort;
                let next_order = if active && !ascending { "croissant" } else { "decroissant" };
                let aria = match (active, ascending) {
                    (false, _) => "none",
                    (true, true) => "ascending",
                    (true, false) => "descending",
                };
                (label, json!({
                    "href": link(&[("tri", key.name().to_owned()), ("ordre", next_order.to_owned()), ("page", "1".to_owned())]),
                    "aria": aria,
                }))
            })
            .map(|(label, v)| json!({"key": label, "link": v}))
            .collect();
            let sorting: BTreeMap<String, serde_json::Value> =
                columns.into_iter().filter_map(|c| Some((c["key"].as_str()?.to_owned(), c["link"].clone()))).collect();
            let ctx = context! {
                rows,
                platform_column,
                pages,
                sorting,
                found => json!({"total": found.total, "page": found.page, "pages": found.pages}),
                max => marketbill_app::documents::SELECTION_MAX,
                error,
                q => Value::from_serialize(&q),
            };
            render(
                &page,
                if error_status(&ctx) { StatusCode::BAD_REQUEST } else { StatusCode::OK },
                "invoices.html",
                ctx,
            )
        }
        Err(e) => message_page(&page, StatusCode::SERVICE_UNAVAILABLE, failure(&page, &e)),
    }
}

/// A list shown again with a refusal (an empty selection) answers 400.
fn error_status(ctx: &Value) -> bool {
    ctx.get_attr("error").is_ok_and(|e| !e.is_none() && !e.is_undefined())
}

/// « Télécharger la sélection »: the chosen documents as one archive, behind a short link.
async fn selection(State(p): State<Arc<Portal>>, post: SellerPost) -> Response {
    let SellerPost { page, seller, values } = post;
    // One box per row, named after its document (`n-ML2026-000001`).
    let numbers: Vec<InvoiceNumber> =
        values.keys().filter_map(|k| k.strip_prefix("n-")).filter_map(|n| n.parse().ok()).collect();
    match marketbill_app::documents::selection(&p.services, &seller, &numbers).await {
        Ok(link) => Redirect::to(&link.url).into_response(),
        Err(PortalError::Invalid(_)) => {
            let error = Some(
                text(page.lang, "selection_empty")
                    .replace("{max}", &marketbill_app::documents::SELECTION_MAX.to_string()),
            );
            invoices_page(page, &p, ListQuery::default(), error).await
        }
        Err(e) => message_page(&page, StatusCode::SERVICE_UNAVAILABLE, failure(&page, &e)),
    }
}

/// A document's PDF, through a fresh short link (the list's « PDF » on each row).
async fn pdf(page: Page, State(p): State<Arc<Portal>>, Path(number): Path<String>) -> Response {
    let Some(seller) = page.seller.clone() else { return to_sign_in() };
    let Ok(number) = number.parse::<InvoiceNumber>() else { return not_found(&page) };
    match marketbill_app::documents::pdf_link(&p.services, &seller, &number).await {
        Ok(link) => Redirect::to(&link.url).into_response(),
        Err(PortalError::NotFound) => not_found(&page),
        Err(e) => message_page(&page, StatusCode::SERVICE_UNAVAILABLE, failure(&page, &e)),
    }
}

/// One document's page, with short-lived links to its files.
/// The correction form of a refused invoice as typed (its values and the errors per field),
/// shown again when it was refused.
type Typed<'a> = Option<(&'a BTreeMap<String, String>, &'a BTreeMap<String, Vec<String>>)>;

async fn invoice_page(
    page: &Page,
    p: &Portal,
    seller: &SellerId,
    number: &InvoiceNumber,
    message: Option<String>,
    error: Option<String>,
    typed: Typed<'_>,
) -> Response {
    match marketbill_app::documents::invoice(&p.services, seller, number).await {
        Ok(links) => {
            let r = &links.record;
            // An invoice its platform rejected or its buyer refused, still its order's current
            // one: the form that issues it again, with the buyer as invoiced.
            let refusal = match p.services.ledger.transmissions(seller).await {
                Ok(all) => all.into_iter().find(|t| {
                    t.tracking_id == number.as_str() && t.state == marketbill_app::model::TransmissionState::Rejected
                }),
                Err(e) => {
                    tracing::warn!(error = %e, "transmissions not read for an invoice's page");
                    None
                }
            };
            let order = p.services.ledger.get_order(seller, &r.order_id).await.ok().flatten();
            let current = order.as_ref().is_some_and(|o| o.number.as_ref() == Some(number));
            let way =
                document_way(page, r, order.as_ref().filter(|_| current), refusal_or_flow(p, seller, number).await);
            let related = related(page, p, seller, r).await;
            let reissue = (refusal.is_some() && current && !r.invoice.kind.is_credit_note()).then(|| {
                let as_invoiced = billing_values(&r.invoice.body.buyer.billing_data());
                let none = BTreeMap::new();
                let (values, errors) = typed.unwrap_or((&as_invoiced, &none));
                buyer_form(page, values, errors, OrderFields::Known)
            });
            let refusal = refusal.map(|t| {
                json!({
                    "standing": platform::standing(page.lang, &t),
                    "reason": platform::reason_text(page.lang, t.reason.as_deref()),
                })
            });
            let creditable =
                marketbill_app::credit_notes::creditable(&p.services, seller, number).await.unwrap_or_default();
            let credit_lines: Vec<serde_json::Value> = r
                .invoice
                .body
                .lines
                .iter()
                .map(|l| {
                    json!({
                        "id": l.id.to_string(),
                        "shipping": l.kind == marketbill_domain::invoice::LineKind::Shipping,
                        "description": l.description,
                        "quantity": l.quantity.normalize().to_string(),
                        "gross": format_euros_fr(l.gross_amount),
                    })
                })
                .collect();
            let rates: Vec<String> = r.invoice.body.vat_breakdown.iter().map(|v| v.rate.to_string()).collect();
            // A form of this page that was refused: the page again, said as a refusal.
            let status = if typed.is_some() || error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
            let ctx = context! {
                number => r.invoice.number.as_str(),
                credit => r.invoice.kind.is_credit_note(),
                date => date(page, r.invoice.issue_date),
                order => r.order_id.as_str(),
                buyer => r.invoice.body.buyer.name.clone(),
                total => signed_total(r),
                pdf => links.pdf.map(|l| l.url),
                xml => links.xml.map(|l| l.url),
                creditable => (!creditable.is_zero()).then(|| format_euros_fr(creditable)),
                credit_lines,
                rates,
                refusal,
                reissue,
                way,
                links => related,
                message,
                error,
            };
            render(page, status, "invoice.html", ctx)
        }
        Err(e) => {
            let status = if matches!(e, PortalError::NotFound) {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            message_page(page, status, failure(page, &e))
        }
    }
}

/// The document's flow at the approved platform, if it was handed over.
async fn refusal_or_flow(
    p: &Portal,
    seller: &SellerId,
    number: &InvoiceNumber,
) -> Option<marketbill_app::model::TransmissionRecord> {
    p.services.ledger.transmissions(seller).await.ok()?.into_iter().find(|t| t.tracking_id == number.as_str())
}

/// What became of a document, step by step, in the page's language: issued, mailed to the
/// buyer (or why not), attached to the Cdiscount order and what Cdiscount said, and where it
/// stands at the approved platform.
fn document_way(
    page: &Page,
    r: &InvoiceRecord,
    order: Option<&marketbill_app::model::OrderRecord>,
    flow: Option<marketbill_app::model::TransmissionRecord>,
) -> Vec<String> {
    use marketbill_app::model::OrderStage;
    let t = |key: &str| text(page.lang, key).to_owned();
    let mut way = vec![t("way_issued").replace("{date}", &date(page, r.invoice.issue_date))];
    if let Some(o) = order {
        if o.mail_refused.is_some() {
            way.push(t("way_not_mailed"));
        } else if o.stage >= OrderStage::Mailed && o.stage != OrderStage::Skipped {
            way.push(t("way_mailed"));
        }
        match o.stage {
            OrderStage::Uploaded => way.push(t("way_uploaded")),
            OrderStage::Accepted => way.push(t("way_accepted")),
            OrderStage::Rejected => way.push(t("way_rejected")),
            _ => {}
        }
    }
    if let Some(f) = flow {
        way.push(format!("{} : {}", t("platform_standing"), platform::standing(page.lang, &f)));
    }
    way
}

/// The documents linked to this one: the invoice a credit note corrects, the credit notes of
/// an invoice, the invoice a corrected one replaces and the one that replaced it.
async fn related(page: &Page, p: &Portal, seller: &SellerId, r: &InvoiceRecord) -> Vec<serde_json::Value> {
    let t = |key: &str| text(page.lang, key).to_owned();
    let mut links = Vec::new();
    let link = |label: String, number: &str| json!({"label": label, "number": number});
    if let marketbill_domain::DocumentKind::CreditNote { corrects } = &r.invoice.kind {
        links.push(link(t("link_corrects"), corrects.number.as_str()));
    }
    if let Some(old) = &r.invoice.body.replaces {
        links.push(link(t("link_replaces"), old.number.as_str()));
    }
    let query = InvoiceQuery { order_id: Some(r.order_id.to_string()), limit: 100, ..Default::default() };
    let same_order = p.services.ledger.list_invoices(seller, &query).await.map(|page| page.items).unwrap_or_default();
    for other in &same_order {
        match &other.invoice.kind {
            marketbill_domain::DocumentKind::CreditNote { corrects } if corrects.number == r.invoice.number => {
                links.push(link(t("link_credited_by"), other.invoice.number.as_str()));
            }
            marketbill_domain::DocumentKind::Invoice
                if other.invoice.body.replaces.as_ref().is_some_and(|x| x.number == r.invoice.number) =>
            {
                links.push(link(t("link_replaced_by"), other.invoice.number.as_str()));
            }
            _ => {}
        }
    }
    links
}

/// The page of a document number that cannot be one of ours.
fn not_found(page: &Page) -> Response {
    message_page(page, StatusCode::NOT_FOUND, failure(page, &PortalError::NotFound))
}

/// What a form of the invoice's page did, said by the page it redirects to (post, redirect,
/// get: a reload of that page sends nothing again).
#[derive(serde::Deserialize, Default)]
struct InvoiceQueryString {
    #[serde(default)]
    renvoye: String,
    #[serde(default)]
    avoir: String,
    #[serde(default)]
    non_envoye: String,
    /// The invoice this one replaces, just issued again after a refusal.
    #[serde(default)]
    remplace: String,
}

async fn invoice(
    page: Page,
    State(p): State<Arc<Portal>>,
    Path(number): Path<String>,
    Query(q): Query<InvoiceQueryString>,
) -> Response {
    let Some(seller) = page.seller.clone() else { return to_sign_in() };
    let Ok(number) = number.parse::<InvoiceNumber>() else { return not_found(&page) };
    let mut message = (q.renvoye == "1").then(|| text(page.lang, "resent").to_owned());
    // A credit note just issued from this page: named only if it is one of this invoice's.
    if let Ok(cn) = q.avoir.parse::<InvoiceNumber>()
        && let Ok(Some(rec)) = p.services.ledger.get_invoice(&seller, &cn).await
        && matches!(&rec.invoice.kind, marketbill_domain::DocumentKind::CreditNote { corrects } if corrects.number == number)
    {
        let key = if q.non_envoye == "1" { "credit_issued_not_mailed" } else { "credit_issued" };
        message = Some(
            text(page.lang, key)
                .replace("{number}", cn.as_str())
                .replace("{total}", &format_euros_fr(rec.invoice.body.totals.tax_inclusive)),
        );
    }
    // Issued again after a refusal: said only if this invoice does replace that one.
    if let Ok(old) = q.remplace.parse::<InvoiceNumber>()
        && let Ok(Some(rec)) = p.services.ledger.get_invoice(&seller, &number).await
        && rec.invoice.body.replaces.as_ref().is_some_and(|r| r.number == old)
    {
        message = Some(text(page.lang, "reissued").replace("{old}", old.as_str()));
    }
    invoice_page(&page, &p, &seller, &number, message, None, None).await
}

/// The buyer of a refused invoice corrected by the seller, and the invoice issued again.
async fn reissue(State(p): State<Arc<Portal>>, Path(number): Path<String>, post: SellerPost) -> Response {
    let SellerPost { page, seller, values } = post;
    let Ok(number) = number.parse::<InvoiceNumber>() else { return not_found(&page) };
    let billing = match check_billing(&billing_body(&values)) {
        Ok(b) => b,
        Err(errors) => {
            let error = Some(text(page.lang, "fix_fields").to_owned());
            return invoice_page(&page, &p, &seller, &number, None, error, Some((&values, &errors))).await;
        }
    };
    let once = form_once(&format!("reissue {number}"), &values);
    match marketbill_app::correction::reissue(&p.services, &seller, &number, billing, once.as_ref()).await {
        Ok(done) => Redirect::to(&format!(
            "/espace/factures/{}?remplace={}",
            urlencode(&done.invoice),
            urlencode(number.as_str())
        ))
        .into_response(),
        Err(e) => invoice_page(&page, &p, &seller, &number, None, Some(failure(&page, &e)), None).await,
    }
}

/// The billing fields of a form (the buyer's, the seller's correction) as the API takes them.
fn billing_body(values: &BTreeMap<String, String>) -> BillingBody {
    let get = |k: &str| values.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    BillingBody {
        kind: if get("kind") == "individual" { BuyerKind::Individual } else { BuyerKind::Company },
        name: get("name"),
        tax_number: Some(get("taxNumber")).filter(|t| !t.is_empty()),
        address: AddressBody {
            line1: get("line1"),
            line2: Some(get("line2")).filter(|t| !t.is_empty()),
            postal_code: get("postalCode"),
            city: get("city"),
            country_code: get("countryCode").to_uppercase(),
        },
    }
}

/// Billing data as a form's values.
fn billing_values(b: &marketbill_domain::BuyerBillingData) -> BTreeMap<String, String> {
    let tax = match &b.tax_number {
        Some(marketbill_domain::TaxNumber::Vat(v)) => v.as_str().to_owned(),
        Some(marketbill_domain::TaxNumber::Siren(s)) => s.as_str().to_owned(),
        None => String::new(),
    };
    let kind = match b.kind {
        BuyerKind::Company => "company",
        BuyerKind::Individual => "individual",
    };
    BTreeMap::from([
        ("kind".to_owned(), kind.to_owned()),
        ("name".to_owned(), b.name.clone()),
        ("taxNumber".to_owned(), tax),
        ("line1".to_owned(), b.address.line1.clone()),
        ("line2".to_owned(), b.address.line2.clone().unwrap_or_default()),
        ("postalCode".to_owned(), b.address.postal_code.clone()),
        ("city".to_owned(), b.address.city.clone()),
        ("countryCode".to_owned(), b.address.country_code.to_string()),
    ])
}

async fn resend(State(p): State<Arc<Portal>>, Path(number): Path<String>, post: SellerPost) -> Response {
    let SellerPost { page, seller, values } = post;
    let Ok(number) = number.parse::<InvoiceNumber>() else { return not_found(&page) };
    let once = form_once(&format!("resend {number}"), &values);
    match marketbill_app::problems::resend(&p.services, &seller, &number, once.as_ref()).await {
        Ok(_) => Redirect::to(&format!("/espace/factures/{}?renvoye=1", urlencode(number.as_str()))).into_response(),
        Err(e) => invoice_page(&page, &p, &seller, &number, None, Some(failure(&page, &e)), None).await,
    }
}

/// A path segment or query value, percent-encoded.
fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)]).map(|v| v.trim_start_matches('=').to_owned()).unwrap_or_default()
}

/// The member states of the EU (code, French name, English name), France first, as forms list
/// them.
pub(super) const EU_COUNTRIES: [(&str, &str, &str); 27] = [
    ("FR", "France", "France"),
    ("DE", "Allemagne", "Germany"),
    ("AT", "Autriche", "Austria"),
    ("BE", "Belgique", "Belgium"),
    ("BG", "Bulgarie", "Bulgaria"),
    ("CY", "Chypre", "Cyprus"),
    ("HR", "Croatie", "Croatia"),
    ("DK", "Danemark", "Denmark"),
    ("ES", "Espagne", "Spain"),
    ("EE", "Estonie", "Estonia"),
    ("FI", "Finlande", "Finland"),
    ("GR", "Grèce", "Greece"),
    ("HU", "Hongrie", "Hungary"),
    ("IE", "Irlande", "Ireland"),
    ("IT", "Italie", "Italy"),
    ("LV", "Lettonie", "Latvia"),
    ("LT", "Lituanie", "Lithuania"),
    ("LU", "Luxembourg", "Luxembourg"),
    ("MT", "Malte", "Malta"),
    ("NL", "Pays-Bas", "Netherlands"),
    ("PL", "Pologne", "Poland"),
    ("PT", "Portugal", "Portugal"),
    ("CZ", "Tchéquie", "Czechia"),
    ("RO", "Roumanie", "Romania"),
    ("SK", "Slovaquie", "Slovakia"),
    ("SI", "Slovénie", "Slovenia"),
    ("SE", "Suède", "Sweden"),
];

/// The buyer's form fields: (form name, API error key, autocomplete, optional).
const ORDER_FIELDS: [(&str, &str, &str, bool); 3] = [
    ("orderId", "orderId", "off", false),
    ("deliveryPostalCode", "deliveryPostalCode", "off", false),
    ("deliveryName", "deliveryName", "off", false),
];
const BILLING_FIELDS: [(&str, &str, &str, bool); 7] = [
    ("name", "name", "organization", false),
    ("taxNumber", "taxNumber", "off", true),
    ("line1", "address.line1", "address-line1", false),
    ("line2", "address.line2", "address-line2", true),
    ("postalCode", "address.postalCode", "postal-code", false),
    ("city", "address.city", "address-level2", false),
    ("countryCode", "address.countryCode", "country", false),
];

/// How the form knows the order: asked with a proof a buyer knows (the delivery's postal code
/// and name), given by the mail's link (shown, not editable), or not at all (the seller
/// correcting its own invoice).
#[derive(Clone, Copy, PartialEq, Eq)]
enum OrderFields {
    Asked,
    Linked,
    Known,
}

fn buyer_form(
    page: &Page,
    values: &BTreeMap<String, String>,
    errors: &BTreeMap<String, Vec<String>>,
    order: OrderFields,
) -> Vec<serde_json::Value> {
    let t = |key: &str| text(page.lang, key);
    let kind = values.get("kind").cloned().unwrap_or_else(|| "company".into());
    let mut fields = Vec::new();
    let asked: &[(&str, &str, &str, bool)] = match order {
        OrderFields::Asked => &ORDER_FIELDS,
        OrderFields::Linked => &ORDER_FIELDS[..1],
        OrderFields::Known => &[],
    };
    for (name, key, autocomplete, optional) in asked.iter().chain(BILLING_FIELDS.iter()) {
        if *name == "name" {
            fields.push(json!({
                "name": "kind", "kind": "select", "label": t("field_kind"), "value": kind,
                "options": [["company", t("kind_company")], ["individual", t("kind_individual")]],
            }));
        }
        let typed = values.get(*name).map(String::as_str).unwrap_or_default().trim();
        let error = errors.get(*key).map(|_| {
            // A tax number that was typed but refused: which kind of number it was read as.
            if *name == "taxNumber" && !typed.is_empty() {
                let siren = typed.chars().filter(|c| !c.is_whitespace()).all(|c| c.is_ascii_digit());
                t(if siren { "error_taxNumber_siren" } else { "error_taxNumber_vat" }).to_owned()
            } else {
                t(&format!("error_{name}")).to_owned()
            }
        });
        let default = if *name == "countryCode" { "FR" } else { "" };
        if *name == "countryCode" {
            let chosen = values.get(*name).map(|v| v.to_uppercase()).unwrap_or_else(|| default.to_owned());
            let options: Vec<[&str; 2]> = EU_COUNTRIES
                .iter()
                .map(|(code, fr, en)| [*code, if page.lang == Lang::Fr { *fr } else { *en }])
                .collect();
            fields.push(json!({
                "name": name, "kind": "select", "label": t(&format!("field_{name}")), "value": chosen,
                "options": options, "autocomplete": autocomplete, "error": error,
            }));
            continue;
        }
        fields.push(json!({
            "name": name,
            "kind": "input",
            "label": t(&format!("field_{name}")),
            "value": values.get(*name).map(String::as_str).unwrap_or(default),
            "autocomplete": autocomplete,
            "optional": optional,
            "readonly": order == OrderFields::Linked && *name == "orderId",
            "error": error,
        }));
    }
    fields
}

#[derive(serde::Deserialize)]
struct ThanksQuery {
    #[serde(default)]
    suite: String,
    #[serde(default)]
    facture: String,
    #[serde(default)]
    avoir: String,
}

/// The buyer's confirmation (after the redirect): what arrives by e-mail.
async fn buyer_thanks(page: Page, Query(q): Query<ThanksQuery>) -> Response {
    let numbers = (q.facture.parse::<InvoiceNumber>(), q.avoir.parse::<InvoiceNumber>());
    let done = match (q.suite.as_str(), numbers) {
        ("corrigee", (Ok(invoice), Ok(credit_note))) => text(page.lang, "request_corrected")
            .replace("{invoice}", invoice.as_str())
            .replace("{credit_note}", credit_note.as_str()),
        _ => text(page.lang, "request_recorded").to_owned(),
    };
    render(&page, StatusCode::OK, "buyer.html", context! { done })
}

#[derive(serde::Deserialize, Default)]
struct BuyerLinkQuery {
    #[serde(default)]
    commande: String,
    #[serde(default)]
    cle: String,
}

/// The buyer's page; from the invoice mail's link, with the order already known.
async fn buyer_page(page: Page, State(p): State<Arc<Portal>>, Query(q): Query<BuyerLinkQuery>) -> Response {
    let key = &p.services.settings.buyer_email_key;
    if q.commande.is_empty() && q.cle.is_empty() {
        let fields = buyer_form(&page, &BTreeMap::new(), &BTreeMap::new(), OrderFields::Asked);
        return render(&page, StatusCode::OK, "buyer.html", context! { fields });
    }
    if !marketbill_app::crypto::buyer_link_matches(key, &q.commande, &q.cle) {
        let fields = buyer_form(&page, &BTreeMap::new(), &BTreeMap::new(), OrderFields::Asked);
        let error = text(page.lang, "buyer_link_invalid").to_owned();
        return render(&page, StatusCode::OK, "buyer.html", context! { fields, error });
    }
    let values = BTreeMap::from([("orderId".to_owned(), q.commande.clone())]);
    let fields = buyer_form(&page, &values, &BTreeMap::new(), OrderFields::Linked);
    render(&page, StatusCode::OK, "buyer.html", context! { fields, cle => q.cle, linked => true })
}

/// The buyer's request: checked field by field, then the one use case the API calls too.
async fn buyer_post(State(p): State<Arc<Portal>>, Posted { page, values }: Posted) -> Response {
    let get = |k: &str| values.get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let b = billing_body(&values);
    let body = InvoiceRequestBody {
        order_id: get("orderId").unwrap_or_default(),
        link: get("cle"),
        email: None,
        delivery_postal_code: get("deliveryPostalCode"),
        delivery_name: get("deliveryName"),
        kind: b.kind,
        name: b.name,
        tax_number: b.tax_number,
        address: b.address,
    };
    let order_fields = if body.link.is_some() { OrderFields::Linked } else { OrderFields::Asked };
    let cle = body.link.clone();
    let linked = cle.is_some();
    let (billing, proof) = match check_invoice_request(&body) {
        Ok(checked) => checked,
        Err(errors) => {
            let fields = buyer_form(&page, &values, &errors, order_fields);
            let error = text(page.lang, "fix_fields").to_owned();
            return render(&page, StatusCode::BAD_REQUEST, "buyer.html", context! { fields, error, cle, linked });
        }
    };
    let once = form_once("buyer request", &values);
    match marketbill_app::buyer_requests::buyer_request(&p.services, &body.order_id, &proof, billing, once.as_ref())
        .await
    {
        // Post, redirect, get: reloading the confirmation sends nothing again.
        Ok(outcome) => {
            let to = match outcome {
                BuyerRequestOutcome::Recorded => "/facture/merci?suite=enregistree".to_owned(),
                BuyerRequestOutcome::Corrected { credit_note, invoice } => format!(
                    "/facture/merci?suite=corrigee&facture={}&avoir={}",
                    urlencode(&invoice),
                    urlencode(&credit_note)
                ),
            };
            Redirect::to(&to).into_response()
        }
        Err(e) => {
            let (status, error) = match &e {
                PortalError::BuyerRefused => (StatusCode::NOT_FOUND, text(page.lang, "buyer_refused").to_owned()),
                PortalError::RateLimited => (StatusCode::TOO_MANY_REQUESTS, failure(&page, &e)),
                PortalError::Conflict(_) => (StatusCode::CONFLICT, failure(&page, &e)),
                _ => (StatusCode::SERVICE_UNAVAILABLE, failure(&page, &e)),
            };
            let fields = buyer_form(&page, &values, &BTreeMap::new(), order_fields);
            render(&page, status, "buyer.html", context! { fields, error, cle, linked })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_both_languages_have_every_text() {
        for (name, _) in TEMPLATES {
            if let Err(e) = env().get_template(name) {
                panic!("{name}: {e:#}");
            }
        }
        let keys: std::collections::BTreeSet<&str> = texts::TEXTS.iter().map(|(k, _, _)| *k).collect();
        assert_eq!(keys.len(), texts::TEXTS.len(), "each key once");
        for (k, _, _) in texts::TEXTS {
            assert!(!text(Lang::Fr, k).is_empty() && !text(Lang::En, k).is_empty(), "{k}");
        }
        // Every text a template names exists (a missing one would print nothing).
        for (name, source) in TEMPLATES {
            for used in source.split("t.").skip(1) {
                let key: String = used.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                let after_word = source.contains(&format!(" t.{key}")) || source.contains(&format!("{{{{ t.{key}"));
                if !key.is_empty() && after_word {
                    assert!(keys.contains(key.as_str()), "{name} uses t.{key}, which has no text");
                }
            }
        }
    }

    #[test]
    fn times_are_shown_in_paris_time() {
        assert_eq!(super::paris_time(super::Lang::Fr, "2026-12-06T19:11:00Z"), "06/12/2026 20:11");
        assert_eq!(super::paris_time(super::Lang::En, "2026-07-01T22:30:00Z"), "2026-07-02 00:30");
        assert_eq!(super::paris_time(super::Lang::Fr, "not a time"), "not a time");
    }

    #[test]
    fn the_chart_has_one_bar_per_day_and_says_what_it_shows() {
        let svg = chart(super::Lang::Fr, &[0, 3, 1]);
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(
            svg.contains(
                "aria-label=\"4 factures ce mois-ci, sur 2 jours ; le jour le plus chargé est le 2 (3 factures).\""
            ),
            "{svg}"
        );
        let none = chart(super::Lang::En, &[0, 0]);
        assert!(none.contains("aria-label=\"No invoice this month yet.\""), "{none}");
    }
}
