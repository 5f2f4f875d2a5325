//! The account's pages: sign-up by e-mail, the company data (onboarding and later changes),
//! the marketplace credentials, and the account page with unsubscribing.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use marketbill_app::marketplace::MarketplaceCredentials;
use marketbill_app::model::{SellerRecord, SellerStatus};
use marketbill_app::portal::PortalError;
use marketbill_domain::SellerProfileInput;
use marketbill_domain::fees::PlanKind;
use minijinja::context;
use serde_json::{Value, json};

use super::texts::text;
use super::{
    EMAIL_COOKIE, Lang, Page, Posted, SESSION_COOKIE, SellerPost, cookie, date, failure, mail_link, message_page,
    render, set_cookie, to_onboarding, to_sign_in,
};
use crate::Portal;
use crate::auth::SESSION_LIFETIME;

pub(super) async fn sign_up_page(page: Page, State(p): State<Arc<Portal>>) -> Response {
    if page.seller.is_some() {
        return Redirect::to("/espace").into_response();
    }
    if let Some(hosted) = super::to_hosted_login(&page, &p, true) {
        return hosted;
    }
    render(&page, StatusCode::OK, "sign_up.html", context! {})
}

/// A link to the address: to sign in if it already has an account, to create one otherwise.
/// The answer is the same either way.
pub(super) async fn sign_up_post(State(p): State<Arc<Portal>>, Posted { page, values: form }: Posted) -> Response {
    let typed = form.get("email").map(|e| e.trim()).unwrap_or_default();
    let Ok(email) = marketbill_domain::email::parse_address(typed) else {
        let error = text(page.lang, "error_email_address").to_owned();
        return render(&page, StatusCode::BAD_REQUEST, "sign_up.html", context! { error });
    };
    let s = &p.services;
    let known = match s.account().seller_for_email(&email).await {
        Ok(known) => known,
        Err(e) => {
            let error = failure(&page, &e);
            return render(&page, StatusCode::SERVICE_UNAVAILABLE, "sign_up.html", context! { error });
        }
    };
    let base = s.settings.public_url.as_deref().unwrap_or("");
    let link = p.auth.links().and_then(|links| match known {
        Some(seller) => links.sign_in_token(&seller).map(|t| super::sign_in_url(base, &t)),
        None => links.sign_up_token(&email).map(|t| format!("{base}/inscription/lien?jeton={t}")),
    });
    let Some(link) = link else {
        let error = text(page.lang, "cognito_pending").to_owned();
        return render(&page, StatusCode::OK, "sign_up.html", context! { error });
    };
    mail_link(s, &email, &link).await;
    render(&page, StatusCode::OK, "sign_up.html", context! { sent => true })
}

#[derive(serde::Deserialize)]
pub(super) struct LinkQuery {
    #[serde(default)]
    jeton: String,
}

/// The sign-up link: the address is proven, the account exists; next, the company data.
pub(super) async fn sign_up_link(page: Page, State(p): State<Arc<Portal>>, Query(q): Query<LinkQuery>) -> Response {
    let Some((seller, email)) = p.auth.links().and_then(|l| l.redeem_sign_up(&q.jeton)) else {
        let error = text(page.lang, "link_invalid").to_owned();
        return render(&page, StatusCode::FORBIDDEN, "sign_up.html", context! { error });
    };
    let (Some(session), Some(proof)) =
        p.auth.links().map_or((None, None), |l| (l.open_session(&seller), l.email_proof(&email)))
    else {
        return Redirect::to("/inscription").into_response();
    };
    let mut response = Redirect::to("/espace/profil").into_response();
    set_cookie(&mut response, cookie(&page, SESSION_COOKIE, session, SESSION_LIFETIME));
    set_cookie(&mut response, cookie(&page, EMAIL_COOKIE, proof, SESSION_LIFETIME));
    response
}

/// One field of the company form: (form name, error key of the domain, autocomplete).
struct ProfileField {
    name: &'static str,
    key: &'static str,
    autocomplete: &'static str,
    optional: bool,
}

const fn f(name: &'static str, key: &'static str, autocomplete: &'static str, optional: bool) -> ProfileField {
    ProfileField { name, key, autocomplete, optional }
}

/// The company form, by group (title key, fields).
const PROFILE_GROUPS: [(&str, &[ProfileField]); 4] = [
    (
        "group_company",
        &[
            f("legalName", "legalName", "organization", false),
            f("legalForm", "legalForm", "off", false),
            f("shareCapital", "shareCapital", "off", true),
            f("siren", "siren", "off", true),
            f("siret", "siret", "off", true),
            f("rcsCity", "rcsCity", "off", true),
        ],
    ),
    (
        "group_address",
        &[
            f("line1", "address.line1", "address-line1", false),
            f("line2", "address.line2", "address-line2", true),
            f("postalCode", "address.postalCode", "postal-code", false),
            f("city", "address.city", "address-level2", false),
            f("countryCode", "address.countryCode", "country", false),
        ],
    ),
    (
        "group_vat",
        &[
            f("vatScheme", "vatScheme", "", false),
            f("vatNumber", "vatNumber", "off", true),
            f("frenchVatNumber", "frenchVatNumber", "off", true),
            f("stockLocation", "stockLocation", "", false),
            f("defaultVatRate", "defaultVatRate", "off", false),
        ],
    ),
    (
        "group_invoices",
        &[
            f("email", "email", "email", false),
            f("marketplaceSellerId", "marketplaceSellerId", "off", false),
            f("invoicePrefix", "invoicePrefix", "off", false),
            f("creditNotePrefix", "creditNotePrefix", "off", false),
            f("language", "language", "", false),
            f("plan", "plan", "", false),
        ],
    ),
];

/// The choices of the form's lists: (form name, [(value, text key)]).
const CHOICES: [(&str, &[(&str, &str)]); 4] = [
    (
        "vatScheme",
        &[
            ("standard", "scheme_standard"),
            ("franchise", "scheme_franchise"),
            ("oss", "scheme_oss"),
            ("homeCountry", "scheme_home"),
        ],
    ),
    ("stockLocation", &[("sellerCountry", "stock_seller"), ("france", "stock_france"), ("outsideEu", "stock_outside")]),
    (
        "language",
        &[
            ("fr", "language_fr"),
            ("en", "language_en"),
            ("de", "language_de"),
            ("es", "language_es"),
            ("it", "language_it"),
            ("nl", "language_nl"),
            ("pl", "language_pl"),
        ],
    ),
    ("plan", &[("perInvoice", "plan_per_invoice"), ("tiered", "plan_tiered")]),
];

fn choices(name: &str) -> Option<&'static [(&'static str, &'static str)]> {
    CHOICES.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

/// A profile as the form's values.
fn profile_values(input: &SellerProfileInput) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    if let Ok(Value::Object(map)) = serde_json::to_value(input) {
        for (k, v) in map {
            match v {
                Value::Object(address) if k == "address" => {
                    for (ak, av) in address {
                        if let Value::String(s) = av {
                            values.insert(ak, s);
                        }
                    }
                }
                Value::String(s) => {
                    values.insert(k, s);
                }
                Value::Number(n) => {
                    values.insert(k, n.to_string());
                }
                _ => {}
            }
        }
    }
    values
}

/// What a new account's form starts with.
fn new_values(email: &str) -> BTreeMap<String, String> {
    [
        ("email", email),
        ("countryCode", "FR"),
        ("vatScheme", "standard"),
        ("stockLocation", "sellerCountry"),
        ("defaultVatRate", "20"),
        ("invoicePrefix", "F"),
        ("creditNotePrefix", "AV"),
        ("language", "fr"),
        ("plan", "perInvoice"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn profile_groups(
    page: &Page,
    values: &BTreeMap<String, String>,
    errors: &BTreeMap<String, Vec<String>>,
    plans: &str,
) -> Vec<Value> {
    let t = |key: &str| text(page.lang, key);
    PROFILE_GROUPS
        .iter()
        .map(|(title, fields)| {
            let fields: Vec<Value> = fields
                .iter()
                .map(|pf| {
                    let error = errors.get(pf.key).map(|reasons| {
                        let hint = match t(&format!("perr_{}", pf.name)) {
                            "" => t("perr_generic"),
                            h => h,
                        };
                        // The domain's reasons are English: only an English page adds them.
                        match page.lang {
                            super::Lang::Fr => hint.to_owned(),
                            super::Lang::En => format!("{hint} ({})", reasons.join("; ")),
                        }
                    });
                    let hint = match pf.name {
                        "plan" => plans.to_owned(),
                        name => t(&format!("phint_{name}")).to_owned(),
                    };
                    let options: Option<Vec<[&str; 2]>> = match pf.name {
                        // The seller is established in the EU: its country from the list.
                        "countryCode" => Some(
                            super::buyer::EU_COUNTRIES
                                .iter()
                                .map(|(code, fr, en)| [*code, if page.lang == super::Lang::Fr { *fr } else { *en }])
                                .collect(),
                        ),
                        name => choices(name).map(|c| c.iter().map(|(v, k)| [*v, t(k)]).collect()),
                    };
                    let kind = match (pf.name, &options) {
                        ("plan", _) => "radio",
                        (_, Some(_)) => "select",
                        _ => "input",
                    };
                    json!({
                        "name": pf.name,
                        "kind": kind,
                        "type": if pf.name == "email" { "email" } else { "text" },
                        "label": t(&format!("pf_{}", pf.name)),
                        "value": values.get(pf.name).cloned().unwrap_or_default(),
                        "options": options,
                        "autocomplete": pf.autocomplete,
                        "optional": pf.optional,
                        "readonly": pf.name == "email",
                        "hint": (!hint.is_empty()).then_some(hint),
                        "error": error,
                    })
                })
                .collect();
            json!({ "title": t(title), "fields": fields })
        })
        .collect()
}

/// The plans in words, from the catalogue (prices are data, not text).
fn plans_text(page: &Page, p: &Portal) -> String {
    let fmt = marketbill_domain::money::format_euros_fr;
    let per = &p.plans.per_invoice;
    let tiers: Vec<String> = p
        .plans
        .tiered
        .tiers
        .iter()
        .map(|tier| match tier.up_to {
            Some(n) => format!("≤ {n} : {}", fmt(tier.price)),
            None => format!("+ : {}", fmt(tier.price)),
        })
        .collect();
    text(page.lang, "plans_text")
        .replace("{price}", &fmt(per.price_per_invoice))
        .replace("{billed}", &per.billed_invoices_per_month.to_string())
        .replace("{tiers}", &tiers.join(", "))
}

/// The signed-in account's record, if it has one yet.
async fn record(p: &Portal, page: &Page) -> Result<Option<SellerRecord>, PortalError> {
    let Some(seller) = &page.seller else { return Ok(None) };
    match p.services.account().get_profile(seller).await {
        Ok(r) => Ok(Some(r)),
        Err(PortalError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(super) async fn profile_page(page: Page, State(p): State<Arc<Portal>>, Query(q): Query<SavedQuery>) -> Response {
    if page.seller.is_none() {
        return to_sign_in();
    }
    let (values, onboarding) = match record(&p, &page).await {
        Ok(Some(r)) => (profile_values(&SellerProfileInput::from(r.profile)), false),
        Ok(None) => match &page.proven_email {
            Some(email) => (new_values(email), true),
            // A new account whose proof has expired: prove the address again.
            None => return Redirect::to("/inscription").into_response(),
        },
        Err(e) => return message_page(&page, StatusCode::SERVICE_UNAVAILABLE, failure(&page, &e)),
    };
    let groups = profile_groups(&page, &values, &BTreeMap::new(), &plans_text(&page, &p));
    render(&page, StatusCode::OK, "profile.html", context! { groups, onboarding, saved => q.ok == "1" })
}

#[derive(serde::Deserialize)]
pub(super) struct SavedQuery {
    #[serde(default)]
    pub(super) ok: String,
}

/// The company data: checked by the domain's rules, field by field; a new account then goes
/// on to its marketplace credentials.
pub(super) async fn profile_post(State(p): State<Arc<Portal>>, post: SellerPost) -> Response {
    let SellerPost { page, seller, values } = post;
    let existing = match record(&p, &page).await {
        Ok(r) => r,
        Err(e) => return message_page(&page, StatusCode::SERVICE_UNAVAILABLE, failure(&page, &e)),
    };
    // The address is the proven one (sign-up link) or the account's, never the form's.
    let email = match (&existing, &page.proven_email) {
        (Some(r), _) => r.profile.email.clone(),
        (None, Some(e)) => e.clone(),
        (None, None) => return Redirect::to("/inscription").into_response(),
    };
    let mut values = values;
    values.insert("email".into(), email);
    let (input, mut errors) = profile_input(&values, existing.as_ref());
    let outcome = match input {
        Some(input) if errors.is_empty() => p.services.account().put_profile(&seller, &input).await.map(|_| ()),
        _ => Err(PortalError::Invalid(BTreeMap::new())),
    };
    match outcome {
        Ok(()) => {
            let next = if existing.as_ref().is_some_and(|r| r.credentials.is_some()) {
                "/espace/profil?ok=1"
            } else {
                "/espace/identifiants"
            };
            let mut response = Redirect::to(next).into_response();
            set_cookie(&mut response, cookie(&page, EMAIL_COOKIE, String::new(), time::Duration::ZERO));
            response
        }
        Err(PortalError::Invalid(domain)) => {
            for (k, v) in domain {
                errors.entry(k).or_default().extend(v);
            }
            let groups = profile_groups(&page, &values, &errors, &plans_text(&page, &p));
            let error = text(page.lang, "fix_fields").to_owned();
            render(
                &page,
                StatusCode::BAD_REQUEST,
                "profile.html",
                context! { groups, error, onboarding => existing.is_none() },
            )
        }
        Err(PortalError::Unsubscribed) => {
            message_page(&page, StatusCode::CONFLICT, text(page.lang, "unsubscribed_locked").into())
        }
        Err(e) => message_page(&page, StatusCode::SERVICE_UNAVAILABLE, failure(&page, &e)),
    }
}

/// The form's values as the registration body, and the errors of values that cannot even be
/// read (a list value not offered, a capital that is not a number); the domain checks the rest.
fn profile_input(
    values: &BTreeMap<String, String>,
    existing: Option<&SellerRecord>,
) -> (Option<SellerProfileInput>, BTreeMap<String, Vec<String>>) {
    let get = |k: &str| values.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let opt = |k: &str| Some(get(k)).filter(|v| !v.is_empty());
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut choice = |name: &str| -> Value {
        let v = get(name);
        if choices(name).is_some_and(|c| c.iter().any(|(value, _)| *value == v)) {
            Value::String(v)
        } else {
            errors.entry(name.to_owned()).or_default().push("is not one of the choices".into());
            Value::Null
        }
    };
    let (vat_scheme, stock_location, language, plan) =
        (choice("vatScheme"), choice("stockLocation"), choice("language"), choice("plan"));
    let share_capital = match opt("shareCapital") {
        Some(raw) => {
            let cleaned: String = raw.chars().filter(|c| !c.is_whitespace() && *c != '€').collect();
            match rust_decimal::Decimal::from_str(&cleaned.replace(',', ".")) {
                Ok(d) => serde_json::to_value(d).unwrap_or(Value::Null),
                Err(_) => {
                    errors.entry("shareCapital".into()).or_default().push("is an amount in euros".into());
                    Value::Null
                }
            }
        }
        None => Value::Null,
    };
    let sku_rates = existing.map(|r| SellerProfileInput::from(r.profile.clone()).sku_vat_rates).unwrap_or_default();
    let body = json!({
        "legalName": get("legalName"),
        "legalForm": get("legalForm"),
        "shareCapital": share_capital,
        "siren": opt("siren").map(|s| s.replace(' ', "")),
        "siret": opt("siret").map(|s| s.replace(' ', "")),
        "rcsCity": opt("rcsCity"),
        "vatNumber": opt("vatNumber").map(|s| s.replace(' ', "").to_uppercase()),
        "frenchVatNumber": opt("frenchVatNumber").map(|s| s.replace(' ', "").to_uppercase()),
        "address": {
            "line1": get("line1"),
            "line2": opt("line2"),
            "postalCode": get("postalCode"),
            "city": get("city"),
            "countryCode": get("countryCode").to_uppercase(),
        },
        "email": get("email"),
        "marketplaceSellerId": get("marketplaceSellerId"),
        "vatScheme": vat_scheme,
        "stockLocation": stock_location,
        "defaultVatRate": get("defaultVatRate").replace(',', "."),
        "skuVatRates": sku_rates,
        "invoicePrefix": get("invoicePrefix"),
        "creditNotePrefix": get("creditNotePrefix"),
        "plan": plan,
        "language": language,
    });
    if !errors.is_empty() {
        return (None, errors);
    }
    // Nulls are absent options; what is left has the types the body wants.
    let body = match body {
        Value::Object(map) => Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    };
    match serde_json::from_value::<SellerProfileInput>(body) {
        Ok(input) => (Some(input), errors),
        Err(e) => {
            errors.entry("legalName".into()).or_default().push(e.to_string());
            (None, errors)
        }
    }
}

pub(super) async fn credentials_page(
    page: Page,
    State(p): State<Arc<Portal>>,
    Query(q): Query<SavedQuery>,
) -> Response {
    if page.seller.is_none() {
        return to_sign_in();
    }
    match record(&p, &page).await {
        Ok(Some(r)) => credentials_form(&page, &r, &BTreeMap::new(), StatusCode::OK, None, q.ok == "1"),
        Ok(None) => to_onboarding(),
        Err(e) => message_page(&page, StatusCode::SERVICE_UNAVAILABLE, failure(&page, &e)),
    }
}

fn credentials_form(
    page: &Page,
    r: &SellerRecord,
    errors: &BTreeMap<String, Vec<String>>,
    status: StatusCode,
    client_id: Option<&str>,
    saved: bool,
) -> Response {
    let t = |key: &str| text(page.lang, key);
    // The domain's reasons are English: only an English page adds them.
    let err = |name: &str| {
        errors.get(name).map(|m| match page.lang {
            super::Lang::Fr => t(&format!("cerr_{name}")).to_owned(),
            super::Lang::En => format!("{} ({})", t(&format!("cerr_{name}")), m.join("; ")),
        })
    };
    let fields = vec![
        json!({"name": "clientId", "kind": "input", "label": t("cf_clientId"), "value": client_id.unwrap_or_default(),
               "autocomplete": "off", "hint": t("chint_clientId"), "error": err("clientId")}),
        json!({"name": "clientSecret", "kind": "input", "type": "password", "label": t("cf_clientSecret"), "value": "",
               "autocomplete": "off", "error": err("clientSecret")}),
        json!({"name": "sellerId", "kind": "input", "label": t("cf_sellerId"), "value": r.profile.marketplace_seller_id,
               "readonly": true, "hint": t("chint_sellerId"), "error": err("sellerId")}),
    ];
    let error = (!errors.is_empty()).then(|| t("fix_fields").to_owned());
    let has_credentials = r.credentials.is_some() || saved;
    render(page, status, "credentials.html", context! { fields, error, has_credentials })
}

/// The marketplace credentials: checked against the marketplace's token endpoint, then sealed.
pub(super) async fn credentials_post(State(p): State<Arc<Portal>>, post: SellerPost) -> Response {
    let SellerPost { page, seller, values } = post;
    let r = match record(&p, &page).await {
        Ok(Some(r)) => r,
        Ok(None) => return to_onboarding(),
        Err(e) => return message_page(&page, StatusCode::SERVICE_UNAVAILABLE, failure(&page, &e)),
    };
    let get = |k: &str| values.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let creds = MarketplaceCredentials {
        client_id: get("clientId"),
        client_secret: get("clientSecret"),
        seller_id: r.profile.marketplace_seller_id.clone(),
    };
    // Checked by the use case, with the same rules as the API.
    match p.services.account().put_credentials(&seller, &creds).await {
        Ok(()) => Redirect::to("/espace/identifiants?ok=1").into_response(),
        Err(PortalError::Invalid(errors)) => {
            credentials_form(&page, &r, &errors, StatusCode::BAD_REQUEST, Some(&creds.client_id), false)
        }
        Err(PortalError::Unsubscribed) => {
            message_page(&page, StatusCode::CONFLICT, text(page.lang, "unsubscribed_locked").into())
        }
        Err(e) => message_page(&page, StatusCode::SERVICE_UNAVAILABLE, failure(&page, &e)),
    }
}

fn plan_name(lang: Lang, plan: PlanKind) -> &'static str {
    match plan {
        PlanKind::PerInvoice => text(lang, "plan_per_invoice_short"),
        PlanKind::Tiered => text(lang, "plan_tiered_short"),
    }
}

async fn account(
    page: &Page,
    p: &Portal,
    status: StatusCode,
    message: Option<String>,
    error: Option<String>,
) -> Response {
    let r = match record(p, page).await {
        Ok(Some(r)) => r,
        Ok(None) => return to_onboarding(),
        Err(e) => return message_page(page, StatusCode::SERVICE_UNAVAILABLE, failure(page, &e)),
    };
    let purge_after = match r.status {
        SellerStatus::Unsubscribed { purge_after, .. } => Some(date(page, purge_after.date())),
        SellerStatus::Active => None,
    };
    let message =
        message.or_else(|| purge_after.as_ref().map(|d| text(page.lang, "unsubscribed_until").replace("{date}", d)));
    let ctx = context! {
        name => r.profile.legal_name,
        email => r.profile.email,
        plan => plan_name(page.lang, r.profile.plan),
        purge_after,
        message,
        error,
    };
    render(page, status, "account.html", ctx)
}

pub(super) async fn account_page(page: Page, State(p): State<Arc<Portal>>) -> Response {
    if page.seller.is_none() {
        return to_sign_in();
    }
    account(&page, &p, StatusCode::OK, None, None).await
}

/// Unsubscribing: no new invoices from now, a month left to download (the box must be ticked).
pub(super) async fn unsubscribe(State(p): State<Arc<Portal>>, post: SellerPost) -> Response {
    let SellerPost { page, seller, values } = post;
    if values.get("confirmer").map(String::as_str) != Some("1") {
        let error = text(page.lang, "unsubscribe_tick").to_owned();
        return account(&page, &p, StatusCode::BAD_REQUEST, None, Some(error)).await;
    }
    match p.services.account().unsubscribe(&seller).await {
        // Post, redirect, get: the account page then says until when downloads stay open.
        Ok(_) => Redirect::to("/espace/compte").into_response(),
        Err(e) => message_page(&page, StatusCode::SERVICE_UNAVAILABLE, failure(&page, &e)),
    }
}
