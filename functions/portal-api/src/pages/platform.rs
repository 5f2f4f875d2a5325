//! The approved platform (PA) page: choosing it (checked before it is saved), removing it, and
//! every flow handed over with where it stands.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use marketbill_app::model::{TransmissionRecord, TransmissionState, TransmissionSubject};
use marketbill_app::platform::{PlatformCredentials, status_label_fr};
use marketbill_app::portal::PortalError;
use marketbill_app::transmission::{self, PlatformSummary};
use minijinja::context;
use serde_json::{Value, json};

use super::account::SavedQuery;
use super::texts::text;
use super::{Lang, Page, SellerPost, date, failure, message_page, render, to_onboarding, to_sign_in};
use crate::Portal;

/// The form's fields, in order: (name, label key, secret).
const FIELDS: [(&str, bool); 7] = [
    ("platformName", false),
    ("platformId", false),
    ("flowUrl", false),
    ("directoryUrl", false),
    ("tokenUrl", false),
    ("clientId", false),
    ("clientSecret", true),
];

/// Where a flow stands, as the pages say it.
pub(super) fn state_label(lang: Lang, state: TransmissionState) -> &'static str {
    text(
        lang,
        match state {
            TransmissionState::Submitting | TransmissionState::Submitted => "platform_state_submitted",
            TransmissionState::Accepted => "platform_state_accepted",
            TransmissionState::Rejected => "platform_state_rejected",
            TransmissionState::Held => "platform_state_held",
        },
    )
}

/// A lifecycle status with its name in the specification (`210 Refusée`).
pub(super) fn lifecycle_text(code: u16) -> String {
    format!("{code} {}", status_label_fr(code))
}

/// Where a document stands, with its lifecycle status when the platform gave one.
pub(super) fn standing(lang: Lang, t: &TransmissionRecord) -> String {
    match t.lifecycle {
        Some(code) => format!("{} ({})", state_label(lang, t.state), lifecycle_text(code)),
        None => state_label(lang, t.state).to_owned(),
    }
}

/// A reason as the page says it: our own codes translated, the platform's words as given.
pub(super) fn reason_text(lang: Lang, reason: Option<&str>) -> Option<String> {
    match reason {
        Some(transmission::NOT_IN_DIRECTORY) => Some(text(lang, "platform_reason_not_in_directory").to_owned()),
        other => other.map(str::to_owned),
    }
}

fn flow_row(page: &Page, t: &TransmissionRecord) -> Value {
    let what = match &t.subject {
        TransmissionSubject::Document { number } => {
            text(page.lang, "platform_what_invoice").replace("{number}", number)
        }
        TransmissionSubject::Report { period, version, .. } => text(page.lang, "platform_what_report")
            .replace("{period}", period)
            .replace("{version}", &version.to_string()),
    };
    let status = t.lifecycle.map(lifecycle_text).unwrap_or_default();
    let when = date(page, marketbill_domain::calendar::paris_date(t.updated_at));
    json!({
        "what": what,
        "state": format!("{:?}", t.state).to_lowercase(),
        "state_label": state_label(page.lang, t.state),
        "status": status,
        "reason": reason_text(page.lang, t.reason.as_deref()),
        "when": when,
    })
}

async fn form(
    page: &Page,
    p: &Portal,
    status: StatusCode,
    values: &BTreeMap<String, String>,
    errors: &BTreeMap<String, Vec<String>>,
    saved: bool,
) -> Response {
    let Some(seller) = &page.seller else { return to_sign_in() };
    let current: Option<PlatformSummary> = match p.services.platform_setup().platform_of(seller).await {
        Ok(c) => c,
        Err(PortalError::NotFound) => return to_onboarding(),
        Err(e) => return message_page(page, StatusCode::SERVICE_UNAVAILABLE, failure(page, &e)),
    };
    let flows = match p.services.platform_setup().transmissions(seller).await {
        Ok(mut f) => {
            f.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(a.tracking_id.cmp(&b.tracking_id)));
            f.iter().map(|t| flow_row(page, t)).collect::<Vec<_>>()
        }
        Err(e) => return message_page(page, StatusCode::SERVICE_UNAVAILABLE, failure(page, &e)),
    };
    let t = |key: &str| text(page.lang, key);
    let shown = |name: &str| -> String {
        values.get(name).cloned().unwrap_or_else(|| {
            let c = current.as_ref();
            match name {
                "platformName" => c.map(|c| c.platform_name.clone()),
                "platformId" => c.map(|c| c.platform_id.clone()),
                "flowUrl" => c.map(|c| c.flow_url.clone()),
                "directoryUrl" => c.map(|c| c.directory_url.clone()),
                "tokenUrl" => c.map(|c| c.token_url.clone()),
                "clientId" => c.map(|c| c.client_id.clone()),
                _ => None,
            }
            .unwrap_or_default()
        })
    };
    let fields: Vec<Value> = FIELDS
        .iter()
        .map(|(name, secret)| {
            let error = errors.get(*name).map(|_| t(&format!("perr_{name}")).to_owned());
            json!({
                "name": name, "kind": "input", "type": if *secret { "password" } else { "text" },
                "label": t(&format!("pf_{name}")), "hint": t(&format!("phint_{name}")),
                "value": if *secret { String::new() } else { shown(name) },
                "autocomplete": "off", "error": error,
            })
        })
        .chain(std::iter::once(json!({
            "name": "syntax", "kind": "radio", "label": t("pf_syntax"),
            "value": if values.get("syntax").map(String::as_str) == Some("ubl")
                || (values.is_empty() && current.as_ref().is_some_and(|c| c.prefer_ubl)) { "ubl" } else { "facturx" },
            "options": [["facturx", t("pf_syntax_facturx")], ["ubl", t("pf_syntax_ubl")]],
        })))
        .collect();
    let error = (!errors.is_empty()).then(|| t("fix_fields").to_owned());
    let current = current.map(|c| json!({"platformName": c.platform_name, "platformId": c.platform_id}));
    render(page, status, "platform.html", context! { fields, error, current, flows, saved })
}

pub(super) async fn platform_page(page: Page, State(p): State<Arc<Portal>>, Query(q): Query<SavedQuery>) -> Response {
    if page.seller.is_none() {
        return to_sign_in();
    }
    let saved = q.ok == "1";
    form(&page, &p, StatusCode::OK, &BTreeMap::new(), &BTreeMap::new(), saved).await
}

/// The platform: checked against its health check and its token endpoint, then sealed.
pub(super) async fn platform_post(State(p): State<Arc<Portal>>, post: SellerPost) -> Response {
    let SellerPost { page, seller, values } = post;
    let get = |k: &str| values.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let creds = PlatformCredentials {
        flow_url: get("flowUrl"),
        directory_url: get("directoryUrl"),
        token_url: get("tokenUrl"),
        client_id: get("clientId"),
        client_secret: get("clientSecret"),
        platform_id: get("platformId"),
        platform_name: get("platformName"),
        prefer_ubl: get("syntax") == "ubl",
    };
    match p.services.platform_setup().put_platform(p.platform.as_ref(), &seller, &creds).await {
        Ok(()) => Redirect::to("/espace/plateforme?ok=1").into_response(),
        Err(PortalError::Invalid(errors)) => {
            let mut kept = values.clone();
            kept.remove("clientSecret");
            form(&page, &p, StatusCode::BAD_REQUEST, &kept, &errors, false).await
        }
        Err(PortalError::NotFound) => to_onboarding(),
        Err(PortalError::Unsubscribed) => {
            message_page(&page, StatusCode::CONFLICT, text(page.lang, "unsubscribed_locked").into())
        }
        Err(e) => message_page(&page, StatusCode::SERVICE_UNAVAILABLE, failure(&page, &e)),
    }
}

pub(super) async fn platform_remove(State(p): State<Arc<Portal>>, post: SellerPost) -> Response {
    let SellerPost { page, seller, .. } = post;
    match p.services.platform_setup().remove_platform(&seller).await {
        Ok(()) => Redirect::to("/espace/plateforme").into_response(),
        Err(PortalError::NotFound) => to_onboarding(),
        Err(e) => message_page(&page, StatusCode::SERVICE_UNAVAILABLE, failure(&page, &e)),
    }
}
