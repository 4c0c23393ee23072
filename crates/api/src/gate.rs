//! Bounds the biometric work a node takes on. A capture (decode, detect, liveness, embed) is a
//! few tens of milliseconds of a core; a burst of them must not become hundreds of threads, each
//! with its own ONNX sessions. At most `running` captures run at once (the cores, by default),
//! at most `queued` more wait for a turn, and anything beyond is refused at once with 503 and
//! `Retry-After`: a caller retries a moment later instead of the node running out of memory or
//! every payment's latency growing without bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

use crate::error::ApiError;

#[derive(Debug)]
pub struct CaptureGate {
    turns: Arc<Semaphore>,
    /// Captures admitted: running plus waiting.
    admitted: AtomicUsize,
    capacity: usize,
}

impl CaptureGate {
    /// `running` at once (at least 1), `queued` more waiting.
    pub fn new(running: usize, queued: usize) -> CaptureGate {
        let running = running.max(1);
        CaptureGate {
            turns: Arc::new(Semaphore::new(running)),
            admitted: AtomicUsize::new(0),
            capacity: running + queued,
        }
    }

    /// Runs `work` on the blocking pool when its turn comes, or refuses it now if the queue is
    /// full.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(ApiError::unavailable(
                "biometric_busy",
                "this node is at its limit of face captures; retry in a moment",
            ));
        }
        let _admitted = Admitted(&self.admitted);
        let _turn = self.turns.acquire().await.map_err(|_| ApiError::internal("the capture gate closed"))?;
        tokio::task::spawn_blocking(work).await.map_err(|_| ApiError::internal("the capture task failed"))
    }
}

/// Gives the admission back however the capture ends (done, failed, or its request dropped).
struct Admitted<'a>(&'a AtomicUsize);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;
    use std::sync::mpsc;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn beyond_the_running_and_the_queued_a_capture_is_refused_at_once() {
        let gate = Arc::new(CaptureGate::new(1, 1));
        let (release, hold) = mpsc::channel::<()>();
        let started = Arc::new(Barrier::new(2));
        let running = {
            let (gate, started) = (gate.clone(), started.clone());
            tokio::spawn(async move {
                gate.run(move || {
                    started.wait();
                    hold.recv().ok();
                })
                .await
            })
        };
        tokio::task::spawn_blocking(move || started.wait()).await.unwrap();
        // One runs; the second waits its turn; the third finds the queue full.
        let waiting = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.run(|| 2).await })
        };
        while gate.admitted.load(Ordering::Acquire) < 2 {
            tokio::task::yield_now().await;
        }
        let refused = gate.run(|| 3).await.unwrap_err();
        assert_eq!((refused.status.as_u16(), refused.code), (503, "biometric_busy"));
        release.send(()).unwrap();
        running.await.unwrap().unwrap();
        assert_eq!(waiting.await.unwrap().unwrap(), 2);
        assert_eq!(gate.run(|| 4).await.unwrap(), 4, "admissions are given back");
        assert_eq!(gate.admitted.load(Ordering::Acquire), 0);
    }
}
