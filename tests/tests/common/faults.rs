//! Port wrappers that fail on demand: once, for a whole run, or as a crash (after a given
//! number of successful calls of one operation, every later call of any port fails until the
//! world is "restarted").

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use marketbill_app::layer::{Layered, LedgerLayer};
use marketbill_app::model::StoredObject;
use marketbill_app::ports::{
    DocumentStore, Ledger, LedgerError, MailError, Mailer, OutgoingMail, PresignedLink, StoreError,
};
use marketbill_domain::OrderId;

/// The operations faults can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Issue,
    UpdateOrder,
    SetDocuments,
    StorePut,
    MailSend,
}

#[derive(Default)]
pub struct Faults {
    /// Failures left per operation (u32::MAX: always).
    fail: Mutex<HashMap<Op, u32>>,
    /// After this many successes of an operation, the process "crashes".
    crash_after: Mutex<Option<(Op, u32)>>,
    dead: AtomicBool,
}

impl Faults {
    pub fn fail(&self, op: Op, times: u32) {
        self.fail.lock().unwrap().insert(op, times);
    }

    pub fn crash_after(&self, op: Op, successes: u32) {
        *self.crash_after.lock().unwrap() = Some((op, successes));
    }

    /// Back to health (the "restart" after a crash, or the end of a faulty run).
    pub fn heal(&self) {
        self.fail.lock().unwrap().clear();
        *self.crash_after.lock().unwrap() = None;
        self.dead.store(false, Ordering::SeqCst);
    }

    pub fn crashed(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }

    /// Before an operation: fails if crashed or a failure is planned.
    fn before(&self, op: Op) -> Result<(), String> {
        if self.dead.load(Ordering::SeqCst) {
            return Err("the process crashed".into());
        }
        let mut fail = self.fail.lock().unwrap();
        if let Some(n) = fail.get_mut(&op)
            && *n > 0
        {
            if *n != u32::MAX {
                *n -= 1;
            }
            return Err(format!("injected failure of {op:?}"));
        }
        Ok(())
    }

    /// After a successful operation: counts towards a planned crash.
    fn after(&self, op: Op) {
        let mut crash = self.crash_after.lock().unwrap();
        if let Some((target, left)) = crash.as_mut()
            && *target == op
        {
            if *left == 0 {
                self.dead.store(true, Ordering::SeqCst);
                *crash = None;
            } else {
                *left -= 1;
            }
        }
    }

    fn alive(&self) -> Result<(), String> {
        if self.dead.load(Ordering::SeqCst) { Err("the process crashed".into()) } else { Ok(()) }
    }
}

pub struct FaultyLedger {
    pub inner: Arc<dyn Ledger>,
    pub faults: Arc<Faults>,
}

impl FaultyLedger {
    /// The whole ledger, each call behind the faults.
    pub fn ledger(inner: Arc<dyn Ledger>, faults: Arc<Faults>) -> Arc<dyn Ledger> {
        Arc::new(Layered(FaultyLedger { inner, faults }))
    }
}

/// The operations of the ledger that faults target by name; every other call only fails once
/// the process has crashed.
fn targeted(op: &'static str) -> &'static [Op] {
    match op {
        "issue" => &[Op::Issue],
        "update_order" => &[Op::UpdateOrder],
        "set_documents" => &[Op::SetDocuments],
        // Both at once: fails when either is to fail, counts towards a crash after either.
        "set_documents_and_step" => &[Op::SetDocuments, Op::UpdateOrder],
        _ => &[],
    }
}

#[async_trait]
impl LedgerLayer for FaultyLedger {
    fn inner(&self) -> &dyn Ledger {
        self.inner.as_ref()
    }
    async fn before(&self, op: &'static str) -> Result<(), LedgerError> {
        self.faults.alive().map_err(LedgerError::Unavailable)?;
        for target in targeted(op) {
            self.faults.before(*target).map_err(LedgerError::Unavailable)?;
        }
        Ok(())
    }
    fn after(&self, op: &'static str) {
        for target in targeted(op) {
            self.faults.after(*target);
        }
    }
    fn issuing(&self, order_id: &OrderId) {
        // A stand-in for an unforeseen defect in one order's processing.
        if order_id.as_str().starts_with("DEFECT") {
            panic!("injected defect while handling {order_id}");
        }
    }
}

pub struct FaultyStore {
    pub inner: Arc<dyn DocumentStore>,
    pub faults: Arc<Faults>,
}

#[async_trait]
impl DocumentStore for FaultyStore {
    async fn put(&self, key: &str, bytes: &[u8], content_type: &str) -> Result<StoredObject, StoreError> {
        self.faults.before(Op::StorePut).map_err(StoreError::Unavailable)?;
        let o = self.inner.put(key, bytes, content_type).await?;
        self.faults.after(Op::StorePut);
        Ok(o)
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.faults.alive().map_err(StoreError::Unavailable)?;
        self.inner.get(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.list(prefix).await
    }
    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        self.inner.delete_prefix(prefix).await
    }
    async fn presign_get(&self, key: &str, expires_in: Duration) -> Result<PresignedLink, StoreError> {
        self.inner.presign_get(key, expires_in).await
    }
}

pub struct FaultyMailer {
    pub inner: Arc<dyn Mailer>,
    pub faults: Arc<Faults>,
}

#[async_trait]
impl Mailer for FaultyMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, MailError> {
        self.faults.before(Op::MailSend).map_err(MailError::Unavailable)?;
        let id = self.inner.send(mail).await?;
        self.faults.after(Op::MailSend);
        Ok(id)
    }
}
