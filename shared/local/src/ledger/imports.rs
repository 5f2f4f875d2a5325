//! Marketplace imports and the pending index the tracker reads.

use super::*;

#[async_trait]
impl ImportLedger for SqliteLedger {
    async fn put_import(&self, seller: &SellerId, import: &ImportRecord) -> Result<(), LedgerError> {
        let (pk, sk, data) = (table::pk(seller), table::import(&import.import_id), to_json(import)?);
        let gsi3 = import.is_pending().then_some(table::PENDING);
        self.with(move |c| {
            exec(
                c,
                "INSERT INTO items (pk, sk, data, gsi3) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (pk, sk) DO UPDATE SET data = excluded.data, gsi3 = excluded.gsi3",
                params![pk, sk, data, gsi3],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
    async fn pending_imports(&self) -> Result<Vec<(SellerId, ImportRecord)>, LedgerError> {
        self.with(|c| {
            let mut stmt =
                c.prepare_cached("SELECT pk, data FROM items WHERE gsi3 = ?1 ORDER BY pk, sk").map_err(unavailable)?;
            let rows = stmt
                .query_map([table::PENDING], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(unavailable)?;
            let mut out = Vec::new();
            for row in rows {
                let (pk, data) = row.map_err(unavailable)?;
                if let Some(id) = table::seller_of_pk(&pk) {
                    out.push((id, from_json("import", &data)?));
                }
            }
            Ok(out)
        })
        .await
    }
}
