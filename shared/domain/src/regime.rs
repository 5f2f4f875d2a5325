//! Which VAT regime applies to an order (invoicing rules §3), and why an order is refused.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::country::CountryCode;
use crate::ids::VatNumber;
use crate::seller::Language;

/// The EN 16931 VAT category of a line or a breakdown (UNTDID 5305 subset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum VatCategory {
    /// Standard rate (any positive rate).
    S,
    /// Intra-community supply, exempt.
    K,
    /// Reverse charge.
    AE,
    /// Exempt (here: the French franchise).
    E,
}

impl VatCategory {
    pub fn code(self) -> &'static str {
        match self {
            VatCategory::S => "S",
            VatCategory::K => "K",
            VatCategory::AE => "AE",
            VatCategory::E => "E",
        }
    }
}

/// The regime under which an invoice is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum VatRegime {
    /// French VAT declared in France (French sellers; EU sellers selling from French stock or
    /// registered in France).
    FrenchVat,
    /// French VAT declared by an EU seller through the One-Stop-Shop.
    Oss,
    /// VAT of the seller's own member state (distance sales under €10,000).
    HomeCountry { country: CountryCode },
    /// Exempt intra-EU supply to a business with a VAT number.
    IntraEuExempt,
    /// Reverse charge: the French business buyer pays the VAT.
    ReverseCharge,
    /// French micro-entrepreneur under the VAT franchise.
    Franchise,
}

impl VatRegime {
    pub fn category(self) -> VatCategory {
        match self {
            VatRegime::FrenchVat | VatRegime::Oss | VatRegime::HomeCountry { .. } => VatCategory::S,
            VatRegime::IntraEuExempt => VatCategory::K,
            VatRegime::ReverseCharge => VatCategory::AE,
            VatRegime::Franchise => VatCategory::E,
        }
    }

    /// Whether lines carry VAT.
    pub fn is_taxed(self) -> bool {
        self.category() == VatCategory::S
    }

    /// The text the invoice must print for this regime, if any, in French.
    pub fn notice(self) -> Option<String> {
        self.notice_in(Language::Fr)
    }

    /// The text the invoice must print for this regime, if any, in the document's language.
    /// The legal references stay as the law writes them.
    pub fn notice_in(self, lang: Language) -> Option<String> {
        let text = match self {
            VatRegime::FrenchVat => return None,
            VatRegime::Oss => match lang {
                Language::Fr => "TVA due en France, déclarée via le guichet unique (OSS)".to_string(),
                Language::En => "VAT due in France, declared through the One-Stop Shop (OSS)".to_string(),
                Language::De => "In Frankreich geschuldete MwSt., erklärt über den One-Stop-Shop (OSS)".to_string(),
                Language::Es => "IVA devengado en Francia, declarado en la ventanilla única (OSS)".to_string(),
                Language::It => "IVA dovuta in Francia, dichiarata tramite lo sportello unico (OSS)".to_string(),
                Language::Nl => "Btw verschuldigd in Frankrijk, aangegeven via het éénloketsysteem (OSS)".to_string(),
                Language::Pl => "VAT należny we Francji, rozliczony w procedurze OSS".to_string(),
            },
            VatRegime::HomeCountry { country } => {
                let name = match country.name(lang) {
                    "" => country.as_str(),
                    name => name,
                };
                match lang {
                    Language::Fr => format!(
                        "Vente à distance intracommunautaire sous le seuil de 10 000 € : TVA du pays du vendeur ({name}) appliquée"
                    ),
                    Language::En => format!(
                        "Intra-EU distance sale under the €10,000 threshold: VAT of the seller's country ({name}) applied"
                    ),
                    Language::De => format!(
                        "Innergemeinschaftlicher Fernverkauf unter der Schwelle von 10.000 €: MwSt. des Landes des Verkäufers ({name}) angewandt"
                    ),
                    Language::Es => format!(
                        "Venta a distancia intracomunitaria por debajo del umbral de 10.000 €: IVA del país del vendedor ({name}) aplicado"
                    ),
                    Language::It => format!(
                        "Vendita a distanza intracomunitaria sotto la soglia di 10.000 €: IVA del paese del venditore ({name}) applicata"
                    ),
                    Language::Nl => format!(
                        "Intracommunautaire afstandsverkoop onder de drempel van 10.000 €: btw van het land van de verkoper ({name}) toegepast"
                    ),
                    Language::Pl => format!(
                        "Wewnątrzwspólnotowa sprzedaż na odległość poniżej progu 10 000 €: zastosowano VAT kraju sprzedawcy ({name})"
                    ),
                }
            }
            VatRegime::IntraEuExempt => match lang {
                Language::Fr => "Exonération de TVA, art. 138 directive 2006/112/CE",
                Language::En => "VAT exempt, art. 138 of Directive 2006/112/EC",
                Language::De => "Steuerfreie innergemeinschaftliche Lieferung, Art. 138 Richtlinie 2006/112/EG",
                Language::Es => "Exenta de IVA, art. 138 Directiva 2006/112/CE",
                Language::It => "Operazione esente IVA, art. 138 direttiva 2006/112/CE",
                Language::Nl => "Vrijgesteld van btw, art. 138 richtlijn 2006/112/EG",
                Language::Pl => "Zwolnione z VAT, art. 138 dyrektywy 2006/112/WE",
            }
            .to_string(),
            VatRegime::ReverseCharge => match lang {
                Language::Fr => "Autoliquidation : TVA due par le preneur (art. 283-1 du CGI)",
                Language::En => "Reverse charge: VAT due by the customer (art. 283-1 of the French CGI)",
                Language::De => "Steuerschuldnerschaft des Leistungsempfängers (Art. 283-1 CGI)",
                Language::Es => {
                    "Inversión del sujeto pasivo: IVA a cargo del destinatario (art. 283-1 del CGI francés)"
                }
                Language::It => "Inversione contabile: IVA dovuta dal cessionario (art. 283-1 del CGI francese)",
                Language::Nl => "Btw verlegd: btw verschuldigd door de afnemer (art. 283-1 CGI)",
                Language::Pl => "Odwrotne obciążenie: VAT rozlicza nabywca (art. 283-1 francuskiego CGI)",
            }
            .to_string(),
            VatRegime::Franchise => match lang {
                Language::Fr => "TVA non applicable, art. 293 B du CGI",
                Language::En => "VAT not applicable, art. 293 B of the French CGI",
                Language::De => "MwSt. nicht anwendbar, Art. 293 B CGI (Kleinunternehmerregelung)",
                Language::Es => "IVA no aplicable, art. 293 B del CGI francés",
                Language::It => "IVA non applicabile, art. 293 B del CGI francese",
                Language::Nl => "Btw niet van toepassing, art. 293 B CGI",
                Language::Pl => "VAT nie ma zastosowania, art. 293 B francuskiego CGI",
            }
            .to_string(),
        };
        Some(text)
    }

    /// The exemption reason (BT-121 code, BT-120 text) of a zero-VAT regime.
    pub fn exemption(self) -> Option<(&'static str, &'static str)> {
        match self {
            VatRegime::IntraEuExempt => Some(("VATEX-EU-IC", "Exonération de TVA, art. 138 directive 2006/112/CE")),
            VatRegime::ReverseCharge => Some(("VATEX-EU-AE", "Autoliquidation")),
            VatRegime::Franchise => Some(("VATEX-FR-FRANCHISE", "TVA non applicable, art. 293 B du CGI")),
            _ => None,
        }
    }
}

/// Where the goods of an order leave from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShipFrom {
    France,
    /// Another member state (the seller's, in practice).
    EuCountry(CountryCode),
    /// Outside the EU: an import.
    OutsideEu,
}

/// Why an order gets no invoice. Each reason has a stable code recorded on the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "camelCase", tag = "reason")]
pub enum Refusal {
    #[error("the order is {status}, not shipped: no invoice is due")]
    NotShipped { status: String },
    #[error("the order has no line that was supplied")]
    NoSuppliedLines,
    #[error("the order ships to {countries}, not to France: the service only invoices orders shipped to France")]
    NotShippedToFrance { countries: String },
    #[error(
        "line {line} ships to {postal_code}, a French overseas territory outside the French VAT territory (an export): it must be invoiced by hand"
    )]
    OverseasDelivery { line: String, postal_code: String },
    #[error("no delivery country is known for line {line}")]
    NoDeliveryCountry { line: String },
    #[error("the marketplace is the deemed supplier ({why}): the seller must not invoice the buyer")]
    DeemedSupplier { why: String },
    #[error("an import of goods over €150 from outside the EU is not supported")]
    ImportNotSupported,
    #[error("the order mixes goods shipped from France and from abroad; it must be invoiced by hand")]
    MixedShipFrom,
    #[error("{what}: the marketplace says {stated} but the lines add up to {computed}")]
    TotalsMismatch { what: String, stated: Decimal, computed: Decimal },
    #[error("the order has {count} lines; at most {max} are invoiced automatically")]
    TooManyLines { count: usize, max: usize },
    #[error("line {line}: {problem}")]
    InvalidLine { line: String, problem: String },
    #[error("line {line}: VAT rate {rate} % is not a rate of the regime ({allowed})")]
    UnknownVatRate { line: String, rate: String, allowed: String },
    #[error("the order is in {currency}; only EUR is invoiced")]
    UnsupportedCurrency { currency: String },
    #[error("goods leave from France: the seller's French VAT number is needed for a domestic sale")]
    FrenchVatNumberRequired,
    #[error("the order belongs to marketplace seller {order_seller}, not to this seller")]
    OtherSeller { order_seller: String },
    #[error("the buyer's name or billing address is missing")]
    MissingBuyer,
    /// OSS is for sales to consumers: a business buyer of an EU seller shipping from its own
    /// country is invoiced without VAT as an intra-EU supply, which needs its VAT number.
    #[error(
        "the buyer is a business that gave no VAT number: the One-Stop-Shop is for sales to consumers; \
         the buyer is asked for its VAT number (an exempt intra-EU supply then)"
    )]
    BusinessBuyerWithoutVatNumber,
    #[error("the marketplace sent an order that cannot be read: field `{field}`: {problem}")]
    Unreadable { field: String, problem: String },
    /// A defect met while handling this order (caught at the order's boundary, so the run went
    /// on); the operator is alerted by the log line and the order waits in the problems list.
    #[error("this order could not be processed ({problem}); it was set aside and reported")]
    ProcessingFailed { problem: String },
}

impl Refusal {
    /// A stable, machine-readable code (`notShippedToFrance`).
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NotShipped { .. } => "notShipped",
            Refusal::NoSuppliedLines => "noSuppliedLines",
            Refusal::NotShippedToFrance { .. } => "notShippedToFrance",
            Refusal::OverseasDelivery { .. } => "overseasDelivery",
            Refusal::NoDeliveryCountry { .. } => "noDeliveryCountry",
            Refusal::DeemedSupplier { .. } => "deemedSupplier",
            Refusal::ImportNotSupported => "importNotSupported",
            Refusal::MixedShipFrom => "mixedShipFrom",
            Refusal::TotalsMismatch { .. } => "totalsMismatch",
            Refusal::TooManyLines { .. } => "tooManyLines",
            Refusal::InvalidLine { .. } => "invalidLine",
            Refusal::UnknownVatRate { .. } => "unknownVatRate",
            Refusal::UnsupportedCurrency { .. } => "unsupportedCurrency",
            Refusal::FrenchVatNumberRequired => "frenchVatNumberRequired",
            Refusal::OtherSeller { .. } => "otherSeller",
            Refusal::MissingBuyer => "missingBuyer",
            Refusal::BusinessBuyerWithoutVatNumber => "businessBuyerWithoutVatNumber",
            Refusal::Unreadable { .. } => "unreadableOrder",
            Refusal::ProcessingFailed { .. } => "processingFailed",
        }
    }

    /// Whether the order may become invoiceable later without anyone changing it by hand
    /// (it is not shipped yet).
    pub fn may_change(&self) -> bool {
        matches!(self, Refusal::NotShipped { .. } | Refusal::Unreadable { .. }) || self.waits_for_buyer()
    }

    /// Whether the buyer's billing data (a buyer request) can lift the refusal.
    pub fn waits_for_buyer(&self) -> bool {
        matches!(self, Refusal::BusinessBuyerWithoutVatNumber)
    }
}

/// The facts that decide the regime of an order.
#[derive(Debug, Clone, Copy)]
pub struct RegimeFacts<'a> {
    /// Where the seller is established.
    pub seller_country: CountryCode,
    pub seller_scheme: crate::seller::VatScheme,
    pub seller_has_french_vat_number: bool,
    pub ship_from: ShipFrom,
    /// The buyer's VAT number, when the buyer is a business that gave one.
    pub buyer_vat_number: Option<&'a VatNumber>,
    /// Whether the buyer is a business (a company name on a business order, or a buyer
    /// request in a company's name).
    pub buyer_is_business: bool,
    /// What the buyer paid for the whole consignment, VAT included.
    pub consignment_value: Decimal,
}

/// The €150 threshold of low-value consignments imported from outside the EU.
const LOW_VALUE_IMPORT: Decimal = Decimal::from_parts(150, 0, 0, false, 0);

/// Decides the regime of one order shipped to France (invoicing rules §3).
pub fn decide_regime(f: &RegimeFacts<'_>) -> Result<VatRegime, Refusal> {
    use crate::seller::VatScheme;
    if !f.seller_country.is_eu() {
        return Err(Refusal::DeemedSupplier {
            why: format!("seller established outside the EU ({})", f.seller_country),
        });
    }
    if f.ship_from == ShipFrom::OutsideEu {
        return if f.consignment_value <= LOW_VALUE_IMPORT {
            Err(Refusal::DeemedSupplier {
                why: "goods imported from outside the EU in a consignment of €150 or less".into(),
            })
        } else {
            Err(Refusal::ImportNotSupported)
        };
    }
    if f.seller_scheme == VatScheme::Franchise {
        return Ok(VatRegime::Franchise);
    }
    if f.seller_country.is_france() {
        return Ok(VatRegime::FrenchVat);
    }
    let buyer_vat = f.buyer_vat_number;
    let buyer_vat_is_french = buyer_vat.is_some_and(|v| v.prefix() == "FR");
    match f.ship_from {
        ShipFrom::France => {
            if buyer_vat_is_french {
                Ok(VatRegime::ReverseCharge)
            } else if f.seller_has_french_vat_number {
                Ok(VatRegime::FrenchVat)
            } else {
                Err(Refusal::FrenchVatNumberRequired)
            }
        }
        ShipFrom::EuCountry(from) => {
            let buyer_in_other_state = buyer_vat.and_then(VatNumber::country).is_some_and(|c| c != from);
            if buyer_in_other_state {
                return Ok(VatRegime::IntraEuExempt);
            }
            match f.seller_scheme {
                VatScheme::Oss if f.buyer_is_business => Err(Refusal::BusinessBuyerWithoutVatNumber),
                VatScheme::Oss => Ok(VatRegime::Oss),
                VatScheme::HomeCountry => Ok(VatRegime::HomeCountry { country: f.seller_country }),
                VatScheme::Standard | VatScheme::Franchise => {
                    if f.seller_has_french_vat_number {
                        Ok(VatRegime::FrenchVat)
                    } else {
                        Err(Refusal::FrenchVatNumberRequired)
                    }
                }
            }
        }
        ShipFrom::OutsideEu => Err(Refusal::ImportNotSupported),
    }
}

impl fmt::Display for VatRegime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VatRegime::FrenchVat => f.write_str("French VAT"),
            VatRegime::Oss => f.write_str("French VAT via OSS"),
            VatRegime::HomeCountry { country } => {
                write!(f, "{country} VAT (under the distance-sales threshold)")
            }
            VatRegime::IntraEuExempt => f.write_str("exempt intra-EU supply"),
            VatRegime::ReverseCharge => f.write_str("reverse charge"),
            VatRegime::Franchise => f.write_str("VAT franchise"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seller::VatScheme;
    use rust_decimal_macros::dec;

    fn facts(country: &str, scheme: VatScheme, ship_from: ShipFrom) -> RegimeFacts<'static> {
        RegimeFacts {
            seller_country: country.parse().unwrap(),
            seller_scheme: scheme,
            seller_has_french_vat_number: false,
            ship_from,
            buyer_vat_number: None,
            buyer_is_business: false,
            consignment_value: dec!(50),
        }
    }

    fn de() -> ShipFrom {
        ShipFrom::EuCountry("DE".parse().unwrap())
    }

    fn buyer_fr() -> &'static VatNumber {
        Box::leak(Box::new("FR44732829320".parse().unwrap()))
    }

    #[test]
    fn french_seller_consumer_and_business_pay_french_vat() {
        let mut f = facts("FR", VatScheme::Standard, ShipFrom::France);
        assert_eq!(decide_regime(&f), Ok(VatRegime::FrenchVat));
        f.buyer_vat_number = Some(buyer_fr());
        assert_eq!(decide_regime(&f), Ok(VatRegime::FrenchVat));
    }

    #[test]
    fn eu_seller_under_threshold_applies_home_vat() {
        let f = facts("DE", VatScheme::HomeCountry, de());
        assert_eq!(decide_regime(&f), Ok(VatRegime::HomeCountry { country: "DE".parse().unwrap() }));
    }

    #[test]
    fn eu_seller_over_threshold_declares_french_vat_via_oss() {
        let f = facts("DE", VatScheme::Oss, de());
        let regime = decide_regime(&f).unwrap();
        assert_eq!(regime, VatRegime::Oss);
        assert_eq!(regime.category(), VatCategory::S);
        assert!(regime.notice().unwrap().contains("guichet unique (OSS)"));
    }

    #[test]
    fn oss_is_for_consumers_a_business_buyer_gives_its_vat_number() {
        let mut f = facts("DE", VatScheme::Oss, de());
        f.buyer_is_business = true;
        let refused = decide_regime(&f).unwrap_err();
        assert_eq!(refused, Refusal::BusinessBuyerWithoutVatNumber);
        assert!(refused.waits_for_buyer() && refused.may_change());
        f.buyer_vat_number = Some(buyer_fr());
        assert_eq!(decide_regime(&f), Ok(VatRegime::IntraEuExempt), "with its VAT number: an intra-EU supply");
    }

    #[test]
    fn eu_seller_shipping_from_france_to_consumer_is_a_domestic_sale() {
        let mut f = facts("DE", VatScheme::Oss, ShipFrom::France);
        assert_eq!(decide_regime(&f), Err(Refusal::FrenchVatNumberRequired));
        f.seller_has_french_vat_number = true;
        assert_eq!(decide_regime(&f), Ok(VatRegime::FrenchVat));
    }

    #[test]
    fn eu_seller_to_french_business_from_abroad_is_exempt_intra_eu() {
        let mut f = facts("DE", VatScheme::Oss, de());
        f.buyer_vat_number = Some(buyer_fr());
        let regime = decide_regime(&f).unwrap();
        assert_eq!(regime, VatRegime::IntraEuExempt);
        assert_eq!(regime.category(), VatCategory::K);
        assert_eq!(regime.notice().unwrap(), "Exonération de TVA, art. 138 directive 2006/112/CE");
    }

    #[test]
    fn eu_seller_to_french_business_from_france_is_reverse_charge() {
        let mut f = facts("IT", VatScheme::Oss, ShipFrom::France);
        f.buyer_vat_number = Some(buyer_fr());
        let regime = decide_regime(&f).unwrap();
        assert_eq!(regime, VatRegime::ReverseCharge);
        assert_eq!(regime.category(), VatCategory::AE);
        assert!(regime.notice().unwrap().starts_with("Autoliquidation"));
    }

    #[test]
    fn franchise_seller_charges_no_vat() {
        let mut f = facts("FR", VatScheme::Franchise, ShipFrom::France);
        assert_eq!(decide_regime(&f), Ok(VatRegime::Franchise));
        f.buyer_vat_number = Some(buyer_fr());
        let regime = decide_regime(&f).unwrap();
        assert_eq!(regime.category(), VatCategory::E);
        assert_eq!(regime.notice().unwrap(), "TVA non applicable, art. 293 B du CGI");
    }

    #[test]
    fn outside_the_eu_the_marketplace_is_the_deemed_supplier() {
        let f = facts("CN", VatScheme::Standard, ShipFrom::OutsideEu);
        assert_eq!(decide_regime(&f).unwrap_err().code(), "deemedSupplier");
        let f = facts("FR", VatScheme::Standard, ShipFrom::OutsideEu);
        assert_eq!(decide_regime(&f).unwrap_err().code(), "deemedSupplier");
        let mut f = facts("FR", VatScheme::Standard, ShipFrom::OutsideEu);
        f.consignment_value = dec!(150.01);
        assert_eq!(decide_regime(&f), Err(Refusal::ImportNotSupported));
    }

    #[test]
    fn standard_scheme_abroad_needs_a_french_vat_number() {
        let mut f = facts("ES", VatScheme::Standard, ShipFrom::EuCountry("ES".parse().unwrap()));
        assert_eq!(decide_regime(&f), Err(Refusal::FrenchVatNumberRequired));
        f.seller_has_french_vat_number = true;
        assert_eq!(decide_regime(&f), Ok(VatRegime::FrenchVat));
    }

    #[test]
    fn refusals_serialize_with_their_code() {
        let r = Refusal::NotShippedToFrance { countries: "BE".into() };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["reason"], "notShippedToFrance");
        assert_eq!(r.code(), "notShippedToFrance");
    }
}
