//! Helpers shared by the server-streaming RPCs: the boxed stream type, a response stream that
//! cancels its work when the client drops it, and the in-stream error event derived from the one
//! `Error → Status` table.

use std::pin::Pin;
use std::task::{Context, Poll};

use caduceus_proto::v1::StreamError;
use futures::Stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::{CancellationToken, DropGuard};
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// A boxed server stream of `T` (the response type of every server-streaming RPC).
pub type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// A channel-fed response stream that fires `cancel` when dropped (client disconnected).
pub struct CancelOnDrop<T> {
    inner: ReceiverStream<Result<T, Status>>,
    _guard: DropGuard,
}

impl<T> CancelOnDrop<T> {
    /// Wraps `receiver`; dropping the stream cancels `cancel`.
    pub fn new(receiver: mpsc::Receiver<Result<T, Status>>, cancel: &CancellationToken) -> Self {
        Self {
            inner: ReceiverStream::new(receiver),
            _guard: cancel.clone().drop_guard(),
        }
    }
}

impl<T> Stream for CancelOnDrop<T> {
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

/// The OpenAI-shaped error event for a failure after streaming began.
pub fn stream_error(status: &Status) -> StreamError {
    let code = status
        .get_details_error_info()
        .map(|info| info.reason)
        .filter(|reason| !reason.is_empty())
        .unwrap_or_else(|| "internal_error".into());
    let kind = match status.code() {
        Code::ResourceExhausted => "rate_limit_error",
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::Internal
        | Code::Unknown
        | Code::DataLoss
        | Code::Unimplemented
        | Code::Cancelled => "server_error",
        _ => "invalid_request_error",
    };
    StreamError {
        message: status.message().to_owned(),
        r#type: kind.into(),
        code,
    }
}
