//! The emulator the AWS adapters are tested on (moto, through `tools/moto/serve.py`) behaves as
//! DynamoDB and SES do where the adapters rely on it. serve.py puts back the items a cancelled
//! transaction touched (instead of moto's copy of the whole table for each item) and reads the
//! mails sent from SES's own list (instead of a dump of every service): these tests hold it to
//! what moto did before.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, KeySchemaElement, KeyType, Put,
    ScalarAttributeType, TransactWriteItem, Update,
};
use marketbill_aws::{AwsClients, AwsSettings};
use marketbill_harness::moto::Moto;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn key(pk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s("item"))])
}

fn item(pk: &str, n: &str) -> HashMap<String, AttributeValue> {
    let mut i = key(pk);
    i.insert("n".to_owned(), AttributeValue::N(n.to_owned()));
    i
}

async fn clients() -> AwsClients {
    let moto = Moto::shared().expect("moto");
    AwsClients::new(&AwsSettings { region: Some("eu-west-3".into()), endpoint_url: Some(moto.endpoint.clone()) }).await
}

struct Table<'a> {
    db: &'a aws_sdk_dynamodb::Client,
    name: String,
}

impl Table<'_> {
    async fn n(&self, pk: &str) -> Option<String> {
        let got = self.db.get_item().table_name(&self.name).set_key(Some(key(pk))).consistent_read(true).send().await;
        got.unwrap().item.and_then(|i| i.get("n").and_then(|n| n.as_n().ok().cloned()))
    }

    fn put(&self, pk: &str, n: &str) -> TransactWriteItem {
        let put = Put::builder().table_name(&self.name).set_item(Some(item(pk, n))).build().unwrap();
        TransactWriteItem::builder().put(put).build()
    }

    fn set(&self, pk: &str, n: &str) -> TransactWriteItem {
        let update = Update::builder()
            .table_name(&self.name)
            .set_key(Some(key(pk)))
            .update_expression("SET n = :n")
            .expression_attribute_values(":n", AttributeValue::N(n.to_owned()))
            .build()
            .unwrap();
        TransactWriteItem::builder().update(update).build()
    }

    fn delete(&self, pk: &str) -> TransactWriteItem {
        let delete = Delete::builder().table_name(&self.name).set_key(Some(key(pk))).build().unwrap();
        TransactWriteItem::builder().delete(delete).build()
    }

    /// A check that fails: the item does not exist.
    fn exists(&self, pk: &str) -> TransactWriteItem {
        let check = ConditionCheck::builder()
            .table_name(&self.name)
            .set_key(Some(key(pk)))
            .condition_expression("attribute_exists(pk)")
            .build()
            .unwrap();
        TransactWriteItem::builder().condition_check(check).build()
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> bool {
        self.db.transact_write_items().set_transact_items(Some(items)).send().await.is_ok()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_transaction_leaves_every_item_as_it_was_and_a_taken_one_writes_them_all() {
    let c = clients().await;
    let name = format!("mb-emulator-{:x}", std::process::id());
    c.dynamodb
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
        .key_schema(KeySchemaElement::builder().attribute_name("sk").key_type(KeyType::Range).build().unwrap())
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("sk").attribute_type(ScalarAttributeType::S).build().unwrap(),
        )
        .send()
        .await
        .unwrap();
    let t = Table { db: &c.dynamodb, name };
    assert!(t.transact(vec![t.put("a", "1"), t.put("d", "7")]).await);

    // Written one after another by moto, then cancelled by the last check: nothing stays.
    let cancelled = vec![t.put("b", "1"), t.set("a", "2"), t.delete("d"), t.set("c", "3"), t.exists("nowhere")];
    assert!(!t.transact(cancelled).await, "the check fails");
    assert_eq!(t.n("a").await.as_deref(), Some("1"), "an updated item is as it was");
    assert_eq!(t.n("d").await.as_deref(), Some("7"), "a deleted item is back");
    assert_eq!(t.n("b").await, None, "a put item is gone");
    assert_eq!(t.n("c").await, None, "an item an update created is gone");

    // The same writes without the failing check are all taken.
    assert!(t.transact(vec![t.put("b", "1"), t.set("a", "2"), t.delete("d"), t.set("c", "3")]).await);
    assert_eq!(
        (t.n("a").await, t.n("b").await, t.n("c").await, t.n("d").await),
        (Some("2".into()), Some("1".into()), Some("3".into()), None)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mails_sent_are_read_back_as_sent() {
    let c = clients().await;
    let moto = Moto::shared().expect("moto");
    let from = "factures@emulator.example";
    c.sesv2.create_email_identity().email_identity(from).send().await.unwrap();
    let before = moto.sent_raw_mails().await.unwrap().len();
    let raw = format!(
        "From: {from}\r\nTo: buyer@emulator.example\r\nSubject: Facture {}\r\n\r\nBonjour\r\n",
        std::process::id()
    );
    let message = aws_sdk_sesv2::types::RawMessage::builder()
        .data(aws_sdk_sesv2::primitives::Blob::new(raw.as_bytes()))
        .build()
        .unwrap();
    c.sesv2
        .send_email()
        .from_email_address(from)
        .destination(aws_sdk_sesv2::types::Destination::builder().to_addresses("buyer@emulator.example").build())
        .content(aws_sdk_sesv2::types::EmailContent::builder().raw(message).build())
        .send()
        .await
        .unwrap();
    let sent = moto.sent_raw_mails().await.unwrap();
    assert_eq!(sent.len(), before + 1);
    assert!(sent.iter().any(|m| m.as_slice() == raw.as_bytes()), "the raw MIME as sent");
}
