//! Idempotency keys: a request claimed once, its answer kept.

use super::*;

#[async_trait]
impl KeyLedger for DynamoLedger {
    async fn claim_key(
        &self,
        seller: &SellerId,
        key_digest: &str,
        fingerprint: &str,
        at: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<KeyClaim, LedgerError> {
        let (pk, sk) = (table::pk(seller), table::request_key(key_digest));
        let record = KeyRecord::claimed(fingerprint, at, until);
        let now = at.unix_timestamp();
        let mut item = key(&pk, &sk);
        item.insert("data".into(), s(to_json(&record)?));
        item.insert("fingerprint".into(), s(fingerprint));
        item.insert("leaseUntil".into(), AttributeValue::N(record.lease_until.to_string()));
        item.insert("expiresAt".into(), AttributeValue::N(record.expires_at.to_string()));
        // One conditional write: a free key, one past its end, or an unanswered claim of the
        // same request whose lease ran out.
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(PK) OR expiresAt <= :now \
                 OR (attribute_not_exists(answer) AND leaseUntil <= :now AND fingerprint = :fp)",
            )
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(":fp", s(fingerprint))
            .send()
            .await;
        match put {
            Ok(_) => Ok(KeyClaim::Claimed),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {
                let Some(found) = self.get(&pk, &sk).await? else { return Ok(KeyClaim::InProgress) };
                let mut existing: KeyRecord = data("key", &found)?;
                existing.answer = found.get("answer").and_then(|v| v.as_s().ok()).cloned();
                // What blocked the claim (never `Claimed`: the condition said so).
                Ok(match KeyRecord::decide(Some(&existing), fingerprint, now) {
                    KeyClaim::Claimed => KeyClaim::InProgress,
                    other => other,
                })
            }
            Err(e) => Err(unavailable(e)),
        }
    }
    async fn finish_key(&self, seller: &SellerId, key_digest: &str, answer: &str) -> Result<(), LedgerError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&table::pk(seller), &table::request_key(key_digest))))
            .update_expression("SET answer = :a")
            .expression_attribute_values(":a", s(answer))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
    async fn release_key(&self, seller: &SellerId, key_digest: &str) -> Result<(), LedgerError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(&table::pk(seller), &table::request_key(key_digest))))
            .condition_expression("attribute_not_exists(answer)")
            .send()
            .await;
        unless_condition_failed(deleted)
    }
}
