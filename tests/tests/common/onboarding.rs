//! A cycle over sellers in every onboarding state: the ready one is invoiced, the others are
//! reported with their reason and recorded in their run history; nothing stops the cycle.

use marketbill_app::marketplace::MarketplaceCredentials;
use marketbill_app::model::NotRun;
use marketbill_app::services::seal_credentials;

use super::{World, check_invariants_of, cycle};

/// `w` has four sellers: 0 stays healthy; 1 keeps its company data but loses its credentials
/// (saved the profile, not yet the credentials); 2 gets credentials the marketplace refuses;
/// 3 unsubscribes.
pub async fn a_cycle_invoices_the_ready_sellers_and_reports_the_others(w: &World) {
    assert_eq!(w.sellers.len(), 4);
    let s = &w.services;
    let record = |k: usize| async move { s.ledger.get_seller(&w.sellers[k].0).await.unwrap().unwrap() };
    let mut profile_only = record(1).await;
    profile_only.credentials = None;
    s.ledger.put_seller(&profile_only).await.unwrap();
    let mut refused = record(2).await;
    let wrong = MarketplaceCredentials {
        client_id: "not-a-client".into(),
        client_secret: "wrong".into(),
        seller_id: w.sellers[2].1.clone(),
    };
    refused.credentials = Some(seal_credentials(s.secrets.as_ref(), &wrong).await.unwrap());
    s.ledger.put_seller(&refused).await.unwrap();
    s.account().unsubscribe(&w.sellers[3].0).await.unwrap();

    let outcomes = cycle(w).await;
    // Queued: the three active sellers, each run on its own.
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    let healthy = outcomes.iter().filter_map(|o| o.as_ref().ok()).find(|o| o.issued > 0).expect("a run issued");
    assert!(healthy.complete && healthy.not_run.is_none(), "{healthy:?}");
    let reasons: Vec<Option<NotRun>> = outcomes.iter().map(|o| o.as_ref().unwrap().not_run).collect();
    assert!(reasons.contains(&Some(NotRun::NoCredentials)), "{reasons:?}");
    assert!(reasons.contains(&Some(NotRun::CredentialsRefused)), "{reasons:?}");
    // The space shows why: the run history of each says it.
    for (k, why) in [(1, NotRun::NoCredentials), (2, NotRun::CredentialsRefused)] {
        let last = s.ledger.runs(&w.sellers[k].0, 1).await.unwrap();
        assert_eq!(last.first().and_then(|r| r.not_run), Some(why), "seller {k}");
        let page = s.ledger.list_invoices(&w.sellers[k].0, &Default::default()).await.unwrap();
        assert!(page.items.is_empty(), "seller {k} has no invoice");
    }
    // An unsubscribed seller is not even queued; its run, asked for, says why.
    let direct = marketbill_app::seller_run::run_seller(s, &w.sellers[3].0, None).await.unwrap();
    assert_eq!(direct.not_run, Some(NotRun::Unsubscribed));
    // The healthy seller's orders: every invariant of a normal run.
    assert!(check_invariants_of(w, 0, &[0]).await > 0);
}

/// Where one process is the whole service (`marketbill serve`): the worker runs every ready
/// seller at the cycle's hours (once per cycle, whatever the ticks), and a run a seller asks
/// for from the space at its next tick.
pub async fn the_worker_runs_the_cycle_at_its_hours_and_the_runs_asked_for(w: &World) {
    use marketbill_app::schedule::{RunNow, Worker, run_now};
    let today = marketbill_domain::calendar::paris_date(w.services.clock.now());
    let before = marketbill_domain::calendar::paris_instant(today, 5, 59);
    let clock = std::sync::Arc::new(marketbill_app::ports::ManualClock::new(before));
    let mut s = w.services.clone();
    s.clock = clock.clone();
    let plans = marketbill_domain::FeePlans::bundled();
    let mut worker = Worker::new(before);
    assert!(worker.tick(&s, &plans).await.unwrap().is_empty(), "nothing before 06:00");
    clock.advance(time::Duration::minutes(1));
    let runs = worker.tick(&s, &plans).await.unwrap();
    let mut ran: Vec<String> = runs.iter().map(|(id, _)| id.to_string()).collect();
    ran.sort();
    let mut sellers: Vec<String> = w.sellers.iter().map(|(id, _, _)| id.to_string()).collect();
    sellers.sort();
    assert_eq!(ran, sellers, "every active seller at 06:00");
    assert!(runs.iter().all(|(_, r)| r.is_ok()), "{runs:?}");
    clock.advance(time::Duration::minutes(5));
    assert!(worker.tick(&s, &plans).await.unwrap().is_empty(), "once per cycle");
    // « Lancer maintenant »: queued once however often it is pressed, run at the next tick.
    let (seller, _, _) = &w.sellers[0];
    let ask_run = || run_now(s.ledger.as_ref(), s.queue.as_ref(), s.clock.as_ref(), seller);
    assert_eq!(ask_run().await.unwrap(), RunNow::Queued);
    assert_eq!(ask_run().await.unwrap(), RunNow::AlreadyQueued);
    let runs = worker.tick(&s, &plans).await.unwrap();
    assert_eq!(runs.iter().map(|(id, _)| id).collect::<Vec<_>>(), vec![seller]);
    // Three asks an hour (the repeated press above counts), then refused until the next hour.
    clock.advance(time::Duration::minutes(2));
    assert_eq!(ask_run().await.unwrap(), RunNow::Queued);
    clock.advance(time::Duration::minutes(2));
    assert_eq!(ask_run().await, Err(marketbill_app::portal::PortalError::RateLimited));
    worker.tick(&s, &plans).await.unwrap();
}
