//! Lifecycle statuses from a CDAR message (UN/CEFACT Cross Domain Acknowledgement and
//! Response D22B, as profiled by the French CDV rules: `rsm:AcknowledgementDocument` holds one
//! `ram:ReferenceReferencedDocument` per invoice, with the invoice number
//! `ram:IssuerAssignedID` (MDT-87), the status `ram:ProcessConditionCode` (MDT-105) and, for a
//! refusal or a rejection, `ram:SpecifiedDocumentStatus/ram:ReasonCode` (MDT-113) and
//! `ram:Reason`).

use marketbill_app::platform::LifecycleStatus;

const RSM: &str = "urn:un:unece:uncefact:data:standard:CrossDomainAcknowledgementAndResponse:100";
const RAM: &str = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100";

fn child<'a, 'input>(n: roxmltree::Node<'a, 'input>, name: &str) -> Option<roxmltree::Node<'a, 'input>> {
    n.children().find(|c| c.has_tag_name((RAM, name)))
}

fn text_of(n: Option<roxmltree::Node<'_, '_>>) -> Option<String> {
    n.and_then(|n| n.text()).map(|t| t.trim().chars().take(500).collect::<String>()).filter(|t| !t.is_empty())
}

/// The statuses a CDAR message carries, in document order.
pub fn read_lifecycle(bytes: &[u8]) -> Result<Vec<LifecycleStatus>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("CDAR is not UTF-8: {e}"))?;
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("CDAR: {e}"))?;
    let root = doc.root_element();
    if !root.has_tag_name((RSM, "CrossDomainAcknowledgementAndResponse")) {
        return Err(format!("not a CDAR message: <{}>", root.tag_name().name()));
    }
    let mut out = Vec::new();
    for ack in root.children().filter(|c| c.has_tag_name((RSM, "AcknowledgementDocument"))) {
        for reference in ack.children().filter(|c| c.has_tag_name((RAM, "ReferenceReferencedDocument"))) {
            let number = text_of(child(reference, "IssuerAssignedID")).ok_or("a status without invoice number")?;
            let code = text_of(child(reference, "ProcessConditionCode"))
                .ok_or("a status without ProcessConditionCode")?
                .parse::<u16>()
                .map_err(|e| format!("status code: {e}"))?;
            let status = child(reference, "SpecifiedDocumentStatus");
            out.push(LifecycleStatus {
                invoice_number: number,
                code,
                reason_code: text_of(status.and_then(|s| child(s, "ReasonCode"))),
                reason: text_of(status.and_then(|s| child(s, "Reason"))),
            });
        }
    }
    if out.is_empty() {
        return Err("a CDAR message without status".into());
    }
    Ok(out)
}
