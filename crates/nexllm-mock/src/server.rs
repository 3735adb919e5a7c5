//! The server: binding, the accept loop, one task per connection, and shutdown.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::Poll;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::RuntimeFlavor;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::handler::handle;
use crate::models::DEFAULT_ALIASES;
use crate::recording::RecordedRequest;
use crate::script::{Script, ScriptStep};
use crate::state::{ConnectionGuard, Shared};

/// How long shutdown lets in-flight responses finish before it drops their connections.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_millis(500);
/// Pause after a failed `accept` (out of file descriptors, say) before trying again.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(10);
/// How much longer than the shutdown grace [`MockServer::shutdown_blocking`] waits for
/// the server task of a server started with [`MockServerBuilder::start`].
const SHUTDOWN_WAIT_MARGIN: Duration = Duration::from_secs(1);

/// The listening socket, shared so that [`MockServer::shutdown_blocking`] and `Drop`
/// can close it without waiting for the runtime that runs the accept loop.
type ListenerSlot = Mutex<Option<TcpListener>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Tells a thread that the server task has ended (or was dropped with its runtime).
#[derive(Debug, Default)]
struct Finished {
    done: Mutex<bool>,
    signal: Condvar,
}

impl Finished {
    /// Waits until the task has ended, for at most `timeout`.
    fn wait(&self, timeout: Duration) {
        let done = lock(&self.done);
        let _ = self.signal.wait_timeout_while(done, timeout, |done| !*done);
    }
}

/// Marks [`Finished`] when dropped, which is when the server task's future ends.
#[derive(Debug)]
struct FinishedGuard(Arc<Finished>);

impl Drop for FinishedGuard {
    fn drop(&mut self) {
        *lock(&self.0.done) = true;
        self.0.signal.notify_all();
    }
}

/// A running mock server on `127.0.0.1`.
///
/// Dropping it shuts it down too: the listener closes at once and every connection
/// ends; [`MockServer::shutdown`] additionally waits until they have.
#[derive(Debug)]
pub struct MockServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    grace: Duration,
    runner: Option<Runner>,
}

#[derive(Debug)]
enum Runner {
    /// The accept loop runs on the caller's runtime.
    Task {
        task: tokio::task::JoinHandle<()>,
        listener: Arc<ListenerSlot>,
        finished: Arc<Finished>,
    },
    /// The server runs its own runtime on this thread.
    Thread(std::thread::JoinHandle<()>),
}

/// Configures a [`MockServer`] before starting it.
#[derive(Debug, Clone)]
pub struct MockServerBuilder {
    api_key: Option<String>,
    port: u16,
    script: Script,
    aliases: Vec<String>,
    shutdown_grace: Duration,
}

impl Default for MockServerBuilder {
    fn default() -> Self {
        Self {
            api_key: None,
            port: 0,
            script: Script::new(),
            aliases: DEFAULT_ALIASES
                .iter()
                .map(|alias| (*alias).to_owned())
                .collect(),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

impl MockServerBuilder {
    /// Requires `Authorization: Bearer <key>` on every request (401 otherwise).
    #[must_use]
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Listens on this port of `127.0.0.1` (0, the default, picks a free one).
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Preloads the script queue with these steps.
    #[must_use]
    pub fn script(mut self, script: Script) -> Self {
        self.script = script;
        self
    }

    /// The model ids served by the echo model, replacing the default aliases
    /// (`gpt-4o`, `aws/claude-haiku-4-5`, `gemini-2.5-flash`). `mock-echo` and
    /// `mock-tools` are always served.
    #[must_use]
    pub fn models<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.aliases = ids.into_iter().map(Into::into).collect();
        self
    }

    /// How long shutdown lets in-flight responses finish (default 500 ms).
    #[must_use]
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    fn into_shared(self) -> (Arc<Shared>, u16, Duration) {
        let shared = Shared::new(self.api_key, self.aliases, self.script.steps);
        (Arc::new(shared), self.port, self.shutdown_grace)
    }

    /// Starts the server on the current tokio runtime.
    pub async fn start(self) -> io::Result<MockServer> {
        let (shared, port, grace) = self.into_shared();
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let listener = Arc::new(Mutex::new(Some(listener)));
        let finished = Arc::new(Finished::default());
        let guard = FinishedGuard(Arc::clone(&finished));
        let serving = serve(Arc::clone(&listener), Arc::clone(&shared), stopped, grace);
        let task = tokio::spawn(async move {
            let _finished = guard;
            serving.await;
        });
        Ok(MockServer {
            shared,
            addr,
            stop,
            grace,
            runner: Some(Runner::Task {
                task,
                listener,
                finished,
            }),
        })
    }

    /// The same as [`MockServerBuilder::start`].
    pub async fn build(self) -> io::Result<MockServer> {
        self.start().await
    }

    /// Starts the server on its own runtime on a background thread, for code that is
    /// not async (blocking clients, CLI tests, the demo).
    pub fn start_blocking(self) -> io::Result<MockServer> {
        let (shared, port, grace) = self.into_shared();
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = watch::channel(false);
        let thread_shared = Arc::clone(&shared);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<()>>();
        let thread = std::thread::Builder::new()
            .name(format!("nexllm-mock-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(listener) => {
                            // The receiver only disappears if start_blocking itself was torn down.
                            let _ = ready_tx.send(Ok(()));
                            let listener = Arc::new(Mutex::new(Some(listener)));
                            serve(listener, thread_shared, stopped, grace).await;
                        }
                        Err(error) => {
                            let _ = ready_tx.send(Err(error));
                        }
                    }
                });
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(MockServer {
                shared,
                addr,
                stop,
                grace,
                runner: Some(Runner::Thread(thread)),
            }),
            Ok(Err(error)) => {
                let _ = thread.join();
                Err(error)
            }
            Err(_) => {
                let _ = thread.join();
                Err(io::Error::other(
                    "the nexllm-mock server thread ended before it started",
                ))
            }
        }
    }
}

impl MockServer {
    /// Starts a server with the defaults (free port, no key) on the current tokio runtime.
    pub async fn start() -> io::Result<MockServer> {
        MockServerBuilder::default().start().await
    }

    /// A builder for a configured server.
    pub fn builder() -> MockServerBuilder {
        MockServerBuilder::default()
    }

    /// Starts a server with the defaults on its own background runtime.
    pub fn start_blocking() -> io::Result<MockServer> {
        MockServerBuilder::default().start_blocking()
    }

    /// The base URL clients use, `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far (the most recent
    /// [`MAX_RECORDED_REQUESTS`](crate::MAX_RECORDED_REQUESTS), and at most
    /// [`MAX_RECORDED_BYTES`](crate::MAX_RECORDED_BYTES) of them), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.clear_requests();
    }

    /// Queues an [`Answer`](crate::Answer) or a [`Fault`](crate::Fault) for the next chat
    /// completion request that selects no fault by header or model name. Steps are used
    /// in order.
    pub fn push_script(&self, step: impl Into<ScriptStep>) {
        self.shared.push_script(step.into());
    }

    /// How many script steps are still queued.
    pub fn pending_script_steps(&self) -> usize {
        self.shared.script_len()
    }

    /// Forgets recorded requests, queued script steps and fail-first attempt counts.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// How many TCP connections are open right now.
    pub fn open_connections(&self) -> usize {
        self.shared.connections.open()
    }

    /// How many of the open TCP connections have not carried a request (yet):
    /// a client's pool may open spare connections, which a leak test tells
    /// apart from connections a finished request left open.
    pub fn open_connections_without_requests(&self) -> usize {
        self.shared.connections.open_unused()
    }

    /// How many TCP connections have closed since the server started.
    pub fn connections_closed(&self) -> u64 {
        self.shared.connections.closed()
    }

    /// Waits until at least `n` connections have closed, for at most `timeout`.
    /// Returns whether they had.
    pub async fn wait_for_closed(&self, n: u64, timeout: Duration) -> bool {
        let stats = &self.shared.connections;
        let wait = async {
            loop {
                let notified = stats.closed_notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if stats.closed() >= n {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }

    /// Stops accepting, ends every connection (letting in-flight responses finish for
    /// the shutdown grace) and waits for all server tasks.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        match self.runner.take() {
            Some(Runner::Task { task, .. }) => {
                let _ = task.await;
            }
            Some(Runner::Thread(thread)) => {
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }
            None => {}
        }
    }

    /// [`MockServer::shutdown`] for code that is not async. Inside an async context,
    /// prefer `shutdown().await`: this blocks the calling thread.
    ///
    /// When it returns, nothing listens on the port any more. For a server started with
    /// [`MockServerBuilder::start`] it also waits (for at most the shutdown grace plus one
    /// second) until the server task has ended its connections, except on the thread of
    /// a current-thread runtime: that runtime runs the task only once this thread is
    /// back in async code, so the connections end then.
    pub fn shutdown_blocking(mut self) {
        let _ = self.stop.send(true);
        match self.runner.take() {
            Some(Runner::Thread(thread)) => {
                let _ = thread.join();
            }
            Some(Runner::Task {
                listener, finished, ..
            }) => {
                // Closed here, not by the task, which may need this very thread to run.
                drop(lock(&listener).take());
                let bound = self.grace + SHUTDOWN_WAIT_MARGIN;
                match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
                    Err(_) => finished.wait(bound),
                    Ok(RuntimeFlavor::MultiThread) => {
                        tokio::task::block_in_place(|| finished.wait(bound));
                    }
                    // Waiting could hold up the very runtime that runs the task.
                    Ok(_) => {}
                }
            }
            None => {}
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        match self.runner.take() {
            Some(Runner::Thread(thread)) => {
                // Joining is quick: the thread stops accepting at once and drops its
                // connections after the shutdown grace.
                let _ = thread.join();
            }
            Some(Runner::Task { listener, .. }) => {
                // The task ends its connections once its runtime runs it.
                drop(lock(&listener).take());
            }
            None => {}
        }
    }
}

/// Accepts the next connection, or `None` once the listener has been closed.
fn accept(
    listener: &ListenerSlot,
) -> impl Future<Output = Option<io::Result<(TcpStream, SocketAddr)>>> + '_ {
    std::future::poll_fn(move |context| match lock(listener).as_ref() {
        Some(listener) => listener.poll_accept(context).map(Some),
        None => Poll::Ready(None),
    })
}

/// Accepts connections until told to stop, then ends them and waits for their tasks.
async fn serve(
    listener: Arc<ListenerSlot>,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
    grace: Duration,
) {
    let mut connections = JoinSet::new();
    loop {
        if *stopped.borrow_and_update() {
            break;
        }
        tokio::select! {
            changed = stopped.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            accepted = accept(&listener) => match accepted {
                Some(Ok((stream, _peer))) => {
                    connections.spawn(serve_connection(stream, Arc::clone(&shared), stopped.clone()));
                }
                Some(Err(_)) => tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await,
                None => break,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(lock(&listener).take());
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, drain).await.is_err() {
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}

/// Serves HTTP/1.1 on one connection until the client leaves or the server stops.
async fn serve_connection(
    stream: TcpStream,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let guard = ConnectionGuard::new(&shared.connections);
    // Small frames (split, one byte) should leave as written, not be coalesced.
    let _ = stream.set_nodelay(true);
    let service_shared = Arc::clone(&shared);
    let used = guard.used();
    let service = service_fn(move |request| {
        service_shared.connections.mark_used(&used);
        handle(Arc::clone(&service_shared), request)
    });
    let connection = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    if !*stopped.borrow_and_update() {
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = stopped.changed() => {}
        }
    }
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}
