//! The loop every streaming adapter shares: read the body chunk by chunk
//! with a stall deadline, frame it (SSE or NDJSON), hand each event to the
//! vendor's decoder, pass text deltas on to the sink, and turn any way the
//! stream can break into `StreamInterrupted` with what had arrived.

use std::time::Duration;

use domain::band::{DeltaSink, ProviderError, TokenUsage};
use futures_util::StreamExt as _;
use reqwest::Response;

use super::sse::{LineSplitter, SseParser};

/// How a vendor frames its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `text/event-stream` (Anthropic, OpenAI, Gemini).
    Sse,
    /// One JSON object per line (Ollama).
    Ndjson,
}

/// Why a decoder gave up on an event.
#[derive(Debug)]
pub(crate) enum Fault {
    /// The stream is broken (bad JSON, a vendor error event): reported as
    /// `StreamInterrupted` with the text so far.
    Interrupted(String),
    /// The vendor reported a condition the caller should act on as such
    /// (e.g. overloaded before any text arrived).
    Error(ProviderError),
}

/// A vendor's stream decoder: the state between events.
pub(crate) trait Decoder: Send {
    /// Handles one event (`event` is the SSE event name; NDJSON has none),
    /// pushing any text deltas to `deltas`.
    fn event(
        &mut self,
        event: Option<&str>,
        data: &str,
        deltas: &mut Vec<String>,
    ) -> Result<(), Fault>;

    /// Whether the vendor's terminal event has arrived.
    fn done(&self) -> bool;

    /// The usage reported so far.
    fn usage(&self) -> TokenUsage;
}

enum Framer {
    Sse(SseParser),
    Ndjson(LineSplitter),
}

impl Framer {
    fn push(&mut self, chunk: &[u8]) -> Vec<(Option<String>, String)> {
        match self {
            Self::Sse(p) => p
                .push(chunk)
                .into_iter()
                .map(|e| (e.event, e.data))
                .collect(),
            Self::Ndjson(s) => s.push(chunk).into_iter().map(|l| (None, l)).collect(),
        }
    }

    fn finish(&mut self) -> Vec<(Option<String>, String)> {
        match self {
            Self::Sse(p) => p.finish().into_iter().map(|e| (e.event, e.data)).collect(),
            Self::Ndjson(s) => s.finish().into_iter().map(|l| (None, l)).collect(),
        }
    }
}

/// Reads `response` to its terminal event, returning the whole text.
pub(crate) async fn pump(
    response: Response,
    framing: Framing,
    stall: Duration,
    decoder: &mut dyn Decoder,
    sink: &dyn DeltaSink,
) -> Result<String, ProviderError> {
    let mut framer = match framing {
        Framing::Sse => Framer::Sse(SseParser::default()),
        Framing::Ndjson => Framer::Ndjson(LineSplitter::default()),
    };
    let mut body = response.bytes_stream();
    let mut content = String::new();
    let mut deltas = Vec::new();
    loop {
        let (events, ended) = match tokio::time::timeout(stall, body.next()).await {
            Err(_) => {
                return Err(interrupted(
                    format!("stalled: no data for {} ms", stall.as_millis()),
                    content,
                    decoder,
                ));
            }
            Ok(Some(Err(e))) => {
                return Err(interrupted(
                    format!("connection broke: {e}"),
                    content,
                    decoder,
                ));
            }
            Ok(Some(Ok(chunk))) => (framer.push(&chunk), false),
            Ok(None) => (framer.finish(), true),
        };
        for (event, data) in events {
            if framing == Framing::Ndjson && data.trim().is_empty() {
                continue;
            }
            let outcome = decoder.event(event.as_deref(), &data, &mut deltas);
            // Text decoded before a fault still reached us: keep it.
            for d in deltas.drain(..) {
                sink.delta(&d);
                content.push_str(&d);
            }
            match outcome {
                Ok(()) => {}
                Err(Fault::Interrupted(reason)) => {
                    return Err(interrupted(reason, content, decoder));
                }
                Err(Fault::Error(e)) if content.is_empty() => return Err(e),
                Err(Fault::Error(e)) => return Err(interrupted(e.to_string(), content, decoder)),
            }
            if decoder.done() {
                // Anything after the terminal event is not ours to wait for.
                return Ok(content);
            }
        }
        if ended {
            return Err(interrupted(
                "stream ended before its final event".to_owned(),
                content,
                decoder,
            ));
        }
    }
}

fn interrupted(reason: String, partial: String, decoder: &dyn Decoder) -> ProviderError {
    tracing::debug!(%reason, partial_chars = partial.len(), "provider stream interrupted");
    ProviderError::StreamInterrupted {
        reason,
        partial,
        usage: decoder.usage(),
    }
}
