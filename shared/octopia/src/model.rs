//! Requests and responses of the API that are not orders (orders live in the domain crate).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A secret that never shows in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A seller's marketplace API credentials.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: Secret,
    /// The numeric seller id sent in the `SellerId` header.
    pub seller_id: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("seller_id", &self.seller_id)
            .finish()
    }
}

/// Sort order of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    CreatedAt,
    UpdatedAt,
}

/// Filters of `GET /orders` and `GET /orders/count`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderQuery {
    /// Sent comma-separated (*assumed* by the reference).
    pub statuses: Vec<String>,
    pub created_at_min: Option<OffsetDateTime>,
    pub created_at_max: Option<OffsetDateTime>,
    pub updated_at_min: Option<OffsetDateTime>,
    pub updated_at_max: Option<OffsetDateTime>,
    pub shipped_at_min: Option<OffsetDateTime>,
    pub shipped_at_max: Option<OffsetDateTime>,
    pub sales_channel_id: Option<String>,
    pub business_order: Option<bool>,
    pub supply_mode: Option<String>,
    pub shipping_country: Option<String>,
    pub sort: Option<SortField>,
    pub desc: bool,
}

fn utc(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC).format(&Rfc3339).unwrap_or_default()
}

impl OrderQuery {
    /// Shipped orders updated since an instant: what a seller run fetches.
    pub fn shipped_since(since: OffsetDateTime) -> OrderQuery {
        OrderQuery {
            statuses: vec!["Shipped".into()],
            updated_at_min: Some(since),
            sort: Some(SortField::UpdatedAt),
            ..OrderQuery::default()
        }
    }

    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        if !self.statuses.is_empty() {
            p.push(("status", self.statuses.join(",")));
        }
        for (name, value) in [
            ("createdAtMin", self.created_at_min),
            ("createdAtMax", self.created_at_max),
            ("updatedAtMin", self.updated_at_min),
            ("updatedAtMax", self.updated_at_max),
            ("shippedAtMin", self.shipped_at_min),
            ("shippedAtMax", self.shipped_at_max),
        ] {
            if let Some(t) = value {
                p.push((name, utc(t)));
            }
        }
        if let Some(c) = &self.sales_channel_id {
            p.push(("salesChannelId", c.clone()));
        }
        if let Some(b) = self.business_order {
            p.push(("businessOrder", b.to_string()));
        }
        if let Some(m) = &self.supply_mode {
            p.push(("supplyMode", m.clone()));
        }
        if let Some(c) = &self.shipping_country {
            p.push(("shippingCountry", c.clone()));
        }
        match self.sort {
            Some(SortField::CreatedAt) => p.push(("sort", "createdAt".into())),
            Some(SortField::UpdatedAt) => p.push(("sort", "updatedAt".into())),
            None => {}
        }
        if self.desc {
            p.push(("desc", "true".into()));
        }
        p
    }
}

fn status_or_other<'de, D: Deserializer<'de>>(d: D) -> Result<ImportStatus, D::Error> {
    let s = Option::<String>::deserialize(d)?.unwrap_or_default();
    Ok(match s.as_str() {
        "Running" => ImportStatus::Running,
        "Success" => ImportStatus::Success,
        "PartialSuccess" => ImportStatus::PartialSuccess,
        "Failure" => ImportStatus::Failure,
        _ => ImportStatus::Other(s),
    })
}

/// Status of an import or of one of its files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ImportStatus {
    Running,
    Success,
    PartialSuccess,
    Failure,
    Other(String),
}

impl ImportStatus {
    /// No longer running: the outcome is known.
    pub fn is_final(&self) -> bool {
        matches!(self, ImportStatus::Success | ImportStatus::PartialSuccess | ImportStatus::Failure)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportError {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportFile {
    #[serde(default)]
    pub file_name: String,
    #[serde(default)]
    pub order_id: Option<String>,
    #[serde(default = "running", deserialize_with = "status_or_other")]
    pub status: ImportStatus,
    #[serde(default)]
    pub errors: Vec<ImportError>,
}

fn running() -> ImportStatus {
    ImportStatus::Running
}

/// An import report (`POST` answers and `GET /order-invoice-imports/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub import_id: String,
    #[serde(default = "running", deserialize_with = "status_or_other")]
    pub status: ImportStatus,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub files: Vec<ImportFile>,
}

/// One page of import reports.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportPage {
    #[serde(default)]
    pub items: Vec<ImportReport>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// A file to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadFile {
    /// `<orderId>.pdf` / `.xml` / a `.zip`.
    pub file_name: String,
    pub bytes: Vec<u8>,
}

impl UploadFile {
    pub(crate) fn content_type(&self) -> &'static str {
        let lower = self.file_name.to_ascii_lowercase();
        if lower.ends_with(".pdf") {
            "application/pdf"
        } else if lower.ends_with(".xml") {
            "application/xml"
        } else if lower.ends_with(".zip") {
            "application/zip"
        } else {
            "application/octet-stream"
        }
    }
}
