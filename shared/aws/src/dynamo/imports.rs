//! Marketplace imports and the pending index the tracker reads.

use super::*;

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
