//! The approved-platform port (PA, *plateforme agréée*): where e-invoices and e-reporting go
//! under the French reform. Every PA offers its users the same API, AFNOR XP Z12-013: annex A,
//! the Flow Service (submit a flow, search flows, read one), and annex B, the Directory Service
//! (which electronic address receives a company's invoices). The adapter lives in
//! `marketbill-afnor`; the simulator in `marketbill-testkit`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A seller's platform, as sealed in the ledger: where its two services and its token
/// endpoint are, and the client-credentials pair the platform gave the seller.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlatformCredentials {
    /// The Flow Service base (`https://api.flow.pa.example/flow-service`, `/v1/…` follows).
    pub flow_url: String,
    /// The Directory Service base (`…/directory-service`).
    pub directory_url: String,
    /// The OAuth2 token endpoint (client credentials).
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    /// The platform's registration number with the tax administration (the `Sender` of an
    /// e-reporting file, scheme 0238).
    pub platform_id: String,
    /// The platform's name, as shown to the seller and written in the e-reporting file.
    pub platform_name: String,
    /// Hand e-invoices over as UBL rather than Factur-X.
    #[serde(default)]
    pub prefer_ubl: bool,
}

impl PlatformCredentials {
    /// Checks what a seller typed, before anything is asked of the platform: named refusals per
    /// field (`field` → `reason code`).
    pub fn validate(&self) -> Result<(), std::collections::BTreeMap<String, Vec<String>>> {
        let mut errors: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        let mut refuse = |field: &str, code: &str| errors.entry(field.to_owned()).or_default().push(code.to_owned());
        for (field, url) in
            [("flowUrl", &self.flow_url), ("directoryUrl", &self.directory_url), ("tokenUrl", &self.token_url)]
        {
            let ok = (url.starts_with("https://") || url.starts_with("http://"))
                && url.len() <= 500
                && !url.chars().any(|c| c.is_whitespace() || c.is_control());
            if !ok {
                refuse(field, "notAnHttpAddress");
            }
        }
        let printable =
            |v: &str, max: usize| !v.is_empty() && v.chars().count() <= max && !v.chars().any(char::is_control);
        if !printable(&self.client_id, 200) {
            refuse("clientId", "required");
        }
        if !printable(&self.client_secret, 500) {
            refuse("clientSecret", "required");
        }
        if !printable(&self.platform_name, 100) {
            refuse("platformName", "required");
        }
        if !(1..=20).contains(&self.platform_id.len())
            || !self.platform_id.bytes().all(|b| b.is_ascii_alphanumeric())
            || self.platform_id == "0000"
        {
            refuse("platformId", "notARegistrationNumber");
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

impl std::fmt::Debug for PlatformCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformCredentials")
            .field("flow_url", &self.flow_url)
            .field("directory_url", &self.directory_url)
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("platform_id", &self.platform_id)
            .field("platform_name", &self.platform_name)
            .field("prefer_ubl", &self.prefer_ubl)
            .finish()
    }
}

/// The syntax of a flow's file (`FlowSyntax`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FlowSyntax {
    #[serde(rename = "Factur-X")]
    FacturX,
    #[serde(rename = "UBL")]
    Ubl,
    #[serde(rename = "CII")]
    Cii,
    /// An e-reporting file (flow 10).
    #[serde(rename = "FRR")]
    Frr,
    /// A lifecycle message.
    #[serde(rename = "CDAR")]
    Cdar,
}

/// How the platform treats a flow (`ProcessingRule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProcessingRule {
    /// E-invoicing between French businesses.
    B2B,
    /// E-reporting of international B2B sales.
    B2BInt,
    /// E-reporting of sales to consumers.
    B2C,
    /// Anything else a platform may answer (`OutOfScope`, `Undefined`…).
    #[serde(other)]
    Other,
}

/// What we hand to the platform: one file, named, with the identifier we track it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowSubmission {
    /// Ours, ≤ 64 characters: the document number, or the report's id. Looked up before any
    /// submission so a flow is never submitted twice.
    pub tracking_id: String,
    /// The file name (≤ 255).
    pub name: String,
    pub syntax: FlowSyntax,
    pub rule: ProcessingRule,
    pub file: Vec<u8>,
}

/// Whether the platform took the flow in (`FlowAckStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AckStatus {
    Pending,
    Ok,
    Error,
}

/// Why a flow was not taken in (`AcknowledgementDetail`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AckDetail {
    pub level: String,
    pub item: String,
    pub reason_code: String,
    pub reason_message: String,
}

/// A flow as the platform knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowState {
    pub flow_id: String,
    pub tracking_id: Option<String>,
    pub ack: AckStatus,
    pub details: Vec<AckDetail>,
    /// `In` flows come from the platform (lifecycle messages), `Out` flows are ours.
    pub incoming: bool,
    /// `FlowType` as the platform states it (`CustomerInvoice`, `CustomerInvoiceLC`…).
    pub flow_type: String,
    /// RFC 3339, the platform's clock.
    pub updated_at: String,
}

/// One status of an invoice's lifecycle, read from a CDAR message the platform made available
/// (general specification v3.2, table 8: 200 deposited … 213 rejected).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleStatus {
    /// The invoice it is about (its number, BT-1).
    pub invoice_number: String,
    /// The status code (`ProcessConditionCode`): 200 … 228.
    pub code: u16,
    /// The reason code (`ReasonCode`, e.g. `TX_TVA_ERR`), when one is given.
    pub reason_code: Option<String>,
    /// The reason in the platform's or the buyer's words.
    pub reason: Option<String>,
}

/// The lifecycle statuses the specification names (table 8).
pub fn status_label_fr(code: u16) -> &'static str {
    match code {
        200 => "Déposée",
        201 => "Émise par la plateforme",
        202 => "Reçue par la plateforme",
        203 => "Mise à disposition",
        204 => "Prise en charge",
        205 => "Approuvée",
        206 => "Approuvée partiellement",
        207 => "En litige",
        208 => "Suspendue",
        209 => "Complétée",
        210 => "Refusée",
        211 => "Paiement transmis",
        212 => "Encaissée",
        213 => "Rejetée",
        _ => "Autre statut",
    }
}

/// Whether a status asks the seller to act: refused by the buyer (210) or rejected by a
/// platform's checks (213) — the seller cancels it by a credit note and issues again.
pub fn status_needs_action(code: u16) -> bool {
    matches!(code, 210 | 213)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    #[error("the platform is misconfigured: {0}")]
    Config(String),
    #[error("the platform refused the credentials: {0}")]
    Credentials(String),
    /// A 4xx other than 401/429, with the platform's `errorCode` and `errorMessage`.
    #[error("the platform refused {what}: {code}{}", message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Refused { what: String, code: String, message: Option<String> },
    #[error("the platform is unavailable ({what}): {reason}")]
    Unavailable { what: String, reason: String },
    #[error("the platform's answer to {what} cannot be read: {reason}")]
    Garbled { what: String, reason: String },
}

impl PlatformError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, PlatformError::Unavailable { .. } | PlatformError::Garbled { .. })
    }
}

#[async_trait]
pub trait Platform: Send + Sync {
    /// The Flow Service answers its health check and the token endpoint takes the pair.
    async fn check(&self, creds: &PlatformCredentials) -> Result<(), PlatformError>;
    /// Our flow of this tracking id, if the platform has one.
    async fn find_flow(
        &self,
        creds: &PlatformCredentials,
        tracking_id: &str,
    ) -> Result<Option<FlowState>, PlatformError>;
    /// Submits a flow; the platform's id of it.
    async fn submit(&self, creds: &PlatformCredentials, flow: &FlowSubmission) -> Result<String, PlatformError>;
    /// Every flow updated strictly after an instant (RFC 3339, the platform's clock), oldest
    /// first, all pages.
    async fn flows_updated_after(
        &self,
        creds: &PlatformCredentials,
        after: Option<&str>,
    ) -> Result<Vec<FlowState>, PlatformError>;
    /// The lifecycle statuses an incoming lifecycle flow carries.
    async fn lifecycle(
        &self,
        creds: &PlatformCredentials,
        flow_id: &str,
    ) -> Result<Vec<LifecycleStatus>, PlatformError>;
    /// The electronic address (an enabled directory line) where a company receives invoices.
    async fn directory_address(
        &self,
        creds: &PlatformCredentials,
        siren: &str,
    ) -> Result<Option<String>, PlatformError>;
}
