//! The ledger on one DynamoDB table (design: "Table"). The atomic issue is one
//! `TransactWriteItems` with conditions: the series counter moves from the value read to the
//! next one, the invoice record must not exist, the order must not carry an invoice yet, and
//! the month's usage gets one more. A conflicting writer cancels the transaction; we read again
//! and retry, so no number is ever skipped or taken twice.
//!
//! This file holds the table, its keys and the shared reads and writes; each entity trait of
//! the ledger port has its own file: `sellers`, `orders`, `issuing`, `invoices`, `runs`,
//! `imports`, `requests`, `transmissions`, `keys`.

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
    RequestLedger, RequestSlot, RunLedger, SellerLedger, TransmissionLedger, UsageLedger, issued_number, update_each,
};
use marketbill_app::table;
use marketbill_domain::calendar::YearMonth;
use marketbill_domain::credit::Credited;
use marketbill_domain::{DocumentKind, Draft, Invoice, InvoiceNumber, OrderId, Refusal, Series};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

mod imports;
mod invoices;
mod issuing;
mod keys;
mod orders;
mod requests;
mod runs;
mod sellers;
mod transmissions;

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

/// A conditional write whose condition did not hold wrote nothing, which is what it is for
/// (the watermark never goes back, a refusal never overwrites an invoice, an answered key or
/// another account's address stays): done. Any other failure is the table's.
fn unless_condition_failed<O, E, R>(result: Result<O, SdkError<E, R>>) -> Result<(), LedgerError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error().and_then(ProvideErrorMetadata::code) == Some("ConditionalCheckFailedException") =>
        {
            Ok(())
        }
        Err(e) => Err(unavailable(e)),
    }
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
        unless_condition_failed(deleted)
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
