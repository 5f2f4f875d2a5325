//! Order records and their steps, singly and in batches.

use super::*;

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
        // Already invoiced: a refusal never overwrites an invoice.
        unless_condition_failed(result)
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
