//! Marketplace orders as the Octopia Seller API v2 returns them.
//!
//! Parsing is tolerant: every field but `orderId`, `status` and `lines` may be missing, unknown
//! fields are ignored and unknown statuses are kept as they came. Amounts go straight from the
//! JSON text into `Decimal` (serde_json's arbitrary precision), never through f64.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use crate::ids::OrderId;

/// An order status. Values the API may add later are kept in `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    Processing,
    WaitingAcceptance,
    Accepted,
    Refused,
    InPreparation,
    Shipped,
    Delivered,
    Cancelled,
    Rejected,
    Other(String),
}

impl OrderStatus {
    pub fn as_str(&self) -> &str {
        match self {
            OrderStatus::Processing => "Processing",
            OrderStatus::WaitingAcceptance => "WaitingAcceptance",
            OrderStatus::Accepted => "Accepted",
            OrderStatus::Refused => "Refused",
            OrderStatus::InPreparation => "InPreparation",
            OrderStatus::Shipped => "Shipped",
            OrderStatus::Delivered => "Delivered",
            OrderStatus::Cancelled => "Cancelled",
            OrderStatus::Rejected => "Rejected",
            OrderStatus::Other(s) => s,
        }
    }

    /// Shipped or delivered: goods have left, an invoice is due.
    pub fn is_shipped(&self) -> bool {
        matches!(self, OrderStatus::Shipped | OrderStatus::Delivered)
    }

    /// Cancelled, refused or rejected: nothing will be supplied for it.
    pub fn is_void(&self) -> bool {
        matches!(self, OrderStatus::Cancelled | OrderStatus::Refused | OrderStatus::Rejected)
    }

    pub const ALL: [OrderStatus; 9] = [
        OrderStatus::Processing,
        OrderStatus::WaitingAcceptance,
        OrderStatus::Accepted,
        OrderStatus::Refused,
        OrderStatus::InPreparation,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Rejected,
    ];
}

impl From<&str> for OrderStatus {
    fn from(s: &str) -> Self {
        OrderStatus::ALL
            .iter()
            .find(|known| known.as_str().eq_ignore_ascii_case(s))
            .cloned()
            .unwrap_or_else(|| OrderStatus::Other(s.to_owned()))
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for OrderStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OrderStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(OrderStatus::from(s.as_str()))
    }
}

/// How an offer is supplied: from the seller's stock, from the marketplace's fulfilment
/// warehouses (in France), or cross-docked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SupplyMode {
    Seller,
    Fulfillment,
    Xdock,
    Other(String),
}

impl SupplyMode {
    pub fn as_str(&self) -> &str {
        match self {
            SupplyMode::Seller => "Seller",
            SupplyMode::Fulfillment => "Fulfillment",
            SupplyMode::Xdock => "Xdock",
            SupplyMode::Other(s) => s,
        }
    }
}

impl Serialize for SupplyMode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SupplyMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(match s.as_str() {
            x if x.eq_ignore_ascii_case("Seller") => SupplyMode::Seller,
            x if x.eq_ignore_ascii_case("Fulfillment") => SupplyMode::Fulfillment,
            x if x.eq_ignore_ascii_case("Xdock") => SupplyMode::Xdock,
            _ => SupplyMode::Other(s),
        })
    }
}

/// Marketplace dates: RFC 3339, and within the years an invoice can carry (2000–2999 in UTC).
/// Anything else (`9999-12-31T23:30:00-05:00`, which is year 10000 in UTC) is a named parse
/// error, so no later date arithmetic (Paris time, watermarks) can leave the calendar.
mod order_date {
    use serde::{Deserializer, Serializer};
    use time::OffsetDateTime;

    pub const FIRST_YEAR: i32 = 2000;
    pub const LAST_YEAR: i32 = 2999;

    pub fn serialize<S: Serializer>(v: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
        time::serde::rfc3339::option::serialize(v, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<OffsetDateTime>, D::Error> {
        let Some(at) = time::serde::rfc3339::option::deserialize(d)? else { return Ok(None) };
        match at.checked_to_offset(time::UtcOffset::UTC) {
            Some(utc) if (FIRST_YEAR..=LAST_YEAR).contains(&utc.year()) => Ok(Some(utc)),
            _ => Err(serde::de::Error::custom(format!("the date is outside the years {FIRST_YEAR} to {LAST_YEAR}"))),
        }
    }
}

/// Optional decimal amounts, read from JSON numbers exactly (or from strings) and written back
/// as JSON numbers.
mod amount_opt {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        rust_decimal::serde::arbitrary_precision_option::serialize(v, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        Option::<Decimal>::deserialize(d)
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SalesChannel {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SellerRef {
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "string_or_number")]
    pub id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

/// The order's billing address.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BillingAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub civility: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_line1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_line2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
}

/// A line's shipping address (the only place a buyer e-mail appears, usually a relay address).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub civility: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pickup_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pickup_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_line1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_line2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_line3: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceTotals {
    #[serde(default, skip_serializing_if = "Option::is_none", with = "amount_opt")]
    pub offer_price: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "amount_opt")]
    pub selling_price: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tax {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "amount_opt")]
    pub amount: Option<Decimal>,
    /// Percent (`20.0`), *assumed* by the reference.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "amount_opt")]
    pub rate: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Commission {
    #[serde(default, skip_serializing_if = "Option::is_none", with = "amount_opt")]
    pub amount_with_tax: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "amount_opt")]
    pub amount_without_tax: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "amount_opt")]
    pub rate: Option<Decimal>,
}

/// What the buyer paid for a line (VAT included).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SellingPrice {
    #[serde(default, skip_serializing_if = "Option::is_none", with = "amount_opt")]
    pub unit_sales_price: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "amount_opt")]
    pub shipping_cost: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taxes: Vec<Tax>,
}

/// The seller's side of a line's price.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferPrice {
    #[serde(default, skip_serializing_if = "Option::is_none", with = "amount_opt")]
    pub unit_sales_price: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "amount_opt")]
    pub shipping_cost: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission: Option<Commission>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taxes: Vec<Tax>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Offer {
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "string_or_number")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller_product_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supply_mode: Option<SupplyMode>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "string_or_number")]
    pub product_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "string_or_number")]
    pub product_gtin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "order_date")]
    pub promised_at_min: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "order_date")]
    pub promised_at_max: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "order_date")]
    pub shipped_at_max: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Parcel {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parcel_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "string_or_number")]
    pub order_line_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<OrderStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "amount_opt")]
    pub quantity: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<Offer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selling_price: Option<SellingPrice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_price: Option<OfferPrice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_price: Option<PriceTotals>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<ShippingAddress>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parcels: Vec<Parcel>,
}

impl OrderLine {
    /// A line that was cancelled, refused or rejected on its own is not supplied.
    pub fn is_void(&self) -> bool {
        self.status.as_ref().is_some_and(OrderStatus::is_void)
    }
}

/// One marketplace order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub order_id: OrderId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_order: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales_channel: Option<SalesChannel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller: Option<SellerRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerRef>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "order_date")]
    pub purchased_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "order_date")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "order_date")]
    pub updated_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "order_date")]
    pub shipped_at_max: Option<OffsetDateTime>,
    pub status: OrderStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<Payment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_address: Option<BillingAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_price: Option<PriceTotals>,
    pub lines: Vec<OrderLine>,
    /// Partial refunds after the sale (*assumed* shape: docs/reference/marketplace-refunds.md).
    /// Read entry by entry: one that cannot be read is counted in `unreadable_refunds`, never
    /// guessed, and never makes the whole order unreadable.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "lenient_refunds")]
    pub refunds: Vec<OrderRefund>,
    #[serde(skip)]
    pub unreadable_refunds: usize,
}

/// The refunds that can be read; the others are dropped (and counted by [`Order::from_value`]).
fn lenient_refunds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<OrderRefund>, D::Error> {
    let values = Option::<Vec<serde_json::Value>>::deserialize(d).unwrap_or_default().unwrap_or_default();
    Ok(values.into_iter().filter_map(|v| serde_json::from_value(v).ok()).collect())
}

/// One refund the marketplace reports on an order (*assumed*, see
/// docs/reference/marketplace-refunds.md): units of lines, part of the shipping, or an amount
/// at a rate, all VAT included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderRefund {
    #[serde(deserialize_with = "string_or_number_required")]
    pub refund_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<RefundLine>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "amount_opt")]
    pub shipping_amount: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "amount_opt")]
    pub amount: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "amount_opt")]
    pub rate: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundLine {
    #[serde(deserialize_with = "string_or_number_required")]
    pub order_line_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "amount_opt")]
    pub quantity: Option<Decimal>,
}

fn string_or_number_required<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    string_or_number(d)?.ok_or_else(|| serde::de::Error::custom("is required"))
}

/// A marketplace order that could not be read, with the id when it could be found and the
/// JSON path of the field that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("order {order}: field `{field}`: {reason}")]
pub struct OrderParseError {
    /// The order id, or `<unknown>` when even that could not be read.
    pub order: String,
    pub field: String,
    pub reason: String,
}

impl Order {
    /// Parses one order from JSON text.
    pub fn from_json(text: &str) -> Result<Order, OrderParseError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| OrderParseError {
            order: "<unknown>".into(),
            field: ".".into(),
            reason: e.to_string(),
        })?;
        Order::from_value(value)
    }

    /// Parses one order from a JSON value (one item of a listing page), so a malformed order
    /// can be reported on its own without losing the rest of the page.
    pub fn from_value(value: serde_json::Value) -> Result<Order, OrderParseError> {
        let order = value
            .get("orderId")
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_else(|| "<unknown>".into());
        let reported = value.get("refunds").and_then(|r| r.as_array()).map_or(0, Vec::len);
        let mut parsed: Order = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            OrderParseError { order, field: path, reason: e.into_inner().to_string() }
        })?;
        parsed.unreadable_refunds = reported.saturating_sub(parsed.refunds.len());
        Ok(parsed)
    }

    pub fn is_business(&self) -> bool {
        self.business_order.unwrap_or(false)
    }

    /// The lines actually supplied (not cancelled on their own).
    pub fn supplied_lines(&self) -> impl Iterator<Item = &OrderLine> {
        self.lines.iter().filter(|l| !l.is_void())
    }

    /// Whether a buyer's proof of the order holds: the postal code and the name of a delivery
    /// of it (the last name, or first and last name in either order; case, accents and blanks
    /// aside) — what a buyer knows without the marketplace's relay address.
    pub fn delivery_matches(&self, postal_code: &str, name: &str) -> bool {
        let fold = |s: &str| -> String {
            s.chars()
                .filter(|c| c.is_alphanumeric() || c.is_whitespace())
                .flat_map(char::to_lowercase)
                .map(|c| match c {
                    'à' | 'â' | 'ä' => 'a',
                    'é' | 'è' | 'ê' | 'ë' => 'e',
                    'î' | 'ï' => 'i',
                    'ô' | 'ö' => 'o',
                    'ù' | 'û' | 'ü' => 'u',
                    'ç' => 'c',
                    other => other,
                })
                .collect::<String>()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let (code, name) = (fold(postal_code).replace(' ', ""), fold(name));
        if code.is_empty() || name.is_empty() {
            return false;
        }
        self.supplied_lines().filter_map(|l| l.shipping_address.as_ref()).any(|a| {
            let first = fold(a.first_name.as_deref().unwrap_or(""));
            let last = fold(a.last_name.as_deref().unwrap_or(""));
            a.postal_code.as_deref().is_some_and(|p| fold(p).replace(' ', "") == code)
                && !last.is_empty()
                && (name == last || name == format!("{first} {last}") || name == format!("{last} {first}"))
        })
    }

    /// The relay or buyer e-mail of the order (first line that has one).
    pub fn buyer_email(&self) -> Option<&str> {
        self.lines.iter().filter_map(|l| l.shipping_address.as_ref()?.email.as_deref()).find(|e| !e.trim().is_empty())
    }
}

/// Ids and references may come as JSON strings or numbers; keep them as text.
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(serde_json::Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!("expected a string or a number, got {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    const FULL: &str = r#"{
      "orderId": "2611211432ABCD", "reference": "2611211432ABCD", "businessOrder": false,
      "salesChannel": {"id": "CDISFR", "name": "Cdiscount"}, "seller": {"id": 12345},
      "customer": {"reference": "C-991"},
      "purchasedAt": "2026-11-21T14:32:00Z", "createdAt": "2026-11-21T14:32:05Z",
      "updatedAt": "2026-11-21T18:00:00.123Z", "shippedAtMax": "2026-11-24T23:59:59Z",
      "status": "Shipped", "payment": {"method": "CB"}, "currencyCode": "EUR",
      "billingAddress": {"civility": "MME", "firstName": "Élodie", "lastName": "Durand",
        "addressLine1": "3 rue des Lilas", "postalCode": "69003", "city": "Lyon", "countryCode": "FR"},
      "totalPrice": {"offerPrice": 59.98, "sellingPrice": 64.97},
      "lines": [{
        "orderLineId": "1", "status": "Shipped", "quantity": 2,
        "offer": {"id": "O1", "sellerProductId": "SKU-1", "supplyMode": "Seller", "productId": "P1",
                  "productTitle": "Théière en fonte 1,2 L", "productGtin": "3760000000017", "condition": "New"},
        "sellingPrice": {"unitSalesPrice": 29.99, "shippingCost": 4.99,
                         "taxes": [{"code": "VAT", "target": "Product", "amount": 10.83, "rate": 20.0}]},
        "offerPrice": {"unitSalesPrice": 29.99, "shippingCost": 4.99,
                       "commission": {"amountWithTax": 7.8, "amountWithoutTax": 6.5, "rate": 12.0}},
        "totalPrice": {"offerPrice": 64.97, "sellingPrice": 64.97},
        "delivery": {"mode": "STD", "shippedAtMax": "2026-11-24T23:59:59Z"},
        "shippingAddress": {"firstName": "Élodie", "lastName": "Durand", "addressLine1": "3 rue des Lilas",
                            "postalCode": "69003", "city": "Lyon", "countryCode": "FR",
                            "email": "x8f2k@relay.cdiscount.example"},
        "parcels": [{"parcelNumber": "6A123", "carrierName": "Colissimo"}]
      }]
    }"#;

    #[test]
    fn full_order_parses_with_exact_decimals() {
        let order = Order::from_json(FULL).unwrap();
        assert_eq!(order.order_id.as_str(), "2611211432ABCD");
        assert_eq!(order.status, OrderStatus::Shipped);
        let line = &order.lines[0];
        let price = line.selling_price.as_ref().unwrap();
        assert_eq!(price.unit_sales_price, Some(dec!(29.99)));
        assert_eq!(price.taxes[0].rate, Some(dec!(20.0)));
        assert_eq!(order.seller.as_ref().unwrap().id.as_deref(), Some("12345"));
        assert_eq!(order.buyer_email(), Some("x8f2k@relay.cdiscount.example"));
        assert_eq!(line.offer.as_ref().unwrap().supply_mode, Some(SupplyMode::Seller));
    }

    #[test]
    fn amounts_are_read_without_binary_floating_point() {
        // 0.1 + 0.2 would not be 0.3 through f64; here the digits are kept as written.
        let json = r#"{"orderId":"A1","status":"Shipped","lines":[{"quantity":3,
            "sellingPrice":{"unitSalesPrice":0.1,"shippingCost":1234567.8912345678}}]}"#;
        let order = Order::from_json(json).unwrap();
        let p = order.lines[0].selling_price.as_ref().unwrap();
        assert_eq!(p.unit_sales_price.unwrap() * dec!(3), dec!(0.3));
        assert_eq!(p.shipping_cost, Some(dec!(1234567.8912345678)));
    }

    #[test]
    fn amounts_given_as_strings_are_accepted() {
        let json = r#"{"orderId":"A1","status":"Shipped","lines":[{"quantity":"2",
            "sellingPrice":{"unitSalesPrice":"19.90"}}]}"#;
        let order = Order::from_json(json).unwrap();
        assert_eq!(order.lines[0].quantity, Some(dec!(2)));
    }

    #[test]
    fn minimal_order_with_unknown_status_and_extra_fields_parses() {
        let json = r#"{"orderId":"B2","status":"PartiallyShipped","newField":{"x":1},
            "lines":[{"status":"OnTheMoon","somethingElse":[1,2]}]}"#;
        let order = Order::from_json(json).unwrap();
        assert_eq!(order.status, OrderStatus::Other("PartiallyShipped".into()));
        assert_eq!(order.lines[0].status, Some(OrderStatus::Other("OnTheMoon".into())));
        assert!(order.billing_address.is_none());
        assert!(!order.is_business());
    }

    #[test]
    fn malformed_order_names_the_order_and_the_field() {
        let json = r#"{"orderId":"C3","status":"Shipped","lines":[{"quantity":1},
            {"sellingPrice":{"unitSalesPrice":"twelve"}}]}"#;
        let err = Order::from_json(json).unwrap_err();
        assert_eq!(err.order, "C3");
        assert_eq!(err.field, "lines[1].sellingPrice.unitSalesPrice");
        assert!(err.to_string().contains("C3"), "{err}");
    }

    #[test]
    fn malformed_date_and_missing_required_field_are_named() {
        let bad_date = r#"{"orderId":"D4","status":"Shipped","purchasedAt":"yesterday","lines":[]}"#;
        let err = Order::from_json(bad_date).unwrap_err();
        assert_eq!((err.order.as_str(), err.field.as_str()), ("D4", "purchasedAt"));
        let no_lines = r#"{"orderId":"E5","status":"Shipped"}"#;
        let err = Order::from_json(no_lines).unwrap_err();
        assert_eq!(err.order, "E5");
        assert!(err.reason.contains("lines"), "{err}");
        let no_id = r#"{"status":"Shipped","lines":[]}"#;
        assert_eq!(Order::from_json(no_id).unwrap_err().order, "<unknown>");
    }

    #[test]
    fn dates_outside_the_invoiceable_years_are_named_errors() {
        for date in
            ["9999-12-31T23:30:00Z", "9999-12-31T23:30:00-05:00", "1899-01-01T00:00:00Z", "0000-01-01T00:00:00+23:59"]
        {
            let json = format!(r#"{{"orderId":"F6","status":"Shipped","updatedAt":"{date}","lines":[]}}"#);
            let err = Order::from_json(&json).unwrap_err();
            assert_eq!((err.order.as_str(), err.field.as_str()), ("F6", "updatedAt"), "{date}");
            assert!(err.reason.contains("2000 to 2999"), "{err}");
        }
        let ok = r#"{"orderId":"F7","status":"Shipped","purchasedAt":"2999-12-31T22:00:00-01:00","lines":[]}"#;
        assert_eq!(Order::from_json(ok).unwrap().purchased_at.map(|d| d.year()), Some(2999));
    }

    #[test]
    fn an_order_serializes_back_to_the_same_shape() {
        let order = Order::from_json(FULL).unwrap();
        let text = serde_json::to_string(&order).unwrap();
        assert!(text.contains(r#""unitSalesPrice":29.99"#), "{text}");
        assert_eq!(Order::from_json(&text).unwrap(), order);
    }
}
