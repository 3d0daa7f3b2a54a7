-- Sessions and their messages (SQLite dialect; keep in step with ../postgres/0001_sessions.sql).
-- Times are float Unix seconds; booleans would be INTEGER 0/1; JSON is TEXT.

CREATE TABLE sessions (
    id                TEXT PRIMARY KEY NOT NULL,
    source            TEXT NOT NULL,
    title             TEXT NULL,
    model             TEXT NULL,
    system_prompt     TEXT NULL,
    session_key       TEXT NULL,
    started_at        REAL NOT NULL,
    ended_at          REAL NULL,
    end_reason        TEXT NULL,
    parent_session_id TEXT NULL,
    last_active       REAL NOT NULL,
    message_count     INTEGER NOT NULL DEFAULT 0,
    tool_call_count   INTEGER NOT NULL DEFAULT 0,
    input_tokens      INTEGER NOT NULL DEFAULT 0,
    output_tokens     INTEGER NOT NULL DEFAULT 0
);

-- Titles are unique among sessions that have one.
CREATE UNIQUE INDEX idx_sessions_title ON sessions (title) WHERE title IS NOT NULL;
CREATE INDEX idx_sessions_last_active ON sessions (last_active);
CREATE INDEX idx_sessions_parent ON sessions (parent_session_id);

CREATE TABLE messages (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id    TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    role          TEXT NOT NULL,
    content       TEXT NULL,
    tool_call_id  TEXT NULL,
    tool_calls    TEXT NULL,
    tool_name     TEXT NULL,
    timestamp     REAL NOT NULL,
    token_count   INTEGER NULL,
    finish_reason TEXT NULL
);

CREATE INDEX idx_messages_session ON messages (session_id, id);
