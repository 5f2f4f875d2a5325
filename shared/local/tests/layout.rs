//! The SQLite ledger's own layout: files written by earlier versions keep working.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use marketbill_app::model::{InvoiceQuery, InvoiceRecord, SellerId, StoredObject};
use marketbill_app::ports::{InvoiceLedger, IssuingLedger, SellerLedger};
use marketbill_app::table;
use marketbill_local::SqliteLedger;
use time::macros::datetime;

fn object(key: &str, byte: &str) -> StoredObject {
    StoredObject { key: key.into(), sha256: byte.repeat(32), size: 10 }
}

/// A test's ledger file (in a folder emptied first), its seller and a sample invoice.
fn fixture(name: &str, lines: usize) -> (std::path::PathBuf, SellerId, marketbill_domain::Invoice) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let seller: SellerId = format!("seller-{name}").parse().unwrap();
    (dir.join("ledger.sqlite"), seller, marketbill_testkit::invoices::sample_invoice(lines).unwrap())
}

#[tokio::test]
async fn an_invoice_recorded_with_its_files_inside_keeps_them_until_they_are_set_again() {
    let (db, seller, invoice) = fixture("local-layout", 2);
    let number = invoice.number.clone();

    // A record as the earlier layout wrote it: the files' keys inside the invoice's own JSON.
    let mut old = InvoiceRecord::new(&seller, &"ORDER0001".parse().unwrap(), invoice, datetime!(2026-11-02 10:00 UTC));
    old.pdf = Some(object("old.pdf", "ab"));
    old.xml = Some(object("old.xml", "cd"));
    drop(SqliteLedger::open(&db).unwrap()); // creates the tables
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "INSERT INTO items (pk, sk, data) VALUES (?1, ?2, ?3)",
        rusqlite::params![table::pk(&seller), table::invoice(number.as_str()), serde_json::to_string(&old).unwrap()],
    )
    .unwrap();
    drop(conn);

    let ledger = SqliteLedger::open(&db).unwrap();
    let read = ledger.get_invoice(&seller, &number).await.unwrap().unwrap();
    assert_eq!((read.pdf.unwrap().key, read.xml.unwrap().key), ("old.pdf".to_owned(), "old.xml".to_owned()));

    // Stored again: the new keys win, in the record and in the listing.
    ledger.set_documents(&seller, &number, &object("new.pdf", "ef"), &object("new.xml", "01")).await.unwrap();
    let read = ledger.get_invoice(&seller, &number).await.unwrap().unwrap();
    assert_eq!(read.pdf.unwrap().key, "new.pdf");
    let listed = ledger.list_invoices(&seller, &InvoiceQuery { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].xml.as_ref().unwrap().key, "new.xml");
}

#[tokio::test]
async fn a_ledger_whose_items_table_is_without_rowid_is_moved_to_the_present_layout_with_everything_in_it() {
    let (db, seller, invoice) = fixture("local-layout-rowid", 3);
    let number = invoice.number.clone();
    let record = InvoiceRecord::new(&seller, &"ORDER0002".parse().unwrap(), invoice, datetime!(2026-11-02 10:00 UTC));

    // The table as the earlier versions created it, with an invoice, a counter and an index entry.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE items (pk TEXT NOT NULL, sk TEXT NOT NULL, data TEXT NOT NULL DEFAULT '{}', n INTEGER,
             gsi1 TEXT, gsi2 TEXT, gsi3 TEXT, PRIMARY KEY (pk, sk)) WITHOUT ROWID;
         CREATE INDEX items_gsi1 ON items (gsi1) WHERE gsi1 IS NOT NULL;
         CREATE INDEX items_gsi2 ON items (gsi2) WHERE gsi2 IS NOT NULL;
         CREATE INDEX items_gsi3 ON items (gsi3) WHERE gsi3 IS NOT NULL;",
    )
    .unwrap();
    let pk = table::pk(&seller);
    conn.execute(
        "INSERT INTO items (pk, sk, data) VALUES (?1, ?2, ?3)",
        rusqlite::params![pk, table::invoice(number.as_str()), serde_json::to_string(&record).unwrap()],
    )
    .unwrap();
    let series = marketbill_domain::Series::new("ML".parse().unwrap(), 2026);
    conn.execute(
        "INSERT INTO items (pk, sk, n) VALUES (?1, ?2, 41)",
        rusqlite::params![pk, table::series(&series.key())],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO items (pk, sk, gsi1) VALUES (?1, ?2, ?3)",
        rusqlite::params![pk, table::PROFILE, table::ACTIVE],
    )
    .unwrap();
    drop(conn);

    let ledger = SqliteLedger::open(&db).unwrap();
    let read = ledger.get_invoice(&seller, &number).await.unwrap().unwrap();
    assert_eq!(read.invoice.number, number);
    ledger.set_documents(&seller, &number, &object("a.pdf", "ab"), &object("a.xml", "cd")).await.unwrap();
    assert_eq!(ledger.get_invoice(&seller, &number).await.unwrap().unwrap().pdf.unwrap().key, "a.pdf");
    assert_eq!(ledger.series_counter(&seller, &series).await.unwrap(), 41);
    assert_eq!(ledger.active_sellers().await.unwrap(), vec![seller.clone()]);
    drop(ledger);

    let conn = rusqlite::Connection::open(&db).unwrap();
    let sql: String = conn
        .query_row("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'items'", [], |r| r.get(0))
        .unwrap();
    assert!(!sql.to_ascii_uppercase().contains("WITHOUT ROWID"), "{sql}");
    let mut names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE tbl_name = 'items' AND type = 'index' AND sql IS NOT NULL ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    names.sort();
    assert_eq!(names, ["items_gsi1", "items_gsi2", "items_gsi3"]);
    let left: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'items_without_rowid'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_new_ledger_file_has_eight_kilobyte_pages_and_an_existing_one_keeps_its_own() {
    let (db, _, _) = fixture("local-layout-pages", 1);
    drop(SqliteLedger::open(&db).unwrap());
    let page_size = |path: &std::path::Path| -> i64 {
        rusqlite::Connection::open(path).unwrap().query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap()
    };
    assert_eq!(page_size(&db), 8192);

    let (old, _, _) = fixture("local-layout-pages-old", 1);
    let conn = rusqlite::Connection::open(&old).unwrap();
    conn.execute_batch("PRAGMA page_size = 4096; CREATE TABLE t (x INTEGER);").unwrap();
    drop(conn);
    drop(SqliteLedger::open(&old).unwrap());
    assert_eq!(page_size(&old), 4096, "an existing file is not rewritten");
}
