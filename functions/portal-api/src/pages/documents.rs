//! The documents: the list (search, sort, pages, selection), one document's page (its way,
//! its links, its files, its credit notes, its correction after a refusal).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use marketbill_app::model::{InvoiceQuery, InvoiceRecord, SellerId};
use marketbill_app::portal::PortalError;
use marketbill_domain::InvoiceNumber;
use marketbill_domain::money::format_euros_fr;
use minijinja::{Value, context};
use serde_json::json;

use super::buyer::{OrderFields, billing_body, billing_values, buyer_form};
use super::texts::text;
use super::*;
use crate::{Portal, check_billing};

#[derive(serde::Deserialize, serde::Serialize, Default, Clone)]
pub(super) struct ListQuery {
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

/// Where a document stands at the platform, as the list filters it.
pub(super) fn platform_key(t: Option<&marketbill_app::model::TransmissionRecord>) -> &'static str {
    use marketbill_app::model::TransmissionState;
    match t.map(|t| t.state) {
        None => "non-transmise",
        Some(TransmissionState::Accepted) => "acceptee",
        Some(TransmissionState::Rejected) => "rejetee",
        Some(TransmissionState::Submitting | TransmissionState::Submitted | TransmissionState::Held) => "en-attente",
    }
}

pub(super) fn row(
    page: &Page,
    r: &InvoiceRecord,
    t: Option<&marketbill_app::model::TransmissionRecord>,
) -> serde_json::Value {
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
pub(super) fn signed_total(r: &InvoiceRecord) -> String {
    let total = r.invoice.body.totals.tax_inclusive;
    if r.invoice.kind.is_credit_note() { format!("−{}", format_euros_fr(total)) } else { format_euros_fr(total) }
}

/// Documents shown on one page of the list.
pub(super) const PER_PAGE: usize = 50;

pub(super) async fn invoices(page: Page, State(p): State<Arc<Portal>>, Query(q): Query<ListQuery>) -> Response {
    invoices_page(page, &p, q, None).await
}

pub(super) async fn invoices_page(page: Page, p: &Portal, q: ListQuery, error: Option<String>) -> Response {
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
        match p.services.platform_setup().transmissions(&seller).await {
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
    match p.services.documents().find(&seller, &search).await {
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
pub(super) fn error_status(ctx: &Value) -> bool {
    ctx.get_attr("error").is_ok_and(|e| !e.is_none() && !e.is_undefined())
}

/// « Télécharger la sélection »: the chosen documents as one archive, behind a short link.
pub(super) async fn selection(State(p): State<Arc<Portal>>, post: SellerPost) -> Response {
    let SellerPost { page, seller, values } = post;
    // One box per row, named after its document (`n-ML2026-000001`).
    let numbers: Vec<InvoiceNumber> =
        values.keys().filter_map(|k| k.strip_prefix("n-")).filter_map(|n| n.parse().ok()).collect();
    match p.services.documents().selection(&seller, &numbers).await {
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
pub(super) async fn pdf(page: Page, State(p): State<Arc<Portal>>, Path(number): Path<String>) -> Response {
    let Some(seller) = page.seller.clone() else { return to_sign_in() };
    let Ok(number) = number.parse::<InvoiceNumber>() else { return not_found(&page) };
    match p.services.documents().pdf_link(&seller, &number).await {
        Ok(link) => Redirect::to(&link.url).into_response(),
        Err(PortalError::NotFound) => not_found(&page),
        Err(e) => message_page(&page, StatusCode::SERVICE_UNAVAILABLE, failure(&page, &e)),
    }
}

/// One document's page, with short-lived links to its files.
/// The correction form of a refused invoice as typed (its values and the errors per field),
/// shown again when it was refused.
pub(super) type Typed<'a> = Option<(&'a BTreeMap<String, String>, &'a BTreeMap<String, Vec<String>>)>;

pub(super) async fn invoice_page(
    page: &Page,
    p: &Portal,
    seller: &SellerId,
    number: &InvoiceNumber,
    message: Option<String>,
    error: Option<String>,
    typed: Typed<'_>,
) -> Response {
    match p.services.documents().invoice(seller, number).await {
        Ok(links) => {
            let r = &links.record;
            // An invoice its platform rejected or its buyer refused, still its order's current
            // one: the form that issues it again, with the buyer as invoiced.
            // Its flow at the approved platform, read once: the page's last step, and the
            // refusal the reissue form answers.
            let flow = match p.services.platform_setup().transmission(seller, number).await {
                Ok(flow) => flow,
                Err(e) => {
                    tracing::warn!(error = %e, "the document's flow not read for its page");
                    None
                }
            };
            let refusal = flow.clone().filter(|t| t.state == marketbill_app::model::TransmissionState::Rejected);
            let order = p.services.ledger.get_order(seller, &r.order_id).await.ok().flatten();
            let current = order.as_ref().is_some_and(|o| o.number.as_ref() == Some(number));
            let way = document_way(page, r, order.as_ref().filter(|_| current), flow);
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
            let creditable = marketbill_app::credit_notes::creditable(p.services.ledger.as_ref(), seller, number)
                .await
                .unwrap_or_default();
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

/// What became of a document, step by step, in the page's language: issued, mailed to the
/// buyer (or why not), attached to the Cdiscount order and what Cdiscount said, and where it
/// stands at the approved platform.
pub(super) fn document_way(
    page: &Page,
    r: &InvoiceRecord,
    order: Option<&marketbill_app::model::OrderRecord>,
    flow: Option<marketbill_app::model::TransmissionRecord>,
) -> Vec<String> {
    use marketbill_app::model::OrderStage;
    let t = |key: &str| text(page.lang, key).to_owned();
    let issued = if r.invoice.kind.is_credit_note() { "way_cn_issued" } else { "way_issued" };
    let mut way = vec![t(issued).replace("{date}", &date(page, r.invoice.issue_date))];
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
    // A credit note's own steps (an invoice's are its order's).
    if let Some(steps) = &r.steps {
        use marketbill_app::model::{Attach, MailOutcome};
        way.push(t(match &steps.mail {
            Some(MailOutcome::Sent { .. }) => "way_cn_mailed",
            Some(MailOutcome::Refused { .. }) => "way_cn_not_mailed",
            None => "way_cn_pending",
        }));
        if steps.attach == Attach::Done {
            way.push(t("way_cn_attached"));
        }
    }
    if let Some(f) = flow {
        way.push(format!("{} : {}", t("platform_standing"), platform::standing(page.lang, &f)));
    }
    way
}

/// The documents linked to this one: the invoice a credit note corrects, the credit notes of
/// an invoice, the invoice a corrected one replaces and the one that replaced it.
pub(super) async fn related(page: &Page, p: &Portal, seller: &SellerId, r: &InvoiceRecord) -> Vec<serde_json::Value> {
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

/// What a form of the invoice's page did, said by the page it redirects to (post, redirect,
/// get: a reload of that page sends nothing again).
#[derive(serde::Deserialize, Default)]
pub(super) struct InvoiceQueryString {
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

pub(super) async fn invoice(
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
pub(super) async fn reissue(State(p): State<Arc<Portal>>, Path(number): Path<String>, post: SellerPost) -> Response {
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

pub(super) async fn resend(State(p): State<Arc<Portal>>, Path(number): Path<String>, post: SellerPost) -> Response {
    let SellerPost { page, seller, values } = post;
    let Ok(number) = number.parse::<InvoiceNumber>() else { return not_found(&page) };
    let once = form_once(&format!("resend {number}"), &values);
    match marketbill_app::problems::resend(&p.services, &seller, &number, once.as_ref()).await {
        Ok(_) => Redirect::to(&format!("/espace/factures/{}?renvoye=1", urlencode(number.as_str()))).into_response(),
        Err(e) => invoice_page(&page, &p, &seller, &number, None, Some(failure(&page, &e)), None).await,
    }
}
