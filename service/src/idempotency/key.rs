//! What identifies an idempotent call: the validated `idempotency-key` metadata, the caller's
//! scope (a SHA-256 of its `authorization` value — never the key itself), the request
//! fingerprint (canonical bytes of the request plus the session headers), and the stored form of
//! response metadata.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use tonic::metadata::{KeyAndValueRef, MetadataKey, MetadataMap, MetadataValue};

use crate::error::Error;

/// Metadata carrying the client's key (REST: the `Idempotency-Key` header).
pub const KEY_METADATA: &str = "idempotency-key";
/// Response metadata marking a replayed answer (REST: `Idempotency-Replayed: true`).
pub const REPLAYED_METADATA: &str = "idempotency-replayed";
/// Longest accepted key.
pub const MAX_KEY_LEN: usize = 255;

/// Session headers that change what a request means, so they are part of its fingerprint.
const FINGERPRINTED_HEADERS: [&str; 2] = ["x-hermes-session-id", "x-hermes-session-key"];

/// A key must be 1–255 visible ASCII characters (`!` through `~`).
pub fn validate_key(key: &str) -> Result<(), Error> {
    let ok =
        !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_param(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters (no spaces or control characters)",
            "Idempotency-Key",
        ))
    }
}

/// The validated key of a request, if it sent one.
pub fn key_from_metadata(metadata: &MetadataMap) -> Result<Option<String>, Error> {
    let Some(value) = metadata.get(KEY_METADATA) else {
        return Ok(None);
    };
    let key = value.to_str().map_err(|_| {
        Error::invalid_param(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
            "Idempotency-Key",
        )
    })?;
    validate_key(key)?;
    Ok(Some(key.to_owned()))
}

/// Hex SHA-256 of the caller's `authorization` value: keys of different API keys never meet.
pub fn scope_of(metadata: &MetadataMap) -> String {
    let credential = metadata
        .get("authorization")
        .map(|value| value.as_bytes().to_vec())
        .unwrap_or_default();
    hex::encode(Sha256::digest(&credential))
}

/// Canonical bytes of a request: its deterministic encoding (protobuf for messages without map
/// fields, or a caller-made canonical form) followed by the session headers, each NUL-framed.
pub fn fingerprint(encoded_request: &[u8], metadata: &MetadataMap) -> Vec<u8> {
    let mut bytes = encoded_request.to_vec();
    for name in FINGERPRINTED_HEADERS {
        bytes.push(0);
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(0);
        if let Some(value) = metadata.get(name) {
            bytes.extend_from_slice(value.as_bytes());
        }
    }
    bytes
}

/// The hex SHA-256 stored for a fingerprint.
pub(super) fn digest(fingerprint: &[u8]) -> String {
    hex::encode(Sha256::digest(fingerprint))
}

/// Response metadata as a JSON object (text entries only; gRPC's own are never in it).
pub(super) fn metadata_to_json(metadata: &MetadataMap) -> String {
    let entries: BTreeMap<String, String> = metadata
        .iter()
        .filter_map(|entry| match entry {
            KeyAndValueRef::Ascii(key, value) => value
                .to_str()
                .ok()
                .map(|text| (key.as_str().to_owned(), text.to_owned())),
            KeyAndValueRef::Binary(..) => None,
        })
        .collect();
    serde_json::to_string(&entries).unwrap_or_else(|_| "{}".to_owned())
}

/// Stored metadata back, plus `idempotency-replayed: true`.
pub(super) fn replayed_metadata(json: Option<&str>) -> MetadataMap {
    let entries: BTreeMap<String, String> = json
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    let mut metadata = MetadataMap::new();
    for (key, value) in entries {
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value.as_str()),
        ) {
            metadata.insert(key, value);
        }
    }
    metadata.insert(REPLAYED_METADATA, MetadataValue::from_static("true"));
    metadata
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_rules() {
        for good in ["a", "order-42", &"k".repeat(255), "!~"] {
            assert!(validate_key(good).is_ok(), "{good:?}");
        }
        for bad in ["", " ", "a b", "tab\t", &"k".repeat(256), "café", "a\u{7f}"] {
            let error = validate_key(bad).unwrap_err();
            assert!(
                matches!(
                    error,
                    Error::InvalidArgument {
                        code: "invalid_idempotency_key",
                        ..
                    }
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn metadata_key_is_read_and_validated() {
        let mut md = MetadataMap::new();
        assert_eq!(key_from_metadata(&md).unwrap(), None);
        md.insert(KEY_METADATA, "abc".parse().unwrap());
        assert_eq!(key_from_metadata(&md).unwrap().as_deref(), Some("abc"));
        md.insert(KEY_METADATA, "".parse().unwrap());
        assert!(key_from_metadata(&md).is_err());
    }

    #[test]
    fn scope_is_a_digest_of_the_credential() {
        let mut md = MetadataMap::new();
        md.insert("authorization", "Bearer secret-key-123".parse().unwrap());
        let scope = scope_of(&md);
        assert_eq!(scope.len(), 64);
        assert!(!scope.contains("secret"));
        let mut other = MetadataMap::new();
        other.insert("authorization", "Bearer another-key".parse().unwrap());
        assert_ne!(scope, scope_of(&other));
    }

    #[test]
    fn fingerprint_includes_session_headers() {
        let plain = MetadataMap::new();
        let mut with_session = MetadataMap::new();
        with_session.insert("x-hermes-session-id", "s1".parse().unwrap());
        assert_ne!(
            fingerprint(b"body", &plain),
            fingerprint(b"body", &with_session)
        );
        assert_eq!(
            fingerprint(b"body", &plain),
            fingerprint(b"body", &MetadataMap::new())
        );
        assert_ne!(fingerprint(b"body", &plain), fingerprint(b"bodz", &plain));
    }

    #[test]
    fn metadata_round_trips_and_is_marked_replayed() {
        let mut md = MetadataMap::new();
        md.insert("x-hermes-session-id", "api-1".parse().unwrap());
        md.insert_bin("trace-bin", MetadataValue::from_bytes(b"\x00\x01"));
        let back = replayed_metadata(Some(&metadata_to_json(&md)));
        assert_eq!(back.get("x-hermes-session-id").unwrap(), "api-1");
        assert_eq!(back.get(REPLAYED_METADATA).unwrap(), "true");
        assert!(back.get_bin("trace-bin").is_none());
        assert_eq!(replayed_metadata(Some("not json")).len(), 1);
    }
}
