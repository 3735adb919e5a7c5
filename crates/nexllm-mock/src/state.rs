//! State shared by the server handle and every connection: configuration, counters,
//! recorded requests, the script queue and connection statistics.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::fault::{Fault, ResolvedFaults};
use crate::recording::RecordedRequest;
use crate::script::{Answer, ScriptStep};

/// How many requests are kept for [`MockServer::requests`](crate::MockServer::requests);
/// older ones are dropped first.
pub const MAX_RECORDED_REQUESTS: usize = 10_000;
/// How many bytes of recorded requests (bodies, headers, paths and queries) are kept
/// for [`MockServer::requests`](crate::MockServer::requests); older requests are dropped
/// first. The most recent request is always kept.
pub const MAX_RECORDED_BYTES: usize = 64 * 1024 * 1024;
/// How many distinct fail-first keys are remembered before the table is cleared.
const MAX_ATTEMPT_KEYS: usize = 10_000;

/// What the script decided for one request.
#[derive(Debug)]
pub(crate) enum ScriptDecision {
    Answer(Answer),
    Faults(Box<ResolvedFaults>),
}

#[derive(Debug)]
struct QueuedStep {
    step: ScriptStep,
    attempts_served: u32,
}

/// Open and closed connection counts, with a notification on every close.
#[derive(Debug, Default)]
pub(crate) struct ConnectionStats {
    open: AtomicUsize,
    /// Open connections that have not carried a request yet.
    open_unused: AtomicUsize,
    closed: AtomicU64,
    pub(crate) closed_notify: Notify,
}

impl ConnectionStats {
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    pub(crate) fn open_unused(&self) -> usize {
        self.open_unused.load(Ordering::SeqCst)
    }

    pub(crate) fn closed(&self) -> u64 {
        self.closed.load(Ordering::SeqCst)
    }
}

/// Counts a connection as open while it lives, and as closed once dropped;
/// as unused until [`ConnectionGuard::used`] reports its first request.
#[derive(Debug)]
pub(crate) struct ConnectionGuard<'a> {
    stats: &'a ConnectionStats,
    used: Arc<AtomicBool>,
}

impl<'a> ConnectionGuard<'a> {
    pub(crate) fn new(stats: &'a ConnectionStats) -> Self {
        stats.open.fetch_add(1, Ordering::SeqCst);
        stats.open_unused.fetch_add(1, Ordering::SeqCst);
        Self {
            stats,
            used: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The flag the connection's request handler hands to
    /// [`ConnectionStats::mark_used`] with each request.
    pub(crate) fn used(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.used)
    }
}

impl ConnectionStats {
    /// Marks a connection used (its first request); later calls do nothing.
    pub(crate) fn mark_used(&self, used: &AtomicBool) {
        if !used.swap(true, Ordering::SeqCst) {
            self.open_unused.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for ConnectionGuard<'_> {
    fn drop(&mut self) {
        if !self.used.swap(true, Ordering::SeqCst) {
            self.stats.open_unused.fetch_sub(1, Ordering::SeqCst);
        }
        self.stats.open.fetch_sub(1, Ordering::SeqCst);
        self.stats.closed.fetch_add(1, Ordering::SeqCst);
        self.stats.closed_notify.notify_waiters();
    }
}

/// The recorded requests and their size in bytes.
#[derive(Debug, Default)]
struct Recordings {
    requests: VecDeque<RecordedRequest>,
    bytes: usize,
}

/// The bytes a recorded request counts for against [`MAX_RECORDED_BYTES`].
fn recorded_bytes(request: &RecordedRequest) -> usize {
    let headers: usize = request
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    request.body.len()
        + headers
        + request.path.len()
        + request.query.as_ref().map_or(0, String::len)
}

/// Everything the server's tasks share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) api_key: Option<String>,
    pub(crate) aliases: Vec<String>,
    pub(crate) connections: ConnectionStats,
    request_serial: AtomicU64,
    completion_serial: AtomicU64,
    recorded: Mutex<Recordings>,
    script: Mutex<VecDeque<QueuedStep>>,
    attempts: Mutex<HashMap<String, u32>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn new(
        api_key: Option<String>,
        aliases: Vec<String>,
        script: Vec<ScriptStep>,
    ) -> Self {
        Self {
            api_key,
            aliases,
            connections: ConnectionStats::default(),
            request_serial: AtomicU64::new(0),
            completion_serial: AtomicU64::new(0),
            recorded: Mutex::new(Recordings::default()),
            script: Mutex::new(
                script
                    .into_iter()
                    .map(|step| QueuedStep {
                        step,
                        attempts_served: 0,
                    })
                    .collect(),
            ),
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// The next request number, from 1.
    pub(crate) fn next_request_serial(&self) -> u64 {
        self.request_serial.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The next completion number, from 1.
    pub(crate) fn next_completion_serial(&self) -> u64 {
        self.completion_serial.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub(crate) fn record(&self, request: RecordedRequest) {
        let mut guard = lock(&self.recorded);
        let recorded = &mut *guard;
        recorded.bytes += recorded_bytes(&request);
        recorded.requests.push_back(request);
        while recorded.requests.len() > MAX_RECORDED_REQUESTS
            || (recorded.bytes > MAX_RECORDED_BYTES && recorded.requests.len() > 1)
        {
            if let Some(oldest) = recorded.requests.pop_front() {
                recorded.bytes -= recorded_bytes(&oldest);
            }
        }
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.recorded).requests.iter().cloned().collect()
    }

    pub(crate) fn clear_requests(&self) {
        *lock(&self.recorded) = Recordings::default();
    }

    pub(crate) fn push_script(&self, step: ScriptStep) {
        lock(&self.script).push_back(QueuedStep {
            step,
            attempts_served: 0,
        });
    }

    pub(crate) fn script_len(&self) -> usize {
        lock(&self.script).len()
    }

    /// Takes the script's decision for the next chat completion request, if any is queued.
    pub(crate) fn next_script_decision(&self) -> Option<ScriptDecision> {
        let mut script = lock(&self.script);
        let front = script.front_mut()?;
        match &front.step {
            ScriptStep::Answer(answer) => {
                let answer = answer.clone();
                script.pop_front();
                Some(ScriptDecision::Answer(answer))
            }
            ScriptStep::Fault(fault) => {
                let served = front.attempts_served;
                let (resolved, fail_first) = ResolvedFaults::resolve(fault, served);
                if served >= fail_first {
                    script.pop_front();
                } else {
                    front.attempts_served = served.saturating_add(1);
                }
                Some(ScriptDecision::Faults(Box::new(resolved)))
            }
        }
    }

    /// Resolves a per-request fault, counting attempts under `key` when the fault has a
    /// fail-first count (other faults leave the table alone).
    pub(crate) fn resolve_counted(&self, fault: &Fault, key: String) -> ResolvedFaults {
        let mut attempts = lock(&self.attempts);
        let previous = attempts.get(&key).copied().unwrap_or(0);
        let (resolved, fail_first) = ResolvedFaults::resolve(fault, previous);
        if fail_first > 0 {
            if attempts.len() >= MAX_ATTEMPT_KEYS && !attempts.contains_key(&key) {
                attempts.clear();
            }
            attempts.insert(key, previous.saturating_add(1));
        }
        resolved
    }

    /// Forgets recorded requests, queued script steps and fail-first counts.
    pub(crate) fn reset(&self) {
        *lock(&self.recorded) = Recordings::default();
        lock(&self.script).clear();
        lock(&self.attempts).clear();
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::{HeaderMap, Method};

    use super::*;

    fn recording(index: usize, body: &Bytes) -> RecordedRequest {
        RecordedRequest {
            method: Method::POST,
            path: "/v1/chat/completions".to_owned(),
            query: None,
            headers: HeaderMap::new(),
            body: body.clone(),
            request_id: format!("req_mock_{index}"),
        }
    }

    #[test]
    fn recordings_are_bounded_in_bytes() {
        let shared = Shared::new(None, Vec::new(), Vec::new());
        let mebibyte = Bytes::from(vec![b'x'; 1 << 20]);
        let count = MAX_RECORDED_BYTES / mebibyte.len() + 10;
        for index in 0..count {
            shared.record(recording(index, &mebibyte));
        }
        let kept = shared.requests();
        let bytes: usize = kept
            .iter()
            .map(|request| request.body.len() + request.path.len())
            .sum();
        assert!(bytes <= MAX_RECORDED_BYTES, "{bytes} bytes kept");
        assert_eq!(kept.len(), MAX_RECORDED_BYTES / mebibyte.len() - 1);
        assert_eq!(
            kept[kept.len() - 1].request_id,
            format!("req_mock_{}", count - 1)
        );
        // The newest request is kept even when it alone is over the bound.
        let huge = Bytes::from(vec![b'x'; MAX_RECORDED_BYTES + 1]);
        shared.record(recording(count, &huge));
        let kept = shared.requests();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].request_id, format!("req_mock_{count}"));
        // Clearing forgets the byte count too.
        shared.clear_requests();
        for index in 0..3 {
            shared.record(recording(index, &mebibyte));
        }
        assert_eq!(shared.requests().len(), 3);
    }

    #[test]
    fn faults_without_fail_first_do_not_crowd_out_fail_first_counts() {
        let shared = Shared::new(None, Vec::new(), Vec::new());
        let fail_once = Fault::parse("fail-first=1;status=503").unwrap();
        assert!(
            shared
                .resolve_counted(&fail_once, "spec:fail".to_owned())
                .status
                .is_some()
        );
        // Many requests with other faults (each call of a client has its own idempotency key).
        for call in 0..MAX_ATTEMPT_KEYS {
            shared.resolve_counted(&Fault::Crlf, format!("idempotency-key:{call}|crlf"));
        }
        assert!(
            shared
                .resolve_counted(&fail_once, "spec:fail".to_owned())
                .status
                .is_none(),
            "the failed attempt was forgotten, so the call failed again"
        );
    }
}
