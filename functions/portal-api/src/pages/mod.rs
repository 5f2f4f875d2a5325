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
use axum::extract::{Form, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use cookie::{Cookie, SameSite};
use marketbill_app::model::SellerId;
use marketbill_app::once::Once;
use marketbill_app::portal::PortalError;
use marketbill_domain::calendar::iso_date;
use minijinja::{Environment, Value, context};

use crate::Portal;
use crate::auth::SESSION_LIFETIME;

mod account;
mod buyer;
mod dashboard;
mod documents;
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
        .route("/espace", get(dashboard::dashboard))
        .route("/espace/passage", post(dashboard::run_now))
        .route("/espace/profil", get(account::profile_page).post(account::profile_post))
        .route("/espace/identifiants", get(account::credentials_page).post(account::credentials_post))
        .route("/espace/plateforme", get(platform::platform_page).post(platform::platform_post))
        .route("/espace/plateforme/retrait", post(platform::platform_remove))
        .route("/espace/compte", get(account::account_page))
        .route("/espace/compte/resiliation", post(account::unsubscribe))
        .route("/espace/factures", get(documents::invoices))
        .route("/espace/factures/{number}", get(documents::invoice))
        .route("/espace/factures/{number}/pdf", get(documents::pdf))
        .route("/espace/selection", post(documents::selection))
        .route("/espace/factures/{number}/renvoi", post(documents::resend))
        .route("/espace/factures/{number}/avoir", post(work::credit_note))
        .route("/espace/factures/{number}/reemission", post(documents::reissue))
        .route("/espace/problemes", get(work::problems_page))
        .route("/espace/problemes/relance", post(work::retry))
        .route("/espace/problemes/traite", post(work::handled))
        .route("/espace/consommation", get(work::usage_page))
        .route("/espace/export", get(work::export_page).post(work::export_post))
        .route("/espace/export/{job}", get(work::export_progress))
        .route("/espace/journal", get(work::journal))
        .route("/facture", get(buyer::buyer_page).post(buyer::buyer_post))
        .route("/facture/merci", get(buyer::buyer_thanks))
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
        let seller = session.as_deref().and_then(|c| state.auth.sessions().and_then(|x| x.session(c)));
        let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
        let secure = !matches!(name, "127.0.0.1" | "localhost" | "[::1]");
        let (csrf, csrf_new) = match jar.get(CSRF_COOKIE) {
            Some(v) if v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()) => (v.clone(), false),
            _ => (hex::encode(&marketbill_app::crypto::random_key()[..16]), true),
        };
        let proven_email = jar.get(EMAIL_COOKIE).and_then(|c| state.auth.sessions().and_then(|x| x.proven_email(c)));
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
        Lang::Fr => marketbill_domain::calendar::french_date(d),
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
    let hosted = p.auth.hosted()?.login(sign_up)?;
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
    let Some(session) = (match p.auth.hosted() {
        Some(h) => h.finish_login(&q.code, &q.state, &kept).await,
        None => None,
    }) else {
        let error = text(page.lang, "login_failed").to_owned();
        return message_page(&page, StatusCode::FORBIDDEN, error);
    };
    let lifetime = p.auth.sessions().map_or(crate::auth::SESSION_LIFETIME, |x| x.session_lifetime());
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
    let Some(seller) = s.account().seller_for_email(email).await? else { return Ok(true) };
    let Some(token) = p.auth.links().and_then(|l| l.sign_in_token(&seller)) else { return Ok(false) };
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
    let Some(seller) = p.auth.links().and_then(|l| l.redeem(&q.jeton)) else {
        let error = text(page.lang, "link_invalid").to_owned();
        return render(&page, StatusCode::FORBIDDEN, "sign_in.html", context! { error });
    };
    let Some(session) = p.auth.links().and_then(|l| l.open_session(&seller)) else {
        return Redirect::to("/connexion").into_response();
    };
    let mut response = Redirect::to("/espace").into_response();
    set_cookie(&mut response, cookie(&page, SESSION_COOKIE, session, SESSION_LIFETIME));
    response
}

async fn sign_out(State(p): State<Arc<Portal>>, Posted { page, .. }: Posted) -> Response {
    if let (Some(session), Some(sessions)) = (&page.session, p.auth.sessions()) {
        sessions.end_session(session);
    }
    // Hosted sign-in: its own session ends too, at its logout page.
    let next = p.auth.hosted().and_then(|h| h.logout_url()).unwrap_or_else(|| "/connexion".to_owned());
    let mut response = Redirect::to(&next).into_response();
    set_cookie(&mut response, cookie(&page, EMAIL_COOKIE, String::new(), time::Duration::ZERO));
    set_cookie(&mut response, cookie(&page, SESSION_COOKIE, String::new(), time::Duration::ZERO));
    response
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

fn parse_day(s: &str) -> Result<Option<time::Date>, ()> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s.trim(), &format).map(Some).map_err(|_| ())
}

/// The page of a document number that cannot be one of ours.
fn not_found(page: &Page) -> Response {
    message_page(page, StatusCode::NOT_FOUND, failure(page, &PortalError::NotFound))
}

/// A path segment or query value, percent-encoded.
fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)]).map(|v| v.trim_start_matches('=').to_owned()).unwrap_or_default()
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
        let svg = super::dashboard::chart(super::Lang::Fr, &[0, 3, 1]);
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(
            svg.contains(
                "aria-label=\"4 factures ce mois-ci, sur 2 jours ; le jour le plus chargé est le 2 (3 factures).\""
            ),
            "{svg}"
        );
        let none = super::dashboard::chart(super::Lang::En, &[0, 0]);
        assert!(none.contains("aria-label=\"No invoice this month yet.\""), "{none}");
    }
}
