//! E-reporting of the French e-invoicing reform, flow 10 (FRR) on the DGFiP's official
//! structure (XSD v3.2, `ereporting.xsd`, root `<Report>`, no namespace): for a seller and a
//! period of its VAT regime, the transaction data its approved platform (PA) transmits —
//! international B2B invoice by invoice (10.1), sales to consumers aggregated per day,
//! currency and category with one subtotal per rate (10.3).
//!
//! Where each document goes is decided once, by [`marketbill_domain::reporting::placement`];
//! this module lays the documents of a period out accordingly and accounts for every one of
//! them (the e-invoice flow, 10.1, 10.3, or out of scope with its reason). What is read from
//! the specification and what is assumed is in `docs/reference/e-reporting.md`.

use std::collections::BTreeMap;

use marketbill_documents::xml::Xml;
use marketbill_domain::calendar::{compact_date, iso_date, paris_date};
use marketbill_domain::invoice::{InvoiceLine, LineKind};
use marketbill_domain::money::{VatRate, format_amount};
use marketbill_domain::reporting::{Placement, ReportingPeriod, TransactionCategory, placement};
use marketbill_domain::seller::SellerProfile;
use marketbill_domain::{DocumentKind, Invoice};
use rust_decimal::Decimal;
use serde::Serialize;
use time::OffsetDateTime;

use crate::model::InvoiceRecord;

/// The approved platform that transmits the report (the flow's `Sender`: its four-character
/// registration number, scheme 0238, role WK).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportSender {
    pub id: String,
    pub name: String,
}

/// The `Sender` written when the seller has not chosen a platform yet: a registration number no
/// platform has, so the file cannot pass for one a platform made; the JSON says it is missing.
const NO_PLATFORM: &str = "0000";

/// What a report is asked for.
pub struct ReportRequest<'a> {
    pub profile: &'a SellerProfile,
    pub period: ReportingPeriod,
    /// Every document the seller issued in the period (others are ignored).
    pub records: &'a [InvoiceRecord],
    pub sender: Option<&'a ReportSender>,
    /// 1 for the initial report of the period (`IN`), 2 and more for the ones that replace it
    /// (`RE`).
    pub version: u32,
    pub created_at: OffsetDateTime,
}

/// A VAT subtotal of an invoice reported in 10.1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceSubtotal {
    pub taxable_amount: Decimal,
    pub tax_amount: Decimal,
    /// UNTDID 5305 (S, E, AE, K…).
    pub category_code: String,
    pub rate: VatRate,
    pub exemption_reason: Option<String>,
    pub exemption_code: Option<String>,
}

/// One invoice or credit note of flow 10.1 (international B2B).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportedInvoice {
    pub number: String,
    pub issue_date: String,
    /// UNTDID 1001: 380 invoice, 381 credit note.
    pub type_code: &'static str,
    pub currency: String,
    /// The billing mode (cadre de facturation): B1 goods, S1 services.
    pub business_process: &'static str,
    /// The invoice a credit note corrects, and its date.
    pub referenced: Option<(String, String)>,
    pub seller_siren: String,
    pub seller_vat_number: Option<String>,
    pub seller_country: String,
    /// The buyer's VAT number (its identifier, scheme 0223 within the EU, 0227 outside).
    pub buyer_id: String,
    pub buyer_scheme: &'static str,
    pub buyer_vat_number: Option<String>,
    pub buyer_country: String,
    pub delivery_date: String,
    pub delivery_country: String,
    pub tax_exclusive_amount: Decimal,
    pub tax_amount: Decimal,
    pub subtotals: Vec<InvoiceSubtotal>,
}

/// The VAT of one rate within a day's aggregate (10.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaxSubtotal {
    pub rate: VatRate,
    pub taxable_amount: Decimal,
    pub tax_amount: Decimal,
}

/// The transactions of one day, one currency and one category (10.3). Credit notes count on
/// the day they are issued, with their amounts taken off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DailyTransactions {
    pub date: String,
    pub currency: String,
    pub category: TransactionCategory,
    /// Invoices and credit notes of the aggregate.
    pub invoices: u64,
    pub credit_notes: u64,
    pub tax_exclusive_amount: Decimal,
    pub tax_amount: Decimal,
    pub subtotals: Vec<TaxSubtotal>,
}

/// Where one document of the period went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacedDocument {
    pub number: String,
    pub issue_date: String,
    pub credit_note: bool,
    #[serde(flatten)]
    pub placement: Placement,
}

/// A seller's e-reporting of one period: what flow 10 carries, and where every document of
/// the period went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EReport {
    /// TT-1: unique per period and declarant (rule G8.05).
    pub report_id: String,
    /// TT-4: `IN` (initial) or `RE` (replaces the period's earlier report).
    pub type_code: &'static str,
    /// TT-3, AAAAMMJJHHMMSS (Paris time).
    pub issued_at: String,
    pub sender: ReportSender,
    /// Whether the seller chose its platform (else the sender is a placeholder, `0000`).
    pub sender_configured: bool,
    /// The declarant's SIREN (G6.26); `None` for a seller with nothing to report under it.
    pub declarant_siren: Option<String>,
    pub declarant_name: String,
    pub period: String,
    pub period_start: String,
    pub period_end: String,
    /// Flow 10.1.
    pub invoices: Vec<ReportedInvoice>,
    /// Flow 10.3.
    pub transactions: Vec<DailyTransactions>,
    /// Every document of the period, once.
    pub documents: Vec<PlacedDocument>,
}

impl EReport {
    /// Whether flow 10 carries anything (a period without a reported sale needs no report:
    /// there is no "e-reporting à blanc", general specification §2.3.3).
    pub fn is_empty(&self) -> bool {
        self.invoices.is_empty() && self.transactions.is_empty()
    }
}

/// Why a report cannot be written as a flow-10 file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error(
        "the seller has no SIREN to report under (not established nor identified for VAT in France): \
         none of its sales is its own to e-report in France"
    )]
    NoDeclarant,
}

fn compact_iso(iso: &str) -> String {
    iso.replace('-', "")
}

/// The billing mode of a document: services (Marketbill's own fee) or goods.
fn business_process(doc: &Invoice) -> &'static str {
    if doc.body.lines.iter().all(|l: &InvoiceLine| l.kind == LineKind::Service) { "S1" } else { "B1" }
}

fn reported_invoice(profile: &SellerProfile, siren: &str, doc: &Invoice) -> ReportedInvoice {
    let b = &doc.body;
    let buyer_vat = b.buyer.vat_number.as_ref().map(|v| v.to_string());
    let buyer_in_eu = b.buyer.vat_number.as_ref().and_then(|v| v.country()).unwrap_or(b.buyer.address.country).is_eu();
    ReportedInvoice {
        number: doc.number.to_string(),
        issue_date: iso_date(doc.issue_date),
        type_code: doc.kind.type_code(),
        currency: b.currency.clone(),
        business_process: business_process(doc),
        referenced: match &doc.kind {
            DocumentKind::CreditNote { corrects } => Some((corrects.number.to_string(), iso_date(corrects.issue_date))),
            DocumentKind::Invoice => None,
        },
        seller_siren: siren.to_owned(),
        seller_vat_number: b.seller.vat_number.as_ref().or(profile.vat_number.as_ref()).map(|v| v.to_string()),
        seller_country: b.seller.address.country.to_string(),
        buyer_id: buyer_vat.clone().unwrap_or_default(),
        buyer_scheme: if buyer_in_eu { "0223" } else { "0227" },
        buyer_vat_number: buyer_vat.filter(|_| buyer_in_eu),
        buyer_country: b.buyer.address.country.to_string(),
        delivery_date: iso_date(b.delivery_date),
        delivery_country: b.delivery.as_ref().map_or(b.buyer.address.country, |d| d.address.country).to_string(),
        tax_exclusive_amount: b.totals.tax_exclusive,
        tax_amount: b.totals.vat_total,
        subtotals: b
            .vat_breakdown
            .iter()
            .map(|v| InvoiceSubtotal {
                taxable_amount: v.taxable_amount,
                tax_amount: v.vat_amount,
                category_code: v.category.code().to_owned(),
                rate: v.rate,
                exemption_reason: v.exemption_text.clone(),
                exemption_code: v.exemption_code.clone(),
            })
            .collect(),
    }
}

type DayKey = (time::Date, String, TransactionCategory);

/// The e-reporting of a period: every document of the period placed (once), the 10.1 invoices
/// and the 10.3 aggregates.
pub fn report(req: &ReportRequest<'_>) -> EReport {
    let profile = req.profile;
    let siren = profile.declarant_siren();
    let mut documents = Vec::new();
    let mut invoices = Vec::new();
    let mut days: BTreeMap<DayKey, DailyTransactions> = BTreeMap::new();
    let mut rates: BTreeMap<(DayKey, VatRate), (Decimal, Decimal)> = BTreeMap::new();
    let mut in_period: Vec<&InvoiceRecord> =
        req.records.iter().filter(|r| req.period.contains(r.invoice.issue_date)).collect();
    in_period.sort_by(|a, b| {
        (a.invoice.issue_date, a.invoice.number.as_str()).cmp(&(b.invoice.issue_date, b.invoice.number.as_str()))
    });
    for rec in in_period {
        let doc = &rec.invoice;
        let placed = placement(profile, doc);
        let credit = doc.kind.is_credit_note();
        documents.push(PlacedDocument {
            number: doc.number.to_string(),
            issue_date: iso_date(doc.issue_date),
            credit_note: credit,
            placement: placed,
        });
        match (placed, siren.as_deref()) {
            (Placement::InvoiceReport, Some(siren)) => invoices.push(reported_invoice(profile, siren, doc)),
            (Placement::Aggregated { category, .. }, Some(_)) => {
                let sign = if credit { -Decimal::ONE } else { Decimal::ONE };
                let key = (doc.issue_date, doc.body.currency.clone(), category);
                let day = days.entry(key.clone()).or_insert_with(|| DailyTransactions {
                    date: iso_date(doc.issue_date),
                    currency: doc.body.currency.clone(),
                    category,
                    invoices: 0,
                    credit_notes: 0,
                    tax_exclusive_amount: Decimal::ZERO,
                    tax_amount: Decimal::ZERO,
                    subtotals: Vec::new(),
                });
                if credit {
                    day.credit_notes += 1;
                } else {
                    day.invoices += 1;
                }
                // Operations not subject to French VAT carry none in the report: their base at
                // rate 0 (general specification §2.3.3, VAT other than French).
                let french_vat = category != TransactionCategory::Tnt1;
                for v in &doc.body.vat_breakdown {
                    let (rate, vat) = if french_vat { (v.rate, v.vat_amount) } else { (VatRate::ZERO, Decimal::ZERO) };
                    let e = rates.entry((key.clone(), rate)).or_default();
                    e.0 += sign * v.taxable_amount;
                    e.1 += sign * vat;
                    day.tax_exclusive_amount += sign * v.taxable_amount;
                    day.tax_amount += sign * vat;
                }
            }
            _ => {}
        }
    }
    for ((key, rate), (taxable_amount, tax_amount)) in rates {
        if let Some(day) = days.get_mut(&key) {
            day.subtotals.push(TaxSubtotal { rate, taxable_amount, tax_amount });
        }
    }
    let (start, end) = (compact_date(req.period.start), compact_date(req.period.end));
    let version = req.version.max(1);
    let who = siren.clone().unwrap_or_else(|| "000000000".into());
    let stamp = req.created_at.to_offset(marketbill_domain::calendar::paris_offset(req.created_at));
    let sender = req.sender.cloned();
    EReport {
        report_id: format!("MB-{who}-{start}-{end}-{version}"),
        type_code: if version == 1 { "IN" } else { "RE" },
        issued_at: format!(
            "{}{:02}{:02}{:02}",
            compact_date(paris_date(req.created_at)),
            stamp.hour(),
            stamp.minute(),
            stamp.second()
        ),
        sender_configured: sender.is_some(),
        sender: sender
            .unwrap_or_else(|| ReportSender { id: NO_PLATFORM.into(), name: "Plateforme agréée à choisir".into() }),
        declarant_siren: siren,
        declarant_name: profile.legal_name.clone(),
        period: req.period.label(),
        period_start: iso_date(req.period.start),
        period_end: iso_date(req.period.end),
        invoices,
        transactions: days.into_values().collect(),
        documents,
    }
}

/// The report as a flow-10 file (`<Report>`, the XSD's order and names).
pub fn to_xml(r: &EReport) -> Result<Vec<u8>, ReportError> {
    let siren = r.declarant_siren.as_deref().ok_or(ReportError::NoDeclarant)?;
    let mut x = Xml::new(2048 + r.transactions.len() * 600 + r.invoices.len() * 1500);
    x.open("Report");
    x.open("ReportDocument")
        .leaf("Id", &r.report_id)
        .leaf("Name", &format!("E-reporting {}", r.period))
        .open("IssueDateTime")
        .leaf("DateTimeString", &r.issued_at)
        .close()
        .leaf("TypeCode", r.type_code)
        .open("Sender")
        .leaf_with("Id", &[("schemeId", "0238")], &r.sender.id)
        .leaf("Name", &r.sender.name)
        .leaf("RoleCode", "WK")
        .close()
        .open("Issuer")
        .leaf_with("Id", &[("schemeId", "0002")], siren)
        .leaf("Name", &r.declarant_name)
        .leaf("RoleCode", "SE")
        .close()
        .close();
    x.open("TransactionsReport");
    x.open("ReportPeriod")
        .leaf("StartDate", &compact_iso(&r.period_start))
        .leaf("EndDate", &compact_iso(&r.period_end))
        .close();
    for inv in &r.invoices {
        invoice_xml(&mut x, inv);
    }
    for t in &r.transactions {
        x.open("Transactions")
            .leaf("Date", &compact_iso(&t.date))
            .leaf("TransactionsCurrency", &t.currency)
            .leaf("CategoryCode", t.category.code())
            .leaf("TaxExclusiveAmount", &format_amount(t.tax_exclusive_amount))
            .leaf("TaxTotal", &format_amount(t.tax_amount))
            .leaf("TransactionsCount", &(t.invoices + t.credit_notes).to_string());
        for s in &t.subtotals {
            x.open("TaxSubtotal")
                .leaf("TaxPercent", &s.rate.percent().normalize().to_string())
                .leaf("TaxableAmount", &format_amount(s.taxable_amount))
                .leaf("TaxTotal", &format_amount(s.tax_amount))
                .close();
        }
        x.close();
    }
    x.close();
    x.close();
    Ok(x.finish())
}

/// One 10.1 `Invoice`, in the XSD's order.
fn invoice_xml(x: &mut Xml, inv: &ReportedInvoice) {
    x.open("Invoice")
        .leaf("ID", &inv.number)
        .leaf("IssueDate", &compact_iso(&inv.issue_date))
        .leaf("TypeCode", inv.type_code)
        .leaf("CurrencyCode", &inv.currency)
        .open("BusinessProcess")
        .leaf("ID", inv.business_process)
        .leaf("TypeID", "urn.cpro.gouv.fr:1p0:ereporting")
        .close();
    if let Some((number, date)) = &inv.referenced {
        x.open("ReferencedDocument").leaf("ID", number).leaf("IssueDate", &compact_iso(date)).close();
    }
    x.open("Seller").leaf_with("CompanyId", &[("schemeId", "0002")], &inv.seller_siren);
    if let Some(vat) = &inv.seller_vat_number {
        x.leaf_with("TaxRegistrationId", &[("qualifyingId", "VAT")], vat);
    }
    x.open("PostalAddress").leaf("CountryId", &inv.seller_country).close().close();
    x.open("Buyer").leaf_with("CompanyId", &[("schemeId", inv.buyer_scheme)], &inv.buyer_id);
    if let Some(vat) = &inv.buyer_vat_number {
        x.leaf_with("TaxRegistrationId", &[("qualifyingId", "VAT")], vat);
    }
    x.open("PostalAddress").leaf("CountryId", &inv.buyer_country).close().close();
    x.open("Delivery")
        .leaf("Date", &compact_iso(&inv.delivery_date))
        .open("Location")
        .leaf("CountryId", &inv.delivery_country)
        .close()
        .close();
    x.open("MonetaryTotal")
        .leaf("TaxExclusiveAmount", &format_amount(inv.tax_exclusive_amount))
        .leaf_with("TaxAmount", &[("CurrencyCode", "EUR")], &format_amount(inv.tax_amount))
        .close();
    for s in &inv.subtotals {
        x.open("TaxSubTotal")
            .leaf("TaxableAmount", &format_amount(s.taxable_amount))
            .leaf("TaxAmount", &format_amount(s.tax_amount))
            .open("TaxCategory")
            .leaf("Code", &s.category_code)
            .leaf("Percent", &s.rate.percent().normalize().to_string())
            .leaf_opt("TaxExemptionReason", s.exemption_reason.as_deref())
            .leaf_opt("TaxExemptionReasonCode", s.exemption_code.as_deref())
            .close()
            .close();
    }
    x.close();
}
