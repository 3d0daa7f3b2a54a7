//! [`SseReader`]: the bench's minimal server-sent-events reader — splits a response body into
//! frames, yields the `data:` payloads, and pulls content deltas out of OpenAI chunks by byte
//! search (no JSON decoding, so the floor path stays cheap). Ends at `[DONE]` or the body's end;
//! an OpenAI error chunk is an error.

use std::collections::VecDeque;

use anyhow::bail;
use bytes::{Buf, Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Body;

/// Reads an SSE response body frame by frame.
pub struct SseReader<B> {
    body: B,
    buffer: BytesMut,
    data: VecDeque<Bytes>,
    ended: bool,
}

impl<B> SseReader<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    /// A reader over `body`.
    pub fn new(body: B) -> Self {
        SseReader {
            body,
            buffer: BytesMut::new(),
            data: VecDeque::new(),
            ended: false,
        }
    }

    /// The next `data:` payload (`[DONE]` included); `None` at the end of the body.
    pub async fn next_data(&mut self) -> anyhow::Result<Option<Bytes>> {
        loop {
            if let Some(data) = self.data.pop_front() {
                return Ok(Some(data));
            }
            if self.ended {
                return Ok(None);
            }
            match self.body.frame().await {
                None => self.ended = true,
                Some(frame) => {
                    if let Ok(bytes) = frame?.into_data() {
                        self.buffer.extend_from_slice(&bytes);
                        self.split_frames();
                    }
                }
            }
        }
    }

    /// The next non-empty content delta of an OpenAI chunk stream; `None` after `[DONE]` or at
    /// the end of the body.
    pub async fn next_content(&mut self) -> anyhow::Result<Option<String>> {
        while let Some(data) = self.next_data().await? {
            if data.as_ref() == b"[DONE]" {
                self.ended = true;
                self.data.clear();
                return Ok(None);
            }
            if let Some(text) = field(&data, br#""content":""#)
                && !text.is_empty()
            {
                return Ok(Some(text.to_owned()));
            }
            if find(&data, br#""error":{"#).is_some() {
                bail!("stream error: {}", String::from_utf8_lossy(&data));
            }
        }
        Ok(None)
    }

    /// Moves every complete frame (ending in a blank line) from the buffer to the data queue.
    fn split_frames(&mut self) {
        while let Some(end) = find(&self.buffer, b"\n\n") {
            let frame = self.buffer.split_to(end + 2).freeze();
            for line in frame.split(|&b| b == b'\n') {
                if let Some(payload) = line.strip_prefix(b"data:") {
                    let payload = payload.strip_prefix(b" ").unwrap_or(payload);
                    let start = payload.as_ptr() as usize - frame.as_ptr() as usize;
                    let mut data = frame.clone();
                    data.advance(start);
                    data.truncate(payload.len());
                    self.data.push_back(data);
                }
            }
        }
    }
}

/// The string value after `key` (which ends with the opening quote), up to the closing quote.
fn field<'a>(data: &'a [u8], key: &[u8]) -> Option<&'a str> {
    let start = find(data, key)? + key.len();
    let rest = data.get(start..)?;
    let end = rest.iter().position(|&b| b == b'"')?;
    std::str::from_utf8(rest.get(..end)?).ok()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use http_body_util::{Full, StreamBody};
    use hyper::body::Frame;

    use super::*;

    fn chunked(parts: &[&'static str]) -> impl Body<Data = Bytes, Error = std::io::Error> + Unpin {
        let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p.as_bytes()))))
            .collect();
        StreamBody::new(futures::stream::iter(frames))
    }

    #[tokio::test]
    async fn frames_split_across_reads_yield_content_in_order() {
        let body = chunked(&[
            "data: {\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}\n",
            "\ndata: {\"delta\":{\"content\":\"a\"}}\n\nevent: hermes.tool.progress\ndata: {\"tool\":\"x\"}\n\n",
            ": keepalive\n\ndata: {\"delta\":{\"content\":\"b\"}}\n\ndata: [DONE]\n\ndata: {\"delta\":{\"content\":\"late\"}}\n\n",
        ]);
        let mut reader = SseReader::new(body);
        assert_eq!(reader.next_content().await.unwrap().as_deref(), Some("a"));
        assert_eq!(reader.next_content().await.unwrap().as_deref(), Some("b"));
        assert_eq!(reader.next_content().await.unwrap(), None);
        assert_eq!(reader.next_content().await.unwrap(), None);
    }

    #[tokio::test]
    async fn error_chunks_are_errors() {
        let body = Full::new(Bytes::from_static(
            b"data: {\"error\":{\"message\":\"boom\",\"code\":\"upstream_unavailable\"}}\n\n",
        ));
        let mut reader = SseReader::new(body);
        let error = reader.next_content().await.unwrap_err().to_string();
        assert!(error.contains("boom"), "{error}");
    }

    #[tokio::test]
    async fn data_payloads_without_content_are_returned_raw() {
        let body = Full::new(Bytes::from_static(
            b"id: 1\ndata: {\"seq\":1}\n\n: stream closed\n\n",
        ));
        let mut reader = SseReader::new(body);
        assert_eq!(
            reader.next_data().await.unwrap().unwrap().as_ref(),
            b"{\"seq\":1}"
        );
        assert_eq!(reader.next_data().await.unwrap(), None);
    }
}
