//! The atomic issue: numbers, invoices, credit notes and corrections, usage.

use super::*;

struct IssueBuild {
    seller: SellerId,
    order_id: OrderId,
    draft: Draft,
    email_hash: Option<String>,
    at: OffsetDateTime,
}

fn numbered(draft: &Draft, counter: u64) -> Result<Invoice, LedgerError> {
    let number = draft
        .series
        .number(counter)
        .map_err(|e| LedgerError::Corrupt { what: "series".into(), reason: e.to_string() })?;
    Ok(draft.clone().finalize(number))
}

#[async_trait]
impl AsyncBuild<Invoice> for IssueBuild {
    async fn build(&mut self, l: &DynamoLedger) -> Result<(Vec<TransactWriteItem>, usize, Invoice), LedgerError> {
        let pk = table::pk(&self.seller);
        let existing = l.get_order(&self.seller, &self.order_id).await?;
        if let Some(number) = existing.as_ref().and_then(|e| e.number.clone()) {
            return Err(LedgerError::AlreadyIssued { order_id: self.order_id.clone(), number: number.to_string() });
        }
        let hash = self.email_hash.clone().or_else(|| existing.and_then(|e| e.buyer_email_hash));
        let current = l.series_counter(&self.seller, &self.draft.series).await?;
        let invoice = numbered(&self.draft, current + 1)?;
        let record = InvoiceRecord::new(&self.seller, &self.order_id, invoice.clone(), self.at);
        let order = OrderRecord::issued(&self.order_id, &invoice.number, self.at).with_buyer(hash.as_deref());
        let items = vec![
            DynamoLedger::series_update(&pk, &self.draft.series, current, &l.table)?,
            DynamoLedger::invoice_put(&pk, &record, &l.table)?,
            DynamoLedger::order_update(
                &pk,
                &self.seller,
                &order,
                "attribute_not_exists(invoiceNumber)",
                None,
                &l.table,
            )?,
            DynamoLedger::usage_update(&pk, self.at, &l.table)?,
        ];
        Ok((items, 2, invoice))
    }

    async fn order_conflict(&mut self, l: &DynamoLedger) -> LedgerError {
        match l.order_number(&self.seller, &self.order_id).await {
            Ok(Some(number)) => LedgerError::AlreadyIssued { order_id: self.order_id.clone(), number },
            Ok(None) => LedgerError::Contention { series: self.draft.series.key(), attempts: 1 },
            Err(e) => e,
        }
    }
}

/// A credit note for part of an invoice: its number, the document, and the invoice's
/// credited state, whose `seq` must still be the one the credit note was computed from.
struct CreditBuild {
    seller: SellerId,
    order_id: OrderId,
    corrects: InvoiceNumber,
    draft: Draft,
    before: Credited,
    after: Credited,
    at: OffsetDateTime,
}

impl DynamoLedger {
    fn credited_update(
        pk: &str,
        number: &InvoiceNumber,
        before: &Credited,
        after: &Credited,
        table_name: &str,
    ) -> Result<TransactWriteItem, LedgerError> {
        let mut update = Update::builder()
            .table_name(table_name)
            .set_key(Some(key(pk, &table::credited(number.as_str()))))
            .update_expression("SET #d = :data, seq = :next")
            .expression_attribute_names("#d", "data")
            .expression_attribute_values(":data", s(to_json(after)?))
            .expression_attribute_values(":next", n(after.seq));
        update = if before.seq == 0 {
            update.condition_expression("attribute_not_exists(seq)")
        } else {
            update.condition_expression("seq = :seq").expression_attribute_values(":seq", n(before.seq))
        };
        Ok(TransactWriteItem::builder().update(update.build().map_err(unavailable)?).build())
    }
}

#[async_trait]
impl AsyncBuild<Invoice> for CreditBuild {
    async fn build(&mut self, l: &DynamoLedger) -> Result<(Vec<TransactWriteItem>, usize, Invoice), LedgerError> {
        let pk = table::pk(&self.seller);
        let counter = l.series_counter(&self.seller, &self.draft.series).await?;
        let cn = numbered(&self.draft, counter + 1)?;
        let record = InvoiceRecord::new(&self.seller, &self.order_id, cn.clone(), self.at);
        let items = vec![
            DynamoLedger::series_update(&pk, &self.draft.series, counter, &l.table)?,
            DynamoLedger::invoice_put(&pk, &record, &l.table)?,
            DynamoLedger::credited_update(&pk, &self.corrects, &self.before, &self.after, &l.table)?,
        ];
        Ok((items, 2, cn))
    }

    async fn order_conflict(&mut self, _l: &DynamoLedger) -> LedgerError {
        LedgerError::CreditConflict { number: self.corrects.clone() }
    }
}

struct CorrectionBuild {
    seller: SellerId,
    order_id: OrderId,
    credit: Draft,
    replacement: Draft,
    at: OffsetDateTime,
}

#[async_trait]
impl AsyncBuild<(Invoice, Invoice)> for CorrectionBuild {
    async fn build(
        &mut self,
        l: &DynamoLedger,
    ) -> Result<(Vec<TransactWriteItem>, usize, (Invoice, Invoice)), LedgerError> {
        let pk = table::pk(&self.seller);
        let existing = l.get_order(&self.seller, &self.order_id).await?;
        let hash = existing.as_ref().and_then(|e| e.buyer_email_hash.clone());
        let current_number = existing
            .and_then(|e| e.number)
            .map(|n| n.to_string())
            .ok_or_else(|| LedgerError::NotIssued { order_id: self.order_id.clone() })?;
        if let DocumentKind::CreditNote { corrects } = &self.credit.kind
            && corrects.number.as_str() != current_number
        {
            return Err(LedgerError::AlreadyIssued { order_id: self.order_id.clone(), number: current_number });
        }
        let cn_counter = l.series_counter(&self.seller, &self.credit.series).await?;
        let inv_counter = l.series_counter(&self.seller, &self.replacement.series).await?;
        if self.credit.series == self.replacement.series {
            return Err(LedgerError::Corrupt {
                what: "series".into(),
                reason: "credit notes need their own series".into(),
            });
        }
        let cn = numbered(&self.credit, cn_counter + 1)?;
        let inv = numbered(&self.replacement, inv_counter + 1)?;
        let rec = |invoice: &Invoice| InvoiceRecord::new(&self.seller, &self.order_id, invoice.clone(), self.at);
        let order = OrderRecord::issued(&self.order_id, &inv.number, self.at).with_buyer(hash.as_deref());
        // A correction cancels the whole invoice: only one no credit note has touched.
        let current: InvoiceNumber = current_number.parse().map_err(|e: marketbill_domain::ids::IdError| {
            LedgerError::Corrupt { what: "order".into(), reason: e.to_string() }
        })?;
        let original = l
            .get_invoice(&self.seller, &current)
            .await?
            .ok_or(LedgerError::UnknownDocument { number: current.clone() })?;
        if l.credited(&self.seller, &current).await? != Credited::default() {
            return Err(LedgerError::CreditConflict { number: current });
        }
        let whole = Credited::whole(&original.invoice);
        let items = vec![
            DynamoLedger::series_update(&pk, &self.credit.series, cn_counter, &l.table)?,
            DynamoLedger::series_update(&pk, &self.replacement.series, inv_counter, &l.table)?,
            DynamoLedger::invoice_put(&pk, &rec(&cn), &l.table)?,
            DynamoLedger::invoice_put(&pk, &rec(&inv), &l.table)?,
            DynamoLedger::order_update(
                &pk,
                &self.seller,
                &order,
                "invoiceNumber = :current",
                Some(&current_number),
                &l.table,
            )?,
            DynamoLedger::usage_update(&pk, self.at, &l.table)?,
            DynamoLedger::credited_update(&pk, &current, &Credited::default(), &whole, &l.table)?,
        ];
        Ok((items, 4, (cn, inv)))
    }

    async fn order_conflict(&mut self, l: &DynamoLedger) -> LedgerError {
        match l.order_number(&self.seller, &self.order_id).await {
            Ok(Some(number)) => LedgerError::AlreadyIssued { order_id: self.order_id.clone(), number },
            Ok(None) => LedgerError::NotIssued { order_id: self.order_id.clone() },
            Err(e) => e,
        }
    }
}

#[async_trait]
impl IssuingLedger for DynamoLedger {
    async fn issue(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        draft: Draft,
        email_hash: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<Invoice, LedgerError> {
        let series = draft.series.key();
        let build = IssueBuild {
            seller: seller.clone(),
            order_id: order_id.clone(),
            draft,
            email_hash: email_hash.map(str::to_owned),
            at,
        };
        self.transact(&series, build).await
    }
    async fn issue_correction(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        credit_note: Draft,
        replacement: Draft,
        at: OffsetDateTime,
    ) -> Result<(Invoice, Invoice), LedgerError> {
        let series = credit_note.series.key();
        let build = CorrectionBuild {
            seller: seller.clone(),
            order_id: order_id.clone(),
            credit: credit_note,
            replacement,
            at,
        };
        self.transact(&series, build).await
    }
    async fn credited(&self, seller: &SellerId, invoice: &InvoiceNumber) -> Result<Credited, LedgerError> {
        Ok(self
            .get(&table::pk(seller), &table::credited(invoice.as_str()))
            .await?
            .map(|i| data("credited", &i))
            .transpose()?
            .unwrap_or_default())
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
        let DocumentKind::CreditNote { corrects } = &draft.kind else {
            return Err(LedgerError::Corrupt { what: "credit note".into(), reason: "the draft is an invoice".into() });
        };
        let series = draft.series.key();
        let build = CreditBuild {
            seller: seller.clone(),
            order_id: order_id.clone(),
            corrects: corrects.number.clone(),
            draft: draft.clone(),
            before: before.clone(),
            after: after.clone(),
            at,
        };
        self.transact(&series, build).await
    }
    async fn series_counter(&self, seller: &SellerId, series: &Series) -> Result<u64, LedgerError> {
        Ok(self.get(&table::pk(seller), &table::series(&series.key())).await?.map(|i| number_of(&i, "n")).unwrap_or(0))
    }
}

/// The usage counters, written by the issue above.
#[async_trait]
impl UsageLedger for DynamoLedger {
    async fn usage(&self, seller: &SellerId, month: YearMonth) -> Result<u64, LedgerError> {
        Ok(self.get(&table::pk(seller), &table::usage(month)).await?.map(|i| number_of(&i, "n")).unwrap_or(0))
    }
}
