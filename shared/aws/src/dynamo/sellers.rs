//! Seller accounts, their e-mail claims, the active and unsubscribed indexes.

use super::*;

#[async_trait]
impl SellerLedger for DynamoLedger {
    async fn put_seller(&self, seller: &SellerRecord) -> Result<(), LedgerError> {
        let pk = table::pk(&seller.seller_id);
        let mut item = key(&pk, table::PROFILE);
        item.insert("data".into(), s(to_json(seller)?));
        let status = match seller.status {
            SellerStatus::Active => table::ACTIVE,
            SellerStatus::Unsubscribed { .. } => table::UNSUBSCRIBED,
        };
        item.insert("GSI1PK".into(), s(status));
        item.insert("GSI1SK".into(), s(seller.seller_id.as_str()));
        let me = seller.seller_id.as_str();
        let claim = table::email(&seller.profile.email);
        let old = match self.get(&pk, table::PROFILE).await? {
            Some(i) => Some(table::email(&data::<SellerRecord>("seller", &i)?.profile.email)),
            None => None,
        };
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(unavailable)?;
        // The address, for this account if no account holds it.
        let mut claim_item = key(&claim, table::OWNER);
        claim_item.insert("sellerId".into(), s(me));
        let claimed = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(claim_item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match claimed {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {}
            Err(e) => return Err(unavailable(e)),
        }
        if let Some(old) = old.filter(|o| *o != claim) {
            self.release_email(&old, me).await?;
        }
        Ok(())
    }
    async fn claim_email(&self, seller: &SellerId, email: &str) -> Result<(), LedgerError> {
        let mut item = key(&table::email(email), table::OWNER);
        item.insert("sellerId".into(), s(seller.as_str()));
        let claimed = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK) OR sellerId = :me")
            .expression_attribute_values(":me", s(seller.as_str()))
            .send()
            .await;
        match claimed {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {
                Err(LedgerError::EmailTaken { email: email.to_owned() })
            }
            Err(e) => Err(unavailable(e)),
        }
    }
    async fn seller_by_email(&self, email: &str) -> Result<Option<SellerId>, LedgerError> {
        let item = self.get(&table::email(email), table::OWNER).await?;
        Ok(item.and_then(|i| i.get("sellerId").and_then(|v| v.as_s().ok()).and_then(|id| id.parse().ok())))
    }
    async fn get_seller(&self, id: &SellerId) -> Result<Option<SellerRecord>, LedgerError> {
        self.get(&table::pk(id), table::PROFILE).await?.map(|i| data("seller", &i)).transpose()
    }
    async fn active_sellers(&self) -> Result<Vec<SellerId>, LedgerError> {
        let items = self.query_index(table::ACTIVE_SELLERS, "GSI1PK", table::ACTIVE).await?;
        let mut ids: Vec<SellerId> = items
            .iter()
            .filter_map(|i| i.get("PK").and_then(|v| v.as_s().ok()))
            .filter_map(|pk| table::seller_of_pk(pk))
            .collect();
        ids.sort();
        Ok(ids)
    }
    async fn unsubscribed_sellers(&self) -> Result<Vec<SellerRecord>, LedgerError> {
        let items = self.query_index(table::ACTIVE_SELLERS, "GSI1PK", table::UNSUBSCRIBED).await?;
        items.iter().map(|i| data("seller", i)).collect()
    }
    async fn delete_seller(&self, id: &SellerId) -> Result<u64, LedgerError> {
        let pk = table::pk(id);
        if let Some(profile) = self.get(&pk, table::PROFILE).await? {
            self.release_email(&table::email(&data::<SellerRecord>("seller", &profile)?.profile.email), id.as_str())
                .await?;
        }
        let items = self.query_prefix(&pk, "", false, None).await?;
        let mut removed = 0u64;
        for chunk in items.chunks(25) {
            let mut requests: Vec<WriteRequest> = Vec::with_capacity(chunk.len());
            for i in chunk {
                let sk = i.get("SK").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                let delete = DeleteRequest::builder().set_key(Some(key(&pk, &sk))).build().map_err(unavailable)?;
                requests.push(WriteRequest::builder().delete_request(delete).build());
            }
            let mut pending = Some(HashMap::from([(self.table.clone(), requests)]));
            for _ in 0..20 {
                let Some(batch) = pending.take().filter(|b| !b.is_empty()) else { break };
                let out =
                    self.client.batch_write_item().set_request_items(Some(batch)).send().await.map_err(unavailable)?;
                pending = out.unprocessed_items.filter(|u| u.values().any(|v| !v.is_empty()));
                if pending.is_some() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            removed += chunk.len() as u64;
        }
        Ok(removed)
    }
}
