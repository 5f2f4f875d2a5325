//! The single-table layout (design: "Table"), shared by the DynamoDB and SQLite adapters so
//! the two stay mirror images.

use marketbill_domain::OrderId;

use crate::model::SellerId;

/// Index of active sellers (sparse: only active profiles carry it).
pub const ACTIVE_SELLERS: &str = "active-sellers";
/// Index order id → seller (for buyer requests).
pub const ORDER_SELLER: &str = "order-seller";
/// Index of imports still running (sparse).
pub const PENDING_IMPORTS: &str = "pending-imports";

pub const ACTIVE: &str = "ACTIVE";
pub const UNSUBSCRIBED: &str = "UNSUBSCRIBED";
pub const PENDING: &str = "PENDING";

pub fn pk(seller: &SellerId) -> String {
    format!("SELLER#{seller}")
}

pub fn seller_of_pk(pk: &str) -> Option<SellerId> {
    pk.strip_prefix("SELLER#")?.parse().ok()
}

pub const PROFILE: &str = "PROFILE";
pub const WATERMARK: &str = "WATERMARK";

pub fn order(order_id: &OrderId) -> String {
    format!("ORDER#{order_id}")
}

pub fn invoice(number: &str) -> String {
    format!("INVOICE#{number}")
}

/// What the credit notes of an invoice took (`Credited`).
pub fn credited(number: &str) -> String {
    format!("CREDITED#{number}")
}

pub fn series(key: &str) -> String {
    format!("SERIES#{key}")
}

pub fn usage(month: marketbill_domain::calendar::YearMonth) -> String {
    format!("USAGE#{month}")
}

pub fn run(at: &str) -> String {
    format!("RUN#{at}")
}

/// A flow handed to the seller's approved platform, by its tracking id.
pub fn transmission(tracking_id: &str) -> String {
    format!("TX#{tracking_id}")
}

/// Where the reading of the platform's flows stopped (its `updatedAt`).
pub const PLATFORM_CURSOR: &str = "PLATFORMCURSOR";

pub fn import(id: &str) -> String {
    format!("IMPORT#{id}")
}

pub fn request(order_id: &OrderId, id: &str) -> String {
    format!("REQUEST#{order_id}#{id}")
}

/// The day's attempts at something limited (`request:{order}`, `resend:{number}`) and the
/// slot that lets one of them run at a time.
pub fn slot(subject: &str, day: &str) -> String {
    format!("SLOT#{subject}#{day}")
}

/// The owner of an e-mail address (`EMAIL#{address in lower case}`, sort key [`OWNER`]): one
/// account per address.
pub fn email(address: &str) -> String {
    format!("EMAIL#{}", address.trim().to_ascii_lowercase())
}

pub const OWNER: &str = "OWNER";

/// An idempotency key of a seller (`KEY#{digest}`).
pub fn request_key(digest: &str) -> String {
    format!("KEY#{digest}")
}
