//! Buyer requests and the limited, one-at-a-time slots.

use super::*;

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
