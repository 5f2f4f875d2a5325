//! One structured line per seller run, with CloudWatch embedded-metric-format fields so the
//! counts become metrics without an API call. No buyer data in it.

use std::time::Duration;

use serde_json::json;

use crate::model::SellerId;
use crate::seller_run::RunOutcome;

/// The JSON line of a run (EMF: the `_aws` block names the metrics that follow).
pub fn run_line(seller: &SellerId, out: &RunOutcome, elapsed: Duration, timestamp_ms: i128) -> serde_json::Value {
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": "Marketbill",
                "Dimensions": [["Operation"]],
                "Metrics": [
                    {"Name": "OrdersSeen", "Unit": "Count"},
                    {"Name": "InvoicesIssued", "Unit": "Count"},
                    {"Name": "InvoicesMailed", "Unit": "Count"},
                    {"Name": "InvoicesUploaded", "Unit": "Count"},
                    {"Name": "OrdersSkipped", "Unit": "Count"},
                    {"Name": "OrdersFailed", "Unit": "Count"},
                    {"Name": "RunDuration", "Unit": "Milliseconds"}
                ]
            }]
        },
        "Operation": "SellerRun",
        "message": "seller run finished",
        "sellerId": seller.as_str(),
        "OrdersSeen": out.seen,
        "InvoicesIssued": out.issued,
        "InvoicesMailed": out.mailed,
        "InvoicesUploaded": out.uploaded,
        "OrdersSkipped": out.skipped_total(),
        "OrdersFailed": out.failed.len(),
        "RunDuration": elapsed.as_millis() as u64,
        "skippedByReason": out.skipped,
        "complete": out.complete,
        "continued": out.continued,
    })
}

/// Prints the run line on stdout (the Lambda log stream), if metrics output is on.
pub fn log_run(seller: &SellerId, out: &RunOutcome, elapsed: Duration) {
    let ts = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let line = run_line(seller, out, elapsed, ts);
    tracing::info!(target: "marketbill::run", seller = %seller, run = %line, "seller run finished");
    if std::env::var_os("MARKETBILL_EMF").is_some() {
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_line_is_embedded_metric_format_without_buyer_data() {
        let mut out = RunOutcome { seen: 5, issued: 3, mailed: 3, uploaded: 3, ..Default::default() };
        out.skipped.insert("notShipped".into(), 2);
        let line = run_line(&"s1".parse().unwrap(), &out, Duration::from_millis(1234), 1_700_000_000_000);
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Marketbill");
        for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            assert!(line.get(name).is_some(), "metric {name} has no value");
        }
        assert_eq!(line["InvoicesIssued"], 3);
        assert_eq!(line["OrdersSkipped"], 2);
        assert!(!line.to_string().contains('@'));
    }
}
