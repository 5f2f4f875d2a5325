//! The embedded adapters with a fixed latency per call, standing in for DynamoDB, S3 and SES
//! over a network: the latency-model run measures how well a seller run overlaps round trips.
//! (Generated from the port traits; one delay, then the embedded adapter.)

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use marketbill_app::model::{
    BuyerRequestRecord, ImportRecord, InvoicePage, InvoiceQuery, InvoiceRecord, OrderRecord, RunRecord, SellerId,
    SellerRecord, StoredObject,
};
use marketbill_app::ports::{
    DocumentStore, ImportLedger, InvoiceLedger, IssuingLedger, KeyClaim, KeyLedger, Ledger, LedgerError, MailError,
    Mailer, OrderLedger, OutgoingMail, PresignedLink, RequestLedger, RequestSlot, RunLedger, SellerLedger, StoreError,
};
use marketbill_domain::credit::Credited;
use marketbill_domain::{Draft, Invoice, InvoiceNumber, OrderId, Refusal, Series};
use time::OffsetDateTime;

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

#[async_trait]
impl SellerLedger for Slow<dyn Ledger> {
    async fn put_seller(&self, seller: &SellerRecord) -> Result<(), LedgerError> {
        self.wait().await;
        self.inner.put_seller(seller).await
    }
    async fn get_seller(&self, id: &SellerId) -> Result<Option<SellerRecord>, LedgerError> {
        self.wait().await;
        self.inner.get_seller(id).await
    }
    async fn seller_by_email(&self, email: &str) -> Result<Option<SellerId>, LedgerError> {
        self.wait().await;
        self.inner.seller_by_email(email).await
    }
    async fn claim_email(&self, seller: &SellerId, email: &str) -> Result<(), LedgerError> {
        self.wait().await;
        self.inner.claim_email(seller, email).await
    }
    async fn active_sellers(&self) -> Result<Vec<SellerId>, LedgerError> {
        self.wait().await;
        self.inner.active_sellers().await
    }
    async fn unsubscribed_sellers(&self) -> Result<Vec<SellerRecord>, LedgerError> {
        self.wait().await;
        self.inner.unsubscribed_sellers().await
    }
    async fn delete_seller(&self, id: &SellerId) -> Result<u64, LedgerError> {
        self.wait().await;
        self.inner.delete_seller(id).await
    }
}

#[async_trait]
impl OrderLedger for Slow<dyn Ledger> {
    async fn get_order(&self, seller: &SellerId, order_id: &OrderId) -> Result<Option<OrderRecord>, LedgerError> {
        self.wait().await;
        self.inner.get_order(seller, order_id).await
    }
    async fn get_orders(
        &self,
        seller: &SellerId,
        order_ids: &[OrderId],
    ) -> Result<std::collections::HashMap<OrderId, OrderRecord>, LedgerError> {
        self.wait().await;
        self.inner.get_orders(seller, order_ids).await
    }
    async fn record_skip(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        refusal: &Refusal,
        email_hash: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<(), LedgerError> {
        self.wait().await;
        self.inner.record_skip(seller, order_id, refusal, email_hash, at).await
    }
    async fn update_order(&self, seller: &SellerId, record: &OrderRecord) -> Result<(), LedgerError> {
        self.wait().await;
        self.inner.update_order(seller, record).await
    }
    async fn update_orders(&self, seller: &SellerId, records: &[OrderRecord]) -> Result<Vec<OrderId>, LedgerError> {
        // One write however many records (a transaction).
        self.wait().await;
        self.inner.update_orders(seller, records).await
    }
    async fn list_orders(&self, seller: &SellerId) -> Result<Vec<OrderRecord>, LedgerError> {
        self.wait().await;
        self.inner.list_orders(seller).await
    }
    async fn unfinished_orders(&self, seller: &SellerId) -> Result<Vec<OrderRecord>, LedgerError> {
        self.wait().await;
        self.inner.unfinished_orders(seller).await
    }
    async fn find_order_seller(&self, order_id: &OrderId) -> Result<Option<SellerId>, LedgerError> {
        self.wait().await;
        self.inner.find_order_seller(order_id).await
    }
}

#[async_trait]
impl IssuingLedger for Slow<dyn Ledger> {
    async fn issue(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        draft: Draft,
        email_hash: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<Invoice, LedgerError> {
        self.wait().await;
        self.inner.issue(seller, order_id, draft, email_hash, at).await
    }
    async fn issue_correction(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        credit_note: Draft,
        replacement: Draft,
        at: OffsetDateTime,
    ) -> Result<(Invoice, Invoice), LedgerError> {
        self.wait().await;
        self.inner.issue_correction(seller, order_id, credit_note, replacement, at).await
    }
    async fn credited(&self, seller: &SellerId, invoice: &InvoiceNumber) -> Result<Credited, LedgerError> {
        self.wait().await;
        self.inner.credited(seller, invoice).await
    }
    async fn issue_credit_note(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        draft: Draft,
        before: &Credited,
        after: &Credited,
        at: OffsetDateTime,
    ) -> Result<Invoice, LedgerError> {
        self.wait().await;
        self.inner.issue_credit_note(seller, order_id, draft, before, after, at).await
    }
    async fn series_counter(&self, seller: &SellerId, series: &Series) -> Result<u64, LedgerError> {
        self.wait().await;
        self.inner.series_counter(seller, series).await
    }
    async fn usage(&self, seller: &SellerId, month: &str) -> Result<u64, LedgerError> {
        self.wait().await;
        self.inner.usage(seller, month).await
    }
}

#[async_trait]
impl InvoiceLedger for Slow<dyn Ledger> {
    async fn get_invoice(
        &self,
        seller: &SellerId,
        number: &InvoiceNumber,
    ) -> Result<Option<InvoiceRecord>, LedgerError> {
        self.wait().await;
        self.inner.get_invoice(seller, number).await
    }
    async fn list_invoices(&self, seller: &SellerId, query: &InvoiceQuery) -> Result<InvoicePage, LedgerError> {
        self.wait().await;
        self.inner.list_invoices(seller, query).await
    }
    async fn set_documents(
        &self,
        seller: &SellerId,
        number: &InvoiceNumber,
        pdf: &StoredObject,
        xml: &StoredObject,
    ) -> Result<(), LedgerError> {
        self.wait().await;
        self.inner.set_documents(seller, number, pdf, xml).await
    }
    async fn set_documents_and_step(
        &self,
        seller: &SellerId,
        pdf: &StoredObject,
        xml: &StoredObject,
        step: &OrderRecord,
    ) -> Result<(), LedgerError> {
        // One round trip: the embedded ledger records both in one transaction.
        self.wait().await;
        self.inner.set_documents_and_step(seller, pdf, xml, step).await
    }
}

#[async_trait]
impl RunLedger for Slow<dyn Ledger> {
    async fn watermark(&self, seller: &SellerId) -> Result<Option<OffsetDateTime>, LedgerError> {
        self.wait().await;
        self.inner.watermark(seller).await
    }
    async fn advance_watermark(&self, seller: &SellerId, to: OffsetDateTime) -> Result<(), LedgerError> {
        self.wait().await;
        self.inner.advance_watermark(seller, to).await
    }
    async fn record_run(&self, seller: &SellerId, at: OffsetDateTime, run: &RunRecord) -> Result<(), LedgerError> {
        self.wait().await;
        self.inner.record_run(seller, at, run).await
    }
    async fn runs(&self, seller: &SellerId, limit: usize) -> Result<Vec<RunRecord>, LedgerError> {
        self.wait().await;
        self.inner.runs(seller, limit).await
    }
}

#[async_trait]
impl ImportLedger for Slow<dyn Ledger> {
    async fn put_import(&self, seller: &SellerId, import: &ImportRecord) -> Result<(), LedgerError> {
        self.wait().await;
        self.inner.put_import(seller, import).await
    }
    async fn pending_imports(&self) -> Result<Vec<(SellerId, ImportRecord)>, LedgerError> {
        self.wait().await;
        self.inner.pending_imports().await
    }
}

#[async_trait]
impl RequestLedger for Slow<dyn Ledger> {
    async fn put_request(&self, seller: &SellerId, request: &BuyerRequestRecord) -> Result<(), LedgerError> {
        self.wait().await;
        self.inner.put_request(seller, request).await
    }
    async fn take_slot(
        &self,
        seller: &SellerId,
        subject: &str,
        day: &str,
        limit: u32,
        at: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<RequestSlot, LedgerError> {
        self.wait().await;
        self.inner.take_slot(seller, subject, day, limit, at, until).await
    }
    async fn free_slot(&self, seller: &SellerId, subject: &str, day: &str) -> Result<(), LedgerError> {
        self.wait().await;
        self.inner.free_slot(seller, subject, day).await
    }
    async fn requests_for_order(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
    ) -> Result<Vec<BuyerRequestRecord>, LedgerError> {
        self.wait().await;
        self.inner.requests_for_order(seller, order_id).await
    }
}

#[async_trait]
impl marketbill_app::ports::TransmissionLedger for Slow<dyn Ledger> {
    async fn put_transmission(
        &self,
        seller: &SellerId,
        t: &marketbill_app::model::TransmissionRecord,
    ) -> Result<(), LedgerError> {
        self.wait().await;
        self.inner.put_transmission(seller, t).await
    }
    async fn transmissions(
        &self,
        seller: &SellerId,
    ) -> Result<Vec<marketbill_app::model::TransmissionRecord>, LedgerError> {
        self.wait().await;
        self.inner.transmissions(seller).await
    }
    async fn platform_cursor(&self, seller: &SellerId) -> Result<Option<String>, LedgerError> {
        self.wait().await;
        self.inner.platform_cursor(seller).await
    }
    async fn set_platform_cursor(&self, seller: &SellerId, cursor: &str) -> Result<(), LedgerError> {
        self.wait().await;
        self.inner.set_platform_cursor(seller, cursor).await
    }
}

#[async_trait]
impl KeyLedger for Slow<dyn Ledger> {
    async fn claim_key(
        &self,
        seller: &SellerId,
        key: &str,
        fingerprint: &str,
        at: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<KeyClaim, LedgerError> {
        self.wait().await;
        self.inner.claim_key(seller, key, fingerprint, at, until).await
    }
    async fn finish_key(&self, seller: &SellerId, key: &str, answer: &str) -> Result<(), LedgerError> {
        self.wait().await;
        self.inner.finish_key(seller, key, answer).await
    }
    async fn release_key(&self, seller: &SellerId, key: &str) -> Result<(), LedgerError> {
        self.wait().await;
        self.inner.release_key(seller, key).await
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
