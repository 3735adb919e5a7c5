//! The deadline of the blocking socket I/O running on this thread, and the ureq
//! connector that enforces it on every read and write.
//!
//! ureq fixes its timeouts when a request starts, per phase of the whole call,
//! while the exchange's deadlines move: the first-byte deadline while waiting
//! for the head, then, for every body read, the idle gap and the total
//! deadline. ureq does every read and write of a blocking call on the thread
//! that made the call, so the driver states the deadline of the I/O it is
//! about to do in a thread-local ([`IoDeadline::enter`]), and
//! [`DeadlineConnector`] wraps each connection (TCP, or TLS over TCP) in a
//! transport that cuts the timeout of every read and write down to that
//! deadline. ureq's TCP transport turns it into the socket's read or write
//! timeout, so a silent server makes the read fail with
//! `ureq::Error::Timeout(Timeout::PerRead)` when the deadline passes.
//!
//! Outside [`IoDeadline::enter`] (a connection used by nothing else) nothing is
//! cut: the wrapper only ever shortens ureq's own timeouts.

use std::cell::Cell;
use std::time::Instant;

use ureq::Timeout;
use ureq::unversioned::transport::time::Duration as UreqDuration;
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The deadline of the blocking I/O the current thread is about to do.
///
/// Set for the duration of one blocking ureq operation; restored when the
/// guard is dropped (also on unwinding), so nothing leaks into later calls.
#[derive(Debug)]
pub(crate) struct IoDeadline {
    previous: Option<Instant>,
}

impl IoDeadline {
    /// Every read and write on this thread must finish by `deadline` (`None`:
    /// no deadline of ours) until the returned guard is dropped.
    pub(crate) fn enter(deadline: Option<Instant>) -> IoDeadline {
        let previous = DEADLINE.with(|cell| cell.replace(deadline));
        IoDeadline { previous }
    }

    fn current() -> Option<Instant> {
        DEADLINE.with(Cell::get)
    }
}

impl Drop for IoDeadline {
    fn drop(&mut self) {
        DEADLINE.with(|cell| cell.set(self.previous));
    }
}

/// Cuts ureq's timeout for one read or write down to the thread's deadline.
///
/// When the deadline is the nearer one, the timeout is reported as `reason`
/// (`PerRead` or `PerWrite`), which tells the driver that its own deadline,
/// not one of ureq's, ran out.
fn cap(mut timeout: NextTimeout, reason: Timeout) -> NextTimeout {
    let Some(deadline) = IoDeadline::current() else {
        return timeout;
    };
    let left = deadline.saturating_duration_since(Instant::now());
    let shorter = match timeout.after {
        UreqDuration::Exact(after) => left < after,
        UreqDuration::NotHappening => true,
    };
    if shorter {
        timeout.after = UreqDuration::Exact(left);
        timeout.reason = reason;
    }
    timeout
}

/// The last link of the connector chain: wraps every new connection in a
/// [`DeadlineTransport`].
#[derive(Debug, Default)]
pub(crate) struct DeadlineConnector;

impl<In: Transport> Connector<In> for DeadlineConnector {
    type Out = DeadlineTransport<In>;

    fn connect(
        &self,
        _details: &ConnectionDetails<'_>,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        Ok(chained.map(|inner| DeadlineTransport { inner }))
    }
}

/// A connection whose reads and writes honour the thread's [`IoDeadline`].
#[derive(Debug)]
pub(crate) struct DeadlineTransport<T> {
    inner: T,
}

impl<T: Transport> Transport for DeadlineTransport<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.inner
            .transmit_output(amount, cap(timeout, Timeout::PerWrite))
    }

    fn maybe_await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.inner.maybe_await_input(cap(timeout, Timeout::PerRead))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.inner.await_input(cap(timeout, Timeout::PerRead))
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn no_timeout() -> NextTimeout {
        NextTimeout::default()
    }

    #[test]
    fn nothing_is_cut_without_a_deadline() {
        let t = cap(no_timeout(), Timeout::PerRead);
        assert_eq!(t, no_timeout());
    }

    #[test]
    fn the_deadline_cuts_a_longer_timeout_and_names_itself() {
        let _guard = IoDeadline::enter(Some(Instant::now() + Duration::from_millis(50)));
        let t = cap(no_timeout(), Timeout::PerRead);
        assert_eq!(t.reason, Timeout::PerRead);
        assert!(*t.after <= Duration::from_millis(50));
        let t = cap(no_timeout(), Timeout::PerWrite);
        assert_eq!(t.reason, Timeout::PerWrite);
    }

    #[test]
    fn a_shorter_ureq_timeout_is_kept() {
        let _guard = IoDeadline::enter(Some(Instant::now() + Duration::from_secs(60)));
        let mut ureq_timeout = no_timeout();
        ureq_timeout.after = UreqDuration::Exact(Duration::from_millis(5));
        ureq_timeout.reason = Timeout::Connect;
        assert_eq!(cap(ureq_timeout, Timeout::PerRead), ureq_timeout);
    }

    #[test]
    fn a_passed_deadline_leaves_no_time() {
        let _guard = IoDeadline::enter(Some(Instant::now()));
        let t = cap(no_timeout(), Timeout::PerRead);
        assert!(t.after.is_zero());
    }

    #[test]
    fn the_guard_restores_the_previous_deadline() {
        let outer = Some(Instant::now() + Duration::from_secs(1));
        let _outer = IoDeadline::enter(outer);
        {
            let _inner = IoDeadline::enter(None);
            assert_eq!(IoDeadline::current(), None);
        }
        assert_eq!(IoDeadline::current(), outer);
        drop(_outer);
        assert_eq!(IoDeadline::current(), None);
    }
}
