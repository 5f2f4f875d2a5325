//! A ledger behind a layer: something done around every call of a wrapped [`Ledger`] — faults
//! injected by the tests, a fixed latency in the benchmark — written once for every method of
//! every entity trait. A layer says what it does before and after a call; [`Layered`] makes it
//! a whole [`Ledger`].

use std::collections::HashMap;

use async_trait::async_trait;
use marketbill_domain::credit::Credited;
use marketbill_domain::{Draft, Invoice, InvoiceNumber, OrderId, Refusal, Series};
use time::OffsetDateTime;

use crate::model::{
    BuyerRequestRecord, DocumentSteps, ImportRecord, InvoicePage, InvoiceQuery, InvoiceRecord, OrderRecord, RunRecord,
    SellerId, SellerRecord, StoredObject, TransmissionRecord,
};
use crate::ports::{
    ImportLedger, InvoiceLedger, IssuingLedger, KeyClaim, KeyLedger, Ledger, LedgerError, OrderLedger, RequestLedger,
    RequestSlot, RunLedger, SellerLedger, TransmissionLedger, UsageLedger,
};

/// What is done around each call of a wrapped ledger. `op` is the method's name
/// (`"update_order"`).
#[async_trait]
pub trait LedgerLayer: Send + Sync {
    /// The ledger the calls go to.
    fn inner(&self) -> &dyn Ledger;
    /// Before a call; an error is the call's answer and the wrapped ledger is not called.
    async fn before(&self, op: &'static str) -> Result<(), LedgerError>;
    /// After a call the wrapped ledger answered without error.
    fn after(&self, _op: &'static str) {}
    /// Before an order is issued, with its id (the tests' stand-in for a defect in one order's
    /// processing looks at it).
    fn issuing(&self, _order_id: &OrderId) {}
}

/// A [`LedgerLayer`] as a [`Ledger`].
pub struct Layered<L>(pub L);

/// Implements an entity trait for [`Layered`]: each method calls the layer's `before`, the
/// wrapped ledger, then `after`.
macro_rules! layered {
    ($trait:ident { $( fn $name:ident(&self $(, $arg:ident : $ty:ty)* ) -> $ret:ty; )* }) => {
        #[async_trait]
        impl<L: LedgerLayer> $trait for Layered<L> {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> Result<$ret, LedgerError> {
                    self.0.before(stringify!($name)).await?;
                    let out = self.0.inner().$name($($arg),*).await?;
                    self.0.after(stringify!($name));
                    Ok(out)
                }
            )*
        }
    };
}

layered!(SellerLedger {
    fn put_seller(&self, seller: &SellerRecord) -> ();
    fn get_seller(&self, id: &SellerId) -> Option<SellerRecord>;
    fn claim_email(&self, seller: &SellerId, email: &str) -> ();
    fn seller_by_email(&self, email: &str) -> Option<SellerId>;
    fn active_sellers(&self) -> Vec<SellerId>;
    fn unsubscribed_sellers(&self) -> Vec<SellerRecord>;
    fn delete_seller(&self, id: &SellerId) -> u64;
});

layered!(OrderLedger {
    fn get_order(&self, seller: &SellerId, order_id: &OrderId) -> Option<OrderRecord>;
    fn get_orders(&self, seller: &SellerId, order_ids: &[OrderId]) -> HashMap<OrderId, OrderRecord>;
    fn record_skip(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        refusal: &Refusal,
        email_hash: Option<&str>,
        at: OffsetDateTime
    ) -> ();
    fn update_order(&self, seller: &SellerId, record: &OrderRecord) -> ();
    fn update_orders(&self, seller: &SellerId, records: &[OrderRecord]) -> Vec<OrderId>;
    fn list_orders(&self, seller: &SellerId) -> Vec<OrderRecord>;
    fn unfinished_orders(&self, seller: &SellerId) -> Vec<OrderRecord>;
    fn find_order_seller(&self, order_id: &OrderId) -> Option<SellerId>;
});

/// Issuing, by hand for its first method: the layer sees the order being issued.
#[async_trait]
impl<L: LedgerLayer> IssuingLedger for Layered<L> {
    async fn issue(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        draft: Draft,
        email_hash: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<Invoice, LedgerError> {
        self.0.issuing(order_id);
        self.0.before("issue").await?;
        let out = self.0.inner().issue(seller, order_id, draft, email_hash, at).await?;
        self.0.after("issue");
        Ok(out)
    }
    async fn issue_correction(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        credit_note: Draft,
        replacement: Draft,
        at: OffsetDateTime,
    ) -> Result<(Invoice, Invoice), LedgerError> {
        self.0.before("issue_correction").await?;
        let out = self.0.inner().issue_correction(seller, order_id, credit_note, replacement, at).await?;
        self.0.after("issue_correction");
        Ok(out)
    }
    async fn credited(&self, seller: &SellerId, invoice: &InvoiceNumber) -> Result<Credited, LedgerError> {
        self.0.before("credited").await?;
        let out = self.0.inner().credited(seller, invoice).await?;
        self.0.after("credited");
        Ok(out)
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
        self.0.before("issue_credit_note").await?;
        let out = self.0.inner().issue_credit_note(seller, order_id, draft, before, after, at).await?;
        self.0.after("issue_credit_note");
        Ok(out)
    }
    async fn series_counter(&self, seller: &SellerId, series: &Series) -> Result<u64, LedgerError> {
        self.0.before("series_counter").await?;
        let out = self.0.inner().series_counter(seller, series).await?;
        self.0.after("series_counter");
        Ok(out)
    }
}

layered!(UsageLedger {
    fn usage(&self, seller: &SellerId, month: marketbill_domain::calendar::YearMonth) -> u64;
});

layered!(InvoiceLedger {
    fn get_invoice(&self, seller: &SellerId, number: &InvoiceNumber) -> Option<InvoiceRecord>;
    fn list_invoices(&self, seller: &SellerId, query: &InvoiceQuery) -> InvoicePage;
    fn set_documents(&self, seller: &SellerId, number: &InvoiceNumber, pdf: &StoredObject, xml: &StoredObject) -> ();
    fn set_steps(&self, seller: &SellerId, number: &InvoiceNumber, steps: &DocumentSteps) -> ();
    fn set_documents_and_step(&self, seller: &SellerId, pdf: &StoredObject, xml: &StoredObject, step: &OrderRecord) -> ();
});

layered!(RunLedger {
    fn watermark(&self, seller: &SellerId) -> Option<OffsetDateTime>;
    fn advance_watermark(&self, seller: &SellerId, to: OffsetDateTime) -> ();
    fn record_run(&self, seller: &SellerId, at: OffsetDateTime, run: &RunRecord) -> ();
    fn runs(&self, seller: &SellerId, limit: usize) -> Vec<RunRecord>;
});

layered!(ImportLedger {
    fn put_import(&self, seller: &SellerId, import: &ImportRecord) -> ();
    fn pending_imports(&self) -> Vec<(SellerId, ImportRecord)>;
});

layered!(RequestLedger {
    fn put_request(&self, seller: &SellerId, request: &BuyerRequestRecord) -> ();
    fn take_slot(
        &self,
        seller: &SellerId,
        subject: &str,
        day: &str,
        limit: u32,
        at: OffsetDateTime,
        until: OffsetDateTime
    ) -> RequestSlot;
    fn free_slot(&self, seller: &SellerId, subject: &str, day: &str) -> ();
    fn requests_for_order(&self, seller: &SellerId, order_id: &OrderId) -> Vec<BuyerRequestRecord>;
});

layered!(KeyLedger {
    fn claim_key(
        &self,
        seller: &SellerId,
        key: &str,
        fingerprint: &str,
        at: OffsetDateTime,
        until: OffsetDateTime
    ) -> KeyClaim;
    fn finish_key(&self, seller: &SellerId, key: &str, answer: &str) -> ();
    fn release_key(&self, seller: &SellerId, key: &str) -> ();
});

layered!(TransmissionLedger {
    fn put_transmission(&self, seller: &SellerId, t: &TransmissionRecord) -> ();
    fn transmissions(&self, seller: &SellerId) -> Vec<TransmissionRecord>;
    fn transmission(&self, seller: &SellerId, tracking_id: &str) -> Option<TransmissionRecord>;
    fn platform_cursor(&self, seller: &SellerId) -> Option<String>;
    fn set_platform_cursor(&self, seller: &SellerId, cursor: &str) -> ();
});
