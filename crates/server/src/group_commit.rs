//! Group commit for detections: callers that arrive while a write is in progress are
//! written together in the next transaction.
//!
//! SQLite has one writer. Detections handed over one call at a time (the web shield, the
//! analyze endpoint, the host monitor) would each cost a transaction; here each caller
//! queues its detections and whoever gets the write turn writes everything queued, so
//! callers that pile up while the writer is busy share one transaction, and a lone caller
//! still writes at once. In `bench alerts` (one detection every 2 ms) it rarely finds the
//! writer busy and changed little (context switches 410k → 380k); the latency spikes that
//! benchmark showed came from 16 KiB pages (docs/benchmarks.md).

use std::sync::Mutex;
use tokio::sync::oneshot;
use watchpost_core::Detection;
use watchpost_store::{Store, StoreError};

/// One caller's detections and where its outcome goes.
type Waiting = (Vec<Detection>, oneshot::Sender<Result<(), String>>);

#[derive(Default)]
pub struct GroupCommit {
    waiting: Mutex<Vec<Waiting>>,
    /// The write turn: its holder writes everything waiting.
    turn: tokio::sync::Mutex<()>,
}

impl GroupCommit {
    /// Writes `detections` (with whatever else is waiting) and, once committed, hands the
    /// whole written batch to `after` in commit order. Returns when this caller's detections
    /// are committed.
    pub async fn insert<F, Fut>(
        &self,
        store: &dyn Store,
        detections: &[Detection],
        after: F,
    ) -> Result<(), StoreError>
    where
        F: FnOnce(Vec<Detection>) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let (done, outcome) = oneshot::channel();
        self.lock_waiting().push((detections.to_vec(), done));
        {
            let _turn = self.turn.lock().await;
            let batch = std::mem::take(&mut *self.lock_waiting());
            if !batch.is_empty() {
                let mut all = Vec::with_capacity(batch.iter().map(|(d, _)| d.len()).sum());
                let mut callers = Vec::with_capacity(batch.len());
                for (ds, done) in batch {
                    all.extend(ds);
                    callers.push(done);
                }
                let written = store.insert_detections(&all).await;
                let shared = written.as_ref().map(|_| ()).map_err(|e| e.to_string());
                if written.is_ok() {
                    after(all).await;
                }
                for done in callers {
                    let _ = done.send(shared.clone());
                }
            }
        }
        match outcome.await {
            Ok(result) => result.map_err(StoreError::SharedWrite),
            Err(_) => Err(StoreError::SharedWrite(
                "the write carrying these detections was interrupted".into(),
            )),
        }
    }

    fn lock_waiting(&self) -> std::sync::MutexGuard<'_, Vec<Waiting>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use watchpost_core::Severity;
    use watchpost_store::DetectionQuery;

    #[tokio::test]
    async fn callers_that_wait_for_the_turn_share_one_write() {
        let db = watchpost_store::testing::sqlite();
        let store = db.open().await;
        let group = Arc::new(GroupCommit::default());
        let batches = Arc::new(Mutex::new(Vec::new()));
        // Someone is writing: ten callers arrive meanwhile.
        let busy = group.turn.lock().await;
        let mut callers = tokio::task::JoinSet::new();
        for i in 0..10 {
            let (group, store, batches) = (group.clone(), store.clone(), batches.clone());
            callers.spawn(async move {
                let d = Detection::new(&format!("r{i}"), "t", Severity::Low, "test");
                group
                    .insert(store.as_ref(), &[d], |written| async move {
                        batches.lock().unwrap().push(written.len());
                    })
                    .await
            });
        }
        while group.lock_waiting().len() < 10 {
            tokio::task::yield_now().await;
        }
        drop(busy);
        while let Some(r) = callers.join_next().await {
            r.unwrap().unwrap();
        }
        assert_eq!(*batches.lock().unwrap(), [10], "one write for all ten");
        let stored = store
            .query_detections(&DetectionQuery::default())
            .await
            .unwrap();
        assert_eq!(stored.items.len(), 10);
    }
}
