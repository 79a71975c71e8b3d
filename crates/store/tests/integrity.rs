//! Damage is noticed: a record altered behind the store's back fails its checksum when read
//! and in the full check, a store that found damage refuses writes, and (SQLite) damaged
//! pages are found by the check at start.

use std::sync::Arc;
use watchpost_core::Event;
use watchpost_store::{EventQuery, Store, StoreError, testing};

fn events(n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            Event::from_json(serde_json::json!({
                "@timestamp": format!("2026-11-01T12:00:{:02}Z", i % 60),
                "host": {"name": "web-1"},
                "message": format!("login accepted for user{i}"),
            }))
            .unwrap()
        })
        .collect()
}

async fn an_altered_record_fails_its_checksum(db: testing::TestDb) {
    let store: Arc<dyn Store> = db.open().await;
    store.insert_events(&events(20)).await.unwrap();
    // Three rows changed in place, as a flipped byte or a hand edit would.
    let changed = db
        .execute_behind_the_store(
            "UPDATE events SET doc = REPLACE(doc, 'accepted', 'rejected') \
             WHERE doc LIKE '%user1_%' AND doc NOT LIKE '%user1\"%'",
        )
        .await;
    assert!(changed >= 3, "{changed} rows changed");

    let read = store.query_events(&EventQuery::default()).await;
    assert!(
        matches!(
            read,
            Err(StoreError::ChecksumMismatch {
                table: "events",
                ..
            })
        ),
        "an altered row must not be served as stored: {read:?}"
    );
    let condition = store.condition();
    assert!(condition.damage.is_some(), "{condition:?}");
    let write = store.insert_events(&events(1)).await;
    assert!(matches!(write, Err(StoreError::Damaged(_))), "{write:?}");

    // A fresh start finds it in the full check, row by row.
    let reopened = db.open().await;
    assert!(reopened.condition().damage.is_none());
    let report = reopened.check_integrity(true).await.unwrap();
    assert!(!report.ok);
    assert_eq!(
        report
            .findings
            .iter()
            .filter(|f| f.contains("does not match its checksum"))
            .count() as u64,
        changed,
        "{report:?}"
    );
    assert!(reopened.condition().damage.is_some());
}

#[tokio::test]
async fn sqlite_an_altered_record_fails_its_checksum() {
    an_altered_record_fails_its_checksum(testing::sqlite()).await;
}

#[tokio::test]
async fn postgres_an_altered_record_fails_its_checksum() {
    let Some(db) = testing::postgres().await else {
        return;
    };
    an_altered_record_fails_its_checksum(db).await;
}

#[tokio::test]
async fn a_clean_store_passes_both_checks() {
    let db = testing::sqlite();
    let store = db.open().await;
    store.insert_events(&events(500)).await.unwrap();
    let quick = store.condition().last_integrity_check.unwrap();
    assert!(quick.ok && quick.kind == "quick", "{quick:?}");
    let full = store.check_integrity(true).await.unwrap();
    assert!(full.ok, "{full:?}");
    assert_eq!(store.condition().unwritable_reason(), None);
}

#[tokio::test]
async fn damaged_pages_are_found_at_start_and_writes_refused() {
    let db = testing::sqlite();
    {
        let store = db.open().await;
        for chunk in events(3000).chunks(500) {
            store.insert_events(chunk).await.unwrap();
        }
        drop(store);
    }
    // Let the closing checkpoint finish, then overwrite nine pages spread over the file
    // (past the first, which says what the file is).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let file = db.sqlite_file().unwrap();
    let len = std::fs::metadata(&file).unwrap().len();
    assert!(
        len > 64 * 1024,
        "the database has pages to damage ({len} bytes)"
    );
    let mut bytes = std::fs::read(&file).unwrap();
    for tenth in 1..10 {
        let start = (len * tenth / 10) as usize & !4095;
        for b in &mut bytes[start..start + 4096] {
            *b = 0x5a;
        }
    }
    std::fs::write(&file, bytes).unwrap();

    // Depending on which pages were hit, the store opens and its quick check finds the
    // damage, or it cannot open at all and says the file is damaged.
    match watchpost_store::SqlStore::open(&db.url).await {
        Ok(store) => {
            let condition = store.condition();
            let check = condition.last_integrity_check.clone().unwrap();
            assert!(
                !check.ok,
                "the quick check at start finds the damage: {check:?}"
            );
            assert!(condition.damage.is_some());
            assert!(matches!(
                store.insert_events(&events(1)).await,
                Err(StoreError::Damaged(_))
            ));
        }
        Err(e) => {
            assert!(matches!(e, StoreError::DamagedAtOpen { .. }), "{e:?}");
            assert!(
                e.to_string().contains("is damaged and cannot be opened"),
                "{e}"
            );
        }
    }
}
