//! An in-process stand-in for the Octopia Seller API v2, following the team's reference to the
//! letter: client-credentials tokens, `SellerId` enforcement, order listing with filters and
//! both paging styles, invoice uploads with asynchronous import reports, and fault injection
//! per route. Tests start it on a free loopback port; `marketbill simulate` serves it by hand.

mod faults;
mod routes;
mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use faults::{Fault, FaultKind, Route};
pub use routes::{API_PREFIX, TOKEN_PATH};
pub use state::{Attached, SimClient};

use crate::rng::SplitMix64;
use routes::AppState;
use state::Inner;

/// How the simulator starts.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    pub seed: u64,
    pub clients: Vec<SimClient>,
}

impl SimulatorConfig {
    /// One client per seller id, with credentials derived from the seed.
    pub fn for_sellers(seed: u64, seller_ids: &[&str]) -> SimulatorConfig {
        let mut rng = SplitMix64::new(seed ^ 0x5EC2E7);
        let clients = seller_ids
            .iter()
            .map(|id| SimClient {
                client_id: format!("client-{id}"),
                client_secret: format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64()),
                seller_id: (*id).to_owned(),
            })
            .collect();
        SimulatorConfig { port: 0, seed, clients }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
}

/// A running simulator. Dropping it stops the server.
pub struct Simulator {
    addr: SocketAddr,
    state: AppState,
    clients: Vec<SimClient>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Simulator {
    /// Binds 127.0.0.1 and serves until stopped. Ready to answer when this returns.
    pub async fn start(config: SimulatorConfig) -> Result<Simulator, SimulatorError> {
        let listener = TcpListener::bind(("127.0.0.1", config.port))
            .await
            .map_err(|source| SimulatorError::Bind { port: config.port, source })?;
        let addr = listener.local_addr().map_err(|source| SimulatorError::Bind { port: config.port, source })?;
        let state = AppState {
            inner: Arc::new(Mutex::new(Inner::new(config.clients.clone(), config.seed))),
            api_base: Arc::new(format!("http://{addr}{API_PREFIX}")),
        };
        let app = routes::router(state.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = served.await {
                tracing::error!(error = %e, "simulator stopped");
            }
        });
        Ok(Simulator { addr, state, clients: config.clients, shutdown: Some(tx), task: Some(task) })
    }

    /// `http://127.0.0.1:PORT/seller/v2`.
    pub fn api_base(&self) -> String {
        self.state.api_base.to_string()
    }

    /// `http://127.0.0.1:PORT` (the token path is appended by clients).
    pub fn auth_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn clients(&self) -> &[SimClient] {
        &self.clients
    }

    /// Adds or replaces orders of a seller (JSON as the API returns it; may be malformed on purpose).
    pub fn put_orders(&self, seller_id: &str, orders: impl IntoIterator<Item = Value>) {
        let mut g = self.state.lock();
        let map = g.orders.entry(seller_id.to_owned()).or_default();
        for o in orders {
            let id = match &o["orderId"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            map.insert(id, o);
        }
    }

    /// Changes one order in place (e.g. ships it); returns whether it existed.
    pub fn update_order(&self, seller_id: &str, order_id: &str, change: impl FnOnce(&mut Value)) -> bool {
        let mut g = self.state.lock();
        match g.orders.get_mut(seller_id).and_then(|m| m.get_mut(order_id)) {
            Some(o) => {
                change(o);
                true
            }
            None => false,
        }
    }

    /// Reports a refund on an order exactly as docs/reference/marketplace-refunds.md assumes,
    /// and dates the change now (so an incremental listing brings the order back); returns
    /// whether the order existed.
    pub fn refund(&self, seller_id: &str, order_id: &str, refund: SimRefund) -> bool {
        let now =
            time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        self.update_order(seller_id, order_id, |o| {
            match refund {
                SimRefund::CancelOrder => o["status"] = "Cancelled".into(),
                SimRefund::Line { order_line_id, status } => {
                    if let Some(lines) = o["lines"].as_array_mut() {
                        for l in lines.iter_mut() {
                            let id = match &l["orderLineId"] {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            if id == order_line_id {
                                l["status"] = status.clone().into();
                            }
                        }
                    }
                }
                SimRefund::Entry(entry) => {
                    if !o["refunds"].is_array() {
                        o["refunds"] = Value::Array(Vec::new());
                    }
                    if let Some(list) = o["refunds"].as_array_mut() {
                        list.push(entry);
                    }
                }
            }
            o["updatedAt"] = now.into();
        })
    }

    pub fn orders(&self, seller_id: &str) -> Vec<Value> {
        self.state.lock().orders.get(seller_id).map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    pub fn inject(&self, fault: Fault) {
        self.state.lock().faults.add(fault);
    }

    pub fn clear_faults(&self) {
        self.state.lock().faults.clear();
    }

    pub fn set_link_header(&self, on: bool) {
        self.state.lock().link_header = on;
    }

    pub fn set_import_delay(&self, delay: Duration) {
        self.state.lock().import_delay = delay;
    }

    pub fn set_token_ttl(&self, ttl: Duration) {
        self.state.lock().token_ttl = ttl;
    }

    /// Makes every issued token expired, as if time had passed.
    pub fn expire_tokens(&self) {
        let mut g = self.state.lock();
        let now = std::time::Instant::now();
        for t in g.tokens.values_mut() {
            t.expires = now;
        }
    }

    /// How many token requests a client made.
    pub fn token_requests(&self, client_id: &str) -> usize {
        self.state.lock().token_requests.get(client_id).copied().unwrap_or(0)
    }

    /// How many requests reached a route (faults included).
    pub fn requests(&self, route: Route) -> usize {
        self.state.lock().requests.get(&route).copied().unwrap_or(0)
    }

    /// The document currently attached to an order.
    pub fn attached(&self, order_id: &str) -> Option<Attached> {
        self.state.lock().attached.get(order_id).cloned()
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// A refund the simulator reports on an order (docs/reference/marketplace-refunds.md).
#[derive(Debug, Clone, PartialEq)]
pub enum SimRefund {
    /// The order becomes `Cancelled`: refunded in full.
    CancelOrder,
    /// A line's status becomes `Refunded`, `Returned` or `Cancelled`.
    Line { order_line_id: String, status: String },
    /// One entry of the order's `refunds` array
    /// (`{refundId, reason?, lines?: [{orderLineId, quantity}], shippingAmount?, amount?, rate?}`).
    Entry(Value),
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
