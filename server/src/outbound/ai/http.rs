//! What every vendor adapter shares about HTTP: sending with a deadline,
//! turning statuses and transport failures into [`ProviderError`]s the
//! resilience layer can act on, checking content types, and reading the
//! rate-limit headers into [`RateLimitStatus`].

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use domain::band::{AiRequest, Provenance, ProviderError, ProviderKind, RateLimitStatus};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;

/// How much of an unparseable error body goes into a message: enough to
/// diagnose, not enough to flood a log.
const MAX_MESSAGE_CHARS: usize = 500;

/// Sends `request`, waiting at most `timeout` for the response headers,
/// records the rate-limit headers in `limits`, and turns a non-2xx status
/// into its error.
pub(crate) async fn send(
    request: RequestBuilder,
    timeout: Duration,
    limits: &Mutex<RateLimitStatus>,
) -> Result<Response, ProviderError> {
    let started = Instant::now();
    let response = tokio::time::timeout(timeout, request.send())
        .await
        .map_err(|_| ProviderError::Timeout)?
        .map_err(transport_error)?;
    let status = response.status();
    record_rate_limits(limits, status, response.headers(), Utc::now());
    tracing::debug!(%status, elapsed_ms = started.elapsed().as_millis() as u64, "provider answered");
    if status.is_success() {
        return Ok(response);
    }
    let headers = response.headers().clone();
    let left = timeout.saturating_sub(started.elapsed());
    // The error body only adds detail: a slow or broken one still leaves the
    // status to act on.
    let body = match tokio::time::timeout(left, response.text()).await {
        Ok(Ok(body)) => body,
        _ => String::new(),
    };
    Err(status_error(status, &headers, &body, Utc::now()))
}

/// A non-streaming call: sends `request` and reads its JSON answer, the
/// whole exchange within one `timeout`.
pub(crate) async fn call_json<T: DeserializeOwned>(
    request: RequestBuilder,
    timeout: Duration,
    limits: &Mutex<RateLimitStatus>,
) -> Result<T, ProviderError> {
    let started = Instant::now();
    let response = send(request, timeout, limits).await?;
    read_json(response, timeout.saturating_sub(started.elapsed())).await
}

/// Reads a 2xx body as JSON of type `T`, insisting on a JSON content type.
pub(crate) async fn read_json<T: DeserializeOwned>(
    response: Response,
    timeout: Duration,
) -> Result<T, ProviderError> {
    expect_content_type(response.headers(), &["json"])?;
    let bytes = tokio::time::timeout(timeout, response.bytes())
        .await
        .map_err(|_| ProviderError::Timeout)?
        .map_err(transport_error)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ProviderError::Malformed(format!("response body: {e}")))
}

/// A 200 whose content type is none of `accepted` (substrings such as
/// `json`, `event-stream`) is not the vendor's answer — typically a proxy's
/// or captive portal's HTML page.
pub(crate) fn expect_content_type(
    headers: &HeaderMap,
    accepted: &[&str],
) -> Result<(), ProviderError> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        // Some compatible servers omit it; the body parser will judge.
        return Ok(());
    };
    let ct = value.to_str().unwrap_or_default().to_ascii_lowercase();
    if accepted.iter().any(|a| ct.contains(a)) {
        Ok(())
    } else {
        Err(ProviderError::Malformed(format!(
            "unexpected content type {ct:?} (wanted {})",
            accepted.join(" or ")
        )))
    }
}

/// Transport failures: never connected → `Unreachable`, too slow →
/// `Timeout`.
pub(crate) fn transport_error(e: reqwest::Error) -> ProviderError {
    if e.is_timeout() {
        ProviderError::Timeout
    } else {
        // `reqwest::Error`'s Display omits the cause ("error sending request").
        let mut msg = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            source = s.source();
        }
        ProviderError::Unreachable(msg)
    }
}

/// Maps a non-2xx status (with its headers and body) to the error the
/// resilience layer acts on.
pub(crate) fn status_error(
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
    now: DateTime<Utc>,
) -> ProviderError {
    let message = vendor_message(body);
    match status.as_u16() {
        401 | 403 => ProviderError::Unauthorized,
        400 | 404 | 413 | 422 => ProviderError::InvalidRequest(message),
        429 => ProviderError::RateLimited {
            retry_after: retry_after(headers, now).or_else(|| body_retry_delay(body)),
        },
        503 | 529 => ProviderError::Overloaded {
            retry_after: retry_after(headers, now),
        },
        code @ 500..=599 => ProviderError::Server {
            status: code,
            message,
        },
        // Other 4xx (405, 409, ...) are about the request, not the provider.
        _ => ProviderError::InvalidRequest(format!("HTTP {status}: {message}")),
    }
}

/// The vendor's own words from an error body: `error.message` (Anthropic,
/// OpenAI, Gemini), `error` as a string (Ollama), else the body itself.
pub(crate) fn vendor_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let from_json = parsed.as_ref().and_then(|v| {
        let err = v.get("error")?;
        err.as_str()
            .or_else(|| err.get("message").and_then(|m| m.as_str()))
            .map(str::to_owned)
    });
    let text = from_json.unwrap_or_else(|| body.trim().to_owned());
    text.chars().take(MAX_MESSAGE_CHARS).collect()
}

/// How long the provider asked us to wait: `retry-after-ms` (OpenAI),
/// `retry-after` in seconds or as an HTTP date, else — for Anthropic — the
/// reset time of an exhausted `anthropic-ratelimit-*` limit.
pub(crate) fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    if let Some(ms) = header_str(headers, "retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_millis(ms.ceil() as u64));
    }
    if let Some(d) = header_str(headers, "retry-after").and_then(|v| parse_retry_after(v, now)) {
        return Some(d);
    }
    ["requests", "tokens", "input-tokens", "output-tokens"]
        .iter()
        .filter(|kind| {
            header_u64(headers, &format!("anthropic-ratelimit-{kind}-remaining")) == Some(0)
        })
        .filter_map(|kind| {
            header_str(headers, &format!("anthropic-ratelimit-{kind}-reset"))
                .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
        })
        .max()
        .map(|reset| until(reset.with_timezone(&Utc), now))
}

/// `Retry-After` is either whole seconds or an HTTP date (RFC 9110 §10.2.3).
pub(crate) fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // Not allowed by the RFC but sent by some gateways.
    if let Ok(secs) = value.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs(secs.ceil() as u64));
    }
    // IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") is a subset of RFC 2822.
    DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|at| until(at.with_timezone(&Utc), now))
}

/// Gemini puts the wait in the body: `error.details[].retryDelay: "7s"`.
fn body_retry_delay(body: &str) -> Option<Duration> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v.get("error")?
        .get("details")?
        .as_array()?
        .iter()
        .find_map(|d| d.get("retryDelay")?.as_str().and_then(parse_go_duration))
}

/// Time from `now` until `at`, never negative.
fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (at - now).to_std().unwrap_or_default()
}

/// Durations as OpenAI (`x-ratelimit-reset-*`) and Google (`retryDelay`)
/// write them: `1s`, `6m0s`, `1h2m3.5s`, `20ms`.
pub(crate) fn parse_go_duration(value: &str) -> Option<Duration> {
    let mut rest = value.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0_f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 0.000_001,
            "ns" => 0.000_000_001,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// Updates `limits` from one response's headers: what it says replaces what
/// we knew; what it does not say stays.
pub(crate) fn record_rate_limits(
    limits: &Mutex<RateLimitStatus>,
    status: StatusCode,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) {
    let seen = parse_rate_limits(headers, now);
    let mut current = limits.lock().unwrap_or_else(PoisonError::into_inner);
    macro_rules! merge {
        ($($field:ident),*) => { $( if seen.$field.is_some() { current.$field = seen.$field; } )* };
    }
    merge!(
        requests_limit,
        requests_remaining,
        tokens_limit,
        tokens_remaining,
        reset_at
    );
    let code = status.as_u16();
    if matches!(code, 429 | 503 | 529) {
        current.retry_after_secs = retry_after(headers, now).map(|d| d.as_secs());
    } else if status.is_success() {
        // A call went through: an earlier request to wait is over.
        current.retry_after_secs = None;
    }
}

/// Reads Anthropic's `anthropic-ratelimit-*` and OpenAI's `x-ratelimit-*`
/// headers. `reset_at` is the reset of the most constrained limit (the one
/// with the smallest share left).
pub(crate) fn parse_rate_limits(headers: &HeaderMap, now: DateTime<Utc>) -> RateLimitStatus {
    let anthropic_reset = |kind: &str| {
        header_str(headers, &format!("anthropic-ratelimit-{kind}-reset"))
            .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let openai_reset = |kind: &str| {
        header_str(headers, &format!("x-ratelimit-reset-{kind}"))
            .and_then(parse_go_duration)
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| now + d)
    };
    let pick = |a: &str, b: &str| header_u64(headers, a).or_else(|| header_u64(headers, b));
    let status = RateLimitStatus {
        requests_limit: pick(
            "anthropic-ratelimit-requests-limit",
            "x-ratelimit-limit-requests",
        ),
        requests_remaining: pick(
            "anthropic-ratelimit-requests-remaining",
            "x-ratelimit-remaining-requests",
        ),
        tokens_limit: pick(
            "anthropic-ratelimit-tokens-limit",
            "x-ratelimit-limit-tokens",
        ),
        tokens_remaining: pick(
            "anthropic-ratelimit-tokens-remaining",
            "x-ratelimit-remaining-tokens",
        ),
        reset_at: None,
        retry_after_secs: None,
    };
    let requests_reset = anthropic_reset("requests").or_else(|| openai_reset("requests"));
    let tokens_reset = anthropic_reset("tokens").or_else(|| openai_reset("tokens"));
    let share = |remaining: Option<u64>, limit: Option<u64>| match (remaining, limit) {
        (Some(r), Some(l)) if l > 0 => r as f64 / l as f64,
        _ => 1.0,
    };
    let reset_at = match (requests_reset, tokens_reset) {
        (Some(r), Some(t)) => {
            let req_share = share(status.requests_remaining, status.requests_limit);
            let tok_share = share(status.tokens_remaining, status.tokens_limit);
            Some(if req_share < tok_share {
                r
            } else if tok_share < req_share {
                t
            } else {
                r.max(t)
            })
        }
        (r, t) => r.or(t),
    };
    RateLimitStatus { reset_at, ..status }
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    header_str(headers, name)?.parse().ok()
}

/// Provenance of an answer to `request`: the model the vendor reports, or
/// the requested one when it reports none.
pub(crate) fn provenance(
    kind: ProviderKind,
    provider: &str,
    reported_model: Option<String>,
    request: &AiRequest,
) -> Provenance {
    Provenance {
        agent: kind,
        provider: provider.to_owned(),
        model_version: reported_model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| request.model.clone()),
        timestamp: Utc::now(),
        temperature: request.temperature,
        max_tokens: request.max_tokens,
    }
}

/// Whole milliseconds since `started`.
pub(crate) fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A snapshot of `limits`.
pub(crate) fn snapshot(limits: &Mutex<RateLimitStatus>) -> RateLimitStatus {
    limits
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-06-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn retry_after_seconds_and_http_dates() {
        assert_eq!(parse_retry_after("7", now()), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now()), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("1.2", now()),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            parse_retry_after("Sun, 01 Jun 2025 12:00:30 GMT", now()),
            Some(Duration::from_secs(30))
        );
        // A date in the past means "now", not a negative wait.
        assert_eq!(
            parse_retry_after("Sun, 01 Jun 2025 11:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now()), None);
        assert_eq!(parse_retry_after("-3", now()), None);
    }

    #[test]
    fn retry_after_prefers_ms_then_header_then_anthropic_reset() {
        let h = headers(&[("retry-after-ms", "1500"), ("retry-after", "9")]);
        assert_eq!(retry_after(&h, now()), Some(Duration::from_millis(1500)));
        let h = headers(&[
            ("anthropic-ratelimit-tokens-remaining", "0"),
            ("anthropic-ratelimit-tokens-reset", "2025-06-01T12:00:12Z"),
            ("anthropic-ratelimit-requests-remaining", "10"),
            ("anthropic-ratelimit-requests-reset", "2025-06-01T12:00:59Z"),
        ]);
        assert_eq!(retry_after(&h, now()), Some(Duration::from_secs(12)));
        assert_eq!(retry_after(&HeaderMap::new(), now()), None);
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_go_duration("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(
            parse_go_duration("1h2m3.5s"),
            Some(Duration::from_millis(3_723_500))
        );
        assert_eq!(parse_go_duration("7"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn statuses_map_to_errors() {
        let none = HeaderMap::new();
        let err = |code: u16, body: &str| {
            status_error(StatusCode::from_u16(code).unwrap(), &none, body, now())
        };
        assert_eq!(err(401, ""), ProviderError::Unauthorized);
        assert_eq!(err(403, ""), ProviderError::Unauthorized);
        assert_eq!(
            err(
                400,
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too big"}}"#
            ),
            ProviderError::InvalidRequest("max_tokens: too big".into())
        );
        assert_eq!(
            err(404, r#"{"error":"model 'x' not found"}"#),
            ProviderError::InvalidRequest("model 'x' not found".into())
        );
        assert_eq!(
            err(529, ""),
            ProviderError::Overloaded { retry_after: None }
        );
        assert_eq!(
            err(503, ""),
            ProviderError::Overloaded { retry_after: None }
        );
        assert_eq!(
            err(502, "bad gateway"),
            ProviderError::Server {
                status: 502,
                message: "bad gateway".into()
            }
        );
        assert_eq!(
            err(
                429,
                r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}"#
            ),
            ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            }
        );
    }

    #[test]
    fn rate_limit_headers_of_both_vendors() {
        let a = parse_rate_limits(
            &headers(&[
                ("anthropic-ratelimit-requests-limit", "50"),
                ("anthropic-ratelimit-requests-remaining", "49"),
                ("anthropic-ratelimit-requests-reset", "2025-06-01T12:00:01Z"),
                ("anthropic-ratelimit-tokens-limit", "40000"),
                ("anthropic-ratelimit-tokens-remaining", "1000"),
                ("anthropic-ratelimit-tokens-reset", "2025-06-01T12:00:30Z"),
            ]),
            now(),
        );
        assert_eq!(a.requests_limit, Some(50));
        assert_eq!(a.requests_remaining, Some(49));
        assert_eq!(a.tokens_limit, Some(40_000));
        assert_eq!(a.tokens_remaining, Some(1_000));
        // Tokens are the scarcer limit, so their reset is the one that matters.
        assert_eq!(a.reset_at, Some(now() + chrono::Duration::seconds(30)));

        let o = parse_rate_limits(
            &headers(&[
                ("x-ratelimit-limit-requests", "500"),
                ("x-ratelimit-remaining-requests", "1"),
                ("x-ratelimit-reset-requests", "6m0s"),
                ("x-ratelimit-limit-tokens", "30000"),
                ("x-ratelimit-remaining-tokens", "29000"),
                ("x-ratelimit-reset-tokens", "2ms"),
            ]),
            now(),
        );
        assert_eq!(o.requests_limit, Some(500));
        assert_eq!(o.requests_remaining, Some(1));
        assert_eq!(o.tokens_remaining, Some(29_000));
        assert_eq!(o.reset_at, Some(now() + chrono::Duration::minutes(6)));
    }

    #[test]
    fn content_type_check() {
        let h = headers(&[("content-type", "text/event-stream; charset=utf-8")]);
        assert!(expect_content_type(&h, &["event-stream"]).is_ok());
        let h = headers(&[("content-type", "text/html")]);
        assert!(matches!(
            expect_content_type(&h, &["json"]),
            Err(ProviderError::Malformed(_))
        ));
    }
}
