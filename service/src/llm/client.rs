//! [`UpstreamClient`]: the one HTTP client (connection pool) the process uses to call
//! OpenAI-compatible upstreams. Opens a streaming Chat Completions call with bounded, jittered
//! retries before any output, then the fallback providers in order, and hands back an
//! [`UpstreamStream`]. Route rules live in `route.rs`, the retry schedule in `retry.rs`, reading
//! the stream in `sse.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use backon::Retryable;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::{self};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::Value;
use tracing::Instrument;
use tracing::field::Empty;

use super::assemble::{Assembler, AssistantTurn};
use super::decode::completion_events;
use super::error::{UpstreamError, truncate};
use super::retry::{RetryPolicy, retry_after};
use super::route::{Route, Routes, Target};
use super::sse::{self as sse, BodyLimits, UpstreamStream};
use super::wire::{ChatRequest, StreamOptions};
use crate::config::Config;
use crate::error::Error;

/// Adds headers to every upstream request (e.g. W3C `traceparent` from the current span);
/// called inside the upstream call's span.
pub type HeaderHook = Arc<dyn Fn(&mut HeaderMap) + Send + Sync>;

/// Most bytes of an error body read to find the upstream's message.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// Talks to the configured upstream LLMs. Build once per process and clone freely: clones share
/// the connection pool.
#[derive(Clone)]
pub struct UpstreamClient {
    http: reqwest::Client,
    routes: Arc<Routes>,
    read_timeout: Duration,
    limits: BodyLimits,
    policy: RetryPolicy,
    header_hook: Option<HeaderHook>,
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamClient")
            .field("routes", &self.routes)
            .field("read_timeout", &self.read_timeout)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// One failed attempt: the error, and how long the upstream asked us to wait.
struct Failure {
    error: UpstreamError,
    retry_after: Option<Duration>,
}

impl From<UpstreamError> for Failure {
    fn from(error: UpstreamError) -> Self {
        Failure {
            error,
            retry_after: None,
        }
    }
}

impl UpstreamClient {
    /// The client for `config`: connect timeout from `model.connect_timeout`, idle read timeout
    /// (between streamed bytes, and for the response headers) from `model.read_timeout`.
    pub fn from_config(config: &Config) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.upstream_connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("caduceus/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Internal(format!("cannot build the upstream HTTP client: {e}")))?;
        Ok(UpstreamClient {
            http,
            routes: Arc::new(Routes::from_config(config)),
            read_timeout: config.upstream_read_timeout,
            limits: BodyLimits {
                read_timeout: config.upstream_read_timeout,
                max_bytes: config.upstream_max_response_bytes,
                max_time: config.upstream_max_response_time,
            },
            policy: RetryPolicy::default(),
            header_hook: None,
        })
    }

    /// Replaces the retry policy (tests shorten it; the default is 3 attempts from 200 ms).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Adds headers to every upstream request, e.g. trace-context propagation.
    pub fn with_header_hook(mut self, hook: HeaderHook) -> Self {
        self.header_hook = Some(hook);
        self
    }

    /// True when a request that names no alias can be served (the primary is configured).
    pub fn is_configured(&self) -> bool {
        self.routes.has_primary()
    }

    /// The route for a client's `model`: a `model_routes` alias selects that upstream; any other
    /// name (only echoed back to the client) uses the primary with `model.default`. No upstream
    /// configured → `Error::Unavailable { code: "no_upstream_configured", .. }`.
    pub fn resolve(&self, requested_model: Option<&str>) -> Result<Route, Error> {
        self.routes.resolve(requested_model)
    }

    /// Opens a streaming call along `route`. Retries (and then falls back) only before the
    /// response is accepted, i.e. before any answer byte; after that, errors arrive as items of
    /// the stream and nobody may retry ([`UpstreamStream::first_byte_received`]).
    pub async fn stream_chat(
        &self,
        route: &Route,
        request: ChatRequest,
    ) -> Result<UpstreamStream, UpstreamError> {
        self.stream_chat_in_conversation(route, request, None).await
    }

    /// [`UpstreamClient::stream_chat`] for a stored conversation (the session id), recorded as
    /// `gen_ai.conversation.id` on the `chat {model}` span. The span is a CLIENT child of the
    /// current span and lives as long as the returned stream; the header hook runs inside it, so
    /// the upstream request's `traceparent` names it. Message contents go on it only when content
    /// capture is on; the API key never does.
    pub async fn stream_chat_in_conversation(
        &self,
        route: &Route,
        request: ChatRequest,
        conversation_id: Option<&str>,
    ) -> Result<UpstreamStream, UpstreamError> {
        let first = route
            .primary()
            .ok_or_else(|| UpstreamError::Unreachable("no upstream configured".to_owned()))?;
        let span = tracing::info_span!(
            parent: &tracing::Span::current(),
            "chat",
            otel.name = %format!("chat {}", first.model),
            otel.kind = "client",
            otel.status_code = Empty,
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = %first.provider,
            gen_ai.request.model = %first.model,
            gen_ai.conversation.id = conversation_id.unwrap_or_default(),
            gen_ai.response.model = Empty,
            gen_ai.response.finish_reasons = Empty,
            gen_ai.usage.input_tokens = Empty,
            gen_ai.usage.output_tokens = Empty,
            server.address = Empty,
            server.port = Empty,
            error.type = Empty,
        );
        crate::telemetry::genai::capture(&span, "gen_ai.input.messages", || {
            serde_json::to_string(&request.messages).unwrap_or_default()
        });
        let result = self
            .open_route(route, request, span.clone())
            .instrument(span.clone())
            .await;
        if let Err(error) = &result {
            span.record("otel.status_code", "ERROR");
            span.record("error.type", error.summary().as_str());
        }
        result
    }

    /// Calls along `route` and assembles the whole answer (no live relay).
    pub async fn complete(
        &self,
        route: &Route,
        request: ChatRequest,
    ) -> Result<AssistantTurn, UpstreamError> {
        let mut stream = self.stream_chat(route, request).await?;
        let mut assembler = Assembler::new();
        while let Some(event) = stream.next().await {
            assembler.apply(&event?);
        }
        if !assembler.is_finished() {
            return Err(UpstreamError::Protocol(
                "the stream ended without finishing".to_owned(),
            ));
        }
        Ok(assembler.into_turn())
    }

    async fn open_route(
        &self,
        route: &Route,
        mut request: ChatRequest,
        span: tracing::Span,
    ) -> Result<UpstreamStream, UpstreamError> {
        request.stream = true;
        request.stream_options = Some(StreamOptions {
            include_usage: true,
        });
        let mut last = None;
        for (i, target) in route.targets.iter().enumerate() {
            if let Some(error) = &last {
                tracing::warn!(
                    provider = %target.provider,
                    model = %target.model,
                    fallback = i,
                    after = %UpstreamError::summary(error),
                    "upstream failed before any output; trying the next fallback provider"
                );
            }
            let body = body_for(target, &mut request)?;
            match self.open(target, body).await {
                Ok(response) => {
                    span.record("gen_ai.response.model", target.model.as_str());
                    let (address, port) = host_and_port(&target.base_url);
                    span.record("server.address", address.as_str());
                    if let Some(port) = port {
                        span.record("server.port", i64::from(port));
                    }
                    return self.stream_from(response, target, span).await;
                }
                Err(error) if error.is_retryable() => last = Some(error),
                Err(error) => return Err(error),
            }
        }
        Err(last.unwrap_or_else(|| UpstreamError::Unreachable("no upstream configured".into())))
    }

    /// One target with the retry policy; the response is 2xx.
    async fn open(&self, target: &Target, body: Bytes) -> Result<reqwest::Response, UpstreamError> {
        let url = format!("{}/chat/completions", target.base_url.trim_end_matches('/'));
        let attempt = || self.attempt(&url, target, body.clone());
        attempt
            .retry(self.policy.backoff())
            .when(|failure: &Failure| failure.error.is_retryable())
            .adjust(|failure: &Failure, backoff| self.policy.delay(failure.retry_after, backoff))
            .notify(|failure: &Failure, wait: Duration| {
                tracing::warn!(
                    provider = %target.provider,
                    model = %target.model,
                    error = %failure.error.summary(),
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "upstream call failed before any output; retrying"
                );
            })
            .await
            .map_err(|failure| failure.error)
    }

    async fn attempt(
        &self,
        url: &str,
        target: &Target,
        body: Bytes,
    ) -> Result<reqwest::Response, Failure> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(key) = &target.api_key {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", key.expose())).map_err(|_| {
                    UpstreamError::Unreachable(
                        "the upstream API key is not a valid HTTP header value".to_owned(),
                    )
                })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        if let Some(hook) = &self.header_hook {
            hook(&mut headers);
        }
        let send = self.http.post(url).headers(headers).body(body).send();
        let response = match tokio::time::timeout(self.read_timeout, send).await {
            Err(_) => return Err(UpstreamError::Timeout.into()),
            Ok(Err(error)) => return Err(send_error(&error).into()),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = retry_after(response.headers());
        let error = if status == StatusCode::TOO_MANY_REQUESTS {
            UpstreamError::RateLimited
        } else if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
            UpstreamError::Server {
                status: status.as_u16(),
            }
        } else {
            UpstreamError::Rejected {
                status: status.as_u16(),
                message: self.error_message(response, target).await,
            }
        };
        Err(Failure { error, retry_after })
    }

    /// The upstream's own error message from a rejection body, scrubbed of our key and cut short.
    async fn error_message(&self, mut response: reqwest::Response, target: &Target) -> String {
        let status = response.status();
        let mut body = Vec::new();
        let read = async {
            while let Ok(Some(chunk)) = response.chunk().await {
                body.extend_from_slice(&chunk);
                if body.len() >= MAX_ERROR_BODY {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(self.read_timeout, read).await;
        let text = String::from_utf8_lossy(&body);
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| json_message(&v))
            .unwrap_or_else(|| text.into_owned());
        let mut message = truncate(&message);
        if let Some(key) = &target.api_key
            && !key.expose().is_empty()
        {
            message = message.replace(key.expose(), "***");
        }
        if message.is_empty() {
            status.canonical_reason().unwrap_or("no message").to_owned()
        } else {
            message
        }
    }

    /// The accepted response as events: SSE normally; a JSON body from providers that ignore
    /// `stream: true`.
    async fn stream_from(
        &self,
        response: reqwest::Response,
        target: &Target,
        span: tracing::Span,
    ) -> Result<UpstreamStream, UpstreamError> {
        let first_byte = Arc::new(AtomicBool::new(false));
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let inner = if content_type.contains("json") {
            let body = sse::whole_body(response, self.limits, Arc::clone(&first_byte)).await?;
            first_byte.store(true, Ordering::Release);
            let value: Value = serde_json::from_slice(&body).map_err(|e| {
                UpstreamError::Protocol(format!("the answer is not valid JSON ({e})"))
            })?;
            let events = completion_events(&value)?;
            stream::iter(events.into_iter().map(Ok)).boxed()
        } else {
            sse::events(response, self.limits, Arc::clone(&first_byte))
        };
        Ok(UpstreamStream::new(
            inner,
            first_byte,
            target.provider.clone(),
            target.model.clone(),
            span,
        ))
    }
}

/// The body for one target: the request (already set to stream with usage) with its model,
/// encoded in place rather than cloned per target.
fn body_for(target: &Target, request: &mut ChatRequest) -> Result<Bytes, UpstreamError> {
    request.model.clone_from(&target.model);
    serde_json::to_vec(request)
        .map(Bytes::from)
        .map_err(|e| UpstreamError::Protocol(format!("cannot encode the request: {e}")))
}

/// `error.message`, `error` (string), `message` or `detail` from an error body.
fn json_message(body: &Value) -> Option<String> {
    let error = body.get("error");
    error
        .and_then(|e| e.get("message"))
        .or(error.filter(|e| e.is_string()))
        .or_else(|| body.get("message"))
        .or_else(|| body.get("detail"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// A send failure described without the URL (which may carry credentials).
fn send_error(error: &reqwest::Error) -> UpstreamError {
    let mut refused = false;
    let mut dns = false;
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            refused |= io.kind() == std::io::ErrorKind::ConnectionRefused;
        }
        dns |= cause.to_string().contains("dns error");
        source = cause.source();
    }
    let detail = if error.is_builder() {
        "invalid upstream base_url"
    } else if refused {
        "connection refused"
    } else if dns {
        "DNS lookup failed"
    } else if error.is_timeout() {
        "connect timeout"
    } else if error.is_connect() {
        "connect error"
    } else {
        "connection failed before a response"
    };
    UpstreamError::Unreachable(detail.to_owned())
}

/// The host and port of a base URL, for spans (never the userinfo, path or query).
fn host_and_port(base_url: &str) -> (String, Option<u16>) {
    let url = reqwest::Url::parse(base_url).ok();
    let host = url
        .as_ref()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    (host, url.and_then(|u| u.port_or_known_default()))
}
