//! RPCs of the contract whose features land in later work: each answers `UNIMPLEMENTED` with a
//! message naming the feature (REST: 501 with the error envelope). The messages are final; only
//! these bodies change when a feature lands, and each service moves to its own module then.

use std::pin::Pin;

use caduceus_proto::v1::job_service_server::JobService;
use caduceus_proto::v1::responses_service_server::ResponsesService;
use caduceus_proto::v1::run_service_server::RunService;
use caduceus_proto::v1::session_service_server::SessionService;
use caduceus_proto::v1::*;
use futures::Stream;
use tonic::{Request, Response, Status};

use crate::error::Error;

/// A boxed server stream of `T`.
pub type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Placeholder implementation of the not-yet-served services.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pending;

fn pending<T>(feature: &str) -> Result<T, Status> {
    Err(Error::unimplemented(feature).into())
}

#[tonic::async_trait]
impl ResponsesService for Pending {
    type StreamResponseStream = BoxStream<ResponseStreamEvent>;
    type StreamStoredResponseStream = BoxStream<ResponseStreamEvent>;

    async fn create_response(
        &self,
        _: Request<CreateResponseRequest>,
    ) -> Result<Response<caduceus_proto::v1::Response>, Status> {
        pending("The Responses API")
    }

    async fn stream_response(
        &self,
        _: Request<CreateResponseRequest>,
    ) -> Result<Response<Self::StreamResponseStream>, Status> {
        pending("The Responses API")
    }

    async fn get_response(
        &self,
        _: Request<GetResponseRequest>,
    ) -> Result<Response<caduceus_proto::v1::Response>, Status> {
        pending("The Responses API")
    }

    async fn stream_stored_response(
        &self,
        _: Request<StreamStoredResponseRequest>,
    ) -> Result<Response<Self::StreamStoredResponseStream>, Status> {
        pending("The Responses API")
    }

    async fn delete_response(
        &self,
        _: Request<DeleteResponseRequest>,
    ) -> Result<Response<DeleteResponseResponse>, Status> {
        pending("The Responses API")
    }

    async fn cancel_response(
        &self,
        _: Request<CancelResponseRequest>,
    ) -> Result<Response<caduceus_proto::v1::Response>, Status> {
        pending("The Responses API")
    }

    async fn list_response_input_items(
        &self,
        _: Request<ListResponseInputItemsRequest>,
    ) -> Result<Response<ListResponseInputItemsResponse>, Status> {
        pending("The Responses API")
    }
}

#[tonic::async_trait]
impl SessionService for Pending {
    type StreamSessionChatStream = BoxStream<SessionChatEvent>;

    async fn list_sessions(
        &self,
        _: Request<ListSessionsRequest>,
    ) -> Result<Response<ListSessionsResponse>, Status> {
        pending("The sessions API")
    }

    async fn create_session(
        &self,
        _: Request<CreateSessionRequest>,
    ) -> Result<Response<SessionResponse>, Status> {
        pending("The sessions API")
    }

    async fn get_session(
        &self,
        _: Request<GetSessionRequest>,
    ) -> Result<Response<SessionResponse>, Status> {
        pending("The sessions API")
    }

    async fn update_session(
        &self,
        _: Request<UpdateSessionRequest>,
    ) -> Result<Response<SessionResponse>, Status> {
        pending("The sessions API")
    }

    async fn delete_session(
        &self,
        _: Request<DeleteSessionRequest>,
    ) -> Result<Response<DeleteSessionResponse>, Status> {
        pending("The sessions API")
    }

    async fn list_session_messages(
        &self,
        _: Request<ListSessionMessagesRequest>,
    ) -> Result<Response<ListSessionMessagesResponse>, Status> {
        pending("The sessions API")
    }

    async fn fork_session(
        &self,
        _: Request<ForkSessionRequest>,
    ) -> Result<Response<SessionResponse>, Status> {
        pending("The sessions API")
    }

    async fn chat_session(
        &self,
        _: Request<ChatSessionRequest>,
    ) -> Result<Response<ChatSessionResponse>, Status> {
        pending("Session chat")
    }

    async fn stream_session_chat(
        &self,
        _: Request<ChatSessionRequest>,
    ) -> Result<Response<Self::StreamSessionChatStream>, Status> {
        pending("Session chat")
    }
}

#[tonic::async_trait]
impl RunService for Pending {
    type StreamRunEventsStream = BoxStream<RunEvent>;

    async fn create_run(
        &self,
        _: Request<CreateRunRequest>,
    ) -> Result<Response<CreateRunResponse>, Status> {
        pending("Runs")
    }

    async fn get_run(&self, _: Request<GetRunRequest>) -> Result<Response<Run>, Status> {
        pending("Runs")
    }

    async fn stream_run_events(
        &self,
        _: Request<StreamRunEventsRequest>,
    ) -> Result<Response<Self::StreamRunEventsStream>, Status> {
        pending("Run events")
    }

    async fn respond_approval(
        &self,
        _: Request<RespondApprovalRequest>,
    ) -> Result<Response<RespondApprovalResponse>, Status> {
        pending("Run approvals")
    }

    async fn stop_run(
        &self,
        _: Request<StopRunRequest>,
    ) -> Result<Response<StopRunResponse>, Status> {
        pending("Runs")
    }
}

#[tonic::async_trait]
impl JobService for Pending {
    async fn list_jobs(
        &self,
        _: Request<ListJobsRequest>,
    ) -> Result<Response<ListJobsResponse>, Status> {
        pending("Scheduled jobs")
    }

    async fn create_job(
        &self,
        _: Request<CreateJobRequest>,
    ) -> Result<Response<JobResponse>, Status> {
        pending("Scheduled jobs")
    }

    async fn get_job(&self, _: Request<GetJobRequest>) -> Result<Response<JobResponse>, Status> {
        pending("Scheduled jobs")
    }

    async fn update_job(
        &self,
        _: Request<UpdateJobRequest>,
    ) -> Result<Response<JobResponse>, Status> {
        pending("Scheduled jobs")
    }

    async fn delete_job(
        &self,
        _: Request<DeleteJobRequest>,
    ) -> Result<Response<DeleteJobResponse>, Status> {
        pending("Scheduled jobs")
    }

    async fn pause_job(
        &self,
        _: Request<PauseJobRequest>,
    ) -> Result<Response<JobResponse>, Status> {
        pending("Scheduled jobs")
    }

    async fn resume_job(
        &self,
        _: Request<ResumeJobRequest>,
    ) -> Result<Response<JobResponse>, Status> {
        pending("Scheduled jobs")
    }

    async fn run_job(&self, _: Request<RunJobRequest>) -> Result<Response<RunJobResponse>, Status> {
        pending("Scheduled jobs")
    }
}
