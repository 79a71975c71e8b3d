//! What the channel tests share: alerts, notices and a delivery pass through a real store.

#![allow(dead_code)] // each test file uses its own part

use chrono::Utc;
use std::collections::BTreeMap;
use std::sync::Arc;
use watchpost_alert::config::ChannelConfig;
use watchpost_alert::{Notification, NotificationKind};
use watchpost_core::{Alert, Detection, Entity, Severity};
use watchpost_notify::{Channels, Deliverer};
use watchpost_store::Store;

pub fn alert(title: &str, severity: Severity) -> Alert {
    let mut d = Detection::new("lnx.reverse_shell", title, severity, "sigma");
    d.host = Some("web-1".into());
    d.entity = Some(Entity::Host {
        name: "web-1".into(),
    });
    d.category = Some("process_creation".into());
    Alert::from_detection(&d, BTreeMap::new())
}

pub fn notice(receiver: &str, kind: NotificationKind, alerts: Vec<Alert>) -> Notification {
    Notification {
        id: uuid::Uuid::now_v7(),
        kind,
        receiver: receiver.into(),
        route: "root".into(),
        group_key: "root{rule=\"lnx.reverse_shell\"}".into(),
        group_labels: BTreeMap::new(),
        alerts,
        truncated: 0,
        silence: None,
        created_at: Utc::now(),
    }
}

pub fn channel(name: &str, kind: &str, url: &str) -> ChannelConfig {
    ChannelConfig {
        name: name.into(),
        kind: kind.into(),
        url: Some(url.into()),
        ..ChannelConfig::default()
    }
}

pub async fn deliver_all(
    store: &Arc<dyn Store>,
    configs: &[ChannelConfig],
    notices: &[Notification],
) -> Arc<Deliverer> {
    store.record_pipeline(notices, &[], &[]).await.unwrap();
    let d = Deliverer::new(Arc::clone(store), Channels::build(configs).unwrap());
    d.deliver_due(Utc::now()).await.unwrap();
    d
}
