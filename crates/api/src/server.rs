//! Running the router on a socket: `Server` in a thread of its own (the demo and the benchmark
//! start one and talk to it), and `serve_until_interrupted` for `facepay serve`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

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

/// Serves on `address` until the process is interrupted (Ctrl-C or SIGTERM's default here).
pub fn serve_until_interrupted(
    address: &str,
    switch: Arc<Switch>,
    on_listening: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(address).await?;
        on_listening(listener.local_addr()?);
        crate::serve(listener, switch, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
    })
}
