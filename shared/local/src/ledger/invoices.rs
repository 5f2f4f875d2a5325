//! Issued documents, their files and their delivery steps.

use super::*;

#[async_trait]
impl InvoiceLedger for SqliteLedger {
    async fn get_invoice(
        &self,
        seller: &SellerId,
        number: &InvoiceNumber,
    ) -> Result<Option<InvoiceRecord>, LedgerError> {
        let (pk, sk) = (table::pk(seller), table::invoice(number.as_str()));
        self.with(move |c| {
            let sql = format!("{INVOICES_WITH_FILES} WHERE i.pk = ?1 AND i.sk = ?2");
            row(c, &sql, params![pk, sk], invoice_row).optional().map_err(unavailable)?.map(invoice_record).transpose()
        })
        .await
    }
    async fn list_invoices(&self, seller: &SellerId, query: &InvoiceQuery) -> Result<InvoicePage, LedgerError> {
        let pk = table::pk(seller);
        let query = query.clone();
        self.with(move |c| {
            let start = match &query.after {
                Some(after) => table::invoice(after),
                None => "INVOICE#".to_owned(),
            };
            let sql =
                format!("{INVOICES_WITH_FILES} WHERE i.pk = ?1 AND i.sk > ?2 AND i.sk < 'INVOICE$' ORDER BY i.sk");
            let mut stmt = c.prepare_cached(&sql).map_err(unavailable)?;
            let rows = stmt.query_map(params![pk, start], invoice_row).map_err(unavailable)?;
            let limit = query.limit.clamp(1, 1000);
            let mut items = Vec::new();
            let mut next = None;
            for row in rows {
                let rec = invoice_record(row.map_err(unavailable)?)?;
                if !marketbill_app::model::invoice_matches(&rec, &query) {
                    continue;
                }
                if items.len() == limit {
                    next = items.last().map(|r: &InvoiceRecord| r.invoice.number.to_string());
                    break;
                }
                items.push(rec);
            }
            Ok(InvoicePage { items, next })
        })
        .await
    }
    async fn set_documents(
        &self,
        seller: &SellerId,
        number: &InvoiceNumber,
        pdf: &StoredObject,
        xml: &StoredObject,
    ) -> Result<(), LedgerError> {
        let pk = table::pk(seller);
        // One statement, atomic on its own.
        self.with(move |c| put_documents(c, &pk, number, pdf, xml)).await
    }
    async fn set_steps(
        &self,
        seller: &SellerId,
        number: &InvoiceNumber,
        steps: &DocumentSteps,
    ) -> Result<(), LedgerError> {
        let (pk, sk) = (table::pk(seller), table::invoice(number.as_str()));
        let steps = to_json(steps)?;
        // One statement: the steps replaced inside the record, nothing else of it touched.
        let changed = self
            .with(move |c| {
                exec(
                    c,
                    "UPDATE items SET data = json_set(data, '$.steps', json(?3)) WHERE pk = ?1 AND sk = ?2",
                    params![pk, sk, steps],
                )
                .map_err(unavailable)
            })
            .await?;
        if changed == 0 {
            return Err(LedgerError::UnknownDocument { number: number.clone() });
        }
        Ok(())
    }
    async fn set_documents_and_step(
        &self,
        seller: &SellerId,
        pdf: &StoredObject,
        xml: &StoredObject,
        step: &OrderRecord,
    ) -> Result<(), LedgerError> {
        let pk = table::pk(seller);
        let number = issued_number(step)?;
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            put_documents(&tx, &pk, number, pdf, xml)?;
            match step_order(&tx, &pk, step) {
                // The files stay recorded; the later step stands.
                Err(superseded @ LedgerError::Superseded { .. }) => {
                    tx.commit().map_err(unavailable)?;
                    Err(superseded)
                }
                Err(other) => Err(other),
                Ok(()) => tx.commit().map_err(unavailable),
            }
        })
        .await
    }
}

/// Where an invoice's files are, beside it: refused when there is no such invoice.
fn put_documents(
    c: &Connection,
    pk: &str,
    number: &InvoiceNumber,
    pdf: &StoredObject,
    xml: &StoredObject,
) -> Result<(), LedgerError> {
    let changed = exec(
        c,
        "INSERT INTO documents (pk, sk, pdf, xml)
         SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM items WHERE pk = ?1 AND sk = ?2)
         ON CONFLICT (pk, sk) DO UPDATE SET pdf = excluded.pdf, xml = excluded.xml",
        params![pk, table::invoice(number.as_str()), to_json(pdf)?, to_json(xml)?],
    )
    .map_err(unavailable)?;
    if changed == 0 {
        return Err(LedgerError::UnknownDocument { number: number.clone() });
    }
    Ok(())
}
