//! The decision stream against a real store: a start-up poll lists what is in force, later
//! polls what was made and what ended since, filters apply, and simulated decisions never
//! reach an enforcer.

use chrono::{Duration, Utc};
use std::collections::HashMap;
use watchpost_response::crowdsec::{Cursors, Lookup, StreamQuery, lookup, stream};
use watchpost_response::{DecisionRequest, Guards, decide};
use watchpost_store::testing;

fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn values(ds: &[watchpost_response::crowdsec::WireDecision]) -> Vec<&str> {
    ds.iter().map(|d| d.value.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_answer_what_changed_since_the_last() {
    let db = testing::sqlite();
    let store = db.open().await;
    let guards = Guards::default();
    let t0 = chrono::DateTime::from_timestamp(Utc::now().timestamp() - 600, 0).unwrap();
    let make = |value: &str, duration: &str, simulated: bool, at| {
        let request = DecisionRequest {
            value: value.into(),
            duration: duration.into(),
            reason: format!("test {value}"),
            simulated,
            ..DecisionRequest::default()
        };
        decide(&request, &guards, "test", at).unwrap()
    };
    let a = store
        .insert_decision(&make("203.0.113.1", "4h", false, t0))
        .await
        .unwrap();
    store
        .insert_decision(&make("203.0.113.9", "4h", true, t0))
        .await
        .unwrap();
    store
        .insert_decision(&make("198.51.100.0/24", "4h", false, t0))
        .await
        .unwrap();
    let cursors = Cursors::default();
    let startup = StreamQuery::from_pairs(&query(&[("startup", "true")])).unwrap();
    let poll = StreamQuery::from_pairs(&query(&[("startup", "false")])).unwrap();

    let first = stream(
        store.as_ref(),
        &cursors,
        "b1",
        &startup,
        t0 + Duration::minutes(1),
    )
    .await
    .unwrap();
    assert_eq!(
        values(&first.new),
        ["203.0.113.1", "198.51.100.0/24"],
        "simulated never served"
    );
    assert_eq!(first.new[0].scope, "Ip");
    assert_eq!(first.new[1].scope, "Range");
    assert_eq!(first.new[0].duration, "3h59m0s");
    assert_eq!(first.new[0].origin, "watchpost");

    // Five minutes on: one made, one lifted.
    let t1 = t0 + Duration::minutes(5);
    store
        .insert_decision(&make("203.0.113.2", "1h", false, t1))
        .await
        .unwrap();
    store
        .lift_decision(a, "api:alice", t1)
        .await
        .unwrap()
        .unwrap();
    let second = stream(
        store.as_ref(),
        &cursors,
        "b1",
        &poll,
        t1 + Duration::seconds(30),
    )
    .await
    .unwrap();
    assert_eq!(values(&second.new), ["203.0.113.2"]);
    assert_eq!(values(&second.deleted), ["203.0.113.1"]);
    assert!(second.deleted[0].duration.starts_with('-') || second.deleted[0].duration == "0s");

    // Nothing since: empty answers. Another bouncer's first poll gets the full list.
    let third = stream(
        store.as_ref(),
        &cursors,
        "b1",
        &poll,
        t1 + Duration::minutes(1),
    )
    .await
    .unwrap();
    assert!(
        third.new.is_empty() && third.deleted.is_empty(),
        "{third:?}"
    );
    let other = stream(
        store.as_ref(),
        &cursors,
        "b2",
        &poll,
        t1 + Duration::minutes(1),
    )
    .await
    .unwrap();
    assert_eq!(values(&other.new), ["198.51.100.0/24", "203.0.113.2"]);

    // Expiry reaches the stream like a lift.
    let later = t1 + Duration::minutes(70);
    let expired = stream(store.as_ref(), &cursors, "b1", &poll, later)
        .await
        .unwrap();
    assert_eq!(values(&expired.deleted), ["203.0.113.2"]);

    // Filters.
    let ranges =
        StreamQuery::from_pairs(&query(&[("startup", "true"), ("scopes", "range")])).unwrap();
    let only = stream(store.as_ref(), &cursors, "b3", &ranges, later)
        .await
        .unwrap();
    assert_eq!(values(&only.new), ["198.51.100.0/24"]);
    let theirs = StreamQuery::from_pairs(&query(&[
        ("startup", "true"),
        ("origins", "crowdsec,cscli"),
    ]))
    .unwrap();
    assert!(
        stream(store.as_ref(), &cursors, "b4", &theirs, later)
            .await
            .unwrap()
            .new
            .is_empty()
    );
    let words = StreamQuery::from_pairs(&query(&[
        ("startup", "true"),
        ("scenarios_not_containing", "198.51"),
    ]))
    .unwrap();
    assert!(
        stream(store.as_ref(), &cursors, "b5", &words, later)
            .await
            .unwrap()
            .new
            .is_empty()
    );
    assert!(StreamQuery::from_pairs(&query(&[("startup", "yes")])).is_err());

    // Lookups: an address inside a banned range is covered.
    let covered = Lookup::from_pairs(&query(&[("ip", "198.51.100.77")])).unwrap();
    assert_eq!(
        values(&lookup(store.as_ref(), &covered, later).await.unwrap()),
        ["198.51.100.0/24"]
    );
    let clear = Lookup::from_pairs(&query(&[("ip", "192.0.2.1")])).unwrap();
    assert!(
        lookup(store.as_ref(), &clear, later)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(Lookup::from_pairs(&query(&[("ip", "nope")])).is_err());
    assert!(Lookup::from_pairs(&query(&[])).is_err());
}
