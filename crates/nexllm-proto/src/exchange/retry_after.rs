//! Reading the delay a server asks for: `retry-after-ms`, then `Retry-After`
//! as delta-seconds or as an HTTP date.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;

/// The delay a response asks for before the next try, if it asks for one.
///
/// `now` is the wall-clock time the response arrived; without it an HTTP-date
/// `Retry-After` cannot be turned into a delay and is ignored.
///
/// ```
/// use http::HeaderMap;
/// use std::time::Duration;
/// use nexllm_proto::exchange::server_retry_delay;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("retry-after", "2".parse().unwrap());
/// assert_eq!(server_retry_delay(&headers, None), Some(Duration::from_secs(2)));
/// headers.insert("retry-after-ms", "150".parse().unwrap());
/// assert_eq!(server_retry_delay(&headers, None), Some(Duration::from_millis(150)));
/// ```
pub fn server_retry_delay(headers: &HeaderMap, now: Option<SystemTime>) -> Option<Duration> {
    if let Some(ms) = header_str(headers, "retry-after-ms").and_then(parse_non_negative_number) {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = header_str(headers, "retry-after")?;
    if let Some(secs) = parse_non_negative_number(value) {
        return Some(Duration::from_secs_f64(secs));
    }
    let at = parse_http_date(value)?;
    let now = now?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

/// A non-negative decimal number (servers send `1`, `1.5`, `20.0`), at most
/// [`MAX_NUMBER`].
fn parse_non_negative_number(s: &str) -> Option<f64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    // Digits and dots parse to a number or to infinity, never to NaN. A larger
    // value still asks for a long wait: clamped, it stays longer than any
    // `max_retry_after`, so the call fails at once instead of retrying early.
    Some(v.min(MAX_NUMBER))
}

/// The largest delay number taken as it is: 1,000 days in seconds (a day in
/// milliseconds), far beyond any delay worth waiting, and small enough for
/// `Duration` arithmetic.
const MAX_NUMBER: f64 = 86_400_000.0;

/// Parses the three HTTP date formats of RFC 9110 §5.6.7: IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete RFC 850 form
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`).
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    let tokens: Vec<&str> = s.split([' ', ',', '-']).filter(|t| !t.is_empty()).collect();
    // Drop the weekday; the rest is day/month/year/time in some order.
    let rest = tokens.get(1..)?;
    let (mut day, mut month, mut year, mut time) = (None, None, None, None);
    for token in rest {
        if let Some(m) = month_number(token) {
            month = Some(m);
        } else if token.contains(':') {
            time = Some(parse_time(token)?);
        } else if token.eq_ignore_ascii_case("GMT") || token.eq_ignore_ascii_case("UTC") {
            continue;
        } else if token.bytes().all(|b| b.is_ascii_digit()) {
            let n: u32 = token.parse().ok()?;
            if day.is_none() && token.len() <= 2 {
                day = Some(n);
            } else {
                year = Some(match token.len() {
                    // RFC 850 two-digit years: RFC 9110 says interpret as the most recent
                    // past century year; for retry purposes 20xx is right.
                    2 => 2000 + n,
                    _ => n,
                });
            }
        } else {
            return None;
        }
    }
    let (day, month, year, (h, m, sec)) = (day?, month?, year?, time?);
    if !(1..=31).contains(&day) || year < 1970 || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(sec);
    let secs = u64::try_from(secs).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

fn parse_time(token: &str) -> Option<(u32, u32, u32)> {
    let mut parts = token.split(':');
    let h = parts.next()?.parse().ok()?;
    let m = parts.next()?.parse().ok()?;
    let s = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((h, m, s))
}

fn month_number(token: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    if token.len() != 3 {
        return None;
    }
    let lower = token.to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|m| *m == lower)
        .map(|i| i as u32 + 1)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn http_dates_in_all_three_formats() {
        let want = UNIX_EPOCH + Duration::from_secs(784_111_777); // 1994-11-06 08:49:37 UTC
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(want));
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT").map(|t| t
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs()
                % 86_400),
            Some(784_111_777 % 86_400)
        );
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(want));
        let y2026 = parse_http_date("Wed, 25 Nov 2026 09:00:00 GMT").unwrap();
        assert_eq!(
            y2026.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_795_597_200
        );
        for bad in [
            "",
            "soon",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:00:00 GMT",
            "Sun, 06 Nov 1994",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn http_date_fields_at_the_edges_of_their_ranges() {
        let at = |secs: u64| Some(UNIX_EPOCH + Duration::from_secs(secs));
        // 2026-11-25 00:00:00 UTC.
        let midnight = 1_795_564_800;
        // A two-digit RFC 850 year is this century's.
        assert_eq!(
            parse_http_date("Wednesday, 25-Nov-26 09:00:00 GMT"),
            at(midnight + 9 * 3600)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), at(0));
        // January and February count from March (the leap day ends the year).
        assert_eq!(
            parse_http_date("Thu, 29 Feb 2024 12:00:00 GMT"),
            at(1_709_208_000)
        );
        assert_eq!(
            parse_http_date("Fri, 01 Mar 2024 00:00:00 GMT"),
            at(1_709_251_200)
        );
        assert_eq!(
            parse_http_date("Wed, 25 Nov 2026 23:59:59 GMT"),
            at(midnight + 86_399)
        );
        // A leap second (RFC 9110: second is 00 to 60) is the next minute's first.
        assert_eq!(
            parse_http_date("Wed, 25 Nov 2026 08:59:60 GMT"),
            at(midnight + 9 * 3600)
        );
        for bad in [
            "Wed, 25 Nov 2026 24:00:00 GMT",
            "Wed, 25 Nov 2026 09:60:00 GMT",
            "Wed, 25 Nov 2026 09:00:61 GMT",
            "Wed, 31 Dec 1969 23:59:59 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn delay_sources_in_order_of_precedence() {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_597_200);
        type Case<'a> = (
            &'a [(&'a str, &'a str)],
            Option<SystemTime>,
            Option<Duration>,
        );
        let table: &[Case<'_>] = &[
            (&[], Some(now), None),
            (&[("retry-after", "3")], None, Some(Duration::from_secs(3))),
            (
                &[("retry-after", "1.5")],
                None,
                Some(Duration::from_millis(1500)),
            ),
            (&[("retry-after", "0")], None, Some(Duration::ZERO)),
            (
                &[("retry-after-ms", "250"), ("retry-after", "9")],
                None,
                Some(Duration::from_millis(250)),
            ),
            (
                &[("retry-after-ms", "junk"), ("retry-after", "9")],
                None,
                Some(Duration::from_secs(9)),
            ),
            (&[("retry-after", "-1")], None, None),
            (&[("retry-after", "NaN")], None, None),
            (&[("retry-after", "1e400")], None, None),
            // Longer than anyone waits: clamped, still a long delay, never none.
            (
                &[("retry-after", "100000000")],
                None,
                Some(Duration::from_secs(86_400_000)),
            ),
            (
                &[("retry-after-ms", "999999999999"), ("retry-after", "1")],
                None,
                Some(Duration::from_secs(86_400)),
            ),
            (
                &[("retry-after", &*format!("1{}", "0".repeat(400)))],
                None,
                Some(Duration::from_secs(86_400_000)),
            ),
            (
                &[("retry-after", "Wed, 25 Nov 2026 09:00:07 GMT")],
                Some(now),
                Some(Duration::from_secs(7)),
            ),
            (
                &[("retry-after", "Wed, 25 Nov 2026 08:59:00 GMT")],
                Some(now),
                Some(Duration::ZERO),
            ),
            (
                &[("retry-after", "Wed, 25 Nov 2026 09:00:07 GMT")],
                None,
                None,
            ),
        ];
        for (pairs, wall, want) in table {
            assert_eq!(
                server_retry_delay(&headers(pairs), *wall),
                *want,
                "{pairs:?}"
            );
        }
    }
}
