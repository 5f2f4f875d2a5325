//! The platform client against the simulator, faults included, and both checked against the
//! AFNOR OpenAPI documents (docs/reference/platform/).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use marketbill_afnor::{AfnorConfig, AfnorPlatform};
use marketbill_app::platform::{
    AckStatus, FlowSubmission, FlowSyntax, Platform, PlatformCredentials, PlatformError, ProcessingRule,
};
use marketbill_testkit::platform::{Exchange, PlatformFault, PlatformRoute, PlatformSimulator};
use serde_json::{Value, json};
use std::time::Duration;

async fn setup() -> (PlatformSimulator, AfnorPlatform, PlatformCredentials) {
    let sim = PlatformSimulator::start("marketbill", "s3cret").await.unwrap();
    let creds = PlatformCredentials {
        flow_url: sim.flow_url(),
        directory_url: sim.directory_url(),
        token_url: sim.token_url(),
        client_id: "marketbill".into(),
        client_secret: "s3cret".into(),
        platform_id: "0042".into(),
        platform_name: "PA simulée".into(),
        prefer_ubl: false,
    };
    let config = AfnorConfig {
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        ..AfnorConfig::default()
    };
    (sim, AfnorPlatform::new(config).unwrap(), creds)
}

fn flow(tracking_id: &str) -> FlowSubmission {
    FlowSubmission {
        tracking_id: tracking_id.into(),
        name: format!("{tracking_id}.xml"),
        syntax: FlowSyntax::Ubl,
        rule: ProcessingRule::B2B,
        file: format!("<Invoice>{tracking_id}</Invoice>").into_bytes(),
    }
}

#[tokio::test]
async fn a_flow_is_submitted_acknowledged_and_its_lifecycle_read() {
    let (sim, platform, creds) = setup().await;
    platform.check(&creds).await.unwrap();
    assert_eq!(platform.find_flow(&creds, "ML2026-000001").await.unwrap(), None);
    let id = platform.submit(&creds, &flow("ML2026-000001")).await.unwrap();
    let found = platform.find_flow(&creds, "ML2026-000001").await.unwrap().unwrap();
    assert_eq!((found.flow_id.as_str(), found.ack, found.incoming), (id.as_str(), AckStatus::Ok, false));
    sim.add_status("ML2026-000001", 210, Some(("TX_TVA_ERR", "Taux de TVA erroné")));
    let flows = platform.flows_updated_after(&creds, None).await.unwrap();
    let lifecycle: Vec<_> = flows.iter().filter(|f| f.incoming).collect();
    assert_eq!(lifecycle.len(), 2, "{flows:?}");
    assert!(flows.windows(2).all(|w| w[0].updated_at <= w[1].updated_at), "oldest first");
    let mut statuses = Vec::new();
    for f in lifecycle {
        statuses.extend(platform.lifecycle(&creds, &f.flow_id).await.unwrap());
    }
    assert_eq!(statuses.iter().map(|s| s.code).collect::<Vec<_>>(), [200, 210]);
    assert_eq!(statuses[1].invoice_number, "ML2026-000001");
    assert_eq!(statuses[1].reason_code.as_deref(), Some("TX_TVA_ERR"));
    assert_eq!(statuses[1].reason.as_deref(), Some("Taux de TVA erroné"));
    // Later searches bring only what changed since.
    let last = flows.last().unwrap().updated_at.clone();
    assert!(platform.flows_updated_after(&creds, Some(&last)).await.unwrap().is_empty());
}

#[tokio::test]
async fn searches_follow_the_cursor_through_every_page() {
    let (sim, _, creds) = setup().await;
    let platform = AfnorPlatform::new(AfnorConfig { page_size: 3, ..AfnorConfig::default() }).unwrap();
    for n in 0..10 {
        platform.submit(&creds, &flow(&format!("F-{n}"))).await.unwrap();
    }
    let all = platform.flows_updated_after(&creds, None).await.unwrap();
    assert_eq!(all.iter().filter(|f| !f.incoming).count(), 10);
    let searches = sim.exchanges().iter().filter(|e| e.route == PlatformRoute::Search).count();
    assert!(searches >= 4, "{searches} pages");
}

#[tokio::test]
async fn transient_faults_are_retried_and_a_lost_answer_leaves_one_flow() {
    let (sim, platform, creds) = setup().await;
    sim.inject(PlatformRoute::Token, PlatformFault::Unavailable, 1);
    sim.inject(PlatformRoute::Submit, PlatformFault::TooManyRequests { retry_after: 0 }, 1);
    sim.inject(PlatformRoute::Search, PlatformFault::ServerError, 1);
    platform.submit(&creds, &flow("A-1")).await.unwrap();
    // Accepted, then the answer lost: found by its tracking id, not sent again.
    sim.inject(PlatformRoute::Submit, PlatformFault::AcceptedButLost, 1);
    let id = platform.submit(&creds, &flow("A-2")).await.unwrap();
    assert_eq!(sim.submitted("A-2").len(), 1);
    assert_eq!(sim.submitted("A-2")[0].flow_id, id);
    // An expired token is renewed once.
    sim.inject(PlatformRoute::Search, PlatformFault::Unauthorized, 1);
    assert!(platform.find_flow(&creds, "A-1").await.unwrap().is_some());
    // Slow but within the timeout.
    sim.inject(PlatformRoute::Health, PlatformFault::Delay { ms: 50 }, 1);
    platform.check(&creds).await.unwrap();
    // A platform that stays down is reported as unavailable, naming what was asked.
    sim.inject(PlatformRoute::Submit, PlatformFault::Unavailable, 100);
    sim.inject(PlatformRoute::Search, PlatformFault::Unavailable, 100);
    let err = platform.submit(&creds, &flow("A-3")).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("A-3") || err.to_string().contains("search"), "{err}");
}

#[tokio::test]
async fn refusals_are_named_with_the_platforms_code() {
    let (sim, platform, mut creds) = setup().await;
    // A rejected flow: acknowledged in error, with the platform's reason.
    sim.reject_next("R-1", "InvalidSchema", "Invalid XML schema");
    platform.submit(&creds, &flow("R-1")).await.unwrap();
    let found = platform.find_flow(&creds, "R-1").await.unwrap().unwrap();
    assert_eq!(found.ack, AckStatus::Error);
    assert_eq!(found.details[0].reason_code, "InvalidSchema");
    // The same tracking id again is a duplicate for the platform.
    platform.submit(&creds, &flow("R-2")).await.unwrap();
    platform.submit(&creds, &flow("R-2")).await.unwrap();
    let flows = platform.flows_updated_after(&creds, None).await.unwrap();
    let dup = flows.iter().filter(|f| f.tracking_id.as_deref() == Some("R-2")).find(|f| f.ack == AckStatus::Error);
    assert_eq!(dup.unwrap().details[0].reason_code, "AlreadyExistingFlow");
    assert_eq!(platform.find_flow(&creds, "R-2").await.unwrap().unwrap().ack, AckStatus::Ok, "the one taken in");
    // An empty file: refused, with the flow and the code named.
    let mut empty = flow("R-3");
    empty.file.clear();
    match platform.submit(&creds, &empty).await.unwrap_err() {
        PlatformError::Refused { what, code, .. } => {
            assert_eq!((what.as_str(), code.as_str()), ("flow R-3", "EMPTY_FLOW"))
        }
        other => panic!("{other:?}"),
    }
    // A tracking id the standard cannot carry is refused before any request.
    assert!(matches!(platform.submit(&creds, &flow(&"x".repeat(65))).await, Err(PlatformError::Config(_))));
    // Wrong credentials, and an address that is not one.
    creds.client_secret = "wrong".into();
    let fresh = AfnorPlatform::new(AfnorConfig::default()).unwrap();
    assert!(matches!(fresh.check(&creds).await, Err(PlatformError::Credentials(_))));
    creds.flow_url = "ftp://pa.example".into();
    assert!(matches!(fresh.check(&creds).await, Err(PlatformError::Config(_))));
}

#[tokio::test]
async fn the_directory_gives_a_companys_electronic_address() {
    let (sim, platform, creds) = setup().await;
    sim.add_company("303265045", "303265045_FACTURES");
    assert_eq!(platform.directory_address(&creds, "303265045").await.unwrap().as_deref(), Some("303265045_FACTURES"));
    assert_eq!(platform.directory_address(&creds, "732829320").await.unwrap(), None);
    assert!(matches!(platform.directory_address(&creds, "12345").await, Err(PlatformError::Config(_))));
}

/// A validator of one schema of an OpenAPI document's components.
fn schema(doc: &Value, name: &str) -> jsonschema::Validator {
    let mut components = doc["components"].clone();
    // The Flow Service writes ReasonCode as `oneOf: [the enum, any string]`: under JSON Schema
    // every listed code matches both and would fail. Its own text says "a predefined set of
    // values + ability to extend this set", which is `anyOf`.
    if let Some(reason) = components.pointer_mut("/schemas/ReasonCode")
        && let Some(one_of) = reason.as_object_mut().and_then(|o| o.remove("oneOf"))
    {
        reason["anyOf"] = one_of;
    }
    let root = json!({"$ref": format!("#/components/schemas/{name}"), "components": components});
    jsonschema::validator_for(&root).unwrap()
}

fn check(doc: &Value, name: &str, value: &Value) {
    let v = schema(doc, name);
    let errors: Vec<String> = v.iter_errors(value).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{name}: {errors:?}\n{value:#}");
}

fn document(file: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/reference/platform").join(file);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test]
async fn every_request_and_answer_follows_the_openapi_documents() {
    let flows_doc = document("flow-service-1.3.0.json");
    let dir_doc = document("directory-service-1.3.0.json");
    let (sim, platform, creds) = setup().await;
    sim.add_company("303265045", "303265045");
    platform.submit(&creds, &flow("D-1")).await.unwrap();
    let mut report = flow("D-2");
    report.syntax = FlowSyntax::Frr;
    report.rule = ProcessingRule::B2C;
    platform.submit(&creds, &report).await.unwrap();
    sim.reject_next("D-3", "InvalidSchema", "Invalid XML schema");
    platform.submit(&creds, &flow("D-3")).await.unwrap();
    platform.find_flow(&creds, "D-1").await.unwrap();
    for f in platform.flows_updated_after(&creds, None).await.unwrap() {
        if f.incoming {
            platform.lifecycle(&creds, &f.flow_id).await.unwrap();
        }
    }
    platform.directory_address(&creds, "303265045").await.unwrap();
    let exchanges = sim.exchanges();
    let seen = |r: PlatformRoute| exchanges.iter().filter(|e: &&Exchange| e.route == r).count();
    assert!(
        seen(PlatformRoute::Submit) == 3 && seen(PlatformRoute::Search) >= 2 && seen(PlatformRoute::Directory) == 1
    );
    for e in &exchanges {
        let (doc, request, answer) = match e.route {
            PlatformRoute::Submit => (&flows_doc, "FlowInfo", "FullFlowInfo"),
            PlatformRoute::Search => (&flows_doc, "SearchFlowParams", "SearchFlowContent"),
            PlatformRoute::GetFlow => (&flows_doc, "", "Flow"),
            PlatformRoute::Directory => (&dir_doc, "searchDirectoryLine", "directoryLineSearchPost200Response"),
            _ => continue,
        };
        if let (false, Some(r)) = (request.is_empty(), &e.request) {
            check(doc, request, r);
        }
        if let Some(a) = &e.answer {
            check(doc, answer, a);
        }
    }
    // Each flow in a search answer is a Flow of the standard, with its required fields.
    for e in exchanges.iter().filter(|e| e.route == PlatformRoute::Search) {
        for f in e.answer.as_ref().unwrap()["results"].as_array().unwrap() {
            check(&flows_doc, "Flow", f);
            for key in ["flowId", "submittedAt", "updatedAt", "flowType", "flowDirection", "processingRuleSource"] {
                assert!(f.get(key).is_some(), "{key} missing in {f}");
            }
        }
    }
    // Errors follow the standard's Error object.
    let error = json!({"errorCode": "EMPTY_FLOW", "errorMessage": "the file is empty"});
    check(&flows_doc, "Error", &error);
}
