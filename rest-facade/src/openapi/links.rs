//! OpenAPI links from each create operation to the operations on what it created, so link-aware
//! clients and fuzzers (Schemathesis' stateful phase) can follow an object through its life
//! instead of probing random ids. Added by `super::Conventions`.

use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::{OpenApi, RefOr};

/// `(path, status of the create answer, JSON pointer to the new id, operations taking it)`.
const LINKS: &[(&str, &str, &str, &[&str])] = &[
    (
        "/api/sessions",
        "201",
        "/session/id",
        &[
            "sessions_get",
            "sessions_update",
            "sessions_delete",
            "sessions_messages",
            "sessions_fork",
            "sessions_chat",
            "sessions_chat_stream",
        ],
    ),
    (
        "/api/jobs",
        "201",
        "/job/id",
        &[
            "jobs_get",
            "jobs_update",
            "jobs_delete",
            "jobs_pause",
            "jobs_resume",
            "jobs_run",
        ],
    ),
    (
        "/v1/responses",
        "200",
        "/id",
        &[
            "responses_get",
            "responses_delete",
            "responses_cancel",
            "responses_input_items",
        ],
    ),
    (
        "/v1/runs",
        "202",
        "/run_id",
        &["runs_get", "runs_events", "runs_approval", "runs_stop"],
    ),
];

/// Adds the links of [`LINKS`] to the create operations' answers.
pub(super) fn add(doc: &mut OpenApi) {
    for (path, status, pointer, targets) in LINKS {
        let Some(operation) = doc
            .paths
            .paths
            .get_mut(*path)
            .and_then(|item| item.post.as_mut())
        else {
            continue;
        };
        let Some(RefOr::T(response)) = operation.responses.responses.get_mut(*status) else {
            continue;
        };
        for target in *targets {
            let link = LinkBuilder::new()
                .operation_id(*target)
                .parameter("id", format!("$response.body#{pointer}"))
                .build();
            response.links.insert((*target).to_owned(), RefOr::T(link));
        }
    }
}
