//! The invoice e-mail: a French text naming the seller and the number, the PDF attached,
//! as one RFC 5322 / MIME message (what SES v2 sends raw and the outbox stores as `.eml`).
//!
//! The message is built by lettre's message builder (headers encoded and folded, MIME parts,
//! base64) from addresses that passed [`parse_address`] and lettre's own address parser: an
//! address from the marketplace, a form or the configuration can never add a header or a
//! recipient. Messages are read back (tests, the outbox) with mail-parser.

use std::time::SystemTime;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{Address, Message};
use marketbill_domain::calendar::french_date;
use marketbill_domain::email::{EmailError, parse_address};
use marketbill_domain::money::format_euros_fr;
use marketbill_domain::{DocumentKind, Invoice};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::ports::OutgoingMail;

/// Why a mail could not be built. Nothing is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailBuildError {
    #[error("the buyer's e-mail address was refused ({0}); the invoice was not mailed")]
    Recipient(EmailError),
    #[error("the configured sender address is refused: {0}")]
    Sender(EmailError),
    #[error("the seller's e-mail address is refused: {0}")]
    ReplyTo(EmailError),
    #[error("the mail cannot be built: {0}")]
    Build(String),
}

/// One bare address, checked by our policy and then by lettre's parser.
pub fn mail_address(text: &str) -> Result<Address, EmailError> {
    let bare = parse_address(text)?;
    bare.parse::<Address>().map_err(|_| EmailError::Invalid)
}

/// Hides most of an e-mail address for logs (`x8f2k@relay.example` → `x***@relay.example`).
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let domain: String = domain.chars().filter(|c| !c.is_control()).take(64).collect();
            format!("{}***@{domain}", local.chars().next().filter(|c| !c.is_control()).unwrap_or('*'))
        }
        None => "***".into(),
    }
}

/// The mail that carries an invoice (or credit note) to its buyer. An invoice's mail points
/// to the buyer's page (`buyer_page`), where a business asks for the invoice in its name.
pub fn invoice_mail(
    invoice: &Invoice,
    pdf: &[u8],
    from: &str,
    to: &str,
    sent_at: OffsetDateTime,
    buyer_page: Option<&str>,
) -> Result<OutgoingMail, MailBuildError> {
    let to_address = mail_address(to).map_err(MailBuildError::Recipient)?;
    let from_address = mail_address(from).map_err(MailBuildError::Sender)?;
    let b = &invoice.body;
    let reply_to = mail_address(&b.seller.email).map_err(MailBuildError::ReplyTo)?;
    // The seller's name is text, never structure: control characters become spaces.
    let seller: String = b.seller.legal_name.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let (subject, intro) = match &invoice.kind {
        DocumentKind::Invoice => (
            format!("Votre facture {} — {seller}", invoice.number),
            match &b.replaces {
                Some(r) => format!(
                    "Veuillez trouver ci-joint la facture corrigée {} du {}, qui remplace la facture {}",
                    invoice.number,
                    french_date(invoice.issue_date),
                    r.number
                ),
                None => format!(
                    "Veuillez trouver ci-joint la facture {} du {}",
                    invoice.number,
                    french_date(invoice.issue_date)
                ),
            },
        ),
        DocumentKind::CreditNote { corrects } => (
            format!("Votre avoir {} — {seller}", invoice.number),
            format!(
                "Veuillez trouver ci-joint l'avoir {} du {}, qui {} la facture {}",
                invoice.number,
                french_date(invoice.issue_date),
                if corrects.partial { "porte sur une partie de" } else { "annule" },
                corrects.number
            ),
        ),
    };
    // A business order without the buyer's SIREN: the e-invoicing reform addresses business
    // invoices by SIREN, so the mail asks for it (the page then issues the corrected invoice).
    let siren_missing = b.business && b.buyer.known_siren().is_none();
    let company_request = match (&invoice.kind, buyer_page) {
        // A corrected invoice answers the buyer's request: nothing more to ask.
        (DocumentKind::Invoice, _) if b.replaces.is_some() => String::new(),
        (DocumentKind::Invoice, Some(url)) if siren_missing => format!(
            "Votre commande a été passée pour une entreprise, mais nous ne connaissons pas son SIREN. \
             Indiquez-le ici pour recevoir la facture électronique à son nom :\r\n{url}\r\n\r\n"
        ),
        (DocumentKind::Invoice, None) if siren_missing => "Votre commande a été passée pour une entreprise, mais \
             nous ne connaissons pas son SIREN. Indiquez-le en répondant à ce message, pour recevoir la \
             facture électronique à son nom.\r\n\r\n"
            .to_owned(),
        (DocumentKind::Invoice, Some(url)) => format!(
            "Besoin d'une facture au nom de votre société, ou d'une adresse corrigée ? Demandez-la ici :\r\n{url}\r\n\r\n"
        ),
        _ => String::new(),
    };
    let text = format!(
        "Bonjour,\r\n\r\n{intro}, émis(e) par {seller} pour votre commande Cdiscount n° {}.\r\n\
         Montant : {} TTC — {}.\r\n\r\n\
         Ce document est une facture électronique au format Factur-X : le PDF contient aussi les données \
         structurées de la facture.\r\n\r\n\
         {company_request}\
         Pour toute question sur votre commande, répondez à ce message ou écrivez à {}.\r\n\r\n\
         Cordialement,\r\n{seller}\r\n",
        b.order_id,
        format_euros_fr(b.totals.tax_inclusive),
        b.payment.terms,
        reply_to,
    );
    document_mail(
        invoice,
        pdf,
        Addresses { name: seller, from: from_address, reply_to, to: to_address },
        subject,
        text,
        sent_at,
    )
}

/// Who a document mail is from, for and answered to.
struct Addresses {
    /// The display name of the sender (the issuer of the document).
    name: String,
    from: Address,
    reply_to: Address,
    to: Address,
}

/// A mail of one document: the text and the PDF attached. Boundary and Message-ID derive from
/// the document, so a resend is the same message.
fn document_mail(
    invoice: &Invoice,
    pdf: &[u8],
    a: Addresses,
    subject: String,
    text: String,
    sent_at: OffsetDateTime,
) -> Result<OutgoingMail, MailBuildError> {
    let b = &invoice.body;
    let digest = Sha256::digest([invoice.number.as_str().as_bytes(), b.order_id.as_str().as_bytes()].concat());
    let tag: String = digest.iter().take(12).map(|x| format!("{x:02x}")).collect();
    let pdf_type = ContentType::parse("application/pdf").map_err(|e| MailBuildError::Build(e.to_string()))?;
    let message = Message::builder()
        .from(Mailbox::new(Some(a.name), a.from.clone()))
        .reply_to(Mailbox::new(None, a.reply_to))
        .to(Mailbox::new(None, a.to.clone()))
        .subject(subject)
        .date(SystemTime::from(sent_at))
        .message_id(Some(format!("<{tag}.{}@marketbill.invalid>", invoice.number)))
        .multipart(
            MultiPart::mixed()
                .boundary(format!("mb-{tag}"))
                .singlepart(SinglePart::plain(text))
                .singlepart(Attachment::new(format!("{}.pdf", invoice.number)).body(pdf.to_vec(), pdf_type)),
        )
        .map_err(|e| MailBuildError::Build(e.to_string()))?;
    Ok(OutgoingMail { from: a.from.to_string(), to: a.to.to_string(), mime: message.formatted() })
}

/// Marketbill's fee invoice to a seller: the PDF attached, the amount due and its terms.
pub fn fee_invoice_mail(
    invoice: &Invoice,
    pdf: &[u8],
    from: &str,
    to: &str,
    sent_at: OffsetDateTime,
) -> Result<OutgoingMail, MailBuildError> {
    let to_address = mail_address(to).map_err(MailBuildError::Recipient)?;
    let from_address = mail_address(from).map_err(MailBuildError::Sender)?;
    let b = &invoice.body;
    let reply_to = mail_address(&b.seller.email).map_err(MailBuildError::ReplyTo)?;
    let operator: String = b.seller.legal_name.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let text = format!(
        "Bonjour,\r\n\r\nVeuillez trouver ci-joint la facture {} du {} de {operator} pour votre utilisation \
         du service le mois dernier (référence {}).\r\n\
         Montant : {} TTC — {}.\r\n\r\n\
         Elle est aussi dans votre espace, page « Utilisation et frais ».\r\n\
         Pour toute question, répondez à ce message ou écrivez à {}.\r\n\r\n\
         Cordialement,\r\n{operator}\r\n",
        invoice.number,
        french_date(invoice.issue_date),
        b.order_id,
        format_euros_fr(b.totals.payable),
        b.payment.terms,
        reply_to,
    );
    let subject = format!("Votre facture {} — {operator}", invoice.number);
    document_mail(
        invoice,
        pdf,
        Addresses { name: operator, from: from_address, reply_to, to: to_address },
        subject,
        text,
        sent_at,
    )
}

/// The local sign-in mail: a one-time link to the seller's personal space, in French and
/// English. (On AWS, Cognito's managed login sends its own.)
pub fn sign_in_mail(from: &str, to: &str, link: &str, sent_at: OffsetDateTime) -> Result<OutgoingMail, MailBuildError> {
    let text = format!(
        "Bonjour,\r\n\r\nPour ouvrir votre espace Marketbill, suivez ce lien (valable 15 minutes, une seule fois) :\r\n\
         {link}\r\n\r\nSi vous n'avez rien demandé, ignorez ce message.\r\n\r\n\
         ---\r\nTo open your Marketbill space, follow the link above (valid for 15 minutes, once).\r\n"
    );
    notice_mail(from, to, None, "Votre lien de connexion à Marketbill", text, sent_at)
}

/// The mail that tells a seller its first invoices are out, with the way to its space.
pub fn first_invoices_mail(
    from: &str,
    to: &str,
    issued: u64,
    space: Option<&str>,
    sent_at: OffsetDateTime,
) -> Result<OutgoingMail, MailBuildError> {
    let count = if issued == 1 {
        "Votre première facture est partie".to_owned()
    } else {
        format!("Vos {issued} premières factures sont parties")
    };
    let link = space.map(|url| format!("Retrouvez-les dans votre espace :\r\n{url}\r\n\r\n")).unwrap_or_default();
    let text = format!(
        "Bonjour,\r\n\r\n{count} : chaque acheteur l'a reçue par e-mail et elle est déposée sur sa \
         commande Cdiscount. Les suivantes partent d'elles-mêmes, deux fois par jour (6 h et 18 h).\r\n\r\n\
         {link}---\r\nYour first invoices are out: mailed to each buyer and attached to the Cdiscount orders. \
         The next ones go by themselves, twice a day.\r\n"
    );
    notice_mail(from, to, None, "Vos premières factures sont parties", text, sent_at)
}

/// The mail that asks a business buyer for its e-invoicing address: its invoice must reach it
/// through its approved platform, and the e-invoicing directory knows no address for its SIREN.
pub fn not_in_directory_mail(
    invoice: &Invoice,
    from: &str,
    to: &str,
    buyer_page: Option<&str>,
    sent_at: OffsetDateTime,
) -> Result<OutgoingMail, MailBuildError> {
    let b = &invoice.body;
    let seller: String = b.seller.legal_name.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let siren = b.buyer.known_siren().unwrap_or_default();
    let correct = match buyer_page {
        Some(url) => format!("Si ce SIREN est erroné, corrigez-le ici :\r\n{url}\r\n\r\n"),
        None => "Si ce SIREN est erroné, indiquez le bon en répondant à ce message.\r\n\r\n".to_owned(),
    };
    let text = format!(
        "Bonjour,\r\n\r\nLa facture {} de {seller} pour votre commande Cdiscount n° {} doit vous parvenir par \
         votre plateforme de facturation électronique (réforme de la facturation électronique entre entreprises). \
         L'annuaire de la facturation électronique ne connaît pas encore d'adresse pour le SIREN {siren}.\r\n\r\n\
         {correct}\
         S'il est exact, demandez à votre plateforme agréée d'inscrire votre entreprise dans l'annuaire : la facture \
         vous sera transmise dès qu'elle y figurera. Vous avez reçu sa copie PDF par e-mail.\r\n\r\n\
         Cordialement,\r\n{seller}\r\n",
        invoice.number, b.order_id,
    );
    // Answers go to the seller, as for the invoice itself.
    let reply_to = mail_address(&b.seller.email).map_err(MailBuildError::ReplyTo)?;
    let subject = format!("Votre facture {} — adresse de facturation électronique", invoice.number);
    notice_mail(from, to, Some(reply_to), &subject, text, sent_at)
}

/// A plain-text notice from Marketbill.
fn notice_mail(
    from: &str,
    to: &str,
    reply_to: Option<Address>,
    subject: &str,
    text: String,
    sent_at: OffsetDateTime,
) -> Result<OutgoingMail, MailBuildError> {
    let to_address = mail_address(to).map_err(MailBuildError::Recipient)?;
    let from_address = mail_address(from).map_err(MailBuildError::Sender)?;
    let mut builder = Message::builder()
        .from(Mailbox::new(Some("Marketbill".into()), from_address.clone()))
        .to(Mailbox::new(None, to_address.clone()));
    if let Some(r) = reply_to {
        builder = builder.reply_to(Mailbox::new(None, r));
    }
    let message = builder
        .subject(subject)
        .date(SystemTime::from(sent_at))
        .singlepart(SinglePart::plain(text))
        .map_err(|e| MailBuildError::Build(e.to_string()))?;
    Ok(OutgoingMail { from: from_address.to_string(), to: to_address.to_string(), mime: message.formatted() })
}

/// A part of a received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailPart {
    pub content_type: String,
    pub file_name: Option<String>,
    pub bytes: Vec<u8>,
}

/// Reads a message back (tests, the outbox): its headers, decoded (`Subject` in clear text,
/// address headers as the bare addresses, comma-separated), and its leaf parts decoded.
pub fn parse_mail(mime: &[u8]) -> (Vec<(String, String)>, Vec<MailPart>) {
    let Some(message) = mail_parser::MessageParser::default().parse(mime) else {
        return (Vec::new(), Vec::new());
    };
    let mut headers = Vec::new();
    for header in message.headers() {
        let name = header.name().to_owned();
        let value = match header.value() {
            mail_parser::HeaderValue::Address(a) => a.iter().filter_map(|x| x.address()).collect::<Vec<_>>().join(", "),
            mail_parser::HeaderValue::Text(t) => t.to_string(),
            mail_parser::HeaderValue::TextList(l) => l.join(", "),
            _ => message.header_raw(header.name()).unwrap_or_default().trim().to_owned(),
        };
        headers.push((name, value));
    }
    let mut parts = Vec::new();
    for part in message.parts.iter() {
        if matches!(part.body, mail_parser::PartType::Multipart(_) | mail_parser::PartType::Message(_)) {
            continue;
        }
        let content_type = mail_parser::MimeHeaders::content_type(part)
            .map(|c| match c.subtype() {
                Some(sub) => format!("{}/{sub}", c.ctype()),
                None => c.ctype().to_owned(),
            })
            .unwrap_or_else(|| "text/plain".into());
        let file_name = mail_parser::MimeHeaders::attachment_name(part).map(str::to_owned);
        parts.push(MailPart { content_type, file_name, bytes: part.contents().to_vec() });
    }
    (headers, parts)
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
    fn masking_drops_control_characters() {
        assert_eq!(mask_email("\r\nx@relay.example\r\n"), "****@relay.example");
    }

    fn sample() -> Invoice {
        marketbill_testkit::invoices::sample_invoice(2).unwrap()
    }

    const AT: OffsetDateTime = time::macros::datetime!(2026-11-22 05:00 UTC);

    #[test]
    fn a_mail_has_one_recipient_the_pdf_and_the_seller_as_reply_to() {
        let inv = sample();
        let mail =
            invoice_mail(&inv, b"%PDF-1.7 x", "factures@marketbill.example", "x8f2k@relay.example", AT, None).unwrap();
        assert_eq!(mail.to, "x8f2k@relay.example");
        let (headers, parts) = parse_mail(&mail.mime);
        let get = |k: &str| {
            headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone()).collect::<Vec<_>>()
        };
        assert_eq!(get("To"), ["x8f2k@relay.example"]);
        assert_eq!(get("Reply-To"), std::slice::from_ref(&inv.body.seller.email));
        assert!(get("Cc").is_empty() && get("Bcc").is_empty());
        assert!(get("Subject")[0].contains(inv.number.as_str()), "{headers:?}");
        let pdf = parts.iter().find(|p| p.content_type == "application/pdf").unwrap();
        assert_eq!(pdf.bytes, b"%PDF-1.7 x");
        assert_eq!(pdf.file_name.as_deref(), Some(format!("{}.pdf", inv.number).as_str()));
        // The same document gives the same message (a resend is recognisable).
        let again =
            invoice_mail(&inv, b"%PDF-1.7 x", "factures@marketbill.example", "x8f2k@relay.example", AT, None).unwrap();
        assert_eq!(again.mime, mail.mime);
    }

    #[test]
    fn an_invoice_mail_points_to_the_buyer_page_and_a_credit_note_does_not() {
        let inv = sample();
        let page = Some("https://factures.example/facture");
        let mail = invoice_mail(&inv, b"%PDF", "factures@m.example", "a@x.fr", AT, page).unwrap();
        let (_, parts) = parse_mail(&mail.mime);
        let text = String::from_utf8_lossy(&parts[0].bytes).into_owned();
        assert!(text.contains("Besoin d'une facture au nom de votre société, ou d'une adresse corrigée ?"), "{text}");
        assert!(text.contains("https://factures.example/facture"));
        let seller = marketbill_testkit::sellers::sample_seller(0, "10000").unwrap();
        let draft = inv.credit_note(&seller, AT, "test");
        let number = draft.series.number(1).unwrap();
        let credit = draft.finalize(number);
        let mail = invoice_mail(&credit, b"%PDF", "factures@m.example", "a@x.fr", AT, page).unwrap();
        let (_, parts) = parse_mail(&mail.mime);
        assert!(!String::from_utf8_lossy(&parts[0].bytes).contains("/facture"));
        // A business order without the buyer's SIREN: the mail asks for it.
        let mut business = inv.clone();
        business.body.business = true;
        let mail = invoice_mail(&business, b"%PDF", "factures@m.example", "a@x.fr", AT, page).unwrap();
        let (_, parts) = parse_mail(&mail.mime);
        let text = String::from_utf8_lossy(&parts[0].bytes).into_owned();
        assert!(text.contains("nous ne connaissons pas son SIREN") && text.contains("/facture"), "{text}");
        business.body.buyer.vat_number = Some("FR40303265045".parse().unwrap());
        let mail = invoice_mail(&business, b"%PDF", "factures@m.example", "a@x.fr", AT, page).unwrap();
        let (_, parts) = parse_mail(&mail.mime);
        assert!(!String::from_utf8_lossy(&parts[0].bytes).contains("SIREN"), "known from the VAT number");
    }

    #[test]
    fn a_hostile_buyer_address_is_refused_and_nothing_is_built() {
        let inv = sample();
        for to in [
            "a@x.fr\r\nBcc: evil@y.fr",
            "a@x.fr\nCc: evil@y.fr",
            "a@x.fr>, <b@evil.fr",
            "\"a@x.fr\" <b@evil.fr>",
            "a@x.fr\r\n\r\nnew body",
        ] {
            let err = invoice_mail(&inv, b"%PDF", "factures@marketbill.example", to, AT, None).unwrap_err();
            assert!(matches!(err, MailBuildError::Recipient(_)), "{to:?}: {err}");
        }
    }

    #[test]
    fn a_hostile_sender_or_seller_address_is_refused() {
        let mut inv = sample();
        let err = invoice_mail(&inv, b"%PDF", "factures@m.example\r\nBcc: e@v.fr", "a@x.fr", AT, None).unwrap_err();
        assert!(matches!(err, MailBuildError::Sender(_)), "{err}");
        inv.body.seller.email = "a@x.fr>,<b@y.fr".into();
        let err = invoice_mail(&inv, b"%PDF", "factures@m.example", "a@x.fr", AT, None).unwrap_err();
        assert!(matches!(err, MailBuildError::ReplyTo(_)), "{err}");
    }

    #[test]
    fn a_seller_name_with_line_breaks_stays_a_display_name() {
        let mut inv = sample();
        inv.body.seller.legal_name = "Shop\r\nBcc: evil@y.fr".into();
        let mail = invoice_mail(&inv, b"%PDF", "factures@m.example", "a@x.fr", AT, None).unwrap();
        let (headers, _) = parse_mail(&mail.mime);
        assert!(!headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("Bcc")), "{headers:?}");
        let text = String::from_utf8_lossy(&mail.mime);
        assert!(!text.contains("\r\nBcc:"), "{text}");
    }
}
