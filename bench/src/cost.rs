//! The cost model: measured requests, durations, memory and bytes → US$ per 1,000 invoices on
//! AWS arm64, with the prices as data (`bench/aws-prices.json`, dated).

use serde::{Deserialize, Serialize};

use crate::runs::{LambdaRuns, Requests};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prices {
    pub region: String,
    pub as_of: String,
    pub lambda: LambdaPrices,
    pub dynamodb: DynamoPrices,
    pub s3: S3Prices,
    pub ses: SesPrices,
    pub sqs: SqsPrices,
    pub kms: KmsPrices,
    pub scheduler: SchedulerPrices,
    pub logs: LogPrices,
    pub cloudwatch: CloudWatchPrices,
    pub data_transfer_out_per_gb: f64,
    pub incumbent: Incumbent,
    pub scenario: Scenario,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LambdaPrices {
    pub arm64_per_gb_second: f64,
    pub per_million_requests: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DynamoPrices {
    pub per_million_write_units: f64,
    pub per_million_read_units: f64,
    pub storage_per_gb_month: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Prices {
    pub standard_per_gb_month: f64,
    pub put_per_thousand: f64,
    pub get_per_thousand: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SesPrices {
    pub per_thousand_messages: f64,
    pub attachments_per_gb: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SqsPrices {
    pub per_million_requests: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KmsPrices {
    pub per_ten_thousand_requests: f64,
    pub key_per_month: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchedulerPrices {
    pub per_million_invocations: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogPrices {
    pub ingest_per_gb: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudWatchPrices {
    pub alarm_per_month: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Incumbent {
    pub eur_per_invoice: f64,
    pub usd_per_eur: f64,
    pub usd_per_eur_as_of: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scenario {
    pub invoices_per_seller_month: f64,
    pub sellers: f64,
    pub seller_runs_per_month: f64,
    pub tracker_runs_per_month: f64,
    pub purge_runs_per_month: f64,
    pub alarms: f64,
    pub storage_months: f64,
    pub retention_years: f64,
}

/// Start-up (billed INIT) of the functions, from the start-up measurement.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitTimes {
    pub seller_run_s: f64,
    pub tracker_s: f64,
    pub scheduler_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CostLine {
    pub item: String,
    pub basis: String,
    pub usd_per_1000: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CostModel {
    pub lines: Vec<CostLine>,
    /// Everything, with documents kept `storageMonths`.
    pub total_usd_per_1000: f64,
    /// Keeping the documents the whole legal retention instead, in S3 Standard.
    pub retention_storage_usd_per_1000: f64,
    pub incumbent_usd_per_1000: f64,
    pub prices_as_of: String,
    pub region: String,
}

const GB: f64 = 1e9;

/// DynamoDB capacity units of a set of requests: writes by KB sent (twice in a transaction),
/// reads by 4 KB received (strongly consistent), at least one unit per request or item.
pub fn dynamo_units(r: &Requests) -> (f64, f64) {
    let mut write = 0.0;
    let mut read = 0.0;
    for (key, &n) in &r.requests {
        let Some(op) = key.strip_prefix("dynamodb ") else { continue };
        let kb_in = (r.sent(key) as f64 / 1024.0).ceil();
        let kb4_out = (r.received(key) as f64 / 4096.0).ceil();
        match op {
            "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem" => write += kb_in.max(n as f64),
            "TransactWriteItems" => write += 2.0 * kb_in.max(r.count("dynamodb TransactWriteItems.items") as f64),
            "GetItem" | "Query" | "Scan" | "BatchGetItem" => read += kb4_out.max(n as f64),
            "TransactGetItems" => read += 2.0 * kb4_out.max(n as f64),
            _ => {}
        }
    }
    (write, read)
}

fn sum_service(r: &Requests, service: &str) -> u64 {
    r.requests.iter().filter(|(k, _)| k.starts_with(service) && !k.ends_with(".items")).map(|(_, n)| *n).sum()
}

/// One function's part: its requests to AWS, its billed duration, its logs.
struct Part<'a> {
    requests: &'a Requests,
    invocations: f64,
    billed_s: f64,
    memory_gb: f64,
    log_bytes: f64,
}

/// US$ of a part per 1,000 invoices, when it happens `per_1000` times per 1,000 invoices.
fn price_part(p: &Prices, part: &Part<'_>, per_1000: f64, lines: &mut Vec<(&'static str, f64)>) {
    let (w, r) = dynamo_units(part.requests);
    let q = part.requests;
    let s3_puts = q.count("s3 PUT") as f64;
    let s3_gets = (q.count("s3 GET") + q.count("s3 HEAD")) as f64;
    let mails = q.count("sesv2 POST outbound-emails") as f64;
    let mail_gb = q.sent("sesv2 POST outbound-emails") as f64 / GB;
    let upload_gb = q.sent("s3 PUT") as f64 / GB;
    lines.push(("Lambda", per_1000 * part.invocations * p.lambda.per_million_requests / 1e6));
    lines.push(("Lambda", per_1000 * part.billed_s * part.memory_gb * p.lambda.arm64_per_gb_second));
    lines.push(("DynamoDB", per_1000 * w * p.dynamodb.per_million_write_units / 1e6));
    lines.push(("DynamoDB", per_1000 * r * p.dynamodb.per_million_read_units / 1e6));
    lines.push(("S3 requests", per_1000 * (s3_puts * p.s3.put_per_thousand + s3_gets * p.s3.get_per_thousand) / 1e3));
    lines.push(("SES", per_1000 * (mails * p.ses.per_thousand_messages / 1e3 + mail_gb * p.ses.attachments_per_gb)));
    lines.push(("SQS", per_1000 * sum_service(q, "sqs ") as f64 * p.sqs.per_million_requests / 1e6));
    lines.push(("KMS", per_1000 * sum_service(q, "kms ") as f64 * p.kms.per_ten_thousand_requests / 1e4));
    lines.push(("CloudWatch Logs", per_1000 * part.log_bytes / GB * p.logs.ingest_per_gb));
    // What leaves AWS: the PDF uploaded to the marketplace (the stored bytes stand for it).
    lines.push(("Data transfer out", per_1000 * upload_gb * p.data_transfer_out_per_gb));
}

pub fn model(p: &Prices, runs: &LambdaRuns, init: InitTimes) -> CostModel {
    let sc = &p.scenario;
    let issued = runs.seller_run.issued.max(1) as f64;
    // The measured run issued `issued` invoices; scale it to 1,000.
    let scale = 1000.0 / issued;
    let mut raw: Vec<(&'static str, f64)> = Vec::new();
    price_part(
        p,
        &Part {
            requests: &runs.seller_run_requests,
            invocations: 1.0,
            billed_s: init.seller_run_s + runs.seller_run.wall_s,
            memory_gb: 0.25,
            log_bytes: runs.seller_run.log_bytes as f64,
        },
        scale,
        &mut raw,
    );
    price_part(
        p,
        &Part {
            requests: &runs.tracker_requests,
            invocations: 1.0,
            billed_s: init.tracker_s + runs.tracker_wall_s,
            memory_gb: 0.125,
            log_bytes: runs.tracker_log_bytes as f64,
        },
        scale,
        &mut raw,
    );
    // The other scheduled seller runs of the month find little: each costs an idle run.
    let invoices_per_month = sc.invoices_per_seller_month * sc.sellers;
    let idle_runs_per_1000 = (sc.seller_runs_per_month - 1.0).max(0.0) * sc.sellers / invoices_per_month * 1000.0;
    price_part(
        p,
        &Part {
            requests: &runs.idle_run_requests,
            invocations: 1.0,
            billed_s: init.seller_run_s + runs.idle_run_wall_s,
            memory_gb: 0.25,
            log_bytes: runs.idle_run_log_bytes as f64,
        },
        idle_runs_per_1000,
        &mut raw,
    );
    let idle_tracker_per_1000 = sc.tracker_runs_per_month / invoices_per_month * 1000.0;
    price_part(
        p,
        &Part {
            requests: &runs.idle_tracker_requests,
            invocations: 1.0,
            billed_s: init.tracker_s + runs.idle_tracker_wall_s,
            memory_gb: 0.125,
            log_bytes: 0.0,
        },
        idle_tracker_per_1000,
        &mut raw,
    );
    // Scheduler and purge: one short invocation each (0.2 s assumed), one message per seller.
    let housekeeping = (sc.seller_runs_per_month + sc.purge_runs_per_month) / invoices_per_month * 1000.0;
    raw.push(("Lambda", housekeeping * p.lambda.per_million_requests / 1e6));
    raw.push(("Lambda", housekeeping * (init.scheduler_s + 0.2) * 0.125 * p.lambda.arm64_per_gb_second));
    raw.push((
        "SQS",
        sc.seller_runs_per_month * sc.sellers / invoices_per_month * 1000.0 * 3.0 * p.sqs.per_million_requests / 1e6,
    ));
    let schedules = sc.seller_runs_per_month + sc.tracker_runs_per_month + sc.purge_runs_per_month;
    raw.push((
        "EventBridge Scheduler",
        schedules / invoices_per_month * 1000.0 * p.scheduler.per_million_invocations / 1e6,
    ));
    raw.push((
        "KMS key, alarms",
        (p.kms.key_per_month + sc.alarms * p.cloudwatch.alarm_per_month) / invoices_per_month * 1000.0,
    ));
    // Storage: documents in S3; records in DynamoDB, bounded by the requests that create items
    // (updates replace what they change, so they are not counted again).
    let doc_bytes = runs.seller_run_requests.sent("s3 PUT") as f64 * scale;
    let record_bytes = (runs.seller_run_requests.sent("dynamodb PutItem")
        + runs.seller_run_requests.sent("dynamodb TransactWriteItems")) as f64
        * scale;
    raw.push(("S3 storage", doc_bytes / GB * p.s3.standard_per_gb_month * sc.storage_months));
    raw.push(("DynamoDB storage", record_bytes / GB * p.dynamodb.storage_per_gb_month * sc.storage_months));

    let mut lines: Vec<CostLine> = Vec::new();
    for (item, usd) in raw {
        match lines.iter_mut().find(|l| l.item == item) {
            Some(l) => l.usd_per_1000 += usd,
            None => lines.push(CostLine { item: item.into(), basis: String::new(), usd_per_1000: usd }),
        }
    }
    let (w, r) = dynamo_units(&runs.seller_run_requests);
    for l in &mut lines {
        l.basis = match l.item.as_str() {
            "Lambda" => format!(
                "seller run {:.1} s at 256 MB per {} invoices + {:.0} idle runs; init billed",
                runs.seller_run.wall_s, runs.seller_run.issued, idle_runs_per_1000
            ),
            "DynamoDB" => format!("{:.1} write and {:.1} read units per invoice", w / issued, r / issued),
            "S3 requests" => format!("{:.1} PUT per invoice", runs.seller_run_requests.count("s3 PUT") as f64 / issued),
            "SES" => format!(
                "{:.2} mails per invoice, attachments included",
                runs.seller_run_requests.count("sesv2 POST outbound-emails") as f64 / issued
            ),
            "S3 storage" => {
                format!("{:.1} KB per invoice for {} months", doc_bytes / 1000.0 / 1000.0, sc.storage_months)
            }
            "CloudWatch Logs" => format!("{:.0} bytes of log per invoice", runs.seller_run.log_bytes as f64 / issued),
            "DynamoDB storage" => {
                format!("{:.1} KB per invoice for {} months", record_bytes / 1000.0 / 1000.0, sc.storage_months)
            }
            _ => String::new(),
        };
    }
    let total = lines.iter().map(|l| l.usd_per_1000).sum();
    CostModel {
        lines,
        total_usd_per_1000: total,
        retention_storage_usd_per_1000: doc_bytes / GB * p.s3.standard_per_gb_month * 12.0 * sc.retention_years,
        incumbent_usd_per_1000: 1000.0 * p.incumbent.eur_per_invoice * p.incumbent.usd_per_eur,
        prices_as_of: p.as_of.clone(),
        region: p.region.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prices() -> Prices {
        serde_json::from_str(include_str!("../aws-prices.json")).unwrap()
    }

    fn requests(pairs: &[(&str, u64, u64, u64)]) -> Requests {
        let mut r = Requests::default();
        for (k, n, i, o) in pairs {
            r.requests.insert((*k).into(), *n);
            r.bytes_in.insert((*k).into(), *i);
            r.bytes_out.insert((*k).into(), *o);
        }
        r
    }

    #[test]
    fn capacity_units_follow_sizes_and_transactions() {
        let r = requests(&[
            ("dynamodb PutItem", 2, 3000, 10),
            ("dynamodb TransactWriteItems", 1, 500, 10),
            ("dynamodb TransactWriteItems.items", 3, 0, 0),
            ("dynamodb GetItem", 4, 100, 9000),
            ("s3 PUT", 2, 5000, 0),
        ]);
        let (w, rd) = dynamo_units(&r);
        assert_eq!(w, 3.0 + 2.0 * 3.0);
        assert_eq!(rd, 4.0);
    }

    #[test]
    fn mails_dominate_a_thousand_invoices() {
        let p = prices();
        let per_invoice = requests(&[
            ("sesv2 POST outbound-emails", 1000, 40_000_000, 0),
            ("s3 PUT", 2000, 31_000_000, 0),
            ("dynamodb TransactWriteItems", 1000, 3_000_000, 0),
            ("dynamodb TransactWriteItems.items", 4000, 0, 0),
        ]);
        let runs = LambdaRuns {
            seller_run: crate::runs::RunFigures { issued: 1000, wall_s: 10.0, ..Default::default() },
            seller_run_requests: per_invoice,
            ..Default::default()
        };
        let m = model(&p, &runs, InitTimes::default());
        let ses = m.lines.iter().find(|l| l.item == "SES").unwrap().usd_per_1000;
        assert!((ses - (0.10 + 0.04 * 0.12)).abs() < 1e-9, "{ses}");
        assert!(m.total_usd_per_1000 > ses);
        assert!((m.incumbent_usd_per_1000 - 116.0).abs() < 1e-9);
    }
}
