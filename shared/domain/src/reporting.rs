//! The French e-invoicing reform, decided once: where each document of a seller goes — the
//! e-invoice flow, e-reporting flow 10.1 (international B2B, invoice by invoice), flow 10.3
//! (aggregated per day with the sales to consumers), or out of the seller's scope with its
//! legal reason — and the reporting periods of the seller's VAT regime.
//!
//! Sources (DGFiP *spécifications externes* v3.2 of 30/04/2026, in `docs/reference/e-reporting.md`
//! with what is read and what is assumed): dossier général §2.3.1–2.3.3 (who e-invoices, who
//! e-reports, the tolerances), §3.7 (flows 10.1 and 10.3, the declarant, table 13 of the
//! periods), annexe 6 V1.10 (the terms) and annexe 7 V1.9 (rules G1.68, G6.26, G6.28).

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, Month};

use crate::buyer::BuyerKind;
use crate::calendar::YearMonth;
use crate::invoice::{BuyerParty, Invoice};
use crate::regime::VatRegime;
use crate::seller::{SellerProfile, VatScheme};

/// How the seller files its VAT returns: it sets the periods of its e-reporting (table 13).
/// Under the franchise (art. 293 B), the periods are two calendar months whatever is said here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum VatFiling {
    /// Normal regime, monthly returns: ten-day periods.
    #[default]
    NormalMonthly,
    /// Normal regime, quarterly returns: monthly periods.
    NormalQuarterly,
    /// Simplified regime (annual return): monthly periods.
    Simplified,
}

/// The length of a reporting period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PeriodKind {
    /// 1–10, 11–20, 21–end of a month.
    TenDays,
    Month,
    /// Two calendar months starting in January, March, May, July, September or November.
    TwoMonths,
}

/// A reporting period of a seller's VAT regime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReportingPeriod {
    pub kind: PeriodKind,
    pub start: Date,
    pub end: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error(
        "a period is YYYY-MM (a month), YYYY-MM-D1, -D2 or -D3 (the ten-day periods of a month) or \
         YYYY-MM+1 (two months from an odd month); got {0:?}"
    )]
    Form(String),
}

fn day(year: i32, month: Month, d: u8) -> Date {
    Date::from_calendar_date(year, month, d).unwrap_or(Date::MAX)
}

impl ReportingPeriod {
    /// The period of `kind` that holds `date`.
    pub fn containing(kind: PeriodKind, date: Date) -> ReportingPeriod {
        let (y, m, d) = (date.year(), date.month(), date.day());
        let month = YearMonth::of(date);
        let (start, end) = match kind {
            PeriodKind::TenDays => match d {
                1..=10 => (day(y, m, 1), day(y, m, 10)),
                11..=20 => (day(y, m, 11), day(y, m, 20)),
                _ => (day(y, m, 21), month.last_day()),
            },
            PeriodKind::Month => (month.first_day(), month.last_day()),
            PeriodKind::TwoMonths => {
                // January, March, May…: the first month of a pair is odd.
                let first = if u8::from(m) % 2 == 1 { month } else { month.previous() };
                (first.first_day(), first.next().last_day())
            }
        };
        ReportingPeriod { kind, start, end }
    }

    /// The period after this one.
    pub fn next(&self) -> ReportingPeriod {
        ReportingPeriod::containing(self.kind, self.end.next_day().unwrap_or(self.end))
    }

    pub fn contains(&self, date: Date) -> bool {
        self.start <= date && date <= self.end
    }

    /// Reads `2026-11` (a month), `2026-11-D2` (a ten-day period) or `2026-11+1` (two months).
    pub fn parse(text: &str) -> Result<ReportingPeriod, PeriodError> {
        let bad = || PeriodError::Form(text.chars().take(40).collect());
        let month_part = text.get(..7).ok_or_else(bad)?;
        let rest = &text[7..];
        let month: YearMonth = month_part.parse().map_err(|_| bad())?;
        let first = month.first_day();
        let kind_and_day = match rest {
            "" => (PeriodKind::Month, 1),
            "-D1" | "-d1" => (PeriodKind::TenDays, 1),
            "-D2" | "-d2" => (PeriodKind::TenDays, 11),
            "-D3" | "-d3" => (PeriodKind::TenDays, 21),
            "+1" if u8::from(month.month()) % 2 == 1 => (PeriodKind::TwoMonths, 1),
            _ => return Err(bad()),
        };
        Ok(ReportingPeriod::containing(kind_and_day.0, first.replace_day(kind_and_day.1).map_err(|_| bad())?))
    }

    /// The period's name in the form [`ReportingPeriod::parse`] reads.
    pub fn label(&self) -> String {
        let month = YearMonth::of(self.start).to_string();
        match self.kind {
            PeriodKind::Month => month,
            PeriodKind::TwoMonths => format!("{month}+1"),
            PeriodKind::TenDays => format!("{month}-D{}", (self.start.day() - 1) / 10 + 1),
        }
    }

    /// The last day to hand the period's transaction data to the approved platform (table 13
    /// of the general specification v3.2).
    pub fn deadline(&self, filing: VatFiling, franchise: bool) -> Date {
        let month = YearMonth::of(self.end);
        let next = month.next();
        let tenth_of_next = day(next.year(), next.month(), 10);
        match (self.kind, franchise, filing) {
            // Ten-day periods: the 20th, the last day of the month, the 10th of the next.
            (PeriodKind::TenDays, _, _) => match self.start.day() {
                1 => day(month.year(), month.month(), 20),
                11 => month.last_day(),
                _ => tenth_of_next,
            },
            // Quarterly normal regime: the 10th of the next month.
            (PeriodKind::Month, false, VatFiling::NormalQuarterly | VatFiling::NormalMonthly) => tenth_of_next,
            // Simplified regime and franchise: the last day of the next month.
            _ => next.last_day(),
        }
    }
}

impl fmt::Display for ReportingPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

impl SellerProfile {
    /// The length of the seller's reporting periods (table 13): ten days under the normal
    /// regime with monthly returns, a month under quarterly returns or the simplified regime,
    /// two months under the franchise.
    pub fn reporting_period_kind(&self) -> PeriodKind {
        match (self.vat_scheme, self.vat_filing) {
            (VatScheme::Franchise, _) => PeriodKind::TwoMonths,
            (_, VatFiling::NormalMonthly) => PeriodKind::TenDays,
            (_, VatFiling::NormalQuarterly | VatFiling::Simplified) => PeriodKind::Month,
        }
    }

    /// The SIREN the seller reports under (the declarant, G6.26): its own for a seller
    /// established in France, the one of its French VAT number for a seller identified there.
    pub fn declarant_siren(&self) -> Option<String> {
        self.siren
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .or_else(|| self.french_vat_number.as_ref().and_then(|v| v.french_siren()).map(str::to_owned))
    }
}

/// The category of a flow-10.3 aggregate (rule G1.68).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TransactionCategory {
    /// Deliveries of goods subject to VAT (in France).
    #[serde(rename = "TLB1")]
    Tlb1,
    /// Services subject to VAT.
    #[serde(rename = "TPS1")]
    Tps1,
    /// Deliveries and services not subject to VAT in France (intra-EU distance sales taxed in
    /// another member state among them).
    #[serde(rename = "TNT1")]
    Tnt1,
    /// The margin scheme.
    #[serde(rename = "TMA1")]
    Tma1,
}

impl TransactionCategory {
    pub fn code(self) -> &'static str {
        match self {
            TransactionCategory::Tlb1 => "TLB1",
            TransactionCategory::Tps1 => "TPS1",
            TransactionCategory::Tnt1 => "TNT1",
            TransactionCategory::Tma1 => "TMA1",
        }
    }
}

/// Why a document is aggregated in flow 10.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AggregatedAs {
    /// A sale to a consumer or another person not liable to VAT (B2C).
    Consumer,
    /// A business established in France whose SIREN is not known: it cannot be e-invoiced, and
    /// the supplier reports it "as if it invoiced a person not liable to VAT" (general
    /// specification v3.2, §2.3.3, tolerance for entities without a SIREN). The buyer is asked
    /// for its SIREN meanwhile.
    BusinessWithoutSiren,
    /// A business abroad with no identifier to give (flow 10.1 requires the buyer's, G6.28).
    ForeignBusinessWithoutIdentifier,
    /// A business abroad, sold to by a seller without a VAT number (under the franchise): flow
    /// 10.1 requires the seller's VAT identifier (G2.33, G1.102), which it does not have.
    SellerWithoutVatNumber,
}

/// Why a document is not the seller's to transmit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OutOfScope {
    /// A seller not established in France selling to a business established there (Bi2B):
    /// the buyer, liable to French VAT, is the declarant (acquisition e-reporting, §3.7.7 note
    /// 123, from 1 September 2027).
    ReportedByBuyer,
    /// A distance sale to a consumer declared through the One-Stop-Shop of the seller's member
    /// state: French VAT paid through the OSS return, not a French one.
    DeclaredThroughOss,
    /// A seller not established and not identified for VAT in France (no SIREN, rule G6.26):
    /// no French declarant.
    SellerNotIdentifiedInFrance,
    /// A supply not located in France by a seller not established there (an exempt intra-EU
    /// supply): outside French VAT.
    NotLocatedInFrance,
}

impl OutOfScope {
    pub fn code(self) -> &'static str {
        match self {
            OutOfScope::ReportedByBuyer => "reportedByBuyer",
            OutOfScope::DeclaredThroughOss => "declaredThroughOss",
            OutOfScope::SellerNotIdentifiedInFrance => "sellerNotIdentifiedInFrance",
            OutOfScope::NotLocatedInFrance => "notLocatedInFrance",
        }
    }
}

/// Where one document goes under the reform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "flow")]
pub enum Placement {
    /// Issued through the approved platforms: a sale between businesses established in France.
    EInvoice,
    /// E-reporting flow 10.1: international B2B, invoice by invoice.
    #[serde(rename = "10.1")]
    InvoiceReport,
    /// E-reporting flow 10.3: aggregated per day, currency and category.
    #[serde(rename = "10.3")]
    Aggregated { category: TransactionCategory, r#as: AggregatedAs },
    /// Not the seller's to transmit.
    OutOfScope { reason: OutOfScope },
}

impl Placement {
    /// Whether the document is in the seller's e-reporting (10.1 or 10.3).
    pub fn is_reported(self) -> bool {
        matches!(self, Placement::InvoiceReport | Placement::Aggregated { .. })
    }

    /// The short name used in files and pages: `eInvoice`, `10.1`, `10.3`, `outOfScope`.
    pub fn flow_code(self) -> &'static str {
        match self {
            Placement::EInvoice => "eInvoice",
            Placement::InvoiceReport => "10.1",
            Placement::Aggregated { .. } => "10.3",
            Placement::OutOfScope { .. } => "outOfScope",
        }
    }
}

/// Where a business buyer is established, as far as its identifiers tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BusinessBuyer {
    /// In France, SIREN known (given, or within a French VAT number).
    FranceWithSiren,
    /// In France (French address, no foreign VAT number), SIREN unknown.
    FranceWithoutSiren,
    /// Abroad, with a VAT number to identify it.
    AbroadIdentified,
    /// Abroad, with nothing to identify it.
    AbroadUnidentified,
}

fn business_buyer(b: &BuyerParty) -> BusinessBuyer {
    let vat_country = b.vat_number.as_ref().and_then(|v| v.country());
    match (b.known_siren(), vat_country) {
        (Some(_), _) => BusinessBuyer::FranceWithSiren,
        (None, Some(c)) if !c.is_france() => BusinessBuyer::AbroadIdentified,
        (None, Some(_)) => BusinessBuyer::FranceWithSiren,
        (None, None) if b.address.country.is_france() => BusinessBuyer::FranceWithoutSiren,
        (None, None) => BusinessBuyer::AbroadUnidentified,
    }
}

/// Where a document of `seller` goes (a credit note goes where its invoice went: it has the
/// same buyer and regime). Decided here only; every file, page and count follows it.
pub fn placement(seller: &SellerProfile, doc: &Invoice) -> Placement {
    placement_of(seller, &doc.body)
}

/// [`placement`] of a document not numbered yet (a draft's body).
pub fn placement_of(seller: &SellerProfile, body: &crate::invoice::InvoiceBody) -> Placement {
    let buyer = &body.buyer;
    let business = (buyer.kind == BuyerKind::Company).then(|| business_buyer(buyer));
    let aggregated = |category, r#as| Placement::Aggregated { category, r#as };
    let out = |reason| Placement::OutOfScope { reason };
    if seller.country().is_france() {
        // The operation is located in France and within French VAT (the franchise only
        // dispenses the seller from paying it: TLB1 at 0 %).
        return match business {
            None => aggregated(TransactionCategory::Tlb1, AggregatedAs::Consumer),
            Some(BusinessBuyer::FranceWithSiren) => Placement::EInvoice,
            Some(BusinessBuyer::FranceWithoutSiren) => {
                aggregated(TransactionCategory::Tlb1, AggregatedAs::BusinessWithoutSiren)
            }
            Some(BusinessBuyer::AbroadIdentified) if seller.vat_number.is_some() => Placement::InvoiceReport,
            Some(BusinessBuyer::AbroadIdentified) => {
                aggregated(TransactionCategory::Tlb1, AggregatedAs::SellerWithoutVatNumber)
            }
            Some(BusinessBuyer::AbroadUnidentified) => {
                aggregated(TransactionCategory::Tlb1, AggregatedAs::ForeignBusinessWithoutIdentifier)
            }
        };
    }
    // A seller not established in France.
    if matches!(business, Some(BusinessBuyer::FranceWithSiren | BusinessBuyer::FranceWithoutSiren)) {
        return out(OutOfScope::ReportedByBuyer);
    }
    if body.regime == VatRegime::Oss {
        return out(OutOfScope::DeclaredThroughOss);
    }
    if seller.declarant_siren().is_none() {
        return out(OutOfScope::SellerNotIdentifiedInFrance);
    }
    match (body.regime, business) {
        (VatRegime::IntraEuExempt, _) => out(OutOfScope::NotLocatedInFrance),
        // A distance sale taxed in the seller's member state: not subject to French VAT.
        (VatRegime::HomeCountry { .. }, None) => aggregated(TransactionCategory::Tnt1, AggregatedAs::Consumer),
        (VatRegime::HomeCountry { .. }, Some(_)) => {
            aggregated(TransactionCategory::Tnt1, AggregatedAs::ForeignBusinessWithoutIdentifier)
        }
        (_, None) => aggregated(TransactionCategory::Tlb1, AggregatedAs::Consumer),
        (_, Some(BusinessBuyer::AbroadIdentified)) => Placement::InvoiceReport,
        (_, Some(_)) => aggregated(TransactionCategory::Tlb1, AggregatedAs::ForeignBusinessWithoutIdentifier),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn periods_follow_table_13() {
        let p = ReportingPeriod::containing(PeriodKind::TenDays, date!(2026 - 11 - 14));
        assert_eq!((p.start, p.end, p.label()), (date!(2026 - 11 - 11), date!(2026 - 11 - 20), "2026-11-D2".into()));
        assert_eq!(p.deadline(VatFiling::NormalMonthly, false), date!(2026 - 11 - 30));
        let d3 = ReportingPeriod::containing(PeriodKind::TenDays, date!(2026 - 02 - 28));
        assert_eq!((d3.start, d3.end), (date!(2026 - 02 - 21), date!(2026 - 02 - 28)));
        assert_eq!(d3.deadline(VatFiling::NormalMonthly, false), date!(2026 - 03 - 10));
        assert_eq!(d3.next().label(), "2026-03-D1");
        let m = ReportingPeriod::containing(PeriodKind::Month, date!(2026 - 12 - 05));
        assert_eq!(m.deadline(VatFiling::NormalQuarterly, false), date!(2027 - 01 - 10));
        assert_eq!(m.deadline(VatFiling::Simplified, false), date!(2027 - 01 - 31));
        let two = ReportingPeriod::containing(PeriodKind::TwoMonths, date!(2026 - 12 - 05));
        assert_eq!((two.start, two.end), (date!(2026 - 11 - 01), date!(2026 - 12 - 31)));
        assert_eq!(two.label(), "2026-11+1");
        assert_eq!(two.deadline(VatFiling::NormalMonthly, true), date!(2027 - 01 - 31));
        assert_eq!(two.next().start, date!(2027 - 01 - 01));
        for text in ["2026-11", "2026-11-D1", "2026-11-D3", "2026-11+1", "2027-01+1"] {
            assert_eq!(ReportingPeriod::parse(text).unwrap().label(), text);
        }
        for bad in ["", "2026", "2026-13", "2026-11-D4", "2026-12+1", "26-11-01", "2026-11x", "éééééééé"] {
            assert!(ReportingPeriod::parse(bad).is_err(), "{bad:?}");
        }
    }
}
