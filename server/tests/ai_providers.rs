//! The AI provider adapters against loopback servers that speak each
//! vendor's wire format, replaying fixtures shaped like real responses
//! (`tests/fixtures/ai/<vendor>/`). Each server records the request it got,
//! so the tests check what we send as well as how we read the answer.
//! Faults (statuses, hangs, cut and stalled streams, bad bodies) run against
//! all four vendors through the same code. No API key or network needed.

// Helpers outside `#[test]` functions panic on purpose, like the tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use domain::band::{
    AiProvider, AiRequest, ChatMessage, DeltaSink, ProviderError, ProviderKind, StopReason,
    TokenUsage,
};
use futures_util::StreamExt as _;
use futures_util::stream::{self, BoxStream};
use serde_json::{Value, json};
use server::outbound::ai::{
    AnthropicProvider, GeminiProvider, OllamaProvider, OpenAiProvider, Timeouts, VendorConfig,
};

// --- loopback server -------------------------------------------------------

/// What the fake vendor received.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Value,
}

impl Seen {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default()
    }
}

/// How a streamed body ends after its frames.
#[derive(Clone, Copy, Debug)]
enum End {
    /// A clean end of body.
    Close,
    /// The connection breaks (the body errors, so no final chunk is sent).
    Abort,
    /// Nothing more, but the connection stays open.
    Stall,
}

/// What the fake vendor answers, to every request.
#[derive(Clone)]
enum Reply {
    Full {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    Frames {
        content_type: &'static str,
        frames: Vec<String>,
        end: End,
    },
    /// Never answers (well, not within any test's patience).
    Hang,
}

impl Reply {
    fn json(body: impl Into<String>) -> Self {
        Self::status(200, body)
    }

    fn status(status: u16, body: impl Into<String>) -> Self {
        Self::Full {
            status,
            headers: vec![("content-type", "application/json".to_owned())],
            body: body.into(),
        }
    }

    fn with_header(self, name: &'static str, value: &str) -> Self {
        match self {
            Self::Full {
                status,
                mut headers,
                body,
            } => {
                headers.push((name, value.to_owned()));
                Self::Full {
                    status,
                    headers,
                    body,
                }
            }
            other => other,
        }
    }
}

struct FakeVendor {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeVendor {
    async fn start(reply: Reply) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .fallback(answer)
            .with_state((reply, seen.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("http://{addr}"),
            seen,
        }
    }

    fn only_request(&self) -> Seen {
        let seen = self.seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "expected exactly one request: {seen:?}");
        seen[0].clone()
    }
}

async fn answer(
    State((reply, seen)): State<(Reply, Arc<Mutex<Vec<Seen>>>)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    seen.lock().unwrap().push(Seen {
        method,
        uri,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    match reply {
        Reply::Full {
            status,
            headers,
            body,
        } => {
            let mut r = Response::builder().status(status);
            for (k, v) in headers {
                r = r.header(k, v);
            }
            r.body(Body::from(body)).unwrap()
        }
        Reply::Frames {
            content_type,
            frames,
            end,
        } => {
            let frames = stream::iter(
                frames
                    .into_iter()
                    .map(|f| Ok::<_, std::io::Error>(Bytes::from(f))),
            );
            let tail: BoxStream<'static, Result<Bytes, std::io::Error>> = match end {
                End::Close => stream::empty().boxed(),
                // The pause lets the frames reach the client before the cut.
                End::Abort => stream::once(async {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Err(std::io::Error::other("connection cut"))
                })
                .boxed(),
                End::Stall => stream::pending().boxed(),
            };
            Response::builder()
                .status(200)
                .header("content-type", content_type)
                .body(Body::from_stream(frames.chain(tail)))
                .unwrap()
        }
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Response::new(Body::empty())
        }
    }
}

// --- vendors ---------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Vendor {
    Anthropic,
    OpenAi,
    Gemini,
    Ollama,
}

const QUICK: Timeouts = Timeouts {
    request: Duration::from_secs(5),
    stall: Duration::from_secs(5),
};

impl Vendor {
    fn dir(self) -> &'static str {
        match self {
            Self::Anthropic => "anthropic",
            Self::OpenAi => "openai",
            Self::Gemini => "gemini",
            Self::Ollama => "ollama",
        }
    }

    fn fixture(self, name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/ai/{}/{name}",
            env!("CARGO_MANIFEST_DIR"),
            self.dir()
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn stream_fixture(self) -> String {
        match self {
            Self::Ollama => self.fixture("chat_stream.ndjson"),
            _ => self.fixture("stream.sse"),
        }
    }

    fn stream_content_type(self) -> &'static str {
        match self {
            Self::Ollama => "application/x-ndjson",
            _ => "text/event-stream; charset=utf-8",
        }
    }

    fn model(self) -> &'static str {
        match self {
            Self::Anthropic => "claude-sonnet-4-20250514",
            Self::OpenAi => "gpt-4o-2024-08-06",
            Self::Gemini => "gemini-2.5-flash",
            Self::Ollama => "llama3.2",
        }
    }

    fn provider(self, base_url: &str, timeouts: Timeouts) -> Box<dyn AiProvider> {
        let client = server::outbound::ai::http_client().unwrap();
        let key = Some(format!("test-key-{}", self.dir()));
        match self {
            Self::Anthropic => Box::new(AnthropicProvider::new(
                client,
                VendorConfig::new(base_url, key).with_timeouts(timeouts),
            )),
            // OpenAI's base URL includes the version segment.
            Self::OpenAi => Box::new(OpenAiProvider::new(
                client,
                VendorConfig::new(format!("{base_url}/v1"), key).with_timeouts(timeouts),
            )),
            Self::Gemini => Box::new(GeminiProvider::new(
                client,
                VendorConfig::new(base_url, key).with_timeouts(timeouts),
            )),
            Self::Ollama => Box::new(OllamaProvider::new(
                client,
                VendorConfig::new(base_url, None).with_timeouts(timeouts),
            )),
        }
    }

    fn request(self) -> AiRequest {
        AiRequest {
            model: self.model().to_owned(),
            system: Some("You are the band's reviewer.".to_owned()),
            messages: vec![ChatMessage::user("Review the billing change.")],
            temperature: 0.2,
            max_tokens: 256,
            tenant: None,
        }
    }

    /// The stream's frames: SSE events (up to their blank line) or NDJSON
    /// lines, with their line endings.
    fn frames(self) -> Vec<String> {
        let text = self.stream_fixture();
        let mut frames = Vec::new();
        let mut current = String::new();
        for line in text.split_inclusive('\n') {
            current.push_str(line);
            if self == Self::Ollama || line.trim().is_empty() {
                frames.push(std::mem::take(&mut current));
            }
        }
        assert!(current.trim().is_empty(), "fixture ends mid-frame");
        frames
    }

    /// How many leading frames carry exactly the text "Hello! I'm".
    fn frames_for_partial(self) -> usize {
        match self {
            Self::Anthropic => 5, // message_start, block start, ping, 2 deltas
            Self::OpenAi => 3,    // role chunk, 2 content chunks
            Self::Gemini | Self::Ollama => 2,
        }
    }

    fn malformed_frame(self) -> String {
        match self {
            Self::Ollama => "{\"message\": {\"content\": \"oops\n".to_owned(),
            _ => "data: {\"type\":\"content_block_delta\",\"delta\": {\n\n".to_owned(),
        }
    }

    /// The vendor's error body for `message`.
    fn error_body(self, message: &str) -> String {
        match self {
            Self::Anthropic => json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}}),
            Self::OpenAi => json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}}),
            Self::Gemini => json!({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}),
            Self::Ollama => json!({"error": message}),
        }
        .to_string()
    }

    fn health_path(self) -> &'static str {
        match self {
            Self::Anthropic => "/v1/models",
            Self::OpenAi => "/v1/models",
            Self::Gemini => "/v1beta/models",
            Self::Ollama => "/api/tags",
        }
    }
}

const PARTIAL: &str = "Hello! I'm";

#[derive(Default)]
struct Collect(Mutex<Vec<String>>);

impl DeltaSink for Collect {
    fn delta(&self, text: &str) {
        self.0.lock().unwrap().push(text.to_owned());
    }
}

impl Collect {
    fn joined(&self) -> String {
        self.0.lock().unwrap().concat()
    }
}

/// Splits `text` into chunks of `size` bytes, so deltas arrive across
/// arbitrary network boundaries (inside lines and `\r\n`).
fn chunked(text: &str, size: usize) -> Vec<String> {
    text.as_bytes()
        .chunks(size)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect()
}

async fn stream_with(
    vendor: Vendor,
    reply: Reply,
    timeouts: Timeouts,
) -> (
    Result<domain::band::Completion, ProviderError>,
    Collect,
    FakeVendor,
) {
    let fake = FakeVendor::start(reply).await;
    let sink = Collect::default();
    let result = vendor
        .provider(&fake.url, timeouts)
        .stream(&vendor.request(), &sink)
        .await;
    (result, sink, fake)
}

fn fixture_stream(vendor: Vendor) -> Reply {
    let text = vendor.stream_fixture();
    assert!(
        text.is_ascii(),
        "byte chunking below assumes ASCII fixtures"
    );
    Reply::Frames {
        content_type: vendor.stream_content_type(),
        frames: chunked(&text, 7),
        end: End::Close,
    }
}

fn assert_provenance(
    c: &domain::band::Completion,
    kind: ProviderKind,
    provider: &str,
    model: &str,
) {
    assert_eq!(c.provenance.agent, kind);
    assert_eq!(c.provenance.provider, provider);
    assert_eq!(c.provenance.model_version, model);
    assert!((c.provenance.temperature - 0.2).abs() < f32::EPSILON);
    assert_eq!(c.provenance.max_tokens, 256);
    let age = chrono::Utc::now() - c.provenance.timestamp;
    assert!(age >= chrono::Duration::zero() && age < chrono::Duration::seconds(30));
    assert!(c.latency_ms < 5_000);
}

// --- Anthropic -------------------------------------------------------------

fn assert_anthropic_request(seen: &Seen, stream: bool) {
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.uri.path(), "/v1/messages");
    assert_eq!(seen.header("x-api-key"), "test-key-anthropic");
    assert_eq!(seen.header("anthropic-version"), "2023-06-01");
    assert!(seen.header("content-type").starts_with("application/json"));
    let b = &seen.body;
    assert_eq!(b["model"], "claude-sonnet-4-20250514");
    assert_eq!(b["max_tokens"], 256);
    assert_eq!(b["temperature"], json!(0.2));
    assert_eq!(b["system"], "You are the band's reviewer.");
    assert_eq!(
        b["messages"],
        json!([{"role": "user", "content": "Review the billing change."}])
    );
    if stream {
        assert_eq!(b["stream"], true);
    } else {
        assert!(b.get("stream").is_none());
    }
}

#[tokio::test]
async fn anthropic_complete() {
    let fake = FakeVendor::start(
        Reply::json(Vendor::Anthropic.fixture("message.json"))
            .with_header("anthropic-ratelimit-requests-limit", "50")
            .with_header("anthropic-ratelimit-requests-remaining", "49")
            .with_header("anthropic-ratelimit-requests-reset", "2030-01-01T00:00:01Z")
            .with_header("anthropic-ratelimit-tokens-limit", "40000")
            .with_header("anthropic-ratelimit-tokens-remaining", "39000")
            .with_header("anthropic-ratelimit-tokens-reset", "2030-01-01T00:00:30Z"),
    )
    .await;
    let provider = Vendor::Anthropic.provider(&fake.url, QUICK);
    assert_eq!(provider.kind(), ProviderKind::Claude);
    assert_eq!(provider.name(), "anthropic");
    let c = provider
        .complete(&Vendor::Anthropic.request())
        .await
        .unwrap();

    assert_eq!(c.content, "Use a feature flag for the new billing flow.");
    assert_eq!(c.stop_reason, StopReason::Complete);
    assert_eq!(
        c.usage,
        TokenUsage {
            input: 50,
            output: 12,
            cached: 8
        }
    );
    assert_eq!(c.mean_logprob, None);
    assert_provenance(
        &c,
        ProviderKind::Claude,
        "anthropic",
        "claude-sonnet-4-20250514",
    );
    assert_anthropic_request(&fake.only_request(), false);

    let limits = provider.rate_limit_status();
    assert_eq!(limits.requests_limit, Some(50));
    assert_eq!(limits.requests_remaining, Some(49));
    assert_eq!(limits.tokens_limit, Some(40_000));
    assert_eq!(limits.tokens_remaining, Some(39_000));
    assert_eq!(
        limits.reset_at.map(|t| t.to_rfc3339()),
        Some("2030-01-01T00:00:30+00:00".to_owned())
    );
    assert_eq!(limits.retry_after_secs, None);
}

#[tokio::test]
async fn anthropic_stream() {
    let (result, sink, fake) =
        stream_with(Vendor::Anthropic, fixture_stream(Vendor::Anthropic), QUICK).await;
    let c = result.unwrap();
    assert_eq!(
        *sink.0.lock().unwrap(),
        ["Hello", "! I'm", " Claude.", " How can I help?"]
    );
    assert_eq!(c.content, "Hello! I'm Claude. How can I help?");
    assert_eq!(sink.joined(), c.content);
    assert_eq!(c.stop_reason, StopReason::MaxTokens);
    // Input from message_start (25 + 5 cache reads), output from message_delta.
    assert_eq!(
        c.usage,
        TokenUsage {
            input: 30,
            output: 15,
            cached: 5
        }
    );
    assert_provenance(
        &c,
        ProviderKind::Claude,
        "anthropic",
        "claude-sonnet-4-20250514",
    );
    assert_anthropic_request(&fake.only_request(), true);
}

#[tokio::test]
async fn anthropic_529_is_overloaded() {
    let body = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    let fake = FakeVendor::start(Reply::status(529, body).with_header("retry-after", "3")).await;
    let provider = Vendor::Anthropic.provider(&fake.url, QUICK);
    let err = provider
        .complete(&Vendor::Anthropic.request())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ProviderError::Overloaded {
            retry_after: Some(Duration::from_secs(3))
        }
    );
    assert_eq!(provider.rate_limit_status().retry_after_secs, Some(3));
}

#[tokio::test]
async fn anthropic_429_without_retry_after_uses_the_exhausted_limits_reset() {
    let reset = (chrono::Utc::now() + chrono::Duration::seconds(20)).to_rfc3339();
    let body = r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#;
    let fake = FakeVendor::start(
        Reply::status(429, body)
            .with_header("anthropic-ratelimit-tokens-limit", "40000")
            .with_header("anthropic-ratelimit-tokens-remaining", "0")
            .with_header("anthropic-ratelimit-tokens-reset", &reset),
    )
    .await;
    let provider = Vendor::Anthropic.provider(&fake.url, QUICK);
    let err = provider
        .complete(&Vendor::Anthropic.request())
        .await
        .unwrap_err();
    let ProviderError::RateLimited {
        retry_after: Some(wait),
    } = err
    else {
        panic!("{err:?}")
    };
    assert!((18..=20).contains(&wait.as_secs()), "{wait:?}");
    assert_eq!(provider.rate_limit_status().tokens_remaining, Some(0));
}

fn anthropic_error_event_stream(after_text: bool) -> Reply {
    let mut frames = Vendor::Anthropic.frames();
    frames.truncate(if after_text { 5 } else { 3 });
    frames.push(
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
            .to_owned(),
    );
    Reply::Frames {
        content_type: "text/event-stream",
        frames,
        end: End::Close,
    }
}

#[tokio::test]
async fn anthropic_overloaded_event_before_any_text_is_overloaded() {
    let (result, sink, _fake) = stream_with(
        Vendor::Anthropic,
        anthropic_error_event_stream(false),
        QUICK,
    )
    .await;
    assert_eq!(
        result.unwrap_err(),
        ProviderError::Overloaded { retry_after: None }
    );
    assert_eq!(sink.joined(), "");
}

#[tokio::test]
async fn anthropic_error_event_after_text_keeps_the_partial() {
    let (result, sink, _fake) =
        stream_with(Vendor::Anthropic, anthropic_error_event_stream(true), QUICK).await;
    let ProviderError::StreamInterrupted {
        reason,
        partial,
        usage,
    } = result.unwrap_err()
    else {
        panic!("expected StreamInterrupted")
    };
    assert!(reason.contains("overloaded"), "{reason}");
    assert_eq!(partial, PARTIAL);
    assert_eq!(sink.joined(), PARTIAL);
    assert_eq!(
        usage,
        TokenUsage {
            input: 30,
            output: 1,
            cached: 5
        }
    );
}

// --- OpenAI ----------------------------------------------------------------

fn assert_openai_request(seen: &Seen, stream: bool) {
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.uri.path(), "/v1/chat/completions");
    assert_eq!(seen.header("authorization"), "Bearer test-key-openai");
    let b = &seen.body;
    assert_eq!(b["model"], "gpt-4o-2024-08-06");
    assert_eq!(b["max_completion_tokens"], 256);
    assert_eq!(b["temperature"], json!(0.2));
    assert_eq!(
        b["messages"],
        json!([
            {"role": "system", "content": "You are the band's reviewer."},
            {"role": "user", "content": "Review the billing change."}
        ])
    );
    if stream {
        assert_eq!(b["stream"], true);
        assert_eq!(b["stream_options"], json!({"include_usage": true}));
        assert!(b.get("logprobs").is_none());
    } else {
        assert!(b.get("stream").is_none());
        assert_eq!(b["logprobs"], true);
    }
}

#[tokio::test]
async fn openai_complete() {
    let fake = FakeVendor::start(
        Reply::json(Vendor::OpenAi.fixture("chat_completion.json"))
            .with_header("x-ratelimit-limit-requests", "500")
            .with_header("x-ratelimit-remaining-requests", "499")
            .with_header("x-ratelimit-reset-requests", "120ms")
            .with_header("x-ratelimit-limit-tokens", "30000")
            .with_header("x-ratelimit-remaining-tokens", "3000")
            .with_header("x-ratelimit-reset-tokens", "6m0s"),
    )
    .await;
    let provider = Vendor::OpenAi.provider(&fake.url, QUICK);
    assert_eq!(provider.kind(), ProviderKind::Gpt);
    assert_eq!(provider.name(), "openai");
    let before = chrono::Utc::now();
    let c = provider.complete(&Vendor::OpenAi.request()).await.unwrap();

    assert_eq!(c.content, "Ship it behind a flag.");
    assert_eq!(c.stop_reason, StopReason::Complete);
    assert_eq!(
        c.usage,
        TokenUsage {
            input: 19,
            output: 5,
            cached: 3
        }
    );
    let mean = c.mean_logprob.unwrap();
    assert!((mean - -0.3).abs() < 1e-9, "{mean}");
    assert_provenance(&c, ProviderKind::Gpt, "openai", "gpt-4o-2024-08-06");
    assert_openai_request(&fake.only_request(), false);

    let limits = provider.rate_limit_status();
    assert_eq!(limits.requests_limit, Some(500));
    assert_eq!(limits.requests_remaining, Some(499));
    assert_eq!(limits.tokens_limit, Some(30_000));
    assert_eq!(limits.tokens_remaining, Some(3_000));
    // Tokens (10% left) are scarcer than requests, so their 6 min reset counts.
    let reset = limits.reset_at.unwrap() - before;
    assert!(
        reset >= chrono::Duration::seconds(359) && reset <= chrono::Duration::seconds(365),
        "{reset:?}"
    );
}

#[tokio::test]
async fn openai_stream() {
    let (result, sink, fake) =
        stream_with(Vendor::OpenAi, fixture_stream(Vendor::OpenAi), QUICK).await;
    let c = result.unwrap();
    assert_eq!(
        *sink.0.lock().unwrap(),
        ["Hello", "! I'm", " GPT.", " How can I help?"]
    );
    assert_eq!(c.content, "Hello! I'm GPT. How can I help?");
    assert_eq!(sink.joined(), c.content);
    assert_eq!(c.stop_reason, StopReason::MaxTokens);
    assert_eq!(
        c.usage,
        TokenUsage {
            input: 21,
            output: 9,
            cached: 4
        }
    );
    assert_eq!(c.mean_logprob, None);
    assert_provenance(&c, ProviderKind::Gpt, "openai", "gpt-4o-2024-08-06");
    assert_openai_request(&fake.only_request(), true);
}

#[tokio::test]
async fn openai_stream_without_done_marker_is_interrupted_even_with_usage() {
    let mut frames = Vendor::OpenAi.frames();
    assert_eq!(frames.pop().unwrap().trim(), "data: [DONE]");
    let reply = Reply::Frames {
        content_type: "text/event-stream",
        frames,
        end: End::Close,
    };
    let (result, _sink, _fake) = stream_with(Vendor::OpenAi, reply, QUICK).await;
    let ProviderError::StreamInterrupted { partial, usage, .. } = result.unwrap_err() else {
        panic!("expected StreamInterrupted")
    };
    assert_eq!(partial, "Hello! I'm GPT. How can I help?");
    assert_eq!(usage.output, 9);
}

#[tokio::test]
async fn openai_refusal_is_content_filter() {
    let body = json!({
        "id": "chatcmpl-r", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "refusal": "I can't help with that."}, "logprobs": null, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11}
    });
    let fake = FakeVendor::start(Reply::json(body.to_string())).await;
    let c = Vendor::OpenAi
        .provider(&fake.url, QUICK)
        .complete(&Vendor::OpenAi.request())
        .await
        .unwrap();
    assert_eq!(c.stop_reason, StopReason::ContentFilter);
    assert_eq!(c.content, "");
    assert_eq!(c.mean_logprob, None);
}

// --- Gemini ----------------------------------------------------------------

fn assert_gemini_request(seen: &Seen, stream: bool) {
    assert_eq!(seen.method, Method::POST);
    if stream {
        assert_eq!(
            seen.uri.path(),
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
        );
        assert_eq!(seen.uri.query(), Some("alt=sse"));
    } else {
        assert_eq!(
            seen.uri.path(),
            "/v1beta/models/gemini-2.5-flash:generateContent"
        );
        assert_eq!(seen.uri.query(), None);
    }
    assert_eq!(seen.header("x-goog-api-key"), "test-key-gemini");
    let b = &seen.body;
    assert_eq!(
        b["systemInstruction"],
        json!({"parts": [{"text": "You are the band's reviewer."}]})
    );
    assert_eq!(
        b["contents"],
        json!([{"role": "user", "parts": [{"text": "Review the billing change."}]}])
    );
    assert_eq!(
        b["generationConfig"],
        json!({"temperature": 0.2, "maxOutputTokens": 256})
    );
}

#[tokio::test]
async fn gemini_complete() {
    let fake =
        FakeVendor::start(Reply::json(Vendor::Gemini.fixture("generate_content.json"))).await;
    let provider = Vendor::Gemini.provider(&fake.url, QUICK);
    assert_eq!(provider.kind(), ProviderKind::Gemini);
    let c = provider.complete(&Vendor::Gemini.request()).await.unwrap();
    // The `thought` part is reasoning, not the answer.
    assert_eq!(c.content, "Roll it out to 5% first.");
    assert_eq!(c.stop_reason, StopReason::Complete);
    assert_eq!(
        c.usage,
        TokenUsage {
            input: 30,
            output: 17,
            cached: 10
        }
    );
    assert_eq!(c.mean_logprob, Some(-0.25));
    assert_provenance(&c, ProviderKind::Gemini, "gemini", "gemini-2.5-flash");
    assert_gemini_request(&fake.only_request(), false);
}

#[tokio::test]
async fn gemini_stream() {
    let (result, sink, fake) =
        stream_with(Vendor::Gemini, fixture_stream(Vendor::Gemini), QUICK).await;
    let c = result.unwrap();
    assert_eq!(
        *sink.0.lock().unwrap(),
        ["Hello", "! I'm", " Gemini. How can I help?"]
    );
    assert_eq!(c.content, "Hello! I'm Gemini. How can I help?");
    assert_eq!(c.stop_reason, StopReason::Complete);
    assert_eq!(
        c.usage,
        TokenUsage {
            input: 12,
            output: 9,
            cached: 2
        }
    );
    assert_provenance(&c, ProviderKind::Gemini, "gemini", "gemini-2.5-flash");
    assert_gemini_request(&fake.only_request(), true);
}

#[tokio::test]
async fn gemini_blocked_prompt_is_content_filter() {
    let body = json!({
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
        "modelVersion": "gemini-2.5-flash"
    });
    let fake = FakeVendor::start(Reply::json(body.to_string())).await;
    let c = Vendor::Gemini
        .provider(&fake.url, QUICK)
        .complete(&Vendor::Gemini.request())
        .await
        .unwrap();
    assert_eq!(c.stop_reason, StopReason::ContentFilter);
    assert_eq!(c.content, "");
    assert_eq!(c.usage.input, 8);
}

// --- Ollama ----------------------------------------------------------------

fn assert_ollama_request(seen: &Seen, stream: bool) {
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.uri.path(), "/api/chat");
    assert!(seen.headers.get("authorization").is_none());
    let b = &seen.body;
    assert_eq!(b["model"], "llama3.2");
    assert_eq!(b["stream"], stream);
    assert_eq!(
        b["options"],
        json!({"temperature": 0.2, "num_predict": 256})
    );
    assert_eq!(
        b["messages"],
        json!([
            {"role": "system", "content": "You are the band's reviewer."},
            {"role": "user", "content": "Review the billing change."}
        ])
    );
}

#[tokio::test]
async fn ollama_complete() {
    let fake = FakeVendor::start(Reply::json(Vendor::Ollama.fixture("chat.json"))).await;
    let provider = Vendor::Ollama.provider(&fake.url, QUICK);
    assert_eq!(provider.kind(), ProviderKind::Local);
    assert_eq!(provider.name(), "ollama");
    let c = provider.complete(&Vendor::Ollama.request()).await.unwrap();
    assert_eq!(c.content, "Split the migration into two steps.");
    assert_eq!(c.stop_reason, StopReason::Complete);
    assert_eq!(
        c.usage,
        TokenUsage {
            input: 26,
            output: 8,
            cached: 0
        }
    );
    assert_provenance(&c, ProviderKind::Local, "ollama", "llama3.2");
    assert_ollama_request(&fake.only_request(), false);
}

#[tokio::test]
async fn ollama_stream() {
    let (result, sink, fake) =
        stream_with(Vendor::Ollama, fixture_stream(Vendor::Ollama), QUICK).await;
    let c = result.unwrap();
    assert_eq!(
        *sink.0.lock().unwrap(),
        ["Hello", "! I'm", " Llama.", " How can I help?"]
    );
    assert_eq!(c.content, "Hello! I'm Llama. How can I help?");
    assert_eq!(c.stop_reason, StopReason::Complete);
    assert_eq!(
        c.usage,
        TokenUsage {
            input: 26,
            output: 4,
            cached: 0
        }
    );
    assert_provenance(&c, ProviderKind::Local, "ollama", "llama3.2");
    assert_ollama_request(&fake.only_request(), true);
}

// --- faults, for every vendor ----------------------------------------------

async fn complete_with(
    vendor: Vendor,
    reply: Reply,
    timeouts: Timeouts,
) -> (ProviderError, Box<dyn AiProvider>) {
    let fake = FakeVendor::start(reply).await;
    let provider = vendor.provider(&fake.url, timeouts);
    let err = provider.complete(&vendor.request()).await.unwrap_err();
    (err, provider)
}

async fn rate_limited(vendor: Vendor) {
    let (err, provider) = complete_with(
        vendor,
        Reply::status(429, vendor.error_body("slow down")).with_header("retry-after", "7"),
        QUICK,
    )
    .await;
    assert_eq!(
        err,
        ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert_eq!(provider.rate_limit_status().retry_after_secs, Some(7));
}

async fn server_error(vendor: Vendor) {
    let (err, _) = complete_with(
        vendor,
        Reply::status(500, vendor.error_body("internal")),
        QUICK,
    )
    .await;
    assert_eq!(
        err,
        ProviderError::Server {
            status: 500,
            message: "internal".into()
        }
    );
    assert!(err.is_transient());
}

async fn unavailable_is_overloaded(vendor: Vendor) {
    let (err, _) =
        complete_with(vendor, Reply::status(503, vendor.error_body("busy")), QUICK).await;
    assert_eq!(err, ProviderError::Overloaded { retry_after: None });
}

async fn unauthorized(vendor: Vendor) {
    let (err, _) = complete_with(
        vendor,
        Reply::status(401, vendor.error_body("invalid x-api-key")),
        QUICK,
    )
    .await;
    assert_eq!(err, ProviderError::Unauthorized);
    assert!(!err.is_transient());
}

async fn invalid_request_keeps_the_vendor_message(vendor: Vendor) {
    let (err, _) = complete_with(
        vendor,
        Reply::status(400, vendor.error_body("max_tokens: 999999 > 64000")),
        QUICK,
    )
    .await;
    assert_eq!(
        err,
        ProviderError::InvalidRequest("max_tokens: 999999 > 64000".into())
    );
}

async fn html_instead_of_json_is_malformed(vendor: Vendor) {
    let html = Reply::Full {
        status: 200,
        headers: vec![("content-type", "text/html; charset=utf-8".to_owned())],
        body: "<html><body>Sign in to the Wi-Fi</body></html>".to_owned(),
    };
    let (err, _) = complete_with(vendor, html.clone(), QUICK).await;
    assert!(matches!(err, ProviderError::Malformed(_)), "{err:?}");
    let (result, _, _) = stream_with(vendor, html, QUICK).await;
    assert!(
        matches!(result, Err(ProviderError::Malformed(_))),
        "{result:?}"
    );
}

async fn bad_json_body_is_malformed(vendor: Vendor) {
    let (err, _) = complete_with(
        vendor,
        Reply::json("{\"id\": \"msg_1\", \"content\": [tru"),
        QUICK,
    )
    .await;
    assert!(matches!(err, ProviderError::Malformed(_)), "{err:?}");
}

const IMPATIENT: Timeouts = Timeouts {
    request: Duration::from_millis(300),
    stall: Duration::from_millis(200),
};

async fn hanging_server_times_out(vendor: Vendor) {
    let started = std::time::Instant::now();
    let (err, _) = complete_with(vendor, Reply::Hang, IMPATIENT).await;
    assert_eq!(err, ProviderError::Timeout);
    let (result, _, _) = stream_with(vendor, Reply::Hang, IMPATIENT).await;
    assert_eq!(result.unwrap_err(), ProviderError::Timeout);
    assert!(started.elapsed() < Duration::from_secs(3));
}

async fn unreachable(vendor: Vendor) {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = vendor
        .provider(&url, QUICK)
        .complete(&vendor.request())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Unreachable(_)), "{err:?}");
}

fn partial_frames(vendor: Vendor, extra: Option<String>, end: End) -> Reply {
    let mut frames = vendor.frames();
    frames.truncate(vendor.frames_for_partial());
    frames.extend(extra);
    Reply::Frames {
        content_type: vendor.stream_content_type(),
        frames,
        end,
    }
}

fn expect_interrupted(
    vendor: Vendor,
    result: Result<domain::band::Completion, ProviderError>,
    sink: &Collect,
) -> String {
    let ProviderError::StreamInterrupted {
        reason,
        partial,
        usage,
    } = result.unwrap_err()
    else {
        panic!("expected StreamInterrupted")
    };
    assert_eq!(partial, PARTIAL);
    assert_eq!(sink.joined(), PARTIAL);
    // Usage as reported before the break (Ollama reports only at the end).
    let expected_input = match vendor {
        Vendor::Anthropic => 30,
        Vendor::OpenAi | Vendor::Ollama => 0,
        Vendor::Gemini => 12,
    };
    assert_eq!(usage.input, expected_input, "{usage:?}");
    reason
}

async fn stream_cut_cleanly(vendor: Vendor) {
    let (result, sink, _) =
        stream_with(vendor, partial_frames(vendor, None, End::Close), QUICK).await;
    let reason = expect_interrupted(vendor, result, &sink);
    assert!(reason.contains("ended"), "{reason}");
}

async fn stream_connection_broken(vendor: Vendor) {
    let (result, sink, _) =
        stream_with(vendor, partial_frames(vendor, None, End::Abort), QUICK).await;
    expect_interrupted(vendor, result, &sink);
}

async fn stream_with_malformed_event(vendor: Vendor) {
    let reply = partial_frames(vendor, Some(vendor.malformed_frame()), End::Stall);
    let (result, sink, _) = stream_with(vendor, reply, QUICK).await;
    let reason = expect_interrupted(vendor, result, &sink);
    assert!(reason.contains("malformed"), "{reason}");
}

async fn stream_stalls(vendor: Vendor) {
    let started = std::time::Instant::now();
    let (result, sink, _) =
        stream_with(vendor, partial_frames(vendor, None, End::Stall), IMPATIENT).await;
    let reason = expect_interrupted(vendor, result, &sink);
    assert!(reason.contains("stalled"), "{reason}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

async fn health(vendor: Vendor) {
    let fake = FakeVendor::start(Reply::json(r#"{"data": [], "models": []}"#)).await;
    vendor.provider(&fake.url, QUICK).health().await.unwrap();
    let seen = fake.only_request();
    assert_eq!(seen.method, Method::GET);
    assert_eq!(seen.uri.path(), vendor.health_path());

    let fake = FakeVendor::start(Reply::status(401, vendor.error_body("no"))).await;
    // (Ollama has no auth of its own, but a proxy in front of it may.)
    let err = vendor
        .provider(&fake.url, QUICK)
        .health()
        .await
        .unwrap_err();
    assert_eq!(err, ProviderError::Unauthorized);
}

macro_rules! fault_tests {
    ($($module:ident => $vendor:expr),* $(,)?) => {$(
        mod $module {
            use super::*;

            #[tokio::test] async fn rate_limited() { super::rate_limited($vendor).await }
            #[tokio::test] async fn server_error() { super::server_error($vendor).await }
            #[tokio::test] async fn unavailable_is_overloaded() { super::unavailable_is_overloaded($vendor).await }
            #[tokio::test] async fn unauthorized() { super::unauthorized($vendor).await }
            #[tokio::test] async fn invalid_request_keeps_the_vendor_message() { super::invalid_request_keeps_the_vendor_message($vendor).await }
            #[tokio::test] async fn html_instead_of_json_is_malformed() { super::html_instead_of_json_is_malformed($vendor).await }
            #[tokio::test] async fn bad_json_body_is_malformed() { super::bad_json_body_is_malformed($vendor).await }
            #[tokio::test] async fn hanging_server_times_out() { super::hanging_server_times_out($vendor).await }
            #[tokio::test] async fn unreachable() { super::unreachable($vendor).await }
            #[tokio::test] async fn stream_cut_cleanly() { super::stream_cut_cleanly($vendor).await }
            #[tokio::test] async fn stream_connection_broken() { super::stream_connection_broken($vendor).await }
            #[tokio::test] async fn stream_with_malformed_event() { super::stream_with_malformed_event($vendor).await }
            #[tokio::test] async fn stream_stalls() { super::stream_stalls($vendor).await }
            #[tokio::test] async fn health() { super::health($vendor).await }
        }
    )*};
}

fault_tests! {
    anthropic_faults => Vendor::Anthropic,
    openai_faults => Vendor::OpenAi,
    gemini_faults => Vendor::Gemini,
    ollama_faults => Vendor::Ollama,
}
