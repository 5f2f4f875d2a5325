//! The SQLite ledger's own layout: files recorded before the `documents` table keep working.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use marketbill_app::model::{InvoiceQuery, InvoiceRecord, SellerId, StoredObject};
use marketbill_app::ports::InvoiceLedger;
use marketbill_app::table;
use marketbill_local::SqliteLedger;
use time::macros::datetime;

fn object(key: &str, byte: &str) -> StoredObject {
    StoredObject { key: key.into(), sha256: byte.repeat(32), size: 10 }
}

#[tokio::test]
async fn an_invoice_recorded_with_its_files_inside_keeps_them_until_they_are_set_again() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("local-layout");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("ledger.sqlite");
    let seller: SellerId = "seller-layout".parse().unwrap();
    let invoice = marketbill_testkit::invoices::sample_invoice(2).unwrap();
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
