//! Turns the rest of a gRPC server stream into SSE frames: one frame per message, one error frame
//! (then the end) when the stream fails midway, and an optional closing frame when it ends
//! normally. Shared by the Responses and Runs streams; what each frame looks like is theirs.

use axum::response::sse::Event;
use futures::{Stream, StreamExt, stream};

/// How one family renders its stream.
pub(crate) trait Relay<T>: Send + 'static {
    /// The frame for one message.
    fn frame(&mut self, item: T) -> Event;
    /// The single frame sent when the gRPC stream fails after it started.
    fn failed(&mut self, status: tonic::Status) -> Event;
    /// The frame sent when the gRPC stream ends normally, if any.
    fn closed(&mut self) -> Option<Event> {
        None
    }
}

/// `first` (the item `first_item` already awaited) followed by `rest`, rendered by `relay`. The
/// gRPC stream is dropped — and the call cancelled — as soon as the SSE body is.
pub(crate) fn relay<T, S, R>(
    first: Option<T>,
    rest: S,
    relay: R,
) -> impl Stream<Item = Event> + Send
where
    T: Send + 'static,
    S: Stream<Item = Result<T, tonic::Status>> + Send + 'static,
    R: Relay<T>,
{
    let items = stream::iter(first.map(Ok)).chain(rest).boxed();
    stream::unfold(Some((items, relay)), |state| async move {
        let (mut items, mut relay) = state?;
        match items.next().await {
            Some(Ok(item)) => {
                let frame = relay.frame(item);
                Some((frame, Some((items, relay))))
            }
            Some(Err(status)) => Some((relay.failed(status), None)),
            None => relay.closed().map(|frame| (frame, None)),
        }
    })
}

/// An SSE `event:` name made safe: axum panics on CR/LF in field values.
pub(crate) fn event_name(name: &str) -> String {
    name.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::super::test_support::sse_text;
    use super::*;

    struct Numbers;

    impl Relay<u32> for Numbers {
        fn frame(&mut self, item: u32) -> Event {
            Event::default().data(item.to_string())
        }
        fn failed(&mut self, status: tonic::Status) -> Event {
            Event::default().event("error").data(status.message())
        }
        fn closed(&mut self) -> Option<Event> {
            Some(Event::default().comment("end"))
        }
    }

    #[tokio::test]
    async fn first_item_then_rest_then_closing_frame() {
        let rest = stream::iter(vec![Ok(2), Ok(3)]);
        let text = sse_text(relay(Some(1), rest, Numbers)).await;
        assert_eq!(text, "data: 1\n\ndata: 2\n\ndata: 3\n\n: end\n\n");
    }

    #[tokio::test]
    async fn a_failure_sends_one_error_frame_and_ends() {
        let rest = stream::iter(vec![Ok(2), Err(tonic::Status::internal("boom")), Ok(9)]);
        let text = sse_text(relay(None, rest, Numbers)).await;
        assert_eq!(text, "data: 2\n\nevent: error\ndata: boom\n\n");
    }

    #[test]
    fn event_names_lose_line_breaks() {
        assert_eq!(event_name("a\r\nb"), "a  b");
    }
}
