//! Incremental framing for streamed answers: a line splitter (for NDJSON
//! and as the base of SSE) and a Server-Sent Events parser following the
//! WHATWG event-stream rules.
//!
//! Network chunks split the text anywhere — inside a line, between `\r` and
//! `\n`, inside a multi-byte character — so both keep raw bytes until a line
//! is complete and only then decode it.

/// Splits a byte stream into lines ended by `\n`, `\r\n` or a lone `\r`.
#[derive(Debug, Default)]
pub(crate) struct LineSplitter {
    buf: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` opening the next one belongs
    /// to the same line ending.
    skip_lf: bool,
}

impl LineSplitter {
    /// Feeds `chunk`, returning every line it completed (without ending).
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &b in chunk {
            if self.skip_lf {
                self.skip_lf = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' => lines.push(self.take()),
                b'\r' => {
                    lines.push(self.take());
                    self.skip_lf = true;
                }
                _ => self.buf.push(b),
            }
        }
        lines
    }

    /// The unterminated tail at end of input, if any.
    pub(crate) fn finish(&mut self) -> Option<String> {
        self.skip_lf = false;
        (!self.buf.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> String {
        let line = String::from_utf8_lossy(&self.buf).into_owned();
        self.buf.clear();
        line
    }
}

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event:` field, when the server named the event.
    pub(crate) event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub(crate) data: String,
}

/// An incremental SSE parser.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    lines: LineSplitter,
    event: Option<String>,
    data: String,
    has_data: bool,
    started: bool,
}

impl SseParser {
    /// Feeds `chunk`, returning the events it completed, in order.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for line in self.lines.push(chunk) {
            self.line(line, &mut events);
        }
        events
    }

    /// At end of input: the last event when the server omitted the blank
    /// line after it. The standard drops such an event; keeping it is more
    /// forgiving with hand-rolled servers and costs nothing, since adapters
    /// still insist on their terminal event.
    pub(crate) fn finish(&mut self) -> Option<SseEvent> {
        let mut events = Vec::new();
        if let Some(line) = self.lines.finish() {
            self.line(line, &mut events);
        }
        self.line(String::new(), &mut events);
        events.pop()
    }

    fn line(&mut self, mut line: String, out: &mut Vec<SseEvent>) {
        if !self.started {
            self.started = true;
            if let Some(rest) = line.strip_prefix('\u{feff}') {
                line = rest.to_owned();
            }
        }
        if line.is_empty() {
            if self.has_data {
                out.push(SseEvent {
                    event: self.event.take(),
                    data: std::mem::take(&mut self.data),
                });
            }
            self.event = None;
            self.data.clear();
            self.has_data = false;
            return;
        }
        if line.starts_with(':') {
            return; // a comment, used as keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            _ => {} // `id`, `retry` and unknown fields do not matter here
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = "\u{feff}: keep-alive\r\n\
        event: message_start\r\n\
        data: {\"a\":1}\r\n\
        \r\n\
        event: ping\n\
        data: {\"type\": \"ping\"}\n\
        \n\
        data: line one\n\
        data: line two\n\
        id: 7\n\
        retry: 1000\n\
        \n\
        data:no-space\r\r\
        event: empty-is-ignored\n\
        \n\
        data: héllo wörld ✓\n\n\
        data: [DONE]\n\n";

    fn expected() -> Vec<SseEvent> {
        let ev = |event: Option<&str>, data: &str| SseEvent {
            event: event.map(str::to_owned),
            data: data.to_owned(),
        };
        vec![
            ev(Some("message_start"), "{\"a\":1}"),
            ev(Some("ping"), "{\"type\": \"ping\"}"),
            ev(None, "line one\nline two"),
            ev(None, "no-space"),
            ev(None, "héllo wörld ✓"),
            ev(None, "[DONE]"),
        ]
    }

    fn parse_in_chunks(bytes: &[u8], size: usize) -> Vec<SseEvent> {
        let mut p = SseParser::default();
        let mut events: Vec<SseEvent> = bytes.chunks(size).flat_map(|c| p.push(c)).collect();
        events.extend(p.finish());
        events
    }

    #[test]
    fn whole_input_at_once() {
        assert_eq!(parse_in_chunks(STREAM.as_bytes(), STREAM.len()), expected());
    }

    #[test]
    fn every_chunk_size_gives_the_same_events() {
        // Size 1 splits inside every `\r\n` and every multi-byte character.
        for size in 1..=STREAM.len() {
            assert_eq!(
                parse_in_chunks(STREAM.as_bytes(), size),
                expected(),
                "chunk size {size}"
            );
        }
    }

    #[test]
    fn unterminated_last_event_is_flushed_at_end() {
        let mut p = SseParser::default();
        assert!(p.push(b"data: {\"x\":").is_empty());
        assert!(p.push(b"2}").is_empty());
        assert_eq!(
            p.finish(),
            Some(SseEvent {
                event: None,
                data: "{\"x\":2}".to_owned()
            })
        );
        assert_eq!(p.finish(), None);
    }

    #[test]
    fn lines_split_on_all_endings() {
        let mut s = LineSplitter::default();
        let mut lines = s.push(b"a\r");
        lines.extend(s.push(b"\nb\n\rc"));
        lines.extend(s.finish());
        assert_eq!(lines, ["a", "b", "", "c"]);
    }
}
