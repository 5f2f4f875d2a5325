//! # marketbill-documents
//!
//! Pure renderers from a domain [`Invoice`] (or credit note) to bytes:
//! - [`ubl::to_ubl`]: UBL 2.1 `Invoice` / `CreditNote`, EN 16931;
//! - [`cii::to_cii`]: UN/CEFACT CII, Factur-X profile EN 16931;
//! - [`render_pdf`]: a Factur-X PDF/A-3b with the CII embedded as `factur-x.xml`, drawn with
//!   printpdf and finished by a lopdf pass ([`pdf`]);
//! - [`bundle::zip_documents`]: a ZIP of many documents with stable names.
//!
//! Deterministic: the same invoice always gives the same bytes (ids and dates come from the
//! invoice), so a retry rewrites the same object and tests can compare hashes. No I/O.

pub mod bundle;
pub mod cii;
pub mod font;
mod hinting;
pub mod labels;
pub mod layout;
pub mod pdf;
pub mod ubl;
pub mod xml;

use marketbill_domain::Invoice;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("the embedded font cannot be used: {0}")]
    Font(String),
    #[error("the PDF cannot be written: {0}")]
    Pdf(String),
    #[error("the archive cannot be written: {0}")]
    Archive(String),
}

/// The two documents of an invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Factur-X PDF/A-3.
    pub pdf: Vec<u8>,
    /// UBL 2.1 XML.
    pub ubl: Vec<u8>,
}

/// The buyer's SIREN as the documents carry it (see `BuyerParty::known_siren`).
pub(crate) fn buyer_siren(inv: &Invoice) -> Option<String> {
    inv.body.buyer.known_siren()
}

/// The invoice a document refers to (BT-25, BT-26): the one a credit note corrects, or the one
/// a corrected invoice replaces.
pub(crate) fn preceding_invoice(inv: &Invoice) -> Option<&marketbill_domain::invoice::InvoiceRef> {
    match &inv.kind {
        marketbill_domain::DocumentKind::CreditNote { corrects } => Some(corrects),
        marketbill_domain::DocumentKind::Invoice => inv.body.replaces.as_ref(),
    }
}

/// The seller's electronic address under scheme 0225: the directory's, else its SIREN.
pub(crate) fn seller_endpoint(s: &marketbill_domain::invoice::SellerParty) -> Option<String> {
    s.electronic_address.clone().or_else(|| s.siren.as_ref().map(|x| x.as_str().to_owned()))
}

/// The scheme of a SIREN as an electronic address (EAS 0225, the French reform's directory).
pub(crate) const SIREN_ADDRESS_SCHEME: &str = "0225";

/// Renders the Factur-X PDF of an invoice.
pub fn render_pdf(inv: &Invoice) -> Result<Vec<u8>, RenderError> {
    let fonts = font::family()?;
    let cii = cii::to_cii(inv);
    let pages = layout::layout(inv, fonts);
    pdf::write_pdf(inv, &pages, fonts, &cii)
}

/// Renders both documents of an invoice.
pub fn render(inv: &Invoice) -> Result<Rendered, RenderError> {
    Ok(Rendered { pdf: render_pdf(inv)?, ubl: ubl::to_ubl(inv) })
}
