//! The three paths a bench request can take — [`Path::Direct`] (straight to the mock: the floor),
//! [`Path::Rest`] (the OpenAI facade) and [`Path::Grpc`] — behind one [`Targets`] handle: one
//! unary completion, or a streamed one read as content deltas ([`OpenStream`]). Direct and REST
//! share the same hyper client and request bytes, so their difference is the gateway alone.
//! Timing and scheduling live in `load.rs`; SSE framing in `sse.rs`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use caduceus_proto::v1::chat_completion_event::Event;
use caduceus_proto::v1::chat_service_client::ChatServiceClient;
use caduceus_proto::v1::{ChatMessage, CreateChatCompletionRequest, chat_message};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

use super::mock::{FIXED_TEXT, Mode};
use super::sse::SseReader;

/// Which way a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Path {
    /// Bench client → mock.
    Direct,
    /// Bench client → REST/SSE facade → in-process gRPC → agent → mock.
    Rest,
    /// Bench client → gRPC (HTTP/2) → agent → mock.
    Grpc,
}

impl Path {
    /// Every path, floor first.
    pub const ALL: [Path; 3] = [Path::Direct, Path::Rest, Path::Grpc];

    /// Name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Path::Direct => "direct (mock)",
            Path::Rest => "REST",
            Path::Grpc => "gRPC",
        }
    }

    /// `ALL` rotated by `rep`, so no path always runs first (interleaving).
    pub fn rotation(rep: usize) -> [Path; 3] {
        let mut order = Path::ALL;
        order.rotate_left(rep % Path::ALL.len());
        order
    }
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Everything needed to send a request along any path; cheap to clone.
#[derive(Clone)]
pub struct Targets {
    http: HttpClient,
    direct: Uri,
    rest: Option<(Uri, HeaderValue)>,
    server_base: Option<String>,
    grpc: Option<(ChatServiceClient<Channel>, MetadataValue<Ascii>)>,
    /// `(alias, mode)`: which gateway alias reaches which mock mode.
    routes: Arc<Vec<(&'static str, Mode)>>,
    serial: Arc<AtomicU64>,
}

impl Targets {
    /// Only the direct path (measuring the mock alone).
    pub fn direct_only(completions_url: &str) -> anyhow::Result<Targets> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(usize::MAX)
            .build(connector);
        Ok(Targets {
            http,
            direct: completions_url.parse()?,
            rest: None,
            server_base: None,
            grpc: None,
            routes: Arc::new(Vec::new()),
            serial: Arc::new(AtomicU64::new(0)),
        })
    }

    /// All three paths: the mock, and the server at `base` with bearer `key`; `routes` must be
    /// the aliases the server was configured with.
    pub async fn with_server(
        completions_url: &str,
        base: &str,
        key: &str,
        routes: Vec<(&'static str, Mode)>,
    ) -> anyhow::Result<Targets> {
        let mut targets = Targets::direct_only(completions_url)?;
        let bearer = format!("Bearer {key}");
        targets.rest = Some((
            format!("{base}/v1/chat/completions").parse()?,
            HeaderValue::from_str(&bearer)?,
        ));
        targets.server_base = Some(base.to_owned());
        let channel = Channel::from_shared(base.to_owned())?
            .tcp_nodelay(true)
            .connect()
            .await
            .context("gRPC connect")?;
        targets.grpc = Some((ChatServiceClient::new(channel), bearer.parse()?));
        targets.routes = Arc::new(routes);
        Ok(targets)
    }

    /// Whether `path` can be measured (the gateway paths need a server).
    pub fn has(&self, path: Path) -> bool {
        match path {
            Path::Direct => true,
            Path::Rest => self.rest.is_some(),
            Path::Grpc => self.grpc.is_some(),
        }
    }

    /// `(server base URL, Authorization value)` when a server is attached.
    pub fn server(&self) -> Option<(&str, &HeaderValue)> {
        Some((self.server_base.as_deref()?, &self.rest.as_ref()?.1))
    }

    /// The `model` a request along `path` names to get `mode`: the mock's own model name
    /// directly, the configured alias through the gateway.
    fn model(&self, path: Path, mode: Mode) -> anyhow::Result<String> {
        if path == Path::Direct || mode == Mode::Fixed {
            return Ok(mode.model_name());
        }
        self.routes
            .iter()
            .find(|(_, routed)| *routed == mode)
            .map(|(alias, _)| (*alias).to_owned())
            .ok_or_else(|| anyhow!("no model route for {mode:?}"))
    }

    /// A distinct user text per request: each request is a new conversation (a new stored
    /// session), as from many independent clients.
    fn user_text(&self) -> String {
        format!("bench {}", self.serial.fetch_add(1, Ordering::Relaxed))
    }

    /// One non-streamed completion; fails unless it succeeds and carries the mock's text.
    pub async fn unary(&self, path: Path) -> anyhow::Result<()> {
        if path == Path::Grpc {
            let (client, auth) = self.grpc.as_ref().context("no gRPC target")?;
            let request = self.grpc_request(Mode::Fixed, auth)?;
            let response = client.clone().create_chat_completion(request).await?;
            let text = response
                .get_ref()
                .choices
                .first()
                .and_then(|c| c.message.as_ref())
                .and_then(|m| match &m.content {
                    Some(chat_message::Content::Text(text)) => Some(text.as_str()),
                    _ => None,
                });
            if text != Some(FIXED_TEXT) {
                bail!("gRPC answer without the mock's text: {text:?}");
            }
            return Ok(());
        }
        let response = self
            .http
            .request(self.http_request(path, Mode::Fixed, false)?);
        let response = response.await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if !status.is_success() || !contains(&body, FIXED_TEXT.as_bytes()) {
            bail!(
                "{} answered {status}: {}",
                path.name(),
                String::from_utf8_lossy(body.get(..300).unwrap_or(&body))
            );
        }
        Ok(())
    }

    /// Opens a streamed completion answered by `mode`.
    pub async fn open_stream(&self, path: Path, mode: Mode) -> anyhow::Result<OpenStream> {
        if path == Path::Grpc {
            let (client, auth) = self.grpc.as_ref().context("no gRPC target")?;
            let request = self.grpc_request(mode, auth)?;
            let stream = client.clone().stream_chat_completion(request).await?;
            return Ok(OpenStream::Grpc {
                stream: stream.into_inner(),
                pending: VecDeque::new(),
            });
        }
        let response = self
            .http
            .request(self.http_request(path, mode, true)?)
            .await?;
        let status = response.status();
        if !status.is_success() {
            let body = response.into_body().collect().await?.to_bytes();
            bail!(
                "{} stream answered {status}: {}",
                path.name(),
                String::from_utf8_lossy(body.get(..300).unwrap_or(&body))
            );
        }
        Ok(OpenStream::Http(SseReader::new(response.into_body())))
    }

    fn http_request(
        &self,
        path: Path,
        mode: Mode,
        stream: bool,
    ) -> anyhow::Result<Request<Full<Bytes>>> {
        let body = serde_json::json!({
            "model": self.model(path, mode)?,
            "messages": [{"role": "user", "content": self.user_text()}],
        });
        // `stream` last: the mock looks for it from the end (as the server sends it).
        let mut text = body.to_string();
        text.pop();
        text.push_str(if stream {
            r#","stream":true}"#
        } else {
            r#","stream":false}"#
        });
        let builder = Request::post(match path {
            Path::Direct => self.direct.clone(),
            _ => self.rest.as_ref().context("no REST target")?.0.clone(),
        })
        .header(CONTENT_TYPE, "application/json");
        let builder = match (&self.rest, path) {
            (Some((_, auth)), Path::Rest) => builder.header(AUTHORIZATION, auth.clone()),
            _ => builder,
        };
        Ok(builder.body(Full::new(Bytes::from(text)))?)
    }

    fn grpc_request(
        &self,
        mode: Mode,
        auth: &MetadataValue<Ascii>,
    ) -> anyhow::Result<tonic::Request<CreateChatCompletionRequest>> {
        let mut request = tonic::Request::new(CreateChatCompletionRequest {
            model: Some(self.model(Path::Grpc, mode)?),
            messages: vec![ChatMessage {
                role: "user".into(),
                content: Some(chat_message::Content::Text(self.user_text())),
                ..ChatMessage::default()
            }],
            ..CreateChatCompletionRequest::default()
        });
        request.metadata_mut().insert("authorization", auth.clone());
        Ok(request)
    }
}

/// A streamed completion being read.
pub enum OpenStream {
    /// Direct or REST: SSE over HTTP/1.1.
    Http(SseReader<Incoming>),
    /// gRPC server streaming.
    Grpc {
        stream: tonic::Streaming<caduceus_proto::v1::ChatCompletionEvent>,
        pending: VecDeque<String>,
    },
}

impl OpenStream {
    /// The next non-empty content delta; `None` once the stream finished. An error event or a
    /// broken stream is an error.
    pub async fn next_content(&mut self) -> anyhow::Result<Option<String>> {
        match self {
            OpenStream::Http(reader) => reader.next_content().await,
            OpenStream::Grpc { stream, pending } => loop {
                if let Some(text) = pending.pop_front() {
                    return Ok(Some(text));
                }
                let Some(event) = stream.message().await? else {
                    return Ok(None);
                };
                match event.event {
                    Some(Event::Chunk(chunk)) => pending.extend(
                        chunk
                            .choices
                            .into_iter()
                            .filter_map(|c| c.delta?.content)
                            .filter(|text| !text.is_empty()),
                    ),
                    Some(Event::Error(error)) => bail!("gRPC stream error: {}", error.message),
                    _ => {}
                }
            },
        }
    }

    /// Reads to the end; returns how many content deltas arrived.
    pub async fn drain(&mut self) -> anyhow::Result<u64> {
        let mut count = 0;
        while self.next_content().await?.is_some() {
            count += 1;
        }
        Ok(count)
    }
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_interleaves_every_path() {
        assert_eq!(Path::rotation(0), Path::ALL);
        assert_eq!(Path::rotation(1), [Path::Rest, Path::Grpc, Path::Direct]);
        assert_eq!(Path::rotation(3), Path::ALL);
    }

    #[tokio::test]
    async fn direct_requests_name_the_mock_mode_and_gateway_ones_the_alias() {
        let mut targets = Targets::direct_only("http://127.0.0.1:9/v1/chat/completions").unwrap();
        targets.routes = Arc::new(vec![("hold", Mode::Hold)]);
        assert_eq!(targets.model(Path::Direct, Mode::Hold).unwrap(), "hold");
        assert_eq!(targets.model(Path::Rest, Mode::Hold).unwrap(), "hold");
        assert_eq!(targets.model(Path::Rest, Mode::Fixed).unwrap(), "fixed");
        assert!(
            targets
                .model(Path::Rest, Mode::Burst { chunks: 3 })
                .is_err()
        );
        let request = targets
            .http_request(Path::Direct, Mode::Hold, true)
            .unwrap();
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["stream"], true);
        assert_eq!(json["model"], "hold");
        assert!(
            targets
                .http_request(Path::Rest, Mode::Fixed, false)
                .is_err()
        );
    }
}
