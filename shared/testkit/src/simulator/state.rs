//! What the simulated marketplace holds: clients and tokens, orders per seller, attached
//! invoice documents, import reports, counters.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::faults::{FaultPlan, Route};

/// A marketplace API client (one per seller in our use).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimClient {
    pub client_id: String,
    pub client_secret: String,
    pub seller_id: String,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub client_id: String,
    pub expires: Instant,
}

/// A document attached to an order by an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    pub file_name: String,
    pub bytes: Vec<u8>,
    pub import_id: String,
}

#[derive(Debug, Clone)]
pub struct FileOutcome {
    pub file_name: String,
    pub order_id: Option<String>,
    /// `None` when accepted, else (code, message).
    pub error: Option<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Import {
    pub import_id: String,
    pub seller_id: String,
    pub created_at: OffsetDateTime,
    pub ready_at: Instant,
    pub ready_at_utc: OffsetDateTime,
    pub files: Vec<FileOutcome>,
}

impl Import {
    pub fn report(&self, now: Instant) -> Value {
        let running = now < self.ready_at;
        let ok = self.files.iter().filter(|f| f.error.is_none()).count();
        let status = if running {
            "Running"
        } else if ok == self.files.len() && ok > 0 {
            "Success"
        } else if ok == 0 {
            "Failure"
        } else {
            "PartialSuccess"
        };
        let files: Vec<Value> = self
            .files
            .iter()
            .map(|f| {
                let mut v = json!({"fileName": f.file_name, "orderId": f.order_id});
                if running {
                    v["status"] = "Running".into();
                } else if let Some((code, message)) = &f.error {
                    v["status"] = "Failure".into();
                    v["errors"] = json!([{"code": code, "message": message}]);
                } else {
                    v["status"] = "Success".into();
                }
                v
            })
            .collect();
        let updated = if running { self.created_at } else { self.ready_at_utc };
        json!({
            "importId": self.import_id,
            "status": status,
            "createdAt": self.created_at.format(&Rfc3339).unwrap_or_default(),
            "updatedAt": updated.format(&Rfc3339).unwrap_or_default(),
            "files": files,
        })
    }
}

#[derive(Debug)]
pub struct Inner {
    pub clients: Vec<SimClient>,
    pub tokens: HashMap<String, Token>,
    pub token_ttl: Duration,
    pub token_seq: u64,
    /// Orders by seller, then by order id (kept as JSON so tests can plant malformed ones).
    pub orders: BTreeMap<String, BTreeMap<String, Value>>,
    pub attached: HashMap<String, Attached>,
    pub imports: Vec<Import>,
    pub import_delay: Duration,
    pub link_header: bool,
    pub faults: FaultPlan,
    pub token_requests: HashMap<String, usize>,
    pub requests: BTreeMap<Route, usize>,
    pub trace_seq: u64,
}

impl Inner {
    pub fn new(clients: Vec<SimClient>, seed: u64) -> Inner {
        Inner {
            clients,
            tokens: HashMap::new(),
            token_ttl: Duration::from_secs(7200),
            token_seq: 0,
            orders: BTreeMap::new(),
            attached: HashMap::new(),
            imports: Vec::new(),
            import_delay: Duration::ZERO,
            link_header: true,
            faults: FaultPlan::new(seed),
            token_requests: HashMap::new(),
            requests: BTreeMap::new(),
            trace_seq: 0,
        }
    }

    pub fn next_trace(&mut self) -> String {
        self.trace_seq += 1;
        format!("sim-{:08x}", self.trace_seq)
    }

    /// Finds the seller owning an order.
    pub fn order(&self, seller_id: &str, order_id: &str) -> Option<&Value> {
        self.orders.get(seller_id).and_then(|o| o.get(order_id))
    }
}

fn parse_time(v: &Value) -> Option<OffsetDateTime> {
    v.as_str().and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
}

/// The query filters of `GET /orders` (and `/orders/count`).
#[derive(Debug, Default, Clone)]
pub struct OrderFilter {
    pub statuses: Vec<String>,
    pub created_min: Option<OffsetDateTime>,
    pub created_max: Option<OffsetDateTime>,
    pub updated_min: Option<OffsetDateTime>,
    pub updated_max: Option<OffsetDateTime>,
    pub shipped_min: Option<OffsetDateTime>,
    pub shipped_max: Option<OffsetDateTime>,
    pub sales_channel: Option<String>,
    pub business: Option<bool>,
    pub supply_mode: Option<String>,
    pub shipping_country: Option<String>,
}

fn within(v: Option<OffsetDateTime>, min: Option<OffsetDateTime>, max: Option<OffsetDateTime>) -> bool {
    match v {
        Some(t) => min.is_none_or(|m| t >= m) && max.is_none_or(|m| t <= m),
        // An order without the field passes no bound on it.
        None => min.is_none() && max.is_none(),
    }
}

impl OrderFilter {
    pub fn matches(&self, o: &Value) -> bool {
        let status = o["status"].as_str().unwrap_or("");
        if !self.statuses.is_empty() && !self.statuses.iter().any(|s| s.eq_ignore_ascii_case(status)) {
            return false;
        }
        if !within(parse_time(&o["createdAt"]), self.created_min, self.created_max)
            || !within(parse_time(&o["updatedAt"]), self.updated_min, self.updated_max)
            || !within(parse_time(&o["shippedAtMax"]), self.shipped_min, self.shipped_max)
        {
            return false;
        }
        if let Some(c) = &self.sales_channel
            && o["salesChannel"]["id"].as_str() != Some(c.as_str())
        {
            return false;
        }
        if let Some(b) = self.business
            && o["businessOrder"].as_bool().unwrap_or(false) != b
        {
            return false;
        }
        let lines = o["lines"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        if let Some(mode) = &self.supply_mode
            && !lines.iter().any(|l| l["offer"]["supplyMode"].as_str().is_some_and(|m| m.eq_ignore_ascii_case(mode)))
        {
            return false;
        }
        if let Some(country) = &self.shipping_country
            && !lines
                .iter()
                .any(|l| l["shippingAddress"]["countryCode"].as_str().is_some_and(|c| c.eq_ignore_ascii_case(country)))
        {
            return false;
        }
        true
    }
}

/// Sort key of an order: the chosen date, then the id (stable across pages).
pub fn sort_key(o: &Value, field: &str) -> (Option<OffsetDateTime>, String) {
    (parse_time(&o[field]), o["orderId"].as_str().unwrap_or("").to_owned())
}
