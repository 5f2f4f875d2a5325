//! Watermarks and the run history.

use super::*;

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
        // Already further: the watermark never goes back.
        unless_condition_failed(result)
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
