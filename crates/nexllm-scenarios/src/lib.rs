//! Integration scenarios against nexllm-mock that every nexllm transport runs, so the transports cannot drift.
//!
//! A transport's tests implement [`Driver`] (a few lines: make a client from
//! the given [`Config`], make the call, report what it saw as an
//! [`Observed`]) and run the table:
//!
//! ```text
//! #[test]
//! fn scenarios() {
//!     nexllm_scenarios::run_all(&MyDriver).unwrap();
//! }
//! ```
//!
//! or one test per scenario with [`run_named`]. Each scenario starts its own
//! [`MockServer`] (key [`API_KEY`]), so request counts and `fail-first`
//! counters never leak between scenarios. Timeouts are tens of milliseconds,
//! so the table runs in a few seconds; nothing sleeps to wait.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod checks;
mod table;

use std::fmt;
use std::time::{Duration, Instant};

use nexllm_mock::{MockServer, RecordedRequest};
use nexllm_proto::types::ModelList;
use nexllm_proto::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Config, Error};

pub use table::scenarios;

/// The API key every scenario's mock server expects.
pub const API_KEY: &str = "sk-scenario-0123456789abcdef";

/// The deadline of every call unless a scenario sets its own, so that a
/// transport that hangs fails the scenario instead of the whole test run.
pub const DEFAULT_TOTAL_TIMEOUT: Duration = Duration::from_secs(10);

/// What a transport must do for the scenarios: one call, made with a fresh
/// client built from `config`, reported as it was seen.
pub trait Driver {
    /// The transport's name, shown in failure reports.
    fn name(&self) -> &'static str;

    /// A non-streaming chat completion (`create_with_response` or equivalent).
    /// `chunks` stays empty and `accumulated` `None`; `headers` and
    /// `request_id` come from the response on success (`None` on error).
    fn chat(&self, config: Config, request: ChatCompletionRequest) -> Observed;

    /// A streamed chat completion: every chunk the stream yielded, then
    /// `result` is the final completion (or the error the stream or its
    /// creation ended with), `accumulated` the stream's accumulated
    /// completion (`None` when the stream could not be created), and the
    /// stream's headers and request id.
    fn stream(&self, config: Config, request: ChatCompletionRequest) -> Observed;

    /// `GET /models`.
    fn models(&self, config: Config) -> Result<ModelList, Error>;
}

/// What a transport saw during one call.
#[derive(Debug)]
pub struct Observed {
    /// The chunks a stream yielded, in order (empty for a non-streaming call).
    pub chunks: Vec<ChatCompletionChunk>,
    /// The completion, or the error the call ended with.
    pub result: Result<ChatCompletion, Error>,
    /// For a stream, the accumulated completion at the end (after an error too).
    pub accumulated: Option<ChatCompletion>,
    /// The response headers, when the transport exposes them for this outcome.
    pub headers: Option<http::HeaderMap>,
    /// The request id the transport reports.
    pub request_id: Option<String>,
}

impl Observed {
    /// An observation of a call that failed before yielding anything.
    pub fn failed(error: Error) -> Self {
        Observed {
            chunks: Vec::new(),
            result: Err(error),
            accumulated: None,
            headers: None,
            request_id: None,
        }
    }
}

/// Which call a scenario makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// [`Driver::chat`].
    Chat,
    /// [`Driver::stream`].
    Stream,
    /// [`Driver::models`].
    Models,
}

/// Everything a scenario's check can look at.
#[derive(Debug)]
pub struct Run {
    /// What the transport saw (chat and stream calls).
    pub observed: Option<Observed>,
    /// The model list result (models calls).
    pub models: Option<Result<ModelList, Error>>,
    /// What the mock server received.
    pub requests: Vec<RecordedRequest>,
    /// How long the call took, measured around the driver.
    pub elapsed: Duration,
    /// Connections the mock still had open when the call returned.
    pub open_connections: usize,
}

/// One entry of the table.
pub struct Scenario {
    /// A unique snake_case name.
    pub name: &'static str,
    /// The call to make.
    pub call: Call,
    /// The request (ignored for [`Call::Models`]).
    pub request: fn() -> ChatCompletionRequest,
    /// Adjusts the base configuration (key, base URL, a 10 s total timeout):
    /// a fault header, retries, timeouts, limits.
    pub config: fn(Config) -> Result<Config, Error>,
    /// What must hold afterwards.
    pub check: fn(&Run) -> Result<(), String>,
}

impl fmt::Debug for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scenario")
            .field("name", &self.name)
            .field("call", &self.call)
            .finish_non_exhaustive()
    }
}

/// Runs one scenario against a fresh mock server.
pub fn run(driver: &dyn Driver, scenario: &Scenario) -> Result<(), String> {
    let server = MockServer::builder()
        .api_key(API_KEY)
        .start_blocking()
        .map_err(|e| format!("could not start the mock server: {e}"))?;
    let base = Config::new(API_KEY)
        .base_url(server.base_url())
        .total_timeout(Some(DEFAULT_TOTAL_TIMEOUT));
    let config = (scenario.config)(base).map_err(|e| format!("bad scenario config: {e}"))?;
    let started = Instant::now();
    let (observed, models) = match scenario.call {
        Call::Chat => (Some(driver.chat(config, (scenario.request)())), None),
        Call::Stream => (Some(driver.stream(config, (scenario.request)())), None),
        Call::Models => (None, Some(driver.models(config))),
    };
    let elapsed = started.elapsed();
    let run = Run {
        observed,
        models,
        requests: server.requests(),
        elapsed,
        open_connections: server.open_connections(),
    };
    let verdict = (scenario.check)(&run);
    server.shutdown_blocking();
    verdict.map_err(|why| {
        format!(
            "{}: {}: {why}\n  run: {}",
            driver.name(),
            scenario.name,
            summary(&run)
        )
    })
}

/// Runs the scenario called `name` (for one test per scenario).
pub fn run_named(driver: &dyn Driver, name: &str) -> Result<(), String> {
    let table = scenarios();
    let scenario = table
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| format!("no scenario named {name:?}"))?;
    run(driver, scenario)
}

/// Runs every scenario, each against a fresh mock server, and reports every failure.
pub fn run_all(driver: &dyn Driver) -> Result<(), String> {
    let table = scenarios();
    let failures: Vec<String> = table
        .iter()
        .filter_map(|scenario| run(driver, scenario).err())
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} scenarios failed:\n{}",
            failures.len(),
            table.len(),
            failures.join("\n")
        ))
    }
}

/// Checks that `error` is a proxy's 407 refusal as every transport reports
/// it (to CONNECT or to a forward request alike): a `Proxy` transport error
/// with that status, never retried, whose text says `says` and never
/// quotes the credentials (the tests' wrong password is `wrong`). The proxy
/// itself is the transport test's own, so this is a check, not a scenario.
pub fn proxy_refusal(error: &Error, says: &str) -> Result<(), String> {
    use checks::ensure;
    let Error::Transport(e) = error else {
        return Err(format!("expected the proxy's refusal, got {error:?}"));
    };
    ensure(e.kind == nexllm_proto::TransportErrorKind::Proxy, || {
        format!("not a proxy error: {e:?}")
    })?;
    ensure(
        e.proxy_status == Some(http::StatusCode::PROXY_AUTHENTICATION_REQUIRED),
        || format!("not the proxy's 407: {e:?}"),
    )?;
    ensure(e.attempts == 1, || format!("never retried: {e:?}"))?;
    let shown = e.to_string();
    ensure(shown.contains("407"), || format!("no status: {shown}"))?;
    ensure(shown.contains(says), || {
        format!("does not say {says:?}: {shown}")
    })?;
    ensure(!shown.contains("wrong"), || {
        format!("quotes the credentials: {shown}")
    })
}

/// The names of every scenario, in table order.
pub fn scenario_names() -> Vec<&'static str> {
    scenarios().iter().map(|s| s.name).collect()
}

/// Generates one `#[test]` per scenario for a driver, plus a test that the
/// generated list matches the table (so a new scenario cannot go unrun).
///
/// ```text
/// nexllm_scenarios::scenario_tests!(MyDriver::new());
/// ```
#[macro_export]
macro_rules! scenario_tests {
    ($driver:expr) => {
        $crate::scenario_tests!(@each $driver;
            chat_plain,
            chat_response_headers,
            chat_tool_result_round_trip,
            stream_plain_with_usage,
            stream_two_choices,
            stream_tool_call_assembled,
            retry_after_429_then_success,
            retries_exhausted_503,
            should_retry_false_is_final,
            wrong_key_401,
            unknown_model_404,
            invalid_request_sends_nothing,
            html_error_page_kept,
            chat_close_before_head_retried,
            stream_close_before_head_retried,
            chat_close_mid_body_retried,
            stream_close_mid_stream_keeps_partial,
            stream_error_event,
            stream_malformed_chunk,
            chat_malformed_body,
            stream_split_frames,
            stream_split_seeded,
            stream_crlf,
            stream_one_byte_at_a_time,
            stream_idle_timeout,
            chat_idle_timeout,
            first_byte_timeout_retried,
            total_deadline,
            stream_total_deadline_keeps_partial,
            stream_json_error_200,
            stream_without_done_but_finished,
            stream_aborted_instead_of_done,
            stream_endless_line_is_bounded,
            models_list,
            models_retried,
        );
    };
    (@each $driver:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let result = $crate::run_named(&$driver, stringify!($name));
                assert!(result.is_ok(), "{}", result.err().unwrap_or_default());
            }
        )*

        #[test]
        fn every_scenario_has_a_test() {
            let generated: &[&str] = &[$(stringify!($name)),*];
            assert_eq!(generated, $crate::scenario_names().as_slice());
        }
    };
}

fn summary(run: &Run) -> String {
    let mut out = format!(
        "{} request(s), {:?} elapsed",
        run.requests.len(),
        run.elapsed
    );
    if let Some(observed) = &run.observed {
        out.push_str(&format!(", {} chunk(s), result ", observed.chunks.len()));
        match &observed.result {
            Ok(c) => out.push_str(&format!("Ok(content {:?})", c.content())),
            Err(e) => out.push_str(&format!("Err({e:?})")),
        }
    }
    if let Some(models) = &run.models {
        out.push_str(&format!(
            ", models {:?}",
            models.as_ref().map(|m| m.data.len())
        ));
    }
    out
}
