//! [`AbsoluteForm`]: turns the requests written on a connection to a forward
//! proxy into the form a proxy expects, `POST /v1/chat/completions HTTP/1.1`
//! into `POST http://host:port/v1/chat/completions HTTP/1.1`, with the
//! proxy's `Proxy-Authorization` header right after that line.
//!
//! ureq writes every request line in origin form (ureq-proto's
//! `AmendedRequest::prelude` takes the URI's path and query), and has no
//! setting for the absolute form an HTTP proxy needs for a plain `http://`
//! URL (it only tunnels, with `CONNECT`). So the bytes ureq writes pass
//! through this rewriter on their way to the proxy. It follows the requests
//! of the connection one after another, each cut anywhere into writes: the
//! request line (rewritten), the header lines (passed on; `Content-Length`
//! says how long the body is), the body (passed on untouched). No I/O here.
//!
//! With the proxy's credentials, a `Proxy-Authorization` header of the
//! caller's (any case, any number of them) is dropped: exactly one goes to
//! the proxy, the proxy URL's, as nexllm-hyper sends it. Without them, the
//! caller's header goes through as it is.
//!
//! What it cannot frame is an error, never a guess: a request line not in
//! origin form, a line longer than [`MAX_LINE_BYTES`], a body sent with
//! `Transfer-Encoding` (the client's bodies always have a length), a
//! `Content-Length` that is not one number. The call then fails with a
//! transport error of kind `Request`, not retried: the same request would
//! fail the same way.

use std::fmt;

/// The longest request line or header line accepted, line end included.
pub(crate) const MAX_LINE_BYTES: usize = 64 * 1024;

/// Where the rewriter is in the requests written on its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before a request line: between two requests, or part of one read.
    RequestLine,
    /// Among the header lines of a request.
    Headers,
    /// In a request body, with this many bytes left.
    Body { left: u64 },
    /// After an error: nothing more is accepted.
    Failed,
}

/// Rewrites the request lines of the requests written on one connection to a
/// forward proxy (see the module docs).
pub(crate) struct AbsoluteForm {
    /// `http://host[:port]`, put before each origin-form target.
    origin: String,
    /// The value of the `Proxy-Authorization` header (`Basic ...`), if any.
    proxy_authorization: Option<String>,
    state: State,
    /// The line being read, while it is incomplete.
    line: Vec<u8>,
    /// The body length of the request whose headers are being read.
    content_length: Option<u64>,
}

impl AbsoluteForm {
    /// A rewriter for requests to `origin` (`http://host[:port]`, no path),
    /// adding `Proxy-Authorization: {proxy_authorization}` to each in place
    /// of any the request has.
    pub(crate) fn new(origin: String, proxy_authorization: Option<String>) -> AbsoluteForm {
        AbsoluteForm {
            origin,
            proxy_authorization,
            state: State::RequestLine,
            line: Vec::new(),
            content_length: None,
        }
    }

    /// Whether every request written so far is complete, so that the
    /// connection may carry another.
    pub(crate) fn between_requests(&self) -> bool {
        self.state == State::RequestLine && self.line.is_empty()
    }

    /// Takes the next bytes written on the connection and appends what must
    /// be sent instead to `out`. A line cut by the end of `written` is held
    /// until the rest arrives. After an error every call fails.
    pub(crate) fn rewrite(
        &mut self,
        mut written: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), AbsoluteFormError> {
        while !written.is_empty() {
            match self.state {
                State::Failed => return Err(AbsoluteFormError("an earlier request failed")),
                State::Body { left } => {
                    let take =
                        usize::try_from(left).map_or(written.len(), |l| l.min(written.len()));
                    let (body, rest) = written.split_at(take);
                    out.extend_from_slice(body);
                    written = rest;
                    // `take` is at most `left`, so this cannot underflow.
                    let left = left.saturating_sub(take as u64);
                    self.state = if left == 0 {
                        State::RequestLine
                    } else {
                        State::Body { left }
                    };
                }
                State::RequestLine | State::Headers => {
                    let (part, rest, complete) = match find_newline(written) {
                        Some(end) => {
                            let (line, rest) = written.split_at(end + 1);
                            (line, rest, true)
                        }
                        None => (written, &[][..], false),
                    };
                    written = rest;
                    if self.line.len() + part.len() > MAX_LINE_BYTES {
                        return Err(self.fail("a request line or header line is too long"));
                    }
                    self.line.extend_from_slice(part);
                    if complete {
                        let line = std::mem::take(&mut self.line);
                        let result = self.complete_line(&line, out);
                        // Keep the allocation for the next line.
                        self.line = line;
                        self.line.clear();
                        result?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Handles one whole line (its `\r\n` included).
    fn complete_line(&mut self, line: &[u8], out: &mut Vec<u8>) -> Result<(), AbsoluteFormError> {
        let Some(content) = line.strip_suffix(b"\r\n") else {
            return Err(self.fail("a line does not end with CRLF"));
        };
        match self.state {
            State::RequestLine => {
                let Some((method, target, version)) = split_request_line(content) else {
                    return Err(self.fail("the request line is not `METHOD /path HTTP/1.x`"));
                };
                out.extend_from_slice(method);
                out.push(b' ');
                out.extend_from_slice(self.origin.as_bytes());
                out.extend_from_slice(target);
                out.push(b' ');
                out.extend_from_slice(version);
                out.extend_from_slice(b"\r\n");
                if let Some(value) = &self.proxy_authorization {
                    out.extend_from_slice(b"Proxy-Authorization: ");
                    out.extend_from_slice(value.as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
                self.content_length = None;
                self.state = State::Headers;
            }
            State::Headers if content.is_empty() => {
                out.extend_from_slice(line);
                self.state = match self.content_length.take() {
                    Some(left) if left > 0 => State::Body { left },
                    _ => State::RequestLine,
                };
            }
            State::Headers => {
                let Some(colon) = content.iter().position(|&b| b == b':') else {
                    return Err(self.fail("a header line has no colon"));
                };
                let (name, value) = content.split_at(colon);
                let value = value.get(1..).unwrap_or_default().trim_ascii();
                if self.proxy_authorization.is_some()
                    && name.eq_ignore_ascii_case(b"proxy-authorization")
                {
                    // The proxy URL's credentials, written after the request
                    // line, replace the caller's: one header goes out, as
                    // with nexllm-hyper.
                    return Ok(());
                }
                if name.eq_ignore_ascii_case(b"transfer-encoding") {
                    return Err(self.fail(
                        "a request body without a Content-Length cannot be framed for the proxy",
                    ));
                }
                if name.eq_ignore_ascii_case(b"content-length") {
                    let length = parse_length(value)
                        .ok_or_else(|| self.fail("the Content-Length is not a number"))?;
                    if self.content_length.is_some_and(|earlier| earlier != length) {
                        return Err(self.fail("the request has two different Content-Lengths"));
                    }
                    self.content_length = Some(length);
                }
                out.extend_from_slice(line);
            }
            State::Body { .. } | State::Failed => {
                return Err(self.fail("a line was read outside the request head"));
            }
        }
        Ok(())
    }

    fn fail(&mut self, why: &'static str) -> AbsoluteFormError {
        self.state = State::Failed;
        AbsoluteFormError(why)
    }
}

impl fmt::Debug for AbsoluteForm {
    // The Proxy-Authorization value is a credential: only say whether there is one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbsoluteForm")
            .field("origin", &self.origin)
            .field("proxy_authorization", &self.proxy_authorization.is_some())
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Why a request could not be written for the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AbsoluteFormError(&'static str);

impl fmt::Display for AbsoluteFormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot write the request in absolute form for the proxy: {}",
            self.0
        )
    }
}

impl std::error::Error for AbsoluteFormError {}

fn find_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

/// `METHOD SP /target SP HTTP/x.y`, the target in origin form.
fn split_request_line(line: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let mut parts = line.split(|&b| b == b' ');
    let method = parts.next()?;
    let target = parts.next()?;
    let version = parts.next()?;
    let well_formed = parts.next().is_none()
        && !method.is_empty()
        && method.iter().all(u8::is_ascii_alphabetic)
        && target.starts_with(b"/")
        && version.starts_with(b"HTTP/");
    well_formed.then_some((method, target, version))
}

/// A `Content-Length` value: ASCII digits only, as RFC 9110 has it.
fn parse_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "http://api.example.com:8080";

    fn rewriter(credentials: bool) -> AbsoluteForm {
        AbsoluteForm::new(
            ORIGIN.to_owned(),
            credentials.then(|| "Basic dXNlcjpwYXNz".to_owned()),
        )
    }

    /// Feeds `pieces` in turn and returns everything written.
    fn feed(form: &mut AbsoluteForm, pieces: &[&[u8]]) -> Result<Vec<u8>, AbsoluteFormError> {
        let mut out = Vec::new();
        for piece in pieces {
            form.rewrite(piece, &mut out)?;
        }
        Ok(out)
    }

    const TWO_REQUESTS: &[u8] = b"POST /v1/chat/completions HTTP/1.1\r\n\
        host: api.example.com:8080\r\ncontent-length: 5\r\n\r\nhello\
        GET /v1/models HTTP/1.1\r\nhost: api.example.com:8080\r\n\r\n";

    const TWO_REWRITTEN: &[u8] =
        b"POST http://api.example.com:8080/v1/chat/completions HTTP/1.1\r\n\
        Proxy-Authorization: Basic dXNlcjpwYXNz\r\n\
        host: api.example.com:8080\r\ncontent-length: 5\r\n\r\nhello\
        GET http://api.example.com:8080/v1/models HTTP/1.1\r\n\
        Proxy-Authorization: Basic dXNlcjpwYXNz\r\n\
        host: api.example.com:8080\r\n\r\n";

    #[test]
    fn every_request_line_names_the_origin() {
        let mut form = rewriter(true);
        assert_eq!(feed(&mut form, &[TWO_REQUESTS]).unwrap(), TWO_REWRITTEN);
        assert!(form.between_requests());
    }

    #[test]
    fn without_credentials_no_proxy_authorization() {
        let mut form = rewriter(false);
        let out = feed(
            &mut form,
            &[b"GET /v1/models?x=1 HTTP/1.1\r\nhost: h\r\n\r\n"],
        )
        .unwrap();
        assert_eq!(
            out,
            b"GET http://api.example.com:8080/v1/models?x=1 HTTP/1.1\r\nhost: h\r\n\r\n"
        );
    }

    #[test]
    fn the_same_bytes_come_out_wherever_the_writes_are_cut() {
        for first in 0..=TWO_REQUESTS.len() {
            for second in first..=TWO_REQUESTS.len() {
                let mut form = rewriter(true);
                let out = feed(
                    &mut form,
                    &[
                        &TWO_REQUESTS[..first],
                        &TWO_REQUESTS[first..second],
                        &TWO_REQUESTS[second..],
                    ],
                )
                .unwrap();
                assert_eq!(out, TWO_REWRITTEN, "cut at {first} and {second}");
                assert!(form.between_requests());
            }
        }
    }

    #[test]
    fn a_body_is_passed_on_untouched_even_when_it_looks_like_a_request() {
        let body = b"GET /not/a/request HTTP/1.1\r\n\r\n";
        let mut request = format!(
            "POST /v1/x HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        let mut form = rewriter(false);
        let out = feed(&mut form, &[&request]).unwrap();
        assert!(out.ends_with(body));
        assert!(out.starts_with(b"POST http://api.example.com:8080/v1/x HTTP/1.1\r\n"));
        assert!(form.between_requests());
    }

    #[test]
    fn mid_request_the_connection_is_not_between_requests() {
        let mut form = rewriter(false);
        let mut out = Vec::new();
        form.rewrite(
            b"POST /v1/x HTTP/1.1\r\ncontent-length: 3\r\n\r\nab",
            &mut out,
        )
        .unwrap();
        assert!(!form.between_requests());
        form.rewrite(b"c", &mut out).unwrap();
        assert!(form.between_requests());
        form.rewrite(b"GET /v1/mo", &mut out).unwrap();
        assert!(!form.between_requests());
    }

    #[test]
    fn what_cannot_be_framed_is_an_error() {
        let table: &[(&[u8], &str)] = &[
            (b"CONNECT example.com:80 HTTP/1.1\r\n", "request line"),
            (b"GET http://other/ HTTP/1.1\r\n", "request line"),
            (b"GET * HTTP/1.1\r\n", "request line"),
            (b"GET /x\r\n", "request line"),
            (b"GET /x HTTP/1.1 extra\r\n", "request line"),
            (b"GET /x HTTP/1.1\n", "CRLF"),
            (
                b"POST /x HTTP/1.1\r\ntransfer-encoding: chunked\r\n",
                "Content-Length",
            ),
            (
                b"POST /x HTTP/1.1\r\ncontent-length: -1\r\n",
                "not a number",
            ),
            (
                b"POST /x HTTP/1.1\r\ncontent-length: 1, 1\r\n",
                "not a number",
            ),
            (b"POST /x HTTP/1.1\r\ncontent-length:\r\n", "not a number"),
            (
                b"POST /x HTTP/1.1\r\ncontent-length: 99999999999999999999999\r\n",
                "not a number",
            ),
            (
                b"POST /x HTTP/1.1\r\ncontent-length: 1\r\nContent-Length: 2\r\n",
                "two different",
            ),
            (b"POST /x HTTP/1.1\r\nno colon here\r\n", "no colon"),
        ];
        for (written, says) in table {
            let mut form = rewriter(true);
            let error = feed(&mut form, &[written]).unwrap_err();
            let shown = error.to_string();
            assert!(
                shown.contains(says),
                "{:?}: {shown}",
                String::from_utf8_lossy(written)
            );
            assert!(!shown.contains("dXNlcjpwYXNz"), "{shown}");
            assert!(!form.between_requests());
            // And nothing more is accepted.
            assert!(feed(&mut form, &[b"GET / HTTP/1.1\r\n\r\n"]).is_err());
        }
    }

    #[test]
    fn repeating_the_same_content_length_is_fine() {
        let mut form = rewriter(false);
        let out = feed(
            &mut form,
            &[b"POST /x HTTP/1.1\r\ncontent-length: 2\r\nContent-Length: 2\r\n\r\nok"],
        )
        .unwrap();
        assert!(out.ends_with(b"\r\n\r\nok"));
        assert!(form.between_requests());
    }

    #[test]
    fn lines_are_bounded() {
        let mut form = rewriter(false);
        let mut out = Vec::new();
        form.rewrite(b"GET /", &mut out).unwrap();
        let long = vec![b'a'; MAX_LINE_BYTES];
        let error = form.rewrite(&long, &mut out).unwrap_err();
        assert!(error.to_string().contains("too long"), "{error}");
        assert!(out.is_empty());

        // A header line just within the bound passes.
        let mut form = rewriter(false);
        let mut head = b"GET / HTTP/1.1\r\nx-long: ".to_vec();
        let filler = MAX_LINE_BYTES - "x-long: \r\n".len();
        head.extend(std::iter::repeat_n(b'b', filler));
        head.extend_from_slice(b"\r\n\r\n");
        assert!(form.rewrite(&head, &mut out).is_ok());
        assert!(form.between_requests());
    }

    #[test]
    fn the_proxy_urls_credentials_replace_the_callers() {
        // The caller's own `Proxy-Authorization`, in any case, once or twice:
        // with credentials in the proxy URL, only the URL's goes out.
        let written: &[u8] = b"POST /v1/x HTTP/1.1\r\nhost: h\r\n\
            proxy-authorization: Basic bWluZTptaW5l\r\ncontent-length: 2\r\n\
            PROXY-Authorization:Basic b3RoZXI6b3RoZXI=\r\n\r\nok";
        let replaced: &[u8] = b"POST http://api.example.com:8080/v1/x HTTP/1.1\r\n\
            Proxy-Authorization: Basic dXNlcjpwYXNz\r\n\
            host: h\r\ncontent-length: 2\r\n\r\nok";
        for cut in 0..=written.len() {
            let mut form = rewriter(true);
            let out = feed(&mut form, &[&written[..cut], &written[cut..]]).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(replaced),
                "cut at {cut}"
            );
            assert!(form.between_requests());
        }

        // Without credentials in the URL, the caller's headers go through unchanged.
        let mut form = rewriter(false);
        let out = feed(&mut form, &[written]).unwrap();
        let mut kept = b"POST http://api.example.com:8080/v1/x HTTP/1.1\r\n".to_vec();
        kept.extend_from_slice(&written[b"POST /v1/x HTTP/1.1\r\n".len()..]);
        assert_eq!(out, kept);
    }

    #[test]
    fn a_body_line_like_proxy_authorization_is_left_alone() {
        let body = b"proxy-authorization: x\r\n";
        let mut request = format!(
            "POST /v1/x HTTP/1.1\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        let mut form = rewriter(true);
        let out = feed(&mut form, &[&request]).unwrap();
        assert!(out.ends_with(body), "{}", String::from_utf8_lossy(&out));
    }

    #[test]
    fn debug_never_shows_the_credentials() {
        let shown = format!("{:?}", rewriter(true));
        assert!(!shown.contains("dXNlcjpwYXNz"), "{shown}");
        assert!(shown.contains("proxy_authorization: true"), "{shown}");
    }
}
