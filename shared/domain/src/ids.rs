//! Identifiers with their check digits: SIREN, SIRET, VAT numbers, order ids, invoice numbers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::country::CountryCode;

/// Implements Display, Serialize and Deserialize (through `FromStr`) for a string newtype.
macro_rules! string_newtype {
    ($ty:ident) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
        impl $ty {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("a SIREN is 9 digits, got {0:?}")]
    SirenFormat(String),
    #[error("the SIREN {0} fails its check digit (Luhn)")]
    SirenCheck(String),
    #[error("a SIRET is 14 digits, got {0:?}")]
    SiretFormat(String),
    #[error("the SIRET {0} fails its check digit (Luhn)")]
    SiretCheck(String),
    #[error("the VAT number {0:?} does not have the format of its country")]
    VatFormat(String),
    #[error("the VAT number {0} fails its check digits")]
    VatCheck(String),
    #[error("an order id is 1 to 64 letters, digits, '-' or '_', got {0:?}")]
    OrderId(String),
    #[error(
        "an invoice number is 1 to 35 characters among A-Z a-z 0-9 + - _ / ('/' neither first, last nor doubled), got {0:?}"
    )]
    InvoiceNumber(String),
    #[error(
        "an invoice prefix is 1 to 24 characters among A-Z a-z 0-9 + - _ / ('/' neither first, last nor doubled), got {0:?}"
    )]
    Prefix(String),
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn digits(s: &str) -> impl DoubleEndedIterator<Item = u32> + '_ {
    s.bytes().map(|b| u32::from(b - b'0'))
}

/// Luhn check over a string of ASCII digits.
fn luhn_ok(s: &str) -> bool {
    let sum: u32 = digits(s)
        .rev()
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The 9-digit French company number, Luhn-checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Siren(String);
string_newtype!(Siren);

impl FromStr for Siren {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.len() != 9 || !all_digits(&compact) {
            return Err(IdError::SirenFormat(s.to_owned()));
        }
        if !luhn_ok(&compact) {
            return Err(IdError::SirenCheck(compact));
        }
        Ok(Siren(compact))
    }
}

/// La Poste's SIREN: its establishments' SIRETs use a sum-of-digits rule instead of Luhn.
const LA_POSTE_SIREN: &str = "356000000";

/// The 14-digit French establishment number: SIREN + 5 digits, Luhn-checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Siret(String);
string_newtype!(Siret);

impl Siret {
    pub fn siren(&self) -> Siren {
        Siren(self.0[..9].to_owned())
    }
}

impl FromStr for Siret {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.len() != 14 || !all_digits(&compact) {
            return Err(IdError::SiretFormat(s.to_owned()));
        }
        let ok = if compact.starts_with(LA_POSTE_SIREN) && compact != "35600000000048" {
            digits(&compact).sum::<u32>().is_multiple_of(5)
        } else {
            luhn_ok(&compact)
        };
        if !ok || !luhn_ok(&compact[..9]) {
            return Err(IdError::SiretCheck(compact));
        }
        Ok(Siret(compact))
    }
}

/// An EU VAT identification number (`FR40303265045`, `DE136695976`), prefix included.
///
/// Check digits are verified for FR, DE, IT, ES, BE, NL, LU and PL; for the other member
/// states the national format is checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VatNumber(String);
string_newtype!(VatNumber);

impl VatNumber {
    /// The two-letter prefix (`FR`, `EL` for Greece).
    pub fn prefix(&self) -> &str {
        &self.0[..2]
    }

    /// The country the number belongs to (`EL` → `GR`).
    pub fn country(&self) -> Option<CountryCode> {
        match self.prefix() {
            "EL" => "GR".parse().ok(),
            p => p.parse().ok(),
        }
    }

    /// The French VAT number derived from a SIREN (key = (12 + 3 × (SIREN mod 97)) mod 97).
    pub fn french_from_siren(siren: &Siren) -> VatNumber {
        VatNumber(format!("FR{:02}{}", french_key(siren.as_str()), siren.as_str()))
    }

    /// For a French number, the SIREN it embeds.
    pub fn french_siren(&self) -> Option<&str> {
        (self.prefix() == "FR").then(|| &self.0[4..])
    }
}

fn french_key(siren: &str) -> u64 {
    let n: u64 = siren.parse().unwrap_or(0);
    (12 + 3 * (n % 97)) % 97
}

impl FromStr for VatNumber {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let compact: String =
            s.chars().filter(|c| !c.is_whitespace() && *c != '.' && *c != '-').collect::<String>().to_ascii_uppercase();
        if compact.len() < 4 || !compact.is_ascii() {
            return Err(IdError::VatFormat(s.to_owned()));
        }
        let (prefix, body) = compact.split_at(2);
        let format_ok = match prefix {
            "FR" => body.len() == 11 && body[..2].bytes().all(|b| b.is_ascii_alphanumeric()) && all_digits(&body[2..]),
            "DE" | "EE" | "PT" | "EL" => body.len() == 9 && all_digits(body),
            "IT" | "LV" => body.len() == 11 && all_digits(body),
            "ES" => body.len() == 9 && body.bytes().all(|b| b.is_ascii_alphanumeric()) && all_digits(&body[1..8]),
            "BE" => body.len() == 10 && all_digits(body) && (body.starts_with('0') || body.starts_with('1')),
            "NL" => body.len() == 12 && all_digits(&body[..9]) && &body[9..10] == "B" && all_digits(&body[10..]),
            "LU" | "DK" | "FI" | "HU" | "MT" | "SI" => body.len() == 8 && all_digits(body),
            "PL" | "SK" => body.len() == 10 && all_digits(body),
            "AT" => body.len() == 9 && body.starts_with('U') && all_digits(&body[1..]),
            "BG" => (body.len() == 9 || body.len() == 10) && all_digits(body),
            "CY" => body.len() == 9 && all_digits(&body[..8]) && body.as_bytes()[8].is_ascii_alphabetic(),
            "CZ" => (8..=10).contains(&body.len()) && all_digits(body),
            "HR" => body.len() == 11 && all_digits(body),
            "IE" => (body.len() == 8 || body.len() == 9) && body.bytes().all(|b| b.is_ascii_alphanumeric()),
            "LT" => (body.len() == 9 || body.len() == 12) && all_digits(body),
            "RO" => (2..=10).contains(&body.len()) && all_digits(body),
            "SE" => body.len() == 12 && all_digits(body) && body.ends_with("01"),
            _ => false,
        };
        if !format_ok {
            return Err(IdError::VatFormat(s.to_owned()));
        }
        let check_ok = match prefix {
            "FR" => check_fr(body),
            "DE" => check_de(body),
            "IT" => luhn_ok(body),
            "ES" => check_es(body),
            "BE" => check_be(body),
            "NL" => check_nl(&compact),
            "LU" => check_lu(body),
            "PL" => check_pl(body),
            _ => true,
        };
        if !check_ok {
            return Err(IdError::VatCheck(compact));
        }
        Ok(VatNumber(compact))
    }
}

fn check_fr(body: &str) -> bool {
    let siren = &body[2..];
    // Only numeric keys can be verified; the rare alphabetic keys are accepted on format.
    match body[..2].parse::<u64>() {
        Ok(key) => key == french_key(siren) && luhn_ok(siren),
        Err(_) => true,
    }
}

/// ISO 7064 MOD 11,10 over the first eight digits.
fn check_de(body: &str) -> bool {
    let d: Vec<u32> = digits(body).collect();
    let mut product = 10;
    for &x in &d[..8] {
        let mut sum = (x + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (2 * sum) % 11;
    }
    let check = (11 - product) % 10;
    check == d[8]
}

fn check_es(body: &str) -> bool {
    const DNI_LETTERS: &[u8] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    let b = body.as_bytes();
    let first = b[0];
    let last = b[8];
    if first.is_ascii_digit() || matches!(first, b'X' | b'Y' | b'Z') {
        // NIF of a person (DNI) or a foreigner (NIE): 8 digits and a control letter.
        let lead = match first {
            b'X' => "0",
            b'Y' => "1",
            b'Z' => "2",
            _ => &body[..1],
        };
        let number: Option<u64> = format!("{lead}{}", &body[1..8]).parse().ok();
        return number.is_some_and(|n| DNI_LETTERS[(n % 23) as usize] == last);
    }
    if matches!(first, b'K' | b'L' | b'M') {
        let number: Option<u64> = body[1..8].parse().ok();
        return number.is_some_and(|n| DNI_LETTERS[(n % 23) as usize] == last);
    }
    if !b"ABCDEFGHJNPQRSUVW".contains(&first) {
        return false;
    }
    // CIF of a legal entity.
    let d: Vec<u32> = digits(&body[1..8]).collect();
    let sum: u32 = d
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            if i % 2 == 0 {
                let y = 2 * x;
                y / 10 + y % 10
            } else {
                x
            }
        })
        .sum();
    let control = (10 - sum % 10) % 10;
    let letter = b"JABCDEFGHI"[control as usize];
    let digit = b'0' + control as u8;
    match first {
        b'P' | b'Q' | b'R' | b'S' | b'N' | b'W' => last == letter,
        b'A' | b'B' | b'E' | b'H' => last == digit,
        _ => last == letter || last == digit,
    }
}

fn check_be(body: &str) -> bool {
    let head: u64 = body[..8].parse().unwrap_or(0);
    let check: u64 = body[8..].parse().unwrap_or(0);
    97 - head % 97 == check
}

/// Dutch numbers: the classic mod-11 test on the nine digits, or (sole proprietors since 2020)
/// ISO 7064 MOD 97-10 over the whole number with letters as numbers.
fn check_nl(compact: &str) -> bool {
    let d: Vec<u32> = digits(&compact[2..11]).collect();
    let weighted: i64 =
        d[..8].iter().enumerate().map(|(i, &x)| i64::from(x) * (9 - i as i64)).sum::<i64>() - i64::from(d[8]);
    if weighted % 11 == 0 {
        return true;
    }
    let mut remainder: u64 = 0;
    for ch in compact.chars() {
        let value = ch.to_digit(36).map(u64::from).unwrap_or(0);
        let width = if value >= 10 { 100 } else { 10 };
        remainder = (remainder * width + value) % 97;
    }
    remainder == 1
}

fn check_lu(body: &str) -> bool {
    let head: u64 = body[..6].parse().unwrap_or(0);
    let check: u64 = body[6..].parse().unwrap_or(0);
    head % 89 == check
}

fn check_pl(body: &str) -> bool {
    const WEIGHTS: [u32; 9] = [6, 5, 7, 2, 3, 4, 5, 6, 7];
    let d: Vec<u32> = digits(body).collect();
    let sum: u32 = WEIGHTS.iter().zip(&d).map(|(w, x)| w * x).sum();
    let check = sum % 11;
    check != 10 && check == d[9]
}

/// The marketplace's order id (`2611211432ABCD`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderId(String);
string_newtype!(OrderId);

impl OrderId {
    /// An id no marketplace order has, to read with when an order is unknown (so that an
    /// unknown order costs the same reads as a known one).
    pub fn placeholder() -> OrderId {
        OrderId("-".to_owned())
    }
}

impl PartialEq<str> for OrderId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<String> for OrderId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<&str> for OrderId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl FromStr for OrderId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let ok = (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok { Ok(OrderId(s.to_owned())) } else { Err(IdError::OrderId(s.to_owned())) }
    }
}

fn allowed_number_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'_' | b'/')
}

/// A number or prefix is also a path segment of its stored files (`…/F/2026-000001.pdf`):
/// allowed characters only, and `/` never first, last or doubled, so every piece is a name.
fn safe_name(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len())
        && s.bytes().all(allowed_number_char)
        && !s.starts_with('/')
        && !s.ends_with('/')
        && !s.contains("//")
}

/// The maximum length of an invoice number (French e-invoicing syntax rule).
pub const INVOICE_NUMBER_MAX_LEN: usize = 35;
/// Digits of the counter in a number (`000123`); a larger counter simply grows.
const COUNTER_WIDTH: usize = 6;

/// The prefix of an invoice series (`F`, `AV`, `MB-F`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeriesPrefix(String);
string_newtype!(SeriesPrefix);

impl FromStr for SeriesPrefix {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        // prefix + 4-digit year + '-' + 6-digit counter must stay within 35 characters.
        let max = INVOICE_NUMBER_MAX_LEN - 4 - 1 - COUNTER_WIDTH;
        if safe_name(s, max) { Ok(SeriesPrefix(s.to_owned())) } else { Err(IdError::Prefix(s.to_owned())) }
    }
}

/// A series of numbers: one prefix, one year (`F2026`). Numbers run 1, 2, 3… without gaps.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Series {
    pub prefix: SeriesPrefix,
    pub year: i32,
}

impl Series {
    pub fn new(prefix: SeriesPrefix, year: i32) -> Self {
        Series { prefix, year }
    }

    /// The key naming this series in storage (`F2026`).
    pub fn key(&self) -> String {
        format!("{}{}", self.prefix, self.year)
    }

    /// The `counter`-th number of the series (`F2026-000123`).
    pub fn number(&self, counter: u64) -> Result<InvoiceNumber, IdError> {
        format!("{}{:04}-{:0width$}", self.prefix, self.year, counter, width = COUNTER_WIDTH).parse()
    }
}

/// A final invoice or credit-note number: at most 35 characters from `A–Z a–z 0–9 + - _ /`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InvoiceNumber(String);
string_newtype!(InvoiceNumber);

impl FromStr for InvoiceNumber {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if safe_name(s, INVOICE_NUMBER_MAX_LEN) {
            Ok(InvoiceNumber(s.to_owned()))
        } else {
            Err(IdError::InvoiceNumber(s.to_owned()))
        }
    }
}

impl InvoiceNumber {
    /// The number as one file name, `/` shown as `_` (`F/2026-000001` → `F_2026-000001`): what
    /// a file written straight into a chosen folder is called.
    pub fn file_stem(&self) -> String {
        self.0.replace('/', "_")
    }

    /// The counter at the end of a number made by [`Series::number`].
    pub fn counter(&self) -> Option<u64> {
        self.0.rsplit_once('-').and_then(|(_, c)| c.parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siren_accepts_valid_and_rejects_bad_check_digit() {
        assert!("732829320".parse::<Siren>().is_ok());
        assert!("732 829 320".parse::<Siren>().is_ok());
        assert_eq!("732829321".parse::<Siren>(), Err(IdError::SirenCheck("732829321".into())));
        assert!(matches!("73282932".parse::<Siren>(), Err(IdError::SirenFormat(_))));
        assert!(matches!("73282932A".parse::<Siren>(), Err(IdError::SirenFormat(_))));
    }

    #[test]
    fn siret_checks_luhn_and_embeds_its_siren() {
        let siret: Siret = "73282932000074".parse().unwrap();
        assert_eq!(siret.siren().as_str(), "732829320");
        assert!(matches!("73282932000075".parse::<Siret>(), Err(IdError::SiretCheck(_))));
        assert!(matches!("7328293200007".parse::<Siret>(), Err(IdError::SiretFormat(_))));
        // La Poste establishments follow the sum-of-digits rule.
        assert!("35600000049837".parse::<Siret>().is_ok());
    }

    #[test]
    fn french_vat_key_matches_siren() {
        let siren: Siren = "303265045".parse().unwrap();
        assert_eq!(VatNumber::french_from_siren(&siren).as_str(), "FR40303265045");
        assert!("FR40303265045".parse::<VatNumber>().is_ok());
        assert!("fr 40 303 265 045".parse::<VatNumber>().is_ok());
        assert!(matches!("FR41303265045".parse::<VatNumber>(), Err(IdError::VatCheck(_))));
        assert!(matches!("FR4030326504".parse::<VatNumber>(), Err(IdError::VatFormat(_))));
    }

    #[test]
    fn german_italian_spanish_vat_numbers() {
        assert!("DE136695976".parse::<VatNumber>().is_ok());
        assert!(matches!("DE136695977".parse::<VatNumber>(), Err(IdError::VatCheck(_))));
        assert!("IT00743110157".parse::<VatNumber>().is_ok());
        assert!(matches!("IT00743110158".parse::<VatNumber>(), Err(IdError::VatCheck(_))));
        assert!("ESA28015865".parse::<VatNumber>().is_ok()); // CIF, digit control
        assert!("ESQ2826000H".parse::<VatNumber>().is_ok()); // CIF, letter control
        assert!("ES12345678Z".parse::<VatNumber>().is_ok()); // DNI
        assert!("ESX1234567L".parse::<VatNumber>().is_ok()); // NIE
        assert!(matches!("ESA28015866".parse::<VatNumber>(), Err(IdError::VatCheck(_))));
        assert!(matches!("ES12345678A".parse::<VatNumber>(), Err(IdError::VatCheck(_))));
    }

    #[test]
    fn belgian_dutch_luxembourg_polish_vat_numbers() {
        assert!("BE0403170701".parse::<VatNumber>().is_ok());
        assert!(matches!("BE0403170702".parse::<VatNumber>(), Err(IdError::VatCheck(_))));
        assert!("NL004495445B01".parse::<VatNumber>().is_ok());
        assert!("NL000099998B57".parse::<VatNumber>().is_ok()); // mod 97 (sole proprietor)
        assert!(matches!("NL004495446B01".parse::<VatNumber>(), Err(IdError::VatCheck(_))));
        assert!(matches!("NL004495445X01".parse::<VatNumber>(), Err(IdError::VatFormat(_))));
        assert!("LU15027442".parse::<VatNumber>().is_ok());
        assert!(matches!("LU15027443".parse::<VatNumber>(), Err(IdError::VatCheck(_))));
        assert!("PL5260250274".parse::<VatNumber>().is_ok());
        assert!(matches!("PL5260250275".parse::<VatNumber>(), Err(IdError::VatCheck(_))));
    }

    #[test]
    fn other_member_states_are_checked_on_format_and_unknown_prefixes_refused() {
        assert!("ATU12345678".parse::<VatNumber>().is_ok());
        assert!(matches!("AT12345678".parse::<VatNumber>(), Err(IdError::VatFormat(_))));
        assert!(matches!("US123456789".parse::<VatNumber>(), Err(IdError::VatFormat(_))));
        let el: VatNumber = "EL123456789".parse().unwrap();
        assert_eq!(el.country().map(|c| c.to_string()), Some("GR".into()));
    }

    #[test]
    fn invoice_numbers_follow_the_series_format() {
        let series = Series::new("F".parse().unwrap(), 2026);
        let n = series.number(123).unwrap();
        assert_eq!(n.as_str(), "F2026-000123");
        assert_eq!(n.counter(), Some(123));
        assert_eq!(series.number(1_234_567).unwrap().as_str(), "F2026-1234567");
        assert_eq!(series.key(), "F2026");
        let long = Series::new("ABCDEFGHIJKLMNOPQRSTUVWX".parse().unwrap(), 2026);
        assert_eq!(long.number(1).unwrap().as_str().len(), 35);
        assert!("ABCDEFGHIJKLMNOPQRSTUVWXY".parse::<SeriesPrefix>().is_err());
        assert!("F 1".parse::<SeriesPrefix>().is_err());
        assert!("F/2026_A+1".parse::<InvoiceNumber>().is_ok());
        assert!("F2026#1".parse::<InvoiceNumber>().is_err());
        for hostile in ["/", "F//", "/F", "F/", "F//A", "..", "../F", "F/../A", ""] {
            assert!(hostile.parse::<SeriesPrefix>().is_err(), "prefix {hostile:?}");
        }
        for hostile in ["/2026-000001", "F//2026-000001", "F2026-000001/", "../2026-1", "F/../1"] {
            assert!(hostile.parse::<InvoiceNumber>().is_err(), "number {hostile:?}");
        }
        assert!("/2026-000001".parse::<InvoiceNumber>().is_err());
        assert!("F/2026-000001".parse::<InvoiceNumber>().map(|n| n.file_stem()) == Ok("F_2026-000001".into()));
        assert!("".parse::<InvoiceNumber>().is_err());
        assert!("A".repeat(36).parse::<InvoiceNumber>().is_err());
    }
}
