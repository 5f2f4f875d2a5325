//! The seller's working pages: problems with a retry, the usage history, the ZIP export with
//! its progress.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use marketbill_app::model::TransmissionState;
use marketbill_app::model::{OrderRecord, OrderStage};
use marketbill_app::portal::PortalError;
use marketbill_app::problems::RetryOutcome;
use marketbill_domain::OrderId;
use marketbill_domain::fees::PlanKind;
use marketbill_domain::money::format_euros_fr;
use minijinja::context;
use serde_json::json;

use super::texts::text;
use super::{Page, SellerPost, date, failure, message_page, parse_day, render, to_onboarding, to_sign_in};
use crate::Portal;

/// A problem in plain words, and whether a retry can help.
fn problem_row(page: &Page, o: &OrderRecord) -> serde_json::Value {
    let t = |key: &str| text(page.lang, key);
    let reason = if o.stage == OrderStage::Rejected {
        t("problem_rejected").to_owned()
    } else if let Some(refusal) = &o.refusal {
        let plain = t(&format!("refusal_{}", refusal.code()));
        // The plain sentence; in English, the precise reason too (which line, which rate…),
        // which the domain writes in English.
        match page.lang {
            _ if plain.is_empty() => refusal.to_string(),
            super::Lang::En => format!("{plain} — {refusal}"),
            super::Lang::Fr => plain.to_owned(),
        }
    } else if let Some(why) = &o.mail_refused {
        format!("{} ({why})", t("problem_mail_refused"))
    } else if o.buyer_siren_missing && o.last_error.is_none() {
        t("problem_buyer_siren_missing").to_owned()
    } else if o.last_error.as_deref().is_some_and(|e| e.contains("refund")) {
        t("problem_refund_unreadable").to_owned()
    } else {
        t("problem_step_failed").to_owned()
    };
    json!({
        "order": o.order_id.as_str(),
        "reason": reason,
        "since": date(page, marketbill_domain::calendar::paris_date(o.updated_at)),
        "retry": o.stage == OrderStage::Rejected || (o.last_error.is_some() && o.is_open()),
    })
}

async fn problems(
    page: &Page,
    p: &Portal,
    status: StatusCode,
    message: Option<String>,
    error: Option<String>,
) -> Response {
    let Some(seller) = &page.seller else { return to_sign_in() };
    match marketbill_app::problems::problems(p.services.ledger.as_ref(), seller).await {
        Ok(list) => {
            let rows: Vec<serde_json::Value> = list.iter().map(|o| problem_row(page, o)).collect();
            // What the approved platform rejected or the buyer refused, in their words.
            let flows = match p.services.platform_setup().transmissions(seller).await {
                Ok(flows) => flows,
                Err(e) => return message_page(page, StatusCode::SERVICE_UNAVAILABLE, failure(page, &e)),
            };
            let refused: Vec<serde_json::Value> = flows
                .into_iter()
                .filter(|t| matches!(t.state, TransmissionState::Rejected | TransmissionState::Held))
                .map(|t| {
                    let status = t
                        .lifecycle
                        .map(super::platform::lifecycle_text)
                        .unwrap_or_else(|| super::platform::state_label(page.lang, t.state).to_owned());
                    let link = matches!(t.subject, marketbill_app::model::TransmissionSubject::Document { .. });
                    serde_json::json!({
                        "link": link,
                        "document": t.tracking_id,
                        "status": status,
                        "reason": super::platform::reason_text(page.lang, t.reason.as_deref()),
                        "since": super::date(page, marketbill_domain::calendar::paris_date(t.updated_at)),
                    })
                })
                .collect();
            render(page, status, "problems.html", context! { rows, refused, message, error })
        }
        Err(PortalError::NotFound) => to_onboarding(),
        Err(e) => message_page(page, StatusCode::SERVICE_UNAVAILABLE, failure(page, &e)),
    }
}

/// What the retry form did, said by the page it redirects to.
#[derive(serde::Deserialize)]
pub(super) struct RetriedQuery {
    #[serde(default)]
    relance: String,
    #[serde(default)]
    suite: String,
    /// An order just marked as handled.
    #[serde(default)]
    traite: String,
}

pub(super) async fn problems_page(
    page: Page,
    State(p): State<Arc<Portal>>,
    axum::extract::Query(q): axum::extract::Query<RetriedQuery>,
) -> Response {
    let key = match q.suite.as_str() {
        "envoye" => Some("retry_uploaded"),
        "file" => Some("retry_queued"),
        _ => None,
    };
    let message = match (key, q.relance.parse::<OrderId>(), q.traite.parse::<OrderId>()) {
        (Some(key), Ok(order), _) => Some(text(page.lang, key).replace("{order}", order.as_str())),
        (None, _, Ok(order)) => Some(text(page.lang, "handled_done").replace("{order}", order.as_str())),
        _ => None,
    };
    problems(&page, &p, StatusCode::OK, message, None).await
}

pub(super) async fn retry(State(p): State<Arc<Portal>>, post: SellerPost) -> Response {
    let SellerPost { page, seller, values } = post;
    let Some(order) = values.get("commande").and_then(|o| o.trim().parse::<OrderId>().ok()) else {
        return problems(&page, &p, StatusCode::NOT_FOUND, None, Some(text(page.lang, "not_found").into())).await;
    };
    let once = super::form_once(&format!("retry {order}"), &values);
    match marketbill_app::problems::retry(&p.services, &seller, &order, once.as_ref()).await {
        Ok(outcome) => {
            let suite = match outcome {
                RetryOutcome::Uploaded => "envoye",
                RetryOutcome::Queued => "file",
            };
            Redirect::to(&format!("/espace/problemes?relance={order}&suite={suite}")).into_response()
        }
        Err(e) => {
            let status = match e {
                PortalError::NotFound => StatusCode::NOT_FOUND,
                PortalError::Conflict(_) | PortalError::Unsubscribed => StatusCode::CONFLICT,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            problems(&page, &p, status, None, Some(failure(&page, &e))).await
        }
    }
}

/// « Marquer comme traité »: the order leaves the problems list until another problem comes.
pub(super) async fn handled(State(p): State<Arc<Portal>>, post: SellerPost) -> Response {
    let SellerPost { page, seller, values } = post;
    let Some(order) = values.get("commande").and_then(|o| o.trim().parse::<OrderId>().ok()) else {
        return problems(&page, &p, StatusCode::NOT_FOUND, None, Some(text(page.lang, "not_found").into())).await;
    };
    match marketbill_app::problems::mark_handled(p.services.ledger.as_ref(), &seller, &order).await {
        Ok(()) => Redirect::to(&format!("/espace/problemes?traite={order}")).into_response(),
        Err(e) => {
            let status = if matches!(e, PortalError::NotFound) { StatusCode::NOT_FOUND } else { StatusCode::CONFLICT };
            problems(&page, &p, status, None, Some(failure(&page, &e))).await
        }
    }
}

/// How many months the usage history shows.
const HISTORY_MONTHS: usize = 24;

pub(super) async fn usage_page(page: Page, State(p): State<Arc<Portal>>) -> Response {
    let Some(seller) = page.seller.clone() else { return to_sign_in() };
    let plan = match p.services.account().get_profile(&seller).await {
        Ok(r) => r.profile.plan,
        Err(PortalError::NotFound) => return to_onboarding(),
        Err(e) => return message_page(&page, StatusCode::SERVICE_UNAVAILABLE, failure(&page, &e)),
    };
    match p.services.metering().usage_history(&seller, &p.plans, HISTORY_MONTHS).await {
        Ok(months) => {
            let rows: Vec<serde_json::Value> = months
                .iter()
                // Numbers as text: serde_json's exact numbers do not render as numbers in templates.
                .map(|m| {
                    json!({"month": m.month, "invoices": m.invoices.to_string(), "creditNotes": m.credit_notes.to_string(),
                           "fee": format_euros_fr(m.fee.amount_excl_vat)})
                })
                .collect();
            let plan = match plan {
                PlanKind::PerInvoice => text(page.lang, "plan_per_invoice_short"),
                PlanKind::Tiered => text(page.lang, "plan_tiered_short"),
            };
            // Marketbill's own invoices of the fees (issued on the 1st of each month).
            let fees = match p.services.documents().fee_invoices(&seller).await {
                Ok(f) => f,
                Err(e) => return message_page(&page, StatusCode::SERVICE_UNAVAILABLE, failure(&page, &e)),
            };
            let fees: Vec<serde_json::Value> = fees
                .iter()
                .map(|f| {
                    json!({"number": f.number, "date": f.issue_date, "total": format_euros_fr(f.total_incl_vat),
                           "pdf": f.pdf.as_ref().map(|l| l.url.clone())})
                })
                .collect();
            render(&page, StatusCode::OK, "usage.html", context! { rows, plan, fees })
        }
        Err(e) => message_page(&page, StatusCode::SERVICE_UNAVAILABLE, failure(&page, &e)),
    }
}

#[derive(serde::Deserialize, Default)]
pub(super) struct PeriodQuery {
    #[serde(default)]
    du: String,
    #[serde(default)]
    au: String,
}

/// The period presets of the export page (this month, last month, this quarter), as Paris
/// days: (label key, first day, last day).
fn presets(today: time::Date) -> Vec<(&'static str, time::Date, time::Date)> {
    let month = marketbill_domain::calendar::YearMonth::of(today);
    vec![
        ("preset_this_month", month.first_day(), today),
        ("preset_last_month", month.previous().first_day(), month.previous().last_day()),
        ("preset_this_quarter", month.quarter_start().first_day(), today),
    ]
}

pub(super) async fn export_page(
    page: Page,
    State(p): State<Arc<Portal>>,
    axum::extract::Query(q): axum::extract::Query<PeriodQuery>,
) -> Response {
    if page.seller.is_none() {
        return to_sign_in();
    }
    let today = marketbill_domain::calendar::paris_date(p.services.clock.now());
    let presets: Vec<serde_json::Value> = presets(today)
        .into_iter()
        .map(|(key, from, to)| {
            let (from, to) = (marketbill_domain::calendar::iso_date(from), marketbill_domain::calendar::iso_date(to));
            json!({"label": text(page.lang, key), "href": format!("/espace/export?du={from}&au={to}")})
        })
        .collect();
    // A preset's period, when it is one (anything else is ignored: the fields stay empty).
    let (du, au) = match (parse_day(&q.du), parse_day(&q.au)) {
        (Ok(Some(from)), Ok(Some(to))) => {
            (marketbill_domain::calendar::iso_date(from), marketbill_domain::calendar::iso_date(to))
        }
        _ => (String::new(), String::new()),
    };
    render(&page, StatusCode::OK, "export.html", context! { presets, du, au })
}

/// Starts an export (of a period, or of everything since the account began) and goes to its
/// progress page.
pub(super) async fn export_post(State(p): State<Arc<Portal>>, post: SellerPost) -> Response {
    let SellerPost { page, seller, values } = post;
    let get = |k: &str| values.get(k).map(String::as_str).unwrap_or_default();
    let period = if get("tout") == "1" {
        match p.services.account().get_profile(&seller).await {
            Ok(r) => {
                let today = marketbill_domain::calendar::paris_date(p.services.clock.now());
                Ok((marketbill_domain::calendar::paris_date(r.registered_at).min(today), today))
            }
            Err(e) => return message_page(&page, StatusCode::SERVICE_UNAVAILABLE, failure(&page, &e)),
        }
    } else {
        match (parse_day(get("du")), parse_day(get("au"))) {
            (Ok(Some(from)), Ok(Some(to))) if from <= to => Ok((from, to)),
            _ => Err(()),
        }
    };
    let Ok((from, to)) = period else {
        let error = text(page.lang, "export_bad_period").to_owned();
        let ctx = context! { error, du => get("du"), au => get("au") };
        return render(&page, StatusCode::BAD_REQUEST, "export.html", ctx);
    };
    let once = super::form_once("export", &values);
    match p.services.exports().start_export(&seller, from, to, once.as_ref()).await {
        Ok(started) => Redirect::to(&format!("/espace/export/{}", started.job)).into_response(),
        Err(PortalError::NotFound) => to_onboarding(),
        Err(e) => message_page(&page, StatusCode::SERVICE_UNAVAILABLE, failure(&page, &e)),
    }
}

/// One step of the export per visit; the page reloads itself (a meta refresh, no script)
/// until the archive is ready.
pub(super) async fn export_progress(page: Page, State(p): State<Arc<Portal>>, Path(job): Path<String>) -> Response {
    let Some(seller) = page.seller.clone() else { return to_sign_in() };
    match p.services.exports().advance_export(&seller, &job).await {
        Ok(progress) => {
            let ready = progress.link.is_some();
            let ctx = context! {
                job => progress.job,
                done => progress.files_done,
                files => progress.files,
                link => progress.link.map(|l| l.url),
                refresh => (!ready).then_some(1),
            };
            render(&page, StatusCode::OK, "export.html", ctx)
        }
        Err(PortalError::NotFound) => {
            message_page(&page, StatusCode::NOT_FOUND, text(page.lang, "export_not_found").into())
        }
        Err(e) => message_page(&page, StatusCode::SERVICE_UNAVAILABLE, failure(&page, &e)),
    }
}

/// The credit-note form of an invoice's page: units or amounts per line, a gesture at one of
/// the invoice's rates, or everything left; the reason. The same use case as the API.
pub(super) async fn credit_note(
    State(p): State<Arc<Portal>>,
    Path(number): Path<String>,
    post: SellerPost,
) -> Response {
    use marketbill_domain::credit::CreditItem;
    let SellerPost { page, seller, values } = post;
    let Ok(number) = number.parse::<marketbill_domain::InvoiceNumber>() else {
        return message_page(&page, StatusCode::NOT_FOUND, text(page.lang, "not_found").into());
    };
    let amount = |v: &str| {
        v.trim().replace(',', ".").replace(['\u{a0}', '\u{202f}', ' ', '€'], "").parse::<rust_decimal::Decimal>()
    };
    let mut items = Vec::new();
    let mut unreadable = false;
    for (key, value) in &values {
        if value.trim().is_empty() {
            continue;
        }
        let parsed = if let Some(line) = key.strip_prefix("units-") {
            line.parse().ok().zip(amount(value).ok()).map(|(line, quantity)| CreditItem::Units { line, quantity })
        } else if let Some(line) = key.strip_prefix("shipping-") {
            line.parse().ok().zip(amount(value).ok()).map(|(line, amount)| CreditItem::Shipping { line, amount })
        } else if key == "gesture" {
            let rate = values.get("gesture-rate").and_then(|r| r.parse().ok());
            rate.zip(amount(value).ok()).map(|(rate, amount)| CreditItem::Gesture { rate, amount })
        } else if key == "remainder" && value == "1" {
            Some(CreditItem::Remainder)
        } else {
            continue;
        };
        match parsed {
            Some(item) => items.push(item),
            None => unreadable = true,
        }
    }
    let reason = values.get("reason").map(String::as_str).unwrap_or_default();
    let error =
        |e: String| async { super::documents::invoice_page(&page, &p, &seller, &number, None, Some(e), None).await };
    if unreadable {
        return error(text(page.lang, "credit_unreadable").into()).await;
    }
    let once = super::form_once(&format!("credit note {number}"), &values);
    match marketbill_app::credit_notes::credit_note(&p.services, &seller, &number, &items, reason, once.as_ref()).await
    {
        // Post, redirect, get: the invoice's page names the credit note; reloading it issues
        // nothing, and sending the form again finds the first credit note.
        Ok(issued) => {
            let not_mailed = if issued.not_mailed.is_some() { "&non_envoye=1" } else { "" };
            let to = format!(
                "/espace/factures/{}?avoir={}{not_mailed}",
                super::urlencode(number.as_str()),
                super::urlencode(issued.credit_note.as_str())
            );
            Redirect::to(&to).into_response()
        }
        Err(PortalError::Invalid(_)) => error(text(page.lang, "credit_reason_required").to_owned()).await,
        Err(PortalError::Credit(why)) => {
            error(format!("{} {}", text(page.lang, "credit_refused"), credit_refusal(page.lang, &why))).await
        }
        Err(e) => error(failure(&page, &e)).await,
    }
}

/// Why a credit note was not made, in the page's language with the figures it names.
pub(super) fn credit_refusal(lang: super::Lang, why: &marketbill_domain::credit::CreditError) -> String {
    use marketbill_domain::credit::CreditError as E;
    let euros = |d: &rust_decimal::Decimal| format_euros_fr(*d);
    let units = |d: &rust_decimal::Decimal| d.normalize().to_string().replace('.', ",");
    let t = |key: &str| text(lang, key).to_owned();
    match why {
        E::NotAnInvoice(_) => t("credit_err_not_an_invoice"),
        E::NoSuchLine(line) => t("credit_err_no_such_line").replace("{line}", &line.to_string()),
        E::WrongKind { line, .. } => t("credit_err_wrong_kind").replace("{line}", &line.to_string()),
        E::NotPositive { .. } => t("credit_err_not_positive"),
        E::LineExceeded { line, remaining, asked } => t("credit_err_line_exceeded")
            .replace("{line}", &line.to_string())
            .replace("{remaining}", &euros(remaining))
            .replace("{asked}", &euros(asked)),
        E::TooManyUnits { line, quantity, invoiced } => t("credit_err_too_many_units")
            .replace("{line}", &line.to_string())
            .replace("{quantity}", &units(quantity))
            .replace("{invoiced}", &units(invoiced)),
        E::NoSuchRate(rate) => t("credit_err_no_such_rate").replace("{rate}", rate),
        E::RateExceeded { rate, remaining, asked } => t("credit_err_rate_exceeded")
            .replace("{rate}", rate)
            .replace("{remaining}", &euros(remaining))
            .replace("{asked}", &euros(asked)),
        E::NothingLeft => t("credit_err_nothing_left"),
        E::Empty => t("credit_err_empty"),
    }
}

#[derive(serde::Deserialize)]
pub(super) struct JournalQuery {
    #[serde(default)]
    du: String,
    #[serde(default)]
    au: String,
    #[serde(default)]
    format: String,
}

/// The sales journal of a period (FEC or CSV), downloaded from the export page.
pub(super) async fn journal(
    page: Page,
    State(p): State<Arc<Portal>>,
    axum::extract::Query(q): axum::extract::Query<JournalQuery>,
) -> Response {
    let Some(seller) = page.seller.clone() else { return to_sign_in() };
    let (Ok(Some(from)), Ok(Some(to))) = (parse_day(&q.du), parse_day(&q.au)) else {
        let error = text(page.lang, "export_bad_period").to_owned();
        return render(&page, StatusCode::BAD_REQUEST, "export.html", context! { error, du => q.du, au => q.au });
    };
    match p.services.documents().journal_file(&p.services.settings.accounts, &seller, &q.format, from, to).await {
        Ok(file) => crate::journal_response(file),
        Err(e) => {
            // In the page's language: which part of the request was refused.
            let why = match &e {
                PortalError::Invalid(fields) if fields.contains_key("format") => {
                    text(page.lang, "journal_bad_format").to_owned()
                }
                PortalError::Invalid(fields) if fields.contains_key("to") => {
                    text(page.lang, "journal_bad_period").to_owned()
                }
                other => failure(&page, other),
            };
            let error = format!("{} : {why}", text(page.lang, "journal_refused"));
            render(&page, StatusCode::BAD_REQUEST, "export.html", context! { error, du => q.du, au => q.au })
        }
    }
}
