//! The seller's approved platform: e-invoices and period reports handed over once, statuses
//! read back, refusals shown, on either adapter set.

use std::sync::Arc;
use std::time::Duration;

use marketbill_afnor::{AfnorConfig, AfnorPlatform};
use marketbill_app::buyer_requests::{BuyerProof, BuyerRequestOutcome, buyer_request};
use marketbill_app::correction::reissue;
use marketbill_app::model::{
    InvoiceQuery, InvoiceRecord, SellerId, SellerRecord, TransmissionState, TransmissionSubject,
};
use marketbill_app::platform::PlatformCredentials;
use marketbill_app::portal::{Conflict, PortalError};
use marketbill_app::ports::ManualClock;
use marketbill_app::services::Services;
use marketbill_app::transmission::{seal_platform, transmit};
use marketbill_domain::reporting::{PeriodKind, Placement, ReportingPeriod, placement};
use marketbill_testkit::platform::{PlatformFault, PlatformRoute, PlatformSimulator};
use time::OffsetDateTime;

use super::{World, cycle};

pub fn fast_platform() -> AfnorPlatform {
    AfnorPlatform::new(AfnorConfig {
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_attempts: 3,
        ..AfnorConfig::default()
    })
    .unwrap()
}

pub fn credentials(sim: &PlatformSimulator) -> PlatformCredentials {
    PlatformCredentials {
        flow_url: sim.flow_url(),
        directory_url: sim.directory_url(),
        token_url: sim.token_url(),
        client_id: "seller-client".into(),
        client_secret: "seller-secret".into(),
        platform_id: "0042".into(),
        platform_name: "PA simulée".into(),
        prefer_ubl: false,
    }
}

/// The services as they run at another instant (a later pass of the scheduler).
fn at(w: &World, when: OffsetDateTime) -> Services {
    let mut s = w.services.clone();
    s.clock = Arc::new(ManualClock::new(when));
    s
}

/// Two buyers of the seller ask for their invoice in a French company's name (with its
/// SIREN): the corrected invoices are e-invoices.
async fn two_business_buyers(w: &World) {
    let (_, mid, _) = &w.sellers[0];
    let orders: Vec<(String, String)> = w
        .sim
        .orders(mid)
        .into_iter()
        .filter_map(|v| marketbill_domain::Order::from_value(v).ok())
        .filter(|o| o.status.is_shipped())
        .filter_map(|o| Some((o.order_id.to_string(), o.buyer_email()?.to_owned())))
        .collect();
    let mut corrected = 0;
    for (order_id, email) in orders {
        let company = marketbill_testkit::buyers::company("303265045").unwrap();
        if let Ok(BuyerRequestOutcome::Corrected { .. }) =
            buyer_request(&w.services, &order_id, &BuyerProof::Email(String::from(&email)), company, None).await
        {
            corrected += 1;
        }
        if corrected == 2 {
            return;
        }
    }
    panic!("only {corrected} corrected invoices");
}

/// Gives the seller the simulated platform; its record as saved.
async fn choose_platform(w: &World, seller: &SellerId, sim: &PlatformSimulator) -> SellerRecord {
    let mut record = w.services.ledger.get_seller(seller).await.unwrap().unwrap();
    record.platform = Some(seal_platform(w.services.secrets.as_ref(), &credentials(sim)).await.unwrap());
    w.services.ledger.put_seller(&record).await.unwrap();
    record
}

/// Every document of the seller.
async fn documents(w: &World, seller: &SellerId) -> Vec<InvoiceRecord> {
    let q = InvoiceQuery { limit: 1000, ..Default::default() };
    w.services.ledger.list_invoices(seller, &q).await.unwrap().items
}

/// Credits what is left of the first invoice no credit note touched yet that `wanted` accepts
/// (a credit note recorded now, in the period of today).
async fn credit_an_untouched_invoice(w: &World, seller: &SellerId, wanted: impl Fn(&InvoiceRecord) -> bool) {
    let docs = documents(w, seller).await;
    let credited: Vec<String> = docs
        .iter()
        .filter_map(|d| match &d.invoice.kind {
            marketbill_domain::DocumentKind::CreditNote { corrects } => Some(corrects.number.to_string()),
            _ => None,
        })
        .collect();
    let invoice = docs
        .iter()
        .find(|d| !d.invoice.kind.is_credit_note() && !credited.contains(&d.invoice.number.to_string()) && wanted(d))
        .unwrap();
    let items = [marketbill_domain::credit::CreditItem::Remainder];
    marketbill_app::credit_notes::credit_note(&w.services, seller, &invoice.invoice.number, &items, "retour", None)
        .await
        .unwrap();
}

/// A French seller's month: its B2B e-invoices handed over one flow each, acknowledged and
/// deposited; the closed period's report handed over once and replaced once by a late credit
/// note; a buyer's refusal shown with its reason; nothing twice, whatever is repeated.
pub async fn documents_reach_the_platform_once_with_their_statuses(w: &World) {
    let sim = PlatformSimulator::start("seller-client", "seller-secret").await.unwrap();
    let platform = fast_platform();
    let (seller, _, _) = w.sellers[0].clone();
    assert!(cycle(w).await.iter().all(|o| o.is_ok()));
    two_business_buyers(w).await;
    // Without a platform nothing is transmitted and nothing changes.
    assert_eq!(transmit(&w.services, &platform, &seller).await.unwrap(), None);
    assert!(sim.flows().is_empty());

    let record = choose_platform(w, &seller, &sim).await;
    let docs = documents(w, &seller).await;
    let einvoices: Vec<String> = docs
        .iter()
        .filter(|d| placement(&record.profile, &d.invoice) == Placement::EInvoice)
        .map(|d| d.invoice.number.to_string())
        .collect();
    assert!(!einvoices.is_empty(), "the world has French business buyers with a SIREN");

    // The buyers' SIREN is not in the e-invoicing directory yet: the e-invoices wait, shown.
    let held = transmit(&w.services, &platform, &seller).await.unwrap().unwrap();
    assert!(held.submitted.is_empty(), "{held:?}");
    let states = w.services.ledger.transmissions(&seller).await.unwrap();
    assert_eq!(states.len(), einvoices.len());
    assert!(
        states.iter().all(|t| t.state == TransmissionState::Held
            && t.reason.as_deref() == Some(marketbill_app::transmission::NOT_IN_DIRECTORY)),
        "{states:?}"
    );
    assert!(sim.flows().is_empty());
    // Each held invoice's buyer is asked once for its e-invoicing address, with the link to
    // correct its SIREN; another pass asks nothing more.
    let asked = |all: Vec<Vec<u8>>| {
        all.iter()
            .map(|m| marketbill_app::mail::parse_mail(m))
            .filter(|(headers, parts)| {
                headers.iter().any(|(k, v)| k == "Subject" && v.contains("adresse de facturation électronique"))
                    && parts.iter().any(|p| String::from_utf8_lossy(&p.bytes).contains("/facture?commande="))
            })
            .count()
    };
    assert_eq!(asked(w.outbox.sent().await), einvoices.len());
    transmit(&w.services, &platform, &seller).await.unwrap();
    assert_eq!(asked(w.outbox.sent().await), einvoices.len(), "asked once");
    sim.add_company("303265045", "303265045");
    // Today: the period is open, only e-invoices go. A lost answer and a 503 on the way.
    sim.inject(PlatformRoute::Submit, PlatformFault::AcceptedButLost, 1);
    sim.inject(PlatformRoute::Submit, PlatformFault::Unavailable, 1);
    // Two passes at once: one does the work.
    let (a, b) = tokio::join!(transmit(&w.services, &platform, &seller), transmit(&w.services, &platform, &seller));
    let (a, b) = (a.unwrap().unwrap(), b.unwrap().unwrap());
    assert!(a.failed.is_empty() && b.failed.is_empty(), "{a:?} {b:?}");
    assert_eq!(a.submitted.len() + b.submitted.len(), einvoices.len(), "{a:?} {b:?}");
    for n in &einvoices {
        assert_eq!(sim.submitted(n).len(), 1, "one flow for {n}");
    }
    // A repeat: nothing new.
    assert!(transmit(&w.services, &platform, &seller).await.unwrap().unwrap().submitted.is_empty());
    let states = w.services.ledger.transmissions(&seller).await.unwrap();
    assert_eq!(states.len(), einvoices.len());
    assert!(states.iter().all(|t| t.state == TransmissionState::Accepted && t.lifecycle == Some(200)), "{states:?}");

    // A crash after the flow was handed over and before it was recorded: found, not resent.
    let victim = einvoices[0].clone();
    let mut t = states.iter().find(|t| t.tracking_id == victim).unwrap().clone();
    t.state = TransmissionState::Submitting;
    t.flow_id = None;
    w.services.ledger.put_transmission(&seller, &t).await.unwrap();
    let again = transmit(&w.services, &platform, &seller).await.unwrap().unwrap();
    assert_eq!((again.submitted.len(), again.found.clone()), (0, vec![victim.clone()]));
    assert_eq!(sim.submitted(&victim).len(), 1);

    // The buyer refuses one: a problem with the platform's words.
    sim.add_status(&victim, 210, Some(("TX_TVA_ERR", "Taux de TVA erroné")));
    transmit(&w.services, &platform, &seller).await.unwrap();
    let refused = w.services.ledger.transmissions(&seller).await.unwrap();
    let refused = refused.iter().find(|t| t.tracking_id == victim).unwrap();
    assert_eq!((refused.state, refused.lifecycle), (TransmissionState::Rejected, Some(210)));
    assert!(refused.reason.as_deref().unwrap().contains("TX_TVA_ERR"));
    // Its cancelling credit note stays internal: not transmitted (spec v3.2, § 3.6.4).
    let number: marketbill_domain::InvoiceNumber = victim.parse().unwrap();
    let cn = marketbill_app::credit_notes::credit_note(
        &w.services,
        &seller,
        &number,
        &[marketbill_domain::credit::CreditItem::Remainder],
        "refusée par l'acheteur",
        None,
    )
    .await
    .unwrap();
    let after = transmit(&w.services, &platform, &seller).await.unwrap().unwrap();
    assert!(after.submitted.is_empty(), "{after:?}");
    let cn = cn.credit_note.to_string();
    assert!(sim.submitted(&cn).is_empty(), "the internal credit note {cn} is not transmitted");

    // The period closes: its report goes once.
    let kind = record.profile.reporting_period_kind();
    let today = marketbill_domain::calendar::paris_date(w.services.clock.now());
    let period = ReportingPeriod::containing(kind, today);
    let after_close = (period.end + time::Duration::days(1)).with_hms(6, 0, 0).unwrap().assume_utc();
    let closed = transmit(&at(w, after_close), &platform, &seller).await.unwrap().unwrap();
    let reports: Vec<&String> = closed.submitted.iter().filter(|id| id.starts_with("MB-")).collect();
    assert_eq!(reports.len(), 1, "{closed:?}");
    assert!(reports[0].ends_with("-1"));
    assert!(transmit(&at(w, after_close), &platform, &seller).await.unwrap().unwrap().submitted.is_empty());
    // A credit note dated in the closed period, recorded late: the report is replaced, once.
    let profile = record.profile.clone();
    credit_an_untouched_invoice(w, &seller, |d| {
        matches!(placement(&profile, &d.invoice), Placement::Aggregated { .. })
    })
    .await;
    let replaced = transmit(&at(w, after_close), &platform, &seller).await.unwrap().unwrap();
    let re: Vec<&String> = replaced.submitted.iter().filter(|id| id.starts_with("MB-")).collect();
    assert_eq!(re.len(), 1, "{replaced:?}");
    assert!(re[0].ends_with("-2"));
    let file = sim.submitted(re[0])[0].file.clone();
    assert!(String::from_utf8(file).unwrap().contains("<TypeCode>RE</TypeCode>"));
    assert!(transmit(&at(w, after_close), &platform, &seller).await.unwrap().unwrap().submitted.is_empty());
    let kinds: Vec<_> = w
        .services
        .ledger
        .transmissions(&seller)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| matches!(t.subject, TransmissionSubject::Report { .. }))
        .map(|t| t.state)
        .collect();
    assert_eq!(kinds, [TransmissionState::Accepted, TransmissionState::Accepted], "both versions acknowledged");
}

/// A flow the platform rejects at acknowledgement is a problem with its reason.
pub async fn a_rejected_invoice_is_corrected_and_issued_again(w: &World) {
    let sim = PlatformSimulator::start("seller-client", "seller-secret").await.unwrap();
    let platform = fast_platform();
    let (seller, _, _) = w.sellers[0].clone();
    assert!(cycle(w).await.iter().all(|o| o.is_ok()));
    two_business_buyers(w).await;
    // The buyer receives at a service's address, the seller at its own (the directory says).
    sim.add_company("303265045", "303265045_ACHATS");
    let record = choose_platform(w, &seller, &sim).await;
    let seller_siren = record.profile.siren.clone().unwrap().as_str().to_owned();
    sim.add_company(&seller_siren, &format!("{seller_siren}_FACTURES"));
    let docs = documents(w, &seller).await;
    let number = docs
        .iter()
        .find(|d| placement(&record.profile, &d.invoice) == Placement::EInvoice)
        .unwrap()
        .invoice
        .number
        .to_string();
    sim.reject_next(&number, "InvalidSchema", "Invalid XML schema");
    transmit(&w.services, &platform, &seller).await.unwrap();
    let t = w.services.ledger.transmissions(&seller).await.unwrap();
    let t = t.iter().find(|t| t.tracking_id == number).unwrap();
    assert_eq!(t.state, TransmissionState::Rejected);
    assert_eq!(t.reason.as_deref(), Some("InvalidSchema Invalid XML schema"));

    // Only a refused invoice is issued again this way.
    let parsed: marketbill_domain::InvoiceNumber = number.parse().unwrap();
    let accepted = docs
        .iter()
        .find(|d| placement(&record.profile, &d.invoice) == Placement::EInvoice && d.invoice.number != parsed)
        .unwrap();
    let other =
        reissue(&w.services, &seller, &accepted.invoice.number, accepted.invoice.body.buyer.billing_data(), None);
    assert_eq!(other.await, Err(PortalError::Conflict(Conflict::NotRefused)));

    // The seller corrects the buyer's data and issues it again: a credit note cancels it, a new
    // invoice replaces it, and the next pass hands the new one over (not the credit note).
    let original = docs.iter().find(|d| d.invoice.number == parsed).unwrap();
    let mut billing = original.invoice.body.buyer.billing_data();
    billing.name = format!("{} (service achats)", billing.name);
    let done = reissue(&w.services, &seller, &parsed, billing.clone(), None).await.unwrap();
    assert_ne!(done.invoice, number);
    let replacement = w.services.ledger.get_invoice(&seller, &done.invoice.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(replacement.invoice.body.buyer.name, billing.name);
    assert_eq!(replacement.invoice.body.replaces.as_ref().map(|r| r.number.clone()), Some(parsed.clone()));
    assert_eq!(replacement.order_id, original.order_id);
    // Issued with the electronic addresses of the directory (BT-49, BT-34), in its files too.
    let body = &replacement.invoice.body;
    assert_eq!(body.buyer.electronic_address.as_deref(), Some("303265045_ACHATS"));
    assert_eq!(body.seller.electronic_address, Some(format!("{seller_siren}_FACTURES")));
    let xml = w.services.store.get(&replacement.xml.as_ref().unwrap().key).await.unwrap().unwrap();
    let xml = String::from_utf8(xml).unwrap();
    assert!(xml.contains(r#"<cbc:EndpointID schemeID="0225">303265045_ACHATS</cbc:EndpointID>"#), "{xml}");
    assert!(xml.contains(&format!(r#"<cbc:EndpointID schemeID="0225">{seller_siren}_FACTURES</cbc:EndpointID>"#)));
    let order = w.services.ledger.get_order(&seller, &original.order_id).await.unwrap().unwrap();
    assert_eq!(order.number.map(|n| n.to_string()), Some(done.invoice.clone()));
    // Asked again (a reload, a second click): nothing more is issued, the answer names it.
    let again = reissue(&w.services, &seller, &parsed, billing, None).await;
    assert_eq!(again, Err(PortalError::Conflict(Conflict::AlreadyReplaced(done.invoice.clone()))));
    assert_eq!(documents(w, &seller).await.len(), docs.len() + 2);

    let pass = transmit(&w.services, &platform, &seller).await.unwrap().unwrap();
    assert_eq!(pass.submitted, vec![done.invoice.clone()], "{pass:?}");
    assert!(sim.submitted(&done.credit_note).is_empty(), "the internal credit note is not transmitted");
    assert_eq!(sim.submitted(&number).len(), 1, "the rejected flow is not sent again");
    let states = w.services.ledger.transmissions(&seller).await.unwrap();
    let new = states.iter().find(|t| t.tracking_id == done.invoice).unwrap();
    assert_eq!(new.state, TransmissionState::Accepted);
    assert!(transmit(&w.services, &platform, &seller).await.unwrap().unwrap().submitted.is_empty());
}

/// Whatever the seller's VAT regime — ten-day blocks, months, two months under the
/// franchise — each closed period's sales go in one report, replaced once by a credit note
/// recorded later in that period.
pub async fn each_period_gets_one_report_replaced_once(w: &World) {
    use marketbill_domain::reporting::VatFiling;
    use marketbill_domain::seller::VatScheme;
    let sim = PlatformSimulator::start("seller-client", "seller-secret").await.unwrap();
    let platform = fast_platform();
    let (seller, _, _) = w.sellers[0].clone();
    assert!(cycle(w).await.iter().all(|o| o.is_ok()));
    let mut record = choose_platform(w, &seller, &sim).await;
    let today = marketbill_domain::calendar::paris_date(w.services.clock.now());
    for (filing, scheme, kind) in [
        (VatFiling::NormalMonthly, VatScheme::Standard, PeriodKind::TenDays),
        (VatFiling::NormalQuarterly, VatScheme::Standard, PeriodKind::Month),
        (VatFiling::NormalQuarterly, VatScheme::Franchise, PeriodKind::TwoMonths),
    ] {
        record.profile.vat_filing = filing;
        record.profile.vat_scheme = scheme;
        w.services.ledger.put_seller(&record).await.unwrap();
        assert_eq!(record.profile.reporting_period_kind(), kind);
        let period = ReportingPeriod::containing(kind, today);
        let span = |d: time::Date| format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day());
        let id = format!("{}-{}", span(period.start), span(period.end));
        let after_close = (period.end + time::Duration::days(1)).with_hms(6, 0, 0).unwrap().assume_utc();
        // Before the period closes, nothing of it goes.
        let open = transmit(&w.services, &platform, &seller).await.unwrap().unwrap();
        assert!(open.submitted.iter().all(|t| !t.contains(&id)), "{kind:?}: {open:?}");
        let first = transmit(&at(w, after_close), &platform, &seller).await.unwrap().unwrap();
        let reports: Vec<&String> = first.submitted.iter().filter(|t| t.contains(&id)).collect();
        assert_eq!(reports.len(), 1, "{kind:?}: {first:?}");
        assert!(reports[0].ends_with("-1"));
        assert!(transmit(&at(w, after_close), &platform, &seller).await.unwrap().unwrap().submitted.is_empty());
        // A credit note recorded late in the period: replaced once.
        credit_an_untouched_invoice(w, &seller, |_| true).await;
        let replaced = transmit(&at(w, after_close), &platform, &seller).await.unwrap().unwrap();
        let re: Vec<&String> = replaced.submitted.iter().filter(|t| t.contains(&id)).collect();
        assert_eq!(re.len(), 1, "{kind:?}: {replaced:?}");
        assert!(re[0].ends_with("-2"), "{kind:?}: {re:?}");
        assert!(transmit(&at(w, after_close), &platform, &seller).await.unwrap().unwrap().submitted.is_empty());
        assert_eq!(sim.submitted(re[0]).len(), 1);
    }
}
