//! `nexllm-bench`: this SDK against its peers, printed as one table.
//!
//! ```text
//! nexllm-bench all [--runs N] [--e2e-runs N] [--quick] [--only PARTS] [--out FILE]
//!                  [--proto-build-secs S] [--proto-crates N]
//! ```
//!
//! `all` runs every part, each in a child process of this same binary (so that the
//! peak RSS of one client never mixes with another's), and prints the Markdown
//! table. The children's subcommands are internal: `part decode|parse`, `serve`,
//! `client`. Run it through `cargo xtask bench`, which builds it in release mode.

mod alloc_count;
mod corpus;
mod decode;
mod interleave;
mod loopback;
mod machine;
mod measure;
mod parse;
mod reads;
mod report;

use std::io::Write as _;
use std::process::{Command, ExitCode, Stdio};

use loopback::{Kind, Server};
use report::{BuildFacts, Row};

#[global_allocator]
static ALLOCATOR: alloc_count::CountingAllocator = alloc_count::CountingAllocator;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("all") => all(&args[1..]),
        Some("part") => part(&args[1..]),
        Some("serve") => value(&args[1..], "--chunks").and_then(loopback::serve),
        Some("client") => client(&args[1..]),
        Some("profile") => profile(&args[1..]),
        Some("interleave") => interleave(&args[1..]),
        Some("allocs") => {
            print!("{}", parse::allocation_breakdown());
            Ok(())
        }
        _ => Err(format!("usage: nexllm-bench all [options]\n\n{OPTIONS}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("nexllm-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

const OPTIONS: &str = "options of `all`:
  --runs N              timed runs per in-process contender (median; default 9)
  --e2e-runs N          client processes per end-to-end row (median; default 5)
  --quick               small corpora and few runs, to check that everything works
  --only PARTS          comma-separated: decode, parse, loopback, blocking (default all)
  --out FILE            also write the report to FILE
  --proto-build-secs S  (from cargo xtask bench) nexllm-proto's clean build time
  --proto-crates N      (from cargo xtask bench) crates in nexllm-proto's tree";

/// The value after `flag`, parsed.
fn value<T: std::str::FromStr>(args: &[String], flag: &str) -> Result<T, String> {
    let at = args
        .iter()
        .position(|a| a == flag)
        .ok_or_else(|| format!("missing {flag}"))?;
    args.get(at + 1)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{flag} needs a value"))
}

fn optional<T: std::str::FromStr>(args: &[String], flag: &str) -> Result<Option<T>, String> {
    if args.iter().any(|a| a == flag) {
        value(args, flag).map(Some)
    } else {
        Ok(None)
    }
}

/// `part decode|parse --runs N [--quick]`: runs an in-process part, prints its rows.
fn part(args: &[String]) -> Result<(), String> {
    let runs = value(args, "--runs")?;
    let quick = args.iter().any(|a| a == "--quick");
    let rows = match args.first().map(String::as_str) {
        Some("decode") => decode::run(runs, quick),
        Some("parse") => parse::run(runs, quick),
        other => return Err(format!("no part {other:?}")),
    };
    let mut stdout = std::io::stdout().lock();
    for row in rows {
        writeln!(stdout, "{}", row.to_line()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// `client KIND --port P --streams K --chunks N`: one end-to-end measurement.
fn client(args: &[String]) -> Result<(), String> {
    let kind = args
        .first()
        .and_then(|k| Kind::from_code(k))
        .ok_or("client: name a client")?;
    let row = loopback::client(
        kind,
        value(args, "--port")?,
        value(args, "--streams")?,
        value(args, "--chunks")?,
    )?;
    println!("{}", row.to_line());
    Ok(())
}

/// `profile WHAT SHAPE [--times N] [--per-event | --one-byte]`: runs one in-process contender
/// over the 20,000-chunk corpus (16 KiB reads, one read per event, or 1-byte reads) N times, for callgrind
/// or perf. WHAT is one of `sse`, `sse-ref`, `sse-stream`, `eventsource`, `lines`, `chat`,
/// `chat-bytes`, `async-openai`, `json-floor`; SHAPE is `content`, `tool-call` or `crlf`.
fn profile(args: &[String]) -> Result<(), String> {
    let what = args.first().ok_or("profile: name a contender")?;
    let shape = match args.get(1).map(String::as_str) {
        Some("content") | None => corpus::Shape::Content,
        Some("tool-call") => corpus::Shape::ToolCall,
        Some("crlf") => corpus::Shape::Crlf,
        Some(other) => return Err(format!("profile: no shape {other:?}")),
    };
    let times: usize = optional(args, "--times")?.unwrap_or(10);
    let corpus = corpus::generate(shape, 20_000);
    let size = if args.iter().any(|a| a == "--per-event") {
        reads::ReadSize::PerEvent
    } else if args.iter().any(|a| a == "--one-byte") {
        reads::ReadSize::Fixed(1)
    } else {
        reads::ReadSize::Fixed(16 * 1024)
    };
    let reads = reads::Reads::new(&corpus.body, size);
    let run: fn(&reads::Reads) -> u64 = match what.as_str() {
        "sse" => decode::sse_decoder,
        "sse-ref" => decode::sse_decoder_borrowed,
        "sse-bytes" => decode::sse_decoder_bytes,
        "sse-stream" => decode::sse_stream,
        "eventsource" => decode::eventsource_stream,
        "lines" => decode::line_floor,
        "shared-floor" => decode::shared_floor,
        "chat" => parse::nexllm,
        "chat-owned" => parse::nexllm_owned,
        "chat-bytes" => parse::nexllm_bytes,
        "async-openai" => parse::async_openai_path,
        "json-floor" => parse::json_floor,
        other => return Err(format!("profile: no contender {other:?}")),
    };
    let mut events = 0;
    for _ in 0..times {
        events += run(&reads);
    }
    println!("{what}: {events} events over {times} runs");
    Ok(())
}

/// `interleave WORK [--streams K] [--chunks N] [--times T]`: part 2 with K streams
/// decoded in turn (see `interleave.rs`); WORK is `chat`, `chat-shared`, `json` or `scan`. Prints
/// the thread CPU ns per event of each of T passes.
fn interleave(args: &[String]) -> Result<(), String> {
    let work = match args.first().map(String::as_str) {
        Some("chat") => interleave::Work::Chat,
        Some("chat-shared") => interleave::Work::ChatShared,
        Some("json") => interleave::Work::Json,
        Some("scan") => interleave::Work::Scan,
        other => {
            return Err(format!(
                "interleave: no work {other:?} (chat, chat-shared, json, scan)"
            ));
        }
    };
    let streams = optional(args, "--streams")?.unwrap_or(512);
    let chunks = optional(args, "--chunks")?.unwrap_or(200);
    let times = optional(args, "--times")?.unwrap_or(5);
    for ns in interleave::run(work, streams, chunks, times) {
        println!("{ns:.0}");
    }
    Ok(())
}

/// Runs this binary with `args` and collects the rows it prints.
fn child(args: &[String]) -> Result<Vec<Row>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let output = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run a child: {e}"))?;
    if !output.status.success() {
        return Err(format!("`nexllm-bench {}` failed", args.join(" ")));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(Row::from_line)
        .collect())
}

/// The median of every number of the same contender's rows.
fn median_row(rows: &[Row]) -> Option<Row> {
    let first = rows.first()?.clone();
    let of = |f: fn(&Row) -> f64| measure::median(&rows.iter().map(f).collect::<Vec<_>>());
    Some(Row {
        ns_per_event: of(|r| r.ns_per_event),
        mb_per_s: of(|r| r.mb_per_s),
        chunks_per_s: of(|r| r.chunks_per_s),
        rss_kib: of(|r| r.rss_kib),
        allocs_per_event: of(|r| r.allocs_per_event),
        runs: rows.len(),
        ..first
    })
}

fn all(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let runs: usize = optional(args, "--runs")?.unwrap_or(if quick { 3 } else { 9 });
    let e2e_runs: usize = optional(args, "--e2e-runs")?.unwrap_or(if quick { 1 } else { 5 });
    let only: Option<String> = optional(args, "--only")?;
    let out: Option<String> = optional(args, "--out")?;
    let build = BuildFacts {
        proto_build_secs: optional(args, "--proto-build-secs")?,
        proto_crates: optional(args, "--proto-crates")?,
    };
    let wanted = |part: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|p| p == part))
    };
    let started = std::time::Instant::now();

    let mut rows = Vec::new();
    for part in ["decode", "parse"] {
        if wanted(part) {
            eprintln!("nexllm-bench: part {part} ({runs} runs each)");
            let mut args = vec![
                "part".to_owned(),
                part.to_owned(),
                "--runs".to_owned(),
                runs.to_string(),
            ];
            if quick {
                args.push("--quick".to_owned());
            }
            rows.extend(child(&args)?);
        }
    }

    let mut e2e: Vec<(usize, usize, Vec<Kind>)> = Vec::new();
    if wanted("loopback") {
        let async_kinds: Vec<Kind> = Kind::ALL.into_iter().filter(|k| !k.blocking()).collect();
        let (one, some, many) = if quick {
            (2_000, 100, 50)
        } else {
            (20_000, 1_000, 200)
        };
        e2e.push((1, one, async_kinds.clone()));
        e2e.push((64, some, async_kinds.clone()));
        e2e.push((512, many, async_kinds));
    }
    if wanted("blocking") {
        let chunks = if quick { 2_000 } else { 20_000 };
        let blocking_kinds = Kind::ALL.into_iter().filter(|k| k.blocking()).collect();
        e2e.push((1, chunks, blocking_kinds));
    }
    for (streams, chunks, kinds) in e2e {
        eprintln!(
            "nexllm-bench: end to end, {streams} stream(s) of {chunks} chunks, {e2e_runs} runs per client"
        );
        let server = Server::start(chunks)?;
        let mut per_kind: Vec<Vec<Row>> = vec![Vec::new(); kinds.len()];
        for _ in 0..e2e_runs {
            for (i, kind) in kinds.iter().enumerate() {
                let args: Vec<String> = [
                    "client",
                    kind.code(),
                    "--port",
                    &server.port.to_string(),
                    "--streams",
                    &streams.to_string(),
                    "--chunks",
                    &chunks.to_string(),
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                per_kind[i].extend(child(&args)?);
            }
        }
        drop(server);
        rows.extend(per_kind.iter().filter_map(|r| median_row(r)));
    }

    let mut text = machine::describe();
    text.push_str(&format!(
        "In-process rows: median of {runs} runs (thread CPU time). End-to-end rows: median of \
         {e2e_runs} client processes.{}\n\n",
        if quick {
            " QUICK MODE: small corpora, not for the record."
        } else {
            ""
        }
    ));
    text.push_str(&report::render(&rows, &build));
    text.push_str(&format!(
        "Bench time: {:.0} s.\n",
        started.elapsed().as_secs_f64()
    ));
    print!("{text}");
    if let Some(path) = out {
        std::fs::write(&path, &text).map_err(|e| format!("cannot write {path}: {e}"))?;
    }
    Ok(())
}
