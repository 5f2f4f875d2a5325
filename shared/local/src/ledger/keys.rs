//! Idempotency keys: a request claimed once, its answer kept.

use super::*;

#[async_trait]
impl KeyLedger for SqliteLedger {
    async fn claim_key(
        &self,
        seller: &SellerId,
        key: &str,
        fingerprint: &str,
        at: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<KeyClaim, LedgerError> {
        let (pk, sk) = (table::pk(seller), table::request_key(key));
        let record = KeyRecord::claimed(fingerprint, at, until);
        let now = at.unix_timestamp();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            let existing: Option<KeyRecord> = get_data(&tx, &pk, &sk)?.map(|d| from_json("key", &d)).transpose()?;
            let claim = KeyRecord::decide(existing.as_ref(), &record.fingerprint, now);
            if claim == KeyClaim::Claimed {
                exec(
                    &tx,
                    "INSERT OR REPLACE INTO items (pk, sk, data) VALUES (?1, ?2, ?3)",
                    params![pk, sk, to_json(&record)?],
                )
                .map_err(unavailable)?;
            }
            tx.commit().map_err(unavailable)?;
            Ok(claim)
        })
        .await
    }
    async fn finish_key(&self, seller: &SellerId, key: &str, answer: &str) -> Result<(), LedgerError> {
        let (pk, sk) = (table::pk(seller), table::request_key(key));
        let answer = answer.to_owned();
        self.with(move |c| {
            exec(
                c,
                "UPDATE items SET data = json_set(data, '$.answer', ?3) WHERE pk = ?1 AND sk = ?2",
                params![pk, sk, answer],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
    async fn release_key(&self, seller: &SellerId, key: &str) -> Result<(), LedgerError> {
        let (pk, sk) = (table::pk(seller), table::request_key(key));
        self.with(move |c| {
            exec(
                c,
                "DELETE FROM items WHERE pk = ?1 AND sk = ?2 AND json_extract(data, '$.answer') IS NULL",
                params![pk, sk],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
}
