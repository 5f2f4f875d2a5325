//! One delivery path for every issued document: render once (deterministic) → store with
//! SHA-256 → mail (paced, retried while the provider throttles) → marketplace, each step
//! recorded so a crash resumes where it stopped:
//!
//! - invoices (seller runs, buyer corrections, reissues, resends) on their order
//!   (`issued → stored → mailed → uploaded → accepted | rejected`, [`Delivery::through_mail`]);
//! - credit notes (by the seller, from marketplace refunds, of a correction) on the document
//!   itself ([`crate::model::DocumentSteps`], [`Delivery::credit_note`]);
//! - fee invoices on their reference's order record (`crate::fee_billing`), mailed by
//!   [`Delivery::send`].
//!
//! Seller runs upload in bulk imports ([`Delivery::upload_many`]); corrections, resends and
//! the tracker's retries upload one file ([`Delivery::upload_one`]).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use marketbill_domain::{Invoice, Order};
use time::OffsetDateTime;

use crate::mail::{MailBuildError, invoice_mail, mask_email};
use crate::marketplace::{InvoiceFile, MarketplaceCredentials};
use crate::model::{
    Attach, DocumentSteps, ImportRecord, ImportStatus, InvoiceRecord, MailOutcome, OrderRecord, OrderStage, SellerId,
    StoredObject,
};
use crate::ports::{LedgerError, MailError, Mailer, OutgoingMail};
use crate::services::{PipelineError, Services, document_key};

/// Paces mail to a rate (SES's sending rate): each send waits for its slot.
#[derive(Debug)]
pub struct RateGate {
    interval: Option<Duration>,
    next: Mutex<Instant>,
}

impl RateGate {
    /// `per_second`: at most that many sends a second; `None` or 0: no pacing.
    pub fn new(per_second: Option<u32>) -> RateGate {
        let interval = per_second.filter(|r| *r > 0).map(|r| Duration::from_secs(1) / r);
        RateGate { interval, next: Mutex::new(Instant::now()) }
    }

    async fn wait(&self) {
        let Some(interval) = self.interval else { return };
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let at = (*next).max(Instant::now());
            *next = at + interval;
            at
        };
        tokio::time::sleep_until(at.into()).await;
    }
}

/// How one mail went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mailed {
    /// Sent; the provider's message id.
    Sent(String),
    /// Not sent, and never will be automatically: no address, or one refused as unsafe.
    Refused(String),
}

/// The delivery steps of one seller's documents at one instant.
pub struct Delivery<'a> {
    pub s: &'a Services,
    pub seller: &'a SellerId,
    pub now: OffsetDateTime,
    /// The sending rate of this run's mails (`None`: not paced).
    pub gate: Option<&'a RateGate>,
    /// Mails the mailer took, counted when sent (whatever happens to the step afterwards).
    pub sent: std::sync::atomic::AtomicU64,
}

/// Tries of a mail the provider throttles or cannot take now, before the step is left to the
/// next run.
const MAIL_TRIES: u32 = 4;

impl<'a> Delivery<'a> {
    pub fn new(s: &'a Services, seller: &'a SellerId, now: OffsetDateTime, gate: Option<&'a RateGate>) -> Delivery<'a> {
        Delivery { s, seller, now, gate, sent: std::sync::atomic::AtomicU64::new(0) }
    }
}

/// Sends a built mail at the sending rate, trying again while the provider throttles or
/// cannot take it now: every mail goes through here (invoices, credit notes, fee invoices, the
/// first invoices, a held buyer's address, sign-in links). The provider's message id.
pub async fn send(mailer: &dyn Mailer, gate: Option<&RateGate>, mail: &OutgoingMail) -> Result<String, MailError> {
    let mut tries = 0;
    loop {
        if let Some(gate) = gate {
            gate.wait().await;
        }
        tries += 1;
        match mailer.send(mail).await {
            Ok(id) => return Ok(id),
            Err(e) if e.is_retryable() && tries < MAIL_TRIES => {
                let backoff = Duration::from_millis(100 * 2u64.pow(tries)) + Duration::from_millis(fastrand::u64(..50));
                tokio::time::sleep(backoff).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A document's files, rendered once.
pub fn render(invoice: &Invoice) -> Result<marketbill_documents::Rendered, PipelineError> {
    Ok(marketbill_documents::render(invoice)?)
}

/// The buyer's page with the order already known: the link carries the order's key
/// ([`crate::crypto::buyer_link_key`]). `None` where the portal's address is not known.
pub fn buyer_page_link(settings: &crate::services::Settings, order_id: &marketbill_domain::OrderId) -> Option<String> {
    settings.public_url.as_deref().map(|base| {
        let order = order_id.as_str();
        let key = crate::crypto::buyer_link_key(&settings.buyer_email_key, order);
        // An order id is letters, digits, `-` and `_`, the key hex: nothing to escape.
        format!("{base}/facture?commande={order}&cle={key}")
    })
}

impl Delivery<'_> {
    /// Renders the documents and stores them with their digests; returns the PDF.
    pub async fn store(&self, invoice: &Invoice) -> Result<Vec<u8>, PipelineError> {
        self.store_rendered(invoice, render(invoice)?).await
    }

    /// Stores documents already rendered (once: what was mailed is what is kept) and records
    /// them; returns the PDF.
    pub async fn store_rendered(
        &self,
        invoice: &Invoice,
        rendered: marketbill_documents::Rendered,
    ) -> Result<Vec<u8>, PipelineError> {
        let (bytes, pdf, xml) = self.put_rendered(invoice, rendered).await?;
        self.s.ledger.set_documents(self.seller, &invoice.number, &pdf, &xml).await?;
        Ok(bytes)
    }

    /// Renders the documents and puts them in the store, not yet recorded: the PDF's bytes,
    /// and where both are.
    async fn put(&self, invoice: &Invoice) -> Result<(Vec<u8>, StoredObject, StoredObject), PipelineError> {
        self.put_rendered(invoice, render(invoice)?).await
    }

    async fn put_rendered(
        &self,
        invoice: &Invoice,
        rendered: marketbill_documents::Rendered,
    ) -> Result<(Vec<u8>, StoredObject, StoredObject), PipelineError> {
        let pdf =
            self.s.store.put(&document_key(self.seller, invoice, "pdf"), &rendered.pdf, "application/pdf").await?;
        let xml =
            self.s.store.put(&document_key(self.seller, invoice, "xml"), &rendered.ubl, "application/xml").await?;
        Ok((rendered.pdf, pdf, xml))
    }

    /// The PDF of a recorded document: its stored copy, or rendered again (deterministic).
    pub async fn pdf(&self, rec: &InvoiceRecord) -> Result<Vec<u8>, PipelineError> {
        let stored = match &rec.pdf {
            Some(o) => self.s.store.get(&o.key).await?,
            None => None,
        };
        match stored {
            Some(b) => Ok(b),
            None => Ok(marketbill_documents::render_pdf(&rec.invoice)?),
        }
    }

    /// Mails a document to an address, at the sending rate, trying again while the provider
    /// throttles. An unsafe address is refused, never sent to.
    pub async fn mail(&self, invoice: &Invoice, pdf: &[u8], to: Option<&str>) -> Result<Mailed, PipelineError> {
        let Some(to) = to else {
            return Ok(Mailed::Refused("the order has no buyer e-mail: the invoice was not mailed".into()));
        };
        let buyer_page = buyer_page_link(&self.s.settings, &invoice.body.order_id);
        let mail = match invoice_mail(invoice, pdf, &self.s.settings.sender, to, self.now, buyer_page.as_deref()) {
            Ok(m) => m,
            Err(refused @ MailBuildError::Recipient(_)) => {
                tracing::warn!(seller = %self.seller, number = %invoice.number, to = %mask_email(to), "buyer e-mail refused; not mailed");
                return Ok(Mailed::Refused(refused.to_string()));
            }
            Err(other) => return Err(other.into()),
        };
        self.send(&mail).await.map(Mailed::Sent)
    }

    /// [`send`] at this run's sending rate, counted.
    pub async fn send(&self, mail: &OutgoingMail) -> Result<String, PipelineError> {
        let id = send(self.s.mailer.as_ref(), self.gate, mail).await?;
        self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(id)
    }

    /// Records an order's step; `false` when another run recorded a later one meanwhile (its
    /// record stands and that run carries the order on).
    async fn record(&self, rec: &OrderRecord) -> Result<bool, PipelineError> {
        match self.s.ledger.update_order(self.seller, rec).await {
            Ok(()) => Ok(true),
            Err(LedgerError::Superseded { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Takes an issued order as far as `Mailed`: stores its documents unless stored, mails
    /// them unless mailed, recording each step. Returns the PDF for the upload, or `None` when
    /// another run took the order further meanwhile (this one stops there).
    pub async fn through_mail(
        &self,
        order: &Order,
        rec: &mut OrderRecord,
        invoice: &InvoiceRecord,
    ) -> Result<Option<Vec<u8>>, PipelineError> {
        let mut pdf = None;
        if rec.stage == OrderStage::Issued {
            // The files and the step in one ledger write.
            let (bytes, pdf_object, xml_object) = self.put(&invoice.invoice).await?;
            rec.move_to(OrderStage::Stored, self.now)?;
            match self.s.ledger.set_documents_and_step(self.seller, &pdf_object, &xml_object, rec).await {
                Ok(()) => pdf = Some(bytes),
                Err(LedgerError::Superseded { .. }) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        } else if invoice.pdf.is_none() {
            pdf = Some(self.store(&invoice.invoice).await?);
        }
        let pdf = match pdf {
            Some(p) => p,
            None => self.pdf(invoice).await?,
        };
        if rec.stage == OrderStage::Stored {
            match self.mail(&invoice.invoice, &pdf, order.buyer_email()).await? {
                Mailed::Sent(id) => rec.message_id = Some(id),
                Mailed::Refused(why) => rec.mail_refused = Some(why),
            }
            rec.move_to(OrderStage::Mailed, self.now)?;
            if !self.record(rec).await? {
                return Ok(None);
            }
        }
        Ok(Some(pdf))
    }

    /// A credit note's way, the invoices' one step by step: rendered once, stored, mailed
    /// (paced, retried), attached to its order where the settings ask it — each step recorded
    /// on the document ([`DocumentSteps`]), so a crash resumes where it stopped
    /// ([`crate::refunds::deliver_pending`]): the mail at worst twice, never none.
    ///
    /// `attach_with`: the credentials of the marketplace copy, when this path may attach it
    /// (`None`: never, e.g. a correction's credit note, whose order gets the new invoice).
    /// How its mail went, that of an earlier pass included; `None` for a credit note numbered
    /// before the steps were kept and already stored (delivered then).
    pub async fn credit_note(
        &self,
        rec: &InvoiceRecord,
        to: Option<&str>,
        attach_with: Option<&MarketplaceCredentials>,
    ) -> Result<Option<MailOutcome>, PipelineError> {
        let cn = &rec.invoice;
        let mut steps = match &rec.steps {
            Some(steps) => steps.clone(),
            None if rec.pdf.is_some() => return Ok(None),
            None => DocumentSteps::default(),
        };
        if rec.pdf.is_some() && steps.mail.is_some() && steps.attach != Attach::Pending {
            return Ok(steps.mail);
        }
        // Rendered and stored once, or read back for the steps still to take.
        let pdf = match &rec.pdf {
            None => self.store(cn).await?,
            Some(_) => self.pdf(rec).await?,
        };
        if steps.mail.is_none() {
            steps.mail = Some(match self.mail(cn, &pdf, to).await? {
                Mailed::Sent(message_id) => MailOutcome::Sent { message_id },
                Mailed::Refused(reason) => MailOutcome::Refused { reason },
            });
            // Decided with the mail and kept: a later pass does what this one decided.
            steps.attach = match attach_with {
                Some(_) if self.s.settings.runs.upload_credit_notes => Attach::Pending,
                _ => Attach::No,
            };
            self.s.ledger.set_steps(self.seller, &cn.number, &steps).await?;
        }
        if steps.attach == Attach::Pending {
            match attach_with {
                Some(creds) => {
                    let order_id = &cn.body.order_id;
                    self.s.marketplace.upload_invoice(creds, order_id, &format!("{order_id}.pdf"), &pdf).await?;
                    steps.attach = Attach::Done;
                }
                None => steps.attach = Attach::No,
            }
            self.s.ledger.set_steps(self.seller, &cn.number, &steps).await?;
        }
        Ok(steps.mail)
    }

    /// One document to one order (corrections, resends, retries of a refused file).
    pub async fn upload_one(
        &self,
        creds: &MarketplaceCredentials,
        rec: &mut OrderRecord,
        pdf: &[u8],
    ) -> Result<(), PipelineError> {
        let state =
            self.s.marketplace.upload_invoice(creds, &rec.order_id, &format!("{}.pdf", rec.order_id), pdf).await?;
        self.record_upload(&state.import_id, std::slice::from_mut(rec)).await
    }

    /// Mailed orders' documents in one bulk import; each order then points to it.
    pub async fn upload_many(
        &self,
        creds: &MarketplaceCredentials,
        items: Vec<(OrderRecord, Vec<u8>)>,
    ) -> Result<(), PipelineError> {
        let (mut recs, files): (Vec<OrderRecord>, Vec<InvoiceFile>) = items
            .into_iter()
            .map(|(rec, bytes)| {
                let file = InvoiceFile { order_id: rec.order_id.clone(), bytes };
                (rec, file)
            })
            .unzip();
        let state = self.s.marketplace.upload_invoices(creds, files).await?;
        self.record_upload(&state.import_id, &mut recs).await
    }

    /// The import is recorded before the orders point to it: a crash in between leaves a
    /// tracked import and orders that upload again (harmless: the new file replaces the old).
    async fn record_upload(&self, import_id: &str, recs: &mut [OrderRecord]) -> Result<(), PipelineError> {
        let import = ImportRecord {
            import_id: import_id.to_owned(),
            order_ids: recs.iter().map(|r| r.order_id.clone()).collect(),
            status: ImportStatus::Running,
            polls: 0,
            created_at: self.now,
        };
        self.s.ledger.put_import(self.seller, &import).await?;
        for rec in recs.iter_mut() {
            rec.move_to(OrderStage::Uploaded, self.now)?;
            rec.import_id = Some(import_id.to_owned());
            rec.upload_attempts += 1;
        }
        // One batched write; an order another run took further keeps that run's record.
        self.s.ledger.update_orders(self.seller, recs).await?;
        Ok(())
    }
}
