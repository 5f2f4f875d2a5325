//! The seller profile: who issues the invoices, with the legal mentions they must carry.
//!
//! The JSON form is also the portal's registration body. [`SellerProfileInput`] is what arrives;
//! [`SellerProfileInput::validate`] checks every field and returns either a [`SellerProfile`]
//! (typed, known to be coherent) or every problem found, by field.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::country::CountryCode;
use crate::fees::PlanKind;
use crate::ids::{SeriesPrefix, Siren, Siret, VatNumber};
use crate::money::VatRate;
pub use crate::reporting::VatFiling;

/// How the seller accounts for VAT on sales to French consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum VatScheme {
    /// French VAT, declared in France (French sellers, or EU sellers registered in France).
    Standard,
    /// EU seller over the €10,000 threshold: French VAT declared through the One-Stop-Shop.
    Oss,
    /// EU seller under the €10,000 threshold: VAT of its own country.
    HomeCountry,
    /// French micro-entrepreneur under the VAT franchise (art. 293 B du CGI).
    Franchise,
}

/// Where the goods leave from, unless an order line says it was fulfilled by the marketplace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StockLocation {
    SellerCountry,
    France,
    /// A warehouse outside the EU: orders are imports (low-value ones fall to the marketplace
    /// as deemed supplier and are refused).
    OutsideEu,
}

/// Language of the invoice labels (French by default: the buyer is in France). The legal
/// texts of the VAT regime stay in French whatever the labels' language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Language {
    #[default]
    Fr,
    En,
    De,
    Es,
    It,
    Nl,
    Pl,
}

impl Language {
    pub const ALL: [Language; 7] =
        [Language::Fr, Language::En, Language::De, Language::Es, Language::It, Language::Nl, Language::Pl];

    /// The ISO 639-1 code (`fr`, `en`, `de`…).
    pub fn code(self) -> &'static str {
        match self {
            Language::Fr => "fr",
            Language::En => "en",
            Language::De => "de",
            Language::Es => "es",
            Language::It => "it",
            Language::Nl => "nl",
            Language::Pl => "pl",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostalAddress {
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub postal_code: String,
    pub city: String,
    pub country_code: CountryCode,
}

/// The registration body as it arrives; nothing here is trusted yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SellerProfileInput {
    pub legal_name: String,
    pub legal_form: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_capital: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub siren: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub siret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rcs_city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub french_vat_number: Option<String>,
    pub address: AddressInput,
    pub email: String,
    pub marketplace_seller_id: String,
    pub vat_scheme: VatScheme,
    pub stock_location: StockLocation,
    pub default_vat_rate: String,
    #[serde(default)]
    pub sku_vat_rates: BTreeMap<String, String>,
    #[serde(default = "default_invoice_prefix")]
    pub invoice_prefix: String,
    #[serde(default = "default_credit_note_prefix")]
    pub credit_note_prefix: String,
    pub plan: PlanKind,
    #[serde(default)]
    pub language: Language,
    /// How VAT returns are filed: sets the e-reporting periods.
    #[serde(default)]
    pub vat_filing: VatFiling,
    /// The trade register entry a company of another member state must print (a German
    /// GmbH: "Amtsgericht Berlin-Charlottenburg, HRB 123456").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register: Option<String>,
    /// The managing directors (a German GmbH's Geschäftsführer), as printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managers: Option<String>,
    /// The bank account payments go to (BT-84, BT-86): required for documents with an amount
    /// due (Marketbill's fee invoices), optional otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank: Option<BankAccountInput>,
}

/// A bank account as it arrives.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BankAccountInput {
    pub iban: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bic: Option<String>,
}

/// A checked bank account: an IBAN (its check digits hold) and, optionally, a BIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankAccount {
    /// Without spaces, upper case.
    pub iban: String,
    pub bic: Option<String>,
}

impl BankAccount {
    /// Reads an IBAN (ISO 13616: country, two check digits, up to 30 characters; the number
    /// moved to the end and read as digits is 1 modulo 97) and a BIC (ISO 9362: 8 or 11
    /// characters).
    pub fn parse(input: &BankAccountInput) -> Result<BankAccount, (&'static str, String)> {
        let iban: String = input.iban.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase();
        let shaped = (15..=34).contains(&iban.len())
            && iban.bytes().take(2).all(|b| b.is_ascii_uppercase())
            && iban.bytes().skip(2).take(2).all(|b| b.is_ascii_digit())
            && iban.bytes().all(|b| b.is_ascii_alphanumeric());
        if !shaped {
            return Err(("bank.iban", "is not an IBAN (two letters, two check digits, up to 30 characters)".into()));
        }
        let rearranged = iban[4..].bytes().chain(iban[..4].bytes());
        let remainder = rearranged.fold(0u32, |acc, b| {
            let value = if b.is_ascii_digit() { u32::from(b - b'0') } else { u32::from(b - b'A') + 10 };
            if value >= 10 { (acc * 100 + value) % 97 } else { (acc * 10 + value) % 97 }
        });
        if remainder != 1 {
            return Err(("bank.iban", "its check digits do not hold".into()));
        }
        let bic = match input.bic.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
            Some(b) => {
                let b = b.to_uppercase();
                let ok = matches!(b.len(), 8 | 11)
                    && b.bytes().take(6).all(|c| c.is_ascii_uppercase())
                    && b.bytes().all(|c| c.is_ascii_alphanumeric());
                if !ok {
                    return Err(("bank.bic", "is not a BIC (8 or 11 letters and digits)".into()));
                }
                Some(b)
            }
            None => None,
        };
        Ok(BankAccount { iban, bic })
    }

    /// The IBAN in groups of four, as printed.
    pub fn iban_grouped(&self) -> String {
        self.iban.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddressInput {
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub postal_code: String,
    pub city: String,
    pub country_code: String,
}

fn default_invoice_prefix() -> String {
    "F".into()
}

fn default_credit_note_prefix() -> String {
    "AV".into()
}

/// A validated seller profile. Build it with [`SellerProfileInput::validate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "SellerProfileInput", into = "SellerProfileInput")]
pub struct SellerProfile {
    pub legal_name: String,
    pub legal_form: String,
    pub share_capital: Option<Decimal>,
    pub siren: Option<Siren>,
    pub siret: Option<Siret>,
    pub rcs_city: Option<String>,
    /// The seller's VAT number in its own country (none under the French franchise).
    pub vat_number: Option<VatNumber>,
    /// The seller's French VAT number, for EU sellers registered in France.
    pub french_vat_number: Option<VatNumber>,
    pub address: PostalAddress,
    pub email: String,
    pub marketplace_seller_id: String,
    pub vat_scheme: VatScheme,
    pub stock_location: StockLocation,
    pub default_vat_rate: VatRate,
    pub sku_vat_rates: BTreeMap<String, VatRate>,
    pub invoice_prefix: SeriesPrefix,
    pub credit_note_prefix: SeriesPrefix,
    pub plan: PlanKind,
    pub language: Language,
    pub vat_filing: VatFiling,
    pub register: Option<String>,
    pub managers: Option<String>,
    pub bank: Option<BankAccount>,
}

impl SellerProfile {
    pub fn country(&self) -> CountryCode {
        self.address.country_code
    }

    /// The configured rate for a SKU, else the default rate.
    pub fn configured_rate(&self, sku: Option<&str>) -> VatRate {
        sku.and_then(|s| self.sku_vat_rates.get(s)).copied().unwrap_or(self.default_vat_rate)
    }

    /// The legal mentions line of the seller (`SAS au capital de 10 000 € — RCS Paris 732 829 320`).
    pub fn legal_mentions(&self) -> String {
        self.legal_mentions_in(Language::Fr)
    }

    /// The legal mentions in a document language: the legal form and share capital, the
    /// French register (RCS, SIREN, SIRET: names, printed as they are) or another member
    /// state's register entry, and the managing directors when the profile names them.
    pub fn legal_mentions_in(&self, lang: Language) -> String {
        let mut parts = Vec::new();
        let mut form = self.legal_form.clone();
        if let Some(capital) = self.share_capital {
            let amount = crate::money::format_euros_fr(capital);
            let phrase = match lang {
                Language::Fr => format!(" au capital de {amount}"),
                Language::En => format!(", share capital {amount}"),
                Language::De => format!(", Stammkapital {amount}"),
                Language::Es => format!(", capital social {amount}"),
                Language::It => format!(", capitale sociale {amount}"),
                Language::Nl => format!(", maatschappelijk kapitaal {amount}"),
                Language::Pl => format!(", kapitał zakładowy {amount}"),
            };
            form.push_str(&phrase);
        }
        parts.push(form);
        if let (Some(city), Some(siren)) = (&self.rcs_city, &self.siren) {
            parts.push(format!("RCS {city} {}", siren.as_str()));
        } else if let Some(siren) = &self.siren {
            parts.push(format!("SIREN {}", siren.as_str()));
        }
        if let Some(siret) = &self.siret {
            parts.push(format!("SIRET {}", siret.as_str()));
        }
        if let Some(register) = &self.register {
            let label = match lang {
                Language::Fr => "Registre",
                Language::En => "Register",
                Language::De => "Registergericht",
                Language::Es => "Registro",
                Language::It => "Registro",
                Language::Nl => "Register",
                Language::Pl => "Rejestr",
            };
            parts.push(format!("{label} : {register}").replace(" : ", if lang == Language::Fr { " : " } else { ": " }));
        }
        if let Some(managers) = &self.managers {
            let label = match lang {
                Language::Fr => "Dirigeants : ",
                Language::En => "Managing directors: ",
                Language::De => "Geschäftsführer: ",
                Language::Es => "Administradores: ",
                Language::It => "Amministratori: ",
                Language::Nl => "Bestuurders: ",
                Language::Pl => "Zarząd: ",
            };
            parts.push(format!("{label}{managers}"));
        }
        parts.join(" — ")
    }
}

/// Every problem found in a profile, by field (JSON path, camelCase).
#[derive(Debug, Clone, PartialEq, Eq, Default, thiserror::Error)]
#[error("invalid seller profile: {}", summary(.0))]
pub struct ProfileErrors(pub BTreeMap<String, Vec<String>>);

fn summary(errors: &BTreeMap<String, Vec<String>>) -> String {
    errors.iter().map(|(field, msgs)| format!("{field}: {}", msgs.join("; "))).collect::<Vec<_>>().join(", ")
}

impl ProfileErrors {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.entry(field.to_owned()).or_default().push(message.into());
    }
}

/// Legal forms of companies whose invoices must show the share capital and the RCS city.
const CAPITAL_FORMS: &[&str] = &["SA", "SAS", "SASU", "SARL", "EURL", "SNC", "SCA", "SCS", "SELARL", "SELAS"];

const MAX_TEXT: usize = 200;

fn text_field(errors: &mut ProfileErrors, field: &str, value: &str, required: bool) {
    let t = value.trim();
    if required && t.is_empty() {
        errors.add(field, "is required");
    }
    if t.chars().count() > MAX_TEXT {
        errors.add(field, format!("is longer than {MAX_TEXT} characters"));
    }
    if t.chars().any(|c| c.is_control()) {
        errors.add(field, "contains control characters");
    }
}

impl SellerProfileInput {
    /// Checks every field and the coherence between them.
    pub fn validate(&self) -> Result<SellerProfile, ProfileErrors> {
        self.check(true)
    }

    /// Checks a profile as it was stored: the rules added since a record was written (a
    /// German company's register entry) are not applied, so no stored account becomes
    /// unreadable; they apply when the profile is next saved.
    fn validate_stored(&self) -> Result<SellerProfile, ProfileErrors> {
        self.check(false)
    }

    fn check(&self, strict: bool) -> Result<SellerProfile, ProfileErrors> {
        let mut e = ProfileErrors::default();
        self.check_texts(&mut e);
        let country = self.check_country(&mut e, strict);
        let is_fr = country.is_some_and(CountryCode::is_france);
        self.check_capital(&mut e, is_fr);
        let (siren, siret) = self.check_identifiers(&mut e, is_fr);
        let (vat_number, french_vat_number) = self.check_vat(&mut e, country, siren.as_ref());
        self.check_registers(&mut e, country, strict);
        let bank = self.check_bank(&mut e);
        let msid = self.marketplace_seller_id.trim();
        self.check_contact(&mut e, msid);
        let (default_vat_rate, sku_vat_rates) = self.check_rates(&mut e, country);
        let (invoice_prefix, credit_note_prefix) = self.check_series(&mut e);
        match (country, default_vat_rate, invoice_prefix, credit_note_prefix) {
            (Some(country_code), Some(default_vat_rate), Some(invoice_prefix), Some(credit_note_prefix))
                if e.0.is_empty() =>
            {
                Ok(SellerProfile {
                    legal_name: self.legal_name.trim().to_owned(),
                    legal_form: self.legal_form.trim().to_owned(),
                    share_capital: self.share_capital,
                    siren,
                    siret,
                    rcs_city: self.rcs_city.as_ref().map(|c| c.trim().to_owned()),
                    vat_number,
                    french_vat_number,
                    address: PostalAddress {
                        line1: self.address.line1.trim().to_owned(),
                        line2: self.address.line2.as_ref().map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()),
                        postal_code: self.address.postal_code.trim().to_owned(),
                        city: self.address.city.trim().to_owned(),
                        country_code,
                    },
                    email: self.email.trim().to_owned(),
                    marketplace_seller_id: msid.to_owned(),
                    vat_scheme: self.vat_scheme,
                    stock_location: self.stock_location,
                    default_vat_rate,
                    sku_vat_rates,
                    invoice_prefix,
                    credit_note_prefix,
                    plan: self.plan,
                    language: self.language,
                    vat_filing: self.vat_filing,
                    register: self.register.as_ref().map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()),
                    managers: self.managers.as_ref().map(|m| m.trim().to_owned()).filter(|m| !m.is_empty()),
                    bank,
                })
            }
            _ => Err(e),
        }
    }

    /// Free texts: required where the invoice needs them, bounded, no control characters.
    fn check_texts(&self, e: &mut ProfileErrors) {
        text_field(e, "legalName", &self.legal_name, true);
        text_field(e, "legalForm", &self.legal_form, true);
        text_field(e, "address.line1", &self.address.line1, true);
        text_field(e, "address.line2", self.address.line2.as_deref().unwrap_or(""), false);
        text_field(e, "address.postalCode", &self.address.postal_code, true);
        text_field(e, "address.city", &self.address.city, true);
        if let Some(city) = &self.rcs_city {
            text_field(e, "rcsCity", city, true);
        }
    }

    /// The country of establishment (in the EU), and the postal code's form in it (only on
    /// save: a stored profile stays readable).
    fn check_country(&self, e: &mut ProfileErrors, strict: bool) -> Option<CountryCode> {
        match self.address.country_code.parse::<CountryCode>() {
            Ok(c) if c.is_eu() => {
                // Only on save: a stored profile stays readable.
                if strict && !self.address.postal_code.trim().is_empty() && !c.postal_code_ok(&self.address.postal_code)
                {
                    e.add("address.postalCode", format!("is not a postal code of {c}"));
                }
                Some(c)
            }
            Ok(c) => {
                e.add(
                    "address.countryCode",
                    format!("sellers must be established in the European Union; {c} is not eligible"),
                );
                None
            }
            Err(err) => {
                e.add("address.countryCode", err.to_string());
                None
            }
        }
    }

    /// A French company's share capital and RCS city.
    fn check_capital(&self, e: &mut ProfileErrors, is_fr: bool) {
        if let Some(capital) = self.share_capital
            && capital < Decimal::ZERO
        {
            e.add("shareCapital", "must not be negative");
        }
        let is_company_form = CAPITAL_FORMS.iter().any(|f| f.eq_ignore_ascii_case(self.legal_form.trim()));
        if is_fr && is_company_form {
            if self.share_capital.is_none() {
                e.add("shareCapital", format!("is required for a French {}", self.legal_form.trim()));
            }
            if self.rcs_city.as_deref().is_none_or(|c| c.trim().is_empty()) {
                e.add("rcsCity", format!("is required for a French {}", self.legal_form.trim()));
            }
        }
    }

    /// SIREN and SIRET, coherent with each other; one of them for a French seller.
    fn check_identifiers(&self, e: &mut ProfileErrors, is_fr: bool) -> (Option<Siren>, Option<Siret>) {
        let siren = match self.siren.as_deref().map(str::parse::<Siren>) {
            Some(Ok(s)) => Some(s),
            Some(Err(err)) => {
                e.add("siren", err.to_string());
                None
            }
            None => None,
        };
        let siret = match self.siret.as_deref().map(str::parse::<Siret>) {
            Some(Ok(s)) => Some(s),
            Some(Err(err)) => {
                e.add("siret", err.to_string());
                None
            }
            None => None,
        };
        if let (Some(siren), Some(siret)) = (&siren, &siret)
            && &siret.siren() != siren
        {
            e.add("siret", format!("does not start with the SIREN {siren}"));
        }
        let siren = siren.or_else(|| siret.as_ref().map(Siret::siren));
        if is_fr && siren.is_none() && self.siren.is_none() && self.siret.is_none() {
            e.add("siren", "is required for a seller established in France");
        }
        (siren, siret)
    }

    /// The VAT numbers and the VAT scheme, coherent with the country, the SIREN and the
    /// stock's location.
    fn check_vat(
        &self,
        e: &mut ProfileErrors,
        country: Option<CountryCode>,
        siren: Option<&Siren>,
    ) -> (Option<VatNumber>, Option<VatNumber>) {
        let is_fr = country.is_some_and(CountryCode::is_france);
        let vat_number = match self.vat_number.as_deref().map(str::parse::<VatNumber>) {
            Some(Ok(v)) => {
                if let Some(c) = country
                    && v.prefix() != c.vat_prefix()
                {
                    e.add("vatNumber", format!("must be the VAT number of the seller's country ({}…)", c.vat_prefix()));
                }
                if let (Some(siren), Some(embedded)) = (siren, v.french_siren())
                    && embedded != siren.as_str()
                {
                    e.add("vatNumber", format!("does not match the SIREN {siren}"));
                }
                Some(v)
            }
            Some(Err(err)) => {
                e.add("vatNumber", err.to_string());
                None
            }
            None => None,
        };
        if self.vat_number.is_none() && self.vat_scheme != VatScheme::Franchise {
            e.add("vatNumber", "is required unless the seller is under the French VAT franchise");
        }

        let french_vat_number = match self.french_vat_number.as_deref().map(str::parse::<VatNumber>) {
            Some(Ok(v)) if v.prefix() == "FR" => Some(v),
            Some(Ok(_)) => {
                e.add("frenchVatNumber", "must be a French VAT number (FR…)");
                None
            }
            Some(Err(err)) => {
                e.add("frenchVatNumber", err.to_string());
                None
            }
            None => None,
        };

        match (self.vat_scheme, is_fr, country.is_some()) {
            (VatScheme::Franchise, false, true) => {
                e.add("vatScheme", "the franchise (art. 293 B du CGI) is for sellers established in France");
            }
            (VatScheme::Oss | VatScheme::HomeCountry, true, _) => {
                e.add("vatScheme", "oss and homeCountry are for sellers established outside France");
            }
            (VatScheme::Standard, false, true) if self.french_vat_number.is_none() => {
                e.add("frenchVatNumber", "is required to charge French VAT directly (vatScheme standard)");
            }
            _ => {}
        }
        if !is_fr
            && country.is_some()
            && self.stock_location == StockLocation::France
            && self.french_vat_number.is_none()
        {
            e.add("frenchVatNumber", "is required when goods ship from France (a domestic French sale)");
        }
        if self.vat_scheme == VatScheme::Franchise && self.vat_number.is_some() && self.french_vat_number.is_some() {
            e.add("frenchVatNumber", "must be empty for a seller under the franchise");
        }
        (vat_number, french_vat_number)
    }

    /// Register and managers, required of German companies' letters (only on save).
    fn check_registers(&self, e: &mut ProfileErrors, country: Option<CountryCode>, strict: bool) {
        if let Some(register) = &self.register {
            text_field(e, "register", register, true);
        }
        if let Some(managers) = &self.managers {
            text_field(e, "managers", managers, true);
        }
        // A German company's letters name its register court and number, and a GmbH's or
        // an AG's its managing directors (§ 35a GmbHG, § 80 AktG, § 37a HGB).
        if strict && country.is_some_and(|c| c.as_str() == "DE") {
            let form = self.legal_form.trim().to_uppercase();
            let registered = ["GMBH", "UG", "AG", "KG", "OHG", "SE", "KGAA"].iter().any(|f| form.contains(f));
            if registered && self.register.as_deref().is_none_or(|r| r.trim().is_empty()) {
                e.add(
                    "register",
                    format!("is required for a German {} (register court and number)", self.legal_form.trim()),
                );
            }
            let managed = ["GMBH", "UG", "AG", "SE"].iter().any(|f| form.contains(f));
            if managed && self.managers.as_deref().is_none_or(|m| m.trim().is_empty()) {
                e.add("managers", format!("is required for a German {} (managing directors)", self.legal_form.trim()));
            }
        }
    }

    fn check_bank(&self, e: &mut ProfileErrors) -> Option<BankAccount> {
        match &self.bank {
            Some(b) => match BankAccount::parse(b) {
                Ok(b) => Some(b),
                Err((field, why)) => {
                    e.add(field, why);
                    None
                }
            },
            None => None,
        }
    }

    /// The seller's address for mail and its marketplace id.
    fn check_contact(&self, e: &mut ProfileErrors, msid: &str) {
        if let Err(problem) = crate::email::parse_address(&self.email) {
            e.add("email", problem.to_string());
        }
        if msid.is_empty() || msid.len() > 20 || !msid.bytes().all(|b| b.is_ascii_digit()) {
            e.add("marketplaceSellerId", "is the numeric seller id of the marketplace");
        }
    }

    /// The default VAT rate and the per-SKU rates: rates of the seller's VAT regime.
    fn check_rates(
        &self,
        e: &mut ProfileErrors,
        country: Option<CountryCode>,
    ) -> (Option<VatRate>, BTreeMap<String, VatRate>) {
        let allowed = match (self.vat_scheme, country) {
            (VatScheme::HomeCountry, Some(c)) => c.vat_rates(),
            _ => CountryCode::FR.vat_rates(),
        };
        let check_rate = |e: &mut ProfileErrors, field: &str, raw: &str| -> Option<VatRate> {
            match raw.parse::<VatRate>() {
                Ok(r) if self.vat_scheme == VatScheme::Franchise || allowed.contains(&r) => Some(r),
                Ok(r) => {
                    let list = allowed.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ");
                    e.add(field, format!("{r} % is not a rate of this seller's VAT regime ({list})"));
                    None
                }
                Err(err) => {
                    e.add(field, err.to_string());
                    None
                }
            }
        };
        let default_vat_rate = check_rate(e, "defaultVatRate", &self.default_vat_rate);
        let mut sku_vat_rates = BTreeMap::new();
        if self.sku_vat_rates.len() > 10_000 {
            e.add("skuVatRates", "holds more than 10,000 entries");
        }
        for (sku, raw) in &self.sku_vat_rates {
            if sku.is_empty() || sku.len() > 100 {
                e.add("skuVatRates", format!("SKU {sku:?} must be 1 to 100 characters"));
            }
            if let Some(r) = check_rate(e, &format!("skuVatRates.{sku}"), raw) {
                sku_vat_rates.insert(sku.clone(), r);
            }
        }
        (default_vat_rate, sku_vat_rates)
    }

    /// The two numbering series, distinct.
    fn check_series(&self, e: &mut ProfileErrors) -> (Option<SeriesPrefix>, Option<SeriesPrefix>) {
        let invoice_prefix =
            self.invoice_prefix.parse::<SeriesPrefix>().map_err(|err| e.add("invoicePrefix", err.to_string())).ok();
        let credit_note_prefix = self
            .credit_note_prefix
            .parse::<SeriesPrefix>()
            .map_err(|err| e.add("creditNotePrefix", err.to_string()))
            .ok();
        if self.invoice_prefix == self.credit_note_prefix {
            e.add("creditNotePrefix", "must differ from invoicePrefix (two series)");
        }
        (invoice_prefix, credit_note_prefix)
    }
}

impl TryFrom<SellerProfileInput> for SellerProfile {
    type Error = ProfileErrors;
    fn try_from(input: SellerProfileInput) -> Result<Self, ProfileErrors> {
        input.validate_stored()
    }
}

impl From<SellerProfile> for SellerProfileInput {
    fn from(p: SellerProfile) -> Self {
        SellerProfileInput {
            legal_name: p.legal_name,
            legal_form: p.legal_form,
            share_capital: p.share_capital,
            siren: p.siren.map(|s| s.to_string()),
            siret: p.siret.map(|s| s.to_string()),
            rcs_city: p.rcs_city,
            vat_number: p.vat_number.map(|v| v.to_string()),
            french_vat_number: p.french_vat_number.map(|v| v.to_string()),
            address: AddressInput {
                line1: p.address.line1,
                line2: p.address.line2,
                postal_code: p.address.postal_code,
                city: p.address.city,
                country_code: p.address.country_code.to_string(),
            },
            email: p.email,
            marketplace_seller_id: p.marketplace_seller_id,
            vat_scheme: p.vat_scheme,
            stock_location: p.stock_location,
            default_vat_rate: p.default_vat_rate.to_string(),
            sku_vat_rates: p.sku_vat_rates.into_iter().map(|(k, v)| (k, v.to_string())).collect(),
            invoice_prefix: p.invoice_prefix.to_string(),
            credit_note_prefix: p.credit_note_prefix.to_string(),
            plan: p.plan,
            language: p.language,
            vat_filing: p.vat_filing,
            register: p.register,
            managers: p.managers,
            bank: p.bank.map(|b| BankAccountInput { iban: b.iban, bic: b.bic }),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn french_sas() -> SellerProfileInput {
        serde_json::from_str(
            r#"{
            "legalName": "Maison Lumière", "legalForm": "SAS", "shareCapital": "10000",
            "siren": "732829320", "siret": "73282932000074", "rcsCity": "Lyon",
            "vatNumber": "FR44732829320",
            "address": {"line1": "12 quai Saint-Antoine", "postalCode": "69002", "city": "Lyon", "countryCode": "FR"},
            "email": "factures@maison-lumiere.example", "marketplaceSellerId": "12345",
            "vatScheme": "standard", "stockLocation": "sellerCountry", "defaultVatRate": "20",
            "skuVatRates": {"BOOK-1": "5.5"}, "invoicePrefix": "F", "creditNotePrefix": "AV",
            "plan": "perInvoice", "language": "fr"
        }"#,
        )
        .unwrap()
    }

    pub fn german_oss() -> SellerProfileInput {
        serde_json::from_str(
            r#"{
            "legalName": "Bücherwurm GmbH", "legalForm": "GmbH", "shareCapital": "25000",
            "vatNumber": "DE136695976",
            "address": {"line1": "Hauptstraße 5", "postalCode": "10115", "city": "Berlin", "countryCode": "DE"},
            "email": "rechnung@buecherwurm.example", "marketplaceSellerId": "67890",
            "vatScheme": "oss", "stockLocation": "sellerCountry", "defaultVatRate": "20",
            "plan": "tiered", "register": "Amtsgericht Berlin-Charlottenburg, HRB 123456",
            "managers": "Anna Weber"
        }"#,
        )
        .unwrap()
    }

    #[test]
    fn the_french_vat_key_of_the_fixture_is_right() {
        let siren: Siren = "732829320".parse().unwrap();
        assert_eq!(VatNumber::french_from_siren(&siren).as_str(), "FR44732829320");
    }

    #[test]
    fn a_complete_french_profile_validates() {
        let p = french_sas().validate().unwrap();
        assert_eq!(p.country(), CountryCode::FR);
        assert_eq!(p.configured_rate(Some("BOOK-1")).to_string(), "5.5");
        assert_eq!(p.configured_rate(Some("OTHER")).to_string(), "20");
        assert!(p.legal_mentions().contains("RCS Lyon 732829320"), "{}", p.legal_mentions());
        assert_eq!(german_oss().validate().unwrap().invoice_prefix.as_str(), "F");
    }

    #[test]
    fn a_german_company_names_its_register_and_managers_and_they_are_printed_in_the_language() {
        let mut input = german_oss();
        input.register = None;
        input.managers = None;
        let errors = input.validate().unwrap_err().0;
        assert!(errors.contains_key("register") && errors.contains_key("managers"), "{errors:?}");
        // A profile stored before these fields were asked for still reads back.
        let stored: SellerProfile = serde_json::from_value(serde_json::to_value(&input).unwrap()).unwrap();
        assert!(stored.register.is_none());
        let p = german_oss().validate().unwrap();
        let de = p.legal_mentions_in(Language::De);
        assert!(de.contains("Stammkapital 25"), "{de}");
        assert!(de.contains("Registergericht: Amtsgericht Berlin-Charlottenburg, HRB 123456"), "{de}");
        assert!(de.contains("Geschäftsführer: Anna Weber"), "{de}");
        assert!(!de.contains("au capital"), "{de}");
        assert!(p.legal_mentions_in(Language::Fr).contains("au capital de"));
    }

    #[test]
    fn bank_accounts_are_checked() {
        let ok = BankAccount::parse(&BankAccountInput {
            iban: "fr76 3000 6000 0112 3456 7890 189".into(),
            bic: Some("agrifrpp".into()),
        })
        .unwrap();
        assert_eq!(ok.iban, "FR7630006000011234567890189");
        assert_eq!(ok.iban_grouped(), "FR76 3000 6000 0112 3456 7890 189");
        assert_eq!(ok.bic.as_deref(), Some("AGRIFRPP"));
        let bad_digits = BankAccountInput { iban: "FR7730006000011234567890189".into(), bic: None };
        assert_eq!(BankAccount::parse(&bad_digits).unwrap_err().0, "bank.iban");
        let bad_bic = BankAccountInput { iban: "FR7630006000011234567890189".into(), bic: Some("AGRI".into()) };
        assert_eq!(BankAccount::parse(&bad_bic).unwrap_err().0, "bank.bic");
        assert!(BankAccount::parse(&BankAccountInput { iban: "hello".into(), bic: None }).is_err());
    }

    #[test]
    fn a_profile_round_trips_through_json() {
        let p = french_sas().validate().unwrap();
        let json = serde_json::to_string(&p).unwrap();
        let back: SellerProfile = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
    }

    fn errors_of(input: SellerProfileInput) -> BTreeMap<String, Vec<String>> {
        input.validate().unwrap_err().0
    }

    #[test]
    fn siret_must_start_with_the_siren() {
        let mut i = french_sas();
        i.siret = Some("44306184100047".into());
        assert!(errors_of(i).contains_key("siret"));
    }

    #[test]
    fn bad_check_digits_are_refused_by_field() {
        let mut i = french_sas();
        i.siren = Some("732829321".into());
        i.vat_number = Some("FR45732829320".into());
        let errs = errors_of(i);
        assert!(errs.contains_key("siren"));
        assert!(errs.contains_key("vatNumber"));
    }

    #[test]
    fn vat_number_must_match_siren_and_country() {
        let mut i = french_sas();
        i.vat_number = Some("FR40303265045".into());
        assert!(errors_of(i)["vatNumber"][0].contains("SIREN"));
        let mut i = german_oss();
        i.vat_number = Some("IT00743110157".into());
        assert!(errors_of(i)["vatNumber"][0].contains("DE"));
    }

    #[test]
    fn non_eu_countries_are_not_eligible() {
        let mut i = german_oss();
        i.address.country_code = "CH".into();
        assert!(errors_of(i)["address.countryCode"][0].contains("not eligible"));
        let mut i = german_oss();
        i.address.country_code = "Germany".into();
        assert!(errors_of(i).contains_key("address.countryCode"));
    }

    #[test]
    fn french_companies_need_capital_and_rcs() {
        let mut i = french_sas();
        i.share_capital = None;
        i.rcs_city = None;
        let errs = errors_of(i);
        assert!(errs.contains_key("shareCapital") && errs.contains_key("rcsCity"));
    }

    #[test]
    fn schemes_must_fit_the_country() {
        let mut i = french_sas();
        i.vat_scheme = VatScheme::Oss;
        assert!(errors_of(i).contains_key("vatScheme"));
        let mut i = german_oss();
        i.vat_scheme = VatScheme::Franchise;
        assert!(errors_of(i).contains_key("vatScheme"));
        let mut i = german_oss();
        i.stock_location = StockLocation::France;
        assert!(errors_of(i.clone()).contains_key("frenchVatNumber"));
        i.french_vat_number = Some("FR40303265045".into());
        assert!(i.validate().is_ok());
    }

    #[test]
    fn rates_must_belong_to_the_regime() {
        let mut i = french_sas();
        i.default_vat_rate = "19".into();
        assert!(errors_of(i)["defaultVatRate"][0].contains("not a rate"));
        let mut i = german_oss();
        i.vat_scheme = VatScheme::HomeCountry;
        i.default_vat_rate = "19".into();
        i.sku_vat_rates.insert("BOOK".into(), "7".into());
        assert!(i.validate().is_ok());
        i.sku_vat_rates.insert("X".into(), "5.5".into());
        assert!(errors_of(i).contains_key("skuVatRates.X"));
    }

    #[test]
    fn franchise_sellers_need_no_vat_number() {
        let mut i = french_sas();
        i.legal_form = "EI".into();
        i.share_capital = None;
        i.rcs_city = None;
        i.vat_number = None;
        i.vat_scheme = VatScheme::Franchise;
        assert!(i.validate().is_ok());
        i.vat_scheme = VatScheme::Standard;
        assert!(errors_of(i).contains_key("vatNumber"));
    }

    #[test]
    fn prefixes_email_and_seller_id_are_checked() {
        let mut i = french_sas();
        i.invoice_prefix = "F 2026".into();
        i.credit_note_prefix = "F 2026".into();
        i.email = "not-an-email".into();
        i.marketplace_seller_id = "abc".into();
        let errs = errors_of(i);
        for f in ["invoicePrefix", "creditNotePrefix", "email", "marketplaceSellerId"] {
            assert!(errs.contains_key(f), "{f} missing in {errs:?}");
        }
    }

    #[test]
    fn seller_emails_that_would_add_a_header_or_recipient_are_refused() {
        for bad in ["a@x.fr>,<b@y.fr", "a@x.fr\r\nBcc: e@v.fr", "Shop <a@x.fr>", "a@x.fr, b@y.fr"] {
            let mut i = french_sas();
            i.email = bad.into();
            assert!(errors_of(i).contains_key("email"), "{bad:?}");
        }
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let mut v = serde_json::to_value(french_sas()).unwrap();
        v["color"] = "blue".into();
        let err = serde_json::from_value::<SellerProfileInput>(v).unwrap_err();
        assert!(err.to_string().contains("color"), "{err}");
    }
}
