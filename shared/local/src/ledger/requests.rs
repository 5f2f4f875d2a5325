//! Buyer requests and the limited, one-at-a-time slots.

use super::*;

#[async_trait]
impl RequestLedger for SqliteLedger {
    async fn put_request(&self, seller: &SellerId, request: &BuyerRequestRecord) -> Result<(), LedgerError> {
        let (pk, sk, data) =
            (table::pk(seller), table::request(&request.order_id, &request.request_id), to_json(request)?);
        self.with(move |c| {
            exec(c, "INSERT OR REPLACE INTO items (pk, sk, data) VALUES (?1, ?2, ?3)", params![pk, sk, data])
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
    async fn requests_for_order(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
    ) -> Result<Vec<BuyerRequestRecord>, LedgerError> {
        let pk = table::pk(seller);
        // The keys `REQUEST#{order}#…`: a range of the primary key, not a scan of the seller.
        let from = table::request(order_id, "");
        let to = format!("{}$", &from[..from.len() - 1]);
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT data FROM items WHERE pk = ?1 AND sk >= ?2 AND sk < ?3 ORDER BY sk")
                .map_err(unavailable)?;
            let rows = stmt.query_map(params![pk, from, to], |r| r.get::<_, String>(0)).map_err(unavailable)?;
            rows.map(|d| from_json("request", &d.map_err(unavailable)?)).collect()
        })
        .await
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
        let (pk, sk) = (table::pk(seller), table::slot(subject, day));
        let (now, until) = (at.unix_timestamp(), until.unix_timestamp());
        self.with(move |c| {
            // One immediate transaction: the count and the slot move together.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            let (count, busy_until): (i64, i64) = row(
                &tx,
                "SELECT COALESCE(n, 0), CAST(COALESCE(json_extract(data, '$.busyUntil'), 0) AS INTEGER)
                 FROM items WHERE pk = ?1 AND sk = ?2",
                params![pk, sk],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(unavailable)?
            .unwrap_or((0, 0));
            let count = count.saturating_add(1);
            let slot = if count > i64::from(limit) {
                RequestSlot::LimitReached
            } else if busy_until > now {
                RequestSlot::Busy
            } else {
                RequestSlot::Taken
            };
            let busy = if slot == RequestSlot::Taken { until } else { busy_until };
            exec(
                &tx,
                "INSERT INTO items (pk, sk, data, n) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (pk, sk) DO UPDATE SET data = excluded.data, n = excluded.n",
                params![pk, sk, serde_json::json!({ "busyUntil": busy }).to_string(), count],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok(slot)
        })
        .await
    }
    async fn free_slot(&self, seller: &SellerId, subject: &str, day: &str) -> Result<(), LedgerError> {
        let (pk, sk) = (table::pk(seller), table::slot(subject, day));
        self.with(move |c| {
            exec(c, "UPDATE items SET data = '{\"busyUntil\":0}' WHERE pk = ?1 AND sk = ?2", params![pk, sk])
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
}
