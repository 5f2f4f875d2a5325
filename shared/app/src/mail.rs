//! The invoice e-mail: a French text naming the seller and the number, the PDF attached,
//! as one RFC 5322 / MIME message (what SES v2 sends raw and the outbox stores as `.eml`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use marketbill_domain::calendar::french_date;
use marketbill_domain::money::format_euros_fr;
use marketbill_domain::{DocumentKind, Invoice};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use crate::ports::OutgoingMail;

/// `RFC 2047` encoded word for a header holding non-ASCII text.
fn encoded_word(text: &str) -> String {
    if text.is_ascii() && !text.contains(['\r', '\n']) {
        return text.to_owned();
    }
    format!("=?UTF-8?B?{}?=", STANDARD.encode(text.as_bytes()))
}

fn wrap_base64(bytes: &[u8]) -> String {
    let encoded = STANDARD.encode(bytes);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 76 * 2 + 2);
    for chunk in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        out.push_str("\r\n");
    }
    out
}

/// A display name made safe for a header.
fn display_name(name: &str) -> String {
    let cleaned: String = name.chars().filter(|c| !c.is_control() && *c != '"' && *c != '\\').collect();
    if cleaned.is_ascii() { format!("\"{cleaned}\"") } else { encoded_word(&cleaned) }
}

/// Hides most of an e-mail address for logs (`x8f2k@relay.example` → `x***@relay.example`).
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
        None => "***".into(),
    }
}

/// The mail that carries an invoice (or credit note) to its buyer.
pub fn invoice_mail(invoice: &Invoice, pdf: &[u8], from: &str, to: &str, sent_at: OffsetDateTime) -> OutgoingMail {
    let b = &invoice.body;
    let seller = &b.seller.legal_name;
    let (subject, intro) = match &invoice.kind {
        DocumentKind::Invoice => (
            format!("Votre facture {} — {seller}", invoice.number),
            format!("Veuillez trouver ci-joint la facture {} du {}", invoice.number, french_date(invoice.issue_date)),
        ),
        DocumentKind::CreditNote { corrects } => (
            format!("Votre avoir {} — {seller}", invoice.number),
            format!(
                "Veuillez trouver ci-joint l'avoir {} du {}, qui annule la facture {}",
                invoice.number,
                french_date(invoice.issue_date),
                corrects.number
            ),
        ),
    };
    let text = format!(
        "Bonjour,\r\n\r\n{intro}, émis(e) par {seller} pour votre commande Cdiscount n° {}.\r\n\
         Montant : {} TTC — {}.\r\n\r\n\
         Ce document est une facture électronique au format Factur-X : le PDF contient aussi les données \
         structurées de la facture.\r\n\r\n\
         Pour toute question sur votre commande, répondez à ce message ou écrivez à {}.\r\n\r\n\
         Cordialement,\r\n{seller}\r\n",
        b.order_id,
        format_euros_fr(b.totals.tax_inclusive),
        b.payment.terms,
        b.seller.email,
    );
    let digest = Sha256::digest([invoice.number.as_str().as_bytes(), b.order_id.as_str().as_bytes()].concat());
    let tag: String = digest.iter().take(12).map(|x| format!("{x:02x}")).collect();
    let boundary = format!("mb-{tag}");
    let date = sent_at.format(&Rfc2822).unwrap_or_default();
    let file = format!("{}.pdf", invoice.number);
    let mut m = String::with_capacity(pdf.len() * 4 / 3 + 2048);
    m.push_str(&format!("From: {} <{from}>\r\n", display_name(seller)));
    m.push_str(&format!("Reply-To: <{}>\r\n", b.seller.email));
    m.push_str(&format!("To: <{to}>\r\n"));
    m.push_str(&format!("Subject: {}\r\n", encoded_word(&subject)));
    m.push_str(&format!("Date: {date}\r\n"));
    m.push_str(&format!("Message-ID: <{tag}.{}@marketbill.invalid>\r\n", invoice.number));
    m.push_str("MIME-Version: 1.0\r\n");
    m.push_str(&format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n"));
    m.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ));
    m.push_str(&wrap_base64(text.as_bytes()));
    m.push_str(&format!(
        "--{boundary}\r\nContent-Type: application/pdf; name=\"{file}\"\r\n\
         Content-Disposition: attachment; filename=\"{file}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ));
    m.push_str(&wrap_base64(pdf));
    m.push_str(&format!("--{boundary}--\r\n"));
    OutgoingMail { from: from.to_owned(), to: to.to_owned(), mime: m.into_bytes() }
}

/// A part of a received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailPart {
    pub content_type: String,
    pub file_name: Option<String>,
    pub bytes: Vec<u8>,
}

/// Reads back a message made by [`invoice_mail`] (headers and base64 parts): for tests and
/// for the outbox viewer.
pub fn parse_mail(mime: &[u8]) -> (Vec<(String, String)>, Vec<MailPart>) {
    let text = String::from_utf8_lossy(mime).replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let headers: Vec<(String, String)> = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let boundary = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Content-Type"))
        .and_then(|(_, v)| v.split("boundary=").nth(1))
        .map(|b| b.trim_matches('"').to_owned());
    let mut parts = Vec::new();
    if let Some(boundary) = boundary {
        for chunk in body.split(&format!("--{boundary}")).skip(1) {
            if chunk.starts_with("--") {
                break;
            }
            let (phead, pbody) = chunk.trim_start_matches('\n').split_once("\n\n").unwrap_or(("", ""));
            let content_type = phead
                .lines()
                .find_map(|l| l.strip_prefix("Content-Type:"))
                .map(|v| v.split(';').next().unwrap_or("").trim().to_owned())
                .unwrap_or_default();
            let file_name =
                phead.lines().find_map(|l| l.split("filename=").nth(1)).map(|f| f.trim().trim_matches('"').to_owned());
            let compact: String = pbody.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = STANDARD.decode(compact.as_bytes()).unwrap_or_default();
            parts.push(MailPart { content_type, file_name, bytes });
        }
    }
    (headers, parts)
}

/// Decodes an RFC 2047 `=?UTF-8?B?…?=` header value (or returns it as is).
pub fn decode_header(value: &str) -> String {
    match value.strip_prefix("=?UTF-8?B?").and_then(|v| v.strip_suffix("?=")) {
        Some(b64) => {
            STANDARD.decode(b64).ok().and_then(|b| String::from_utf8(b).ok()).unwrap_or_else(|| value.to_owned())
        }
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_masked_for_logs() {
        assert_eq!(mask_email("x8f2k@relay.example"), "x***@relay.example");
        assert_eq!(mask_email("nobody"), "***");
    }

    #[test]
    fn header_words_round_trip() {
        let w = encoded_word("Votre facture F2026-000001 — Maison Lumière");
        assert!(w.is_ascii());
        assert_eq!(decode_header(&w), "Votre facture F2026-000001 — Maison Lumière");
    }
}
