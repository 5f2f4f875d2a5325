//! Flows handed to the approved platforms, and their cursor.

use super::*;

#[async_trait]
impl TransmissionLedger for SqliteLedger {
    async fn put_transmission(&self, seller: &SellerId, t: &TransmissionRecord) -> Result<(), LedgerError> {
        let (pk, sk, data) = (table::pk(seller), table::transmission(&t.tracking_id), to_json(t)?);
        self.with(move |c| {
            exec(c, "INSERT OR REPLACE INTO items (pk, sk, data) VALUES (?1, ?2, ?3)", params![pk, sk, data])
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
    async fn transmissions(&self, seller: &SellerId) -> Result<Vec<TransmissionRecord>, LedgerError> {
        let pk = table::pk(seller);
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT data FROM items WHERE pk = ?1 AND sk >= 'TX#' AND sk < 'TX$' ORDER BY sk")
                .map_err(unavailable)?;
            let rows = stmt.query_map(params![pk], |r| r.get::<_, String>(0)).map_err(unavailable)?;
            rows.map(|d| from_json("transmission", &d.map_err(unavailable)?)).collect()
        })
        .await
    }
    async fn transmission(
        &self,
        seller: &SellerId,
        tracking_id: &str,
    ) -> Result<Option<TransmissionRecord>, LedgerError> {
        let (pk, sk) = (table::pk(seller), table::transmission(tracking_id));
        self.with(move |c| get_data(c, &pk, &sk)?.map(|d| from_json("transmission", &d)).transpose()).await
    }
    async fn platform_cursor(&self, seller: &SellerId) -> Result<Option<String>, LedgerError> {
        let pk = table::pk(seller);
        self.with(move |c| get_data(c, &pk, table::PLATFORM_CURSOR)?.map(|d| from_json("cursor", &d)).transpose()).await
    }
    async fn set_platform_cursor(&self, seller: &SellerId, cursor: &str) -> Result<(), LedgerError> {
        let (pk, data) = (table::pk(seller), to_json(&cursor)?);
        self.with(move |c| {
            exec(
                c,
                "INSERT OR REPLACE INTO items (pk, sk, data) VALUES (?1, ?2, ?3)",
                params![pk, table::PLATFORM_CURSOR, data],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
}
