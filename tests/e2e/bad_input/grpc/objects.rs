//! gRPC cases for the stored-object services: sessions and jobs.

use caduceus_proto::v1::*;
use tonic::Code;

use super::{Call, Case, Harness, id_outcome};
use caduceus_tests::app::authed;

#[tokio::test]
async fn object_rpcs_refuse_malformed_fields_with_their_reason() {
    let harness = Harness::start().await;
    let Harness {
        sessions,
        jobs,
        long,
        nul,
        dots,
        ..
    } = &harness;
    let (long, nul, dots) = (long.clone(), nul.clone(), dots.clone());
    let invalid = Code::InvalidArgument;
    let missing = Code::NotFound;
    let mut cases: Vec<Case> = Vec::new();
    let mut add = |label: &str, call: Call, code: Code, reason: &'static str| {
        cases.push((label.to_owned(), call, code, reason));
    };

    // Sessions.
    for (label, id, reason) in [
        ("dot-dot", &dots, "invalid_session_id"),
        ("NUL", &nul, "invalid_session_id"),
        ("10 KB", &long, "invalid_session_id"),
    ] {
        add(
            &format!("CreateSession {label} id"),
            unary!(
                sessions,
                create_session,
                CreateSessionRequest {
                    id: Some(id.clone()),
                    ..Default::default()
                }
            ),
            invalid,
            reason,
        );
        add(
            &format!("ForkSession {label} new_id"),
            unary!(
                sessions,
                fork_session,
                ForkSessionRequest {
                    id: "bad-input-session".into(),
                    new_id: Some(id.clone()),
                    title: None
                }
            ),
            invalid,
            reason,
        );
    }
    add(
        "CreateSession 101-char title",
        unary!(
            sessions,
            create_session,
            CreateSessionRequest {
                title: Some("t".repeat(101)),
                ..Default::default()
            }
        ),
        invalid,
        "invalid_title",
    );
    add(
        "CreateSession NUL title",
        unary!(
            sessions,
            create_session,
            CreateSessionRequest {
                title: Some(nul.clone()),
                ..Default::default()
            }
        ),
        invalid,
        "invalid_title",
    );
    add(
        "CreateSession NUL system_prompt",
        unary!(
            sessions,
            create_session,
            CreateSessionRequest {
                system_prompt: Some(nul.clone()),
                ..Default::default()
            }
        ),
        invalid,
        "invalid_request",
    );
    // A session id breaking the session-id rule cannot exist: 400 on every session RPC.
    for (label, id) in [
        ("empty", String::new()),
        ("dot-dot", dots.clone()),
        ("NUL", nul.clone()),
        ("10 KB", long.clone()),
        ("unknown", "bad-input-unknown".to_owned()),
    ] {
        let unknown = label == "unknown";
        let code = if unknown { missing } else { invalid };
        let reason = if unknown {
            "session_not_found"
        } else {
            "invalid_session_id"
        };
        add(
            &format!("GetSession {label} id"),
            unary!(sessions, get_session, GetSessionRequest { id: id.clone() }),
            code,
            reason,
        );
        add(
            &format!("UpdateSession {label} id"),
            unary!(
                sessions,
                update_session,
                UpdateSessionRequest {
                    id: id.clone(),
                    title: Some("t".into()),
                    end_reason: None
                }
            ),
            code,
            reason,
        );
        add(
            &format!("DeleteSession {label} id"),
            unary!(
                sessions,
                delete_session,
                DeleteSessionRequest { id: id.clone() }
            ),
            code,
            reason,
        );
        add(
            &format!("ListSessionMessages {label} id"),
            unary!(
                sessions,
                list_session_messages,
                ListSessionMessagesRequest {
                    session_id: id.clone(),
                    ..Default::default()
                }
            ),
            code,
            reason,
        );
        add(
            &format!("ForkSession {label} id"),
            unary!(
                sessions,
                fork_session,
                ForkSessionRequest {
                    id: id.clone(),
                    ..Default::default()
                }
            ),
            code,
            reason,
        );
        // Session chat creates a session it does not know yet: only rule-breaking ids fail.
        if !unknown {
            add(
                &format!("ChatSession {label} id"),
                unary!(
                    sessions,
                    chat_session,
                    ChatSessionRequest {
                        session_id: id.clone(),
                        message: "hi".into(),
                        ..Default::default()
                    }
                ),
                code,
                reason,
            );
            add(
                &format!("StreamSessionChat {label} id"),
                stream!(
                    sessions,
                    stream_session_chat,
                    ChatSessionRequest {
                        session_id: id.clone(),
                        message: "hi".into(),
                        ..Default::default()
                    }
                ),
                code,
                reason,
            );
        }
    }
    add(
        "ChatSession no message",
        unary!(
            sessions,
            chat_session,
            ChatSessionRequest {
                session_id: "bad-input-session".into(),
                ..Default::default()
            }
        ),
        invalid,
        "missing_message",
    );
    add(
        "UpdateSession NUL title",
        unary!(
            sessions,
            update_session,
            UpdateSessionRequest {
                id: "bad-input-session".into(),
                title: Some(nul.clone()),
                end_reason: None
            }
        ),
        invalid,
        "invalid_title",
    );
    for (label, limit, offset) in [
        ("negative limit", Some(-1), None),
        ("negative offset", None, Some(-1)),
        ("minimum limit", Some(i32::MIN), None),
    ] {
        add(
            &format!("ListSessions {label}"),
            unary!(
                sessions,
                list_sessions,
                ListSessionsRequest {
                    limit,
                    offset,
                    ..Default::default()
                }
            ),
            invalid,
            "invalid_request",
        );
    }
    add(
        "ListSessionMessages negative limit",
        unary!(
            sessions,
            list_session_messages,
            ListSessionMessagesRequest {
                session_id: "bad-input-session".into(),
                limit: Some(-1),
                after_id: None
            }
        ),
        invalid,
        "invalid_request",
    );

    // Jobs.
    let job = |name: &str, schedule: &str, prompt: &str| CreateJobRequest {
        name: name.into(),
        schedule: schedule.into(),
        prompt: prompt.into(),
        ..Default::default()
    };
    add(
        "CreateJob empty name",
        unary!(jobs, create_job, job("", "1h", "p")),
        invalid,
        "invalid_request",
    );
    add(
        "CreateJob empty schedule",
        unary!(jobs, create_job, job("n", "", "p")),
        invalid,
        "invalid_schedule",
    );
    add(
        "CreateJob bad schedule",
        unary!(jobs, create_job, job("n", "every blue moon", "p")),
        invalid,
        "invalid_schedule",
    );
    add(
        "CreateJob NUL schedule",
        unary!(jobs, create_job, job("n", &nul, "p")),
        invalid,
        "invalid_schedule",
    );
    add(
        "CreateJob 10 KB schedule",
        unary!(jobs, create_job, job("n", &long, "p")),
        invalid,
        "invalid_schedule",
    );
    add(
        "CreateJob cron out of range",
        unary!(jobs, create_job, job("n", "99 99 * * *", "p")),
        invalid,
        "invalid_schedule",
    );
    add(
        "CreateJob negative repeat",
        unary!(
            jobs,
            create_job,
            CreateJobRequest {
                repeat: Some(-1),
                ..job("n", "1h", "p")
            }
        ),
        invalid,
        "invalid_request",
    );
    add(
        "CreateJob NUL name",
        unary!(jobs, create_job, job(&nul, "1h", "p")),
        invalid,
        "invalid_request",
    );
    add(
        "CreateJob NUL prompt",
        unary!(jobs, create_job, job("n", "1h", &nul)),
        invalid,
        "invalid_request",
    );
    add(
        "CreateJob NUL skill",
        unary!(
            jobs,
            create_job,
            CreateJobRequest {
                skills: vec![nul.clone()],
                ..job("n", "1h", "p")
            }
        ),
        invalid,
        "invalid_request",
    );
    for (label, id) in harness.bad_ids() {
        let (code, reason) = id_outcome(&id, "job_not_found");
        add(
            &format!("GetJob {label} id"),
            unary!(jobs, get_job, GetJobRequest { id: id.clone() }),
            code,
            reason,
        );
        add(
            &format!("UpdateJob {label} id"),
            unary!(
                jobs,
                update_job,
                UpdateJobRequest {
                    id: id.clone(),
                    name: Some("n".into()),
                    ..Default::default()
                }
            ),
            code,
            reason,
        );
        add(
            &format!("DeleteJob {label} id"),
            unary!(jobs, delete_job, DeleteJobRequest { id: id.clone() }),
            code,
            reason,
        );
        add(
            &format!("PauseJob {label} id"),
            unary!(jobs, pause_job, PauseJobRequest { id: id.clone() }),
            code,
            reason,
        );
        add(
            &format!("ResumeJob {label} id"),
            unary!(jobs, resume_job, ResumeJobRequest { id: id.clone() }),
            code,
            reason,
        );
        add(
            &format!("RunJob {label} id"),
            unary!(jobs, run_job, RunJobRequest { id: id.clone() }),
            code,
            reason,
        );
    }

    harness.run(cases).await;
}
