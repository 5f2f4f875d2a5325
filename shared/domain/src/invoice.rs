//! Invoices and credit notes: from a marketplace order and a seller profile to a document that
//! carries every mandatory mention (invoicing rules §1) with amounts that add up (§4).
//!
//! Building is pure and happens before a number exists: [`draft_invoice`] returns a [`Draft`];
//! storage takes the next number of the draft's series in the same atomic write that records
//! it, then calls [`Draft::finalize`]. A failed render or send therefore never burns a number.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::buyer::{BuyerBillingData, BuyerKind};
use crate::calendar::paris_date;
use crate::country::CountryCode;
use crate::ids::{InvoiceNumber, OrderId, Series, Siren, Siret, VatNumber};
use crate::money::{VatRate, round_cents};
use crate::order::{BillingAddress, Order, OrderLine, ShippingAddress, SupplyMode};
use crate::regime::{Refusal, RegimeFacts, ShipFrom, VatCategory, VatRegime, decide_regime};
use crate::seller::{Language, SellerProfile, StockLocation};

time::serde::format_description!(iso_day, Date, "[year]-[month]-[day]");

/// A postal address as printed on an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceAddress {
    /// One to three street lines.
    pub lines: Vec<String>,
    pub postal_code: String,
    pub city: String,
    pub country: CountryCode,
}

impl InvoiceAddress {
    fn same_place(&self, other: &InvoiceAddress) -> bool {
        let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
        self.lines.iter().map(|l| norm(l)).eq(other.lines.iter().map(|l| norm(l)))
            && norm(&self.postal_code) == norm(&other.postal_code)
            && norm(&self.city) == norm(&other.city)
            && self.country == other.country
    }
}

/// The issuer block: who sells, with the legal mentions French law requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SellerParty {
    pub legal_name: String,
    pub address: InvoiceAddress,
    /// The VAT number this invoice is issued under (home or French, by regime).
    pub vat_number: Option<VatNumber>,
    pub siren: Option<Siren>,
    pub siret: Option<Siret>,
    /// Legal form, share capital, RCS (BT-33).
    pub legal_mentions: String,
    pub email: String,
    /// Where the seller receives e-invoices (BT-34), as the reform's directory gives it
    /// (`SIREN`, `SIREN_SUFFIX`…); without it, the SIREN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub electronic_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuyerParty {
    pub kind: BuyerKind,
    pub name: String,
    pub address: InvoiceAddress,
    pub vat_number: Option<VatNumber>,
    pub siren: Option<Siren>,
    /// The marketplace's opaque customer reference.
    pub marketplace_reference: Option<String>,
    /// Where a business buyer receives e-invoices (BT-49), as the reform's directory gives it;
    /// without it, the SIREN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub electronic_address: Option<String>,
}

impl BuyerParty {
    /// The buyer's SIREN: given, or embedded in a French VAT number. A business buyer's legal
    /// identifier (BT-47) and its electronic address under the French e-invoicing reform
    /// (BT-49, scheme 0225).
    pub fn known_siren(&self) -> Option<String> {
        self.siren
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .or_else(|| self.vat_number.as_ref().and_then(|v| v.french_siren()).map(str::to_owned))
    }

    /// The buyer's electronic address (BT-49): the directory's, else the SIREN.
    pub fn endpoint(&self) -> Option<String> {
        self.electronic_address.clone().or_else(|| self.known_siren())
    }

    /// The buyer as billing data, as a form to correct it shows it before the invoice is
    /// issued again: the VAT number when there is one, else the SIREN; the first street line,
    /// the others joined as the second.
    pub fn billing_data(&self) -> BuyerBillingData {
        let tax_number = match (&self.vat_number, &self.siren) {
            (Some(v), _) => Some(crate::buyer::TaxNumber::Vat(v.clone())),
            (None, Some(s)) => Some(crate::buyer::TaxNumber::Siren(s.clone())),
            (None, None) => None,
        };
        let rest = self.address.lines.iter().skip(1).cloned().collect::<Vec<_>>().join(", ");
        BuyerBillingData {
            kind: self.kind,
            name: self.name.clone(),
            tax_number,
            address: crate::buyer::BuyerAddress {
                line1: self.address.lines.first().cloned().unwrap_or_default(),
                line2: Some(rest).filter(|l| !l.is_empty()),
                postal_code: self.address.postal_code.clone(),
                city: self.address.city.clone(),
                country_code: self.address.country,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryParty {
    pub name: String,
    pub address: InvoiceAddress,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LineKind {
    Goods,
    Shipping,
    /// A service: Marketbill's own monthly fee.
    Service,
}

/// One invoice line. `net_amount` is authoritative; `unit_price_net` is derived from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceLine {
    /// 1, 2, 3… in document order.
    pub id: u32,
    pub kind: LineKind,
    pub description: String,
    pub sku: Option<String>,
    pub gtin: Option<String>,
    pub quantity: Decimal,
    /// Unit price excluding VAT, up to 6 decimals (BT-146).
    pub unit_price_net: Decimal,
    /// Line amount excluding VAT, 2 decimals (BT-131).
    pub net_amount: Decimal,
    /// What the buyer paid for the line, VAT included.
    pub gross_amount: Decimal,
    pub category: VatCategory,
    pub vat_rate: VatRate,
    /// The marketplace order line it invoices (goods lines), to find it again when the
    /// marketplace reports a refund of that line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_line: Option<String>,
}

/// The VAT of one category and rate (BG-23).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VatBreakdown {
    pub category: VatCategory,
    pub rate: VatRate,
    pub taxable_amount: Decimal,
    pub vat_amount: Decimal,
    pub exemption_code: Option<String>,
    pub exemption_text: Option<String>,
}

/// Document totals (BG-22). Nothing is due on a sale (marketplace orders are paid before
/// shipping); all is due on Marketbill's own fee invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// BT-106, sum of line net amounts.
    pub line_net_total: Decimal,
    /// BT-109 (no document-level allowances or charges).
    pub tax_exclusive: Decimal,
    /// BT-110.
    pub vat_total: Decimal,
    /// BT-112, equal to what the buyer paid.
    pub tax_inclusive: Decimal,
    /// BT-113.
    pub prepaid: Decimal,
    /// BT-115, zero.
    pub payable: Decimal,
}

impl Totals {
    /// The totals of a document nothing has been paid on yet: all of it is due.
    pub fn due(line_net_total: Decimal, vat_total: Decimal) -> Totals {
        Totals {
            line_net_total,
            tax_exclusive: line_net_total,
            vat_total,
            tax_inclusive: line_net_total + vat_total,
            prepaid: Decimal::ZERO,
            payable: line_net_total + vat_total,
        }
    }

    /// The totals of a document paid in full on the marketplace: nothing left to pay.
    pub fn paid(line_net_total: Decimal, vat_total: Decimal) -> Totals {
        Totals {
            line_net_total,
            tax_exclusive: line_net_total,
            vat_total,
            tax_inclusive: line_net_total + vat_total,
            prepaid: line_net_total + vat_total,
            payable: Decimal::ZERO,
        }
    }
}

/// A free-text note with an optional UNTDID 4451 subject (`PMD`, `PMT`, `AAB`, `TXD`, `AAI`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    pub subject: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentInfo {
    #[serde(with = "iso_day")]
    pub paid_on: Date,
    pub method: Option<String>,
    /// Payment terms as printed (BT-20).
    pub terms: String,
    /// The payment due date (BT-9), for a document with an amount due.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "iso_day::option")]
    pub due_date: Option<Date>,
    /// How it is paid (BG-16); empty on documents issued before it was recorded.
    #[serde(default, skip_serializing_if = "PaymentMeans::is_unknown")]
    pub means: PaymentMeans,
}

/// The payment means of a document (BG-16).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentMeans {
    /// UNTDID 4461 (BT-81): 30 credit transfer, 48 bank card, 68 online payment service,
    /// 20 cheque, 1 not defined.
    pub code: String,
    /// The payee's account (BT-84) and its bank (BT-86), for a credit transfer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iban: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bic: Option<String>,
}

impl PaymentMeans {
    pub fn is_unknown(&self) -> bool {
        self.code.is_empty()
    }

    /// What the buyer paid the marketplace with, as a payment means code.
    pub fn of_marketplace(method: Option<&str>) -> PaymentMeans {
        let code = match method.map(payment_method_kind) {
            Some(Some(0)) => "48",
            Some(Some(1)) => "68",
            Some(Some(2)) => "30",
            Some(Some(3)) => "20",
            _ => "1",
        };
        PaymentMeans { code: code.into(), iban: None, bic: None }
    }

    /// A credit transfer to an account.
    pub fn transfer(account: &crate::seller::BankAccount) -> PaymentMeans {
        PaymentMeans { code: "30".into(), iban: Some(account.iban.clone()), bic: account.bic.clone() }
    }
}

/// The reference of another invoice: the one a credit note corrects, or the one an invoice
/// replaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceRef {
    pub number: InvoiceNumber,
    #[serde(with = "iso_day")]
    pub issue_date: Date,
    /// A credit note for part of the invoice (not one cancelling it whole).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum DocumentKind {
    /// UNTDID 1001 code 380.
    Invoice,
    /// UNTDID 1001 code 381.
    CreditNote { corrects: InvoiceRef },
}

impl DocumentKind {
    pub fn type_code(&self) -> &'static str {
        match self {
            DocumentKind::Invoice => "380",
            DocumentKind::CreditNote { .. } => "381",
        }
    }

    pub fn is_credit_note(&self) -> bool {
        matches!(self, DocumentKind::CreditNote { .. })
    }
}

/// Everything on the document but its number and date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceBody {
    pub currency: String,
    /// The marketplace order (BT-13, always printed).
    pub order_id: OrderId,
    #[serde(with = "iso_day")]
    pub delivery_date: Date,
    pub payment: PaymentInfo,
    pub seller: SellerParty,
    pub buyer: BuyerParty,
    /// Present when the delivery address differs from the billing address.
    pub delivery: Option<DeliveryParty>,
    pub lines: Vec<InvoiceLine>,
    pub vat_breakdown: Vec<VatBreakdown>,
    pub totals: Totals,
    pub regime: VatRegime,
    /// B2B invoices carry the payment-penalty mentions.
    pub business: bool,
    pub notes: Vec<Note>,
    pub language: Language,
    /// The invoice this one replaces (a buyer's correction: BT-25, BT-26).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<InvoiceRef>,
}

/// A document ready to be numbered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Draft {
    pub kind: DocumentKind,
    #[serde(with = "iso_day")]
    pub issue_date: Date,
    /// The series the number must come from.
    pub series: Series,
    pub body: InvoiceBody,
}

/// A final, numbered invoice or credit note. Never edited once issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invoice {
    pub number: InvoiceNumber,
    pub kind: DocumentKind,
    #[serde(with = "iso_day")]
    pub issue_date: Date,
    pub body: InvoiceBody,
}

impl Draft {
    pub fn finalize(self, number: InvoiceNumber) -> Invoice {
        Invoice { number, kind: self.kind, issue_date: self.issue_date, body: self.body }
    }
}

/// What is needed to draft the invoice of one order.
#[derive(Debug, Clone, Copy)]
pub struct IssueRequest<'a> {
    pub order: &'a Order,
    pub seller: &'a SellerProfile,
    /// Billing data the buyer asked for, replacing the order's.
    pub buyer_data: Option<&'a BuyerBillingData>,
    pub issued_at: OffsetDateTime,
}

/// A supplied line with its amounts read and checked.
struct PricedLine<'a> {
    line: &'a OrderLine,
    label: String,
    quantity: Decimal,
    goods_gross: Decimal,
    shipping_gross: Decimal,
}

const MAX_QUANTITY: Decimal = Decimal::from_parts(100_000, 0, 0, false, 0);
/// The most a unit can cost on a marketplace order (€1,000,000), and the most its shipping can
/// (€100,000): far above any real order, low enough that no product or sum of the bounded lines
/// can overflow a `Decimal`.
const MAX_UNIT_PRICE: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);
const MAX_SHIPPING: Decimal = Decimal::from_parts(100_000, 0, 0, false, 0);
/// The most lines one order may carry.
pub const MAX_LINES: usize = 1_000;
const MAX_DESCRIPTION: usize = 500;

fn clean_text(s: &str, max: usize) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    cleaned.chars().take(max).collect()
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref().map(|v| clean_text(v, 200)).filter(|v| !v.is_empty())
}

fn person_name(first: &Option<String>, last: &Option<String>) -> Option<String> {
    let parts: Vec<String> = [first, last].into_iter().filter_map(non_empty).collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn billing_to_address(b: &BillingAddress) -> Option<InvoiceAddress> {
    let lines: Vec<String> = [&b.address_line1, &b.address_line2].into_iter().filter_map(non_empty).collect();
    let country = b.country_code.as_deref()?.parse().ok()?;
    Some(InvoiceAddress {
        lines: (!lines.is_empty()).then_some(lines)?,
        postal_code: non_empty(&b.postal_code)?,
        city: non_empty(&b.city)?,
        country,
    })
}

fn shipping_to_address(s: &ShippingAddress) -> Option<InvoiceAddress> {
    let lines: Vec<String> =
        [&s.address_line1, &s.address_line2, &s.address_line3].into_iter().filter_map(non_empty).collect();
    let country = s.country_code.as_deref()?.parse().ok()?;
    Some(InvoiceAddress {
        lines: (!lines.is_empty()).then_some(lines)?,
        postal_code: non_empty(&s.postal_code)?,
        city: non_empty(&s.city)?,
        country,
    })
}

fn line_label(line: &OrderLine, index: usize) -> String {
    line.order_line_id.clone().unwrap_or_else(|| (index + 1).to_string())
}

/// Splits a VAT-inclusive amount into a base and a VAT so that base + VAT = gross exactly and,
/// whenever some base allows it, VAT = base × rate rounded to the cent. Otherwise (a gross such
/// as 0.03 € at 20 % that no base reaches), VAT = gross − base, within one cent of base × rate.
pub fn split_gross(gross: Decimal, rate: VatRate) -> (Decimal, Decimal) {
    if rate.is_zero() {
        return (gross, Decimal::ZERO);
    }
    let exact = gross / (Decimal::ONE + rate.fraction());
    let nearest = round_cents(exact);
    let cent = Decimal::new(1, 2);
    let mut candidates: Vec<Decimal> = (-2..=2).map(|k| nearest + cent * Decimal::from(k)).collect();
    candidates.sort_by_key(|b| (*b - exact).abs());
    candidates
        .into_iter()
        .filter(|b| *b >= Decimal::ZERO)
        .find(|b| *b + rate.vat_on(*b) == gross)
        .map(|b| (b, gross - b))
        .unwrap_or((nearest, gross - nearest))
}

/// Spreads a group's base over its lines: each line near gross / (1 + rate), the cents left
/// over going to the largest lines first, so the lines add up to the base exactly.
pub(crate) fn spread_base(grosses: &[Decimal], base: Decimal, rate: VatRate) -> Vec<Decimal> {
    let divisor = Decimal::ONE + rate.fraction();
    let mut nets: Vec<Decimal> = grosses.iter().map(|g| round_cents(*g / divisor)).collect();
    let mut left = base - nets.iter().copied().sum::<Decimal>();
    let cent = Decimal::new(1, 2);
    let mut order: Vec<usize> = (0..grosses.len()).collect();
    order.sort_by(|a, b| grosses[*b].cmp(&grosses[*a]).then(a.cmp(b)));
    // Each pass moves at most one cent per line; the leftover is a few cents at most.
    while !left.is_zero() {
        let step = if left > Decimal::ZERO { cent } else { -cent };
        let mut moved = false;
        for &i in &order {
            if left.is_zero() {
                break;
            }
            if nets[i] + step >= Decimal::ZERO {
                nets[i] += step;
                left -= step;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    nets
}

/// Drafts the invoice of a shipped order, or says why it gets none.
pub fn draft_invoice(req: &IssueRequest<'_>) -> Result<Draft, Refusal> {
    let order = req.order;
    let seller = req.seller;
    let supplied = supplied_lines(order, seller)?;
    check_delivered_in_france(order, &supplied)?;
    let ship_from = ship_from(seller, &supplied)?;
    let seller_country = seller.country();
    let (priced, paid) = check_amounts(order, &supplied)?;

    // Parties.
    let buyer = buyer_party(order, req.buyer_data)?;
    let business = buyer.kind == BuyerKind::Company;
    let delivery = delivery_party(order, &buyer);

    let regime = decide_regime(&RegimeFacts {
        seller_country,
        seller_scheme: seller.vat_scheme,
        seller_has_french_vat_number: seller.french_vat_number.is_some(),
        ship_from,
        buyer_vat_number: buyer.vat_number.as_ref(),
        buyer_is_business: business,
        consignment_value: paid,
    })?;

    let rates = line_rates(&priced, seller, regime)?;
    let seller_party = seller_party(seller, regime);
    let lines_and_breakdown = compute_lines(&priced, &rates, regime, seller.language);
    let (lines, vat_breakdown) = lines_and_breakdown;
    let line_net_total: Decimal = lines.iter().map(|l| l.net_amount).sum();
    let vat_total: Decimal = vat_breakdown.iter().map(|b| b.vat_amount).sum();
    let totals = Totals::paid(line_net_total, vat_total);

    let issue_date = paris_date(req.issued_at);
    let delivery_date =
        order.updated_at.or(order.created_at).map(paris_date).filter(|d| *d <= issue_date).unwrap_or(issue_date);
    let paid_on =
        order.purchased_at.or(order.created_at).map(paris_date).filter(|d| *d <= issue_date).unwrap_or(issue_date);
    let method = order.payment.as_ref().and_then(|p| non_empty(&p.method));
    let terms = payment_terms(seller.language, paid_on, method.as_deref());

    let notes = standard_notes(seller.language, regime, business);
    Ok(Draft {
        kind: DocumentKind::Invoice,
        issue_date,
        series: Series::new(seller.invoice_prefix.clone(), issue_date.year()),
        body: InvoiceBody {
            currency: "EUR".into(),
            order_id: order.order_id.clone(),
            delivery_date,
            payment: PaymentInfo {
                paid_on,
                means: PaymentMeans::of_marketplace(method.as_deref()),
                method,
                terms,
                due_date: None,
            },
            seller: seller_party,
            buyer,
            delivery,
            lines,
            vat_breakdown,
            totals,
            regime,
            business,
            notes,
            language: seller.language,
            replaces: None,
        },
    })
}

/// The lines a shipped order of this seller supplied, in euros, within bounds.
fn supplied_lines<'o>(order: &'o Order, seller: &SellerProfile) -> Result<Vec<(usize, &'o OrderLine)>, Refusal> {
    if let Some(order_seller) = order.seller.as_ref().and_then(|s| s.id.as_deref())
        && order_seller != seller.marketplace_seller_id
    {
        return Err(Refusal::OtherSeller { order_seller: order_seller.to_owned() });
    }
    if !order.status.is_shipped() {
        return Err(Refusal::NotShipped { status: order.status.to_string() });
    }
    if let Some(currency) = order.currency_code.as_deref()
        && !currency.eq_ignore_ascii_case("EUR")
    {
        return Err(Refusal::UnsupportedCurrency { currency: currency.to_owned() });
    }
    if order.lines.len() > MAX_LINES {
        return Err(Refusal::TooManyLines { count: order.lines.len(), max: MAX_LINES });
    }
    let supplied: Vec<(usize, &OrderLine)> = order.lines.iter().enumerate().filter(|(_, l)| !l.is_void()).collect();
    if supplied.is_empty() {
        return Err(Refusal::NoSuppliedLines);
    }
    Ok(supplied)
}

/// Every supplied line ships to metropolitan France (overseas departments and territories are
/// outside the French VAT territory).
fn check_delivered_in_france(order: &Order, supplied: &[(usize, &OrderLine)]) -> Result<(), Refusal> {
    // Delivery: every supplied line must ship to France.
    let billing_country = order
        .billing_address
        .as_ref()
        .and_then(|b| b.country_code.as_deref())
        .and_then(|c| c.parse::<CountryCode>().ok());
    let mut foreign: Vec<String> = Vec::new();
    for (i, line) in supplied {
        let country = line
            .shipping_address
            .as_ref()
            .and_then(|a| a.country_code.as_deref())
            .and_then(|c| c.parse::<CountryCode>().ok())
            .or(billing_country)
            .ok_or_else(|| Refusal::NoDeliveryCountry { line: line_label(line, *i) })?;
        if !country.is_france() && !foreign.contains(&country.to_string()) {
            foreign.push(country.to_string());
        }
        // Overseas departments and territories (postal codes 97… and 98…) are outside the
        // French VAT territory: a sale there is an export, not a French sale.
        let postal = line
            .shipping_address
            .as_ref()
            .and_then(|a| a.postal_code.as_deref())
            .or_else(|| order.billing_address.as_ref().and_then(|b| b.postal_code.as_deref()))
            .map(str::trim)
            .unwrap_or("");
        if country.is_france() && (postal.starts_with("97") || postal.starts_with("98")) {
            return Err(Refusal::OverseasDelivery { line: line_label(line, *i), postal_code: postal.to_owned() });
        }
    }
    if !foreign.is_empty() {
        return Err(Refusal::NotShippedToFrance { countries: foreign.join(", ") });
    }
    Ok(())
}

/// Where the goods leave from: one place for the whole order.
fn ship_from(seller: &SellerProfile, supplied: &[(usize, &OrderLine)]) -> Result<ShipFrom, Refusal> {
    // Where the goods leave from.
    let seller_country = seller.country();
    let mut ship_from: Option<ShipFrom> = None;
    for (_, line) in supplied {
        let fulfilled =
            line.offer.as_ref().and_then(|o| o.supply_mode.as_ref()).is_some_and(|m| *m == SupplyMode::Fulfillment);
        let from = if fulfilled {
            ShipFrom::France
        } else {
            match seller.stock_location {
                StockLocation::France => ShipFrom::France,
                StockLocation::OutsideEu => ShipFrom::OutsideEu,
                StockLocation::SellerCountry if seller_country.is_france() => ShipFrom::France,
                StockLocation::SellerCountry => ShipFrom::EuCountry(seller_country),
            }
        };
        match ship_from {
            None => ship_from = Some(from),
            Some(previous) if previous != from => return Err(Refusal::MixedShipFrom),
            Some(_) => {}
        }
    }
    Ok(ship_from.unwrap_or(ShipFrom::France))
}

/// Amounts as the marketplace states them, checked against each other: the priced lines and
/// what the buyer paid.
fn check_amounts<'o>(
    order: &'o Order,
    supplied: &[(usize, &'o OrderLine)],
) -> Result<(Vec<PricedLine<'o>>, Decimal), Refusal> {
    // Amounts as the marketplace states them, checked against each other.
    let mut priced: Vec<PricedLine<'_>> = Vec::with_capacity(supplied.len());
    for (i, line) in supplied {
        let label = line_label(line, *i);
        let invalid = |problem: &str| Refusal::InvalidLine { line: label.clone(), problem: problem.to_owned() };
        let quantity = line.quantity.ok_or_else(|| invalid("the quantity is missing"))?;
        if quantity <= Decimal::ZERO || quantity > MAX_QUANTITY || quantity.normalize().scale() > 4 {
            return Err(invalid("the quantity must be positive, at most 100,000, with at most 4 decimals"));
        }
        let price = line.selling_price.as_ref().ok_or_else(|| invalid("the selling price is missing"))?;
        let unit = price.unit_sales_price.ok_or_else(|| invalid("the unit sales price is missing"))?;
        let shipping = price.shipping_cost.unwrap_or(Decimal::ZERO);
        if unit < Decimal::ZERO || shipping < Decimal::ZERO {
            return Err(invalid("prices must not be negative"));
        }
        if unit > MAX_UNIT_PRICE || shipping > MAX_SHIPPING {
            return Err(invalid("the unit price is over €1,000,000 or the shipping cost over €100,000"));
        }
        if unit.normalize().scale() > 2 || shipping.normalize().scale() > 2 {
            return Err(invalid("prices must be whole cents"));
        }
        let product = unit.checked_mul(quantity).ok_or_else(|| invalid("quantity × unit price is out of range"))?;
        let goods_gross = round_cents(product);
        if goods_gross != product {
            return Err(invalid("quantity × unit price is not a whole number of cents"));
        }
        if let Some(stated) = line.total_price.as_ref().and_then(|t| t.selling_price) {
            let computed =
                goods_gross.checked_add(shipping).ok_or_else(|| invalid("the line total is out of range"))?;
            if stated != computed {
                return Err(Refusal::TotalsMismatch { what: format!("line {label} total"), stated, computed });
            }
        }
        priced.push(PricedLine { line, label, quantity, goods_gross, shipping_gross: shipping });
    }
    let paid = priced
        .iter()
        .try_fold(Decimal::ZERO, |acc, p| acc.checked_add(p.goods_gross)?.checked_add(p.shipping_gross))
        .ok_or_else(|| Refusal::InvalidLine { line: "*".into(), problem: "the order total is out of range".into() })?;
    if let Some(stated) = order.total_price.as_ref().and_then(|t| t.selling_price)
        && stated != paid
    {
        return Err(Refusal::TotalsMismatch { what: "order total".into(), stated, computed: paid });
    }
    Ok((priced, paid))
}

/// The VAT rate of each line: the rates of the regime, not of the scheme (a home-country
/// seller whose goods leave from France makes a French sale at French rates).
fn line_rates(priced: &[PricedLine<'_>], seller: &SellerProfile, regime: VatRegime) -> Result<Vec<VatRate>, Refusal> {
    // VAT rate of each line.
    let allowed = match regime {
        VatRegime::HomeCountry { country } => country.vat_rates(),
        _ => CountryCode::FR.vat_rates(),
    };
    let mut rates: Vec<VatRate> = Vec::with_capacity(priced.len());
    for p in priced {
        let rate = if !regime.is_taxed() { VatRate::ZERO } else { line_rate(p, seller, regime, &allowed)? };
        rates.push(rate);
    }
    Ok(rates)
}

fn line_rate(
    p: &PricedLine<'_>,
    seller: &SellerProfile,
    regime: VatRegime,
    allowed: &[VatRate],
) -> Result<VatRate, Refusal> {
    let sku = p.line.offer.as_ref().and_then(|o| o.seller_product_id.as_deref());
    let from_order = match regime {
        // The marketplace's taxes are French; the home-country scheme uses the seller's own.
        VatRegime::HomeCountry { .. } => None,
        _ => p
            .line
            .selling_price
            .as_ref()
            .into_iter()
            .flat_map(|s| s.taxes.iter())
            .filter(|t| !t.target.as_deref().is_some_and(|x| x.eq_ignore_ascii_case("shipping")))
            .find_map(|t| t.rate),
    };
    let rate = match from_order {
        Some(percent) => VatRate::new(percent).map_err(|_| Refusal::UnknownVatRate {
            line: p.label.clone(),
            rate: percent.to_string(),
            allowed: list_rates(allowed),
        })?,
        None => seller.configured_rate(sku),
    };
    if !allowed.contains(&rate) {
        return Err(Refusal::UnknownVatRate {
            line: p.label.clone(),
            rate: rate.to_string(),
            allowed: list_rates(allowed),
        });
    }
    Ok(rate)
}

fn list_rates(rates: &[VatRate]) -> String {
    rates.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", ")
}

/// Builds the lines (goods, then one shipping line per rate) and the VAT breakdown.
fn compute_lines(
    priced: &[PricedLine<'_>],
    rates: &[VatRate],
    regime: VatRegime,
    language: Language,
) -> (Vec<InvoiceLine>, Vec<VatBreakdown>) {
    let mut pending: Vec<LineToPrice> = Vec::with_capacity(priced.len() + 2);
    let mut shipping_by_rate: BTreeMap<VatRate, Decimal> = BTreeMap::new();
    for (p, rate) in priced.iter().zip(rates) {
        let offer = p.line.offer.as_ref();
        let title = offer.and_then(|o| non_empty(&o.product_title));
        let sku = offer.and_then(|o| non_empty(&o.seller_product_id));
        let description = title
            .map(|t| clean_text(&t, MAX_DESCRIPTION))
            .or_else(|| sku.as_ref().map(|s| format!("Article {s}")))
            .unwrap_or_else(|| format!("Article de la ligne {}", p.label));
        pending.push(LineToPrice {
            kind: LineKind::Goods,
            order_line: p.line.order_line_id.clone(),
            description,
            sku,
            gtin: offer.and_then(|o| non_empty(&o.product_gtin)),
            quantity: p.quantity,
            gross: p.goods_gross,
            rate: *rate,
        });
        if p.shipping_gross > Decimal::ZERO {
            *shipping_by_rate.entry(*rate).or_default() += p.shipping_gross;
        }
    }
    let several_rates = shipping_by_rate.len() > 1;
    for (rate, gross) in shipping_by_rate.iter().rev() {
        let description = shipping_description(language, several_rates.then_some(*rate));
        pending.push(LineToPrice {
            kind: LineKind::Shipping,
            order_line: None,
            description,
            sku: None,
            gtin: None,
            quantity: Decimal::ONE,
            gross: *gross,
            rate: *rate,
        });
    }

    price_lines(pending, regime)
}

/// The description of a shipping line in the document's language; with several rates, the
/// part at `rate`.
fn shipping_description(lang: Language, rate: Option<VatRate>) -> String {
    let (label, part) = match lang {
        Language::Fr => ("Frais de livraison", "part au taux de"),
        Language::En => ("Shipping", "share at the rate of"),
        Language::De => ("Versandkosten", "Anteil zum Steuersatz von"),
        Language::Es => ("Gastos de envío", "parte al tipo del"),
        Language::It => ("Spese di spedizione", "quota all'aliquota del"),
        Language::Nl => ("Verzendkosten", "deel tegen het tarief van"),
        Language::Pl => ("Koszty wysyłki", "część według stawki"),
    };
    match rate {
        Some(r) if lang == Language::Fr => format!("{label} ({part} {})", r.to_french()),
        Some(r) => format!("{label} ({part} {} %)", r.percent().normalize()),
        None => label.to_owned(),
    }
}

/// A line of a document before its net amount is known: what the buyer paid, VAT included.
pub(crate) struct LineToPrice {
    pub kind: LineKind,
    pub order_line: Option<String>,
    pub description: String,
    pub sku: Option<String>,
    pub gtin: Option<String>,
    pub quantity: Decimal,
    pub gross: Decimal,
    pub rate: VatRate,
}

/// Prices a document's lines: per rate one base for the whole group (so the VAT summary is
/// exact), spread over its lines; numbered 1, 2, 3… in the order given.
pub(crate) fn price_lines(pending: Vec<LineToPrice>, regime: VatRegime) -> (Vec<InvoiceLine>, Vec<VatBreakdown>) {
    let category = regime.category();
    let mut groups: BTreeMap<VatRate, Vec<usize>> = BTreeMap::new();
    for (i, p) in pending.iter().enumerate() {
        groups.entry(p.rate).or_default().push(i);
    }
    let mut nets = vec![Decimal::ZERO; pending.len()];
    let mut breakdown = Vec::with_capacity(groups.len());
    for (rate, members) in groups.iter().rev() {
        let grosses: Vec<Decimal> = members.iter().map(|&i| pending[i].gross).collect();
        let gross: Decimal = grosses.iter().copied().sum();
        let (base, vat) = split_gross(gross, *rate);
        for (&i, net) in members.iter().zip(spread_base(&grosses, base, *rate)) {
            nets[i] = net;
        }
        let exemption = regime.exemption();
        breakdown.push(VatBreakdown {
            category,
            rate: *rate,
            taxable_amount: base,
            vat_amount: vat,
            exemption_code: exemption.map(|(code, _)| code.to_owned()),
            exemption_text: exemption.map(|(_, text)| text.to_owned()),
        });
    }

    let lines = pending
        .into_iter()
        .zip(nets)
        .enumerate()
        .map(|(i, (p, net))| InvoiceLine {
            id: u32::try_from(i + 1).unwrap_or(u32::MAX),
            kind: p.kind,
            description: p.description,
            sku: p.sku,
            gtin: p.gtin,
            quantity: p.quantity,
            unit_price_net: (net / p.quantity)
                .round_dp_with_strategy(6, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
                .normalize(),
            net_amount: net,
            gross_amount: p.gross,
            category,
            vat_rate: p.rate,
            order_line: p.order_line,
        })
        .collect();
    (lines, breakdown)
}

fn buyer_party(order: &Order, data: Option<&BuyerBillingData>) -> Result<BuyerParty, Refusal> {
    let reference = order.customer.as_ref().and_then(|c| non_empty(&c.reference));
    if let Some(d) = data {
        return Ok(BuyerParty {
            kind: d.kind,
            name: clean_text(&d.name, 200),
            address: InvoiceAddress {
                lines: [Some(d.address.line1.clone()), d.address.line2.clone()].iter().filter_map(non_empty).collect(),
                postal_code: clean_text(&d.address.postal_code, 20),
                city: clean_text(&d.address.city, 100),
                country: d.address.country_code,
            },
            vat_number: d.vat_number().cloned(),
            siren: d.siren(),
            marketplace_reference: reference,
            electronic_address: None,
        });
    }
    let billing = order.billing_address.as_ref();
    let first_shipping = order.supplied_lines().find_map(|l| l.shipping_address.as_ref());
    let company = billing.and_then(|b| non_empty(&b.company_name)).filter(|_| order.is_business());
    let person = billing
        .and_then(|b| person_name(&b.first_name, &b.last_name))
        .or_else(|| first_shipping.and_then(|s| person_name(&s.first_name, &s.last_name)));
    let name = company.clone().or(person).ok_or(Refusal::MissingBuyer)?;
    let address = billing
        .and_then(billing_to_address)
        .or_else(|| first_shipping.and_then(shipping_to_address))
        .ok_or(Refusal::MissingBuyer)?;
    Ok(BuyerParty {
        kind: if company.is_some() { BuyerKind::Company } else { BuyerKind::Individual },
        name,
        address,
        vat_number: None,
        siren: None,
        marketplace_reference: reference,
        electronic_address: None,
    })
}

fn delivery_party(order: &Order, buyer: &BuyerParty) -> Option<DeliveryParty> {
    let shipping = order.supplied_lines().find_map(|l| l.shipping_address.as_ref())?;
    let address = shipping_to_address(shipping)?;
    if address.same_place(&buyer.address) {
        return None;
    }
    let name = non_empty(&shipping.pickup_name)
        .map(|relay| match person_name(&shipping.first_name, &shipping.last_name) {
            Some(person) => format!("{person} — point relais {relay}"),
            None => format!("Point relais {relay}"),
        })
        .or_else(|| person_name(&shipping.first_name, &shipping.last_name))
        .unwrap_or_else(|| buyer.name.clone());
    Some(DeliveryParty { name, address })
}

pub(crate) fn seller_party(seller: &SellerProfile, regime: VatRegime) -> SellerParty {
    let vat_number = match regime {
        VatRegime::Franchise => None,
        VatRegime::FrenchVat => seller.french_vat_number.clone().or_else(|| seller.vat_number.clone()),
        VatRegime::ReverseCharge => seller.french_vat_number.clone().or_else(|| seller.vat_number.clone()),
        VatRegime::Oss | VatRegime::HomeCountry { .. } | VatRegime::IntraEuExempt => seller.vat_number.clone(),
    };
    let vat_number = if seller.country().is_france() { seller.vat_number.clone().or(vat_number) } else { vat_number };
    let a = &seller.address;
    SellerParty {
        legal_name: seller.legal_name.clone(),
        address: InvoiceAddress {
            lines: std::iter::once(a.line1.clone()).chain(a.line2.clone()).collect(),
            postal_code: a.postal_code.clone(),
            city: a.city.clone(),
            country: a.country_code,
        },
        vat_number: if regime == VatRegime::Franchise { None } else { vat_number },
        siren: seller.siren.clone(),
        siret: seller.siret.clone(),
        legal_mentions: seller.legal_mentions_in(seller.language),
        email: seller.email.clone(),
        electronic_address: None,
    }
}

/// The kind of a marketplace payment method: 0 card, 1 PayPal, 2 transfer, 3 cheque, 4 gift
/// card, 5 instalments; `None` for one we do not know.
fn payment_method_kind(method: &str) -> Option<usize> {
    let key: String = method.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
    Some(match key.as_str() {
        "cb" | "card" | "creditcard" | "bankcard" | "carte" | "cartebancaire" | "visa" | "mastercard" => 0,
        "paypal" => 1,
        "transfer" | "banktransfer" | "virement" | "wiretransfer" => 2,
        "check" | "cheque" => 3,
        "giftcard" | "cartecadeau" | "voucher" | "bonachat" => 4,
        "installments" | "4x" | "3x" | "paiementenplusieursfois" => 5,
        _ => return None,
    })
}

/// The marketplace's payment method in words of `lang`; a code we do not know is kept as it is.
pub fn payment_method_name(lang: Language, method: &str) -> String {
    let Some(kind) = payment_method_kind(method) else {
        return method.chars().filter(|c| !c.is_control()).take(40).collect();
    };
    let names: [&str; 6] = match lang {
        Language::Fr => {
            ["carte bancaire", "PayPal", "virement", "chèque", "carte cadeau", "paiement en plusieurs fois"]
        }
        Language::En => ["card", "PayPal", "bank transfer", "cheque", "gift card", "instalments"],
        Language::De => ["Karte", "PayPal", "Überweisung", "Scheck", "Geschenkkarte", "Ratenzahlung"],
        Language::Es => ["tarjeta", "PayPal", "transferencia", "cheque", "tarjeta regalo", "pago a plazos"],
        Language::It => ["carta", "PayPal", "bonifico", "assegno", "carta regalo", "pagamento rateale"],
        Language::Nl => ["kaart", "PayPal", "overschrijving", "cheque", "cadeaukaart", "betaling in termijnen"],
        Language::Pl => ["karta", "PayPal", "przelew", "czek", "karta podarunkowa", "płatność ratalna"],
    };
    names[kind].to_owned()
}

/// The payment terms (BT-20) of an invoice: paid on the marketplace, when and by what.
pub fn payment_terms(lang: Language, paid_on: Date, method: Option<&str>) -> String {
    let date = crate::calendar::local_date(lang, paid_on);
    let by = method.map(|m| payment_method_name(lang, m));
    match (lang, by) {
        (Language::Fr, Some(m)) => format!("Payée le {date} par {m} sur la place de marché"),
        (Language::Fr, None) => format!("Payée le {date} sur la place de marché"),
        (Language::En, Some(m)) => format!("Paid on {date} by {m} on the marketplace"),
        (Language::En, None) => format!("Paid on {date} on the marketplace"),
        (Language::De, Some(m)) => format!("Bezahlt am {date} per {m} über den Marktplatz"),
        (Language::De, None) => format!("Bezahlt am {date} über den Marktplatz"),
        (Language::Es, Some(m)) => format!("Pagada el {date} con {m} en el marketplace"),
        (Language::Es, None) => format!("Pagada el {date} en el marketplace"),
        (Language::It, Some(m)) => format!("Pagata il {date} con {m} sul marketplace"),
        (Language::It, None) => format!("Pagata il {date} sul marketplace"),
        (Language::Nl, Some(m)) => format!("Betaald op {date} met {m} via de marktplaats"),
        (Language::Nl, None) => format!("Betaald op {date} via de marktplaats"),
        (Language::Pl, Some(m)) => format!("Zapłacono {date} ({m}) na platformie sprzedażowej"),
        (Language::Pl, None) => format!("Zapłacono {date} na platformie sprzedażowej"),
    }
}

impl Draft {
    /// The corrected invoice of a buyer's request: it replaces `original` (BT-25, BT-26) and
    /// says so.
    /// The electronic addresses the reform's directory gives the seller (BT-34) and the buyer
    /// (BT-49). Only an address that is one of the party's (it starts with its SIREN) and that
    /// the specification allows (letters, digits, `+ - _ .`, at most 125) is taken; otherwise the
    /// SIREN stays the address.
    pub fn with_electronic_addresses(mut self, seller: Option<&str>, buyer: Option<&str>) -> Draft {
        let ok = |address: &str, siren: Option<String>| {
            siren.is_some_and(|s| address.starts_with(&s))
                && address.len() <= 125
                && address.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-_.".contains(&b))
        };
        if let Some(a) = seller.filter(|a| ok(a, self.body.seller.siren.as_ref().map(|s| s.as_str().to_owned()))) {
            self.body.seller.electronic_address = Some(a.to_owned());
        }
        if let Some(a) = buyer.filter(|a| ok(a, self.body.buyer.known_siren())) {
            self.body.buyer.electronic_address = Some(a.to_owned());
        }
        self
    }

    pub fn replacing(mut self, original: &Invoice) -> Draft {
        self.body.replaces =
            Some(InvoiceRef { number: original.number.clone(), issue_date: original.issue_date, partial: false });
        self.body.notes.insert(
            0,
            Note {
                subject: Some("AAI".into()),
                text: crate::mentions::replaces_invoice(
                    self.body.language,
                    original.number.as_str(),
                    original.issue_date,
                ),
            },
        );
        self
    }
}

/// The terms of a credit note that cancels an invoice for a correction: nothing is refunded.
pub fn correction_terms(lang: Language, replaced: &InvoiceNumber) -> String {
    match lang {
        Language::Fr => {
            format!("Avoir — annule la facture {replaced}, remplacée par une facture corrigée ; aucun remboursement")
        }
        Language::En => {
            format!("Credit note — cancels invoice {replaced}, replaced by a corrected invoice; nothing is refunded")
        }
        Language::De => format!(
            "Gutschrift — storniert die Rechnung {replaced}, ersetzt durch eine berichtigte Rechnung; keine Erstattung"
        ),
        Language::Es => format!(
            "Factura rectificativa — anula la factura {replaced}, sustituida por una factura corregida; sin reembolso"
        ),
        Language::It => format!(
            "Nota di credito — annulla la fattura {replaced}, sostituita da una fattura corretta; nessun rimborso"
        ),
        Language::Nl => {
            format!("Creditnota — vervangt factuur {replaced} door een gecorrigeerde factuur; geen terugbetaling")
        }
        Language::Pl => {
            format!("Faktura korygująca — anuluje fakturę {replaced}, zastąpioną fakturą poprawioną; bez zwrotu")
        }
    }
}

/// The terms of a credit note: the amount goes back to the buyer through the marketplace.
pub fn refund_terms(lang: Language, on: Date) -> String {
    let date = crate::calendar::local_date(lang, on);
    match lang {
        Language::Fr => format!("Avoir — remboursé le {date} sur la place de marché"),
        Language::En => format!("Credit note — refunded on {date} on the marketplace"),
        Language::De => format!("Gutschrift — erstattet am {date} über den Marktplatz"),
        Language::Es => format!("Factura rectificativa — reembolsada el {date} en el marketplace"),
        Language::It => format!("Nota di credito — rimborsata il {date} sul marketplace"),
        Language::Nl => format!("Creditnota — terugbetaald op {date} via de marktplaats"),
        Language::Pl => format!("Faktura korygująca — zwrot {date} na platformie sprzedażowej"),
    }
}

fn standard_notes(lang: Language, regime: VatRegime, business: bool) -> Vec<Note> {
    use crate::mentions;
    let note = |subject: &str, text: &str| Note { subject: Some(subject.into()), text: text.into() };
    let mut notes = vec![note("AAI", mentions::supply_of_goods(lang))];
    if let Some(text) = regime.notice_in(lang) {
        notes.push(note("TXD", &text));
    }
    if business {
        notes.push(note("PMD", mentions::late_penalties_paid(lang)));
        notes.push(note("PMT", mentions::recovery_indemnity(lang)));
        notes.push(note("AAB", mentions::no_early_payment_discount(lang)));
    }
    notes
}

impl Invoice {
    /// A credit note cancelling this invoice in full, to be numbered in the credit-note series.
    pub fn credit_note(&self, seller: &SellerProfile, issued_at: OffsetDateTime, reason: &str) -> Draft {
        let issue_date = paris_date(issued_at).max(self.issue_date);
        let mut body = self.body.clone();
        body.payment.terms = refund_terms(body.language, issue_date);
        body.notes.insert(
            0,
            Note {
                subject: Some("AAI".into()),
                text: crate::mentions::credit_note_of(
                    body.language,
                    true,
                    self.number.as_str(),
                    self.issue_date,
                    &clean_text(reason, 200),
                ),
            },
        );
        Draft {
            kind: DocumentKind::CreditNote {
                corrects: InvoiceRef { number: self.number.clone(), issue_date: self.issue_date, partial: false },
            },
            issue_date,
            series: Series::new(seller.credit_note_prefix.clone(), issue_date.year()),
            body,
        }
    }

    /// A credit note cancelling this invoice because its billing data was corrected (a buyer's
    /// request): nothing is refunded, a corrected invoice replaces it.
    pub fn correction_credit_note(&self, seller: &SellerProfile, issued_at: OffsetDateTime, reason: &str) -> Draft {
        let mut draft = self.credit_note(seller, issued_at, reason);
        draft.body.payment.terms = correction_terms(draft.body.language, &self.number);
        draft
    }

    /// What the buyer paid (equals the total incl. VAT).
    pub fn amount_paid(&self) -> Decimal {
        self.body.totals.tax_inclusive
    }
}
