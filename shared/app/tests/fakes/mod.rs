//! In-memory stand-ins for the ports, for the use cases' own tests: a marketplace holding
//! orders in a vector, a store in a map, a mailer that keeps what it sent (and fails on
//! demand), a queue in a vector, a secret box that only wraps, no approved platform, a manual
//! clock. The ledger is the embedded one on an in-memory SQLite database (the ledger's own
//! behaviour is the contract suite's business; here it only has to be a ledger).
//!
//! Nothing here opens a socket or a file: a use-case test runs in milliseconds.

#![allow(dead_code)] // each test binary uses its part

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use marketbill_app::marketplace::{
    FileOutcome, ImportState, InvoiceFile, Marketplace, MarketplaceCredentials, MarketplaceError, OrdersPage, PageToken,
};
use marketbill_app::model::{ImportStatus, SealedSecret, SellerId, StoredObject};
use marketbill_app::platform::{
    FlowState, FlowSubmission, LifecycleStatus, Platform, PlatformCredentials, PlatformError,
};
use marketbill_app::ports::{
    DocumentStore, MailError, Mailer, ManualClock, OutgoingMail, PresignedLink, Queue, QueueError, Received, SecretBox,
    SecretError, SellerRunMessage, StoreError,
};
use marketbill_app::services::{Services, Settings};
use marketbill_domain::{Order, OrderId};
use marketbill_testkit::orders::{OrderGenerator, OrderMix};
use marketbill_testkit::sellers::sample_seller;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// A marketplace of one seller's orders, in memory.
#[derive(Default)]
pub struct FakeMarketplace {
    pub orders: Mutex<Vec<Order>>,
    /// Every document attached, by order (the latest last).
    pub attached: Mutex<BTreeMap<String, Vec<Vec<u8>>>>,
    imports: AtomicU64,
}

impl FakeMarketplace {
    /// `shipped` generated shipped orders (and some that must not be invoiced) updated before
    /// `now`.
    pub fn with_orders(seed: u64, seller: &str, shipped: usize, now: OffsetDateTime) -> FakeMarketplace {
        let mut g = OrderGenerator::new(seed, seller);
        let orders = g
            .batch(OrderMix { shipped, not_shipped: shipped / 5, abroad: shipped / 10 }, now)
            .into_iter()
            .filter_map(|v| Order::from_value(v).ok())
            .collect();
        FakeMarketplace { orders: Mutex::new(orders), ..FakeMarketplace::default() }
    }

    /// The buyer's address of an order.
    pub fn buyer_of(&self, order: &OrderId) -> String {
        let orders = self.orders.lock().unwrap();
        let order = orders.iter().find(|o| &o.order_id == order).expect("a known order");
        order.buyer_email().expect("a buyer address").to_owned()
    }

    pub fn attached_to(&self, order: &OrderId) -> usize {
        self.attached.lock().unwrap().get(order.as_str()).map_or(0, Vec::len)
    }

    fn attach(&self, order: &OrderId, bytes: &[u8]) -> String {
        self.attached.lock().unwrap().entry(order.to_string()).or_default().push(bytes.to_vec());
        format!("import-{}", self.imports.fetch_add(1, Ordering::Relaxed))
    }
}

#[async_trait]
impl Marketplace for FakeMarketplace {
    async fn shipped_orders_page(
        &self,
        _creds: &MarketplaceCredentials,
        since: OffsetDateTime,
        _page: Option<&PageToken>,
    ) -> Result<OrdersPage, MarketplaceError> {
        let mut orders: Vec<Order> = self
            .orders
            .lock()
            .unwrap()
            .iter()
            .filter(|o| o.status.is_shipped() && o.updated_at.is_none_or(|u| u >= since))
            .cloned()
            .collect();
        orders.sort_by_key(|o| o.updated_at);
        Ok(OrdersPage { orders: orders.into_iter().map(Ok).collect(), next: None })
    }
    async fn order(
        &self,
        _creds: &MarketplaceCredentials,
        order_id: &OrderId,
    ) -> Result<Option<Order>, MarketplaceError> {
        Ok(self.orders.lock().unwrap().iter().find(|o| &o.order_id == order_id).cloned())
    }
    async fn upload_invoice(
        &self,
        _creds: &MarketplaceCredentials,
        order_id: &OrderId,
        _file_name: &str,
        bytes: &[u8],
    ) -> Result<ImportState, MarketplaceError> {
        let import_id = self.attach(order_id, bytes);
        Ok(ImportState { import_id, status: ImportStatus::Running, files: Vec::new() })
    }
    async fn upload_invoices(
        &self,
        _creds: &MarketplaceCredentials,
        files: Vec<InvoiceFile>,
    ) -> Result<ImportState, MarketplaceError> {
        let mut import_id = String::new();
        for f in &files {
            import_id = self.attach(&f.order_id, &f.bytes);
        }
        Ok(ImportState { import_id, status: ImportStatus::Running, files: Vec::new() })
    }
    async fn import_state(
        &self,
        _creds: &MarketplaceCredentials,
        import_id: &str,
    ) -> Result<ImportState, MarketplaceError> {
        let files = self
            .attached
            .lock()
            .unwrap()
            .keys()
            .map(|o| FileOutcome { order_id: o.clone(), accepted: true, errors: Vec::new() })
            .collect();
        Ok(ImportState { import_id: import_id.to_owned(), status: ImportStatus::Success, files })
    }
    async fn check_credentials(&self, creds: &MarketplaceCredentials) -> Result<(), MarketplaceError> {
        if creds.client_secret == "wrong" {
            return Err(MarketplaceError::Credentials("invalid_client".into()));
        }
        Ok(())
    }
}

/// Documents in a map.
#[derive(Default)]
pub struct MemoryStore(Mutex<HashMap<String, Vec<u8>>>);

#[async_trait]
impl DocumentStore for MemoryStore {
    async fn put(&self, key: &str, bytes: &[u8], _content_type: &str) -> Result<StoredObject, StoreError> {
        self.0.lock().unwrap().insert(key.to_owned(), bytes.to_vec());
        Ok(StoredObject { key: key.to_owned(), sha256: hex::encode(Sha256::digest(bytes)), size: bytes.len() as u64 })
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.0.lock().unwrap().get(key).cloned())
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys: Vec<String> = self.0.lock().unwrap().keys().filter(|k| k.starts_with(prefix)).cloned().collect();
        keys.sort();
        Ok(keys)
    }
    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        let mut map = self.0.lock().unwrap();
        let before = map.len();
        map.retain(|k, _| !k.starts_with(prefix));
        Ok((before - map.len()) as u64)
    }
    async fn presign_get(&self, key: &str, expires_in: Duration) -> Result<PresignedLink, StoreError> {
        Ok(PresignedLink {
            url: format!("memory://{key}"),
            expires_at: OffsetDateTime::UNIX_EPOCH + time::Duration::try_from(expires_in).unwrap_or_default(),
        })
    }
}

/// Keeps every mail sent; while `down`, answers like a provider that cannot take mail now.
#[derive(Default)]
pub struct MemoryMailer {
    pub sent: Mutex<Vec<OutgoingMail>>,
    pub down: AtomicBool,
}

impl MemoryMailer {
    /// Mails sent to an address.
    pub fn to(&self, address: &str) -> usize {
        self.sent.lock().unwrap().iter().filter(|m| m.to == address).count()
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, MailError> {
        if self.down.load(Ordering::Relaxed) {
            return Err(MailError::Unavailable("the fake mailer is down".into()));
        }
        let mut sent = self.sent.lock().unwrap();
        sent.push(mail.clone());
        Ok(format!("mail-{}", sent.len()))
    }
}

/// Queued runs, kept.
#[derive(Default)]
pub struct MemoryQueue(pub Mutex<Vec<SellerRunMessage>>);

#[async_trait]
impl Queue for MemoryQueue {
    async fn send(&self, message: &SellerRunMessage) -> Result<(), QueueError> {
        self.0.lock().unwrap().push(message.clone());
        Ok(())
    }
    async fn receive(&self, max: usize, _wait: Duration) -> Result<Vec<Received>, QueueError> {
        let mut q = self.0.lock().unwrap();
        let n = max.min(q.len());
        Ok(q.drain(..n).enumerate().map(|(k, message)| Received { receipt: k.to_string(), message }).collect())
    }
    async fn ack(&self, _receipt: &str) -> Result<(), QueueError> {
        Ok(())
    }
}

/// Wraps without encrypting: the sealing itself is the contract suite's business.
pub struct PlainSecrets;

#[async_trait]
impl SecretBox for PlainSecrets {
    async fn seal(&self, plaintext: &[u8]) -> Result<SealedSecret, SecretError> {
        Ok(SealedSecret {
            key_id: "plain".into(),
            encrypted_key: Vec::new(),
            nonce: Vec::new(),
            ciphertext: plaintext.to_vec(),
        })
    }
    async fn open(&self, sealed: &SealedSecret) -> Result<Vec<u8>, SecretError> {
        Ok(sealed.ciphertext.clone())
    }
}

/// No approved platform: sellers here have none.
pub struct NoPlatform;

fn none() -> PlatformError {
    PlatformError::Config("no platform in these tests".into())
}

#[async_trait]
impl Platform for NoPlatform {
    async fn check(&self, _: &PlatformCredentials) -> Result<(), PlatformError> {
        Err(none())
    }
    async fn find_flow(&self, _: &PlatformCredentials, _: &str) -> Result<Option<FlowState>, PlatformError> {
        Err(none())
    }
    async fn submit(&self, _: &PlatformCredentials, _: &FlowSubmission) -> Result<String, PlatformError> {
        Err(none())
    }
    async fn flows_updated_after(
        &self,
        _: &PlatformCredentials,
        _: Option<&str>,
    ) -> Result<Vec<FlowState>, PlatformError> {
        Err(none())
    }
    async fn lifecycle(&self, _: &PlatformCredentials, _: &str) -> Result<Vec<LifecycleStatus>, PlatformError> {
        Err(none())
    }
    async fn directory_address(&self, _: &PlatformCredentials, _: &str) -> Result<Option<String>, PlatformError> {
        Err(none())
    }
}

/// One seller on the fakes: its id, the services, and handles on what the fakes saw.
pub struct Fixture {
    pub seller: SellerId,
    pub services: Services,
    pub market: Arc<FakeMarketplace>,
    pub mailer: Arc<MemoryMailer>,
    pub clock: Arc<ManualClock>,
}

/// A French seller (the first sample) registered at `now` with `shipped` shipped orders.
pub async fn fixture(shipped: usize, now: OffsetDateTime) -> Fixture {
    let market = Arc::new(FakeMarketplace::with_orders(7, "30001", shipped, now));
    let mailer = Arc::new(MemoryMailer::default());
    let clock = Arc::new(ManualClock::new(now));
    let services = Services {
        ledger: Arc::new(marketbill_local::SqliteLedger::in_memory().unwrap()),
        store: Arc::new(MemoryStore::default()),
        mailer: mailer.clone(),
        queue: Arc::new(MemoryQueue::default()),
        secrets: Arc::new(PlainSecrets),
        marketplace: market.clone(),
        platform: Arc::new(NoPlatform),
        clock: clock.clone(),
        settings: Settings { sender: "factures@marketbill.example".into(), ..Settings::default() },
    };
    let seller: SellerId = "fake-seller".parse().unwrap();
    let creds = MarketplaceCredentials {
        client_id: "client".into(),
        client_secret: "secret".into(),
        seller_id: "30001".into(),
    };
    let profile = sample_seller(0, "30001").unwrap();
    // Registered a day before the orders' updates, so the first run's look-back covers them.
    services.account().register(&seller, profile, Some(&creds), now - time::Duration::days(1)).await.unwrap();
    Fixture { seller, services, market, mailer, clock }
}
