//! `marketbill render`: the Factur-X PDF and the UBL XML of one order, for one seller.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use marketbill_domain::{InvoiceNumber, IssueRequest, Order, SellerProfile, draft_invoice};
use time::{Date, OffsetDateTime, Time};

pub struct RenderOptions {
    pub seller: PathBuf,
    pub order: PathBuf,
    pub out: PathBuf,
    pub number: Option<String>,
    pub issue_date: Option<String>,
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

pub fn run(o: &RenderOptions) -> Result<Vec<PathBuf>> {
    let seller: SellerProfile = serde_json::from_str(&read(&o.seller)?)
        .map_err(|e| anyhow!("{}: not a valid seller profile: {e}", o.seller.display()))?;
    let order = Order::from_json(&read(&o.order)?).map_err(|e| anyhow!("{}: {e}", o.order.display()))?;
    // The issue date defaults to the day the order was last updated (shipped), so the same
    // input always gives the same documents.
    let issued_at = match &o.issue_date {
        Some(text) => {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            let date = Date::parse(text, &format).map_err(|_| anyhow!("--issue-date {text:?} is not YYYY-MM-DD"))?;
            date.with_time(Time::from_hms(12, 0, 0)?).assume_utc()
        }
        None => order.updated_at.or(order.created_at).unwrap_or_else(OffsetDateTime::now_utc),
    };
    let draft = draft_invoice(&IssueRequest { order: &order, seller: &seller, buyer_data: None, issued_at })
        .map_err(|refusal| anyhow!("order {} gets no invoice: {refusal}", order.order_id))?;
    let number: InvoiceNumber = match &o.number {
        Some(n) => n.parse().map_err(|e| anyhow!("--number: {e}"))?,
        None => draft.series.number(1)?,
    };
    let invoice = draft.finalize(number.clone());
    let docs = marketbill_documents::render(&invoice)?;

    if o.out.exists() && !o.out.is_dir() {
        bail!("{} exists and is not a folder", o.out.display());
    }
    fs::create_dir_all(&o.out).with_context(|| format!("cannot create {}", o.out.display()))?;
    // One plain file name per document, straight in --out: a number's '/' becomes '_', so no
    // prefix or number can name a path anywhere else.
    let stem = number.file_stem();
    let name = |suffix: &str| -> Result<PathBuf> {
        let file = format!("{stem}{suffix}");
        let mut parts = Path::new(&file).components();
        match (parts.next(), parts.next()) {
            (Some(std::path::Component::Normal(_)), None) => Ok(o.out.join(file)),
            _ => bail!("the number {number} does not make a file name"),
        }
    };
    let pdf = name(".pdf")?;
    let xml = name(".xml")?;
    // Both are written to temporary names first, so a failure leaves no half-written pair.
    let pdf_tmp = name(".pdf.tmp").map(|p| p.with_file_name(format!(".{stem}.pdf.tmp")))?;
    let xml_tmp = name(".xml.tmp").map(|p| p.with_file_name(format!(".{stem}.xml.tmp")))?;
    let written = fs::write(&pdf_tmp, &docs.pdf)
        .and_then(|()| fs::write(&xml_tmp, &docs.ubl))
        .and_then(|()| fs::rename(&pdf_tmp, &pdf))
        .and_then(|()| fs::rename(&xml_tmp, &xml));
    if let Err(e) = written {
        let _ = fs::remove_file(&pdf_tmp);
        let _ = fs::remove_file(&xml_tmp);
        let _ = fs::remove_file(&pdf);
        return Err(e).with_context(|| format!("cannot write into {}", o.out.display()));
    }
    Ok(vec![pdf, xml])
}
