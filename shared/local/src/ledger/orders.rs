//! Order records and their steps, singly and in batches.

use super::*;

#[async_trait]
impl OrderLedger for SqliteLedger {
    async fn get_order(&self, seller: &SellerId, order_id: &OrderId) -> Result<Option<OrderRecord>, LedgerError> {
        let (pk, sk) = (table::pk(seller), table::order(order_id));
        self.with(move |c| get_data(c, &pk, &sk)?.map(|d| from_json("order", &d)).transpose()).await
    }
    async fn get_orders(
        &self,
        seller: &SellerId,
        order_ids: &[OrderId],
    ) -> Result<std::collections::HashMap<OrderId, OrderRecord>, LedgerError> {
        let pk = table::pk(seller);
        let keys: Vec<String> = order_ids.iter().map(table::order).collect();
        self.with(move |c| {
            let mut out = std::collections::HashMap::new();
            let mut stmt = c.prepare_cached("SELECT data FROM items WHERE pk = ?1 AND sk = ?2").map_err(unavailable)?;
            for sk in &keys {
                let data: Option<String> =
                    stmt.query_row(params![pk, sk], |r| r.get(0)).optional().map_err(unavailable)?;
                if let Some(d) = data {
                    let rec: OrderRecord = from_json("order", &d)?;
                    out.insert(rec.order_id.clone(), rec);
                }
            }
            Ok(out)
        })
        .await
    }
    async fn record_skip(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        refusal: &Refusal,
        email_hash: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<(), LedgerError> {
        let pk = table::pk(seller);
        let record = OrderRecord::skipped(order_id, refusal.clone(), at).with_buyer(email_hash);
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            let existing: Option<OrderRecord> =
                get_data(&tx, &pk, &table::order(&record.order_id))?.map(|d| from_json("order", &d)).transpose()?;
            if existing.as_ref().is_none_or(|e| e.number.is_none()) {
                put_order(&tx, &pk, &record)?;
            }
            tx.commit().map_err(unavailable)
        })
        .await
    }
    async fn update_order(&self, seller: &SellerId, record: &OrderRecord) -> Result<(), LedgerError> {
        let pk = table::pk(seller);
        let record = record.clone();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            step_order(&tx, &pk, &record)?;
            tx.commit().map_err(unavailable)
        })
        .await
    }
    async fn update_orders(&self, seller: &SellerId, records: &[OrderRecord]) -> Result<Vec<OrderId>, LedgerError> {
        let pk = table::pk(seller);
        let records = records.to_vec();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            let mut superseded = Vec::new();
            for record in &records {
                match step_order(&tx, &pk, record) {
                    Ok(()) => {}
                    Err(LedgerError::Superseded { .. }) => superseded.push(record.order_id.clone()),
                    Err(e) => return Err(e),
                }
            }
            tx.commit().map_err(unavailable)?;
            Ok(superseded)
        })
        .await
    }
    async fn list_orders(&self, seller: &SellerId) -> Result<Vec<OrderRecord>, LedgerError> {
        let pk = table::pk(seller);
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT data FROM items WHERE pk = ?1 AND sk >= 'ORDER#' AND sk < 'ORDER$' ORDER BY sk")
                .map_err(unavailable)?;
            let rows = stmt.query_map([pk], |r| r.get::<_, String>(0)).map_err(unavailable)?;
            rows.map(|d| from_json("order", &d.map_err(unavailable)?)).collect()
        })
        .await
    }
    async fn unfinished_orders(&self, seller: &SellerId) -> Result<Vec<OrderRecord>, LedgerError> {
        let pk = table::pk(seller);
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT data FROM items WHERE pk = ?1 AND sk >= 'ORDER#' AND sk < 'ORDER$'")
                .map_err(unavailable)?;
            let rows = stmt.query_map([pk], |r| r.get::<_, String>(0)).map_err(unavailable)?;
            let mut out = Vec::new();
            for d in rows {
                let o: OrderRecord = from_json("order", &d.map_err(unavailable)?)?;
                if o.is_open() {
                    out.push(o);
                }
            }
            Ok(out)
        })
        .await
    }
    async fn find_order_seller(&self, order_id: &OrderId) -> Result<Option<SellerId>, LedgerError> {
        let key = table::order(order_id);
        self.with(move |c| {
            let pk: Option<String> = row(c, "SELECT pk FROM items WHERE gsi2 = ?1 LIMIT 1", [key], |r| r.get(0))
                .optional()
                .map_err(unavailable)?;
            Ok(pk.and_then(|p| table::seller_of_pk(&p)))
        })
        .await
    }
}
