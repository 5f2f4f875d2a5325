//! The buyer's page (no account): from the invoice mail's link, or proving the order by its
//! delivery; the billing fields also serve the seller's correction.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use marketbill_app::buyer_requests::BuyerRequestOutcome;
use marketbill_app::portal::PortalError;
use marketbill_domain::InvoiceNumber;
use marketbill_domain::buyer::BuyerKind;
use minijinja::context;
use serde_json::json;

use super::texts::text;
use super::*;
use crate::{AddressBody, BillingBody, InvoiceRequestBody, Portal, check_invoice_request};

/// The billing fields of a form (the buyer's, the seller's correction) as the API takes them.
pub(super) fn billing_body(values: &BTreeMap<String, String>) -> BillingBody {
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
pub(super) fn billing_values(b: &marketbill_domain::BuyerBillingData) -> BTreeMap<String, String> {
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
pub(super) const ORDER_FIELDS: [(&str, &str, &str, bool); 3] = [
    ("orderId", "orderId", "off", false),
    ("deliveryPostalCode", "deliveryPostalCode", "off", false),
    ("deliveryName", "deliveryName", "off", false),
];
pub(super) const BILLING_FIELDS: [(&str, &str, &str, bool); 7] = [
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
pub(super) enum OrderFields {
    Asked,
    Linked,
    Known,
}

pub(super) fn buyer_form(
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
pub(super) struct ThanksQuery {
    #[serde(default)]
    suite: String,
    #[serde(default)]
    facture: String,
    #[serde(default)]
    avoir: String,
}

/// The buyer's confirmation (after the redirect): what arrives by e-mail.
pub(super) async fn buyer_thanks(page: Page, Query(q): Query<ThanksQuery>) -> Response {
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
pub(super) struct BuyerLinkQuery {
    #[serde(default)]
    commande: String,
    #[serde(default)]
    cle: String,
}

/// The buyer's page; from the invoice mail's link, with the order already known.
pub(super) async fn buyer_page(page: Page, State(p): State<Arc<Portal>>, Query(q): Query<BuyerLinkQuery>) -> Response {
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
pub(super) async fn buyer_post(State(p): State<Arc<Portal>>, Posted { page, values }: Posted) -> Response {
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
