//! `caduceus.v1.RunService`: create (admission, `Idempotency-Key`), status, the durable event
//! stream (replay + live; dropping it never cancels the run), approval answers and stop. Each RPC
//! validates, converts (`input.rs`, `convert.rs`) and calls one [`crate::runs::RunManager`] method.

mod convert;
mod input;

use caduceus_proto::v1::run_service_server::RunService;
use caduceus_proto::v1::{
    CreateRunRequest, CreateRunResponse, GetRunRequest, RespondApprovalRequest,
    RespondApprovalResponse, Run, RunEvent, StopRunRequest, StopRunResponse,
    StreamRunEventsRequest,
};
use futures::StreamExt;
use prost::Message as _;
use tonic::{Request, Response, Status};

use super::headers::{SessionHeaders, echo_session};
use super::streaming::BoxStream;
use crate::error::Error;
use crate::idempotency;
use crate::state::AppState;

/// The `Idempotency-Key` scope of run creation.
const CREATE_ROUTE: &str = "caduceus.v1.RunService/CreateRun";

/// The run RPCs over the shared state.
#[derive(Clone)]
pub struct Runs {
    state: AppState,
}

impl Runs {
    /// A run service over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    async fn create(
        &self,
        request: Request<CreateRunRequest>,
    ) -> Result<Response<CreateRunResponse>, Status> {
        let headers = SessionHeaders::from_metadata(request.metadata())?;
        let session_key = headers.session_key.clone();
        let spec = input::run_spec(request.into_inner(), headers)?;
        let permit = self.state.admission.admit()?;
        let run = self.state.runs.create(spec, permit).await?;
        let mut response = Response::new(CreateRunResponse {
            run_id: run.id,
            status: run.status,
        });
        if let Some(session_id) = &run.session_id {
            echo_session(response.metadata_mut(), session_id, session_key.as_deref());
        }
        Ok(response)
    }
}

#[tonic::async_trait]
impl RunService for Runs {
    type StreamRunEventsStream = BoxStream<RunEvent>;

    async fn create_run(
        &self,
        request: Request<CreateRunRequest>,
    ) -> Result<Response<CreateRunResponse>, Status> {
        let fingerprint =
            idempotency::fingerprint(&request.get_ref().encode_to_vec(), request.metadata());
        idempotency::unary(
            &self.state.idempotency,
            CREATE_ROUTE,
            request,
            &fingerprint,
            |_| true,
            |request| self.create(request),
        )
        .await
    }

    async fn get_run(&self, request: Request<GetRunRequest>) -> Result<Response<Run>, Status> {
        run_id(&request.get_ref().run_id)?;
        let view = self.state.runs.get(&request.get_ref().run_id).await?;
        Ok(Response::new(convert::run_proto(view)))
    }

    async fn stream_run_events(
        &self,
        request: Request<StreamRunEventsRequest>,
    ) -> Result<Response<Self::StreamRunEventsStream>, Status> {
        let request = request.into_inner();
        run_id(&request.run_id)?;
        if request.after.is_some_and(|after| after < 0) {
            return Err(Error::invalid_param(
                "invalid_request",
                "`after` must be a non-negative event sequence number",
                "after",
            )
            .into());
        }
        let events = self
            .state
            .runs
            .events(&request.run_id, request.after)
            .await?;
        let stream = events.map(|item| item.map(convert::event_proto).map_err(Status::from));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn respond_approval(
        &self,
        request: Request<RespondApprovalRequest>,
    ) -> Result<Response<RespondApprovalResponse>, Status> {
        let request = request.into_inner();
        run_id(&request.run_id)?;
        let (choice, resolved) = self
            .state
            .runs
            .respond(
                &request.run_id,
                &request.choice,
                request.approval_id.as_deref(),
                request.all,
            )
            .await?;
        Ok(Response::new(RespondApprovalResponse {
            run_id: request.run_id,
            choice: choice.as_str().to_owned(),
            resolved: i32::try_from(resolved).unwrap_or(i32::MAX),
        }))
    }

    async fn stop_run(
        &self,
        request: Request<StopRunRequest>,
    ) -> Result<Response<StopRunResponse>, Status> {
        let run_id = request.into_inner().run_id;
        self::run_id(&run_id)?;
        self.state.runs.stop(&run_id).await?;
        Ok(Response::new(StopRunResponse {
            run_id,
            status: "stopping".into(),
        }))
    }
}

/// The `run_id` of a run RPC (see `grpc::validate`).
fn run_id(id: &str) -> Result<(), Error> {
    crate::grpc::validate::object_id(id, "run_id", "run_not_found", "run")
}
