//! E-reporting data of the French e-invoicing reform (flow 10 of the DGFiP's external
//! specifications): for a seller and a period of its VAT regime, the transaction data its
//! approved platform (PA) transmits — sales to consumers (B2C) and to businesses not
//! established in France, aggregated per day, per category of operation and per VAT rate,
//! with counts, bases and VAT, credit notes netted on the day they are issued.
//!
//! What is read from the specification and what is assumed is written down in
//! `docs/reference/e-reporting.md`; the XML follows the structure described there and the
//! JSON says the same thing with the same names.

use std::collections::BTreeMap;

use marketbill_documents::xml::Xml;
use marketbill_domain::buyer::BuyerKind;
use marketbill_domain::calendar::{compact_date, iso_date};
use marketbill_domain::money::{VatRate, format_amount};
use marketbill_domain::regime::VatRegime;
use marketbill_domain::seller::SellerProfile;
use marketbill_domain::{CountryCode, Invoice};
use rust_decimal::Decimal;
use serde::Serialize;
use time::{Date, Month};

use crate::model::InvoiceRecord;

/// A reporting period: a ten-day period (sellers filing VAT monthly under the normal regime
/// report three times a month), a month (simplified regime) or two months (VAT franchise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: Date,
    pub end: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error(
        "a period is YYYY-MM (a month), YYYY-MM-D1, -D2 or -D3 (the ten-day periods of a month) or \
         YYYY-MM+1 (two months from that month); got {0:?}"
    )]
    Form(String),
}

impl Period {
    /// Reads `2026-11`, `2026-11-D2` or `2026-11+1`.
    pub fn parse(text: &str) -> Result<Period, PeriodError> {
        let bad = || PeriodError::Form(text.chars().take(40).collect());
        let (month, rest) = match text.get(..7) {
            Some(m) => (m, &text[7..]),
            None => return Err(bad()),
        };
        let (y, m) = month.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month = m.parse::<u8>().ok().and_then(|m| Month::try_from(m).ok()).ok_or_else(bad)?;
        let first = Date::from_calendar_date(year, month, 1).map_err(|_| bad())?;
        let last_of = |y: i32, m: Month| Date::from_calendar_date(y, m, m.length(y)).map_err(|_| bad());
        let day = |d: u8| Date::from_calendar_date(year, month, d).map_err(|_| bad());
        match rest {
            "" => Ok(Period { start: first, end: last_of(year, month)? }),
            "-D1" | "-d1" => Ok(Period { start: first, end: day(10)? }),
            "-D2" | "-d2" => Ok(Period { start: day(11)?, end: day(20)? }),
            "-D3" | "-d3" => Ok(Period { start: day(21)?, end: last_of(year, month)? }),
            "+1" => {
                let next_year = if month == Month::December { year + 1 } else { year };
                Ok(Period { start: first, end: last_of(next_year, month.next())? })
            }
            _ => Err(bad()),
        }
    }
}

/// Who the buyer is, for the reform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BuyerScope {
    /// A consumer or another person not liable to VAT (flow 10.3).
    B2c,
    /// A business not established in France (international B2B).
    B2bInternational,
}

impl BuyerScope {
    fn code(self) -> &'static str {
        match self {
            BuyerScope::B2c => "B2C",
            BuyerScope::B2bInternational => "B2BINT",
        }
    }
}

/// Why a document of the period is not in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Left {
    /// A sale to a business established in France: e-invoiced, not e-reported.
    EInvoiced,
    /// A sale not located in France (an intra-EU supply, or a distance sale taxed in the
    /// seller's member state) by a seller not established in France: outside French VAT, so
    /// outside French reporting.
    NotInFrance,
}

/// The category of operation (the specification's codes).
fn category(regime: VatRegime) -> &'static str {
    match regime {
        // Deliveries of goods located in France, taxed there (or under the franchise).
        VatRegime::FrenchVat | VatRegime::Oss | VatRegime::ReverseCharge | VatRegime::Franchise => "TLB1",
        // Deliveries not subject to French VAT: intra-EU supplies, and distance sales under the
        // EU threshold taxed in the seller's member state.
        VatRegime::IntraEuExempt | VatRegime::HomeCountry { .. } => "TNT1",
    }
}

/// Where a document belongs: in the report (with its scope) or left out (and why).
fn scope(inv: &Invoice, seller_in_france: bool) -> Result<BuyerScope, Left> {
    let located_elsewhere = matches!(inv.body.regime, VatRegime::IntraEuExempt | VatRegime::HomeCountry { .. });
    if !seller_in_france && located_elsewhere {
        return Err(Left::NotInFrance);
    }
    let buyer = &inv.body.buyer;
    if buyer.kind == BuyerKind::Individual {
        return Ok(BuyerScope::B2c);
    }
    let vat_country = buyer.vat_number.as_ref().and_then(|v| v.country());
    let established_in_france = buyer.known_siren().is_some()
        || vat_country.is_some_and(CountryCode::is_france)
        || (vat_country.is_none() && buyer.address.country.is_france());
    if established_in_france { Err(Left::EInvoiced) } else { Ok(BuyerScope::B2bInternational) }
}

/// The VAT of one rate within a day's aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaxSubtotal {
    /// EN 16931 VAT category code (S, E, AE, K).
    pub category_code: String,
    pub rate: VatRate,
    pub taxable_amount: Decimal,
    pub tax_amount: Decimal,
}

/// The transactions of one day, one scope and one category of operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DailyTransactions {
    pub date: String,
    pub buyer_scope: BuyerScope,
    pub category_code: &'static str,
    pub currency: &'static str,
    /// Invoices of the day.
    pub invoices: u64,
    /// Credit notes of the day, netted in the amounts below.
    pub credit_notes: u64,
    pub tax_exclusive_amount: Decimal,
    pub tax_amount: Decimal,
    pub subtotals: Vec<TaxSubtotal>,
}

/// The documents of the period the report does not carry, by reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeftOut {
    pub reason: Left,
    pub documents: u64,
}

/// The transaction report of a seller for a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionReport {
    /// The flow and its version as we read them (`docs/reference/e-reporting.md`).
    pub flow: &'static str,
    pub report_id: String,
    pub seller_name: String,
    pub seller_siren: Option<String>,
    pub seller_vat_number: Option<String>,
    pub seller_established_in_france: bool,
    pub period_start: String,
    pub period_end: String,
    pub transactions: Vec<DailyTransactions>,
    pub left_out: Vec<LeftOut>,
}

type Key = (Date, BuyerScope, &'static str);

/// Aggregates the documents (invoices and credit notes issued in the period) of a seller.
pub fn transaction_report(
    seller_id: &str,
    profile: &SellerProfile,
    period: Period,
    records: &[InvoiceRecord],
) -> TransactionReport {
    let in_france = profile.address.country_code.is_france();
    let mut days: BTreeMap<Key, DailyTransactions> = BTreeMap::new();
    let mut rates: BTreeMap<(Key, String, VatRate), (Decimal, Decimal)> = BTreeMap::new();
    let mut left: BTreeMap<Left, u64> = BTreeMap::new();
    for rec in records {
        let inv = &rec.invoice;
        if inv.issue_date < period.start || inv.issue_date > period.end {
            continue;
        }
        let scope = match scope(inv, in_france) {
            Ok(s) => s,
            Err(reason) => {
                *left.entry(reason).or_default() += 1;
                continue;
            }
        };
        let credit = inv.kind.is_credit_note();
        let sign = if credit { -Decimal::ONE } else { Decimal::ONE };
        let key = (inv.issue_date, scope, category(inv.body.regime));
        let day = days.entry(key).or_insert_with(|| DailyTransactions {
            date: iso_date(inv.issue_date),
            buyer_scope: scope,
            category_code: key.2,
            currency: "EUR",
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
        for v in &inv.body.vat_breakdown {
            let e = rates.entry((key, v.category.code().to_owned(), v.rate)).or_default();
            e.0 += sign * v.taxable_amount;
            e.1 += sign * v.vat_amount;
            day.tax_exclusive_amount += sign * v.taxable_amount;
            day.tax_amount += sign * v.vat_amount;
        }
    }
    for ((key, category_code, rate), (taxable_amount, tax_amount)) in rates {
        if let Some(day) = days.get_mut(&key) {
            day.subtotals.push(TaxSubtotal { category_code, rate, taxable_amount, tax_amount });
        }
    }
    TransactionReport {
        flow: "10.3",
        report_id: format!("MB-ER-{seller_id}-{}-{}", compact_date(period.start), compact_date(period.end)),
        seller_name: profile.legal_name.clone(),
        seller_siren: profile.siren.as_ref().map(|s| s.as_str().to_owned()),
        seller_vat_number: profile.french_vat_number.as_ref().or(profile.vat_number.as_ref()).map(|v| v.to_string()),
        seller_established_in_france: in_france,
        period_start: iso_date(period.start),
        period_end: iso_date(period.end),
        transactions: days.into_values().collect(),
        left_out: left.into_iter().map(|(reason, documents)| LeftOut { reason, documents }).collect(),
    }
}

fn compact_iso(iso: &str) -> String {
    iso.replace('-', "")
}

/// The report as XML, in the structure `docs/reference/e-reporting.md` describes.
pub fn to_xml(r: &TransactionReport) -> Vec<u8> {
    let mut x = Xml::new(1024 + r.transactions.len() * 600);
    x.open("Report");
    x.open("ReportDocument")
        .leaf("Id", &r.report_id)
        .leaf("TypeCode", r.flow)
        .open("Issuer")
        .leaf_opt("Siren", r.seller_siren.as_deref())
        .leaf_opt("VatIdentifier", r.seller_vat_number.as_deref())
        .leaf("Name", &r.seller_name)
        .leaf("EstablishedInFrance", if r.seller_established_in_france { "true" } else { "false" })
        .close()
        .close();
    x.open("TransactionsReport");
    x.open("ReportPeriod")
        .leaf("StartDate", &compact_iso(&r.period_start))
        .leaf("EndDate", &compact_iso(&r.period_end))
        .close();
    for t in &r.transactions {
        x.open("Transactions")
            .leaf("Date", &compact_iso(&t.date))
            .leaf("BuyerScope", t.buyer_scope.code())
            .leaf("CategoryCode", t.category_code)
            .leaf("CurrencyCode", t.currency)
            .leaf("TaxExclusiveAmount", &format_amount(t.tax_exclusive_amount))
            .leaf("TaxTotal", &format_amount(t.tax_amount))
            .leaf("InvoiceCount", &t.invoices.to_string())
            .leaf("CreditNoteCount", &t.credit_notes.to_string());
        for s in &t.subtotals {
            x.open("TaxSubtotal")
                .leaf("TaxCategoryCode", &s.category_code)
                .leaf("TaxPercent", &s.rate.percent().to_string())
                .leaf("TaxableAmount", &format_amount(s.taxable_amount))
                .leaf("TaxAmount", &format_amount(s.tax_amount))
                .close();
        }
        x.close();
    }
    x.close();
    x.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(d: u8) -> Date {
        Date::from_calendar_date(2026, Month::November, d).unwrap()
    }

    /// A month of documents: two consumer invoices on the 3rd (three rates), an invoice to a
    /// French company (e-invoiced), one to a German company on the 5th, and a credit note of
    /// the first invoice on the 10th.
    fn month() -> (SellerProfile, Vec<InvoiceRecord>) {
        let seller: crate::model::SellerId = "er".parse().unwrap();
        let profile = marketbill_testkit::sellers::sample_seller(0, "10000").unwrap();
        let at = time::macros::datetime!(2026-11-25 10:00 UTC);
        let mut docs = Vec::new();
        let mut b2c = marketbill_testkit::invoices::sample_invoice(3).unwrap();
        b2c.issue_date = date(3);
        let mut b2c_2 = marketbill_testkit::invoices::sample_invoice(5).unwrap();
        b2c_2.issue_date = date(3);
        let mut french = marketbill_testkit::invoices::sample_invoice(2).unwrap();
        french.issue_date = date(4);
        french.body.buyer.kind = BuyerKind::Company;
        french.body.buyer.vat_number = Some("FR44732829320".parse().unwrap());
        let mut german = marketbill_testkit::invoices::sample_invoice(1).unwrap();
        german.issue_date = date(5);
        german.body.buyer.kind = BuyerKind::Company;
        german.body.buyer.vat_number = Some("DE136695976".parse().unwrap());
        let mut credit = marketbill_testkit::invoices::sample_credit_note(&b2c, &profile, at).unwrap();
        credit.issue_date = date(10);
        for inv in [b2c, b2c_2, french, german, credit] {
            let order = inv.body.order_id.clone();
            docs.push(InvoiceRecord::new(&seller, &order, inv, at));
        }
        (profile, docs)
    }

    fn signed(inv: &Invoice) -> Decimal {
        if inv.kind.is_credit_note() { -Decimal::ONE } else { Decimal::ONE }
    }

    #[test]
    fn the_sums_per_day_and_rate_are_the_documents_and_credit_notes_are_netted() {
        let (profile, docs) = month();
        let period = Period::parse("2026-11").unwrap();
        let report = transaction_report("er", &profile, period, &docs);
        // Expected: per (day, rate), the signed VAT summaries of the documents in scope.
        let mut expected: BTreeMap<(String, VatRate), (Decimal, Decimal)> = BTreeMap::new();
        for r in docs.iter().filter(|r| r.invoice.body.buyer.known_siren().is_none()) {
            for v in &r.invoice.body.vat_breakdown {
                let e = expected.entry((iso_date(r.invoice.issue_date), v.rate)).or_default();
                e.0 += signed(&r.invoice) * v.taxable_amount;
                e.1 += signed(&r.invoice) * v.vat_amount;
            }
        }
        let mut got: BTreeMap<(String, VatRate), (Decimal, Decimal)> = BTreeMap::new();
        for t in &report.transactions {
            for s in &t.subtotals {
                let e = got.entry((t.date.clone(), s.rate)).or_default();
                e.0 += s.taxable_amount;
                e.1 += s.tax_amount;
            }
            let base: Decimal = t.subtotals.iter().map(|s| s.taxable_amount).sum();
            let vat: Decimal = t.subtotals.iter().map(|s| s.tax_amount).sum();
            assert_eq!((base, vat), (t.tax_exclusive_amount, t.tax_amount), "day {} adds up", t.date);
        }
        assert_eq!(got, expected);
        assert!(expected.keys().map(|k| k.1).collect::<std::collections::BTreeSet<_>>().len() >= 3, "several rates");
        // The days: two B2C invoices on the 3rd, the German company on the 5th, the credit note
        // on the 10th (negative); the French company is e-invoiced, so left out.
        let summary: Vec<(&str, BuyerScope, u64, u64)> =
            report.transactions.iter().map(|t| (t.date.as_str(), t.buyer_scope, t.invoices, t.credit_notes)).collect();
        assert_eq!(
            summary,
            vec![
                ("2026-11-03", BuyerScope::B2c, 2, 0),
                ("2026-11-05", BuyerScope::B2bInternational, 1, 0),
                ("2026-11-10", BuyerScope::B2c, 0, 1),
            ]
        );
        assert!(report.transactions[2].tax_exclusive_amount < Decimal::ZERO);
        assert_eq!(report.left_out, vec![LeftOut { reason: Left::EInvoiced, documents: 1 }]);
        // A ten-day period keeps only its days.
        let d1 = transaction_report("er", &profile, Period::parse("2026-11-D1").unwrap(), &docs);
        assert_eq!(d1.transactions.len(), 3);
        let d2 = transaction_report("er", &profile, Period::parse("2026-11-D2").unwrap(), &docs);
        assert!(d2.transactions.is_empty() && d2.left_out.is_empty());
    }

    #[test]
    fn the_xml_carries_the_same_figures_as_the_json() {
        let (profile, docs) = month();
        let report = transaction_report("er", &profile, Period::parse("2026-11").unwrap(), &docs);
        let xml = String::from_utf8(to_xml(&report)).unwrap();
        assert!(xml.starts_with("<?xml"));
        let sum_of = |tag: &str| -> Decimal {
            xml.split(&format!("<{tag}>"))
                .skip(1)
                .map(|s| s.split('<').next().unwrap().parse::<Decimal>().unwrap())
                .sum()
        };
        let json = serde_json::to_value(&report).unwrap();
        let total: Decimal = report.transactions.iter().map(|t| t.tax_exclusive_amount).sum();
        assert_eq!(sum_of("TaxExclusiveAmount"), total);
        assert_eq!(sum_of("TaxableAmount"), total);
        assert_eq!(json["transactions"].as_array().unwrap().len(), xml.matches("<Transactions>").count());
        assert!(xml.contains("<StartDate>20261101</StartDate><EndDate>20261130</EndDate>"), "{xml}");
        assert!(xml.contains("<BuyerScope>B2BINT</BuyerScope>"));
    }

    #[test]
    fn periods_of_every_regime_are_read_and_bad_ones_refused() {
        let d = |y, m: u8, d| Date::from_calendar_date(y, Month::try_from(m).unwrap(), d).unwrap();
        assert_eq!(Period::parse("2026-11").unwrap(), Period { start: d(2026, 11, 1), end: d(2026, 11, 30) });
        assert_eq!(Period::parse("2026-02-D3").unwrap(), Period { start: d(2026, 2, 21), end: d(2026, 2, 28) });
        assert_eq!(Period::parse("2026-11-D2").unwrap(), Period { start: d(2026, 11, 11), end: d(2026, 11, 20) });
        assert_eq!(Period::parse("2026-12+1").unwrap(), Period { start: d(2026, 12, 1), end: d(2027, 1, 31) });
        for bad in ["", "2026", "2026-13", "2026-1", "2026-11-D4", "2026-11+2", "26-11-01", "2026-11x", "éééééééé"]
        {
            assert!(Period::parse(bad).is_err(), "{bad:?}");
        }
    }
}
