//! `caduceus.v1.ResponsesService`: the OpenAI Responses API over the core in
//! `crate::responses`. Each RPC reads its metadata (session headers, `idempotency-key` for the
//! unary create), calls one core function and echoes `x-hermes-session-id`. A non-background
//! turn stops when its caller goes away (non-stream: the future is dropped; stream: the event
//! stream is dropped) and is then stored `incomplete`; a background turn runs on regardless.

use caduceus_proto::v1::responses_service_server::ResponsesService;
use caduceus_proto::v1::{
    CancelResponseRequest, CreateResponseRequest, DeleteResponseRequest, DeleteResponseResponse,
    GetResponseRequest, ListResponseInputItemsRequest, ListResponseInputItemsResponse,
    Response as ResponseObject, ResponseStreamEvent, StreamStoredResponseRequest,
};
use futures::StreamExt;
use prost::Message as _;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::DropGuard;
use tonic::{Request, Response, Status};

use super::headers::{SessionHeaders, echo_session};
use super::streaming::BoxStream;
use crate::idempotency;
use crate::state::AppState;

/// The idempotency route of `CreateResponse`.
const CREATE_ROUTE: &str = "caduceus.v1.ResponsesService/CreateResponse";

/// The Responses RPCs over the shared state.
#[derive(Clone)]
pub struct Responses {
    state: AppState,
}

impl Responses {
    /// The service over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    /// `CreateResponse` without idempotency: the turn to its end, or at once when background.
    async fn create(
        &self,
        request: Request<CreateResponseRequest>,
    ) -> Result<Response<ResponseObject>, Status> {
        let headers = SessionHeaders::from_metadata(request.metadata())?;
        previous_id(request.get_ref())?;
        let core = &self.state.responses;
        let plan = core
            .prepare(
                request.into_inner(),
                headers.session_id,
                headers.session_key,
            )
            .await?;
        let (session_id, session_key) = (
            plan.session_id().to_owned(),
            plan.session_key().map(str::to_owned),
        );
        let object = if plan.background() {
            core.start(plan, None).await?.initial
        } else {
            core.run(plan).await?
        };
        let mut response = Response::new(object);
        echo_session(response.metadata_mut(), &session_id, session_key.as_deref());
        Ok(response)
    }
}

/// Canonical bytes of a create request for idempotency: its protobuf encoding with the
/// `metadata` map (whose encoding order is not deterministic) moved out and appended sorted.
pub fn canonical_create(request: &CreateResponseRequest) -> Vec<u8> {
    let mut copy = request.clone();
    let mut metadata: Vec<(String, String)> =
        std::mem::take(&mut copy.metadata).into_iter().collect();
    metadata.sort();
    let mut bytes = copy.encode_to_vec();
    for (key, value) in metadata {
        for text in [key, value] {
            bytes.extend_from_slice(&(text.len() as u64).to_le_bytes());
            bytes.extend_from_slice(text.as_bytes());
        }
    }
    bytes
}

/// An event stream that stops its turn when dropped (unless the turn is background).
fn event_stream(
    receiver: mpsc::Receiver<ResponseStreamEvent>,
    stop_on_drop: Option<DropGuard>,
) -> BoxStream<ResponseStreamEvent> {
    Box::pin(ReceiverStream::new(receiver).map(move |event| {
        let _held = &stop_on_drop;
        Ok(event)
    }))
}

#[tonic::async_trait]
impl ResponsesService for Responses {
    type StreamResponseStream = BoxStream<ResponseStreamEvent>;
    type StreamStoredResponseStream = BoxStream<ResponseStreamEvent>;

    async fn create_response(
        &self,
        request: Request<CreateResponseRequest>,
    ) -> Result<Response<ResponseObject>, Status> {
        let fingerprint =
            idempotency::fingerprint(&canonical_create(request.get_ref()), request.metadata());
        idempotency::unary(
            &self.state.idempotency,
            CREATE_ROUTE,
            request,
            &fingerprint,
            |object: &ResponseObject| !matches!(object.status.as_str(), "failed" | "cancelled"),
            |request| self.create(request),
        )
        .await
    }

    async fn stream_response(
        &self,
        request: Request<CreateResponseRequest>,
    ) -> Result<Response<Self::StreamResponseStream>, Status> {
        let headers = SessionHeaders::from_metadata(request.metadata())?;
        previous_id(request.get_ref())?;
        let core = &self.state.responses;
        let plan = core
            .prepare(
                request.into_inner(),
                headers.session_id,
                headers.session_key,
            )
            .await?;
        let (session_id, session_key) = (
            plan.session_id().to_owned(),
            plan.session_key().map(str::to_owned),
        );
        let background = plan.background();
        let (events, receiver) = mpsc::channel(64);
        let started = core.start(plan, Some(events)).await?;
        let stop_on_drop = (!background).then(|| started.cancel.clone().drop_guard());
        let mut response = Response::new(event_stream(receiver, stop_on_drop));
        echo_session(response.metadata_mut(), &session_id, session_key.as_deref());
        Ok(response)
    }

    async fn get_response(
        &self,
        request: Request<GetResponseRequest>,
    ) -> Result<Response<ResponseObject>, Status> {
        response_id(&request.get_ref().id)?;
        let object = self.state.responses.get(&request.get_ref().id).await?;
        Ok(Response::new(object))
    }

    async fn stream_stored_response(
        &self,
        request: Request<StreamStoredResponseRequest>,
    ) -> Result<Response<Self::StreamStoredResponseStream>, Status> {
        let body = request.into_inner();
        response_id(&body.id)?;
        if body.starting_after.is_some_and(|after| after < 0) {
            return Err(crate::error::Error::invalid_param(
                "invalid_request",
                "`starting_after` must be a non-negative sequence number",
                "starting_after",
            )
            .into());
        }
        let receiver = self
            .state
            .responses
            .follow(&body.id, body.starting_after)
            .await?;
        Ok(Response::new(event_stream(receiver, None)))
    }

    async fn delete_response(
        &self,
        request: Request<DeleteResponseRequest>,
    ) -> Result<Response<DeleteResponseResponse>, Status> {
        let id = request.into_inner().id;
        response_id(&id)?;
        self.state.responses.delete(&id).await?;
        Ok(Response::new(DeleteResponseResponse { id, deleted: true }))
    }

    async fn cancel_response(
        &self,
        request: Request<CancelResponseRequest>,
    ) -> Result<Response<ResponseObject>, Status> {
        response_id(&request.get_ref().id)?;
        let object = self.state.responses.cancel(&request.get_ref().id).await?;
        Ok(Response::new(object))
    }

    async fn list_response_input_items(
        &self,
        request: Request<ListResponseInputItemsRequest>,
    ) -> Result<Response<ListResponseInputItemsResponse>, Status> {
        response_id(&request.get_ref().id)?;
        let data = self
            .state
            .responses
            .input_items(&request.get_ref().id)
            .await?;
        Ok(Response::new(ListResponseInputItemsResponse { data }))
    }
}

/// `previous_response_id`, when given, must be an id a response could have (else 404 at once).
fn previous_id(request: &CreateResponseRequest) -> Result<(), crate::error::Error> {
    match request.previous_response_id.as_deref() {
        Some(id) if !id.trim().is_empty() => crate::grpc::validate::object_id(
            id,
            "previous_response_id",
            "response_not_found",
            "stored response",
        ),
        _ => Ok(()),
    }
}

/// The `id` of a stored-response RPC (see `grpc::validate`).
fn response_id(id: &str) -> Result<(), crate::error::Error> {
    crate::grpc::validate::object_id(id, "id", "response_not_found", "stored response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_bytes_ignore_metadata_order_but_not_content() {
        let mut a = CreateResponseRequest::default();
        let mut b = CreateResponseRequest::default();
        for i in 0..20 {
            a.metadata.insert(format!("k{i}"), format!("v{i}"));
        }
        for i in (0..20).rev() {
            b.metadata.insert(format!("k{i}"), format!("v{i}"));
        }
        assert_eq!(canonical_create(&a), canonical_create(&b));
        b.metadata.insert("k1".into(), "other".into());
        assert_ne!(canonical_create(&a), canonical_create(&b));
        let mut c = a.clone();
        c.instructions = Some("x".into());
        assert_ne!(canonical_create(&a), canonical_create(&c));
    }
}
