//! The ledger in one SQLite file, laid out like the DynamoDB table: one `items` table keyed by
//! (pk, sk), JSON records, counters in `n`, and the three indexes as columns; only the invoices'
//! file keys live beside their records, in a `documents` table with the same keys. Every write
//! that must be atomic is one transaction.
//!
//! This file holds the table, its keys and the shared reads and writes; each entity trait of
//! the ledger port has its own file: `sellers`, `orders`, `issuing`, `invoices`, `runs`,
//! `imports`, `requests`, `transmissions`, `keys`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use marketbill_app::model::{
    BuyerRequestRecord, DocumentSteps, ImportRecord, InvoicePage, InvoiceQuery, InvoiceRecord, OrderRecord, RunRecord,
    SellerId, SellerRecord, SellerStatus, StoredObject, TransmissionRecord,
};
use marketbill_app::ports::{
    ImportLedger, InvoiceLedger, IssuingLedger, KeyClaim, KeyLedger, KeyRecord, LedgerError, OrderLedger,
    RequestLedger, RequestSlot, RunLedger, SellerLedger, TransmissionLedger, UsageLedger, issued_number,
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

mod imports;
mod invoices;
mod issuing;
mod keys;
mod orders;
mod requests;
mod runs;
mod sellers;
mod transmissions;

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
