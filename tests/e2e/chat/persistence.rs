//! What a turn leaves in the store, in order: the user's message (and the session, on first use)
//! is stored while the upstream is still answering, the answer only after it, with the turn's
//! token usage; a failed call's partial text lands after the input too.

use super::*;

async fn get(app: &TestApp, path: &str) -> Value {
    app.get(path).send().await.unwrap().json().await.unwrap()
}

/// `(role, content)` of the stored messages of `session`.
async fn stored(app: &TestApp, session: &str) -> Vec<(String, String)> {
    let page = get(app, &format!("/api/sessions/{session}/messages")).await;
    page["data"]
        .as_array()
        .map(|data| {
            data.iter()
                .map(|m| {
                    let role = m["role"].as_str().unwrap_or_default().to_owned();
                    let content = m["content"].as_str().unwrap_or_default().to_owned();
                    (role, content)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_question_is_stored_while_the_upstream_answers_then_the_answer_with_usage() {
    let fake = FakeUpstream::start().await;
    fake.push(
        Reply::text_chunks(vec!["Sí, ", "claro"])
            .with_usage(21, 7)
            .with_delay(Duration::from_millis(400)),
    );
    let app = app_with(&fake).await;
    let request = app
        .post("/v1/chat/completions")
        .header("X-Hermes-Session-Id", "overlap-1")
        .json(&user("¿Funciona?"))
        .send();
    let turn = tokio::spawn(request);

    assert!(fake.wait_for_requests(1, Duration::from_secs(10)).await);
    // The upstream is still holding its answer back: the question is already there, alone.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut seen = stored(&app, "overlap-1").await;
    while seen.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        seen = stored(&app, "overlap-1").await;
    }
    assert_eq!(seen, [("user".to_owned(), "¿Funciona?".to_owned())]);

    let response = turn.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "Sí, claro");
    assert_eq!(
        stored(&app, "overlap-1").await,
        [
            ("user".to_owned(), "¿Funciona?".to_owned()),
            ("assistant".to_owned(), "Sí, claro".to_owned()),
        ]
    );
    let session = get(&app, "/api/sessions/overlap-1").await;
    assert_eq!(session["session"]["message_count"], 2);
    assert_eq!(session["session"]["input_tokens"], 21);
    assert_eq!(session["session"]["output_tokens"], 7);
    app.stop().await;
}

#[tokio::test]
async fn a_partial_answer_is_stored_after_the_question_it_answers() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::reset_after(vec!["medio ", "dicho"]));
    let app = app_with(&fake).await;
    let response = app
        .post("/v1/chat/completions")
        .header("X-Hermes-Session-Id", "overlap-2")
        .json(&user("cuéntame"))
        .send()
        .await
        .unwrap();
    let _ = response.text().await;
    let page = get(&app, "/api/sessions/overlap-2/messages").await;
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{page}");
    assert_eq!(data[0]["role"], "user");
    assert_eq!(data[1]["role"], "assistant");
    assert_eq!(data[1]["content"], "medio dicho");
    assert_eq!(data[1]["finish_reason"], "error");
    app.stop().await;
}
