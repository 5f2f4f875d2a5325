//! Buyer requests under pressure, the same on both adapter sets.

use marketbill_app::buyer_requests::{BuyerProof, BuyerRequestOutcome, buyer_request};
use marketbill_app::model::InvoiceQuery;
use marketbill_app::portal::PortalError;
use marketbill_domain::Order;
use marketbill_domain::buyer::BuyerBillingData;
use marketbill_domain::calendar::YearMonth;
use marketbill_testkit::simulator::Route;

use super::{World, cycle};

/// A company's billing data, with its VAT number or SIREN.
pub fn company_with(tax: &str) -> BuyerBillingData {
    marketbill_testkit::buyers::company(tax).unwrap()
}

fn company() -> BuyerBillingData {
    company_with("FR40303265045")
}

/// The first shipped order of the world's first seller, with its buyer e-mail.
fn invoiced_order(w: &World) -> (String, String) {
    let (_, mid, _) = &w.sellers[0];
    w.sim
        .orders(mid)
        .into_iter()
        .filter_map(|v| Order::from_value(v).ok())
        .filter(|o| o.status.is_shipped())
        .find_map(|o| Some((o.order_id.to_string(), o.buyer_email()?.to_owned())))
        .unwrap()
}

async fn credit_notes(w: &World) -> usize {
    let all = w
        .services
        .ledger
        .list_invoices(&w.sellers[0].0, &InvoiceQuery { limit: 100, ..Default::default() })
        .await
        .unwrap();
    all.items.iter().filter(|r| r.invoice.kind.is_credit_note()).count()
}

/// 50 identical requests at once for one invoiced order: exactly one is taken (one credit
/// note, one corrected invoice, one more usage unit, two mails); the others get 409 or 429,
/// never an error of the service.
pub async fn fifty_simultaneous_requests_make_one_correction(w: &World) {
    cycle(w).await;
    let seller = w.sellers[0].0.clone();
    let (order_id, email) = invoiced_order(w);
    let month = YearMonth::in_paris(w.services.clock.now());
    let usage_before = w.services.ledger.usage(&seller, month).await.unwrap();
    let mails_to = |all: Vec<Vec<u8>>| {
        all.iter()
            .filter(|m| marketbill_app::mail::parse_mail(m).0.iter().any(|(k, v)| k == "To" && v == &email))
            .count()
    };
    let mails_before = mails_to(w.outbox.sent().await);
    let mut handles = Vec::new();
    for _ in 0..50 {
        let services = w.services.clone();
        let (order_id, email) = (order_id.clone(), email.clone());
        handles.push(tokio::spawn(async move {
            buyer_request(&services, &order_id, &BuyerProof::Email(String::from(&email)), company(), None).await
        }));
    }
    let mut corrected = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(BuyerRequestOutcome::Corrected { .. }) => corrected += 1,
            Err(PortalError::Conflict(_) | PortalError::RateLimited) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(corrected, 1);
    assert_eq!(credit_notes(w).await, 1);
    assert_eq!(w.services.ledger.usage(&seller, month).await.unwrap(), usage_before + 1);
    assert_eq!(mails_to(w.outbox.sent().await), mails_before + 2, "one credit note and one corrected invoice mailed");
    // Every attempt counted: the day's limit is used up.
    assert_eq!(
        buyer_request(&w.services, &order_id, &BuyerProof::Email(String::from(&email)), company(), None).await,
        Err(PortalError::RateLimited)
    );
}

/// A wrong e-mail costs no marketplace call and looks like an unknown order, limit or not.
pub async fn wrong_emails_look_like_unknown_orders_and_cost_nothing(w: &World) {
    cycle(w).await;
    let (order_id, email) = invoiced_order(w);
    let calls = w.sim.requests(Route::GetOrder);
    let unknown =
        buyer_request(&w.services, "UNKNOWN000001", &BuyerProof::Email(String::from(&email)), company(), None).await;
    let malformed =
        buyer_request(&w.services, "BAD#ID", &BuyerProof::Email(String::from(&email)), company(), None).await;
    let wrong = buyer_request(
        &w.services,
        &order_id,
        &BuyerProof::Email(String::from("someone@else.example")),
        company(),
        None,
    )
    .await;
    assert_eq!(unknown, Err(PortalError::BuyerRefused));
    assert_eq!(malformed, Err(PortalError::BuyerRefused));
    assert_eq!(wrong, Err(PortalError::BuyerRefused));
    assert_eq!(w.sim.requests(Route::GetOrder), calls, "no marketplace call for a refusal");
    for _ in 0..3 {
        let _ = buyer_request(&w.services, &order_id, &BuyerProof::Email(String::from(&email)), company(), None).await;
    }
    assert_eq!(
        buyer_request(&w.services, &order_id, &BuyerProof::Email(String::from(&email)), company(), None).await,
        Err(PortalError::RateLimited)
    );
    // Past the limit, a wrong e-mail still gets the unknown order's answer.
    assert_eq!(
        buyer_request(
            &w.services,
            &order_id,
            &BuyerProof::Email(String::from("someone@else.example")),
            company(),
            None
        )
        .await,
        Err(PortalError::BuyerRefused)
    );
}

/// Repeats issue nothing new: the same credit-note request, resend and buyer request sent
/// twice (a client retrying, a reload) give one document, one mail and one billed invoice.
pub async fn repeated_requests_issue_once(w: &World) {
    use marketbill_app::once::Once;
    cycle(w).await;
    let seller = w.sellers[0].0.clone();
    let (order_id, email) = invoiced_order(w);
    let current = w.services.ledger.get_order(&seller, &order_id.parse().unwrap()).await.unwrap().unwrap();
    let number = current.number.unwrap();
    let invoice = w.services.ledger.get_invoice(&seller, &number).await.unwrap().unwrap();
    let rate = invoice.invoice.body.lines[0].vat_rate;
    let mails_to = |all: Vec<Vec<u8>>| {
        all.iter()
            .filter(|m| marketbill_app::mail::parse_mail(m).0.iter().any(|(k, v)| k == "To" && v == &email))
            .count()
    };
    let mails = mails_to(w.outbox.sent().await);
    let items = [marketbill_domain::credit::CreditItem::Gesture { rate, amount: rust_decimal::Decimal::ONE }];
    let key = Once::new("credit note", "retry-1", b"gesture 1").unwrap();
    let first = marketbill_app::credit_notes::credit_note(&w.services, &seller, &number, &items, "geste", Some(&key))
        .await
        .unwrap();
    let again = marketbill_app::credit_notes::credit_note(&w.services, &seller, &number, &items, "geste", Some(&key))
        .await
        .unwrap();
    assert_eq!(first, again, "the first answer again");
    assert_eq!(credit_notes(w).await, 1, "one credit note");
    // Its answer lost (a crash between the numbering and the kept answer): the credit note's
    // own key in the invoice's credited state still finds it.
    let lost = Once::new("credit note", "retry-2", b"gesture 1").unwrap();
    let marked = marketbill_app::credit_notes::credit_note(&w.services, &seller, &number, &items, "geste", Some(&lost))
        .await
        .unwrap();
    w.services.ledger.release_key(&seller, lost.key()).await.unwrap();
    let credited = w.services.ledger.credited(&seller, &number).await.unwrap();
    assert!(credited.applied.iter().any(|k| k.starts_with("request-")), "{credited:?}");
    let again =
        marketbill_app::credit_notes::credit_note(&w.services, &seller, &number, &items, "geste", Some(&lost)).await;
    assert!(matches!(&again, Ok(c) if c.credit_note == marked.credit_note), "{again:?}");
    assert_eq!(credit_notes(w).await, 2, "two keys, two credit notes");
    assert_eq!(mails_to(w.outbox.sent().await), mails + 2, "one mail per credit note");

    let key = Once::new("resend", "resend-1", b"").unwrap();
    let a = marketbill_app::problems::resend(&w.services, &seller, &number, Some(&key)).await.unwrap();
    let b = marketbill_app::problems::resend(&w.services, &seller, &number, Some(&key)).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(mails_to(w.outbox.sent().await), mails + 3, "one resend mail");

    // A buyer's correction sent twice (no key): the same answer, nothing new.
    let (other, other_email) = {
        let (_, mid, _) = &w.sellers[0];
        w.sim
            .orders(mid)
            .into_iter()
            .filter_map(|v| Order::from_value(v).ok())
            .filter(|o| o.status.is_shipped() && o.order_id.as_str() != order_id)
            .find_map(|o| Some((o.order_id.to_string(), o.buyer_email()?.to_owned())))
            .unwrap()
    };
    let month = YearMonth::in_paris(w.services.clock.now());
    let usage = w.services.ledger.usage(&seller, month).await.unwrap();
    // A shared emulator holds other tests' mails too: count this buyer's.
    let to_buyer = |all: Vec<Vec<u8>>| {
        all.iter()
            .filter(|m| marketbill_app::mail::parse_mail(m).0.iter().any(|(k, v)| k == "To" && v == &other_email))
            .count()
    };
    let buyer_before = to_buyer(w.outbox.sent().await);
    let first = buyer_request(&w.services, &other, &BuyerProof::Email(String::from(&other_email)), company(), None)
        .await
        .unwrap();
    let again = buyer_request(&w.services, &other, &BuyerProof::Email(String::from(&other_email)), company(), None)
        .await
        .unwrap();
    assert_eq!(first, again);
    assert!(matches!(first, BuyerRequestOutcome::Corrected { .. }), "{first:?}");
    assert_eq!(w.services.ledger.usage(&seller, month).await.unwrap(), usage + 1, "one billed invoice");
    assert_eq!(to_buyer(w.outbox.sent().await), buyer_before + 2, "a credit note and a corrected invoice, mailed once");
}

/// A foreign seller under OSS and a business buyer without a VAT number: the order waits
/// (OSS is for consumers), the buyer gives its VAT number through its request, and the next
/// run invoices it as an exempt intra-EU supply.
pub async fn a_business_buyer_of_an_oss_seller_is_invoiced_once_it_gives_its_vat_number(w: &World) {
    use marketbill_domain::VatRegime;
    let (seller, mid, profile) = w.sellers.iter().find(|(_, _, p)| *p == 1).cloned().expect("an OSS seller");
    let mut g = marketbill_testkit::OrderGenerator::new(77, &mid);
    let mut v = g.shipped(time::OffsetDateTime::now_utc(), 2);
    v["orderId"] = "BIZOSS000001".into();
    v["businessOrder"] = true.into();
    v["billingAddress"]["companyName"] = "Papeterie Lefèvre SAS".into();
    w.sim.put_orders(&mid, vec![v.clone()]);
    cycle(w).await;
    let order_id: marketbill_domain::OrderId = "BIZOSS000001".parse().unwrap();
    let rec = w.services.ledger.get_order(&seller, &order_id).await.unwrap().unwrap();
    assert_eq!(
        rec.refusal.as_ref().map(|r| r.code()),
        Some("businessBuyerWithoutVatNumber"),
        "{rec:?} (profile {profile})"
    );
    let email = Order::from_value(v).unwrap().buyer_email().unwrap().to_owned();
    let asked = buyer_request(&w.services, "BIZOSS000001", &BuyerProof::Email(String::from(&email)), company(), None)
        .await
        .unwrap();
    assert_eq!(asked, BuyerRequestOutcome::Recorded);
    cycle(w).await;
    let rec = w.services.ledger.get_order(&seller, &order_id).await.unwrap().unwrap();
    let number = rec.number.clone().expect("invoiced once the buyer answered");
    let inv = w.services.ledger.get_invoice(&seller, &number).await.unwrap().unwrap();
    assert_eq!(inv.invoice.body.regime, VatRegime::IntraEuExempt);
    assert!(inv.invoice.body.buyer.vat_number.is_some());
}

/// A business buyer in France without a known SIREN: invoiced (and e-reported meanwhile), the
/// mail asks for the SIREN, the seller sees it in the problems list until the buyer's request
/// brings the corrected invoice.
pub async fn a_french_business_without_siren_is_a_problem_until_the_buyer_answers(w: &World) {
    let (seller, mid, _) = w.sellers.iter().find(|(_, _, p)| *p == 0).cloned().expect("a French seller");
    let mut g = marketbill_testkit::OrderGenerator::new(78, &mid);
    let mut v = g.shipped(time::OffsetDateTime::now_utc(), 2);
    v["orderId"] = "BIZFR0000001".into();
    v["businessOrder"] = true.into();
    v["billingAddress"]["companyName"] = "Papeterie Lefèvre SAS".into();
    w.sim.put_orders(&mid, vec![v.clone()]);
    cycle(w).await;
    let order_id: marketbill_domain::OrderId = "BIZFR0000001".parse().unwrap();
    let rec = w.services.ledger.get_order(&seller, &order_id).await.unwrap().unwrap();
    assert!(rec.number.is_some() && rec.buyer_siren_missing, "{rec:?}");
    let problems = marketbill_app::problems::problems(w.services.ledger.as_ref(), &seller).await.unwrap();
    assert!(problems.iter().any(|p| p.order_id == order_id), "in the problems list");
    let email = Order::from_value(v).unwrap().buyer_email().unwrap().to_owned();
    let asked = w.outbox.sent().await.iter().any(|m| {
        let (headers, parts) = marketbill_app::mail::parse_mail(m);
        headers.iter().any(|(k, v)| k == "To" && v == &email)
            && parts.iter().any(|p| String::from_utf8_lossy(&p.bytes).contains("nous ne connaissons pas son SIREN"))
    });
    assert!(asked, "the invoice mail asks for the SIREN");
    let done = buyer_request(&w.services, "BIZFR0000001", &BuyerProof::Email(String::from(&email)), company(), None)
        .await
        .unwrap();
    assert!(matches!(done, BuyerRequestOutcome::Corrected { .. }), "{done:?}");
    let problems = marketbill_app::problems::problems(w.services.ledger.as_ref(), &seller).await.unwrap();
    assert!(!problems.iter().any(|p| p.order_id == order_id), "no longer a problem: {problems:?}");
}

/// A buyer proves its order without the marketplace's relay address: by the key of the link
/// in its invoice mail, or by the postal code and the name of its delivery. A wrong key costs
/// no marketplace call and looks like an unknown order; a wrong delivery counts against the
/// order's limit and looks like one too.
pub async fn a_buyer_proves_the_order_by_the_mails_link_or_its_delivery(w: &World) {
    cycle(w).await;
    let (_, mid, _) = &w.sellers[0];
    let orders: Vec<Order> = w
        .sim
        .orders(mid)
        .into_iter()
        .filter_map(|v| Order::from_value(v).ok())
        .filter(|o| o.status.is_shipped())
        .collect();
    let key = &w.services.settings.buyer_email_key;
    // The link of the invoice mail.
    let linked = orders[0].order_id.to_string();
    let calls = w.sim.requests(Route::GetOrder);
    let forged = BuyerProof::Link(marketbill_app::crypto::buyer_link_key(key, "UNKNOWN000001"));
    assert_eq!(buyer_request(&w.services, &linked, &forged, company(), None).await, Err(PortalError::BuyerRefused));
    assert_eq!(w.sim.requests(Route::GetOrder), calls, "a wrong key costs no marketplace call");
    let link = BuyerProof::Link(marketbill_app::crypto::buyer_link_key(key, &linked));
    let done = buyer_request(&w.services, &linked, &link, company(), None).await.unwrap();
    assert!(matches!(done, BuyerRequestOutcome::Corrected { .. }), "{done:?}");
    let mailed = w.outbox.sent().await;
    let texts: Vec<String> = mailed
        .iter()
        .flat_map(|m| marketbill_app::mail::parse_mail(m).1)
        .map(|p| String::from_utf8_lossy(&p.bytes).into_owned())
        .collect();
    let expected = format!("/facture?commande={linked}&cle={}", marketbill_app::crypto::buyer_link_key(key, &linked));
    assert!(texts.iter().any(|t| t.contains(&expected)), "the invoice mail carries the order's link");

    // The delivery's postal code and name (first and last name, any case).
    let delivered = &orders[1];
    let address = delivered.supplied_lines().find_map(|l| l.shipping_address.clone()).unwrap();
    let postal_code = address.postal_code.clone().unwrap();
    let name = format!(
        "{} {}",
        address.first_name.clone().unwrap_or_default().to_uppercase(),
        address.last_name.clone().unwrap()
    );
    let order_id = delivered.order_id.to_string();
    let wrong = BuyerProof::Delivery { postal_code: "00000".into(), name: name.clone() };
    assert_eq!(buyer_request(&w.services, &order_id, &wrong, company(), None).await, Err(PortalError::BuyerRefused));
    let unknown = BuyerProof::Delivery { postal_code: postal_code.clone(), name: name.clone() };
    assert_eq!(
        buyer_request(&w.services, "UNKNOWN000001", &unknown, company(), None).await,
        Err(PortalError::BuyerRefused)
    );
    let right = BuyerProof::Delivery { postal_code, name };
    let done = buyer_request(&w.services, &order_id, &right, company(), None).await.unwrap();
    assert!(matches!(done, BuyerRequestOutcome::Corrected { .. }), "{done:?}");
}
