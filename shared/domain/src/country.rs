//! Countries: ISO 3166-1 alpha-2 codes, EU membership and the VAT rates of each member state.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::money::VatRate;

/// An ISO 3166-1 alpha-2 country code, upper case (`FR`, `DE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a country is a two-letter ISO 3166 code such as \"FR\", got {0:?}")]
pub struct CountryCodeError(pub String);

impl CountryCode {
    pub const FR: CountryCode = CountryCode(*b"FR");

    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    pub fn is_france(self) -> bool {
        self == Self::FR
    }

    /// Whether a postal code has this country's form (the EU member states' formats; any
    /// short code elsewhere). Blanks around and inside are allowed where the country writes them.
    pub fn postal_code_ok(self, code: &str) -> bool {
        let c = code.trim();
        let digits = |n: usize| c.len() == n && c.bytes().all(|b| b.is_ascii_digit());
        match self.as_str() {
            "FR" | "DE" | "ES" | "IT" | "FI" | "EE" | "HR" | "LT" => digits(5),
            "BE" | "AT" | "BG" | "DK" | "HU" | "LU" | "SI" | "CY" => digits(4),
            "PT" => {
                let b = c.as_bytes();
                c.len() == 8 && b[4] == b'-' && c.bytes().enumerate().all(|(i, x)| i == 4 || x.is_ascii_digit())
            }
            "PL" => {
                let b = c.as_bytes();
                c.len() == 6 && b[2] == b'-' && c.bytes().enumerate().all(|(i, x)| i == 2 || x.is_ascii_digit())
            }
            "NL" => {
                let compact: Vec<u8> = c.bytes().filter(|b| *b != b' ').collect();
                compact.len() == 6
                    && compact[..4].iter().all(u8::is_ascii_digit)
                    && compact[4..].iter().all(u8::is_ascii_alphabetic)
            }
            "CZ" | "SK" | "SE" | "GR" => {
                let compact: Vec<u8> = c.bytes().filter(|b| *b != b' ').collect();
                compact.len() == 5 && compact.iter().all(u8::is_ascii_digit)
            }
            "RO" => digits(6),
            "LV" => c.len() == 7 && c.starts_with("LV-") && c[3..].bytes().all(|b| b.is_ascii_digit()),
            "MT" | "IE" => (3..=8).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' '),
            _ => (1..=12).contains(&c.len()),
        }
    }

    pub fn is_eu(self) -> bool {
        EU_VAT_RATES.iter().any(|(c, _, _)| c.as_bytes() == self.0)
    }

    /// The prefix of VAT numbers of this country (Greece uses `EL`).
    pub fn vat_prefix(self) -> &'static str {
        match self.as_str() {
            "GR" => "EL",
            other => EU_VAT_RATES.iter().find(|(c, _, _)| *c == other).map(|(c, _, _)| *c).unwrap_or("??"),
        }
    }

    /// The VAT rates in force in this member state (standard first); empty outside the EU.
    pub fn vat_rates(self) -> Vec<VatRate> {
        EU_VAT_RATES
            .iter()
            .find(|(c, _, _)| c.as_bytes() == self.0)
            .map(|(_, standard, reduced)| {
                std::iter::once(standard)
                    .chain(reduced.iter())
                    .filter_map(|s| Decimal::from_str(s).ok())
                    .filter_map(|d| VatRate::new(d).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// French name of the country, for addresses printed on invoices.
    pub fn french_name(self) -> &'static str {
        self.name(crate::seller::Language::Fr)
    }

    /// The country's name in a document language (empty when not in the table: the code is
    /// printed then).
    pub fn name(self, lang: crate::seller::Language) -> &'static str {
        let column = crate::seller::Language::ALL.iter().position(|l| *l == lang).unwrap_or(0);
        COUNTRY_NAMES
            .iter()
            .find(|(c, _)| c.as_bytes() == self.0)
            .and_then(|(_, names)| names.get(column).copied())
            .unwrap_or("")
    }
}

impl FromStr for CountryCode {
    type Err = CountryCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let b = t.as_bytes();
        if b.len() == 2 && b.iter().all(|c| c.is_ascii_alphabetic()) {
            Ok(CountryCode([b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()]))
        } else {
            Err(CountryCodeError(s.to_owned()))
        }
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CountryCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// VAT rates of the EU member states (standard, then reduced/super-reduced), as published by
/// the European Commission's "VAT rates applied in the Member States" (state of 2025-2026).
/// Data, not logic: update it when a member state changes its rates.
const EU_VAT_RATES: &[(&str, &str, &[&str])] = &[
    ("AT", "20", &["13", "10"]),
    ("BE", "21", &["12", "6"]),
    ("BG", "20", &["9"]),
    ("CY", "19", &["9", "5", "3"]),
    ("CZ", "21", &["12"]),
    ("DE", "19", &["7"]),
    ("DK", "25", &[]),
    ("EE", "24", &["13", "9"]),
    ("ES", "21", &["10", "4"]),
    ("FI", "25.5", &["14", "13.5", "10"]),
    ("FR", "20", &["10", "5.5", "2.1"]),
    ("GR", "24", &["13", "6"]),
    ("HR", "25", &["13", "5"]),
    ("HU", "27", &["18", "5"]),
    ("IE", "23", &["13.5", "9", "4.8"]),
    ("IT", "22", &["10", "5", "4"]),
    ("LT", "21", &["12", "9", "5"]),
    ("LU", "17", &["14", "8", "3"]),
    ("LV", "21", &["12", "5"]),
    ("MT", "18", &["7", "5"]),
    ("NL", "21", &["9"]),
    ("PL", "23", &["8", "5"]),
    ("PT", "23", &["13", "6"]),
    ("RO", "21", &["11"]),
    ("SE", "25", &["12", "6"]),
    ("SI", "22", &["9.5", "5"]),
    ("SK", "23", &["19", "5"]),
];

/// Country names as printed on documents, in the labels' languages: (code, fr, en, de, es,
/// it, nl, pl). The EU member states and the countries orders come from most.
const COUNTRY_NAMES: &[(&str, [&str; 7])] = &[
    ("AT", ["Autriche", "Austria", "Österreich", "Austria", "Austria", "Oostenrijk", "Austria"]),
    ("BE", ["Belgique", "Belgium", "Belgien", "Bélgica", "Belgio", "België", "Belgia"]),
    ("BG", ["Bulgarie", "Bulgaria", "Bulgarien", "Bulgaria", "Bulgaria", "Bulgarije", "Bułgaria"]),
    ("CY", ["Chypre", "Cyprus", "Zypern", "Chipre", "Cipro", "Cyprus", "Cypr"]),
    ("CZ", ["Tchéquie", "Czechia", "Tschechien", "Chequia", "Cechia", "Tsjechië", "Czechy"]),
    ("DE", ["Allemagne", "Germany", "Deutschland", "Alemania", "Germania", "Duitsland", "Niemcy"]),
    ("DK", ["Danemark", "Denmark", "Dänemark", "Dinamarca", "Danimarca", "Denemarken", "Dania"]),
    ("EE", ["Estonie", "Estonia", "Estland", "Estonia", "Estonia", "Estland", "Estonia"]),
    ("ES", ["Espagne", "Spain", "Spanien", "España", "Spagna", "Spanje", "Hiszpania"]),
    ("FI", ["Finlande", "Finland", "Finnland", "Finlandia", "Finlandia", "Finland", "Finlandia"]),
    ("FR", ["France", "France", "Frankreich", "Francia", "Francia", "Frankrijk", "Francja"]),
    ("GR", ["Grèce", "Greece", "Griechenland", "Grecia", "Grecia", "Griekenland", "Grecja"]),
    ("HR", ["Croatie", "Croatia", "Kroatien", "Croacia", "Croazia", "Kroatië", "Chorwacja"]),
    ("HU", ["Hongrie", "Hungary", "Ungarn", "Hungría", "Ungheria", "Hongarije", "Węgry"]),
    ("IE", ["Irlande", "Ireland", "Irland", "Irlanda", "Irlanda", "Ierland", "Irlandia"]),
    ("IT", ["Italie", "Italy", "Italien", "Italia", "Italia", "Italië", "Włochy"]),
    ("LT", ["Lituanie", "Lithuania", "Litauen", "Lituania", "Lituania", "Litouwen", "Litwa"]),
    ("LU", ["Luxembourg", "Luxembourg", "Luxemburg", "Luxemburgo", "Lussemburgo", "Luxemburg", "Luksemburg"]),
    ("LV", ["Lettonie", "Latvia", "Lettland", "Letonia", "Lettonia", "Letland", "Łotwa"]),
    ("MT", ["Malte", "Malta", "Malta", "Malta", "Malta", "Malta", "Malta"]),
    ("NL", ["Pays-Bas", "Netherlands", "Niederlande", "Países Bajos", "Paesi Bassi", "Nederland", "Holandia"]),
    ("PL", ["Pologne", "Poland", "Polen", "Polonia", "Polonia", "Polen", "Polska"]),
    ("PT", ["Portugal", "Portugal", "Portugal", "Portugal", "Portogallo", "Portugal", "Portugalia"]),
    ("RO", ["Roumanie", "Romania", "Rumänien", "Rumanía", "Romania", "Roemenië", "Rumunia"]),
    ("SE", ["Suède", "Sweden", "Schweden", "Suecia", "Svezia", "Zweden", "Szwecja"]),
    ("SI", ["Slovénie", "Slovenia", "Slowenien", "Eslovenia", "Slovenia", "Slovenië", "Słowenia"]),
    ("SK", ["Slovaquie", "Slovakia", "Slowakei", "Eslovaquia", "Slovacchia", "Slowakije", "Słowacja"]),
    ("CH", ["Suisse", "Switzerland", "Schweiz", "Suiza", "Svizzera", "Zwitserland", "Szwajcaria"]),
    (
        "GB",
        [
            "Royaume-Uni",
            "United Kingdom",
            "Vereinigtes Königreich",
            "Reino Unido",
            "Regno Unito",
            "Verenigd Koninkrijk",
            "Wielka Brytania",
        ],
    ),
    (
        "US",
        [
            "États-Unis",
            "United States",
            "Vereinigte Staaten",
            "Estados Unidos",
            "Stati Uniti",
            "Verenigde Staten",
            "Stany Zjednoczone",
        ],
    ),
    ("CN", ["Chine", "China", "China", "China", "Cina", "China", "Chiny"]),
];

#[cfg(test)]
mod postal_tests {
    use super::*;

    #[test]
    fn postal_codes_have_their_countrys_form() {
        let fr: CountryCode = "FR".parse().unwrap();
        assert!(fr.postal_code_ok("69002") && fr.postal_code_ok(" 75016 "));
        assert!(!fr.postal_code_ok("6900") && !fr.postal_code_ok("750") && !fr.postal_code_ok("75O16"));
        let be: CountryCode = "BE".parse().unwrap();
        assert!(be.postal_code_ok("1000") && !be.postal_code_ok("10000"));
        let nl: CountryCode = "NL".parse().unwrap();
        assert!(nl.postal_code_ok("1012 AB") && !nl.postal_code_ok("1012"));
        let pl: CountryCode = "PL".parse().unwrap();
        assert!(pl.postal_code_ok("00-950") && !pl.postal_code_ok("00950"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_upper_cased_and_checked() {
        assert_eq!("fr".parse::<CountryCode>(), Ok(CountryCode::FR));
        assert!("FRA".parse::<CountryCode>().is_err());
        assert!("F1".parse::<CountryCode>().is_err());
    }

    #[test]
    fn eu_membership_and_rates() {
        let de: CountryCode = "DE".parse().unwrap();
        assert!(de.is_eu());
        assert_eq!(de.vat_rates().iter().map(|r| r.to_string()).collect::<Vec<_>>(), ["19", "7"]);
        let ch: CountryCode = "CH".parse().unwrap();
        assert!(!ch.is_eu());
        assert!(ch.vat_rates().is_empty());
        let gr: CountryCode = "GR".parse().unwrap();
        assert_eq!(gr.vat_prefix(), "EL");
        assert_eq!(CountryCode::FR.vat_rates().len(), 4);
    }
}
