//! Server errors Schemathesis found, kept as plain regression tests (they matter on PostgreSQL:
//! run with `E2E_DATABASE_URL`).

use caduceus_tests::app::TestApp;

use super::{Checks, raw};

/// Clearing a session's `end_reason` and setting it again, many times over the pooled
/// connections, then forking (which ends the source with the same SQL): never a 500. PostgreSQL
/// used to cache the statement with an untyped NULL parameter and refuse the next float.
#[tokio::test]
async fn end_reason_cleared_and_set_again_and_fork() {
    let app = TestApp::spawn().await;
    let created = raw(
        &app,
        "POST",
        b"/api/sessions",
        &[],
        br#"{"id":"regress-end"}"#,
    )
    .await;
    assert_eq!(created.status, 201);
    let mut checks = Checks::default();
    for round in 0..12 {
        for body in [&br#"{"end_reason":null}"#[..], br#"{"end_reason":"done"}"#] {
            let reply = raw(&app, "PATCH", b"/api/sessions/regress-end", &[], body).await;
            let what = format!("round {round} {}", String::from_utf8_lossy(body));
            checks.status(&what, reply.status);
            if reply.status != 200 {
                checks.fail(format!("{what}: {} {:?}", reply.status, reply.json()));
            }
        }
        let fork = raw(&app, "POST", b"/api/sessions/regress-end/fork", &[], b"").await;
        checks.status(&format!("fork {round}"), fork.status);
        if fork.status != 201 {
            checks.fail(format!("fork {round}: {} {:?}", fork.status, fork.json()));
        }
    }
    checks.finish();
    app.stop().await;
}
