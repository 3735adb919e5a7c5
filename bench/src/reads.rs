//! How a body is cut into reads, and the plumbing shared by the in-process rows:
//! driving an always-ready `Stream` without a runtime, and timing runs.

use std::cell::RefCell;
use std::convert::Infallible;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_util::Stream;

use crate::alloc_count::Counting;
use crate::measure::{median, thread_cpu};
use crate::report::{Role, Row, Section};

/// How the body arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadSize {
    /// Reads of this many bytes (the last one shorter).
    Fixed(usize),
    /// One read per event, cut after the blank line that ends it.
    PerEvent,
}

impl ReadSize {
    /// The name used in the tables.
    pub fn name(self) -> String {
        match self {
            ReadSize::Fixed(16_384) => "16 KiB reads".to_owned(),
            ReadSize::Fixed(1) => "1-byte reads".to_owned(),
            ReadSize::Fixed(n) => format!("{n}-byte reads"),
            ReadSize::PerEvent => "one read per event".to_owned(),
        }
    }
}

/// The body cut into reads, each a cheap view of one shared buffer (as a network
/// client's `Bytes` frames are).
#[derive(Debug, Clone)]
pub struct Reads {
    /// The reads, in order.
    pub pieces: Vec<Bytes>,
    /// Their total length.
    pub len: usize,
    /// Handles made by [`Reads::prepare`] for the next run, outside its timing.
    prepared: RefCell<Vec<Bytes>>,
}

impl Reads {
    /// Cuts `body` into reads of the given size.
    pub fn new(body: &[u8], size: ReadSize) -> Reads {
        let whole = Bytes::copy_from_slice(body);
        let mut pieces = Vec::new();
        match size {
            ReadSize::Fixed(n) => {
                let mut start = 0;
                while start < whole.len() {
                    let end = (start + n.max(1)).min(whole.len());
                    pieces.push(whole.slice(start..end));
                    start = end;
                }
            }
            ReadSize::PerEvent => {
                let mut start = 0;
                let mut i = 0;
                while i < whole.len() {
                    let end = if whole[i..].starts_with(b"\r\n\r\n") {
                        Some(i + 4)
                    } else if whole[i..].starts_with(b"\n\n") {
                        Some(i + 2)
                    } else {
                        None
                    };
                    match end {
                        Some(end) => {
                            pieces.push(whole.slice(start..end));
                            start = end;
                            i = end;
                        }
                        None => i += 1,
                    }
                }
                if start < whole.len() {
                    pieces.push(whole.slice(start..));
                }
            }
        }
        Reads {
            pieces,
            len: whole.len(),
            prepared: RefCell::new(Vec::new()),
        }
    }

    /// Makes the handles the next [`Reads::handles`] hands out, so that `compete`
    /// can make them before it starts the clock: making a frame is the HTTP
    /// client's work, not the decoder's.
    pub fn prepare(&self) {
        let mut prepared = self.prepared.borrow_mut();
        prepared.clear();
        prepared.extend(self.pieces.iter().cloned());
    }

    /// The reads as an HTTP client hands them over: each an owned handle on the
    /// shared buffer, which the contender drops when it is done with it (a
    /// reference-count decrement, as an HTTP client's frames cost). Every
    /// in-process contender takes its reads this way, so that this cost is the
    /// same in every row. The handles made by [`Reads::prepare`] if any, else made
    /// here as they are taken (the `profile` command and the tests).
    pub fn handles(&self) -> impl Iterator<Item = Bytes> + '_ {
        let prepared = std::mem::take(&mut *self.prepared.borrow_mut());
        let fresh = if prepared.is_empty() {
            &self.pieces[..]
        } else {
            &[]
        };
        prepared.into_iter().chain(fresh.iter().cloned())
    }

    /// [`Reads::handles`] as the byte stream a stream-based decoder reads.
    pub fn stream(&self) -> impl Stream<Item = Result<Bytes, Infallible>> + Unpin + '_ {
        futures_util::stream::iter(self.handles().map(Ok))
    }
}

/// Polls `stream` to its end with a no-op waker, handing each item to `each`. The
/// input streams here are always ready, so no runtime is needed and none is measured.
pub fn drain<S: Stream>(stream: S, mut each: impl FnMut(S::Item)) {
    let mut stream = pin!(stream);
    let mut cx = Context::from_waker(Waker::noop());
    while let Poll::Ready(Some(item)) = stream.as_mut().poll_next(&mut cx) {
        each(item);
    }
}

/// One competitor in an in-process scenario.
pub struct Contender<'a> {
    /// Floor, ours, peer or an extra reference.
    pub role: Role,
    /// The name in the table.
    pub name: &'static str,
    /// Runs once over the input and returns how many events it saw.
    pub run: Box<dyn Fn() -> u64 + 'a>,
}

/// Runs every contender `runs` times, interleaved (so that a noisy moment hurts them
/// all alike), then once more with allocation counting on, and returns one row each.
///
/// `events` is what the scenario holds; a contender that reports another count is
/// flagged in its name, and no target is met on its row.
pub fn compete(
    section: Section,
    scenario: &str,
    reads: &Reads,
    events: u64,
    runs: usize,
    contenders: &[Contender<'_>],
) -> Vec<Row> {
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    let mut seen = vec![0u64; contenders.len()];
    let bytes = reads.len;
    // One untimed pass warms caches and the allocator.
    for contender in contenders {
        reads.prepare();
        std::hint::black_box((contender.run)());
    }
    for _ in 0..runs {
        for (i, contender) in contenders.iter().enumerate() {
            reads.prepare();
            let start = thread_cpu();
            seen[i] = std::hint::black_box((contender.run)());
            times[i].push((thread_cpu() - start).as_nanos() as f64);
        }
    }
    contenders
        .iter()
        .enumerate()
        .map(|(i, contender)| {
            reads.prepare();
            let counting = Counting::start();
            std::hint::black_box((contender.run)());
            let allocations = counting.stop();
            let nanos = median(&times[i]);
            let mut name = contender.name.to_owned();
            if seen[i] != events {
                name.push_str(&format!(
                    " (saw {} of {events}{})",
                    seen[i],
                    crate::report::MISSED_EVENTS
                ));
            }
            Row {
                section,
                scenario: scenario.to_owned(),
                role: contender.role,
                name,
                ns_per_event: nanos / events as f64,
                mb_per_s: if nanos > 0.0 {
                    bytes as f64 / nanos * 1e3
                } else {
                    0.0
                },
                allocs_per_event: allocations.count as f64 / events as f64,
                runs,
                ..Row::default()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cover_the_body() {
        let body = b"data: a\n\ndata: b\r\n\r\ndata: c\n\n";
        for size in [ReadSize::Fixed(1), ReadSize::Fixed(5), ReadSize::PerEvent] {
            let reads = Reads::new(body, size);
            let joined: Vec<u8> = reads.pieces.iter().flat_map(|p| p.to_vec()).collect();
            assert_eq!(joined, body, "{size:?}");
        }
        assert_eq!(Reads::new(body, ReadSize::PerEvent).pieces.len(), 3);
    }

    #[test]
    fn compete_flags_any_row_with_the_wrong_event_count_floors_too() {
        let contenders = [
            Contender {
                role: Role::Floor,
                name: "floor",
                run: Box::new(|| 0),
            },
            Contender {
                role: Role::Ours,
                name: "ours",
                run: Box::new(|| 7),
            },
        ];
        let reads = Reads::new(b"0123456789", ReadSize::Fixed(4));
        let rows = compete(Section::Decode, "s", &reads, 7, 1, &contenders);
        assert_eq!(
            rows[0].name,
            format!("floor (saw 0 of 7{})", crate::report::MISSED_EVENTS)
        );
        assert_eq!(rows[1].name, "ours");
    }

    #[test]
    fn prepared_handles_are_handed_out_once_then_made_afresh() {
        let reads = Reads::new(b"abcdef", ReadSize::Fixed(2));
        reads.prepare();
        assert_eq!(reads.handles().count(), 3);
        assert_eq!(reads.handles().count(), 3);
        let joined: Vec<u8> = reads.handles().flat_map(|p| p.to_vec()).collect();
        assert_eq!(joined, b"abcdef");
    }

    #[test]
    fn drain_hands_out_every_item() {
        let reads = Reads::new(b"abcdef", ReadSize::Fixed(2));
        let mut n = 0;
        drain(reads.stream(), |item| {
            assert!(item.is_ok());
            n += 1;
        });
        assert_eq!(n, 3);
    }
}
