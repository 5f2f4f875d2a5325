//! The dashboard: this month at a glance, the next run and « Lancer maintenant », the steps of
//! a new account.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use marketbill_app::portal::PortalError;
use marketbill_domain::calendar::iso_date;
use marketbill_domain::fees::PlanKind;
use marketbill_domain::money::format_euros_fr;
use minijinja::{Value, context};

use super::texts::text;
use super::*;
use crate::Portal;

/// Invoices per day as bars, drawn here (numbers only, no text from outside).
/// The chart's text alternative: what a reader of the bars would take from them.
pub(super) fn chart_summary(lang: Lang, per_day: &[u64]) -> String {
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

pub(super) fn chart(lang: Lang, per_day: &[u64]) -> String {
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
pub(super) struct DashboardQuery {
    /// What « Lancer maintenant » did: `lance`, `deja`.
    #[serde(default)]
    passage: String,
}

pub(super) async fn dashboard(page: Page, State(p): State<Arc<Portal>>, Query(q): Query<DashboardQuery>) -> Response {
    let message = match q.passage.as_str() {
        "lance" => Some(text(page.lang, "run_queued")),
        "deja" => Some(text(page.lang, "run_already_queued")),
        _ => None,
    };
    dashboard_page(page, &p, message, None).await
}

/// « Lancer maintenant »: the seller's run, queued; post, redirect, get.
pub(super) async fn run_now(State(p): State<Arc<Portal>>, post: SellerPost) -> Response {
    let SellerPost { page, seller, .. } = post;
    match marketbill_app::schedule::run_now(
        p.services.ledger.as_ref(),
        p.services.queue.as_ref(),
        p.services.clock.as_ref(),
        &seller,
    )
    .await
    {
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

pub(super) async fn dashboard_page(page: Page, p: &Portal, message: Option<&str>, error: Option<String>) -> Response {
    let Some(seller) = page.seller.clone() else { return to_sign_in() };
    match p.services.metering().dashboard(&seller, &p.plans).await {
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
            let month_start = iso_date(marketbill_domain::calendar::YearMonth::of(today).first_day());
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
