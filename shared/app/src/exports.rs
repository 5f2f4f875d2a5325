//! Exports: a period's documents as one ZIP, built step by step (each step short enough for a
//! Lambda request), then behind a short link.

use marketbill_documents::bundle::{BundleEntry, merge_archives, zip_documents};
use serde::Serialize;

use crate::model::{InvoiceQuery, SellerId};
use crate::once::Once;
use crate::portal::{Conflict, LINK_TTL, PortalError, all_invoices, seller};
use crate::ports::{Clock, DocumentStore, InvoiceLedger, KeyLedger, PresignedLink, SellerLedger};
use crate::services::{PipelineError, Services};

/// How many invoices (their PDF and XML) one step of an export packs.
pub const EXPORT_STEP: usize = 100;

/// An export being built: the period's documents, packed [`EXPORT_STEP`] invoices per step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExportManifest {
    from: time::Date,
    to: time::Date,
    /// (name in the archive, store key), sorted by name.
    files: Vec<(String, String)>,
    /// Invoices per step: files of one invoice stay in one part.
    steps: Vec<usize>,
}

/// Where an export is.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportProgress {
    pub job: String,
    pub from: time::Date,
    pub to: time::Date,
    /// Files (PDF and XML) packed so far, and in all.
    pub files_done: usize,
    pub files: usize,
    /// The archive's link, once it is built.
    pub link: Option<PresignedLink>,
}

/// What exporting a period's documents uses: the sellers, their documents, the keys of
/// repeated requests, the store the archive is built in, and the time.
#[derive(Clone, Copy)]
pub struct Exports<'a> {
    pub sellers: &'a dyn SellerLedger,
    pub invoices: &'a dyn InvoiceLedger,
    pub keys: &'a dyn KeyLedger,
    pub store: &'a dyn DocumentStore,
    pub clock: &'a dyn Clock,
}

impl Services {
    /// Exports, on this deployment's ports.
    pub fn exports(&self) -> Exports<'_> {
        let ledger = self.ledger.as_ref();
        Exports {
            sellers: ledger,
            invoices: ledger,
            keys: ledger,
            store: self.store.as_ref(),
            clock: self.clock.as_ref(),
        }
    }
}

/// An export job's name: `<unix time>-<16 hex>` (what [`start_export`] makes).
pub fn is_export_job(job: &str) -> bool {
    job.split_once('-').is_some_and(|(t, n)| {
        !t.is_empty()
            && t.len() <= 12
            && t.bytes().all(|b| b.is_ascii_digit())
            && n.len() == 16
            && n.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

pub(crate) fn check_period(from: time::Date, to: time::Date) -> Result<(), PortalError> {
    if to < from {
        return Err(PortalError::field("to", "must not be before from"));
    }
    if (to - from) > time::Duration::days(366) {
        return Err(PortalError::field("to", "a period is at most one year"));
    }
    Ok(())
}

impl Exports<'_> {
    /// Starts the export of a period: lists its documents and records the job. The archive is
    /// built by [`Exports::advance_export`], one step per call, so that no single request (a Lambda's, a
    /// page's) runs long and a page can show the progress.
    ///
    /// Once per [`Once`]: a repeat goes to the export the first request started.
    pub async fn start_export(
        &self,
        id: &SellerId,
        from: time::Date,
        to: time::Date,
        once: Option<&Once>,
    ) -> Result<ExportProgress, PortalError> {
        crate::once::once(self.keys, self.clock, id, once, || self.start_export_now(id, from, to)).await
    }

    async fn start_export_now(
        &self,
        id: &SellerId,
        from: time::Date,
        to: time::Date,
    ) -> Result<ExportProgress, PortalError> {
        check_period(from, to)?;
        seller(self.sellers, id).await?;
        let mut files: Vec<(String, String)> = Vec::new();
        let mut per_invoice: Vec<usize> = Vec::new();
        let query = InvoiceQuery { from: Some(from), to: Some(to), limit: 200, ..Default::default() };
        for rec in all_invoices(self.invoices, id, query).await? {
            let before = files.len();
            for (obj, ext) in [(&rec.pdf, "pdf"), (&rec.xml, "xml")] {
                if let Some(o) = obj {
                    files.push((
                        format!("{}/{}.{ext}", rec.invoice.issue_date.year(), rec.invoice.number),
                        o.key.clone(),
                    ));
                }
            }
            if files.len() > before {
                per_invoice.push(files.len() - before);
            }
        }
        // Numbers sort within a series and a year: the archive lists each year's documents in order.
        let steps = per_invoice.chunks(EXPORT_STEP).map(|c| c.iter().sum()).collect();
        let manifest = ExportManifest { from, to, files, steps };
        let now = self.clock.now();
        crate::retention::sweep_exports(self.store, &format!("exports/{id}/"), now)
            .await
            .map_err(PipelineError::from)?;
        // Unique per request (time and a random part): simultaneous exports never share a file.
        let job = format!("{}-{}", now.unix_timestamp(), hex::encode(&crate::crypto::random_key()[..8]));
        let body = serde_json::to_vec(&manifest)
            .map_err(|e| PipelineError::Data { what: "an export manifest", reason: e.to_string() })?;
        self.store
            .put(&format!("exports/{id}/{job}.manifest.json"), &body, "application/json")
            .await
            .map_err(PipelineError::from)?;
        Ok(ExportProgress { job, from, to, files_done: 0, files: manifest.files.len(), link: None })
    }

    /// Does the next step of an export (packs one part, or assembles the parts) and says where it
    /// is. Safe to call again and at once: a step writes the same bytes whoever does it.
    pub async fn advance_export(&self, id: &SellerId, job: &str) -> Result<ExportProgress, PortalError> {
        if !is_export_job(job) {
            return Err(PortalError::NotFound);
        }
        let prefix = format!("exports/{id}/{job}");
        let store = self.store;
        let raw = store
            .get(&format!("{prefix}.manifest.json"))
            .await
            .map_err(PipelineError::from)?
            .ok_or(PortalError::NotFound)?;
        let m: ExportManifest = serde_json::from_slice(&raw)
            .map_err(|e| PipelineError::Data { what: "an export manifest", reason: e.to_string() })?;
        // Named by seller and period where it is downloaded (the last segment of its key).
        let archive = format!("{prefix}/factures_{id}_{}_{}.zip", m.from, m.to);
        let part = |k: usize| format!("{prefix}.part-{k:05}.zip");
        let existing = store.list(&prefix).await.map_err(PipelineError::from)?;
        let mut progress = ExportProgress {
            job: job.to_owned(),
            from: m.from,
            to: m.to,
            files_done: 0,
            files: m.files.len(),
            link: None,
        };
        if existing.contains(&archive) {
            progress.files_done = progress.files;
            progress.link = Some(store.presign_get(&archive, LINK_TTL).await.map_err(PipelineError::from)?);
            return Ok(progress);
        }
        let mut start = 0;
        let mut missing = None;
        for (k, n) in m.steps.iter().enumerate() {
            if existing.contains(&part(k)) {
                progress.files_done += n;
            } else if missing.is_none() {
                missing = Some((k, start, *n));
            }
            start += n;
        }
        if let Some((k, start, n)) = missing {
            let mut bytes = Vec::with_capacity(n);
            for (name, key) in m.files.iter().skip(start).take(n) {
                // A document deleted since the listing (a purge) is left out, not an error.
                if let Some(b) = store.get(key).await.map_err(PipelineError::from)? {
                    bytes.push((name.clone(), b));
                }
            }
            let entries = bytes.iter().map(|(name, b)| BundleEntry { name: name.clone(), bytes: b }).collect();
            let zip = zip_documents(entries).map_err(PipelineError::from)?;
            store.put(&part(k), &zip, "application/zip").await.map_err(PipelineError::from)?;
            progress.files_done += n;
            return Ok(progress);
        }
        let mut parts = Vec::with_capacity(m.steps.len());
        for k in 0..m.steps.len() {
            parts.push(
                store
                    .get(&part(k))
                    .await
                    .map_err(PipelineError::from)?
                    .ok_or(PortalError::Conflict(Conflict::ExportPartMissing))?,
            );
        }
        let zip = if parts.is_empty() { zip_documents(Vec::new()) } else { merge_archives(&parts) }
            .map_err(PipelineError::from)?;
        store.put(&archive, &zip, "application/zip").await.map_err(PipelineError::from)?;
        for k in 0..m.steps.len() {
            store.delete_prefix(&part(k)).await.map_err(PipelineError::from)?;
        }
        progress.link = Some(store.presign_get(&archive, LINK_TTL).await.map_err(PipelineError::from)?);
        Ok(progress)
    }

    /// `POST /v1/exports`: a ZIP of the period's documents behind a short-lived link, built in one
    /// call (the pages build it step by step with [`start_export`] and [`Exports::advance_export`]).
    pub async fn export(
        &self,
        id: &SellerId,
        from: time::Date,
        to: time::Date,
        once: Option<&Once>,
    ) -> Result<(PresignedLink, usize), PortalError> {
        // A repeat finds the same job (and its archive, or builds what is left of it).
        let started = self.start_export(id, from, to, once).await?;
        // One step per part and one to assemble; the bound only guards against a job gone wrong.
        for _ in 0..=started.files + 1 {
            let p = self.advance_export(id, &started.job).await?;
            if let Some(link) = p.link {
                return Ok((link, p.files));
            }
        }
        Err(PortalError::Conflict(Conflict::ExportUnfinished))
    }
}
