//! Issued documents, their files and their delivery steps.

use super::*;

#[async_trait]
impl InvoiceLedger for DynamoLedger {
    async fn get_invoice(
        &self,
        seller: &SellerId,
        number: &InvoiceNumber,
    ) -> Result<Option<InvoiceRecord>, LedgerError> {
        self.get(&table::pk(seller), &table::invoice(number.as_str())).await?.map(|i| invoice_of(&i)).transpose()
    }
    async fn list_invoices(&self, seller: &SellerId, query: &InvoiceQuery) -> Result<InvoicePage, LedgerError> {
        let limit = query.limit.clamp(1, 1000);
        let low = match &query.after {
            // Just after `after`: its key followed by the smallest character.
            Some(after) => format!("{}\u{1}", table::invoice(after)),
            None => "INVOICE#".to_owned(),
        };
        let mut items = Vec::new();
        let mut next = None;
        let mut start: Option<Item> = None;
        'pages: loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND SK BETWEEN :lo AND :hi")
                .expression_attribute_values(":pk", s(table::pk(seller)))
                .expression_attribute_values(":lo", s(low.clone()))
                .expression_attribute_values(":hi", s("INVOICE$"))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for i in out.items.unwrap_or_default() {
                let rec = invoice_of(&i)?;
                if !invoice_matches(&rec, query) {
                    continue;
                }
                if items.len() == limit {
                    next = items.last().map(|r: &InvoiceRecord| r.invoice.number.to_string());
                    break 'pages;
                }
                items.push(rec);
            }
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        Ok(InvoicePage { items, next })
    }
    async fn set_documents(
        &self,
        seller: &SellerId,
        number: &InvoiceNumber,
        pdf: &StoredObject,
        xml: &StoredObject,
    ) -> Result<(), LedgerError> {
        let (pk, sk) = (table::pk(seller), table::invoice(number.as_str()));
        let item = self.get(&pk, &sk).await?.ok_or_else(|| LedgerError::UnknownDocument { number: number.clone() })?;
        let mut rec: InvoiceRecord = data("invoice", &item)?;
        rec.pdf = Some(pdf.clone());
        rec.xml = Some(xml.clone());
        // The invoice part is frozen; only the document fields change.
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&pk, &sk)))
            .update_expression("SET #d = :data")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#d", "data")
            .expression_attribute_values(":data", s(to_json(&rec)?))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
    async fn set_steps(
        &self,
        seller: &SellerId,
        number: &InvoiceNumber,
        steps: &DocumentSteps,
    ) -> Result<(), LedgerError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&table::pk(seller), &table::invoice(number.as_str()))))
            .update_expression("SET steps = :steps")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":steps", s(to_json(steps)?))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Err(LedgerError::UnknownDocument { number: number.clone() })
            }
            Err(e) => Err(unavailable(e)),
        }
    }
    async fn set_documents_and_step(
        &self,
        seller: &SellerId,
        pdf: &StoredObject,
        xml: &StoredObject,
        step: &OrderRecord,
    ) -> Result<(), LedgerError> {
        // Two writes, files first: a failure in between leaves the order one step behind, and
        // the next run stores again (the same bytes, under the same keys).
        self.set_documents(seller, issued_number(step)?, pdf, xml).await?;
        self.update_order(seller, step).await
    }
}
