//! Watermarks and the run history.

use super::*;

#[async_trait]
impl RunLedger for SqliteLedger {
    async fn watermark(&self, seller: &SellerId) -> Result<Option<OffsetDateTime>, LedgerError> {
        let pk = table::pk(seller);
        self.with(move |c| {
            let data = get_data(c, &pk, table::WATERMARK)?;
            data.map(|d| {
                let s: String = from_json("watermark", &d)?;
                OffsetDateTime::parse(&s, &Rfc3339)
                    .map_err(|e| LedgerError::Corrupt { what: "watermark".into(), reason: e.to_string() })
            })
            .transpose()
        })
        .await
    }
    async fn advance_watermark(&self, seller: &SellerId, to: OffsetDateTime) -> Result<(), LedgerError> {
        let pk = table::pk(seller);
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            let current = get_data(&tx, &pk, table::WATERMARK)?
                .and_then(|d| from_json::<String>("watermark", &d).ok())
                .and_then(|s| OffsetDateTime::parse(&s, &Rfc3339).ok());
            if current.is_none_or(|c| c < to) {
                exec(&tx,
                    "INSERT INTO items (pk, sk, data) VALUES (?1, ?2, ?3) ON CONFLICT (pk, sk) DO UPDATE SET data = excluded.data",
                    params![pk, table::WATERMARK, to_json(&rfc3339(to))?],
                )
                .map_err(unavailable)?;
            }
            tx.commit().map_err(unavailable)
        })
        .await
    }
    async fn record_run(&self, seller: &SellerId, at: OffsetDateTime, run: &RunRecord) -> Result<(), LedgerError> {
        let (pk, sk, data) = (table::pk(seller), table::run(&rfc3339(at)), to_json(run)?);
        self.with(move |c| {
            exec(c, "INSERT OR REPLACE INTO items (pk, sk, data) VALUES (?1, ?2, ?3)", params![pk, sk, data])
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
    async fn runs(&self, seller: &SellerId, limit: usize) -> Result<Vec<RunRecord>, LedgerError> {
        let pk = table::pk(seller);
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT data FROM items WHERE pk = ?1 AND sk >= 'RUN#' AND sk < 'RUN$' ORDER BY sk DESC LIMIT ?2",
                )
                .map_err(unavailable)?;
            let rows = stmt.query_map(params![pk, limit as i64], |r| r.get::<_, String>(0)).map_err(unavailable)?;
            rows.map(|d| from_json("run", &d.map_err(unavailable)?)).collect()
        })
        .await
    }
}
