//! Flows handed to the approved platforms, and their cursor.

use super::*;

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
    async fn transmission(
        &self,
        seller: &SellerId,
        tracking_id: &str,
    ) -> Result<Option<TransmissionRecord>, LedgerError> {
        let item = self.get(&table::pk(seller), &table::transmission(tracking_id)).await?;
        item.map(|i| data("transmission", &i)).transpose()
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
