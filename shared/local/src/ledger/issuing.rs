//! The atomic issue: numbers, invoices, credit notes and corrections, usage.

use super::*;

#[async_trait]
impl IssuingLedger for SqliteLedger {
    async fn issue(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        draft: Draft,
        email_hash: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<Invoice, LedgerError> {
        let seller = seller.clone();
        let order_id = order_id.to_owned();
        let email_hash = email_hash.map(str::to_owned);
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            let pk = table::pk(&seller);
            let existing: Option<OrderRecord> =
                get_data(&tx, &pk, &table::order(&order_id))?.map(|d| from_json("order", &d)).transpose()?;
            if let Some(number) = existing.as_ref().and_then(|e| e.number.clone()) {
                return Err(LedgerError::AlreadyIssued { order_id, number: number.to_string() });
            }
            let hash = email_hash.or_else(|| existing.and_then(|e| e.buyer_email_hash));
            let invoice = number_draft(&tx, &seller, &order_id, draft, at, true)?;
            put_order(&tx, &pk, &OrderRecord::issued(&order_id, &invoice.number, at).with_buyer(hash.as_deref()))?;
            tx.commit().map_err(unavailable)?;
            Ok(invoice)
        })
        .await
    }
    async fn issue_correction(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        credit_note: Draft,
        replacement: Draft,
        at: OffsetDateTime,
    ) -> Result<(Invoice, Invoice), LedgerError> {
        let seller = seller.clone();
        let order_id = order_id.to_owned();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            let pk = table::pk(&seller);
            let existing: Option<OrderRecord> =
                get_data(&tx, &pk, &table::order(&order_id))?.map(|d| from_json("order", &d)).transpose()?;
            let hash = existing.as_ref().and_then(|e| e.buyer_email_hash.clone());
            let current =
                existing.and_then(|e| e.number).ok_or_else(|| LedgerError::NotIssued { order_id: order_id.clone() })?;
            // The credit note must cancel the invoice the order has now, not an older one.
            let corrects = match &credit_note.kind {
                marketbill_domain::DocumentKind::CreditNote { corrects } => corrects.number.clone(),
                marketbill_domain::DocumentKind::Invoice => current.clone(),
            };
            if corrects != current {
                return Err(LedgerError::AlreadyIssued { order_id, number: current.to_string() });
            }
            // A correction cancels the whole invoice: only one no credit note has touched.
            let credited_sk = table::credited(current.as_str());
            if get_data(&tx, &pk, &credited_sk)?.is_some() {
                return Err(LedgerError::CreditConflict { number: current });
            }
            let original: Option<InvoiceRecord> =
                get_data(&tx, &pk, &table::invoice(current.as_str()))?.map(|d| from_json("invoice", &d)).transpose()?;
            if let Some(original) = original {
                exec(
                    &tx,
                    "INSERT INTO items (pk, sk, data) VALUES (?1, ?2, ?3)",
                    params![pk, credited_sk, to_json(&Credited::whole(&original.invoice))?],
                )
                .map_err(unavailable)?;
            }
            let cn = number_draft(&tx, &seller, &order_id, credit_note, at, false)?;
            let inv = number_draft(&tx, &seller, &order_id, replacement, at, true)?;
            put_order(&tx, &pk, &OrderRecord::issued(&order_id, &inv.number, at).with_buyer(hash.as_deref()))?;
            tx.commit().map_err(unavailable)?;
            Ok((cn, inv))
        })
        .await
    }
    async fn credited(&self, seller: &SellerId, invoice: &InvoiceNumber) -> Result<Credited, LedgerError> {
        let (pk, sk) = (table::pk(seller), table::credited(invoice.as_str()));
        self.with(move |c| {
            Ok(get_data(c, &pk, &sk)?.map(|d| from_json("credited", &d)).transpose()?.unwrap_or_default())
        })
        .await
    }
    async fn issue_credit_note(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        draft: Draft,
        before: &Credited,
        after: &Credited,
        at: OffsetDateTime,
    ) -> Result<Invoice, LedgerError> {
        let corrects = match &draft.kind {
            marketbill_domain::DocumentKind::CreditNote { corrects } => corrects.number.clone(),
            marketbill_domain::DocumentKind::Invoice => {
                return Err(LedgerError::Corrupt {
                    what: "credit note".into(),
                    reason: "the draft is an invoice".into(),
                });
            }
        };
        let (seller, order_id, before, after) = (seller.clone(), order_id.clone(), before.clone(), after.clone());
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            let pk = table::pk(&seller);
            let sk = table::credited(corrects.as_str());
            let now: Credited = get_data(&tx, &pk, &sk)?.map(|d| from_json("credited", &d)).transpose()?.unwrap_or_default();
            if now != before {
                return Err(LedgerError::CreditConflict { number: corrects });
            }
            let cn = number_draft(&tx, &seller, &order_id, draft, at, false)?;
            exec(
                &tx,
                "INSERT INTO items (pk, sk, data) VALUES (?1, ?2, ?3) ON CONFLICT (pk, sk) DO UPDATE SET data = excluded.data",
                params![pk, sk, to_json(&after)?],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok(cn)
        })
        .await
    }
    async fn series_counter(&self, seller: &SellerId, series: &Series) -> Result<u64, LedgerError> {
        let (pk, sk) = (table::pk(seller), table::series(&series.key()));
        self.with(move |c| get_n(c, &pk, &sk)).await
    }
}

/// The usage counters, written by the issue above.
#[async_trait]
impl UsageLedger for SqliteLedger {
    async fn usage(&self, seller: &SellerId, month: YearMonth) -> Result<u64, LedgerError> {
        let (pk, sk) = (table::pk(seller), table::usage(month));
        self.with(move |c| get_n(c, &pk, &sk)).await
    }
}
