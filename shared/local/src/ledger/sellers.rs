//! Seller accounts, their e-mail claims, the active and unsubscribed indexes.

use super::*;

#[async_trait]
impl SellerLedger for SqliteLedger {
    async fn put_seller(&self, seller: &SellerRecord) -> Result<(), LedgerError> {
        let pk = table::pk(&seller.seller_id);
        let data = to_json(seller)?;
        let gsi1 = match seller.status {
            SellerStatus::Active => table::ACTIVE,
            SellerStatus::Unsubscribed { .. } => table::UNSUBSCRIBED,
        };
        let email = seller.profile.email.clone();
        let owner = serde_json::json!({ "sellerId": seller.seller_id }).to_string();
        let me = seller.seller_id.to_string();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            let before: Option<SellerRecord> =
                get_data(&tx, &pk, table::PROFILE)?.map(|d| from_json("seller", &d)).transpose()?;
            let claim = table::email(&email);
            exec(
                &tx,
                "INSERT OR IGNORE INTO items (pk, sk, data) VALUES (?1, ?2, ?3)",
                params![claim, table::OWNER, owner],
            )
            .map_err(unavailable)?;
            if let Some(old) = before.map(|b| table::email(&b.profile.email))
                && old != claim
            {
                release_email(&tx, &old, &me)?;
            }
            exec(
                &tx,
                "INSERT INTO items (pk, sk, data, gsi1) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (pk, sk) DO UPDATE SET data = excluded.data, gsi1 = excluded.gsi1",
                params![pk, table::PROFILE, data, gsi1],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok(())
        })
        .await
    }
    async fn claim_email(&self, seller: &SellerId, email: &str) -> Result<(), LedgerError> {
        let (claim, me, email) = (table::email(email), seller.to_string(), email.to_owned());
        let owner = serde_json::json!({ "sellerId": seller }).to_string();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            match email_owner(&tx, &claim)? {
                Some(holder) if holder != me => return Err(LedgerError::EmailTaken { email }),
                Some(_) => {}
                None => {
                    exec(
                        &tx,
                        "INSERT INTO items (pk, sk, data) VALUES (?1, ?2, ?3)",
                        params![claim, table::OWNER, owner],
                    )
                    .map_err(unavailable)?;
                }
            }
            tx.commit().map_err(unavailable)?;
            Ok(())
        })
        .await
    }
    async fn seller_by_email(&self, email: &str) -> Result<Option<SellerId>, LedgerError> {
        let claim = table::email(email);
        self.with(move |c| Ok(email_owner(c, &claim)?.and_then(|id| id.parse().ok()))).await
    }
    async fn get_seller(&self, id: &SellerId) -> Result<Option<SellerRecord>, LedgerError> {
        let pk = table::pk(id);
        self.with(move |c| get_data(c, &pk, table::PROFILE)?.map(|d| from_json("seller", &d)).transpose()).await
    }
    async fn active_sellers(&self) -> Result<Vec<SellerId>, LedgerError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached("SELECT pk FROM items WHERE gsi1 = ?1 ORDER BY pk").map_err(unavailable)?;
            let rows = stmt.query_map([table::ACTIVE], |r| r.get::<_, String>(0)).map_err(unavailable)?;
            let mut out = Vec::new();
            for pk in rows {
                if let Some(id) = table::seller_of_pk(&pk.map_err(unavailable)?) {
                    out.push(id);
                }
            }
            Ok(out)
        })
        .await
    }
    async fn unsubscribed_sellers(&self) -> Result<Vec<SellerRecord>, LedgerError> {
        self.with(|c| {
            let mut stmt =
                c.prepare_cached("SELECT data FROM items WHERE gsi1 = ?1 ORDER BY pk").map_err(unavailable)?;
            let rows = stmt.query_map([table::UNSUBSCRIBED], |r| r.get::<_, String>(0)).map_err(unavailable)?;
            rows.map(|d| from_json("seller", &d.map_err(unavailable)?)).collect()
        })
        .await
    }
    async fn delete_seller(&self, id: &SellerId) -> Result<u64, LedgerError> {
        let pk = table::pk(id);
        let me = id.to_string();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            let profile: Option<SellerRecord> =
                get_data(&tx, &pk, table::PROFILE)?.map(|d| from_json("seller", &d)).transpose()?;
            if let Some(p) = profile {
                release_email(&tx, &table::email(&p.profile.email), &me)?;
            }
            exec(&tx, "DELETE FROM documents WHERE pk = ?1", [&pk]).map_err(unavailable)?;
            let items = exec(&tx, "DELETE FROM items WHERE pk = ?1", [&pk]).map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok(items as u64)
        })
        .await
    }
}
