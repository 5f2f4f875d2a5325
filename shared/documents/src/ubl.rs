//! UBL 2.1 `Invoice` (380) and `CreditNote` (381) following the EN 16931 UBL binding.
//! Elements are written in the order the UBL 2.1 schema requires.

use marketbill_domain::calendar::iso_date;
use marketbill_domain::invoice::{InvoiceAddress, InvoiceBody, Note};
use marketbill_domain::money::{format_amount, format_decimal};
use marketbill_domain::{Invoice, VatRegime};
use rust_decimal::Decimal;

use crate::xml::Xml;

const CUSTOMIZATION_ID: &str = "urn:cen.eu:en16931:2017";
/// BT-23, the billing framework of the French e-invoicing reform: "B1" for an invoice of
/// goods (every sale), "S1" for one of services only (Marketbill's own fee invoice).
pub fn billing_mode(inv: &Invoice) -> &'static str {
    let lines = &inv.body.lines;
    if !lines.is_empty() && lines.iter().all(|l| l.kind == marketbill_domain::invoice::LineKind::Service) {
        "S1"
    } else {
        "B1"
    }
}

/// The note text with its EN 16931 subject code prefix (`#AAI#…`).
pub fn note_text(note: &Note) -> String {
    match &note.subject {
        Some(code) => format!("#{code}#{}", note.text),
        None => note.text.clone(),
    }
}

fn amount(x: &mut Xml, name: &'static str, value: Decimal, currency: &str) {
    x.leaf_with(name, &[("currencyID", currency)], &format_amount(value));
}

fn address(x: &mut Xml, element: &'static str, a: &InvoiceAddress) {
    x.open(element);
    x.leaf_opt("cbc:StreetName", a.lines.first().map(String::as_str));
    x.leaf_opt("cbc:AdditionalStreetName", a.lines.get(1).map(String::as_str));
    x.leaf("cbc:CityName", &a.city);
    x.leaf("cbc:PostalZone", &a.postal_code);
    if let Some(line3) = a.lines.get(2) {
        x.open("cac:AddressLine").leaf("cbc:Line", line3).close();
    }
    x.open("cac:Country").leaf("cbc:IdentificationCode", a.country.as_str()).close();
    x.close();
}

fn tax_scheme(x: &mut Xml, id: &str) {
    x.open("cac:TaxScheme").leaf("cbc:ID", id).close();
}

/// Renders an invoice or a credit note as UBL 2.1 XML (UTF-8).
pub fn to_ubl(inv: &Invoice) -> Vec<u8> {
    let b: &InvoiceBody = &inv.body;
    let cur = b.currency.as_str();
    let credit = inv.kind.is_credit_note();
    let (root, ns) = if credit {
        ("CreditNote", "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2")
    } else {
        ("Invoice", "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2")
    };
    let mut x = Xml::new(4096 + b.lines.len() * 900);
    x.open_with(
        if credit { "CreditNote" } else { "Invoice" },
        &[
            ("xmlns", ns),
            ("xmlns:cac", "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"),
            ("xmlns:cbc", "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"),
        ],
    );
    let _ = root;
    x.leaf("cbc:CustomizationID", CUSTOMIZATION_ID);
    x.leaf("cbc:ProfileID", billing_mode(inv));
    x.leaf("cbc:ID", inv.number.as_str());
    x.leaf("cbc:IssueDate", &iso_date(inv.issue_date));
    if let (false, Some(due)) = (credit, b.payment.due_date) {
        x.leaf("cbc:DueDate", &iso_date(due));
    }
    if credit {
        x.leaf("cbc:CreditNoteTypeCode", inv.kind.type_code());
    } else {
        x.leaf("cbc:InvoiceTypeCode", inv.kind.type_code());
    }
    for note in &b.notes {
        x.leaf("cbc:Note", &note_text(note));
    }
    x.leaf("cbc:DocumentCurrencyCode", cur);
    x.open("cac:OrderReference").leaf("cbc:ID", b.order_id.as_str()).close();
    // BT-25, BT-26: the invoice a credit note corrects, or the one a corrected invoice replaces.
    if let Some(preceding) = crate::preceding_invoice(inv) {
        x.open("cac:BillingReference")
            .open("cac:InvoiceDocumentReference")
            .leaf("cbc:ID", preceding.number.as_str())
            .leaf("cbc:IssueDate", &iso_date(preceding.issue_date))
            .close()
            .close();
    }

    // Seller (BG-4).
    let s = &b.seller;
    x.open("cac:AccountingSupplierParty").open("cac:Party");
    // BT-34: the seller's address in the reform's directory (its SIREN when the directory gave
    // none), else the e-mail.
    match crate::seller_endpoint(s) {
        Some(address) => x.leaf_with("cbc:EndpointID", &[("schemeID", crate::SIREN_ADDRESS_SCHEME)], &address),
        None => x.leaf_with("cbc:EndpointID", &[("schemeID", "EM")], &s.email),
    };
    if let Some(siret) = &s.siret {
        x.open("cac:PartyIdentification").leaf_with("cbc:ID", &[("schemeID", "0009")], siret.as_str()).close();
    }
    address(&mut x, "cac:PostalAddress", &s.address);
    if let Some(vat) = &s.vat_number {
        x.open("cac:PartyTaxScheme").leaf("cbc:CompanyID", vat.as_str());
        tax_scheme(&mut x, "VAT");
        x.close();
    } else if let Some(siren) = &s.siren {
        // BT-32: without a VAT number (franchise), the SIREN is the tax registration.
        x.open("cac:PartyTaxScheme").leaf("cbc:CompanyID", siren.as_str());
        tax_scheme(&mut x, "FC");
        x.close();
    }
    x.open("cac:PartyLegalEntity").leaf("cbc:RegistrationName", &s.legal_name);
    if let Some(siren) = &s.siren {
        x.leaf_with("cbc:CompanyID", &[("schemeID", "0002")], siren.as_str());
    }
    x.leaf("cbc:CompanyLegalForm", &s.legal_mentions);
    x.close();
    x.open("cac:Contact").leaf("cbc:ElectronicMail", &s.email).close();
    x.close().close();

    // Buyer (BG-7).
    let buyer = &b.buyer;
    let buyer_siren = crate::buyer_siren(inv);
    x.open("cac:AccountingCustomerParty").open("cac:Party");
    // BT-49: a business buyer's address in the directory, else its SIREN; a consumer has no
    // electronic address to give.
    if let Some(address) = buyer.endpoint() {
        x.leaf_with("cbc:EndpointID", &[("schemeID", crate::SIREN_ADDRESS_SCHEME)], &address);
    }
    address(&mut x, "cac:PostalAddress", &buyer.address);
    if let Some(vat) = &buyer.vat_number {
        x.open("cac:PartyTaxScheme").leaf("cbc:CompanyID", vat.as_str());
        tax_scheme(&mut x, "VAT");
        x.close();
    }
    x.open("cac:PartyLegalEntity").leaf("cbc:RegistrationName", &buyer.name);
    if let Some(siren) = &buyer_siren {
        x.leaf_with("cbc:CompanyID", &[("schemeID", "0002")], siren);
    }
    x.close();
    x.close().close();

    // Delivery (BG-13): the date always; the place when it differs from billing, and always
    // for an intra-EU supply (BR-IC-12 wants the deliver-to country).
    x.open("cac:Delivery");
    x.leaf("cbc:ActualDeliveryDate", &iso_date(b.delivery_date));
    let place = b
        .delivery
        .as_ref()
        .map(|d| (Some(d.name.as_str()), &d.address))
        .or_else(|| (b.regime == VatRegime::IntraEuExempt).then_some((None, &buyer.address)));
    if let Some((name, addr)) = place {
        x.open("cac:DeliveryLocation");
        address(&mut x, "cac:Address", addr);
        x.close();
        if let Some(name) = name {
            x.open("cac:DeliveryParty").open("cac:PartyName").leaf("cbc:Name", name).close().close();
        }
    }
    x.close();

    let means = &b.payment.means;
    if !means.is_unknown() {
        x.open("cac:PaymentMeans").leaf("cbc:PaymentMeansCode", &means.code);
        if let Some(iban) = &means.iban {
            x.open("cac:PayeeFinancialAccount").leaf("cbc:ID", iban);
            if let Some(bic) = &means.bic {
                x.open("cac:FinancialInstitutionBranch").leaf("cbc:ID", bic).close();
            }
            x.close();
        }
        x.close();
    }
    x.open("cac:PaymentTerms").leaf("cbc:Note", &b.payment.terms).close();

    // VAT breakdown (BG-23).
    x.open("cac:TaxTotal");
    amount(&mut x, "cbc:TaxAmount", b.totals.vat_total, cur);
    for g in &b.vat_breakdown {
        x.open("cac:TaxSubtotal");
        amount(&mut x, "cbc:TaxableAmount", g.taxable_amount, cur);
        amount(&mut x, "cbc:TaxAmount", g.vat_amount, cur);
        x.open("cac:TaxCategory").leaf("cbc:ID", g.category.code()).leaf("cbc:Percent", &g.rate.to_xml());
        x.leaf_opt("cbc:TaxExemptionReasonCode", g.exemption_code.as_deref());
        x.leaf_opt("cbc:TaxExemptionReason", g.exemption_text.as_deref());
        tax_scheme(&mut x, "VAT");
        x.close().close();
    }
    x.close();

    // Totals (BG-22): paid in full before shipping.
    let t = &b.totals;
    x.open("cac:LegalMonetaryTotal");
    amount(&mut x, "cbc:LineExtensionAmount", t.line_net_total, cur);
    amount(&mut x, "cbc:TaxExclusiveAmount", t.tax_exclusive, cur);
    amount(&mut x, "cbc:TaxInclusiveAmount", t.tax_inclusive, cur);
    amount(&mut x, "cbc:PrepaidAmount", t.prepaid, cur);
    amount(&mut x, "cbc:PayableAmount", t.payable, cur);
    x.close();

    // Lines (BG-25).
    for l in &b.lines {
        x.open(if credit { "cac:CreditNoteLine" } else { "cac:InvoiceLine" });
        x.leaf("cbc:ID", &l.id.to_string());
        x.leaf_with(
            if credit { "cbc:CreditedQuantity" } else { "cbc:InvoicedQuantity" },
            &[("unitCode", "C62")],
            &format_decimal(l.quantity, 0, 4),
        );
        amount(&mut x, "cbc:LineExtensionAmount", l.net_amount, cur);
        x.open("cac:Item").leaf("cbc:Name", &l.description);
        if let Some(sku) = &l.sku {
            x.open("cac:SellersItemIdentification").leaf("cbc:ID", sku).close();
        }
        if let Some(gtin) = l.gtin.as_deref().filter(|g| is_gtin(g)) {
            x.open("cac:StandardItemIdentification").leaf_with("cbc:ID", &[("schemeID", "0160")], gtin).close();
        }
        x.open("cac:ClassifiedTaxCategory").leaf("cbc:ID", l.category.code()).leaf("cbc:Percent", &l.vat_rate.to_xml());
        tax_scheme(&mut x, "VAT");
        x.close().close();
        x.open("cac:Price");
        x.leaf_with("cbc:PriceAmount", &[("currencyID", cur)], &format_decimal(l.unit_price_net, 2, 6));
        x.close();
        x.close();
    }
    x.finish()
}

/// A GTIN: 8, 12, 13 or 14 digits with a valid check digit (GS1 mod 10). Others are left
/// out of the standard identification rather than sent as a false GTIN.
pub fn is_gtin(s: &str) -> bool {
    if !matches!(s.len(), 8 | 12 | 13 | 14) || !s.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let digits: Vec<u32> = s.bytes().map(|b| u32::from(b - b'0')).collect();
    let (body, check) = digits.split_at(digits.len() - 1);
    let sum: u32 = body.iter().rev().enumerate().map(|(i, d)| if i % 2 == 0 { d * 3 } else { *d }).sum();
    (10 - sum % 10) % 10 == check[0]
}

#[cfg(test)]
mod tests {
    use super::is_gtin;

    #[test]
    fn gtin_check_digits() {
        assert!(is_gtin("4006381333931"));
        assert!(!is_gtin("4006381333932"));
        assert!(!is_gtin("40063813339"));
    }
}
