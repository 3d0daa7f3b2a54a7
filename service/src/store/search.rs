//! Full-text search over stored messages for the `session_search` tool: a case-insensitive
//! substring match (`LOWER(content) LIKE LOWER($1) ESCAPE '!'`) that runs unchanged on SQLite and
//! PostgreSQL, most recent first, optionally restricted to the sessions of one session key.
//! Snippets are cut in Rust around the first hit. Ranking or a real FTS index would be a later,
//! dialect-specific step.

use sqlx::Row;

use super::{Store, StoreError};

/// Characters of context kept before and after the hit in a snippet.
const SNIPPET_BEFORE: usize = 80;
const SNIPPET_AFTER: usize = 160;

macro_rules! search_sql {
    () => {
        "SELECT m.id, m.session_id, m.role, m.content, m.timestamp FROM messages m \
         JOIN sessions s ON s.id = m.session_id \
         WHERE m.content IS NOT NULL AND LOWER(m.content) LIKE LOWER($1) ESCAPE '!'"
    };
}

macro_rules! search_order {
    () => {
        " ORDER BY m.timestamp DESC, m.id DESC LIMIT $2"
    };
}

/// One message that contains the query.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub session_id: String,
    pub message_id: i64,
    pub role: String,
    /// Whitespace-flattened text around the first occurrence, `…` where cut.
    pub snippet: String,
    /// Float Unix seconds.
    pub timestamp: f64,
}

impl Store {
    /// Messages whose content contains `query` (case-insensitive; `%`, `_` and `!` are literal),
    /// newest first, at most `limit` (clamped to 1..=100). With `session_key`, only sessions
    /// created with that key are searched. A blank query finds nothing.
    pub async fn search_messages(
        &self,
        query: &str,
        session_key: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let query = query.trim();
        if query.is_empty() {
            return Ok(Vec::new());
        }
        let pattern = format!("%{}%", escape_like(query));
        let limit = limit.clamp(1, 100);
        let rows = match session_key {
            Some(key) => {
                sqlx::query(concat!(
                    search_sql!(),
                    " AND s.session_key = $3",
                    search_order!()
                ))
                .bind(&pattern)
                .bind(limit)
                .bind(key)
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query(concat!(search_sql!(), search_order!()))
                    .bind(&pattern)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?
            }
        };
        rows.iter()
            .map(|row| {
                let content: String = row.try_get("content")?;
                Ok(SearchHit {
                    session_id: row.try_get("session_id")?,
                    message_id: row.try_get("id")?,
                    role: row.try_get("role")?,
                    snippet: snippet(&content, query),
                    timestamp: row.try_get("timestamp")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

/// Escapes the LIKE wildcards and the escape character itself (`!`).
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '!') {
            out.push('!');
        }
        out.push(c);
    }
    out
}

/// Text around the first case-insensitive occurrence of `query`, whitespace flattened. When
/// lowercasing changes byte lengths (rare scripts) the snippet starts at the beginning.
fn snippet(content: &str, query: &str) -> String {
    let flat: String = content.split_whitespace().collect::<Vec<_>>().join(" ");
    let lower = flat.to_lowercase();
    let needle = query
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let at = if lower.len() == flat.len() {
        lower.find(&needle).unwrap_or(0)
    } else {
        0
    };
    let chars_before = flat[..at].chars().count();
    let start = chars_before.saturating_sub(SNIPPET_BEFORE);
    let take = (chars_before - start) + needle.chars().count() + SNIPPET_AFTER;
    let total = flat.chars().count();
    let mut out: String = flat.chars().skip(start).take(take).collect();
    if start > 0 {
        out.insert(0, '…');
    }
    if start + take < total {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewMessage, NewSession};

    /// A fresh PostgreSQL database for one test when `DATABASE_URL` is a postgres URL (dropped
    /// afterwards), like the store suite does.
    async fn on_postgres<F, Fut>(case: F)
    where
        F: FnOnce(Store) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        use sqlx::ConnectOptions;
        use std::str::FromStr;
        let admin_url = match std::env::var("DATABASE_URL") {
            Ok(url) if url.starts_with("postgres") => url,
            _ => return,
        };
        let name = format!("caduceus_search_{:016x}", rand::random::<u64>());
        let admin = Store::connect(&admin_url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(admin.pool())
            .await
            .unwrap();
        let url = sqlx::postgres::PgConnectOptions::from_str(&admin_url)
            .unwrap()
            .database(&name)
            .to_url_lossy()
            .to_string();
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        case(store.clone()).await;
        store.close().await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(admin.pool())
        .await
        .unwrap();
        admin.close().await;
    }

    async fn session(store: &Store, id: &str, key: Option<&str>, texts: &[(&str, &str)]) {
        store
            .create_session(NewSession {
                id: id.to_owned(),
                source: "api_server".to_owned(),
                session_key: key.map(str::to_owned),
                ..Default::default()
            })
            .await
            .unwrap();
        for (role, text) in texts {
            store
                .append_message(id, NewMessage::text(role, *text))
                .await
                .unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }

    #[tokio::test]
    async fn sqlite_finds_case_insensitively_newest_first_and_scoped_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        finds_case_insensitively_newest_first_and_scoped_by_key(store).await;
    }

    #[tokio::test]
    async fn postgres_finds_case_insensitively_newest_first_and_scoped_by_key() {
        on_postgres(finds_case_insensitively_newest_first_and_scoped_by_key).await;
    }

    async fn finds_case_insensitively_newest_first_and_scoped_by_key(store: Store) {
        session(
            &store,
            "a",
            Some("alice"),
            &[("user", "Deploy the Rocket app"), ("assistant", "ok")],
        )
        .await;
        session(
            &store,
            "b",
            Some("bob"),
            &[("user", "rocket science 50% off_now")],
        )
        .await;

        let hits = store.search_messages("ROCKET", None, 10).await.unwrap();
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].session_id, "b");
        assert_eq!(hits[1].role, "user");
        assert!(hits[1].snippet.contains("Rocket"));

        let alice = store
            .search_messages("rocket", Some("alice"), 10)
            .await
            .unwrap();
        assert_eq!(alice.len(), 1);
        assert_eq!(alice[0].session_id, "a");

        // Wildcards are literal.
        assert_eq!(
            store.search_messages("50%", None, 10).await.unwrap().len(),
            1
        );
        assert_eq!(
            store.search_messages("0%_", None, 10).await.unwrap().len(),
            0
        );
        assert_eq!(
            store
                .search_messages("off_now", None, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            store
                .search_messages("of__ow", None, 10)
                .await
                .unwrap()
                .len(),
            0
        );
        assert!(
            store
                .search_messages("  ", None, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.search_messages("o", None, 1).await.unwrap().len(), 1);
    }

    #[test]
    fn snippets_are_cut_around_the_hit() {
        let text = format!("{} needle {}", "a ".repeat(200), "b ".repeat(200));
        let s = snippet(&text, "NEEDLE");
        assert!(s.starts_with('…') && s.ends_with('…'));
        assert!(s.contains("needle"));
        assert!(s.chars().count() <= SNIPPET_BEFORE + SNIPPET_AFTER + 10);
        assert_eq!(snippet("short text", "text"), "short text");
    }
}
