//! Fuzz target: arbitrary bytes as an upstream Chat Completions SSE body, cut into pieces at
//! fuzzer-chosen points, through the real SSE parser and `ChunkDecoder`
//! (`caduceus_service::llm::decode_pieces`). Checks: no panic; the stream grammar holds
//! (`common::check_well_formed`); the `Assembler` folds exactly the deltas it was given; and the
//! chunk boundaries do not change the result (same events, and the same error, as the body in
//! one piece — a multi-byte character or a line may be cut anywhere).
//!
//! Input layout: byte 0 = how to cut (bit 7: every byte its own piece; else the low 3 bits = how
//! many cut points follow as one byte each, scaled to the body length); the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (cuts, body): (Vec<usize>, &[u8]) = if mode & 0x80 != 0 {
        (rest.iter().enumerate().map(|(i, _)| i).collect(), rest)
    } else {
        let count = usize::from(mode & 0x07).min(rest.len());
        let (cuts, body) = rest.split_at(count);
        let cuts = cuts
            .iter()
            .map(|&b| usize::from(b) * body.len() / 255)
            .collect();
        (cuts, body)
    };
    let split = common::decode(body, &cuts);
    let whole = common::decode(body, &[]);
    common::check_well_formed(&split);
    common::check_well_formed(&whole);
    common::check_assembly(&split);
    assert_eq!(
        common::normalized(&split),
        common::normalized(&whole),
        "the chunk boundaries changed the decoded stream"
    );
});
