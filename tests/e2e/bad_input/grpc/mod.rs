//! The gRPC half of the matrix: every RPC that takes input, fed empty required ids, `..`, NUL,
//! 10 KB strings, unknown string-enums and out-of-range numbers, must answer INVALID_ARGUMENT (or
//! NOT_FOUND for an id that is merely unknown) with the `ErrorInfo` reason the REST facade turns
//! into its `code` — never INTERNAL or UNKNOWN, never a hang, never a call to the upstream.
//! This file holds the harness (clients, call macros, the runner); the case tables are in
//! `agent.rs` (chat, responses, runs) and `objects.rs` (sessions, jobs).

use std::future::Future;
use std::pin::Pin;

use caduceus_proto::v1::chat_service_client::ChatServiceClient;
use caduceus_proto::v1::job_service_client::JobServiceClient;
use caduceus_proto::v1::responses_service_client::ResponsesServiceClient;
use caduceus_proto::v1::run_service_client::RunServiceClient;
use caduceus_proto::v1::session_service_client::SessionServiceClient;
use caduceus_proto::v1::*;
use caduceus_tests::app::{TestApp, TestOptions, authed};
use caduceus_tests::fake_upstream::FakeUpstream;
use tonic::Code;
use tonic_types::StatusExt;

type Call = Pin<Box<dyn Future<Output = Result<(), tonic::Status>> + Send>>;

/// Awaits a unary call, or a server-streaming call up to its first message.
macro_rules! unary {
    ($client:expr, $method:ident, $message:expr) => {{
        let mut client = $client.clone();
        let message = $message;
        Box::pin(async move { client.$method(authed(message)).await.map(|_| ()) }) as Call
    }};
}
macro_rules! stream {
    ($client:expr, $method:ident, $message:expr) => {{
        let mut client = $client.clone();
        let message = $message;
        Box::pin(async move {
            let mut stream = client.$method(authed(message)).await?.into_inner();
            stream.message().await.map(|_| ())
        }) as Call
    }};
}

fn user(text: &str) -> ChatMessage {
    ChatMessage {
        role: "user".into(),
        content: Some(chat_message::Content::Text(text.into())),
        ..Default::default()
    }
}

fn text_input(text: &str) -> Option<ResponseInput> {
    Some(ResponseInput {
        input: Some(response_input::Input::Text(text.into())),
    })
}

mod agent;
mod objects;

/// One case: its label, the call, and the code and reason it must fail with.
pub(super) type Case = (String, Call, Code, &'static str);

/// The clients of one server with a fake upstream, and the values the tables reuse.
pub(super) struct Harness {
    pub fake: FakeUpstream,
    pub app: TestApp,
    pub chat: ChatServiceClient<tonic::transport::Channel>,
    pub responses: ResponsesServiceClient<tonic::transport::Channel>,
    pub sessions: SessionServiceClient<tonic::transport::Channel>,
    pub runs: RunServiceClient<tonic::transport::Channel>,
    pub jobs: JobServiceClient<tonic::transport::Channel>,
    /// A 10 KB string.
    pub long: String,
    /// A string with NUL inside.
    pub nul: String,
    /// `..`.
    pub dots: String,
}

/// What an id-taking RPC answers for a malformed or unknown `id` of an object whose
/// not-found reason is `not_found`: an empty id is a malformed request, any other one (`..`,
/// NUL, 10 KB) is simply an id that names nothing.
pub(super) fn id_outcome(id: &str, not_found: &'static str) -> (Code, &'static str) {
    if id.is_empty() {
        (Code::InvalidArgument, "invalid_request")
    } else {
        (Code::NotFound, not_found)
    }
}

impl Harness {
    /// The malformed ids every id-taking RPC is tried with, labelled.
    pub fn bad_ids(&self) -> [(&'static str, String); 4] {
        [
            ("empty", String::new()),
            ("dot-dot", self.dots.clone()),
            ("NUL", self.nul.clone()),
            ("10 KB", self.long.clone()),
        ]
    }

    /// A server with the fake upstream and one session, `bad-input-session`.
    pub async fn start() -> Self {
        let fake = FakeUpstream::start().await;
        let app = TestApp::spawn_with(TestOptions::upstream(&fake.base_url())).await;
        let channel = app.channel().await;
        let harness = Self {
            chat: ChatServiceClient::new(channel.clone()),
            responses: ResponsesServiceClient::new(channel.clone()),
            sessions: SessionServiceClient::new(channel.clone()),
            runs: RunServiceClient::new(channel.clone()),
            jobs: JobServiceClient::new(channel),
            fake,
            app,
            long: "x".repeat(10_240),
            nul: "a\0b".to_owned(),
            dots: "..".to_owned(),
        };
        harness
            .sessions
            .clone()
            .create_session(authed(CreateSessionRequest {
                id: Some("bad-input-session".into()),
                ..Default::default()
            }))
            .await
            .unwrap();
        harness
    }

    /// Runs every case (each bounded), fails with every mismatch, then checks that no case
    /// reached the upstream.
    pub async fn run(self, cases: Vec<Case>) {
        let mut failures = Vec::new();
        for (label, call, code, reason) in cases {
            let outcome = tokio::time::timeout(std::time::Duration::from_secs(20), call).await;
            let Ok(outcome) = outcome else {
                failures.push(format!("{label}: hung"));
                continue;
            };
            let status = match outcome {
                Ok(()) => {
                    failures.push(format!("{label}: succeeded"));
                    continue;
                }
                Err(status) => status,
            };
            let got = status
                .get_details_error_info()
                .map(|info| info.reason)
                .unwrap_or_default();
            if matches!(
                status.code(),
                Code::Internal | Code::Unknown | Code::DataLoss
            ) {
                failures.push(format!(
                    "{label}: SERVER ERROR {:?} {}",
                    status.code(),
                    status.message()
                ));
            } else if status.code() != code || got != reason {
                failures.push(format!(
                    "{label}: {:?} {got:?} (want {code:?} {reason:?}): {}",
                    status.code(),
                    status.message()
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{} mismatches:\n{}",
            failures.len(),
            failures.join("\n")
        );
        assert_eq!(
            self.fake.request_count(),
            0,
            "a refused call must not reach the upstream"
        );
        self.app.stop().await;
    }
}
