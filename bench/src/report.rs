//! Results: one [`Row`] per contender and scenario, passed from the child processes
//! to the parent as tab-separated lines, and printed as one Markdown table with the
//! ratios and the targets of issue 10.

use std::fmt::Write as _;

/// Which part of the benchmark a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Section {
    /// 1. SSE decoding only.
    #[default]
    Decode,
    /// 2. Decode, parse into chunk types and accumulate.
    Parse,
    /// 4. End to end over loopback, async clients.
    Loopback,
    /// 4. End to end over loopback, blocking clients.
    Blocking,
}

impl Section {
    fn code(self) -> &'static str {
        match self {
            Section::Decode => "decode",
            Section::Parse => "parse",
            Section::Loopback => "loopback",
            Section::Blocking => "blocking",
        }
    }

    fn from_code(code: &str) -> Option<Section> {
        [
            Section::Decode,
            Section::Parse,
            Section::Loopback,
            Section::Blocking,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }
}

/// What a contender is in its scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// The floor the ratios are taken against.
    #[default]
    Floor,
    /// A second, stricter reference (does the per-line work every decoder must do).
    Reference,
    /// This SDK.
    Ours,
    /// Another crate.
    Peer,
}

impl Role {
    fn code(self) -> &'static str {
        match self {
            Role::Floor => "floor",
            Role::Reference => "reference",
            Role::Ours => "ours",
            Role::Peer => "peer",
        }
    }

    fn from_code(code: &str) -> Option<Role> {
        [Role::Floor, Role::Reference, Role::Ours, Role::Peer]
            .into_iter()
            .find(|r| r.code() == code)
    }
}

/// One measured contender in one scenario (medians over the runs).
#[derive(Debug, Clone, Default)]
pub struct Row {
    /// Which table.
    pub section: Section,
    /// Corpus and read size, or the number of concurrent streams.
    pub scenario: String,
    /// Floor, reference, ours or peer.
    pub role: Role,
    /// The contender.
    pub name: String,
    /// CPU nanoseconds per event (per chunk end to end).
    pub ns_per_event: f64,
    /// Throughput over the body bytes (in-process rows).
    pub mb_per_s: f64,
    /// Chunks per second of wall time (end-to-end rows).
    pub chunks_per_s: f64,
    /// Peak resident set in KiB (end-to-end rows).
    pub rss_kib: f64,
    /// Allocations per event (per chunk end to end).
    pub allocs_per_event: f64,
    /// How many runs the medians are over.
    pub runs: usize,
}

const TAG: &str = "ROW";

impl Row {
    /// The line a child process prints for its parent.
    pub fn to_line(&self) -> String {
        format!(
            "{TAG}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            self.section.code(),
            self.scenario,
            self.role.code(),
            self.name,
            self.ns_per_event,
            self.mb_per_s,
            self.chunks_per_s,
            self.rss_kib,
            self.allocs_per_event,
            self.runs
        )
    }

    /// Reads a line written by [`Row::to_line`]; `None` for any other line.
    pub fn from_line(line: &str) -> Option<Row> {
        let mut fields = line.split('\t');
        if fields.next()? != TAG {
            return None;
        }
        let section = Section::from_code(fields.next()?)?;
        let scenario = fields.next()?.to_owned();
        let role = Role::from_code(fields.next()?)?;
        let name = fields.next()?.to_owned();
        let mut number = || fields.next()?.parse::<f64>().ok();
        Some(Row {
            section,
            scenario,
            role,
            name,
            ns_per_event: number()?,
            mb_per_s: number()?,
            chunks_per_s: number()?,
            rss_kib: number()?,
            allocs_per_event: number()?,
            runs: number()? as usize,
        })
    }
}

/// Facts measured outside the bench binary (by `cargo xtask bench`).
#[derive(Debug, Clone, Default)]
pub struct BuildFacts {
    /// Seconds for `cargo build -p nexllm-proto` from clean (dev profile).
    pub proto_build_secs: Option<f64>,
    /// Crates in nexllm-proto's normal dependency tree, itself excluded.
    pub proto_crates: Option<usize>,
}

fn find<'a>(rows: &'a [Row], section: Section, scenario: &str, role: Role) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.section == section && r.scenario == scenario && r.role == role)
}

fn find_named<'a>(
    rows: &'a [Row],
    section: Section,
    scenario: &str,
    name: &str,
) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.section == section && r.scenario == scenario && r.name.starts_with(name))
}

fn ratio(value: f64, base: f64) -> String {
    if base > 0.0 && value > 0.0 {
        format!("{:.2}×", value / base)
    } else {
        "—".to_owned()
    }
}

fn time(ns: f64) -> String {
    if ns >= 10_000.0 {
        format!("{:.1} µs", ns / 1000.0)
    } else if ns >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

fn scenarios(rows: &[Row], section: Section) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for row in rows.iter().filter(|r| r.section == section) {
        if !names.contains(&row.scenario) {
            names.push(row.scenario.clone());
        }
    }
    names
}

/// The whole report: the tables of the four parts, then the targets.
pub fn render(rows: &[Row], build: &BuildFacts) -> String {
    let mut out = String::new();
    render_in_process(&mut out, rows, Section::Decode);
    render_in_process(&mut out, rows, Section::Parse);
    render_loopback(&mut out, rows);
    render_targets(&mut out, rows, build);
    out
}

fn render_in_process(out: &mut String, rows: &[Row], section: Section) {
    let (title, floor_name, reference_col) = match section {
        Section::Decode => (
            "1. SSE decode only (3. allocations in the last column)",
            "× `\\n` scan",
            "× line floor",
        ),
        _ => (
            "2. Decode + parse + accumulate (3. allocations in the last column)",
            "× JSON floor",
            "× line floor",
        ),
    };
    let _ = writeln!(out, "### {title}\n");
    let _ = writeln!(
        out,
        "| scenario | contender | CPU/event | MB/s | {floor_name} | {reference_col} | × ours | allocs/event |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|");
    for scenario in scenarios(rows, section) {
        let floor = find(rows, section, &scenario, Role::Floor);
        // Part 2 has no line floor: its reference rows are variants of ours.
        let reference = match section {
            Section::Decode => find(rows, section, &scenario, Role::Reference),
            _ => None,
        };
        let ours = find(rows, section, &scenario, Role::Ours);
        for row in rows
            .iter()
            .filter(|r| r.section == section && r.scenario == scenario)
        {
            let name = match row.role {
                Role::Ours => format!("**{}**", row.name),
                Role::Floor | Role::Reference => format!("_{}_", row.name),
                Role::Peer => row.name.clone(),
            };
            let _ = writeln!(
                out,
                "| {scenario} | {name} | {} | {:.0} | {} | {} | {} | {:.2} |",
                time(row.ns_per_event),
                row.mb_per_s,
                ratio(row.ns_per_event, floor.map_or(0.0, |f| f.ns_per_event)),
                ratio(row.ns_per_event, reference.map_or(0.0, |f| f.ns_per_event)),
                ratio(row.ns_per_event, ours.map_or(0.0, |f| f.ns_per_event)),
                row.allocs_per_event
            );
        }
    }
    out.push('\n');
}

fn render_loopback(out: &mut String, rows: &[Row]) {
    if !rows
        .iter()
        .any(|r| matches!(r.section, Section::Loopback | Section::Blocking))
    {
        return;
    }
    let _ = writeln!(
        out,
        "### 4. End to end over loopback (client process only; 3. allocations in the last column)\n"
    );
    let _ = writeln!(
        out,
        "| streams | client | CPU/chunk | chunks/s | peak RSS | CPU × floor | RSS × floor | CPU × ours | allocs/chunk |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for section in [Section::Loopback, Section::Blocking] {
        for scenario in scenarios(rows, section) {
            let floor = find(rows, section, &scenario, Role::Floor);
            let ours = find(rows, section, &scenario, Role::Ours);
            for row in rows
                .iter()
                .filter(|r| r.section == section && r.scenario == scenario)
            {
                let name = match row.role {
                    Role::Ours => format!("**{}**", row.name),
                    Role::Floor | Role::Reference => format!("_{}_", row.name),
                    Role::Peer => row.name.clone(),
                };
                let _ = writeln!(
                    out,
                    "| {scenario} | {name} | {} | {:.0} | {:.1} MiB | {} | {} | {} | {:.2} |",
                    time(row.ns_per_event),
                    row.chunks_per_s,
                    row.rss_kib / 1024.0,
                    ratio(row.ns_per_event, floor.map_or(0.0, |f| f.ns_per_event)),
                    ratio(row.rss_kib, floor.map_or(0.0, |f| f.rss_kib)),
                    ratio(row.ns_per_event, ours.map_or(0.0, |f| f.ns_per_event)),
                    row.allocs_per_event
                );
            }
        }
    }
    out.push('\n');
}

/// One target of the issue: what was measured and whether it passes.
struct Check {
    target: String,
    measured: String,
    met: Option<bool>,
}

fn render_targets(out: &mut String, rows: &[Row], build: &BuildFacts) {
    let mut checks = Vec::new();
    let time_of = |section, scenario: &str, name: &str| {
        find_named(rows, section, scenario, name).map(checked_time)
    };
    let ours_of = |section, scenario: &str| find(rows, section, scenario, Role::Ours);

    for scenario in scenarios(rows, Section::Decode) {
        let ours = ours_of(Section::Decode, &scenario).map(checked_time);
        if scenario.contains("16 KiB") {
            let scan = find(rows, Section::Decode, &scenario, Role::Floor).map(checked_time);
            let lines =
                find(rows, Section::Decode, &scenario, Role::Reference).map(|r| r.ns_per_event);
            checks.push(at_most(
                format!("SseDecoder ≤ 2× the `\\n` scan ({scenario})"),
                ours,
                scan,
                2.0,
            ));
            if let (Some(o), Some(l)) = (ours, lines) {
                checks.push(Check {
                    target: format!("(for reference) SseDecoder ÷ line floor ({scenario})"),
                    measured: format!("{:.2}×", o / l),
                    met: None,
                });
            }
            checks.push(at_least(
                format!("SseDecoder ≥ 1.5× faster than sse-stream ({scenario})"),
                time_of(Section::Decode, &scenario, "sse-stream"),
                ours,
                1.5,
            ));
        }
        if scenario.contains("1-byte") {
            checks.push(at_least(
                format!("SseDecoder ≥ 2× faster than sse-stream ({scenario})"),
                time_of(Section::Decode, &scenario, "sse-stream"),
                ours,
                2.0,
            ));
        }
    }
    for scenario in scenarios(rows, Section::Parse) {
        let ours = ours_of(Section::Parse, &scenario);
        checks.push(at_least(
            format!("decode+parse+accumulate ≥ 3.5× faster than async-openai's path ({scenario})"),
            time_of(Section::Parse, &scenario, "eventsource-stream"),
            ours.map(checked_time),
            3.5,
        ));
        if scenario.starts_with("content") {
            if let Some(ours) = ours {
                checks.push(Check {
                    target: format!("≤ 4 allocations per content chunk ({scenario})"),
                    measured: format!("{:.2}", ours.allocs_per_event),
                    met: Some(saw_every_event(ours) && ours.allocs_per_event <= 4.0),
                });
            }
        }
    }
    for scenario in scenarios(rows, Section::Loopback) {
        if !scenario.contains("512") {
            continue;
        }
        let floor = find(rows, Section::Loopback, &scenario, Role::Floor);
        let ours = ours_of(Section::Loopback, &scenario);
        checks.push(at_most(
            format!("client CPU per chunk ≤ 1.5× raw hyper ({scenario})"),
            ours.map(|r| r.ns_per_event),
            floor.map(|r| r.ns_per_event),
            1.5,
        ));
        // The reference rows: raw hyper scanning each frame, validating its
        // JSON with serde_json, feeding ChatStreamDecoder + StreamAccumulator.
        for (name, what) in [
            ("raw hyper 1 + memchr", "raw hyper + `\\n` scan ÷ raw hyper"),
            (
                "raw hyper 1 + lines",
                "raw hyper + serde_json validation ÷ raw hyper",
            ),
        ] {
            let reference = find_named(rows, Section::Loopback, &scenario, name);
            if let (Some(reference), Some(base)) = (reference, floor) {
                checks.push(Check {
                    target: format!("(for reference) {what} ({scenario})"),
                    measured: ratio(reference.ns_per_event, base.ns_per_event),
                    met: None,
                });
            }
        }
        if let Some(parse) = find_named(
            rows,
            Section::Loopback,
            &scenario,
            "raw hyper 1 + ChatStreamDecoder",
        ) {
            for (what, value, base) in [
                ("raw hyper + parse ÷ raw hyper", Some(parse), floor),
                ("nexllm-hyper ÷ raw hyper + parse", ours, Some(parse)),
            ] {
                if let (Some(v), Some(b)) = (value, base) {
                    checks.push(Check {
                        target: format!("(for reference) {what} ({scenario})"),
                        measured: ratio(v.ns_per_event, b.ns_per_event),
                        met: None,
                    });
                }
            }
        }
        checks.push(at_most(
            format!("peak RSS ≤ 1.2× raw hyper ({scenario})"),
            ours.map(|r| r.rss_kib),
            floor.map(|r| r.rss_kib),
            1.2,
        ));
    }
    if let Some(secs) = build.proto_build_secs {
        checks.push(Check {
            target: "nexllm-proto builds from clean in < 15 s".to_owned(),
            measured: format!("{secs:.1} s"),
            met: Some(secs < 15.0),
        });
    }
    if let Some(crates) = build.proto_crates {
        checks.push(Check {
            target: "nexllm-proto pulls in ≤ 15 crates".to_owned(),
            measured: format!("{crates}"),
            met: Some(crates <= 15),
        });
    }

    let _ = writeln!(out, "### Targets\n");
    let _ = writeln!(out, "| target | measured | met |");
    let _ = writeln!(out, "|---|---:|---|");
    for check in checks {
        let met = match check.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        };
        let _ = writeln!(out, "| {} | {} | {met} |", check.target, check.measured);
    }
    out.push('\n');
}

/// The marker `compete` (reads.rs) appends to the name of a contender that did not
/// see every event of its scenario: "(saw N of M events!)".
pub const MISSED_EVENTS: &str = " events!)";

/// Whether the row's contender saw every event (its time means something).
fn saw_every_event(row: &Row) -> bool {
    !row.name.ends_with(MISSED_EVENTS)
}

/// The row's time, or NaN when it did not see every event: a target over it fails.
fn checked_time(row: &Row) -> f64 {
    if saw_every_event(row) {
        row.ns_per_event
    } else {
        f64::NAN
    }
}

/// The check of a target whose rows did not see every event.
fn events_missing(target: String) -> Check {
    Check {
        target,
        measured: "events missing".to_owned(),
        met: Some(false),
    }
}

/// `value / base ≤ limit`.
fn at_most(target: String, value: Option<f64>, base: Option<f64>, limit: f64) -> Check {
    match (value, base) {
        (Some(v), Some(b)) if v.is_nan() || b.is_nan() => events_missing(target),
        (Some(v), Some(b)) if b > 0.0 => Check {
            target,
            measured: format!("{:.2}×", v / b),
            met: Some(v / b <= limit),
        },
        _ => Check {
            target,
            measured: "not measured".to_owned(),
            met: None,
        },
    }
}

/// `slower / faster ≥ limit` (how many times faster `faster` is).
fn at_least(target: String, slower: Option<f64>, faster: Option<f64>, limit: f64) -> Check {
    match (slower, faster) {
        (Some(s), Some(f)) if s.is_nan() || f.is_nan() => events_missing(target),
        (Some(s), Some(f)) if f > 0.0 => Check {
            target,
            measured: format!("{:.2}×", s / f),
            met: Some(s / f >= limit),
        },
        _ => Check {
            target,
            measured: "not measured".to_owned(),
            met: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_survive_the_line_format() {
        let row = Row {
            section: Section::Loopback,
            scenario: "K = 64".into(),
            role: Role::Peer,
            name: "async-openai".into(),
            ns_per_event: 1234.5,
            mb_per_s: 0.0,
            chunks_per_s: 99.0,
            rss_kib: 2048.0,
            allocs_per_event: 17.25,
            runs: 5,
        };
        let back = Row::from_line(&row.to_line()).unwrap();
        assert_eq!(back.section, Section::Loopback);
        assert_eq!(back.role, Role::Peer);
        assert_eq!(back.scenario, "K = 64");
        assert_eq!(back.ns_per_event, 1234.5);
        assert_eq!(back.allocs_per_event, 17.25);
        assert_eq!(back.runs, 5);
        assert!(Row::from_line("something else").is_none());
    }

    #[test]
    fn the_parse_floor_is_a_reference_against_raw_hyper() {
        let row = |role, name: &str, ns| Row {
            section: Section::Loopback,
            scenario: "K = 512".into(),
            role,
            name: name.into(),
            ns_per_event: ns,
            rss_kib: 1024.0,
            ..Row::default()
        };
        let rows = vec![
            row(Role::Floor, "raw hyper", 1000.0),
            row(Role::Reference, "raw hyper 1 + memchr `\\n` scan", 1300.0),
            row(Role::Reference, "raw hyper 1 + lines + serde_json", 1600.0),
            row(Role::Reference, "raw hyper 1 + ChatStreamDecoder", 2000.0),
            row(Role::Ours, "nexllm-hyper", 2500.0),
        ];
        let text = render(&rows, &BuildFacts::default());
        assert!(
            text.contains("| K = 512 | _raw hyper 1 + ChatStreamDecoder_ | 2.00 µs | 0 | 1.0 MiB | 2.00× | 1.00× | 0.80× | 0.00 |"),
            "{text}"
        );
        assert!(
            text.contains("| client CPU per chunk ≤ 1.5× raw hyper (K = 512) | 2.50× | **no** |"),
            "{text}"
        );
        assert!(
            text.contains(
                "| (for reference) raw hyper + `\\n` scan ÷ raw hyper (K = 512) | 1.30× | — |"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "| (for reference) raw hyper + serde_json validation ÷ raw hyper (K = 512) | 1.60× | — |"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "| (for reference) raw hyper + parse ÷ raw hyper (K = 512) | 2.00× | — |"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "| (for reference) nexllm-hyper ÷ raw hyper + parse (K = 512) | 1.25× | — |"
            ),
            "{text}"
        );
    }

    #[test]
    fn targets_compare_the_right_rows() {
        let rows = vec![
            decode_row(Role::Floor, "memchr", 10.0),
            decode_row(Role::Ours, "SseDecoder", 30.0),
            decode_row(Role::Peer, "sse-stream", 60.0),
        ];
        let text = render(&rows, &BuildFacts::default());
        assert!(
            text.contains(
                "| SseDecoder ≤ 2× the `\\n` scan (content, 16 KiB reads) | 3.00× | **no** |"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "| SseDecoder ≥ 1.5× faster than sse-stream (content, 16 KiB reads) | 2.00× | yes |"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_row_that_missed_events_meets_no_target() {
        // `compete` flags a contender that saw the wrong number of events in its name.
        let rows = vec![
            decode_row(Role::Floor, "memchr", 10.0),
            decode_row(Role::Ours, "SseDecoder (saw 0 of 20004 events!)", 1.0),
            decode_row(Role::Peer, "sse-stream", 60.0),
        ];
        let text = render(&rows, &BuildFacts::default());
        assert!(!text.contains("| yes |"), "{text}");
    }

    /// A part 1 row of the content corpus at 16 KiB reads.
    fn decode_row(role: Role, name: &str, ns: f64) -> Row {
        Row {
            section: Section::Decode,
            scenario: "content, 16 KiB reads".into(),
            role,
            name: name.into(),
            ns_per_event: ns,
            ..Row::default()
        }
    }
}
