//! Marketbill's own invoice: the monthly fee of a seller under its plan, issued by the
//! operator (its company profile, bundled as `data/operator.json` and replaced by
//! configuration) in the operator's series. A service to a business:
//! - a seller established in France pays French VAT at 20 %;
//! - a seller established in another member state with a VAT number is invoiced without VAT,
//!   the seller accounting for it (reverse charge: the place of supply of a service to a
//!   taxable person is where that person is established, art. 44 and 196 of directive
//!   2006/112/EC, art. 259-1 and 283-2 of the CGI);
//! - otherwise French VAT.
//!
//! Nothing is paid yet: the whole amount is due, on receipt, with the mentions a sale between
//! businesses carries.

use rust_decimal::Decimal;
use time::{Month, OffsetDateTime};

use crate::calendar::{YearMonth, paris_date};
use crate::fees::{MonthlyFee, PlanKind};
use crate::invoice::{
    BuyerParty, Draft, InvoiceAddress, InvoiceBody, InvoiceLine, LineKind, Note, PaymentInfo, Totals, VatBreakdown,
    seller_party,
};
use crate::money::VatRate;
use crate::seller::{Language, SellerProfile};
use crate::{BuyerKind, DocumentKind, OrderId, Series, VatRegime};

/// The operator's company profile bundled with the code (replace it by configuration).
pub fn bundled_operator() -> Result<SellerProfile, FeeInvoiceError> {
    serde_json::from_str(include_str!("../data/operator.json")).map_err(|e| FeeInvoiceError::Operator(e.to_string()))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeeInvoiceError {
    #[error("the fee of the month is zero: there is nothing to invoice")]
    NothingToBill,
    #[error("the fee is in {0}; fee invoices are in EUR")]
    Currency(String),
    #[error("the operator's profile is not valid: {0}")]
    Operator(String),
    #[error("{0:?} cannot be part of a fee invoice's reference")]
    Reference(String),
    #[error("the operator's profile has no bank account: a fee invoice says where to pay (IBAN)")]
    NoBankAccount,
}

/// What one fee invoice is drafted from.
#[derive(Debug, Clone, Copy)]
pub struct FeeInvoiceRequest<'a> {
    /// Marketbill's company.
    pub operator: &'a SellerProfile,
    /// The seller billed, and its identifier (part of the invoice's reference).
    pub customer: &'a SellerProfile,
    pub customer_id: &'a str,
    /// The month billed.
    pub month: YearMonth,
    pub fee: &'a MonthlyFee,
    pub issued_at: OffsetDateTime,
}

/// The reference of the fee invoice of a seller and a month (`FEE-<seller>-202611`): the key
/// that makes it once-only.
pub fn fee_reference(customer_id: &str, month: YearMonth) -> Result<OrderId, FeeInvoiceError> {
    format!("FEE-{customer_id}-{}", month.compact())
        .parse()
        .map_err(|_| FeeInvoiceError::Reference(customer_id.chars().take(64).collect()))
}

/// The month in French words (the fee invoice is in French).
fn month_name(month: Month) -> &'static str {
    const FR: [&str; 12] = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ];
    FR[usize::from(u8::from(month)) - 1]
}

/// The line's words: what was counted and how the plan priced it.
fn description(req: &FeeInvoiceRequest<'_>) -> String {
    let month = format!("{} {}", month_name(req.month.month()), req.month.year());
    match req.fee.plan {
        PlanKind::PerInvoice => {
            format!("Marketbill, formule « à la facture » — {month} : {} facture(s) émise(s)", req.fee.invoices_counted)
        }
        PlanKind::Tiered => format!(
            "Marketbill, formule « forfait » — {month} : palier de {} facture(s) émise(s) le mois précédent",
            req.fee.invoices_counted
        ),
    }
}

/// Drafts the fee invoice of a seller for a month, to be numbered in the operator's series.
pub fn draft_fee_invoice(req: &FeeInvoiceRequest<'_>) -> Result<Draft, FeeInvoiceError> {
    if req.fee.currency != "EUR" {
        return Err(FeeInvoiceError::Currency(req.fee.currency.chars().take(8).collect()));
    }
    let net = req.fee.amount_excl_vat.round_dp(2);
    if net <= Decimal::ZERO {
        return Err(FeeInvoiceError::NothingToBill);
    }
    let (first, last) = (req.month.first_day(), req.month.last_day());
    let c = req.customer;
    let customer_country = c.address.country_code;
    let reverse_charge = !customer_country.is_france() && customer_country.is_eu() && c.vat_number.is_some();
    let regime = if reverse_charge { VatRegime::ReverseCharge } else { VatRegime::FrenchVat };
    let rate = if reverse_charge {
        VatRate::ZERO
    } else {
        VatRate::new(Decimal::from(20)).map_err(|e| FeeInvoiceError::Operator(e.to_string()))?
    };
    let vat = rate.vat_on(net);

    let (quantity, unit_price) = match req.fee.plan {
        PlanKind::PerInvoice if req.fee.invoices_counted > 0 => {
            let billed = Decimal::from(req.fee.invoices_counted);
            // Invoices beyond the billed ones are free: the unit price is the average.
            (billed, (net / billed).round_dp(6))
        }
        _ => (Decimal::ONE, net),
    };
    let category = regime.category();
    let (exemption_code, exemption_text) = match regime.exemption() {
        Some((code, _)) => (Some(code.to_owned()), Some("Autoliquidation".to_owned())),
        None => (None, None),
    };
    let line = InvoiceLine {
        id: 1,
        kind: LineKind::Service,
        description: description(req),
        sku: None,
        gtin: None,
        quantity,
        unit_price_net: unit_price,
        net_amount: net,
        gross_amount: net + vat,
        category,
        vat_rate: rate,
        order_line: None,
    };
    let breakdown =
        VatBreakdown { category, rate, taxable_amount: net, vat_amount: vat, exemption_code, exemption_text };

    let issue_date = paris_date(req.issued_at).max(last);
    let due = issue_date + time::Duration::days(30);
    let a = &c.address;
    let buyer = BuyerParty {
        kind: BuyerKind::Company,
        name: c.legal_name.clone(),
        address: InvoiceAddress {
            lines: std::iter::once(a.line1.clone()).chain(a.line2.clone()).collect(),
            postal_code: a.postal_code.clone(),
            city: a.city.clone(),
            country: a.country_code,
        },
        vat_number: c.vat_number.clone().or_else(|| c.french_vat_number.clone()),
        siren: c.siren.clone(),
        marketplace_reference: None,
        electronic_address: None,
    };
    let mut notes = vec![
        Note { subject: Some("AAI".into()), text: "Nature de l'opération : prestation de services".into() },
        Note {
            subject: Some("AAI".into()),
            text: format!(
                "Période : du {} au {}",
                crate::calendar::french_date(first),
                crate::calendar::french_date(last)
            ),
        },
    ];
    if reverse_charge {
        notes.push(Note {
            subject: Some("TXD".into()),
            text: "Autoliquidation : TVA due par le preneur (art. 196 de la directive 2006/112/CE ; art. 259-1 du CGI)"
                .into(),
        });
    }
    notes.extend([
        Note {
            subject: Some("PMD".into()),
            text: "Pénalités de retard : trois fois le taux d'intérêt légal, exigibles dès le lendemain de l'échéance"
                .into(),
        },
        Note {
            subject: Some("PMT".into()),
            text: "Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : 40 €".into(),
        },
        Note { subject: Some("AAB".into()), text: "Pas d'escompte pour paiement anticipé".into() },
    ]);
    let bank = req.operator.bank.as_ref().ok_or(FeeInvoiceError::NoBankAccount)?;
    let terms = format!(
        "À payer par virement au plus tard le {} — IBAN {}{}",
        crate::calendar::local_date(Language::Fr, due),
        bank.iban_grouped(),
        bank.bic.as_ref().map(|b| format!(" — BIC {b}")).unwrap_or_default()
    );
    Ok(Draft {
        kind: DocumentKind::Invoice,
        issue_date,
        series: Series::new(req.operator.invoice_prefix.clone(), issue_date.year()),
        body: InvoiceBody {
            currency: "EUR".into(),
            order_id: fee_reference(req.customer_id, req.month)?,
            delivery_date: last,
            // Nothing is paid yet: the date the terms run from.
            payment: PaymentInfo {
                paid_on: issue_date,
                method: None,
                terms,
                due_date: Some(due),
                means: crate::invoice::PaymentMeans::transfer(bank),
            },
            seller: seller_party(req.operator, VatRegime::FrenchVat),
            buyer,
            delivery: None,
            lines: vec![line],
            vat_breakdown: vec![breakdown],
            totals: Totals::due(net, vat),
            regime,
            business: true,
            notes,
            language: Language::Fr,
            replaces: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FeePlans;
    use rust_decimal_macros::dec;

    fn customer(country: &str) -> SellerProfile {
        let json = match country {
            "FR" => serde_json::json!({
                "legalName": "Maison Lumière", "legalForm": "SAS", "siren": "732829320", "siret": "73282932000074",
                "rcsCity": "Lyon", "vatNumber": "FR44732829320", "shareCapital": "10000",
                "address": {"line1": "12 quai Saint-Antoine", "postalCode": "69002", "city": "Lyon", "countryCode": "FR"},
                "email": "factures@maison-lumiere.example", "marketplaceSellerId": "10000", "vatScheme": "standard",
                "stockLocation": "sellerCountry", "defaultVatRate": "20", "invoicePrefix": "ML", "plan": "perInvoice"
            }),
            _ => serde_json::json!({
                "legalName": "Bücherwurm GmbH", "legalForm": "GmbH", "vatNumber": "DE136695976",
                "frenchVatNumber": "FR96552100554",
                "address": {"line1": "Hauptstraße 5", "postalCode": "10115", "city": "Berlin", "countryCode": "DE"},
                "email": "rechnung@buecherwurm.example", "marketplaceSellerId": "10001", "vatScheme": "oss",
                "stockLocation": "sellerCountry", "defaultVatRate": "20", "invoicePrefix": "BW-F", "plan": "tiered"
            }),
        };
        serde_json::from_value(json).unwrap()
    }

    fn draft(customer: &SellerProfile, fee: &MonthlyFee) -> Result<Draft, FeeInvoiceError> {
        let operator = bundled_operator().unwrap();
        draft_fee_invoice(&FeeInvoiceRequest {
            operator: &operator,
            customer,
            customer_id: "seller-1",
            month: YearMonth::new(2026, Month::November),
            fee,
            issued_at: time::macros::datetime!(2026-12-01 06:00 UTC),
        })
    }

    #[test]
    fn the_fee_of_each_count_on_both_plans_is_invoiced_with_french_vat_or_reverse_charge() {
        let plans = FeePlans::bundled();
        let fr = customer("FR");
        let de = customer("DE");
        let per_invoice = [
            (0, None),
            (1, Some(dec!(0.10))),
            (100, Some(dec!(10.00))),
            (101, Some(dec!(10.10))),
            (400, Some(dec!(40.00))),
            (401, Some(dec!(40.00))),
        ];
        for (n, expected) in per_invoice {
            let fee = plans.monthly_fee(PlanKind::PerInvoice, n, 0);
            match (draft(&fr, &fee), expected) {
                (Err(FeeInvoiceError::NothingToBill), None) => {}
                (Ok(d), Some(net)) => {
                    let t = &d.body.totals;
                    assert_eq!((t.tax_exclusive, t.vat_total), (net, (net * dec!(0.2)).round_dp(2)), "{n} invoices");
                    assert_eq!((t.prepaid, t.payable), (Decimal::ZERO, t.tax_inclusive), "all of it is due");
                    assert_eq!(d.body.lines[0].quantity, Decimal::from(n));
                    assert_eq!(d.body.regime, VatRegime::FrenchVat);
                }
                (other, _) => panic!("{n} invoices: {other:?}"),
            }
        }
        let tiers = [
            (0, dec!(9.99)),
            (1, dec!(9.99)),
            (100, dec!(9.99)),
            (101, dec!(19.99)),
            (400, dec!(39.99)),
            (401, dec!(39.99)),
        ];
        for (previous, net) in tiers {
            let fee = plans.monthly_fee(PlanKind::Tiered, 5, previous);
            let d = draft(&de, &fee).unwrap();
            assert_eq!(d.body.totals.tax_exclusive, net, "{previous} invoices the month before");
            assert_eq!(d.body.totals.vat_total, Decimal::ZERO, "reverse charge");
            assert_eq!(d.body.regime, VatRegime::ReverseCharge);
            assert!(d.body.notes.iter().any(|n| n.text.contains("Autoliquidation")));
        }
    }

    #[test]
    fn the_fee_invoice_is_a_service_of_the_month_in_the_operators_series() {
        let fee = FeePlans::bundled().monthly_fee(PlanKind::PerInvoice, 42, 0);
        let d = draft(&customer("FR"), &fee).unwrap();
        assert!(d.series.key().starts_with("MB"), "{}", d.series.key());
        assert_eq!(d.body.order_id.as_str(), "FEE-seller-1-202611");
        assert_eq!(d.body.delivery_date, time::macros::date!(2026 - 11 - 30));
        assert_eq!(d.issue_date, time::macros::date!(2026 - 12 - 01));
        assert!(d.body.lines.iter().all(|l| l.kind == LineKind::Service));
        assert_eq!(d.body.seller.siren.as_ref().map(|s| s.as_str()), Some("912345675"));
        assert_eq!(d.body.buyer.known_siren().as_deref(), Some("732829320"));
        assert!(d.body.notes.iter().any(|n| n.subject.as_deref() == Some("PMT")));
        assert!(d.body.payment.terms.contains("31/12/2026"), "{}", d.body.payment.terms);
        let yen = MonthlyFee { currency: "JPY".into(), ..fee.clone() };
        assert!(matches!(draft(&customer("FR"), &yen), Err(FeeInvoiceError::Currency(_))));
        assert!(matches!(
            fee_reference("bad id/..", YearMonth::new(2026, Month::November)),
            Err(FeeInvoiceError::Reference(_))
        ));
    }
}
