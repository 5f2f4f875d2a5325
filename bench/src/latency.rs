//! The embedded adapters with a fixed latency per call, standing in for DynamoDB, S3 and SES
//! over a network: the latency-model run measures how well a seller run overlaps round trips.
//! (One delay, then the embedded adapter; the ledger's calls through `marketbill_app::layer`.)

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use marketbill_app::layer::LedgerLayer;
use marketbill_app::model::StoredObject;
use marketbill_app::ports::{
    DocumentStore, Ledger, LedgerError, MailError, Mailer, OutgoingMail, PresignedLink, StoreError,
};

/// An adapter behind a fixed delay per call.
pub struct Slow<T: ?Sized> {
    pub inner: Arc<T>,
    pub delay: Duration,
}

impl<T: ?Sized> Slow<T> {
    async fn wait(&self) {
        tokio::time::sleep(self.delay).await;
    }
}

/// The ledger: one delay before each call (the layer written once in `marketbill_app::layer`).
#[async_trait]
impl LedgerLayer for Slow<dyn Ledger> {
    fn inner(&self) -> &dyn Ledger {
        self.inner.as_ref()
    }
    async fn before(&self, _op: &'static str) -> Result<(), LedgerError> {
        self.wait().await;
        Ok(())
    }
}

#[async_trait]
impl DocumentStore for Slow<dyn DocumentStore> {
    async fn put(&self, key: &str, bytes: &[u8], content_type: &str) -> Result<StoredObject, StoreError> {
        self.wait().await;
        self.inner.put(key, bytes, content_type).await
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.wait().await;
        self.inner.get(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.wait().await;
        self.inner.list(prefix).await
    }
    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        self.wait().await;
        self.inner.delete_prefix(prefix).await
    }
    async fn presign_get(&self, key: &str, expires_in: Duration) -> Result<PresignedLink, StoreError> {
        self.wait().await;
        self.inner.presign_get(key, expires_in).await
    }
}

#[async_trait]
impl Mailer for Slow<dyn Mailer> {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, MailError> {
        self.wait().await;
        self.inner.send(mail).await
    }
}
