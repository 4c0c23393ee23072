//! The follower: a thread that syncs a node's gallery with the vault's change feed at a fixed
//! interval, so a change made on another node is searched here within about one interval.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use facepay_vault::BiometricStore;

use crate::{Applied, Gallery};

/// Stops its thread when dropped.
#[derive(Debug)]
pub struct Follower {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    last_error: Arc<Mutex<Option<&'static str>>>,
}

impl Follower {
    /// The code of the last sync's error, if the last sync failed (the store was unreachable).
    pub fn last_error(&self) -> Option<&'static str> {
        *self.last_error.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Syncs `gallery` every `every` until the returned `Follower` is dropped; `report` hears each
/// sync that changed something or skipped a record (pseudonyms and codes only, never a face).
pub fn follow<S: BiometricStore + 'static>(
    gallery: Arc<Mutex<Gallery<S>>>,
    every: Duration,
    mut report: impl FnMut(&Applied) + Send + 'static,
) -> Follower {
    let (stop, stopped) = mpsc::channel::<()>();
    let last_error = Arc::new(Mutex::new(None));
    let error_slot = last_error.clone();
    let thread = std::thread::spawn(move || {
        while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
            let synced = gallery.lock().unwrap_or_else(PoisonError::into_inner).sync();
            let error = match synced {
                Ok(applied) => {
                    if applied != Applied::default() {
                        report(&applied);
                    }
                    None
                }
                Err(err) => Some(err.code()),
            };
            *error_slot.lock().unwrap_or_else(PoisonError::into_inner) = error;
        }
    });
    Follower { stop: Some(stop), thread: Some(thread), last_error }
}
