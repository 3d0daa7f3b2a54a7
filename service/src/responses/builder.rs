//! Builds a response's `output` and its OpenAI stream events from a running turn: text deltas
//! open and fill a `message` item; server tool activity and the turn's stored rows (read back
//! from the session, where the agent persists every message the moment it exists) become
//! `function_call` / `function_call_output` items with the model's exact arguments and the
//! tools' exact output. Client tool calls surface as `function_call` items at the end of the
//! turn. Sequence numbers, storage and delivery are the runner's; this only says what happened.

use caduceus_proto::v1::response_stream_event::Payload;
use caduceus_proto::v1::{
    ContentPartEvent, FunctionCallArgumentsEvent, FunctionCallItem, FunctionCallOutputItem,
    OutputItem, OutputItemEvent, OutputMessage, OutputText, OutputTextEvent, output_item,
};

use super::new_id;
use crate::agent::{TurnEvent, record_to_message};
use crate::llm::{Message, ToolCall};
use crate::store::{MessageRecord, Store};

/// An event before it gets its sequence number: the OpenAI type and the payload.
pub(super) type Draft = (&'static str, Payload);

/// The message item being streamed.
struct OpenMessage {
    index: usize,
    id: String,
    text: String,
}

/// Output of one turn, as it happens.
pub(super) struct Builder {
    store: Store,
    session_id: String,
    /// Rows with a larger id belong to this turn.
    after_id: i64,
    /// Leading rows that are the turn's own input (not output).
    skip_rows: usize,
    items: Vec<OutputItem>,
    open: Option<OpenMessage>,
    had_message: bool,
    rows: Vec<MessageRecord>,
}

impl Builder {
    /// A builder for a turn whose rows follow message `after_id` of `session_id`; the first
    /// `input_rows` of them are the input the agent stores first.
    pub fn new(store: Store, session_id: String, after_id: i64, input_rows: usize) -> Self {
        Self {
            store,
            session_id,
            after_id,
            skip_rows: input_rows,
            items: Vec::new(),
            open: None,
            had_message: false,
            rows: Vec::new(),
        }
    }

    /// The events one agent event causes.
    pub async fn on_event(&mut self, event: TurnEvent) -> Vec<Draft> {
        match event {
            TurnEvent::TextDelta(text) => self.text(text),
            TurnEvent::ToolStarted { .. } => {
                let mut drafts = self.close_message("completed");
                drafts.extend(self.sync(Sync::RoundStarted).await);
                drafts
            }
            TurnEvent::ToolCompleted { .. } => self.sync(Sync::ToolDone).await,
        }
    }

    /// Closes the open message (`completed` or `incomplete`) and picks up the last rows (client
    /// tool calls, final answer).
    pub async fn finish(&mut self, message_status: &str) -> Vec<Draft> {
        let mut drafts = self.close_message(message_status);
        drafts.extend(self.sync(Sync::Final).await);
        drafts
    }

    /// The output items so far.
    pub fn items(&self) -> &[OutputItem] {
        &self.items
    }

    /// The turn's own stored messages (after its input), as chat messages for the transcript.
    pub fn turn_messages(&self) -> Vec<Message> {
        self.rows.iter().filter_map(record_to_message).collect()
    }

    fn text(&mut self, text: String) -> Vec<Draft> {
        let mut drafts = Vec::new();
        let delta = if self.open.is_none() {
            // The agent starts text after a tool round with "\n\n" (chat concatenates); here
            // each round's text is its own message item.
            let text = if self.had_message {
                text.strip_prefix("\n\n").map(str::to_owned).unwrap_or(text)
            } else {
                text
            };
            if text.is_empty() {
                return drafts;
            }
            drafts.extend(self.open_message());
            text
        } else {
            text
        };
        if delta.is_empty() {
            return drafts;
        }
        if let Some(open) = &mut self.open {
            open.text.push_str(&delta);
            drafts.push((
                "response.output_text.delta",
                Payload::OutputText(OutputTextEvent {
                    item_id: open.id.clone(),
                    output_index: pos(open.index),
                    content_index: 0,
                    delta,
                    text: String::new(),
                }),
            ));
        }
        drafts
    }

    fn open_message(&mut self) -> Vec<Draft> {
        let id = new_id("msg");
        let index = self.items.len();
        let item = message_item(&id, "in_progress", None);
        self.items.push(item.clone());
        self.open = Some(OpenMessage {
            index,
            id: id.clone(),
            text: String::new(),
        });
        self.had_message = true;
        vec![
            ("response.output_item.added", item_event(index, item)),
            (
                "response.content_part.added",
                Payload::ContentPart(ContentPartEvent {
                    item_id: id,
                    output_index: pos(index),
                    content_index: 0,
                    part: Some(OutputText {
                        text: String::new(),
                    }),
                }),
            ),
        ]
    }

    fn close_message(&mut self, status: &str) -> Vec<Draft> {
        let Some(open) = self.open.take() else {
            return Vec::new();
        };
        let item = message_item(&open.id, status, Some(&open.text));
        if let Some(slot) = self.items.get_mut(open.index) {
            *slot = item.clone();
        }
        let at = pos(open.index);
        vec![
            (
                "response.output_text.done",
                Payload::OutputText(OutputTextEvent {
                    item_id: open.id.clone(),
                    output_index: at,
                    content_index: 0,
                    delta: String::new(),
                    text: open.text.clone(),
                }),
            ),
            (
                "response.content_part.done",
                Payload::ContentPart(ContentPartEvent {
                    item_id: open.id,
                    output_index: at,
                    content_index: 0,
                    part: Some(OutputText { text: open.text }),
                }),
            ),
            ("response.output_item.done", item_event(open.index, item)),
        ]
    }

    /// Reads the turn's new rows: assistant tool calls become `function_call` items, tool
    /// results `function_call_output` items. The agent may already have stored the next round
    /// while its events still queue behind this one, so before the end a sync takes at most the
    /// round that just started (its assistant row first) and its tool results, never a later
    /// assistant row: items keep the order in which the turn produced them.
    async fn sync(&mut self, mode: Sync) -> Vec<Draft> {
        let rows = match self
            .store
            .list_messages(&self.session_id, None, Some(self.after_id))
            .await
        {
            Ok((rows, _)) => rows,
            Err(error) => {
                tracing::warn!(%error, "could not read a response turn's messages");
                return Vec::new();
            }
        };
        let mut drafts = Vec::new();
        let mut took_any = false;
        for row in rows {
            if self.skip_rows > 0 {
                self.skip_rows -= 1;
                self.after_id = self.after_id.max(row.id);
                continue;
            }
            let next_round = row.role == "assistant"
                && match mode {
                    Sync::Final => false,
                    Sync::RoundStarted => took_any,
                    Sync::ToolDone => true,
                };
            if next_round {
                break;
            }
            took_any = true;
            self.after_id = self.after_id.max(row.id);
            match row.role.as_str() {
                "assistant" => {
                    let calls: Vec<ToolCall> = row
                        .tool_calls
                        .clone()
                        .and_then(|value| serde_json::from_value(value).ok())
                        .unwrap_or_default();
                    for call in calls {
                        drafts.extend(self.function_call(call));
                    }
                }
                "tool" => drafts.extend(self.function_output(&row)),
                _ => {}
            }
            self.rows.push(row);
        }
        drafts
    }

    fn function_call(&mut self, call: ToolCall) -> Vec<Draft> {
        let id = new_id("fc");
        let index = self.items.len();
        let done = FunctionCallItem {
            id: id.clone(),
            call_id: call.id,
            name: call.function.name,
            arguments: call.function.arguments,
            status: "completed".into(),
        };
        let added = FunctionCallItem {
            arguments: String::new(),
            status: "in_progress".into(),
            ..done.clone()
        };
        let done_item = OutputItem {
            item: Some(output_item::Item::FunctionCall(done.clone())),
        };
        self.items.push(done_item.clone());
        let at = pos(index);
        vec![
            (
                "response.output_item.added",
                item_event(
                    index,
                    OutputItem {
                        item: Some(output_item::Item::FunctionCall(added)),
                    },
                ),
            ),
            (
                "response.function_call_arguments.delta",
                Payload::FunctionCallArguments(FunctionCallArgumentsEvent {
                    item_id: id.clone(),
                    output_index: at,
                    delta: done.arguments.clone(),
                    ..FunctionCallArgumentsEvent::default()
                }),
            ),
            (
                "response.function_call_arguments.done",
                Payload::FunctionCallArguments(FunctionCallArgumentsEvent {
                    item_id: id,
                    output_index: at,
                    delta: String::new(),
                    arguments: done.arguments,
                    name: done.name,
                }),
            ),
            ("response.output_item.done", item_event(index, done_item)),
        ]
    }

    fn function_output(&mut self, row: &MessageRecord) -> Vec<Draft> {
        let index = self.items.len();
        let item = OutputItem {
            item: Some(output_item::Item::FunctionCallOutput(
                FunctionCallOutputItem {
                    id: new_id("fco"),
                    call_id: row.tool_call_id.clone().unwrap_or_default(),
                    output: row.content.clone().unwrap_or_default(),
                },
            )),
        };
        self.items.push(item.clone());
        vec![
            (
                "response.output_item.added",
                item_event(index, item.clone()),
            ),
            ("response.output_item.done", item_event(index, item)),
        ]
    }
}

/// What prompted a sync of stored rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sync {
    /// A tool round started: its assistant row (with the calls) is stored.
    RoundStarted,
    /// A tool finished: its result row is stored.
    ToolDone,
    /// The turn ended: take everything.
    Final,
}

/// A `message` item with `text` (none while it is still being written).
fn message_item(id: &str, status: &str, text: Option<&str>) -> OutputItem {
    OutputItem {
        item: Some(output_item::Item::Message(OutputMessage {
            id: id.to_owned(),
            role: "assistant".into(),
            status: status.to_owned(),
            content: text
                .map(|text| {
                    vec![OutputText {
                        text: text.to_owned(),
                    }]
                })
                .unwrap_or_default(),
        })),
    }
}

fn item_event(index: usize, item: OutputItem) -> Payload {
    Payload::OutputItem(OutputItemEvent {
        output_index: pos(index),
        item: Some(item),
    })
}

fn pos(index: usize) -> i32 {
    i32::try_from(index).unwrap_or(i32::MAX)
}

/// The concatenated text of the message items (the SDK's `output_text`).
pub(super) fn output_text(items: &[OutputItem]) -> String {
    items
        .iter()
        .filter_map(|item| match &item.item {
            Some(output_item::Item::Message(message)) => Some(
                message
                    .content
                    .iter()
                    .map(|part| part.text.as_str())
                    .collect::<String>(),
            ),
            _ => None,
        })
        .collect()
}
