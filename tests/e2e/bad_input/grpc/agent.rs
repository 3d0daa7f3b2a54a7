//! gRPC cases for the agent services: chat, responses, runs.

use caduceus_proto::v1::*;
use tonic::Code;

use super::{Call, Case, Harness, id_outcome, text_input, user};
use caduceus_tests::app::authed;

#[tokio::test]
async fn agent_rpcs_refuse_malformed_fields_with_their_reason() {
    let harness = Harness::start().await;
    let Harness {
        chat,
        responses,
        runs,
        nul,
        dots,
        ..
    } = &harness;
    let (nul, dots) = (nul.clone(), dots.clone());
    let invalid = Code::InvalidArgument;
    let missing = Code::NotFound;
    let mut cases: Vec<Case> = Vec::new();
    let mut add = |label: &str, call: Call, code: Code, reason: &'static str| {
        cases.push((label.to_owned(), call, code, reason));
    };

    // Chat.
    let empty_chat = CreateChatCompletionRequest::default();
    add(
        "CreateChatCompletion no messages",
        unary!(chat, create_chat_completion, empty_chat.clone()),
        invalid,
        "invalid_request",
    );
    add(
        "StreamChatCompletion no messages",
        stream!(chat, stream_chat_completion, empty_chat),
        invalid,
        "invalid_request",
    );
    let bad_role = CreateChatCompletionRequest {
        messages: vec![ChatMessage {
            role: "wizard".into(),
            ..user("hi")
        }],
        ..Default::default()
    };
    add(
        "CreateChatCompletion unknown role",
        unary!(chat, create_chat_completion, bad_role),
        invalid,
        "invalid_request",
    );
    let only_assistant = CreateChatCompletionRequest {
        messages: vec![ChatMessage {
            role: "assistant".into(),
            ..user("hi")
        }],
        ..Default::default()
    };
    add(
        "CreateChatCompletion no user message",
        unary!(chat, create_chat_completion, only_assistant),
        invalid,
        "no_user_message",
    );
    for (label, tokens) in [("zero", 0), ("negative", -1), ("minimum", i64::MIN)] {
        let request = CreateChatCompletionRequest {
            messages: vec![user("hi")],
            max_tokens: Some(tokens),
            ..Default::default()
        };
        add(
            &format!("CreateChatCompletion {label} max_tokens"),
            unary!(chat, create_chat_completion, request),
            invalid,
            "invalid_request",
        );
    }
    let nan = CreateChatCompletionRequest {
        messages: vec![user("hi")],
        temperature: Some(f64::NAN),
        ..Default::default()
    };
    add(
        "CreateChatCompletion NaN temperature",
        unary!(chat, create_chat_completion, nan),
        invalid,
        "invalid_request",
    );

    // Responses.
    add(
        "CreateResponse no input",
        unary!(responses, create_response, CreateResponseRequest::default()),
        invalid,
        "invalid_request",
    );
    add(
        "StreamResponse no input",
        stream!(responses, stream_response, CreateResponseRequest::default()),
        invalid,
        "invalid_request",
    );
    let unknown_previous = CreateResponseRequest {
        input: text_input("hi"),
        previous_response_id: Some(nul.clone()),
        ..Default::default()
    };
    add(
        "CreateResponse NUL previous_response_id",
        unary!(responses, create_response, unknown_previous),
        missing,
        "response_not_found",
    );
    let both = CreateResponseRequest {
        input: text_input("hi"),
        previous_response_id: Some("resp_x".into()),
        conversation: Some("c".into()),
        ..Default::default()
    };
    add(
        "CreateResponse previous + conversation",
        unary!(responses, create_response, both),
        invalid,
        "invalid_request",
    );
    for (label, id) in harness.bad_ids() {
        let (code, reason) = id_outcome(&id, "response_not_found");
        add(
            &format!("GetResponse {label} id"),
            unary!(
                responses,
                get_response,
                GetResponseRequest { id: id.clone() }
            ),
            code,
            reason,
        );
        add(
            &format!("DeleteResponse {label} id"),
            unary!(
                responses,
                delete_response,
                DeleteResponseRequest { id: id.clone() }
            ),
            code,
            reason,
        );
        add(
            &format!("CancelResponse {label} id"),
            unary!(
                responses,
                cancel_response,
                CancelResponseRequest { id: id.clone() }
            ),
            code,
            reason,
        );
        add(
            &format!("ListResponseInputItems {label} id"),
            unary!(
                responses,
                list_response_input_items,
                ListResponseInputItemsRequest { id: id.clone() }
            ),
            code,
            reason,
        );
        add(
            &format!("StreamStoredResponse {label} id"),
            stream!(
                responses,
                stream_stored_response,
                StreamStoredResponseRequest {
                    id: id.clone(),
                    starting_after: None
                }
            ),
            code,
            reason,
        );
    }
    add(
        "StreamStoredResponse negative starting_after",
        stream!(
            responses,
            stream_stored_response,
            StreamStoredResponseRequest {
                id: "resp_x".into(),
                starting_after: Some(-5)
            }
        ),
        invalid,
        "invalid_request",
    );
    add(
        "GetResponse unknown id",
        unary!(
            responses,
            get_response,
            GetResponseRequest {
                id: "resp_unknown".into()
            }
        ),
        missing,
        "response_not_found",
    );

    // Runs.
    add(
        "CreateRun no input",
        unary!(runs, create_run, CreateRunRequest::default()),
        invalid,
        "invalid_request",
    );
    add(
        "CreateRun NUL session_id",
        unary!(
            runs,
            create_run,
            CreateRunRequest {
                input: text_input("hi"),
                session_id: Some(nul.clone()),
                ..Default::default()
            }
        ),
        invalid,
        "invalid_session_id",
    );
    add(
        "CreateRun unknown previous_response_id",
        unary!(
            runs,
            create_run,
            CreateRunRequest {
                input: text_input("hi"),
                previous_response_id: Some(dots.clone()),
                ..Default::default()
            }
        ),
        missing,
        "response_not_found",
    );
    for (label, id) in harness.bad_ids() {
        let (code, reason) = id_outcome(&id, "run_not_found");
        add(
            &format!("GetRun {label} id"),
            unary!(runs, get_run, GetRunRequest { run_id: id.clone() }),
            code,
            reason,
        );
        add(
            &format!("StreamRunEvents {label} id"),
            stream!(
                runs,
                stream_run_events,
                StreamRunEventsRequest {
                    run_id: id.clone(),
                    after: None
                }
            ),
            code,
            reason,
        );
        add(
            &format!("RespondApproval {label} id"),
            unary!(
                runs,
                respond_approval,
                RespondApprovalRequest {
                    run_id: id.clone(),
                    choice: "once".into(),
                    ..Default::default()
                }
            ),
            code,
            reason,
        );
        add(
            &format!("StopRun {label} id"),
            unary!(runs, stop_run, StopRunRequest { run_id: id.clone() }),
            code,
            reason,
        );
    }
    add(
        "RespondApproval unknown choice",
        unary!(
            runs,
            respond_approval,
            RespondApprovalRequest {
                run_id: "run_x".into(),
                choice: "perhaps".into(),
                ..Default::default()
            }
        ),
        invalid,
        "invalid_approval_choice",
    );
    add(
        "StreamRunEvents negative after",
        stream!(
            runs,
            stream_run_events,
            StreamRunEventsRequest {
                run_id: "run_x".into(),
                after: Some(-1)
            }
        ),
        invalid,
        "invalid_request",
    );

    harness.run(cases).await;
}
