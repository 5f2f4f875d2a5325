//! Handing documents to the seller's approved platform, and reading back what became of them.
//!
//! What goes where is the domain's decision ([`marketbill_domain::reporting::placement`]):
//! an invoice or credit note to a business established in France is an e-invoice flow
//! (`processingRule` B2B, Factur-X or UBL, `trackingId` = its number); international B2B sales
//! and sales to consumers go in the e-reporting file of their period (flow 10, `FRR`),
//! submitted once the period has closed, and submitted again as a replacement (`TypeCode` RE,
//! a new version) when a document of a closed period changes what it reports. The mail to the
//! buyer and the marketplace upload stay as they are.
//!
//! Exactly once: before a flow is submitted its state is recorded as `Submitting`; a flow in
//! that state (a crash, a lost answer, another run at the same time) is looked up at the
//! platform by its tracking id before anything is sent again.

use std::collections::BTreeMap;

use marketbill_domain::Draft;
use marketbill_domain::calendar::paris_date;
use marketbill_domain::reporting::{Placement, ReportingPeriod, placement, placement_of};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::ereporting::{self, ReportRequest, ReportSender};
use crate::model::{
    InvoiceQuery, InvoiceRecord, SealedSecret, SellerId, SellerRecord, TransmissionRecord, TransmissionState,
    TransmissionSubject,
};
use crate::platform::{
    AckStatus, FlowSubmission, FlowSyntax, Platform, PlatformCredentials, PlatformError, ProcessingRule,
};
use crate::portal::PortalError;
use crate::ports::{RequestSlot, SecretBox, SecretError, SellerLedger, TransmissionLedger};
use crate::services::{PipelineError, Services};
use time::OffsetDateTime;

/// The settings a seller gives for its platform, sealed as one secret.
pub async fn seal_platform(
    secrets: &dyn SecretBox,
    creds: &PlatformCredentials,
) -> Result<SealedSecret, PipelineError> {
    let plain = serde_json::to_vec(creds).map_err(|e| SecretError::Invalid(e.to_string()))?;
    Ok(secrets.seal(&plain).await?)
}

pub async fn open_platform(
    secrets: &dyn SecretBox,
    sealed: &SealedSecret,
) -> Result<PlatformCredentials, PipelineError> {
    let plain = secrets.open(sealed).await?;
    serde_json::from_slice(&plain).map_err(|e| PipelineError::Secrets(SecretError::Invalid(e.to_string())))
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransmitOutcome {
    /// Tracking ids submitted in this pass.
    pub submitted: Vec<String>,
    /// Flows found at the platform that a previous pass had not recorded (not sent again).
    pub found: Vec<String>,
    /// Flows that could not be submitted this pass, with the reason (tried again next pass).
    pub failed: Vec<(String, String)>,
    /// Flows whose state changed from what the platform said.
    pub updated: usize,
}

/// Where the platform has a document's flow, or a new one when it has none.
async fn submit_once(
    s: &Services,
    platform: &dyn Platform,
    creds: &PlatformCredentials,
    seller: &SellerId,
    mut record: TransmissionRecord,
    flow: FlowSubmission,
    out: &mut TransmitOutcome,
) -> Result<(), PipelineError> {
    let tracking = record.tracking_id.clone();
    // A flow we may have handed over already (a crash, a lost answer): look it up first.
    let earlier = if record.state == TransmissionState::Submitting {
        match platform.find_flow(creds, &tracking).await {
            Ok(f) => f,
            Err(e) => {
                out.failed.push((tracking, e.to_string()));
                return Ok(());
            }
        }
    } else {
        None
    };
    let flow_id = match earlier {
        Some(found) => {
            out.found.push(tracking.clone());
            found.flow_id
        }
        None => {
            record.state = TransmissionState::Submitting;
            record.updated_at = s.clock.now();
            s.ledger.put_transmission(seller, &record).await?;
            match platform.submit(creds, &flow).await {
                Ok(id) => {
                    out.submitted.push(tracking.clone());
                    id
                }
                Err(e) => {
                    tracing::warn!(seller = %seller, tracking_id = %tracking, error = %e, "flow not submitted");
                    out.failed.push((tracking, e.to_string()));
                    return Ok(());
                }
            }
        }
    };
    record.flow_id = Some(flow_id);
    record.state = TransmissionState::Submitted;
    record.updated_at = s.clock.now();
    s.ledger.put_transmission(seller, &record).await?;
    Ok(())
}

/// The SHA-256 of what a report says (not when it was made), to know when it changed.
fn report_content(report: &ereporting::EReport) -> String {
    let essence = serde_json::json!({"invoices": report.invoices, "transactions": report.transactions});
    hex::encode(Sha256::digest(essence.to_string().as_bytes()))
}

/// Hands a seller's documents and closed periods to its platform. `None` when the seller has
/// chosen no platform (nothing is transmitted: the space says so).
pub async fn transmit(
    s: &Services,
    platform: &dyn Platform,
    seller: &SellerId,
) -> Result<Option<TransmitOutcome>, PipelineError> {
    let Some(record) = s.ledger.get_seller(seller).await? else {
        return Ok(None);
    };
    let Some(sealed) = &record.platform else {
        return Ok(None);
    };
    let creds = open_platform(s.secrets.as_ref(), sealed).await?;
    // One pass of a seller at a time (two runs at once, a retry while a pass is slow): the
    // other finds the slot taken and leaves the work to it. A crashed pass's slot lapses.
    let now = s.clock.now();
    let day = marketbill_domain::calendar::iso_date(paris_date(now));
    let until = now + time::Duration::minutes(15);
    match s.ledger.take_slot(seller, TRANSMIT_SLOT, &day, u32::MAX, now, until).await? {
        RequestSlot::Taken => {}
        RequestSlot::Busy | RequestSlot::LimitReached => return Ok(Some(TransmitOutcome::default())),
    }
    let result = transmit_now(s, platform, seller, &record, &creds).await;
    if let Err(e) = s.ledger.free_slot(seller, TRANSMIT_SLOT, &day).await {
        tracing::warn!(seller = %seller, error = %e, "transmission slot not freed (it lapses)");
    }
    result.map(Some)
}

/// A draft about to be issued, with the electronic addresses the e-invoicing directory gives
/// the seller (BT-34) and the buyer (BT-49): asked of the seller's platform only for an
/// e-invoice (a French business buyer with its SIREN) of a seller that chose one. Without an
/// answer (no platform, no line, the platform down) the SIRENs stay the addresses — valid
/// (BR-FR-21: the address starts with the SIREN) — and the transmission pass looks the buyer up
/// again before handing the invoice over.
pub async fn with_directory_addresses(
    secrets: &dyn SecretBox,
    platform: &dyn Platform,
    record: &SellerRecord,
    draft: Draft,
) -> Draft {
    let (Some(sealed), Some(buyer)) = (&record.platform, draft.body.buyer.known_siren()) else {
        return draft;
    };
    if placement_of(&record.profile, &draft.body) != Placement::EInvoice {
        return draft;
    }
    let creds = match open_platform(secrets, sealed).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "platform credentials not opened; the SIRENs stay the addresses");
            return draft;
        }
    };
    let lookup = |siren: String| {
        let creds = &creds;
        async move {
            match platform.directory_address(creds, &siren).await {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(error = %e, "directory not read; the SIREN stays the address");
                    None
                }
            }
        }
    };
    let seller = match record.profile.siren.as_ref() {
        Some(siren) => lookup(siren.as_str().to_owned()).await,
        None => None,
    };
    let buyer = lookup(buyer).await;
    draft.with_electronic_addresses(seller.as_deref(), buyer.as_deref())
}

/// Mails the buyer of an e-invoice its platform cannot receive yet: the directory knows no
/// address for its SIREN; the mail links to the buyer's page to correct it.
async fn ask_buyer_for_address(
    s: &Services,
    record: &SellerRecord,
    doc: &crate::model::InvoiceRecord,
) -> Result<(), PipelineError> {
    let Some(sealed) = &record.credentials else { return Ok(()) };
    let creds = crate::services::open_credentials(s.secrets.as_ref(), sealed).await?;
    let Some(order) = s.marketplace.order(&creds, &doc.order_id).await? else { return Ok(()) };
    let Some(to) = order.buyer_email() else { return Ok(()) };
    let link = crate::delivery::buyer_page_link(&s.settings, &doc.order_id);
    let now = s.clock.now();
    let mail = crate::mail::not_in_directory_mail(&doc.invoice, &s.settings.sender, to, link.as_deref(), now)?;
    crate::delivery::send(s.mailer.as_ref(), None, &mail).await?;
    Ok(())
}

/// The reason code of an e-invoice held because its buyer has no directory line.
pub const NOT_IN_DIRECTORY: &str = "notInDirectory";

/// The slot that lets one transmission pass of a seller run at a time.
const TRANSMIT_SLOT: &str = "transmit";

async fn transmit_now(
    s: &Services,
    platform: &dyn Platform,
    seller: &SellerId,
    record: &crate::model::SellerRecord,
    creds: &PlatformCredentials,
) -> Result<TransmitOutcome, PipelineError> {
    let mut out = TransmitOutcome::default();
    let known: BTreeMap<String, TransmissionRecord> =
        s.ledger.transmissions(seller).await?.into_iter().map(|t| (t.tracking_id.clone(), t)).collect();
    let docs =
        crate::portal::all_invoices(s.ledger.as_ref(), seller, InvoiceQuery { limit: 500, ..Default::default() })
            .await?;
    let pass = Pass { s, platform, seller, record, creds, known: &known, docs: &docs, now: s.clock.now() };
    // E-invoices, one flow each.
    for doc in &docs {
        pass.e_invoice(doc, &mut out).await?;
    }
    // E-reporting, one file per closed period (and a replacement when it changed).
    for period in pass.closed_periods() {
        pass.report(period, &mut out).await?;
    }
    out.updated = read_statuses(s, platform, creds, seller).await.unwrap_or_else(|e| {
        tracing::warn!(seller = %seller, error = %e, "platform statuses not read");
        out.failed.push(("statuses".into(), e.to_string()));
        0
    });
    Ok(out)
}

/// One pass of a seller's transmission: what is known at the platform, the seller's documents.
struct Pass<'a> {
    s: &'a Services,
    platform: &'a dyn Platform,
    seller: &'a SellerId,
    record: &'a crate::model::SellerRecord,
    creds: &'a PlatformCredentials,
    known: &'a BTreeMap<String, TransmissionRecord>,
    docs: &'a [InvoiceRecord],
    now: OffsetDateTime,
}

impl Pass<'_> {
    /// A document that is an e-invoice, handed over once (held while its buyer cannot
    /// receive).
    async fn e_invoice(&self, doc: &InvoiceRecord, out: &mut TransmitOutcome) -> Result<(), PipelineError> {
        let Pass { s, platform, seller, record, creds, known, now, .. } = *self;
        if placement(&record.profile, &doc.invoice) != Placement::EInvoice {
            return Ok(());
        }
        // The credit note cancelling an invoice the platform rejected or the buyer refused is
        // an internal one: it is not transmitted (general specification v3.2, § 3.6.4).
        if let marketbill_domain::DocumentKind::CreditNote { corrects } = &doc.invoice.kind
            && known.get(corrects.number.as_str()).is_some_and(|t| t.state == TransmissionState::Rejected)
        {
            return Ok(());
        }
        let number = doc.invoice.number.to_string();
        let t = match known.get(&number) {
            Some(t) if !matches!(t.state, TransmissionState::Submitting | TransmissionState::Held) => return Ok(()),
            Some(t) => t.clone(),
            None => TransmissionRecord {
                tracking_id: number.clone(),
                subject: TransmissionSubject::Document { number: number.clone() },
                flow_id: None,
                state: TransmissionState::Submitting,
                lifecycle: None,
                reason: None,
                updated_at: now,
            },
        };
        // The files are stored by the delivery of the document; not yet: next pass.
        let (key, syntax, name) = match (&doc.pdf, &doc.xml, creds.prefer_ubl) {
            (_, Some(xml), true) => (xml.key.clone(), FlowSyntax::Ubl, format!("{number}.xml")),
            (Some(pdf), _, _) => (pdf.key.clone(), FlowSyntax::FacturX, format!("{number}.pdf")),
            _ => return Ok(()),
        };
        // The buyer must be reachable: an enabled line of its SIREN in the directory (its
        // platform receives for it). Without one the invoice waits, shown as a problem.
        // (A flow that was being handed over is looked up instead: it may be at the platform.)
        let resuming = known.get(&number).is_some_and(|k| k.state == TransmissionState::Submitting);
        if !resuming && let Some(siren) = doc.invoice.body.buyer.known_siren() {
            match platform.directory_address(creds, &siren).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    if t.state != TransmissionState::Held {
                        let held = TransmissionRecord {
                            state: TransmissionState::Held,
                            reason: Some(NOT_IN_DIRECTORY.into()),
                            updated_at: now,
                            ..t
                        };
                        s.ledger.put_transmission(seller, &held).await?;
                        // Once, when it is first held: the buyer is asked for its address.
                        if let Err(e) = ask_buyer_for_address(s, record, doc).await {
                            tracing::warn!(seller = %seller, invoice = %doc.invoice.number, error = %e, "the buyer was not asked for its e-invoicing address");
                        }
                    }
                    return Ok(());
                }
                Err(e) => {
                    out.failed.push((number, e.to_string()));
                    return Ok(());
                }
            }
        }
        // Read only now: a held invoice costs no file read at each pass.
        let file = match s.store.get(&key).await? {
            Some(bytes) => bytes,
            None => {
                out.failed.push((number, format!("the stored file {key} is missing")));
                return Ok(());
            }
        };
        let t = TransmissionRecord { reason: None, ..t };
        let flow = FlowSubmission { tracking_id: number, name, syntax, rule: ProcessingRule::B2B, file };
        submit_once(s, platform, creds, seller, t, flow, out).await?;
        Ok(())
    }

    /// The closed periods with documents to report, oldest first.
    fn closed_periods(&self) -> Vec<ReportingPeriod> {
        let (record, docs, now) = (self.record, self.docs, self.now);
        let kind = record.profile.reporting_period_kind();
        let today = paris_date(now);
        let mut periods: Vec<ReportingPeriod> = Vec::new();
        for doc in docs {
            if matches!(
                placement(&record.profile, &doc.invoice),
                Placement::InvoiceReport | Placement::Aggregated { .. }
            ) {
                let p = ReportingPeriod::containing(kind, doc.invoice.issue_date);
                if p.end < today && !periods.contains(&p) {
                    periods.push(p);
                }
            }
        }
        periods.sort_by_key(|p| p.start);
        periods
    }

    /// One period's e-reporting: its first version, or a new one when what it reports changed.
    async fn report(&self, period: ReportingPeriod, out: &mut TransmitOutcome) -> Result<(), PipelineError> {
        let Pass { s, platform, seller, record, creds, known, docs, now } = *self;
        let sender = ReportSender { id: creds.platform_id.clone(), name: creds.platform_name.clone() };
        let label = period.label();
        let latest = known
            .values()
            .filter_map(|t| match &t.subject {
                TransmissionSubject::Report { period: p, version, content } if *p == label => {
                    Some((*version, content.clone(), t))
                }
                _ => None,
            })
            .max_by_key(|(v, _, _)| *v);
        let build = |version: u32| {
            ereporting::report(&ReportRequest {
                profile: &record.profile,
                period,
                records: docs,
                sender: Some(&sender),
                version,
                created_at: now,
            })
        };
        let (version, pending) = match latest {
            // Interrupted: the same version, looked up first.
            Some((v, _, t)) if t.state == TransmissionState::Submitting => (v, Some(t.clone())),
            Some((v, content, _)) => {
                if report_content(&build(v)) == content {
                    return Ok(());
                }
                (v + 1, None)
            }
            None => (1, None),
        };
        let report = build(version);
        if report.is_empty() || report.declarant_siren.is_none() {
            return Ok(());
        }
        let content = report_content(&report);
        let xml = match ereporting::to_xml(&report) {
            Ok(xml) => xml,
            Err(e) => {
                out.failed.push((report.report_id.clone(), e.to_string()));
                return Ok(());
            }
        };
        let rule = if report.transactions.is_empty() { ProcessingRule::B2BInt } else { ProcessingRule::B2C };
        let t = pending.unwrap_or(TransmissionRecord {
            tracking_id: report.report_id.clone(),
            subject: TransmissionSubject::Report { period: label.clone(), version, content },
            flow_id: None,
            state: TransmissionState::Submitting,
            lifecycle: None,
            reason: None,
            updated_at: now,
        });
        let flow = FlowSubmission {
            tracking_id: report.report_id.clone(),
            name: format!("{}.xml", report.report_id),
            syntax: FlowSyntax::Frr,
            rule,
            file: xml,
        };
        submit_once(s, platform, creds, seller, t, flow, out).await?;
        Ok(())
    }
}

/// Reads what changed at the platform since the last pass: acknowledgements of our flows and
/// the lifecycle statuses of our e-invoices. Returns how many flows changed state.
async fn read_statuses(
    s: &Services,
    platform: &dyn Platform,
    creds: &PlatformCredentials,
    seller: &SellerId,
) -> Result<usize, PipelineError> {
    let cursor = s.ledger.platform_cursor(seller).await?;
    let flows = platform.flows_updated_after(creds, cursor.as_deref()).await.map_err(PipelineError::Platform)?;
    let mut known: BTreeMap<String, TransmissionRecord> =
        s.ledger.transmissions(seller).await?.into_iter().map(|t| (t.tracking_id.clone(), t)).collect();
    let mut changed: BTreeMap<String, TransmissionRecord> = BTreeMap::new();
    for f in &flows {
        if f.incoming {
            if !f.flow_type.ends_with("LC") {
                continue;
            }
            for status in platform.lifecycle(creds, &f.flow_id).await.map_err(PipelineError::Platform)? {
                let Some(t) = known.get_mut(&status.invoice_number) else {
                    continue;
                };
                t.lifecycle = Some(status.code);
                if crate::platform::status_needs_action(status.code) {
                    t.state = TransmissionState::Rejected;
                    let code = status.reason_code.as_deref().unwrap_or("");
                    let words = status.reason.as_deref().unwrap_or("");
                    t.reason = Some(format!("{code} {words}").trim().to_owned());
                }
                changed.insert(t.tracking_id.clone(), t.clone());
            }
            continue;
        }
        let Some(t) = f.tracking_id.as_ref().and_then(|id| known.get_mut(id)) else {
            continue;
        };
        // Another flow of the same tracking id (a duplicate refused by the platform) does not
        // speak for ours.
        if t.flow_id.as_deref().is_some_and(|id| id != f.flow_id) {
            continue;
        }
        let state = match f.ack {
            AckStatus::Pending => TransmissionState::Submitted,
            AckStatus::Ok if t.state == TransmissionState::Rejected => TransmissionState::Rejected,
            AckStatus::Ok => TransmissionState::Accepted,
            AckStatus::Error => TransmissionState::Rejected,
        };
        if f.ack == AckStatus::Error {
            let reasons: Vec<String> =
                f.details.iter().map(|d| format!("{} {}", d.reason_code, d.reason_message).trim().to_owned()).collect();
            t.reason = Some(reasons.join("; "));
        }
        t.state = state;
        t.flow_id = Some(f.flow_id.clone());
        changed.insert(t.tracking_id.clone(), t.clone());
    }
    let now = s.clock.now();
    for t in changed.values_mut() {
        t.updated_at = now;
        s.ledger.put_transmission(seller, t).await?;
    }
    if let Some(last) = flows.iter().map(|f| f.updated_at.as_str()).max() {
        s.ledger.set_platform_cursor(seller, last).await?;
    }
    Ok(changed.len())
}

/// [`transmit`] for every active seller that chose a platform, each on its own: one seller's
/// platform being down does not hold back the others.
pub async fn transmit_all(
    s: &Services,
    platform: &dyn Platform,
) -> Result<Vec<(SellerId, Result<TransmitOutcome, PipelineError>)>, PipelineError> {
    let mut out = Vec::new();
    for seller in s.ledger.active_sellers().await? {
        match transmit(s, platform, &seller).await {
            Ok(None) => {}
            Ok(Some(o)) => out.push((seller, Ok(o))),
            Err(e) => {
                tracing::warn!(seller = %seller, error = %e, "transmission left for the next pass");
                out.push((seller, Err(e)));
            }
        }
    }
    Ok(out)
}

/// What the space shows of a seller's platform (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformSummary {
    pub platform_name: String,
    pub platform_id: String,
    pub flow_url: String,
    pub directory_url: String,
    pub token_url: String,
    pub client_id: String,
    pub prefer_ubl: bool,
}

/// What the seller's platform setup and its flows' list use: the sellers (where the sealed
/// credentials are kept), the secret box, and the flows recorded. The platform a new pair is
/// checked against is given by the caller.
#[derive(Clone, Copy)]
pub struct PlatformSetup<'a> {
    pub sellers: &'a dyn SellerLedger,
    pub transmissions: &'a dyn TransmissionLedger,
    pub secrets: &'a dyn SecretBox,
}

impl Services {
    /// The platform setup, on this deployment's ports.
    pub fn platform_setup(&self) -> PlatformSetup<'_> {
        PlatformSetup {
            sellers: self.ledger.as_ref(),
            transmissions: self.ledger.as_ref(),
            secrets: self.secrets.as_ref(),
        }
    }
}

impl PlatformSetup<'_> {
    /// `PUT /v1/seller/platform`: the seller's approved platform, checked (its Flow Service
    /// answers its health check and its token endpoint takes the pair) before it is sealed and
    /// saved. Nothing is saved when a check fails; the refusal names the field.
    pub async fn put_platform(
        &self,
        platform: &dyn Platform,
        id: &SellerId,
        creds: &PlatformCredentials,
    ) -> Result<(), PortalError> {
        let mut record = crate::portal::active_seller(self.sellers, id).await?;
        creds.validate().map_err(PortalError::Invalid)?;
        platform.check(creds).await.map_err(|e| match e {
            PlatformError::Credentials(_) => {
                PortalError::field("clientSecret", "the platform refused these credentials")
            }
            PlatformError::Config(_) => PortalError::field("flowUrl", "is not an address of a platform"),
            PlatformError::Refused { .. } | PlatformError::Unavailable { .. } | PlatformError::Garbled { .. } => {
                PortalError::field("flowUrl", "the platform does not answer at this address")
            }
        })?;
        record.platform = Some(seal_platform(self.secrets, creds).await?);
        self.sellers.put_seller(&record).await?;
        Ok(())
    }

    /// `DELETE /v1/seller/platform`: nothing is transmitted any more (what was stays recorded).
    pub async fn remove_platform(&self, id: &SellerId) -> Result<(), PortalError> {
        let mut record = crate::portal::active_seller(self.sellers, id).await?;
        record.platform = None;
        self.sellers.put_seller(&record).await?;
        Ok(())
    }

    /// The seller's platform as the space shows it, if any.
    pub async fn platform_of(&self, id: &SellerId) -> Result<Option<PlatformSummary>, PortalError> {
        let record = crate::portal::seller(self.sellers, id).await?;
        let Some(sealed) = &record.platform else {
            return Ok(None);
        };
        let c = open_platform(self.secrets, sealed).await?;
        Ok(Some(PlatformSummary {
            platform_name: c.platform_name,
            platform_id: c.platform_id,
            flow_url: c.flow_url,
            directory_url: c.directory_url,
            token_url: c.token_url,
            client_id: c.client_id,
            prefer_ubl: c.prefer_ubl,
        }))
    }

    /// Every flow handed to the seller's platform, with where it stands.
    pub async fn transmissions(&self, id: &SellerId) -> Result<Vec<TransmissionRecord>, PortalError> {
        crate::portal::seller(self.sellers, id).await?;
        Ok(self.transmissions.transmissions(id).await?)
    }

    /// One document's flow at the platform, if it was handed over (the seller is asked first by
    /// the document's own reading).
    pub async fn transmission(
        &self,
        id: &SellerId,
        number: &marketbill_domain::InvoiceNumber,
    ) -> Result<Option<TransmissionRecord>, PortalError> {
        Ok(self.transmissions.transmission(id, number.as_str()).await?)
    }
}
