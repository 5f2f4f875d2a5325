//! Finding a seller's documents: search by number, order, buyer or amount, sorted, by pages
//! with numbers; one document's PDF; several documents as one archive.

use crate::model::InvoicePage;
use crate::portal::seller;
use marketbill_documents::bundle::{BundleEntry, zip_documents};
use marketbill_domain::InvoiceNumber;
use rust_decimal::Decimal;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::model::{InvoiceQuery, InvoiceRecord, SellerId};
use crate::portal::{LINK_TTL, PortalError, all_invoices};
use crate::ports::{Clock, DocumentStore, InvoiceLedger, PresignedLink, SellerLedger};
use crate::services::{PipelineError, Services};

/// What reading a seller's documents uses: the sellers (asked first), their documents, the
/// stored files and the time (an archive's name). Nothing here writes to the ledger.
#[derive(Clone, Copy)]
pub struct Documents<'a> {
    pub sellers: &'a dyn SellerLedger,
    pub invoices: &'a dyn InvoiceLedger,
    pub store: &'a dyn DocumentStore,
    pub clock: &'a dyn Clock,
}

impl Services {
    /// The documents' use cases, on this deployment's ports.
    pub fn documents(&self) -> Documents<'_> {
        Documents {
            sellers: self.ledger.as_ref(),
            invoices: self.ledger.as_ref(),
            store: self.store.as_ref(),
            clock: self.clock.as_ref(),
        }
    }
}

/// What a list sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    /// Issue date, then number (the default, newest first).
    #[default]
    Date,
    Number,
    Buyer,
    Total,
}

/// A search among a seller's documents.
#[derive(Debug, Clone, Default)]
pub struct Search {
    /// Period, kind and order, as the ledger filters them (`after` and `limit` are ignored).
    pub filters: InvoiceQuery,
    /// Words to find in the number, the order or the buyer's name, or an amount (`108,92`,
    /// `108.92`) to find as the total.
    pub text: String,
    pub sort: SortBy,
    pub ascending: bool,
    /// Only these numbers (`None`: any), never those.
    pub only: Option<std::collections::BTreeSet<String>>,
    pub except: std::collections::BTreeSet<String>,
    /// 1, 2, 3…
    pub page: usize,
    pub per_page: usize,
}

/// One page of what a search found.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub items: Vec<InvoiceRecord>,
    /// How many documents match, over all pages.
    pub total: usize,
    pub page: usize,
    pub pages: usize,
}

/// Reads an amount as a seller types it (`108,92`, `108.92`, `108,92 €`).
fn amount(text: &str) -> Option<Decimal> {
    let t: String = text.chars().filter(|c| !c.is_whitespace() && *c != '€').collect();
    t.replace(',', ".").parse::<Decimal>().ok()
}

/// Whether a document answers the searched words (all of them, case aside) or amount.
fn matches(r: &InvoiceRecord, text: &str) -> bool {
    let text = text.trim();
    if text.is_empty() {
        return true;
    }
    if let Some(a) = amount(text)
        && r.invoice.body.totals.tax_inclusive == a
    {
        return true;
    }
    let haystack = format!("{} {} {}", r.invoice.number, r.order_id, r.invoice.body.buyer.name).to_lowercase();
    text.to_lowercase().split_whitespace().all(|w| haystack.contains(w))
}

/// Documents one archive of a selection takes at most (one request builds it).
pub const SELECTION_MAX: usize = 100;

/// One invoice with short-lived links to its files.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceLinks {
    pub record: InvoiceRecord,
    pub pdf: Option<PresignedLink>,
    pub xml: Option<PresignedLink>,
}

impl Documents<'_> {
    /// The documents a search finds, sorted, one page of them.
    pub async fn find(&self, id: &SellerId, search: &Search) -> Result<Found, PortalError> {
        seller(self.sellers, id).await?;
        let filters = InvoiceQuery { after: None, limit: 1000, ..search.filters.clone() };
        let mut all: Vec<InvoiceRecord> = all_invoices(self.invoices, id, filters)
            .await?
            .into_iter()
            .filter(|r| {
                let n = r.invoice.number.as_str();
                search.only.as_ref().is_none_or(|only| only.contains(n)) && !search.except.contains(n)
            })
            .filter(|r| matches(r, &search.text))
            .collect();
        // Numbers are zero-padded within a series: their text sorts them.
        match search.sort {
            SortBy::Date => all.sort_by(|a, b| {
                (a.invoice.issue_date, a.invoice.number.as_str())
                    .cmp(&(b.invoice.issue_date, b.invoice.number.as_str()))
            }),
            SortBy::Number => all.sort_by(|a, b| a.invoice.number.as_str().cmp(b.invoice.number.as_str())),
            SortBy::Buyer => all.sort_by_key(|r| r.invoice.body.buyer.name.to_lowercase()),
            SortBy::Total => all.sort_by_key(|r| {
                let t = r.invoice.body.totals.tax_inclusive;
                if r.invoice.kind.is_credit_note() { -t } else { t }
            }),
        }
        if !search.ascending {
            all.reverse();
        }
        let per_page = search.per_page.clamp(1, 200);
        let total = all.len();
        let pages = total.div_ceil(per_page).max(1);
        let page = search.page.clamp(1, pages);
        let items = all.into_iter().skip((page - 1) * per_page).take(per_page).collect();
        Ok(Found { items, total, page, pages })
    }

    /// A short-lived link to one document's PDF.
    pub async fn pdf_link(&self, id: &SellerId, number: &InvoiceNumber) -> Result<PresignedLink, PortalError> {
        seller(self.sellers, id).await?;
        let record = self.invoices.get_invoice(id, number).await?.ok_or(PortalError::NotFound)?;
        let pdf = record.pdf.ok_or(PortalError::NotFound)?;
        Ok(self.store.presign_get(&pdf.key, LINK_TTL).await.map_err(PipelineError::from)?)
    }

    /// Several documents chosen in the list, as one archive (their PDF and XML), behind a
    /// short-lived link. The archive is named by seller (`factures_{seller}_selection-{n}.zip`)
    /// and swept with the exports.
    pub async fn selection(&self, id: &SellerId, numbers: &[InvoiceNumber]) -> Result<PresignedLink, PortalError> {
        if numbers.is_empty() || numbers.len() > SELECTION_MAX {
            return Err(PortalError::field("numbers", "choose between 1 and 100 documents"));
        }
        seller(self.sellers, id).await?;
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for number in numbers {
            let record = self.invoices.get_invoice(id, number).await?.ok_or(PortalError::NotFound)?;
            for stored in [&record.pdf, &record.xml].into_iter().flatten() {
                let bytes =
                    self.store.get(&stored.key).await.map_err(PipelineError::from)?.ok_or(PortalError::NotFound)?;
                let name = stored.key.rsplit('/').next().unwrap_or(number.as_str()).to_owned();
                files.push((format!("{}/{name}", record.invoice.issue_date.year()), bytes));
            }
        }
        let entries: Vec<BundleEntry<'_>> =
            files.iter().map(|(name, bytes)| BundleEntry { name: name.clone(), bytes }).collect();
        let zip = zip_documents(entries).map_err(PipelineError::from)?;
        // The same selection gives the same name: a repeat overwrites, nothing piles up.
        let digest =
            hex::encode(&Sha256::digest(numbers.iter().map(InvoiceNumber::as_str).collect::<Vec<_>>().join(","))[..6]);
        let job = format!("{}-selection-{digest}", self.clock.now().unix_timestamp());
        let key = format!("exports/{id}/{job}/factures_{id}_selection-{}.zip", numbers.len());
        self.store.put(&key, &zip, "application/zip").await.map_err(PipelineError::from)?;
        Ok(self.store.presign_get(&key, LINK_TTL).await.map_err(PipelineError::from)?)
    }

    /// One page of the seller's documents as the ledger lists them (the API's list).
    pub async fn list_invoices(&self, id: &SellerId, q: &InvoiceQuery) -> Result<InvoicePage, PortalError> {
        seller(self.sellers, id).await?;
        Ok(self.invoices.list_invoices(id, q).await?)
    }

    /// One document with short-lived links to its files.
    pub async fn invoice(&self, id: &SellerId, number: &InvoiceNumber) -> Result<InvoiceLinks, PortalError> {
        seller(self.sellers, id).await?;
        let record = self.invoices.get_invoice(id, number).await?.ok_or(PortalError::NotFound)?;
        let pdf = match &record.pdf {
            Some(o) => Some(self.store.presign_get(&o.key, LINK_TTL).await.map_err(PipelineError::from)?),
            None => None,
        };
        let xml = match &record.xml {
            Some(o) => Some(self.store.presign_get(&o.key, LINK_TTL).await.map_err(PipelineError::from)?),
            None => None,
        };
        Ok(InvoiceLinks { record, pdf, xml })
    }
}

/// The sort keys as the pages and the API name them.
impl SortBy {
    pub fn parse(text: &str) -> SortBy {
        match text {
            "numero" | "number" => SortBy::Number,
            "acheteur" | "buyer" => SortBy::Buyer,
            "montant" | "total" => SortBy::Total,
            _ => SortBy::Date,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SortBy::Date => "date",
            SortBy::Number => "numero",
            SortBy::Buyer => "acheteur",
            SortBy::Total => "montant",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_as_sellers_type_them() {
        assert_eq!(amount("108,92"), Some(Decimal::new(10892, 2)));
        assert_eq!(amount("108.92 €"), Some(Decimal::new(10892, 2)));
        assert_eq!(amount("1 108,92"), Some(Decimal::new(110892, 2)));
        assert_eq!(amount("ML2026"), None);
    }
}
