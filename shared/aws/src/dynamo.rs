//! The ledger on one DynamoDB table (design: "Table"). The atomic issue is one
//! `TransactWriteItems` with conditions: the series counter moves from the value read to the
//! next one, the invoice record must not exist, the order must not carry an invoice yet, and
//! the month's usage gets one more. A conflicting writer cancels the transaction; we read again
//! and retry, so no number is ever skipped or taken twice.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, DeleteRequest, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    Projection, ProjectionType, Put, ScalarAttributeType, TransactWriteItem, Update, WriteRequest,
};
use marketbill_app::model::{
    BuyerRequestRecord, DocumentSteps, ImportRecord, InvoicePage, InvoiceQuery, InvoiceRecord, OrderRecord, RunRecord,
    SellerId, SellerRecord, SellerStatus, StoredObject, TransmissionRecord, invoice_matches,
};
use marketbill_app::ports::{
    ImportLedger, InvoiceLedger, IssuingLedger, KeyClaim, KeyLedger, KeyRecord, LedgerError, OrderLedger,
    RequestLedger, RequestSlot, RunLedger, SellerLedger, TransmissionLedger, issued_number, update_each,
};
use marketbill_app::table;
use marketbill_domain::calendar::YearMonth;
use marketbill_domain::credit::Credited;
use marketbill_domain::{DocumentKind, Draft, Invoice, InvoiceNumber, OrderId, Refusal, Series};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

type Item = HashMap<String, AttributeValue>;

const MAX_TRANSACTION_TRIES: u32 = 60;

/// A step of an issued order: the record and its progress (`OrderRecord::progress`, kept
/// beside the record as `stageRank` so a write can be refused if it would go back)…
const STEP_UPDATE: &str = "SET #d = :data, stageRank = :rank";
/// …for the order's own invoice, and never back (a concurrent run may be further along).
const STEP_CONDITION: &str =
    "invoiceNumber = :number AND invoiceNumber <> :empty AND (attribute_not_exists(stageRank) OR stageRank <= :rank)";

/// The values of [`STEP_UPDATE`] and [`STEP_CONDITION`] for a record.
fn step_values(record: &OrderRecord) -> Result<Item, LedgerError> {
    let number = record.number.as_ref().map(|n| n.to_string()).unwrap_or_default();
    Ok(HashMap::from([
        (":data".to_owned(), s(to_json(record)?)),
        (":number".to_owned(), s(number)),
        (":empty".to_owned(), s("")),
        (":rank".to_owned(), n(record.progress())),
    ]))
}

#[derive(Clone)]
pub struct DynamoLedger {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn unavailable<E: std::error::Error + 'static>(e: E) -> LedgerError {
    LedgerError::Unavailable(DisplayErrorContext(&e).to_string())
}

fn to_json<T: Serialize>(v: &T) -> Result<String, LedgerError> {
    serde_json::to_string(v).map_err(|e| LedgerError::Corrupt { what: "record".into(), reason: e.to_string() })
}

fn data<T: DeserializeOwned>(what: &str, item: &Item) -> Result<T, LedgerError> {
    let text = item
        .get("data")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| LedgerError::Corrupt { what: what.to_owned(), reason: "no data attribute".into() })?;
    serde_json::from_str(text).map_err(|e| LedgerError::Corrupt { what: what.to_owned(), reason: e.to_string() })
}

/// A document's record: the frozen `data` and, apart (so recording a step never rewrites the
/// document), its delivery `steps`.
fn invoice_of(item: &Item) -> Result<InvoiceRecord, LedgerError> {
    let mut rec: InvoiceRecord = data("invoice", item)?;
    if let Some(steps) = item.get("steps").and_then(|v| v.as_s().ok()) {
        rec.steps = Some(
            serde_json::from_str(steps)
                .map_err(|e| LedgerError::Corrupt { what: "document steps".into(), reason: e.to_string() })?,
        );
    }
    Ok(rec)
}

fn number_of(item: &Item, name: &str) -> u64 {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([("PK".to_owned(), s(pk)), ("SK".to_owned(), s(sk))])
}

fn micros(t: OffsetDateTime) -> u64 {
    (t.unix_timestamp_nanos() / 1000).max(0) as u64
}

impl DynamoLedger {
    pub fn new(client: Client, table: impl Into<String>) -> DynamoLedger {
        DynamoLedger { client, table: table.into() }
    }

    /// Creates the table with its three indexes (tests and first-time set-up; the SAM template
    /// declares the same table for production).
    pub async fn create_table(client: &Client, table: &str) -> Result<(), LedgerError> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(unavailable)
        };
        let key_el = |name: &str, kind: KeyType| {
            KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(unavailable)
        };
        let gsi = |name: &str, pk: &str, sk: &str| -> Result<GlobalSecondaryIndex, LedgerError> {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key_el(pk, KeyType::Hash)?)
                .key_schema(key_el(sk, KeyType::Range)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .map_err(unavailable)
        };
        let mut req = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key_el("PK", KeyType::Hash)?)
            .key_schema(key_el("SK", KeyType::Range)?)
            .global_secondary_indexes(gsi(table::ACTIVE_SELLERS, "GSI1PK", "GSI1SK")?)
            .global_secondary_indexes(gsi(table::ORDER_SELLER, "GSI2PK", "GSI2SK")?)
            .global_secondary_indexes(gsi(table::PENDING_IMPORTS, "GSI3PK", "GSI3SK")?);
        for a in ["PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK"] {
            req = req.attribute_definitions(attr(a)?);
        }
        req.send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, LedgerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    /// Every item of a partition whose sort key starts with `prefix` (all pages).
    async fn query_prefix(
        &self,
        pk: &str,
        prefix: &str,
        newest_first: bool,
        limit: Option<i32>,
    ) -> Result<Vec<Item>, LedgerError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(if prefix.is_empty() {
                    "PK = :pk"
                } else {
                    "PK = :pk AND begins_with(SK, :prefix)"
                })
                .expression_attribute_values(":pk", s(pk));
            if !prefix.is_empty() {
                query = query.expression_attribute_values(":prefix", s(prefix));
            }
            let out = query
                .scan_index_forward(!newest_first)
                .consistent_read(true)
                .set_limit(limit)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if limit.is_none_or(|l| (items.len() as i32) < l) => start = Some(k),
                _ => break,
            }
        }
        Ok(items)
    }

    async fn query_index(&self, index: &str, hash_attr: &str, value: &str) -> Result<Vec<Item>, LedgerError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#h = :v")
                .expression_attribute_names("#h", hash_attr)
                .expression_attribute_values(":v", s(value))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        Ok(items)
    }

    /// Lets an address go if `me` holds it.
    async fn release_email(&self, claim: &str, me: &str) -> Result<(), LedgerError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(claim, table::OWNER)))
            .condition_expression("sellerId = :me")
            .expression_attribute_values(":me", s(me))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Every attribute value of every item, as text (tests look for secrets in clear).
    pub async fn raw_dump(&self) -> Result<Vec<u8>, LedgerError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in page.items.unwrap_or_default() {
                for v in item.values() {
                    match v {
                        AttributeValue::S(t) | AttributeValue::N(t) => out.extend(t.as_bytes()),
                        AttributeValue::B(b) => out.extend(b.as_ref()),
                        other => out.extend(format!("{other:?}").into_bytes()),
                    }
                }
            }
            match page.last_evaluated_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        Ok(out)
    }

    fn invoice_put(pk: &str, record: &InvoiceRecord, table_name: &str) -> Result<TransactWriteItem, LedgerError> {
        let mut item = key(pk, &table::invoice(record.invoice.number.as_str()));
        item.insert("data".into(), s(to_json(record)?));
        item.insert("issueDate".into(), s(marketbill_domain::calendar::iso_date(record.invoice.issue_date)));
        let put = Put::builder()
            .table_name(table_name)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(unavailable)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn series_update(
        pk: &str,
        series: &Series,
        current: u64,
        table_name: &str,
    ) -> Result<TransactWriteItem, LedgerError> {
        let mut update = Update::builder()
            .table_name(table_name)
            .set_key(Some(key(pk, &table::series(&series.key()))))
            .update_expression("SET n = :next")
            .expression_attribute_values(":next", n(current + 1));
        update = if current == 0 {
            update.condition_expression("attribute_not_exists(n)")
        } else {
            update.condition_expression("n = :current").expression_attribute_values(":current", n(current))
        };
        Ok(TransactWriteItem::builder().update(update.build().map_err(unavailable)?).build())
    }

    fn usage_update(pk: &str, at: OffsetDateTime, table_name: &str) -> Result<TransactWriteItem, LedgerError> {
        let update = Update::builder()
            .table_name(table_name)
            .set_key(Some(key(pk, &table::usage(YearMonth::in_paris(at)))))
            .update_expression("ADD n :one")
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(unavailable)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The write of one step of an issued order: its number must match and its stage never
    /// goes back.
    fn step_update(pk: &str, record: &OrderRecord, table_name: &str) -> Result<TransactWriteItem, LedgerError> {
        let update = Update::builder()
            .table_name(table_name)
            .set_key(Some(key(pk, &table::order(&record.order_id))))
            .update_expression(STEP_UPDATE)
            .condition_expression(STEP_CONDITION)
            .expression_attribute_names("#d", "data")
            .set_expression_attribute_values(Some(step_values(record)?))
            .build()
            .map_err(unavailable)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn order_update(
        pk: &str,
        seller: &SellerId,
        record: &OrderRecord,
        condition: &str,
        current: Option<&str>,
        table_name: &str,
    ) -> Result<TransactWriteItem, LedgerError> {
        let mut update = Update::builder()
            .table_name(table_name)
            .set_key(Some(key(pk, &table::order(&record.order_id))))
            .update_expression(
                "SET #d = :data, invoiceNumber = :number, GSI2PK = :g2pk, GSI2SK = :g2sk, stageRank = :rank",
            )
            .expression_attribute_names("#d", "data")
            .expression_attribute_values(":data", s(to_json(record)?))
            .expression_attribute_values(":rank", n(record.progress()))
            .expression_attribute_values(
                ":number",
                s(record.number.as_ref().map(|x| x.to_string()).unwrap_or_default()),
            )
            .expression_attribute_values(":g2pk", s(table::order(&record.order_id)))
            .expression_attribute_values(":g2sk", s(seller.as_str()))
            .condition_expression(condition);
        if let Some(c) = current {
            update = update.expression_attribute_values(":current", s(c));
        }
        Ok(TransactWriteItem::builder().update(update.build().map_err(unavailable)?).build())
    }

    /// Runs a transaction built from fresh reads, retrying when a concurrent writer got there
    /// first. `build` returns the items and the index of the order item in them.
    async fn transact<T: Send>(&self, series_name: &str, mut build: impl AsyncBuild<T>) -> Result<T, LedgerError> {
        for attempt in 1..=MAX_TRANSACTION_TRIES {
            let pause = Duration::from_millis(fastrand::u64(2..(5 + u64::from(attempt) * 3)));
            let (items, order_index, value) = match build.build(self).await {
                Ok(built) => built,
                // A read failed on the way (throttling, a 5xx): try again, within the bound.
                Err(LedgerError::Unavailable(reason)) if attempt < MAX_TRANSACTION_TRIES => {
                    tracing::debug!(attempt, %reason, "read before the issue transaction failed; retrying");
                    tokio::time::sleep(pause).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            // The SDK fills the idempotency token, so its own retries of this call cannot apply it twice.
            match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
                Ok(_) => return Ok(value),
                Err(err) => {
                    let transient = matches!(
                        err,
                        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
                    ) || err.raw_response().is_some_and(|r| r.status().as_u16() >= 500);
                    if transient {
                        // If it was applied after all, the next build sees the order issued.
                        tracing::debug!(attempt, error = %DisplayErrorContext(&err), "issue transaction failed in transit; retrying");
                        tokio::time::sleep(pause).await;
                        continue;
                    }
                    let service = err.into_service_error();
                    let reasons: Vec<Option<String>> = match &service {
                        TransactWriteItemsError::TransactionCanceledException(e) => {
                            e.cancellation_reasons().iter().map(|r| r.code().map(str::to_owned)).collect()
                        }
                        _ => Vec::new(),
                    };
                    let retryable = matches!(
                        service,
                        TransactWriteItemsError::TransactionCanceledException(_)
                            | TransactWriteItemsError::TransactionInProgressException(_)
                            | TransactWriteItemsError::ProvisionedThroughputExceededException(_)
                            | TransactWriteItemsError::RequestLimitExceeded(_)
                            | TransactWriteItemsError::InternalServerError(_)
                    ) || service.code() == Some("TransactionConflict");
                    if !retryable {
                        return Err(unavailable(service));
                    }
                    // The order's own condition failed: it has an invoice now (or lost it).
                    if reasons.get(order_index).and_then(|r| r.as_deref()) == Some("ConditionalCheckFailed") {
                        return Err(build.order_conflict(self).await);
                    }
                    tracing::debug!(attempt, series = series_name, ?reasons, "issue transaction cancelled; retrying");
                    tokio::time::sleep(pause).await;
                }
            }
        }
        Err(LedgerError::Contention { series: series_name.to_owned(), attempts: MAX_TRANSACTION_TRIES })
    }

    async fn order_number(&self, seller: &SellerId, order_id: &OrderId) -> Result<Option<String>, LedgerError> {
        Ok(self
            .get(&table::pk(seller), &table::order(order_id))
            .await?
            .and_then(|i| i.get("invoiceNumber").and_then(|v| v.as_s().ok()).cloned())
            .filter(|n| !n.is_empty()))
    }
}

/// How a retried transaction is rebuilt from fresh reads.
#[async_trait]
trait AsyncBuild<T: Send>: Send {
    async fn build(&mut self, ledger: &DynamoLedger) -> Result<(Vec<TransactWriteItem>, usize, T), LedgerError>;
    async fn order_conflict(&mut self, ledger: &DynamoLedger) -> LedgerError;
}

struct IssueBuild {
    seller: SellerId,
    order_id: OrderId,
    draft: Draft,
    email_hash: Option<String>,
    at: OffsetDateTime,
}

fn numbered(draft: &Draft, counter: u64) -> Result<Invoice, LedgerError> {
    let number = draft
        .series
        .number(counter)
        .map_err(|e| LedgerError::Corrupt { what: "series".into(), reason: e.to_string() })?;
    Ok(draft.clone().finalize(number))
}

#[async_trait]
impl AsyncBuild<Invoice> for IssueBuild {
    async fn build(&mut self, l: &DynamoLedger) -> Result<(Vec<TransactWriteItem>, usize, Invoice), LedgerError> {
        let pk = table::pk(&self.seller);
        let existing = l.get_order(&self.seller, &self.order_id).await?;
        if let Some(number) = existing.as_ref().and_then(|e| e.number.clone()) {
            return Err(LedgerError::AlreadyIssued { order_id: self.order_id.clone(), number: number.to_string() });
        }
        let hash = self.email_hash.clone().or_else(|| existing.and_then(|e| e.buyer_email_hash));
        let current = l.series_counter(&self.seller, &self.draft.series).await?;
        let invoice = numbered(&self.draft, current + 1)?;
        let record = InvoiceRecord::new(&self.seller, &self.order_id, invoice.clone(), self.at);
        let order = OrderRecord::issued(&self.order_id, &invoice.number, self.at).with_buyer(hash.as_deref());
        let items = vec![
            DynamoLedger::series_update(&pk, &self.draft.series, current, &l.table)?,
            DynamoLedger::invoice_put(&pk, &record, &l.table)?,
            DynamoLedger::order_update(
                &pk,
                &self.seller,
                &order,
                "attribute_not_exists(invoiceNumber)",
                None,
                &l.table,
            )?,
            DynamoLedger::usage_update(&pk, self.at, &l.table)?,
        ];
        Ok((items, 2, invoice))
    }

    async fn order_conflict(&mut self, l: &DynamoLedger) -> LedgerError {
        match l.order_number(&self.seller, &self.order_id).await {
            Ok(Some(number)) => LedgerError::AlreadyIssued { order_id: self.order_id.clone(), number },
            Ok(None) => LedgerError::Contention { series: self.draft.series.key(), attempts: 1 },
            Err(e) => e,
        }
    }
}

/// A credit note for part of an invoice: its number, the document, and the invoice's
/// credited state, whose `seq` must still be the one the credit note was computed from.
struct CreditBuild {
    seller: SellerId,
    order_id: OrderId,
    corrects: InvoiceNumber,
    draft: Draft,
    before: Credited,
    after: Credited,
    at: OffsetDateTime,
}

impl DynamoLedger {
    fn credited_update(
        pk: &str,
        number: &InvoiceNumber,
        before: &Credited,
        after: &Credited,
        table_name: &str,
    ) -> Result<TransactWriteItem, LedgerError> {
        let mut update = Update::builder()
            .table_name(table_name)
            .set_key(Some(key(pk, &table::credited(number.as_str()))))
            .update_expression("SET #d = :data, seq = :next")
            .expression_attribute_names("#d", "data")
            .expression_attribute_values(":data", s(to_json(after)?))
            .expression_attribute_values(":next", n(after.seq));
        update = if before.seq == 0 {
            update.condition_expression("attribute_not_exists(seq)")
        } else {
            update.condition_expression("seq = :seq").expression_attribute_values(":seq", n(before.seq))
        };
        Ok(TransactWriteItem::builder().update(update.build().map_err(unavailable)?).build())
    }
}

#[async_trait]
impl AsyncBuild<Invoice> for CreditBuild {
    async fn build(&mut self, l: &DynamoLedger) -> Result<(Vec<TransactWriteItem>, usize, Invoice), LedgerError> {
        let pk = table::pk(&self.seller);
        let counter = l.series_counter(&self.seller, &self.draft.series).await?;
        let cn = numbered(&self.draft, counter + 1)?;
        let record = InvoiceRecord::new(&self.seller, &self.order_id, cn.clone(), self.at);
        let items = vec![
            DynamoLedger::series_update(&pk, &self.draft.series, counter, &l.table)?,
            DynamoLedger::invoice_put(&pk, &record, &l.table)?,
            DynamoLedger::credited_update(&pk, &self.corrects, &self.before, &self.after, &l.table)?,
        ];
        Ok((items, 2, cn))
    }

    async fn order_conflict(&mut self, _l: &DynamoLedger) -> LedgerError {
        LedgerError::CreditConflict { number: self.corrects.clone() }
    }
}

struct CorrectionBuild {
    seller: SellerId,
    order_id: OrderId,
    credit: Draft,
    replacement: Draft,
    at: OffsetDateTime,
}

#[async_trait]
impl AsyncBuild<(Invoice, Invoice)> for CorrectionBuild {
    async fn build(
        &mut self,
        l: &DynamoLedger,
    ) -> Result<(Vec<TransactWriteItem>, usize, (Invoice, Invoice)), LedgerError> {
        let pk = table::pk(&self.seller);
        let existing = l.get_order(&self.seller, &self.order_id).await?;
        let hash = existing.as_ref().and_then(|e| e.buyer_email_hash.clone());
        let current_number = existing
            .and_then(|e| e.number)
            .map(|n| n.to_string())
            .ok_or_else(|| LedgerError::NotIssued { order_id: self.order_id.clone() })?;
        if let DocumentKind::CreditNote { corrects } = &self.credit.kind
            && corrects.number.as_str() != current_number
        {
            return Err(LedgerError::AlreadyIssued { order_id: self.order_id.clone(), number: current_number });
        }
        let cn_counter = l.series_counter(&self.seller, &self.credit.series).await?;
        let inv_counter = l.series_counter(&self.seller, &self.replacement.series).await?;
        if self.credit.series == self.replacement.series {
            return Err(LedgerError::Corrupt {
                what: "series".into(),
                reason: "credit notes need their own series".into(),
            });
        }
        let cn = numbered(&self.credit, cn_counter + 1)?;
        let inv = numbered(&self.replacement, inv_counter + 1)?;
        let rec = |invoice: &Invoice| InvoiceRecord::new(&self.seller, &self.order_id, invoice.clone(), self.at);
        let order = OrderRecord::issued(&self.order_id, &inv.number, self.at).with_buyer(hash.as_deref());
        // A correction cancels the whole invoice: only one no credit note has touched.
        let current: InvoiceNumber = current_number.parse().map_err(|e: marketbill_domain::ids::IdError| {
            LedgerError::Corrupt { what: "order".into(), reason: e.to_string() }
        })?;
        let original = l
            .get_invoice(&self.seller, &current)
            .await?
            .ok_or(LedgerError::UnknownDocument { number: current.clone() })?;
        if l.credited(&self.seller, &current).await? != Credited::default() {
            return Err(LedgerError::CreditConflict { number: current });
        }
        let whole = Credited::whole(&original.invoice);
        let items = vec![
            DynamoLedger::series_update(&pk, &self.credit.series, cn_counter, &l.table)?,
            DynamoLedger::series_update(&pk, &self.replacement.series, inv_counter, &l.table)?,
            DynamoLedger::invoice_put(&pk, &rec(&cn), &l.table)?,
            DynamoLedger::invoice_put(&pk, &rec(&inv), &l.table)?,
            DynamoLedger::order_update(
                &pk,
                &self.seller,
                &order,
                "invoiceNumber = :current",
                Some(&current_number),
                &l.table,
            )?,
            DynamoLedger::usage_update(&pk, self.at, &l.table)?,
            DynamoLedger::credited_update(&pk, &current, &Credited::default(), &whole, &l.table)?,
        ];
        Ok((items, 4, (cn, inv)))
    }

    async fn order_conflict(&mut self, l: &DynamoLedger) -> LedgerError {
        match l.order_number(&self.seller, &self.order_id).await {
            Ok(Some(number)) => LedgerError::AlreadyIssued { order_id: self.order_id.clone(), number },
            Ok(None) => LedgerError::NotIssued { order_id: self.order_id.clone() },
            Err(e) => e,
        }
    }
}

#[async_trait]
impl SellerLedger for DynamoLedger {
    async fn put_seller(&self, seller: &SellerRecord) -> Result<(), LedgerError> {
        let pk = table::pk(&seller.seller_id);
        let mut item = key(&pk, table::PROFILE);
        item.insert("data".into(), s(to_json(seller)?));
        let status = match seller.status {
            SellerStatus::Active => table::ACTIVE,
            SellerStatus::Unsubscribed { .. } => table::UNSUBSCRIBED,
        };
        item.insert("GSI1PK".into(), s(status));
        item.insert("GSI1SK".into(), s(seller.seller_id.as_str()));
        let me = seller.seller_id.as_str();
        let claim = table::email(&seller.profile.email);
        let old = match self.get(&pk, table::PROFILE).await? {
            Some(i) => Some(table::email(&data::<SellerRecord>("seller", &i)?.profile.email)),
            None => None,
        };
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(unavailable)?;
        // The address, for this account if no account holds it.
        let mut claim_item = key(&claim, table::OWNER);
        claim_item.insert("sellerId".into(), s(me));
        let claimed = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(claim_item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match claimed {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {}
            Err(e) => return Err(unavailable(e)),
        }
        if let Some(old) = old.filter(|o| *o != claim) {
            self.release_email(&old, me).await?;
        }
        Ok(())
    }
    async fn claim_email(&self, seller: &SellerId, email: &str) -> Result<(), LedgerError> {
        let mut item = key(&table::email(email), table::OWNER);
        item.insert("sellerId".into(), s(seller.as_str()));
        let claimed = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK) OR sellerId = :me")
            .expression_attribute_values(":me", s(seller.as_str()))
            .send()
            .await;
        match claimed {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {
                Err(LedgerError::EmailTaken { email: email.to_owned() })
            }
            Err(e) => Err(unavailable(e)),
        }
    }
    async fn seller_by_email(&self, email: &str) -> Result<Option<SellerId>, LedgerError> {
        let item = self.get(&table::email(email), table::OWNER).await?;
        Ok(item.and_then(|i| i.get("sellerId").and_then(|v| v.as_s().ok()).and_then(|id| id.parse().ok())))
    }
    async fn get_seller(&self, id: &SellerId) -> Result<Option<SellerRecord>, LedgerError> {
        self.get(&table::pk(id), table::PROFILE).await?.map(|i| data("seller", &i)).transpose()
    }
    async fn active_sellers(&self) -> Result<Vec<SellerId>, LedgerError> {
        let items = self.query_index(table::ACTIVE_SELLERS, "GSI1PK", table::ACTIVE).await?;
        let mut ids: Vec<SellerId> = items
            .iter()
            .filter_map(|i| i.get("PK").and_then(|v| v.as_s().ok()))
            .filter_map(|pk| table::seller_of_pk(pk))
            .collect();
        ids.sort();
        Ok(ids)
    }
    async fn unsubscribed_sellers(&self) -> Result<Vec<SellerRecord>, LedgerError> {
        let items = self.query_index(table::ACTIVE_SELLERS, "GSI1PK", table::UNSUBSCRIBED).await?;
        items.iter().map(|i| data("seller", i)).collect()
    }
    async fn delete_seller(&self, id: &SellerId) -> Result<u64, LedgerError> {
        let pk = table::pk(id);
        if let Some(profile) = self.get(&pk, table::PROFILE).await? {
            self.release_email(&table::email(&data::<SellerRecord>("seller", &profile)?.profile.email), id.as_str())
                .await?;
        }
        let items = self.query_prefix(&pk, "", false, None).await?;
        let mut removed = 0u64;
        for chunk in items.chunks(25) {
            let mut requests: Vec<WriteRequest> = Vec::with_capacity(chunk.len());
            for i in chunk {
                let sk = i.get("SK").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                let delete = DeleteRequest::builder().set_key(Some(key(&pk, &sk))).build().map_err(unavailable)?;
                requests.push(WriteRequest::builder().delete_request(delete).build());
            }
            let mut pending = Some(HashMap::from([(self.table.clone(), requests)]));
            for _ in 0..20 {
                let Some(batch) = pending.take().filter(|b| !b.is_empty()) else { break };
                let out =
                    self.client.batch_write_item().set_request_items(Some(batch)).send().await.map_err(unavailable)?;
                pending = out.unprocessed_items.filter(|u| u.values().any(|v| !v.is_empty()));
                if pending.is_some() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            removed += chunk.len() as u64;
        }
        Ok(removed)
    }
}

#[async_trait]
impl OrderLedger for DynamoLedger {
    async fn get_order(&self, seller: &SellerId, order_id: &OrderId) -> Result<Option<OrderRecord>, LedgerError> {
        self.get(&table::pk(seller), &table::order(order_id)).await?.map(|i| data("order", &i)).transpose()
    }
    async fn get_orders(
        &self,
        seller: &SellerId,
        order_ids: &[OrderId],
    ) -> Result<std::collections::HashMap<OrderId, OrderRecord>, LedgerError> {
        let pk = table::pk(seller);
        let mut out = std::collections::HashMap::new();
        // BatchGetItem takes 100 keys; what it leaves unprocessed is asked for again.
        for chunk in order_ids.chunks(100) {
            let mut keys: Vec<Item> = chunk.iter().map(|o| key(&pk, &table::order(o))).collect();
            for _ in 0..10 {
                if keys.is_empty() {
                    break;
                }
                let request = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                    .set_keys(Some(keys.clone()))
                    .consistent_read(true)
                    .build()
                    .map_err(unavailable)?;
                let got = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(unavailable)?;
                for item in got.responses().and_then(|r| r.get(&self.table)).into_iter().flatten() {
                    let rec: OrderRecord = data("order", item)?;
                    out.insert(rec.order_id.clone(), rec);
                }
                keys = got
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
            }
            if !keys.is_empty() {
                return Err(LedgerError::Unavailable("the ledger kept some order records back".into()));
            }
        }
        Ok(out)
    }
    async fn record_skip(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        refusal: &Refusal,
        email_hash: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<(), LedgerError> {
        let record = OrderRecord::skipped(order_id, refusal.clone(), at).with_buyer(email_hash);
        let mut item = key(&table::pk(seller), &table::order(order_id));
        item.insert("data".into(), s(to_json(&record)?));
        item.insert("GSI2PK".into(), s(table::order(order_id)));
        item.insert("GSI2SK".into(), s(seller.as_str()));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(invoiceNumber)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Already invoiced: a refusal never overwrites an invoice.
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
    async fn update_order(&self, seller: &SellerId, record: &OrderRecord) -> Result<(), LedgerError> {
        // The stage never goes back (a concurrent run may be further along).
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&table::pk(seller), &table::order(&record.order_id))))
            .update_expression(STEP_UPDATE)
            .condition_expression(STEP_CONDITION)
            .expression_attribute_names("#d", "data")
            .set_expression_attribute_values(Some(step_values(record)?))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {
                match self.get_order(seller, &record.order_id).await? {
                    Some(now) if now.number.is_some() && now.number == record.number => {
                        Err(LedgerError::Superseded { order_id: record.order_id.clone(), stage: now.stage })
                    }
                    _ => Err(LedgerError::NotIssued { order_id: record.order_id.clone() }),
                }
            }
            Err(e) => Err(unavailable(e)),
        }
    }
    async fn update_orders(&self, seller: &SellerId, records: &[OrderRecord]) -> Result<Vec<OrderId>, LedgerError> {
        let mut superseded = Vec::new();
        // A transaction takes up to 100 items (DynamoDB's limit), each under its condition.
        for chunk in records.chunks(100) {
            let mut items = Vec::with_capacity(chunk.len());
            for record in chunk {
                items.push(Self::step_update(&table::pk(seller), record, &self.table)?);
            }
            if self.client.transact_write_items().set_transact_items(Some(items)).send().await.is_ok() {
                continue;
            }
            // Cancelled (an order moved on meanwhile, a conflict) or failed: one by one, which
            // names each refusal; a write already applied is applied again to the same effect.
            superseded.extend(update_each(self, seller, chunk).await?);
        }
        Ok(superseded)
    }
    async fn list_orders(&self, seller: &SellerId) -> Result<Vec<OrderRecord>, LedgerError> {
        let items = self.query_prefix(&table::pk(seller), "ORDER#", false, None).await?;
        items.iter().map(|i| data("order", i)).collect()
    }
    async fn unfinished_orders(&self, seller: &SellerId) -> Result<Vec<OrderRecord>, LedgerError> {
        let items = self.query_prefix(&table::pk(seller), "ORDER#", false, None).await?;
        let mut out = Vec::new();
        for i in &items {
            let o: OrderRecord = data("order", i)?;
            if o.is_open() {
                out.push(o);
            }
        }
        Ok(out)
    }
    async fn find_order_seller(&self, order_id: &OrderId) -> Result<Option<SellerId>, LedgerError> {
        let items = self.query_index(table::ORDER_SELLER, "GSI2PK", &table::order(order_id)).await?;
        Ok(items.first().and_then(|i| i.get("PK")).and_then(|v| v.as_s().ok()).and_then(|pk| table::seller_of_pk(pk)))
    }
}

#[async_trait]
impl IssuingLedger for DynamoLedger {
    async fn issue(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        draft: Draft,
        email_hash: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<Invoice, LedgerError> {
        let series = draft.series.key();
        let build = IssueBuild {
            seller: seller.clone(),
            order_id: order_id.clone(),
            draft,
            email_hash: email_hash.map(str::to_owned),
            at,
        };
        self.transact(&series, build).await
    }
    async fn issue_correction(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        credit_note: Draft,
        replacement: Draft,
        at: OffsetDateTime,
    ) -> Result<(Invoice, Invoice), LedgerError> {
        let series = credit_note.series.key();
        let build = CorrectionBuild {
            seller: seller.clone(),
            order_id: order_id.clone(),
            credit: credit_note,
            replacement,
            at,
        };
        self.transact(&series, build).await
    }
    async fn credited(&self, seller: &SellerId, invoice: &InvoiceNumber) -> Result<Credited, LedgerError> {
        Ok(self
            .get(&table::pk(seller), &table::credited(invoice.as_str()))
            .await?
            .map(|i| data("credited", &i))
            .transpose()?
            .unwrap_or_default())
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
        let DocumentKind::CreditNote { corrects } = &draft.kind else {
            return Err(LedgerError::Corrupt { what: "credit note".into(), reason: "the draft is an invoice".into() });
        };
        let series = draft.series.key();
        let build = CreditBuild {
            seller: seller.clone(),
            order_id: order_id.clone(),
            corrects: corrects.number.clone(),
            draft: draft.clone(),
            before: before.clone(),
            after: after.clone(),
            at,
        };
        self.transact(&series, build).await
    }
    async fn series_counter(&self, seller: &SellerId, series: &Series) -> Result<u64, LedgerError> {
        Ok(self.get(&table::pk(seller), &table::series(&series.key())).await?.map(|i| number_of(&i, "n")).unwrap_or(0))
    }
    async fn usage(&self, seller: &SellerId, month: YearMonth) -> Result<u64, LedgerError> {
        Ok(self.get(&table::pk(seller), &table::usage(month)).await?.map(|i| number_of(&i, "n")).unwrap_or(0))
    }
}

#[async_trait]
impl InvoiceLedger for DynamoLedger {
    async fn get_invoice(
        &self,
        seller: &SellerId,
        number: &InvoiceNumber,
    ) -> Result<Option<InvoiceRecord>, LedgerError> {
        self.get(&table::pk(seller), &table::invoice(number.as_str())).await?.map(|i| invoice_of(&i)).transpose()
    }
    async fn list_invoices(&self, seller: &SellerId, query: &InvoiceQuery) -> Result<InvoicePage, LedgerError> {
        let limit = query.limit.clamp(1, 1000);
        let low = match &query.after {
            // Just after `after`: its key followed by the smallest character.
            Some(after) => format!("{}\u{1}", table::invoice(after)),
            None => "INVOICE#".to_owned(),
        };
        let mut items = Vec::new();
        let mut next = None;
        let mut start: Option<Item> = None;
        'pages: loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND SK BETWEEN :lo AND :hi")
                .expression_attribute_values(":pk", s(table::pk(seller)))
                .expression_attribute_values(":lo", s(low.clone()))
                .expression_attribute_values(":hi", s("INVOICE$"))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for i in out.items.unwrap_or_default() {
                let rec = invoice_of(&i)?;
                if !invoice_matches(&rec, query) {
                    continue;
                }
                if items.len() == limit {
                    next = items.last().map(|r: &InvoiceRecord| r.invoice.number.to_string());
                    break 'pages;
                }
                items.push(rec);
            }
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        Ok(InvoicePage { items, next })
    }
    async fn set_documents(
        &self,
        seller: &SellerId,
        number: &InvoiceNumber,
        pdf: &StoredObject,
        xml: &StoredObject,
    ) -> Result<(), LedgerError> {
        let (pk, sk) = (table::pk(seller), table::invoice(number.as_str()));
        let item = self.get(&pk, &sk).await?.ok_or_else(|| LedgerError::UnknownDocument { number: number.clone() })?;
        let mut rec: InvoiceRecord = data("invoice", &item)?;
        rec.pdf = Some(pdf.clone());
        rec.xml = Some(xml.clone());
        // The invoice part is frozen; only the document fields change.
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&pk, &sk)))
            .update_expression("SET #d = :data")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#d", "data")
            .expression_attribute_values(":data", s(to_json(&rec)?))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
    async fn set_steps(
        &self,
        seller: &SellerId,
        number: &InvoiceNumber,
        steps: &DocumentSteps,
    ) -> Result<(), LedgerError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&table::pk(seller), &table::invoice(number.as_str()))))
            .update_expression("SET steps = :steps")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":steps", s(to_json(steps)?))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Err(LedgerError::UnknownDocument { number: number.clone() })
            }
            Err(e) => Err(unavailable(e)),
        }
    }
    async fn set_documents_and_step(
        &self,
        seller: &SellerId,
        pdf: &StoredObject,
        xml: &StoredObject,
        step: &OrderRecord,
    ) -> Result<(), LedgerError> {
        // Two writes, files first: a failure in between leaves the order one step behind, and
        // the next run stores again (the same bytes, under the same keys).
        self.set_documents(seller, issued_number(step)?, pdf, xml).await?;
        self.update_order(seller, step).await
    }
}

#[async_trait]
impl RunLedger for DynamoLedger {
    async fn watermark(&self, seller: &SellerId) -> Result<Option<OffsetDateTime>, LedgerError> {
        let item = self.get(&table::pk(seller), table::WATERMARK).await?;
        item.and_then(|i| i.get("at").and_then(|v| v.as_s().ok()).cloned())
            .map(|t| {
                OffsetDateTime::parse(&t, &Rfc3339)
                    .map_err(|e| LedgerError::Corrupt { what: "watermark".into(), reason: e.to_string() })
            })
            .transpose()
    }
    async fn advance_watermark(&self, seller: &SellerId, to: OffsetDateTime) -> Result<(), LedgerError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some({
                let mut item = key(&table::pk(seller), table::WATERMARK);
                item.insert("at".into(), s(to.to_offset(time::UtcOffset::UTC).format(&Rfc3339).unwrap_or_default()));
                item.insert("n".into(), n(micros(to)));
                item
            }))
            .condition_expression("attribute_not_exists(n) OR n < :to")
            .expression_attribute_values(":to", n(micros(to)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Already further: the watermark never goes back.
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
    async fn record_run(&self, seller: &SellerId, at: OffsetDateTime, run: &RunRecord) -> Result<(), LedgerError> {
        let mut item = key(
            &table::pk(seller),
            &table::run(&at.to_offset(time::UtcOffset::UTC).format(&Rfc3339).unwrap_or_default()),
        );
        item.insert("data".into(), s(to_json(run)?));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(unavailable)?;
        Ok(())
    }
    async fn runs(&self, seller: &SellerId, limit: usize) -> Result<Vec<RunRecord>, LedgerError> {
        let items = self.query_prefix(&table::pk(seller), "RUN#", true, Some(limit.clamp(1, 1000) as i32)).await?;
        items.iter().take(limit).map(|i| data("run", i)).collect()
    }
}

#[async_trait]
impl ImportLedger for DynamoLedger {
    async fn put_import(&self, seller: &SellerId, import: &ImportRecord) -> Result<(), LedgerError> {
        let mut item = key(&table::pk(seller), &table::import(&import.import_id));
        item.insert("data".into(), s(to_json(import)?));
        if import.is_pending() {
            item.insert("GSI3PK".into(), s(table::PENDING));
            item.insert("GSI3SK".into(), s(format!("{seller}#{}", import.import_id)));
        }
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(unavailable)?;
        Ok(())
    }
    async fn pending_imports(&self) -> Result<Vec<(SellerId, ImportRecord)>, LedgerError> {
        let items = self.query_index(table::PENDING_IMPORTS, "GSI3PK", table::PENDING).await?;
        let mut out = Vec::new();
        for i in &items {
            if let Some(id) = i.get("PK").and_then(|v| v.as_s().ok()).and_then(|pk| table::seller_of_pk(pk)) {
                out.push((id, data("import", i)?));
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl RequestLedger for DynamoLedger {
    async fn put_request(&self, seller: &SellerId, request: &BuyerRequestRecord) -> Result<(), LedgerError> {
        let mut item = key(&table::pk(seller), &table::request(&request.order_id, &request.request_id));
        item.insert("data".into(), s(to_json(request)?));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(unavailable)?;
        Ok(())
    }
    async fn requests_for_order(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
    ) -> Result<Vec<BuyerRequestRecord>, LedgerError> {
        let items = self.query_prefix(&table::pk(seller), &table::request(order_id, ""), false, None).await?;
        items.iter().map(|i| data("request", i)).collect()
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
        let item_key = key(&table::pk(seller), &table::slot(subject, day));
        // Every attempt counts (an atomic counter)…
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key.clone()))
            .update_expression("ADD n :one")
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(unavailable)?;
        let count = counted.attributes().map(|a| number_of(a, "n")).unwrap_or(u64::MAX);
        if count > u64::from(limit) {
            return Ok(RequestSlot::LimitReached);
        }
        // …and one conditional write takes the slot: of simultaneous requests, one succeeds.
        let taken = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key))
            .update_expression("SET busyUntil = :until")
            .condition_expression("attribute_not_exists(busyUntil) OR busyUntil <= :now")
            .expression_attribute_values(":until", AttributeValue::N(until.unix_timestamp().to_string()))
            .expression_attribute_values(":now", AttributeValue::N(at.unix_timestamp().to_string()))
            .send()
            .await;
        match taken {
            Ok(_) => Ok(RequestSlot::Taken),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {
                Ok(RequestSlot::Busy)
            }
            Err(e) => Err(unavailable(e)),
        }
    }
    async fn free_slot(&self, seller: &SellerId, subject: &str, day: &str) -> Result<(), LedgerError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&table::pk(seller), &table::slot(subject, day))))
            .update_expression("SET busyUntil = :zero")
            .expression_attribute_values(":zero", n(0))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl TransmissionLedger for DynamoLedger {
    async fn put_transmission(&self, seller: &SellerId, t: &TransmissionRecord) -> Result<(), LedgerError> {
        let mut item = key(&table::pk(seller), &table::transmission(&t.tracking_id));
        item.insert("data".into(), s(to_json(t)?));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(unavailable)?;
        Ok(())
    }
    async fn transmissions(&self, seller: &SellerId) -> Result<Vec<TransmissionRecord>, LedgerError> {
        let items = self.query_prefix(&table::pk(seller), "TX#", false, None).await?;
        items.iter().map(|i| data("transmission", i)).collect()
    }
    async fn platform_cursor(&self, seller: &SellerId) -> Result<Option<String>, LedgerError> {
        let item = self.get(&table::pk(seller), table::PLATFORM_CURSOR).await?;
        item.map(|i| data("cursor", &i)).transpose()
    }
    async fn set_platform_cursor(&self, seller: &SellerId, cursor: &str) -> Result<(), LedgerError> {
        let mut item = key(&table::pk(seller), table::PLATFORM_CURSOR);
        item.insert("data".into(), s(to_json(&cursor)?));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl KeyLedger for DynamoLedger {
    async fn claim_key(
        &self,
        seller: &SellerId,
        key_digest: &str,
        fingerprint: &str,
        at: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<KeyClaim, LedgerError> {
        let (pk, sk) = (table::pk(seller), table::request_key(key_digest));
        let record = KeyRecord::claimed(fingerprint, at, until);
        let now = at.unix_timestamp();
        let mut item = key(&pk, &sk);
        item.insert("data".into(), s(to_json(&record)?));
        item.insert("fingerprint".into(), s(fingerprint));
        item.insert("leaseUntil".into(), AttributeValue::N(record.lease_until.to_string()));
        item.insert("expiresAt".into(), AttributeValue::N(record.expires_at.to_string()));
        // One conditional write: a free key, one past its end, or an unanswered claim of the
        // same request whose lease ran out.
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(PK) OR expiresAt <= :now \
                 OR (attribute_not_exists(answer) AND leaseUntil <= :now AND fingerprint = :fp)",
            )
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(":fp", s(fingerprint))
            .send()
            .await;
        match put {
            Ok(_) => Ok(KeyClaim::Claimed),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {
                let Some(found) = self.get(&pk, &sk).await? else { return Ok(KeyClaim::InProgress) };
                let mut existing: KeyRecord = data("key", &found)?;
                existing.answer = found.get("answer").and_then(|v| v.as_s().ok()).cloned();
                // What blocked the claim (never `Claimed`: the condition said so).
                Ok(match KeyRecord::decide(Some(&existing), fingerprint, now) {
                    KeyClaim::Claimed => KeyClaim::InProgress,
                    other => other,
                })
            }
            Err(e) => Err(unavailable(e)),
        }
    }
    async fn finish_key(&self, seller: &SellerId, key_digest: &str, answer: &str) -> Result<(), LedgerError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&table::pk(seller), &table::request_key(key_digest))))
            .update_expression("SET answer = :a")
            .expression_attribute_values(":a", s(answer))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
    async fn release_key(&self, seller: &SellerId, key_digest: &str) -> Result<(), LedgerError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(&table::pk(seller), &table::request_key(key_digest))))
            .condition_expression("attribute_not_exists(answer)")
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}
