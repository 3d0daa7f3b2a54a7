//! Shared by the upstream fuzz targets: running a body through the real SSE + decoder path
//! (`caduceus_service::llm::decode_pieces`) and the invariants every decoded stream must keep.
// Each target uses only part of this module.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use caduceus_service::llm::{
    Assembler, AssistantTurn, UpstreamError, UpstreamEvent, decode_pieces,
};
use futures::StreamExt;

/// One decoded stream: every item the upstream stream would yield, in order.
pub type Items = Vec<Result<UpstreamEvent, UpstreamError>>;

/// Decodes `body` delivered as `pieces` (cut at the given offsets, in any order, clamped).
pub fn decode(body: &[u8], cuts: &[usize]) -> Items {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(body.len())).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for cut in cuts.into_iter().chain([body.len()]) {
        pieces.push(Bytes::copy_from_slice(&body[start..cut]));
        start = cut;
    }
    futures::executor::block_on(decode_pieces(pieces).collect())
}

/// The items with tool-call ids replaced by their order of first appearance, so two decodings
/// compare equal although ids generated for id-less calls are random.
pub fn normalized(items: &Items) -> Items {
    let mut ids: HashMap<String, usize> = HashMap::new();
    items
        .iter()
        .map(|item| match item {
            Ok(UpstreamEvent::ToolCallStarted { index, id, name }) => {
                let next = ids.len();
                let ordinal = *ids.entry(id.clone()).or_insert(next);
                Ok(UpstreamEvent::ToolCallStarted {
                    index: *index,
                    id: format!("#{ordinal}"),
                    name: name.clone(),
                })
            }
            other => other.clone(),
        })
        .collect()
}

/// The stream grammar: never empty; ends with exactly one `Finished` or one error; `Usage` at
/// most once, right before `Finished`; no empty deltas; each call started once, before its
/// argument deltas.
pub fn check_well_formed(items: &Items) {
    let (last, body) = items
        .split_last()
        .expect("a stream always yields a final item");
    assert!(
        matches!(last, Err(_) | Ok(UpstreamEvent::Finished { .. })),
        "the stream must end with Finished or an error, ended with {last:?}"
    );
    let mut started = std::collections::HashSet::new();
    for (position, item) in body.iter().enumerate() {
        match item {
            Err(error) => panic!("an error must be the last item: {error:?} at {position}"),
            Ok(UpstreamEvent::Finished { .. }) => panic!("Finished must be the last item"),
            Ok(UpstreamEvent::Usage(_)) => assert!(
                position + 2 == items.len() && matches!(last, Ok(UpstreamEvent::Finished { .. })),
                "Usage must come right before Finished"
            ),
            Ok(UpstreamEvent::TextDelta(text)) => assert!(!text.is_empty(), "empty text delta"),
            Ok(UpstreamEvent::ToolCallStarted { index, id, name }) => {
                assert!(started.insert(*index), "tool call {index} started twice");
                assert!(
                    !id.is_empty() && !name.is_empty(),
                    "a call needs an id and a name"
                );
            }
            Ok(UpstreamEvent::ToolCallArgumentsDelta { index, delta }) => {
                assert!(
                    started.contains(index),
                    "arguments for unstarted call {index}"
                );
                assert!(!delta.is_empty(), "empty arguments delta");
            }
        }
    }
}

/// Folds the events into a turn with the real [`Assembler`] and checks it against a direct
/// model: text = all text deltas joined, each call = its start's id and name plus all its
/// argument deltas joined, in index order. Returns the turn.
pub fn check_assembly(items: &Items) -> AssistantTurn {
    let mut assembler = Assembler::new();
    let mut text = String::new();
    let mut calls: BTreeMap<u32, (String, String, String)> = BTreeMap::new();
    let mut finish = None;
    for event in items.iter().filter_map(|item| item.as_ref().ok()) {
        assembler.apply(event);
        match event {
            UpstreamEvent::TextDelta(delta) => text.push_str(delta),
            UpstreamEvent::ToolCallStarted { index, id, name } => {
                calls.insert(*index, (id.clone(), name.clone(), String::new()));
            }
            UpstreamEvent::ToolCallArgumentsDelta { index, delta } => {
                if let Some(call) = calls.get_mut(index) {
                    call.2.push_str(delta);
                }
            }
            UpstreamEvent::Finished { finish_reason } => finish = Some(finish_reason.clone()),
            UpstreamEvent::Usage(_) => {}
        }
    }
    assert_eq!(assembler.is_finished(), finish.is_some());
    let turn = assembler.into_turn();
    assert_eq!(
        turn.content, text,
        "assembled text is not the joined deltas"
    );
    let got: Vec<(String, String, String)> = turn
        .tool_calls
        .iter()
        .map(|c| {
            (
                c.id.clone(),
                c.function.name.clone(),
                c.function.arguments.clone(),
            )
        })
        .collect();
    let want: Vec<(String, String, String)> = calls.into_values().collect();
    assert_eq!(got, want, "assembled tool calls differ from their deltas");
    if let Some(reason) = finish {
        assert_eq!(turn.finish_reason, reason);
    }
    turn
}
