//! UN/CEFACT Cross Industry Invoice (D16B) for Factur-X, profile EN 16931 — the XML embedded
//! in the PDF as `factur-x.xml`. Elements in the order of the Factur-X 1.0 EN 16931 schema.

use marketbill_domain::calendar::compact_date;
use marketbill_domain::invoice::InvoiceAddress;
use marketbill_domain::money::{format_amount, format_decimal};
use marketbill_domain::{Invoice, VatRegime};

use crate::ubl::{billing_mode, is_gtin};
use crate::xml::Xml;

/// Factur-X guideline id of the EN 16931 (COMFORT) profile.
const GUIDELINE_ID: &str = "urn:cen.eu:en16931:2017";

fn date(x: &mut Xml, wrapper: &'static str, d: time::Date) {
    x.open(wrapper).leaf_with("udt:DateTimeString", &[("format", "102")], &compact_date(d)).close();
}

fn address(x: &mut Xml, a: &InvoiceAddress) {
    x.open("ram:PostalTradeAddress");
    x.leaf("ram:PostcodeCode", &a.postal_code);
    x.leaf_opt("ram:LineOne", a.lines.first().map(String::as_str));
    x.leaf_opt("ram:LineTwo", a.lines.get(1).map(String::as_str));
    x.leaf_opt("ram:LineThree", a.lines.get(2).map(String::as_str));
    x.leaf("ram:CityName", &a.city);
    x.leaf("ram:CountryID", a.country.as_str());
    x.close();
}

/// Renders the CII XML of an invoice or credit note.
pub fn to_cii(inv: &Invoice) -> Vec<u8> {
    let b = &inv.body;
    let cur = b.currency.as_str();
    let mut x = Xml::new(4096 + b.lines.len() * 1000);
    x.open_with(
        "rsm:CrossIndustryInvoice",
        &[
            ("xmlns:rsm", "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"),
            ("xmlns:ram", "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"),
            ("xmlns:qdt", "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"),
            ("xmlns:udt", "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"),
        ],
    );
    x.open("rsm:ExchangedDocumentContext");
    x.open("ram:BusinessProcessSpecifiedDocumentContextParameter").leaf("ram:ID", billing_mode(inv)).close();
    x.open("ram:GuidelineSpecifiedDocumentContextParameter").leaf("ram:ID", GUIDELINE_ID).close();
    x.close();

    x.open("rsm:ExchangedDocument");
    x.leaf("ram:ID", inv.number.as_str());
    x.leaf("ram:TypeCode", inv.kind.type_code());
    date(&mut x, "ram:IssueDateTime", inv.issue_date);
    for note in &b.notes {
        x.open("ram:IncludedNote").leaf("ram:Content", &note.text);
        x.leaf_opt("ram:SubjectCode", note.subject.as_deref());
        x.close();
    }
    x.close();

    x.open("rsm:SupplyChainTradeTransaction");
    for l in &b.lines {
        x.open("ram:IncludedSupplyChainTradeLineItem");
        x.open("ram:AssociatedDocumentLineDocument").leaf("ram:LineID", &l.id.to_string()).close();
        x.open("ram:SpecifiedTradeProduct");
        if let Some(gtin) = l.gtin.as_deref().filter(|g| is_gtin(g)) {
            x.leaf_with("ram:GlobalID", &[("schemeID", "0160")], gtin);
        }
        x.leaf_opt("ram:SellerAssignedID", l.sku.as_deref());
        x.leaf("ram:Name", &l.description);
        x.close();
        x.open("ram:SpecifiedLineTradeAgreement")
            .open("ram:NetPriceProductTradePrice")
            .leaf("ram:ChargeAmount", &format_decimal(l.unit_price_net, 2, 6))
            .close()
            .close();
        x.open("ram:SpecifiedLineTradeDelivery")
            .leaf_with("ram:BilledQuantity", &[("unitCode", "C62")], &format_decimal(l.quantity, 0, 4))
            .close();
        x.open("ram:SpecifiedLineTradeSettlement");
        x.open("ram:ApplicableTradeTax")
            .leaf("ram:TypeCode", "VAT")
            .leaf("ram:CategoryCode", l.category.code())
            .leaf("ram:RateApplicablePercent", &l.vat_rate.to_xml())
            .close();
        x.open("ram:SpecifiedTradeSettlementLineMonetarySummation")
            .leaf("ram:LineTotalAmount", &format_amount(l.net_amount))
            .close();
        x.close();
        x.close();
    }

    // Agreement: seller, buyer, order reference.
    let s = &b.seller;
    x.open("ram:ApplicableHeaderTradeAgreement");
    x.open("ram:SellerTradeParty");
    if let Some(siret) = &s.siret {
        x.leaf_with("ram:GlobalID", &[("schemeID", "0009")], siret.as_str());
    }
    x.leaf("ram:Name", &s.legal_name);
    x.leaf("ram:Description", &s.legal_mentions);
    if let Some(siren) = &s.siren {
        x.open("ram:SpecifiedLegalOrganization").leaf_with("ram:ID", &[("schemeID", "0002")], siren.as_str()).close();
    }
    x.open("ram:DefinedTradeContact")
        .open("ram:EmailURIUniversalCommunication")
        .leaf("ram:URIID", &s.email)
        .close()
        .close();
    address(&mut x, &s.address);
    // BT-34: the seller's address in the reform's directory (its SIREN when the directory gave
    // none), else the e-mail.
    match crate::seller_endpoint(s) {
        Some(address) => x.open("ram:URIUniversalCommunication").leaf_with(
            "ram:URIID",
            &[("schemeID", crate::SIREN_ADDRESS_SCHEME)],
            &address,
        ),
        None => x.open("ram:URIUniversalCommunication").leaf_with("ram:URIID", &[("schemeID", "EM")], &s.email),
    }
    .close();
    if let Some(vat) = &s.vat_number {
        x.open("ram:SpecifiedTaxRegistration").leaf_with("ram:ID", &[("schemeID", "VA")], vat.as_str()).close();
    } else if let Some(siren) = &s.siren {
        x.open("ram:SpecifiedTaxRegistration").leaf_with("ram:ID", &[("schemeID", "FC")], siren.as_str()).close();
    }
    x.close();

    let buyer = &b.buyer;
    x.open("ram:BuyerTradeParty");
    x.leaf("ram:Name", &buyer.name);
    let buyer_siren = crate::buyer_siren(inv);
    if let Some(siren) = &buyer_siren {
        x.open("ram:SpecifiedLegalOrganization").leaf_with("ram:ID", &[("schemeID", "0002")], siren).close();
    }
    address(&mut x, &buyer.address);
    // BT-49: a business buyer's address in the directory, else its SIREN; a consumer has no
    // electronic address to give.
    if let Some(address) = buyer.endpoint() {
        x.open("ram:URIUniversalCommunication")
            .leaf_with("ram:URIID", &[("schemeID", crate::SIREN_ADDRESS_SCHEME)], &address)
            .close();
    }
    if let Some(vat) = &buyer.vat_number {
        x.open("ram:SpecifiedTaxRegistration").leaf_with("ram:ID", &[("schemeID", "VA")], vat.as_str()).close();
    }
    x.close();
    x.open("ram:BuyerOrderReferencedDocument").leaf("ram:IssuerAssignedID", b.order_id.as_str()).close();
    x.close();

    // Delivery.
    x.open("ram:ApplicableHeaderTradeDelivery");
    let place = b
        .delivery
        .as_ref()
        .map(|d| (d.name.as_str(), &d.address))
        .or_else(|| (b.regime == VatRegime::IntraEuExempt).then_some((buyer.name.as_str(), &buyer.address)));
    if let Some((name, addr)) = place {
        x.open("ram:ShipToTradeParty").leaf("ram:Name", name);
        address(&mut x, addr);
        x.close();
    }
    x.open("ram:ActualDeliverySupplyChainEvent");
    date(&mut x, "ram:OccurrenceDateTime", b.delivery_date);
    x.close();
    x.close();

    // Settlement: VAT breakdown, terms, totals, corrected invoice.
    x.open("ram:ApplicableHeaderTradeSettlement");
    x.leaf("ram:InvoiceCurrencyCode", cur);
    let means = &b.payment.means;
    if !means.is_unknown() {
        x.open("ram:SpecifiedTradeSettlementPaymentMeans").leaf("ram:TypeCode", &means.code);
        if let Some(iban) = &means.iban {
            x.open("ram:PayeePartyCreditorFinancialAccount").leaf("ram:IBANID", iban).close();
        }
        if let (Some(_), Some(bic)) = (&means.iban, &means.bic) {
            x.open("ram:PayeeSpecifiedCreditorFinancialInstitution").leaf("ram:BICID", bic).close();
        }
        x.close();
    }
    for g in &b.vat_breakdown {
        x.open("ram:ApplicableTradeTax");
        x.leaf("ram:CalculatedAmount", &format_amount(g.vat_amount));
        x.leaf("ram:TypeCode", "VAT");
        x.leaf_opt("ram:ExemptionReason", g.exemption_text.as_deref());
        x.leaf("ram:BasisAmount", &format_amount(g.taxable_amount));
        x.leaf("ram:CategoryCode", g.category.code());
        x.leaf_opt("ram:ExemptionReasonCode", g.exemption_code.as_deref());
        x.leaf("ram:RateApplicablePercent", &g.rate.to_xml());
        x.close();
    }
    x.open("ram:SpecifiedTradePaymentTerms").leaf("ram:Description", &b.payment.terms);
    if let Some(due) = b.payment.due_date {
        date(&mut x, "ram:DueDateDateTime", due);
    }
    x.close();
    let t = &b.totals;
    x.open("ram:SpecifiedTradeSettlementHeaderMonetarySummation");
    x.leaf("ram:LineTotalAmount", &format_amount(t.line_net_total));
    x.leaf("ram:TaxBasisTotalAmount", &format_amount(t.tax_exclusive));
    x.leaf_with("ram:TaxTotalAmount", &[("currencyID", cur)], &format_amount(t.vat_total));
    x.leaf("ram:GrandTotalAmount", &format_amount(t.tax_inclusive));
    x.leaf("ram:TotalPrepaidAmount", &format_amount(t.prepaid));
    x.leaf("ram:DuePayableAmount", &format_amount(t.payable));
    x.close();
    if let Some(preceding) = crate::preceding_invoice(inv) {
        x.open("ram:InvoiceReferencedDocument");
        x.leaf("ram:IssuerAssignedID", preceding.number.as_str());
        x.open("ram:FormattedIssueDateTime")
            .leaf_with("qdt:DateTimeString", &[("format", "102")], &compact_date(preceding.issue_date))
            .close();
        x.close();
    }
    x.close();
    x.close();
    x.finish()
}
