//! The mentions a document prints (its notes, BT-21/BT-22), in the document's language.
//!
//! French law asks for the mentions, not for French: an invoice may be written in another
//! language (BOI-TVA-DECLA-30-20-10 § 30; the administration may ask for a translation). A
//! document whose labels are German says them in German. The note subjects (AAI, TXD, PMD, PMT,
//! AAB) stay what BR-FR-05 wants whatever the language.

use crate::calendar::local_date;
use crate::seller::Language;
use time::Date;

/// Nature of the operation (art. 242 nonies A, I-15° of annex II to the CGI, from 2026).
pub fn supply_of_goods(lang: Language) -> &'static str {
    match lang {
        Language::Fr => "Nature de l'opération : livraison de biens",
        Language::En => "Nature of the transaction: supply of goods",
        Language::De => "Art der Leistung: Lieferung von Gegenständen",
        Language::Es => "Naturaleza de la operación: entrega de bienes",
        Language::It => "Natura dell'operazione: cessione di beni",
        Language::Nl => "Aard van de handeling: levering van goederen",
        Language::Pl => "Rodzaj transakcji: dostawa towarów",
    }
}

/// Late-payment penalties (art. L441-10 of the Code de commerce) on an invoice already paid.
pub fn late_penalties_paid(lang: Language) -> &'static str {
    match lang {
        Language::Fr => "Pénalités de retard : trois fois le taux d'intérêt légal (facture déjà payée)",
        Language::En => "Late-payment penalties: three times the French statutory interest rate (invoice already paid)",
        Language::De => "Verzugszinsen: das Dreifache des gesetzlichen Zinssatzes (Rechnung bereits bezahlt)",
        Language::Es => "Penalizaciones por demora: tres veces el tipo de interés legal (factura ya pagada)",
        Language::It => "Penali di mora: tre volte il tasso di interesse legale (fattura già pagata)",
        Language::Nl => "Boete bij te late betaling: driemaal de wettelijke rente (factuur reeds betaald)",
        Language::Pl => "Odsetki za zwłokę: trzykrotność ustawowej stopy procentowej (faktura już opłacona)",
    }
}

/// The fixed recovery indemnity of 40 € (art. D441-5 of the Code de commerce).
pub fn recovery_indemnity(lang: Language) -> &'static str {
    match lang {
        Language::Fr => "Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : 40 €",
        Language::En => "Fixed indemnity for recovery costs in case of late payment: €40",
        Language::De => "Pauschale Entschädigung für Beitreibungskosten bei Zahlungsverzug: 40 €",
        Language::Es => "Indemnización fija por gastos de cobro en caso de retraso en el pago: 40 €",
        Language::It => "Indennità forfettaria per spese di recupero in caso di ritardato pagamento: 40 €",
        Language::Nl => "Forfaitaire vergoeding voor invorderingskosten bij te late betaling: 40 €",
        Language::Pl => "Ryczałtowe odszkodowanie za koszty windykacji w razie opóźnienia w płatności: 40 €",
    }
}

/// No discount for early payment (art. L441-9 of the Code de commerce).
pub fn no_early_payment_discount(lang: Language) -> &'static str {
    match lang {
        Language::Fr => "Pas d'escompte pour paiement anticipé",
        Language::En => "No discount for early payment",
        Language::De => "Kein Skonto bei vorzeitiger Zahlung",
        Language::Es => "Sin descuento por pronto pago",
        Language::It => "Nessuno sconto per pagamento anticipato",
        Language::Nl => "Geen korting bij vervroegde betaling",
        Language::Pl => "Brak rabatu za wcześniejszą płatność",
    }
}

/// The note of a credit note: which invoice it cancels in full or in part, and why.
pub fn credit_note_of(lang: Language, whole: bool, invoice: &str, issued: Date, reason: &str) -> String {
    let date = local_date(lang, issued);
    let what = match (lang, whole) {
        (Language::Fr, true) => format!("Avoir annulant intégralement la facture {invoice} du {date}"),
        (Language::Fr, false) => format!("Avoir partiel sur la facture {invoice} du {date}"),
        (Language::En, true) => format!("Credit note cancelling invoice {invoice} of {date} in full"),
        (Language::En, false) => format!("Partial credit note on invoice {invoice} of {date}"),
        (Language::De, true) => format!("Gutschrift, storniert die Rechnung {invoice} vom {date} vollständig"),
        (Language::De, false) => format!("Teilgutschrift zur Rechnung {invoice} vom {date}"),
        (Language::Es, true) => format!("Factura rectificativa que anula íntegramente la factura {invoice} del {date}"),
        (Language::Es, false) => format!("Factura rectificativa parcial de la factura {invoice} del {date}"),
        (Language::It, true) => format!("Nota di credito che annulla integralmente la fattura {invoice} del {date}"),
        (Language::It, false) => format!("Nota di credito parziale sulla fattura {invoice} del {date}"),
        (Language::Nl, true) => format!("Creditnota die factuur {invoice} van {date} volledig annuleert"),
        (Language::Nl, false) => format!("Gedeeltelijke creditnota op factuur {invoice} van {date}"),
        (Language::Pl, true) => format!("Faktura korygująca anulująca w całości fakturę {invoice} z {date}"),
        (Language::Pl, false) => format!("Częściowa faktura korygująca do faktury {invoice} z {date}"),
    };
    match reason.trim() {
        "" => what,
        reason => format!("{what} — {reason}"),
    }
}

/// The note of a corrected invoice: the invoice it replaces (with BT-25/BT-26).
pub fn replaces_invoice(lang: Language, invoice: &str, issued: Date) -> String {
    let date = local_date(lang, issued);
    match lang {
        Language::Fr => format!(
            "Facture rectificative : remplace la facture {invoice} du {date} (données de facturation corrigées à la demande de l'acheteur)"
        ),
        Language::En => {
            format!(
                "Corrected invoice: replaces invoice {invoice} of {date} (billing data corrected at the buyer's request)"
            )
        }
        Language::De => format!(
            "Berichtigte Rechnung: ersetzt die Rechnung {invoice} vom {date} (Rechnungsdaten auf Wunsch des Käufers berichtigt)"
        ),
        Language::Es => format!(
            "Factura corregida: sustituye a la factura {invoice} del {date} (datos de facturación corregidos a petición del comprador)"
        ),
        Language::It => format!(
            "Fattura rettificata: sostituisce la fattura {invoice} del {date} (dati di fatturazione corretti su richiesta dell'acquirente)"
        ),
        Language::Nl => format!(
            "Gecorrigeerde factuur: vervangt factuur {invoice} van {date} (factuurgegevens gecorrigeerd op verzoek van de koper)"
        ),
        Language::Pl => format!(
            "Faktura poprawiona: zastępuje fakturę {invoice} z {date} (dane do faktury poprawione na wniosek nabywcy)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn every_language_says_each_mention_in_its_own_words() {
        for lang in Language::ALL {
            let texts = [
                supply_of_goods(lang).to_string(),
                late_penalties_paid(lang).to_string(),
                recovery_indemnity(lang).to_string(),
                no_early_payment_discount(lang).to_string(),
                credit_note_of(lang, true, "F-1", date!(2026 - 11 - 22), ""),
                credit_note_of(lang, false, "F-1", date!(2026 - 11 - 22), ""),
                replaces_invoice(lang, "F-1", date!(2026 - 11 - 22)),
            ];
            for text in &texts {
                assert!(!text.is_empty());
                if lang != Language::Fr {
                    for french in ["facture", "Pénalités", "Indemnité", "escompte", "Avoir", "opération"] {
                        assert!(!text.contains(french), "{lang:?}: {text}");
                    }
                }
            }
            let whole = credit_note_of(lang, true, "F-1", date!(2026 - 11 - 22), "retour");
            let partial = credit_note_of(lang, false, "F-1", date!(2026 - 11 - 22), "retour");
            assert_ne!(whole, partial);
            assert!(whole.contains("F-1") && whole.ends_with(" — retour"));
        }
        assert_eq!(
            credit_note_of(Language::De, false, "BW-F2026-000401", date!(2026 - 11 - 22), ""),
            "Teilgutschrift zur Rechnung BW-F2026-000401 vom 22.11.2026"
        );
    }
}
