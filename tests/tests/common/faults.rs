//! Port wrappers that fail on demand: once, for a whole run, or as a crash (after a given
//! number of successful calls of one operation, every later call of any port fails until the
//! world is "restarted").

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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

fn lerr(e: String) -> LedgerError {
    LedgerError::Unavailable(e)
}

macro_rules! pass {
    ($self:ident, $call:expr) => {{
        $self.faults.alive().map_err(lerr)?;
        $call.await
    }};
}

#[async_trait]
impl SellerLedger for FaultyLedger {
    async fn put_seller(&self, seller: &SellerRecord) -> Result<(), LedgerError> {
        pass!(self, self.inner.put_seller(seller))
    }
    async fn get_seller(&self, id: &SellerId) -> Result<Option<SellerRecord>, LedgerError> {
        pass!(self, self.inner.get_seller(id))
    }
    async fn seller_by_email(&self, email: &str) -> Result<Option<SellerId>, LedgerError> {
        pass!(self, self.inner.seller_by_email(email))
    }
    async fn claim_email(&self, seller: &SellerId, email: &str) -> Result<(), LedgerError> {
        pass!(self, self.inner.claim_email(seller, email))
    }
    async fn active_sellers(&self) -> Result<Vec<SellerId>, LedgerError> {
        pass!(self, self.inner.active_sellers())
    }
    async fn unsubscribed_sellers(&self) -> Result<Vec<SellerRecord>, LedgerError> {
        pass!(self, self.inner.unsubscribed_sellers())
    }
    async fn delete_seller(&self, id: &SellerId) -> Result<u64, LedgerError> {
        pass!(self, self.inner.delete_seller(id))
    }
}

#[async_trait]
impl OrderLedger for FaultyLedger {
    async fn get_order(&self, seller: &SellerId, order_id: &OrderId) -> Result<Option<OrderRecord>, LedgerError> {
        pass!(self, self.inner.get_order(seller, order_id))
    }
    async fn get_orders(
        &self,
        seller: &SellerId,
        order_ids: &[OrderId],
    ) -> Result<std::collections::HashMap<OrderId, OrderRecord>, LedgerError> {
        pass!(self, self.inner.get_orders(seller, order_ids))
    }
    async fn record_skip(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        refusal: &Refusal,
        email_hash: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<(), LedgerError> {
        pass!(self, self.inner.record_skip(seller, order_id, refusal, email_hash, at))
    }
    async fn update_order(&self, seller: &SellerId, record: &OrderRecord) -> Result<(), LedgerError> {
        self.faults.before(Op::UpdateOrder).map_err(lerr)?;
        self.inner.update_order(seller, record).await?;
        self.faults.after(Op::UpdateOrder);
        Ok(())
    }
    async fn list_orders(&self, seller: &SellerId) -> Result<Vec<OrderRecord>, LedgerError> {
        pass!(self, self.inner.list_orders(seller))
    }
    async fn unfinished_orders(&self, seller: &SellerId) -> Result<Vec<OrderRecord>, LedgerError> {
        pass!(self, self.inner.unfinished_orders(seller))
    }
    async fn find_order_seller(&self, order_id: &OrderId) -> Result<Option<SellerId>, LedgerError> {
        pass!(self, self.inner.find_order_seller(order_id))
    }
}

#[async_trait]
impl IssuingLedger for FaultyLedger {
    async fn issue(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        draft: Draft,
        email_hash: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<Invoice, LedgerError> {
        // A stand-in for an unforeseen defect in one order's processing.
        if order_id.as_str().starts_with("DEFECT") {
            panic!("injected defect while handling {order_id}");
        }
        self.faults.before(Op::Issue).map_err(lerr)?;
        let inv = self.inner.issue(seller, order_id, draft, email_hash, at).await?;
        self.faults.after(Op::Issue);
        Ok(inv)
    }
    async fn issue_correction(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        credit_note: Draft,
        replacement: Draft,
        at: OffsetDateTime,
    ) -> Result<(Invoice, Invoice), LedgerError> {
        pass!(self, self.inner.issue_correction(seller, order_id, credit_note, replacement, at))
    }
    async fn credited(&self, seller: &SellerId, invoice: &InvoiceNumber) -> Result<Credited, LedgerError> {
        pass!(self, self.inner.credited(seller, invoice))
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
        pass!(self, self.inner.issue_credit_note(seller, order_id, draft, before, after, at))
    }
    async fn series_counter(&self, seller: &SellerId, series: &Series) -> Result<u64, LedgerError> {
        pass!(self, self.inner.series_counter(seller, series))
    }
    async fn usage(&self, seller: &SellerId, month: &str) -> Result<u64, LedgerError> {
        pass!(self, self.inner.usage(seller, month))
    }
}

#[async_trait]
impl InvoiceLedger for FaultyLedger {
    async fn get_invoice(
        &self,
        seller: &SellerId,
        number: &InvoiceNumber,
    ) -> Result<Option<InvoiceRecord>, LedgerError> {
        pass!(self, self.inner.get_invoice(seller, number))
    }
    async fn list_invoices(&self, seller: &SellerId, query: &InvoiceQuery) -> Result<InvoicePage, LedgerError> {
        pass!(self, self.inner.list_invoices(seller, query))
    }
    async fn set_documents(
        &self,
        seller: &SellerId,
        number: &InvoiceNumber,
        pdf: &StoredObject,
        xml: &StoredObject,
    ) -> Result<(), LedgerError> {
        self.faults.before(Op::SetDocuments).map_err(lerr)?;
        self.inner.set_documents(seller, number, pdf, xml).await?;
        self.faults.after(Op::SetDocuments);
        Ok(())
    }
    /// Both operations at once: fails when either is to fail, counts towards a crash after either.
    async fn set_documents_and_step(
        &self,
        seller: &SellerId,
        pdf: &StoredObject,
        xml: &StoredObject,
        step: &OrderRecord,
    ) -> Result<(), LedgerError> {
        self.faults.before(Op::SetDocuments).map_err(lerr)?;
        self.faults.before(Op::UpdateOrder).map_err(lerr)?;
        self.inner.set_documents_and_step(seller, pdf, xml, step).await?;
        self.faults.after(Op::SetDocuments);
        self.faults.after(Op::UpdateOrder);
        Ok(())
    }
}

#[async_trait]
impl RunLedger for FaultyLedger {
    async fn watermark(&self, seller: &SellerId) -> Result<Option<OffsetDateTime>, LedgerError> {
        pass!(self, self.inner.watermark(seller))
    }
    async fn advance_watermark(&self, seller: &SellerId, to: OffsetDateTime) -> Result<(), LedgerError> {
        pass!(self, self.inner.advance_watermark(seller, to))
    }
    async fn record_run(&self, seller: &SellerId, at: OffsetDateTime, run: &RunRecord) -> Result<(), LedgerError> {
        pass!(self, self.inner.record_run(seller, at, run))
    }
    async fn runs(&self, seller: &SellerId, limit: usize) -> Result<Vec<RunRecord>, LedgerError> {
        pass!(self, self.inner.runs(seller, limit))
    }
}

#[async_trait]
impl ImportLedger for FaultyLedger {
    async fn put_import(&self, seller: &SellerId, import: &ImportRecord) -> Result<(), LedgerError> {
        pass!(self, self.inner.put_import(seller, import))
    }
    async fn pending_imports(&self) -> Result<Vec<(SellerId, ImportRecord)>, LedgerError> {
        pass!(self, self.inner.pending_imports())
    }
}

#[async_trait]
impl RequestLedger for FaultyLedger {
    async fn put_request(&self, seller: &SellerId, request: &BuyerRequestRecord) -> Result<(), LedgerError> {
        pass!(self, self.inner.put_request(seller, request))
    }
    async fn requests_for_order(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
    ) -> Result<Vec<BuyerRequestRecord>, LedgerError> {
        pass!(self, self.inner.requests_for_order(seller, order_id))
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
        pass!(self, self.inner.take_slot(seller, subject, day, limit, at, until))
    }
    async fn free_slot(&self, seller: &SellerId, subject: &str, day: &str) -> Result<(), LedgerError> {
        pass!(self, self.inner.free_slot(seller, subject, day))
    }
}

#[async_trait]
impl marketbill_app::ports::TransmissionLedger for FaultyLedger {
    async fn put_transmission(
        &self,
        seller: &SellerId,
        t: &marketbill_app::model::TransmissionRecord,
    ) -> Result<(), LedgerError> {
        pass!(self, self.inner.put_transmission(seller, t))
    }
    async fn transmissions(
        &self,
        seller: &SellerId,
    ) -> Result<Vec<marketbill_app::model::TransmissionRecord>, LedgerError> {
        pass!(self, self.inner.transmissions(seller))
    }
    async fn platform_cursor(&self, seller: &SellerId) -> Result<Option<String>, LedgerError> {
        pass!(self, self.inner.platform_cursor(seller))
    }
    async fn set_platform_cursor(&self, seller: &SellerId, cursor: &str) -> Result<(), LedgerError> {
        pass!(self, self.inner.set_platform_cursor(seller, cursor))
    }
}

#[async_trait]
impl KeyLedger for FaultyLedger {
    async fn claim_key(
        &self,
        seller: &SellerId,
        key: &str,
        fingerprint: &str,
        at: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<KeyClaim, LedgerError> {
        pass!(self, self.inner.claim_key(seller, key, fingerprint, at, until))
    }
    async fn finish_key(&self, seller: &SellerId, key: &str, answer: &str) -> Result<(), LedgerError> {
        pass!(self, self.inner.finish_key(seller, key, answer))
    }
    async fn release_key(&self, seller: &SellerId, key: &str) -> Result<(), LedgerError> {
        pass!(self, self.inner.release_key(seller, key))
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
