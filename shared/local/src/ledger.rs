//! The ledger in one SQLite file, laid out like the DynamoDB table: one `items` table keyed by
//! (pk, sk), JSON records, counters in `n`, and the three indexes as columns; only the invoices'
//! file keys live beside their records, in a `documents` table with the same keys. Every write
//! that must be atomic is one transaction.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use marketbill_app::model::{
    BuyerRequestRecord, DocumentSteps, ImportRecord, InvoicePage, InvoiceQuery, InvoiceRecord, OrderRecord, RunRecord,
    SellerId, SellerRecord, SellerStatus, StoredObject, TransmissionRecord,
};
use marketbill_app::ports::{
    ImportLedger, InvoiceLedger, IssuingLedger, KeyClaim, KeyLedger, KeyRecord, LedgerError, OrderLedger,
    RequestLedger, RequestSlot, RunLedger, SellerLedger, TransmissionLedger, issued_number,
};
use marketbill_app::table;
use marketbill_domain::calendar::YearMonth;
use marketbill_domain::credit::Credited;
use marketbill_domain::{Draft, Invoice, InvoiceNumber, OrderId, Refusal, Series};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

// `items` is an ordinary (rowid) table with its key in an index: its records run to several KB,
// and in a WITHOUT ROWID table every seek compares whole rows, reading the overflow pages of
// the records it passes straight from the file (a 1,000-order run made 23 such reads per order).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk   TEXT NOT NULL,
    sk   TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    n    INTEGER,
    gsi1 TEXT,   -- active-sellers / unsubscribed
    gsi2 TEXT,   -- order-seller
    gsi3 TEXT,   -- pending-imports
    PRIMARY KEY (pk, sk)
);
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1) WHERE gsi1 IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_gsi2 ON items (gsi2) WHERE gsi2 IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_gsi3 ON items (gsi3) WHERE gsi3 IS NOT NULL;
-- Where an invoice's files are, beside its record (same keys) rather than inside it: the
-- record's JSON overflows its page, and rewriting it to add the two keys was the costliest
-- write of a run. A record written before this table keeps its keys in its own JSON.
CREATE TABLE IF NOT EXISTS documents (
    pk  TEXT NOT NULL,
    sk  TEXT NOT NULL,
    pdf TEXT NOT NULL,
    xml TEXT NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
";

/// The SQLite ledger. One connection behind a mutex: writes are serialized, which is what an
/// embedded single-machine ledger wants.
#[derive(Clone)]
pub struct SqliteLedger {
    conn: Arc<Mutex<Connection>>,
}

fn unavailable(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Unavailable(e.to_string())
}

fn to_json<T: Serialize>(v: &T) -> Result<String, LedgerError> {
    serde_json::to_string(v).map_err(|e| LedgerError::Corrupt { what: "record".into(), reason: e.to_string() })
}

fn from_json<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, LedgerError> {
    serde_json::from_str(text).map_err(|e| LedgerError::Corrupt { what: what.to_owned(), reason: e.to_string() })
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC).format(&Rfc3339).unwrap_or_default()
}

impl SqliteLedger {
    /// Opens (or creates) the ledger file.
    pub fn open(path: &Path) -> Result<SqliteLedger, LedgerError> {
        // Created owner-only before SQLite opens it: its -wal and -shm files take its mode.
        if !path.exists() {
            crate::private::write_file(path, b"").map_err(unavailable)?;
        }
        crate::private::narrow(path).map_err(unavailable)?;
        let conn = Connection::open(path).map_err(unavailable)?;
        let ledger = Self::init(conn)?;
        for side in ["-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(side);
            let file = std::path::PathBuf::from(name);
            if file.exists() {
                crate::private::narrow(&file).map_err(unavailable)?;
            }
        }
        Ok(ledger)
    }

    /// A ledger in memory (tests).
    pub fn in_memory() -> Result<SqliteLedger, LedgerError> {
        Self::init(Connection::open_in_memory().map_err(unavailable)?)
    }

    fn init(mut conn: Connection) -> Result<SqliteLedger, LedgerError> {
        // 8 KB pages for a new file (an existing one keeps its own): an invoice's record (~5 KB)
        // fits one page instead of spilling onto an overflow page, so a 1,000-order run writes
        // a fifth fewer WAL frames (pwrite calls 32,147 -> 25,936) into a file 30 % smaller.
        conn.pragma_update(None, "page_size", 8192).map_err(unavailable)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(unavailable)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(unavailable)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(unavailable)?;
        conn.set_prepared_statement_cache_capacity(64);
        migrate_items(&mut conn)?;
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        // Accounts written before addresses were claimed: each address to the first account
        // (by id) that has it.
        conn.execute_batch(
            "INSERT OR IGNORE INTO items (pk, sk, data)
             SELECT 'EMAIL#' || lower(trim(json_extract(data, '$.profile.email'))), 'OWNER',
                    json_object('sellerId', substr(pk, 8))
             FROM items WHERE sk = 'PROFILE' AND json_extract(data, '$.profile.email') IS NOT NULL ORDER BY pk",
        )
        .map_err(unavailable)?;
        Ok(SqliteLedger { conn: Arc::new(Mutex::new(conn)) })
    }

    /// Runs `f` on the connection. Inline, not on tokio's blocking pool: every statement here
    /// is a keyed read or write of a few records (tens of microseconds, no fsync with WAL and
    /// `synchronous = NORMAL`), and handing each one to another thread cost more CPU than the
    /// statement itself (the 1,000-order benchmark spent ~12 % of its CPU in thread wake-ups).
    async fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T, LedgerError>) -> Result<T, LedgerError> {
        // A defect caught at an order's boundary may have poisoned the lock; the connection is
        // still sound (an unfinished transaction rolls back when dropped), so carry on.
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Every stored byte, for tests that look for secrets in clear.
    pub async fn raw_dump(&self) -> Result<Vec<u8>, LedgerError> {
        self.with(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT pk || sk || data FROM items UNION ALL SELECT pk || sk || pdf || xml FROM documents",
                )
                .map_err(unavailable)?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(unavailable)?;
            let mut out = Vec::new();
            for row in rows {
                out.extend(row.map_err(unavailable)?.into_bytes());
            }
            Ok(out)
        })
        .await
    }
}

/// A statement run through the connection's statement cache (parsed once per connection).
fn exec(c: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(params)
}

/// One row, through the statement cache.
fn row<T>(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    c.prepare_cached(sql)?.query_row(params, f)
}

/// A ledger written by an earlier version keeps `items` as a WITHOUT ROWID table: copied once
/// into the present layout, in one transaction (a failure leaves the file as it was).
fn migrate_items(conn: &mut Connection) -> Result<(), LedgerError> {
    let sql: Option<String> = conn
        .query_row("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'items'", [], |r| r.get(0))
        .optional()
        .map_err(unavailable)?;
    if !sql.is_some_and(|s| s.to_ascii_uppercase().contains("WITHOUT ROWID")) {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
    tx.execute_batch(
        "ALTER TABLE items RENAME TO items_without_rowid;
         DROP INDEX IF EXISTS items_gsi1;
         DROP INDEX IF EXISTS items_gsi2;
         DROP INDEX IF EXISTS items_gsi3;",
    )
    .map_err(unavailable)?;
    tx.execute_batch(SCHEMA).map_err(unavailable)?;
    tx.execute_batch(
        "INSERT INTO items (pk, sk, data, n, gsi1, gsi2, gsi3)
           SELECT pk, sk, data, n, gsi1, gsi2, gsi3 FROM items_without_rowid ORDER BY pk, sk;
         DROP TABLE items_without_rowid;",
    )
    .map_err(unavailable)?;
    // Dropped before this (an error above), the transaction rolls back.
    tx.commit().map_err(unavailable)
}

fn get_data(tx: &Connection, pk: &str, sk: &str) -> Result<Option<String>, LedgerError> {
    row(tx, "SELECT data FROM items WHERE pk = ?1 AND sk = ?2", params![pk, sk], |r| r.get(0))
        .optional()
        .map_err(unavailable)
}

/// Invoice rows with their files' keys from the `documents` table (a `WHERE` follows).
const INVOICES_WITH_FILES: &str =
    "SELECT i.data, d.pdf, d.xml FROM items i LEFT JOIN documents d ON d.pk = i.pk AND d.sk = i.sk";

/// The columns of [`INVOICES_WITH_FILES`]: the record, and the files' keys when set.
type InvoiceRow = (String, Option<String>, Option<String>);

fn invoice_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<InvoiceRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

/// An invoice record with its files' keys from the `documents` table, when there.
fn invoice_record((data, pdf, xml): InvoiceRow) -> Result<InvoiceRecord, LedgerError> {
    let mut rec: InvoiceRecord = from_json("invoice", &data)?;
    if let Some(pdf) = pdf {
        rec.pdf = Some(from_json("document", &pdf)?);
    }
    if let Some(xml) = xml {
        rec.xml = Some(from_json("document", &xml)?);
    }
    Ok(rec)
}

fn get_n(tx: &Connection, pk: &str, sk: &str) -> Result<u64, LedgerError> {
    let n: Option<i64> = row(tx, "SELECT n FROM items WHERE pk = ?1 AND sk = ?2", params![pk, sk], |r| r.get(0))
        .optional()
        .map_err(unavailable)?;
    Ok(n.unwrap_or(0).max(0) as u64)
}

fn bump(tx: &Transaction<'_>, pk: &str, sk: &str) -> Result<u64, LedgerError> {
    let next = get_n(tx, pk, sk)? + 1;
    exec(
        tx,
        "INSERT INTO items (pk, sk, n) VALUES (?1, ?2, ?3) ON CONFLICT (pk, sk) DO UPDATE SET n = excluded.n",
        params![pk, sk, next as i64],
    )
    .map_err(unavailable)?;
    Ok(next)
}

/// The account holding an address's claim.
fn email_owner(c: &Connection, claim: &str) -> Result<Option<String>, LedgerError> {
    let Some(data) = get_data(c, claim, table::OWNER)? else { return Ok(None) };
    let v: serde_json::Value = from_json("e-mail claim", &data)?;
    Ok(v["sellerId"].as_str().map(str::to_owned))
}

/// Lets an address go if `me` holds it.
fn release_email(c: &Connection, claim: &str, me: &str) -> Result<(), LedgerError> {
    if email_owner(c, claim)?.as_deref() == Some(me) {
        exec(c, "DELETE FROM items WHERE pk = ?1 AND sk = ?2", params![claim, table::OWNER]).map_err(unavailable)?;
    }
    Ok(())
}

fn put_order(tx: &Connection, pk: &str, record: &OrderRecord) -> Result<(), LedgerError> {
    exec(
        tx,
        "INSERT INTO items (pk, sk, data, gsi2) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (pk, sk) DO UPDATE SET data = excluded.data, gsi2 = excluded.gsi2",
        params![pk, table::order(&record.order_id), to_json(record)?, table::order(&record.order_id)],
    )
    .map_err(unavailable)?;
    Ok(())
}

/// Numbers one draft inside a transaction: series counter, invoice record, usage.
fn number_draft(
    tx: &Transaction<'_>,
    seller: &SellerId,
    order_id: &OrderId,
    draft: Draft,
    at: OffsetDateTime,
    count_usage: bool,
) -> Result<Invoice, LedgerError> {
    let pk = table::pk(seller);
    let counter = bump(tx, &pk, &table::series(&draft.series.key()))?;
    let number = draft
        .series
        .number(counter)
        .map_err(|e| LedgerError::Corrupt { what: "series".into(), reason: e.to_string() })?;
    let invoice = draft.finalize(number);
    let record = InvoiceRecord::new(seller, order_id, invoice.clone(), at);
    exec(
        tx,
        "INSERT INTO items (pk, sk, data) VALUES (?1, ?2, ?3)",
        params![pk, table::invoice(invoice.number.as_str()), to_json(&record)?],
    )
    .map_err(unavailable)?;
    if count_usage {
        bump(tx, &pk, &table::usage(YearMonth::in_paris(at)))?;
    }
    Ok(invoice)
}

/// One step of an issued order inside a transaction: the order must be issued with that number,
/// and its stage never goes back.
fn step_order(tx: &Connection, pk: &str, record: &OrderRecord) -> Result<(), LedgerError> {
    let existing: Option<OrderRecord> =
        get_data(tx, pk, &table::order(&record.order_id))?.map(|d| from_json("order", &d)).transpose()?;
    match existing {
        Some(e) if e.number.is_some() && e.number == record.number && e.progress() > record.progress() => {
            Err(LedgerError::Superseded { order_id: record.order_id.clone(), stage: e.stage })
        }
        Some(e) if e.number.is_some() && e.number == record.number => put_order(tx, pk, record),
        _ => Err(LedgerError::NotIssued { order_id: record.order_id.clone() }),
    }
}

#[async_trait]
impl SellerLedger for SqliteLedger {
    async fn put_seller(&self, seller: &SellerRecord) -> Result<(), LedgerError> {
        let pk = table::pk(&seller.seller_id);
        let data = to_json(seller)?;
        let gsi1 = match seller.status {
            SellerStatus::Active => table::ACTIVE,
            SellerStatus::Unsubscribed { .. } => table::UNSUBSCRIBED,
        };
        let email = seller.profile.email.clone();
        let owner = serde_json::json!({ "sellerId": seller.seller_id }).to_string();
        let me = seller.seller_id.to_string();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            let before: Option<SellerRecord> =
                get_data(&tx, &pk, table::PROFILE)?.map(|d| from_json("seller", &d)).transpose()?;
            let claim = table::email(&email);
            exec(
                &tx,
                "INSERT OR IGNORE INTO items (pk, sk, data) VALUES (?1, ?2, ?3)",
                params![claim, table::OWNER, owner],
            )
            .map_err(unavailable)?;
            if let Some(old) = before.map(|b| table::email(&b.profile.email))
                && old != claim
            {
                release_email(&tx, &old, &me)?;
            }
            exec(
                &tx,
                "INSERT INTO items (pk, sk, data, gsi1) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (pk, sk) DO UPDATE SET data = excluded.data, gsi1 = excluded.gsi1",
                params![pk, table::PROFILE, data, gsi1],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok(())
        })
        .await
    }
    async fn claim_email(&self, seller: &SellerId, email: &str) -> Result<(), LedgerError> {
        let (claim, me, email) = (table::email(email), seller.to_string(), email.to_owned());
        let owner = serde_json::json!({ "sellerId": seller }).to_string();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            match email_owner(&tx, &claim)? {
                Some(holder) if holder != me => return Err(LedgerError::EmailTaken { email }),
                Some(_) => {}
                None => {
                    exec(
                        &tx,
                        "INSERT INTO items (pk, sk, data) VALUES (?1, ?2, ?3)",
                        params![claim, table::OWNER, owner],
                    )
                    .map_err(unavailable)?;
                }
            }
            tx.commit().map_err(unavailable)?;
            Ok(())
        })
        .await
    }
    async fn seller_by_email(&self, email: &str) -> Result<Option<SellerId>, LedgerError> {
        let claim = table::email(email);
        self.with(move |c| Ok(email_owner(c, &claim)?.and_then(|id| id.parse().ok()))).await
    }
    async fn get_seller(&self, id: &SellerId) -> Result<Option<SellerRecord>, LedgerError> {
        let pk = table::pk(id);
        self.with(move |c| get_data(c, &pk, table::PROFILE)?.map(|d| from_json("seller", &d)).transpose()).await
    }
    async fn active_sellers(&self) -> Result<Vec<SellerId>, LedgerError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached("SELECT pk FROM items WHERE gsi1 = ?1 ORDER BY pk").map_err(unavailable)?;
            let rows = stmt.query_map([table::ACTIVE], |r| r.get::<_, String>(0)).map_err(unavailable)?;
            let mut out = Vec::new();
            for pk in rows {
                if let Some(id) = table::seller_of_pk(&pk.map_err(unavailable)?) {
                    out.push(id);
                }
            }
            Ok(out)
        })
        .await
    }
    async fn unsubscribed_sellers(&self) -> Result<Vec<SellerRecord>, LedgerError> {
        self.with(|c| {
            let mut stmt =
                c.prepare_cached("SELECT data FROM items WHERE gsi1 = ?1 ORDER BY pk").map_err(unavailable)?;
            let rows = stmt.query_map([table::UNSUBSCRIBED], |r| r.get::<_, String>(0)).map_err(unavailable)?;
            rows.map(|d| from_json("seller", &d.map_err(unavailable)?)).collect()
        })
        .await
    }
    async fn delete_seller(&self, id: &SellerId) -> Result<u64, LedgerError> {
        let pk = table::pk(id);
        let me = id.to_string();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            let profile: Option<SellerRecord> =
                get_data(&tx, &pk, table::PROFILE)?.map(|d| from_json("seller", &d)).transpose()?;
            if let Some(p) = profile {
                release_email(&tx, &table::email(&p.profile.email), &me)?;
            }
            exec(&tx, "DELETE FROM documents WHERE pk = ?1", [&pk]).map_err(unavailable)?;
            let items = exec(&tx, "DELETE FROM items WHERE pk = ?1", [&pk]).map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok(items as u64)
        })
        .await
    }
}

#[async_trait]
impl OrderLedger for SqliteLedger {
    async fn get_order(&self, seller: &SellerId, order_id: &OrderId) -> Result<Option<OrderRecord>, LedgerError> {
        let (pk, sk) = (table::pk(seller), table::order(order_id));
        self.with(move |c| get_data(c, &pk, &sk)?.map(|d| from_json("order", &d)).transpose()).await
    }
    async fn get_orders(
        &self,
        seller: &SellerId,
        order_ids: &[OrderId],
    ) -> Result<std::collections::HashMap<OrderId, OrderRecord>, LedgerError> {
        let pk = table::pk(seller);
        let keys: Vec<String> = order_ids.iter().map(table::order).collect();
        self.with(move |c| {
            let mut out = std::collections::HashMap::new();
            let mut stmt = c.prepare_cached("SELECT data FROM items WHERE pk = ?1 AND sk = ?2").map_err(unavailable)?;
            for sk in &keys {
                let data: Option<String> =
                    stmt.query_row(params![pk, sk], |r| r.get(0)).optional().map_err(unavailable)?;
                if let Some(d) = data {
                    let rec: OrderRecord = from_json("order", &d)?;
                    out.insert(rec.order_id.clone(), rec);
                }
            }
            Ok(out)
        })
        .await
    }
    async fn record_skip(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        refusal: &Refusal,
        email_hash: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<(), LedgerError> {
        let pk = table::pk(seller);
        let record = OrderRecord::skipped(order_id, refusal.clone(), at).with_buyer(email_hash);
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            let existing: Option<OrderRecord> =
                get_data(&tx, &pk, &table::order(&record.order_id))?.map(|d| from_json("order", &d)).transpose()?;
            if existing.as_ref().is_none_or(|e| e.number.is_none()) {
                put_order(&tx, &pk, &record)?;
            }
            tx.commit().map_err(unavailable)
        })
        .await
    }
    async fn update_order(&self, seller: &SellerId, record: &OrderRecord) -> Result<(), LedgerError> {
        let pk = table::pk(seller);
        let record = record.clone();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            step_order(&tx, &pk, &record)?;
            tx.commit().map_err(unavailable)
        })
        .await
    }
    async fn update_orders(&self, seller: &SellerId, records: &[OrderRecord]) -> Result<Vec<OrderId>, LedgerError> {
        let pk = table::pk(seller);
        let records = records.to_vec();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            let mut superseded = Vec::new();
            for record in &records {
                match step_order(&tx, &pk, record) {
                    Ok(()) => {}
                    Err(LedgerError::Superseded { .. }) => superseded.push(record.order_id.clone()),
                    Err(e) => return Err(e),
                }
            }
            tx.commit().map_err(unavailable)?;
            Ok(superseded)
        })
        .await
    }
    async fn list_orders(&self, seller: &SellerId) -> Result<Vec<OrderRecord>, LedgerError> {
        let pk = table::pk(seller);
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT data FROM items WHERE pk = ?1 AND sk >= 'ORDER#' AND sk < 'ORDER$' ORDER BY sk")
                .map_err(unavailable)?;
            let rows = stmt.query_map([pk], |r| r.get::<_, String>(0)).map_err(unavailable)?;
            rows.map(|d| from_json("order", &d.map_err(unavailable)?)).collect()
        })
        .await
    }
    async fn unfinished_orders(&self, seller: &SellerId) -> Result<Vec<OrderRecord>, LedgerError> {
        let pk = table::pk(seller);
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT data FROM items WHERE pk = ?1 AND sk >= 'ORDER#' AND sk < 'ORDER$'")
                .map_err(unavailable)?;
            let rows = stmt.query_map([pk], |r| r.get::<_, String>(0)).map_err(unavailable)?;
            let mut out = Vec::new();
            for d in rows {
                let o: OrderRecord = from_json("order", &d.map_err(unavailable)?)?;
                if o.is_open() {
                    out.push(o);
                }
            }
            Ok(out)
        })
        .await
    }
    async fn find_order_seller(&self, order_id: &OrderId) -> Result<Option<SellerId>, LedgerError> {
        let key = table::order(order_id);
        self.with(move |c| {
            let pk: Option<String> = row(c, "SELECT pk FROM items WHERE gsi2 = ?1 LIMIT 1", [key], |r| r.get(0))
                .optional()
                .map_err(unavailable)?;
            Ok(pk.and_then(|p| table::seller_of_pk(&p)))
        })
        .await
    }
}

#[async_trait]
impl IssuingLedger for SqliteLedger {
    async fn issue(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        draft: Draft,
        email_hash: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<Invoice, LedgerError> {
        let seller = seller.clone();
        let order_id = order_id.to_owned();
        let email_hash = email_hash.map(str::to_owned);
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            let pk = table::pk(&seller);
            let existing: Option<OrderRecord> =
                get_data(&tx, &pk, &table::order(&order_id))?.map(|d| from_json("order", &d)).transpose()?;
            if let Some(number) = existing.as_ref().and_then(|e| e.number.clone()) {
                return Err(LedgerError::AlreadyIssued { order_id, number: number.to_string() });
            }
            let hash = email_hash.or_else(|| existing.and_then(|e| e.buyer_email_hash));
            let invoice = number_draft(&tx, &seller, &order_id, draft, at, true)?;
            put_order(&tx, &pk, &OrderRecord::issued(&order_id, &invoice.number, at).with_buyer(hash.as_deref()))?;
            tx.commit().map_err(unavailable)?;
            Ok(invoice)
        })
        .await
    }
    async fn issue_correction(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        credit_note: Draft,
        replacement: Draft,
        at: OffsetDateTime,
    ) -> Result<(Invoice, Invoice), LedgerError> {
        let seller = seller.clone();
        let order_id = order_id.to_owned();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            let pk = table::pk(&seller);
            let existing: Option<OrderRecord> =
                get_data(&tx, &pk, &table::order(&order_id))?.map(|d| from_json("order", &d)).transpose()?;
            let hash = existing.as_ref().and_then(|e| e.buyer_email_hash.clone());
            let current =
                existing.and_then(|e| e.number).ok_or_else(|| LedgerError::NotIssued { order_id: order_id.clone() })?;
            // The credit note must cancel the invoice the order has now, not an older one.
            let corrects = match &credit_note.kind {
                marketbill_domain::DocumentKind::CreditNote { corrects } => corrects.number.clone(),
                marketbill_domain::DocumentKind::Invoice => current.clone(),
            };
            if corrects != current {
                return Err(LedgerError::AlreadyIssued { order_id, number: current.to_string() });
            }
            // A correction cancels the whole invoice: only one no credit note has touched.
            let credited_sk = table::credited(current.as_str());
            if get_data(&tx, &pk, &credited_sk)?.is_some() {
                return Err(LedgerError::CreditConflict { number: current });
            }
            let original: Option<InvoiceRecord> =
                get_data(&tx, &pk, &table::invoice(current.as_str()))?.map(|d| from_json("invoice", &d)).transpose()?;
            if let Some(original) = original {
                exec(
                    &tx,
                    "INSERT INTO items (pk, sk, data) VALUES (?1, ?2, ?3)",
                    params![pk, credited_sk, to_json(&Credited::whole(&original.invoice))?],
                )
                .map_err(unavailable)?;
            }
            let cn = number_draft(&tx, &seller, &order_id, credit_note, at, false)?;
            let inv = number_draft(&tx, &seller, &order_id, replacement, at, true)?;
            put_order(&tx, &pk, &OrderRecord::issued(&order_id, &inv.number, at).with_buyer(hash.as_deref()))?;
            tx.commit().map_err(unavailable)?;
            Ok((cn, inv))
        })
        .await
    }
    async fn credited(&self, seller: &SellerId, invoice: &InvoiceNumber) -> Result<Credited, LedgerError> {
        let (pk, sk) = (table::pk(seller), table::credited(invoice.as_str()));
        self.with(move |c| {
            Ok(get_data(c, &pk, &sk)?.map(|d| from_json("credited", &d)).transpose()?.unwrap_or_default())
        })
        .await
    }
    async fn issue_credit_note(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
        draft: Draft,
        before: &Credited,
        after: &Credited,
        at: OffsetDateTime,
    ) -> Result<Invoice, LedgerError> {
        let corrects = match &draft.kind {
            marketbill_domain::DocumentKind::CreditNote { corrects } => corrects.number.clone(),
            marketbill_domain::DocumentKind::Invoice => {
                return Err(LedgerError::Corrupt {
                    what: "credit note".into(),
                    reason: "the draft is an invoice".into(),
                });
            }
        };
        let (seller, order_id, before, after) = (seller.clone(), order_id.clone(), before.clone(), after.clone());
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            let pk = table::pk(&seller);
            let sk = table::credited(corrects.as_str());
            let now: Credited = get_data(&tx, &pk, &sk)?.map(|d| from_json("credited", &d)).transpose()?.unwrap_or_default();
            if now != before {
                return Err(LedgerError::CreditConflict { number: corrects });
            }
            let cn = number_draft(&tx, &seller, &order_id, draft, at, false)?;
            exec(
                &tx,
                "INSERT INTO items (pk, sk, data) VALUES (?1, ?2, ?3) ON CONFLICT (pk, sk) DO UPDATE SET data = excluded.data",
                params![pk, sk, to_json(&after)?],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok(cn)
        })
        .await
    }
    async fn series_counter(&self, seller: &SellerId, series: &Series) -> Result<u64, LedgerError> {
        let (pk, sk) = (table::pk(seller), table::series(&series.key()));
        self.with(move |c| get_n(c, &pk, &sk)).await
    }
    async fn usage(&self, seller: &SellerId, month: YearMonth) -> Result<u64, LedgerError> {
        let (pk, sk) = (table::pk(seller), table::usage(month));
        self.with(move |c| get_n(c, &pk, &sk)).await
    }
}

#[async_trait]
impl InvoiceLedger for SqliteLedger {
    async fn get_invoice(
        &self,
        seller: &SellerId,
        number: &InvoiceNumber,
    ) -> Result<Option<InvoiceRecord>, LedgerError> {
        let (pk, sk) = (table::pk(seller), table::invoice(number.as_str()));
        self.with(move |c| {
            let sql = format!("{INVOICES_WITH_FILES} WHERE i.pk = ?1 AND i.sk = ?2");
            row(c, &sql, params![pk, sk], invoice_row).optional().map_err(unavailable)?.map(invoice_record).transpose()
        })
        .await
    }
    async fn list_invoices(&self, seller: &SellerId, query: &InvoiceQuery) -> Result<InvoicePage, LedgerError> {
        let pk = table::pk(seller);
        let query = query.clone();
        self.with(move |c| {
            let start = match &query.after {
                Some(after) => table::invoice(after),
                None => "INVOICE#".to_owned(),
            };
            let sql =
                format!("{INVOICES_WITH_FILES} WHERE i.pk = ?1 AND i.sk > ?2 AND i.sk < 'INVOICE$' ORDER BY i.sk");
            let mut stmt = c.prepare_cached(&sql).map_err(unavailable)?;
            let rows = stmt.query_map(params![pk, start], invoice_row).map_err(unavailable)?;
            let limit = query.limit.clamp(1, 1000);
            let mut items = Vec::new();
            let mut next = None;
            for row in rows {
                let rec = invoice_record(row.map_err(unavailable)?)?;
                if !marketbill_app::model::invoice_matches(&rec, &query) {
                    continue;
                }
                if items.len() == limit {
                    next = items.last().map(|r: &InvoiceRecord| r.invoice.number.to_string());
                    break;
                }
                items.push(rec);
            }
            Ok(InvoicePage { items, next })
        })
        .await
    }
    async fn set_documents(
        &self,
        seller: &SellerId,
        number: &InvoiceNumber,
        pdf: &StoredObject,
        xml: &StoredObject,
    ) -> Result<(), LedgerError> {
        let pk = table::pk(seller);
        // One statement, atomic on its own.
        self.with(move |c| put_documents(c, &pk, number, pdf, xml)).await
    }
    async fn set_steps(
        &self,
        seller: &SellerId,
        number: &InvoiceNumber,
        steps: &DocumentSteps,
    ) -> Result<(), LedgerError> {
        let (pk, sk) = (table::pk(seller), table::invoice(number.as_str()));
        let steps = to_json(steps)?;
        // One statement: the steps replaced inside the record, nothing else of it touched.
        let changed = self
            .with(move |c| {
                exec(
                    c,
                    "UPDATE items SET data = json_set(data, '$.steps', json(?3)) WHERE pk = ?1 AND sk = ?2",
                    params![pk, sk, steps],
                )
                .map_err(unavailable)
            })
            .await?;
        if changed == 0 {
            return Err(LedgerError::UnknownDocument { number: number.clone() });
        }
        Ok(())
    }
    async fn set_documents_and_step(
        &self,
        seller: &SellerId,
        pdf: &StoredObject,
        xml: &StoredObject,
        step: &OrderRecord,
    ) -> Result<(), LedgerError> {
        let pk = table::pk(seller);
        let number = issued_number(step)?;
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            put_documents(&tx, &pk, number, pdf, xml)?;
            match step_order(&tx, &pk, step) {
                // The files stay recorded; the later step stands.
                Err(superseded @ LedgerError::Superseded { .. }) => {
                    tx.commit().map_err(unavailable)?;
                    Err(superseded)
                }
                Err(other) => Err(other),
                Ok(()) => tx.commit().map_err(unavailable),
            }
        })
        .await
    }
}

/// Where an invoice's files are, beside it: refused when there is no such invoice.
fn put_documents(
    c: &Connection,
    pk: &str,
    number: &InvoiceNumber,
    pdf: &StoredObject,
    xml: &StoredObject,
) -> Result<(), LedgerError> {
    let changed = exec(
        c,
        "INSERT INTO documents (pk, sk, pdf, xml)
         SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM items WHERE pk = ?1 AND sk = ?2)
         ON CONFLICT (pk, sk) DO UPDATE SET pdf = excluded.pdf, xml = excluded.xml",
        params![pk, table::invoice(number.as_str()), to_json(pdf)?, to_json(xml)?],
    )
    .map_err(unavailable)?;
    if changed == 0 {
        return Err(LedgerError::UnknownDocument { number: number.clone() });
    }
    Ok(())
}

#[async_trait]
impl RunLedger for SqliteLedger {
    async fn watermark(&self, seller: &SellerId) -> Result<Option<OffsetDateTime>, LedgerError> {
        let pk = table::pk(seller);
        self.with(move |c| {
            let data = get_data(c, &pk, table::WATERMARK)?;
            data.map(|d| {
                let s: String = from_json("watermark", &d)?;
                OffsetDateTime::parse(&s, &Rfc3339)
                    .map_err(|e| LedgerError::Corrupt { what: "watermark".into(), reason: e.to_string() })
            })
            .transpose()
        })
        .await
    }
    async fn advance_watermark(&self, seller: &SellerId, to: OffsetDateTime) -> Result<(), LedgerError> {
        let pk = table::pk(seller);
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            let current = get_data(&tx, &pk, table::WATERMARK)?
                .and_then(|d| from_json::<String>("watermark", &d).ok())
                .and_then(|s| OffsetDateTime::parse(&s, &Rfc3339).ok());
            if current.is_none_or(|c| c < to) {
                exec(&tx,
                    "INSERT INTO items (pk, sk, data) VALUES (?1, ?2, ?3) ON CONFLICT (pk, sk) DO UPDATE SET data = excluded.data",
                    params![pk, table::WATERMARK, to_json(&rfc3339(to))?],
                )
                .map_err(unavailable)?;
            }
            tx.commit().map_err(unavailable)
        })
        .await
    }
    async fn record_run(&self, seller: &SellerId, at: OffsetDateTime, run: &RunRecord) -> Result<(), LedgerError> {
        let (pk, sk, data) = (table::pk(seller), table::run(&rfc3339(at)), to_json(run)?);
        self.with(move |c| {
            exec(c, "INSERT OR REPLACE INTO items (pk, sk, data) VALUES (?1, ?2, ?3)", params![pk, sk, data])
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
    async fn runs(&self, seller: &SellerId, limit: usize) -> Result<Vec<RunRecord>, LedgerError> {
        let pk = table::pk(seller);
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT data FROM items WHERE pk = ?1 AND sk >= 'RUN#' AND sk < 'RUN$' ORDER BY sk DESC LIMIT ?2",
                )
                .map_err(unavailable)?;
            let rows = stmt.query_map(params![pk, limit as i64], |r| r.get::<_, String>(0)).map_err(unavailable)?;
            rows.map(|d| from_json("run", &d.map_err(unavailable)?)).collect()
        })
        .await
    }
}

#[async_trait]
impl ImportLedger for SqliteLedger {
    async fn put_import(&self, seller: &SellerId, import: &ImportRecord) -> Result<(), LedgerError> {
        let (pk, sk, data) = (table::pk(seller), table::import(&import.import_id), to_json(import)?);
        let gsi3 = import.is_pending().then_some(table::PENDING);
        self.with(move |c| {
            exec(
                c,
                "INSERT INTO items (pk, sk, data, gsi3) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (pk, sk) DO UPDATE SET data = excluded.data, gsi3 = excluded.gsi3",
                params![pk, sk, data, gsi3],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
    async fn pending_imports(&self) -> Result<Vec<(SellerId, ImportRecord)>, LedgerError> {
        self.with(|c| {
            let mut stmt =
                c.prepare_cached("SELECT pk, data FROM items WHERE gsi3 = ?1 ORDER BY pk, sk").map_err(unavailable)?;
            let rows = stmt
                .query_map([table::PENDING], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(unavailable)?;
            let mut out = Vec::new();
            for row in rows {
                let (pk, data) = row.map_err(unavailable)?;
                if let Some(id) = table::seller_of_pk(&pk) {
                    out.push((id, from_json("import", &data)?));
                }
            }
            Ok(out)
        })
        .await
    }
}

#[async_trait]
impl RequestLedger for SqliteLedger {
    async fn put_request(&self, seller: &SellerId, request: &BuyerRequestRecord) -> Result<(), LedgerError> {
        let (pk, sk, data) =
            (table::pk(seller), table::request(&request.order_id, &request.request_id), to_json(request)?);
        self.with(move |c| {
            exec(c, "INSERT OR REPLACE INTO items (pk, sk, data) VALUES (?1, ?2, ?3)", params![pk, sk, data])
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
    async fn requests_for_order(
        &self,
        seller: &SellerId,
        order_id: &OrderId,
    ) -> Result<Vec<BuyerRequestRecord>, LedgerError> {
        let pk = table::pk(seller);
        // The keys `REQUEST#{order}#…`: a range of the primary key, not a scan of the seller.
        let from = table::request(order_id, "");
        let to = format!("{}$", &from[..from.len() - 1]);
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT data FROM items WHERE pk = ?1 AND sk >= ?2 AND sk < ?3 ORDER BY sk")
                .map_err(unavailable)?;
            let rows = stmt.query_map(params![pk, from, to], |r| r.get::<_, String>(0)).map_err(unavailable)?;
            rows.map(|d| from_json("request", &d.map_err(unavailable)?)).collect()
        })
        .await
    }
    async fn take_slot(
        &self,
        seller: &SellerId,
        subject: &str,
        day: &str,
        limit: u32,
        at: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<RequestSlot, LedgerError> {
        let (pk, sk) = (table::pk(seller), table::slot(subject, day));
        let (now, until) = (at.unix_timestamp(), until.unix_timestamp());
        self.with(move |c| {
            // One immediate transaction: the count and the slot move together.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            let (count, busy_until): (i64, i64) = row(
                &tx,
                "SELECT COALESCE(n, 0), CAST(COALESCE(json_extract(data, '$.busyUntil'), 0) AS INTEGER)
                 FROM items WHERE pk = ?1 AND sk = ?2",
                params![pk, sk],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(unavailable)?
            .unwrap_or((0, 0));
            let count = count.saturating_add(1);
            let slot = if count > i64::from(limit) {
                RequestSlot::LimitReached
            } else if busy_until > now {
                RequestSlot::Busy
            } else {
                RequestSlot::Taken
            };
            let busy = if slot == RequestSlot::Taken { until } else { busy_until };
            exec(
                &tx,
                "INSERT INTO items (pk, sk, data, n) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (pk, sk) DO UPDATE SET data = excluded.data, n = excluded.n",
                params![pk, sk, serde_json::json!({ "busyUntil": busy }).to_string(), count],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok(slot)
        })
        .await
    }
    async fn free_slot(&self, seller: &SellerId, subject: &str, day: &str) -> Result<(), LedgerError> {
        let (pk, sk) = (table::pk(seller), table::slot(subject, day));
        self.with(move |c| {
            exec(c, "UPDATE items SET data = '{\"busyUntil\":0}' WHERE pk = ?1 AND sk = ?2", params![pk, sk])
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl TransmissionLedger for SqliteLedger {
    async fn put_transmission(&self, seller: &SellerId, t: &TransmissionRecord) -> Result<(), LedgerError> {
        let (pk, sk, data) = (table::pk(seller), table::transmission(&t.tracking_id), to_json(t)?);
        self.with(move |c| {
            exec(c, "INSERT OR REPLACE INTO items (pk, sk, data) VALUES (?1, ?2, ?3)", params![pk, sk, data])
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
    async fn transmissions(&self, seller: &SellerId) -> Result<Vec<TransmissionRecord>, LedgerError> {
        let pk = table::pk(seller);
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT data FROM items WHERE pk = ?1 AND sk >= 'TX#' AND sk < 'TX$' ORDER BY sk")
                .map_err(unavailable)?;
            let rows = stmt.query_map(params![pk], |r| r.get::<_, String>(0)).map_err(unavailable)?;
            rows.map(|d| from_json("transmission", &d.map_err(unavailable)?)).collect()
        })
        .await
    }
    async fn platform_cursor(&self, seller: &SellerId) -> Result<Option<String>, LedgerError> {
        let pk = table::pk(seller);
        self.with(move |c| get_data(c, &pk, table::PLATFORM_CURSOR)?.map(|d| from_json("cursor", &d)).transpose()).await
    }
    async fn set_platform_cursor(&self, seller: &SellerId, cursor: &str) -> Result<(), LedgerError> {
        let (pk, data) = (table::pk(seller), to_json(&cursor)?);
        self.with(move |c| {
            exec(
                c,
                "INSERT OR REPLACE INTO items (pk, sk, data) VALUES (?1, ?2, ?3)",
                params![pk, table::PLATFORM_CURSOR, data],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl KeyLedger for SqliteLedger {
    async fn claim_key(
        &self,
        seller: &SellerId,
        key: &str,
        fingerprint: &str,
        at: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<KeyClaim, LedgerError> {
        let (pk, sk) = (table::pk(seller), table::request_key(key));
        let record = KeyRecord::claimed(fingerprint, at, until);
        let now = at.unix_timestamp();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            let existing: Option<KeyRecord> = get_data(&tx, &pk, &sk)?.map(|d| from_json("key", &d)).transpose()?;
            let claim = KeyRecord::decide(existing.as_ref(), &record.fingerprint, now);
            if claim == KeyClaim::Claimed {
                exec(
                    &tx,
                    "INSERT OR REPLACE INTO items (pk, sk, data) VALUES (?1, ?2, ?3)",
                    params![pk, sk, to_json(&record)?],
                )
                .map_err(unavailable)?;
            }
            tx.commit().map_err(unavailable)?;
            Ok(claim)
        })
        .await
    }
    async fn finish_key(&self, seller: &SellerId, key: &str, answer: &str) -> Result<(), LedgerError> {
        let (pk, sk) = (table::pk(seller), table::request_key(key));
        let answer = answer.to_owned();
        self.with(move |c| {
            exec(
                c,
                "UPDATE items SET data = json_set(data, '$.answer', ?3) WHERE pk = ?1 AND sk = ?2",
                params![pk, sk, answer],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
    async fn release_key(&self, seller: &SellerId, key: &str) -> Result<(), LedgerError> {
        let (pk, sk) = (table::pk(seller), table::request_key(key));
        self.with(move |c| {
            exec(
                c,
                "DELETE FROM items WHERE pk = ?1 AND sk = ?2 AND json_extract(data, '$.answer') IS NULL",
                params![pk, sk],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
}
