//! Running the router on a socket: `Server` in a thread of its own (the demo and the benchmark
//! start one and talk to it), and `serve_until_stopped` for `facepay serve`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

use crate::switch::Switch;

#[derive(Debug)]
pub struct Server {
    pub address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Binds `address` (port 0 picks a free one) and serves in a thread until `stop`.
    pub fn start(address: &str, switch: Arc<Switch>) -> std::io::Result<Server> {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind(address))?;
        let address = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime.block_on(crate::serve(listener, switch, async move {
                let _ = stopped.await;
            }))
        });
        Ok(Server { address, stop: Some(stop), thread: Some(thread) })
    }

    /// Stops taking connections, finishes the requests under way, and returns.
    pub fn stop(mut self) -> std::io::Result<()> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(served)) => served,
            Some(Err(_)) => Err(std::io::Error::other("the server thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}

/// How long a stopping server waits for the requests under way.
pub const DRAIN: Duration = Duration::from_secs(10);

/// Serves on `address` until SIGTERM or SIGINT, or until the payment core halts. Then, for
/// `grace`, the node reports not ready and refuses new requests with `node_stopping` (a load
/// balancer takes it out, callers go elsewhere) while those under way finish; then the listener
/// closes and the last requests get at most `DRAIN` to finish. A signal returns `Ok`; a halted
/// core returns the error that makes `serve` exit non-zero.
pub fn serve_until_stopped(
    address: &str,
    switch: Arc<Switch>,
    grace: Duration,
    on_listening: impl FnOnce(SocketAddr),
    on_stopping: impl FnOnce(&str),
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(address).await?;
        on_listening(listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::serve(listener, switch.clone(), async move {
            let _ = stopped.await;
        }));
        on_stopping(stop_requested(&switch).await);
        switch.begin_stopping();
        tokio::time::sleep(grace).await;
        let _ = stop.send(());
        match tokio::time::timeout(DRAIN, server).await {
            Ok(Ok(served)) => served?,
            Ok(Err(_)) => return Err(std::io::Error::other("the server task failed")),
            Err(_) => {
                let open = format!("requests were still open {} s after the stop", DRAIN.as_secs());
                return Err(std::io::Error::other(open));
            }
        }
        match switch.halted() {
            Some(reason) => {
                Err(std::io::Error::other(format!("the payment core stopped: {reason} [core_halted]")))
            }
            None => Ok(()),
        }
    })
}

/// Waits for SIGINT, SIGTERM or a halted core; says which.
async fn stop_requested(switch: &Switch) -> &'static str {
    let mut terminate = signal(SignalKind::terminate()).ok();
    let terminated = async {
        match terminate.as_mut() {
            Some(terminate) => {
                terminate.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    let halted = async {
        while switch.halted().is_none() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        () = terminated => "SIGTERM",
        () = halted => "the payment core halted",
    }
}
