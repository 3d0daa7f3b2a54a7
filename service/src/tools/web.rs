//! The `web_extract` tool: fetch one http(s) URL and return its readable text. HTML goes through
//! `html2text` (scripts and styles dropped, links as footnotes); other text types are returned as
//! they are; binary content is refused. Limits: 15 s for the whole request, 2 MB of body read,
//! 50 KB of text returned. No crawling, no JavaScript.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Client, Url};
use serde_json::{Value, json};

use super::args::Args;
use super::{Tool, ToolContext, ToolOutput, function_definition, truncate_utf8};

const TIMEOUT: Duration = Duration::from_secs(15);
/// Most body bytes read from the server.
const BODY_CAP: usize = 2 * 1024 * 1024;
/// Most text returned to the model, in bytes.
const TEXT_CAP: usize = 50 * 1024;
/// Wrap width for rendered HTML.
const WIDTH: usize = 120;

pub(crate) struct WebExtract {
    /// `None` if the HTTP client could not be built (TLS backend failure); calls then fail.
    client: Option<Client>,
}

impl WebExtract {
    pub(crate) fn new() -> WebExtract {
        let client = Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!(
                "caduceus/",
                env!("CARGO_PKG_VERSION"),
                " (web_extract)"
            ))
            .build()
            .map_err(|err| tracing::error!(%err, "cannot build the web_extract HTTP client"))
            .ok();
        WebExtract { client }
    }
}

#[async_trait]
impl Tool for WebExtract {
    fn name(&self) -> &'static str {
        "web_extract"
    }

    fn definition(&self) -> Value {
        function_definition(
            self.name(),
            "Fetch a web page (http or https) and return its text content. HTML is converted to \
             plain text; output is capped at 50 KB.",
            json!({"type": "object", "properties": {
                "url": {"type": "string", "description": "The http(s) URL to fetch."}
            }, "required": ["url"]}),
        )
    }

    async fn call(&self, ctx: &ToolContext, args: Value) -> ToolOutput {
        tokio::select! {
            result = self.fetch(&args) => result.unwrap_or_else(ToolOutput::error),
            () = ctx.cancel.cancelled() => ToolOutput::error("the turn was cancelled"),
        }
    }
}

/// How the body will be turned into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Html,
    Text,
    Binary,
}

impl WebExtract {
    async fn fetch(&self, args: &Value) -> Result<ToolOutput, String> {
        let raw = Args::new(args)?.non_empty("url")?.trim();
        let url =
            Url::parse(raw).map_err(|err| format!("argument `url` is not a valid URL: {err}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "only http and https URLs can be fetched, not {}:",
                url.scheme()
            ));
        }
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| "the HTTP client is unavailable on this server".to_owned())?;
        let mut response = client
            .get(url.clone())
            .send()
            .await
            .map_err(|err| format!("cannot fetch {url}: {}", describe(&err)))?;
        let status = response.status();
        let final_url = response.url().to_string();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let mut body = Vec::new();
        let mut body_truncated = false;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| format!("reading {final_url} failed: {}", describe(&err)))?
        {
            let room = BODY_CAP - body.len();
            if chunk.len() >= room {
                body.extend_from_slice(&chunk[..room]);
                body_truncated =
                    chunk.len() > room || response.chunk().await.ok().flatten().is_some();
                break;
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(format!("HTTP {status} from {final_url}"));
        }
        let kind = kind_of(&content_type, &body);
        let mut text = match kind {
            Kind::Binary => {
                return Err(format!(
                    "{final_url} returned binary content ({}), not text",
                    if content_type.is_empty() {
                        "unknown type"
                    } else {
                        &content_type
                    }
                ));
            }
            Kind::Text => String::from_utf8_lossy(&body).into_owned(),
            Kind::Html => tokio::task::spawn_blocking(move || html_to_text(&body))
                .await
                .map_err(|err| format!("converting the page failed: {err}"))??,
        };
        let truncated = truncate_utf8(&mut text, TEXT_CAP) || body_truncated;
        if truncated {
            text.push_str("\n[content truncated]");
        }
        Ok(ToolOutput::json(&json!({
            "url": final_url,
            "status": status.as_u16(),
            "content_type": content_type,
            "content": text,
            "truncated": truncated,
        })))
    }
}

fn html_to_text(body: &[u8]) -> Result<String, String> {
    html2text::from_read(body, WIDTH).map_err(|err| format!("cannot convert the HTML: {err}"))
}

/// Decides from the declared type, sniffing the bytes when the type is missing or generic.
fn kind_of(content_type: &str, body: &[u8]) -> Kind {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "text/html" | "application/xhtml+xml" => return Kind::Html,
        "application/json"
        | "application/xml"
        | "application/javascript"
        | "application/x-javascript"
        | "application/yaml"
        | "application/x-yaml"
        | "application/toml"
        | "application/x-sh" => return Kind::Text,
        _ => {}
    }
    if mime.starts_with("text/") || mime.ends_with("+json") || mime.ends_with("+xml") {
        return Kind::Text;
    }
    let generic = mime.is_empty() || mime == "application/octet-stream";
    if !generic {
        return Kind::Binary;
    }
    let head = &body[..body.len().min(8192)];
    let text_like = !head.contains(&0)
        && match std::str::from_utf8(head) {
            Ok(_) => true,
            // A multi-byte character cut at the 8 KB boundary is still text.
            Err(err) => err.error_len().is_none(),
        };
    if !text_like {
        return Kind::Binary;
    }
    let start = String::from_utf8_lossy(&head[..head.len().min(1024)]).to_ascii_lowercase();
    if start.contains("<!doctype html") || start.contains("<html") {
        Kind::Html
    } else {
        Kind::Text
    }
}

/// A short reason for a reqwest failure (timeouts and connection errors named as such).
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        format!("timed out after {} s", TIMEOUT.as_secs())
    } else if err.is_connect() {
        "connection failed".to_owned()
    } else {
        err.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_kinds() {
        assert_eq!(kind_of("text/html; charset=utf-8", b""), Kind::Html);
        assert_eq!(kind_of("application/ld+json", b"{}"), Kind::Text);
        assert_eq!(kind_of("image/png", b"\x89PNG"), Kind::Binary);
        assert_eq!(kind_of("", b"<!DOCTYPE html><p>x"), Kind::Html);
        assert_eq!(
            kind_of("application/octet-stream", b"plain words"),
            Kind::Text
        );
        assert_eq!(kind_of("", b"\x00\x01\x02"), Kind::Binary);
    }
}
