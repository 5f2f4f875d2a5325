//! An in-process queue of seller runs, with receive/acknowledge like SQS: a received message
//! not acknowledged within its visibility time comes back.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use marketbill_app::ports::{Queue, QueueError, Received, SellerRunMessage};
use tokio::sync::Notify;

pub struct ChannelQueue {
    inner: Mutex<State>,
    notify: Notify,
    visibility: Duration,
}

#[derive(Default)]
struct State {
    ready: VecDeque<SellerRunMessage>,
    in_flight: BTreeMap<String, (Instant, SellerRunMessage)>,
    seq: u64,
}

impl ChannelQueue {
    pub fn new(visibility: Duration) -> ChannelQueue {
        ChannelQueue { inner: Mutex::new(State::default()), notify: Notify::new(), visibility }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Messages waiting or in flight.
    pub fn len(&self) -> usize {
        let g = self.lock();
        g.ready.len() + g.in_flight.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn take(&self, max: usize) -> Vec<Received> {
        let mut g = self.lock();
        let now = Instant::now();
        // Messages whose visibility ran out come back first.
        let expired: Vec<String> =
            g.in_flight.iter().filter(|(_, (until, _))| *until <= now).map(|(k, _)| k.clone()).collect();
        for k in expired {
            if let Some((_, m)) = g.in_flight.remove(&k) {
                g.ready.push_front(m);
            }
        }
        let mut out = Vec::new();
        while out.len() < max {
            let Some(message) = g.ready.pop_front() else { break };
            g.seq += 1;
            let receipt = format!("r-{}", g.seq);
            g.in_flight.insert(receipt.clone(), (now + self.visibility, message.clone()));
            out.push(Received { receipt, message });
        }
        out
    }
}

#[async_trait]
impl Queue for ChannelQueue {
    async fn send(&self, message: &SellerRunMessage) -> Result<(), QueueError> {
        self.lock().ready.push_back(message.clone());
        self.notify.notify_one();
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError> {
        let got = self.take(max);
        if !got.is_empty() || wait.is_zero() {
            return Ok(got);
        }
        let _ = tokio::time::timeout(wait, self.notify.notified()).await;
        Ok(self.take(max))
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        self.lock().in_flight.remove(receipt);
        Ok(())
    }
}
