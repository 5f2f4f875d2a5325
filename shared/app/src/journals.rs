//! The sales journal of a period: FEC, CSV, and the e-reporting data (XML and JSON).

use crate::exports::check_period;

use crate::documents::Documents;
use crate::model::{InvoiceQuery, InvoiceRecord, SellerId};
use crate::portal::{Conflict, PortalError, all_invoices, seller};
use crate::services::PipelineError;

/// A sales journal as a file: its name, its type and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalFile {
    pub name: String,
    pub content_type: &'static str,
    pub body: String,
}

/// The sales journal is read from the documents.
impl Documents<'_> {
    /// Every invoice and credit note of a period, in number order within each series: what the
    /// sales journal (FEC, CSV) is made of.
    pub async fn journal(
        &self,
        id: &SellerId,
        from: time::Date,
        to: time::Date,
    ) -> Result<Vec<InvoiceRecord>, PortalError> {
        check_period(from, to)?;
        seller(self.sellers, id).await?;
        let query = InvoiceQuery { from: Some(from), to: Some(to), limit: 500, ..Default::default() };
        Ok(all_invoices(self.invoices, id, query).await?)
    }

    /// The sales journal of a period in a format: `fec` (named as the format requires, by the
    /// seller's SIREN or else its id), `csv`, or the e-reporting transaction data of the period
    /// (`ereporting` as XML, `ereporting-json`; see [`crate::ereporting`]). The FEC's accounts are
    /// the deployment's (`Settings::accounts`).
    pub async fn journal_file(
        &self,
        accounts: &crate::accounting::Accounts,
        id: &SellerId,
        format: &str,
        from: time::Date,
        to: time::Date,
    ) -> Result<JournalFile, PortalError> {
        use crate::accounting;
        use crate::ereporting;
        if !matches!(format, "fec" | "csv" | "ereporting" | "ereporting-json") {
            return Err(PortalError::field("format", "is fec, csv, ereporting or ereporting-json"));
        }
        let record = seller(self.sellers, id).await?;
        let records = self.journal(id, from, to).await?;
        Ok(match format {
            "fec" => {
                let who =
                    record.profile.siren.as_ref().map(|s| s.as_str().to_owned()).unwrap_or_else(|| id.to_string());
                JournalFile {
                    name: accounting::fec_file_name(&who, to),
                    content_type: "text/plain; charset=utf-8",
                    body: accounting::fec(&records, accounts),
                }
            }
            "csv" => JournalFile {
                name: format!("journal-ventes-{from}-{to}.csv"),
                content_type: "text/csv; charset=utf-8",
                body: accounting::csv(&records),
            },
            json_or_xml => {
                use marketbill_domain::reporting::{PeriodKind, ReportingPeriod};
                // A period of one of the regimes: ten days, a month or two months, exactly.
                let period = [PeriodKind::TenDays, PeriodKind::Month, PeriodKind::TwoMonths]
                    .into_iter()
                    .map(|kind| ReportingPeriod::containing(kind, from))
                    .find(|p| p.start == from && p.end == to)
                    .ok_or_else(|| {
                        PortalError::field(
                            "to",
                            "an e-reporting period is ten days (1–10, 11–20, 21–end), a month or two months",
                        )
                    })?;
                let report = ereporting::report(&ereporting::ReportRequest {
                    profile: &record.profile,
                    period,
                    records: &records,
                    sender: None,
                    version: 1,
                    created_at: self.clock.now(),
                });
                let label = period.label();
                if json_or_xml == "ereporting-json" {
                    JournalFile {
                        name: format!("e-reporting-{label}.json"),
                        content_type: "application/json",
                        body: serde_json::to_string_pretty(&report)
                            .map_err(|e| PipelineError::Data { what: "the e-reporting JSON", reason: e.to_string() })?,
                    }
                } else {
                    let xml = ereporting::to_xml(&report)
                        .map_err(|e| PortalError::Conflict(Conflict::ReportUnwritable(e.to_string())))?;
                    JournalFile {
                        name: format!("e-reporting-{label}.xml"),
                        content_type: "application/xml",
                        body: String::from_utf8_lossy(&xml).into_owned(),
                    }
                }
            }
        })
    }
}
