//! The API bearer key: the [`ApiKey`] newtype (redacted whenever formatted), the rules a configured
//! key must satisfy, and generation of a fresh 256-bit key. Where the key comes from (environment,
//! `.env`, `config.yaml`) and writing a generated key to `.env` belong to `mod.rs` / `dotenv.rs`;
//! checking a presented bearer token on requests belongs to the auth layer (which may use
//! [`ApiKey::matches`]).

use std::fmt;

use subtle::ConstantTimeEq;

/// Minimum accepted key length, in characters.
pub const MIN_KEY_LEN: usize = 16;

/// Exact values (compared case-insensitively) that are documentation placeholders, not secrets.
const PLACEHOLDERS: &[&str] = &[
    "changeme",
    "change-me",
    "change_me",
    "your_api_key",
    "your-api-key",
    "tu-clave-secreta-aqui",
    "example",
    "dummy",
    "none",
    "null",
    "placeholder",
    "secret",
    "password",
    "test",
    "*",
];

/// Fragments (compared case-insensitively) that mark a value copied from a guide.
const PLACEHOLDER_FRAGMENTS: &[&str] = &[
    "your_",
    "your-",
    "changeme",
    "change-me",
    "placeholder",
    "example",
    "tu-clave",
];

/// The bearer key clients must present. A newtype so the secret never lands in logs by accident:
/// `Debug` and `Display` print a redaction marker; [`ApiKey::expose`] is the one explicit way out.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

/// Why a configured key was refused; turned into a `ConfigError` naming where the key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    /// Fewer than [`MIN_KEY_LEN`] characters.
    TooShort { len: usize },
    /// A well-known placeholder or a value copied from documentation.
    Placeholder,
    /// Contains whitespace or control characters, which cannot travel in a bearer header.
    BadCharacters,
}

impl ApiKey {
    /// Validates `raw` (already trimmed by the caller) against the key rules.
    pub fn parse(raw: &str) -> Result<ApiKey, KeyProblem> {
        if is_placeholder(raw) {
            return Err(KeyProblem::Placeholder);
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(KeyProblem::BadCharacters);
        }
        let len = raw.chars().count();
        if len < MIN_KEY_LEN {
            return Err(KeyProblem::TooShort { len });
        }
        Ok(ApiKey(raw.to_owned()))
    }

    /// A fresh key: 32 random bytes from the thread-local CSPRNG, as 64 lowercase hex characters.
    pub fn generate() -> ApiKey {
        let bytes: [u8; 32] = rand::random();
        ApiKey(hex::encode(bytes))
    }

    /// The secret itself, for comparing, printing once at generation, or writing to `.env`.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison with a presented bearer token, so response timing does not reveal
    /// how many leading characters matched.
    pub fn matches(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// True for documentation placeholders, one character repeated, and values containing a
/// placeholder fragment.
fn is_placeholder(raw: &str) -> bool {
    let lower = raw.to_lowercase();
    if PLACEHOLDERS.contains(&lower.as_str()) {
        return true;
    }
    let mut chars = lower.chars();
    if let Some(first) = chars.next()
        && chars.all(|c| c == first)
    {
        return true;
    }
    PLACEHOLDER_FRAGMENTS
        .iter()
        .any(|frag| lower.contains(frag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_long_random_key() {
        let key = ApiKey::parse("3f9a1c0b7d2e4f6a8b9c").unwrap();
        assert_eq!(key.expose(), "3f9a1c0b7d2e4f6a8b9c");
    }

    #[test]
    fn refuses_short_keys() {
        assert_eq!(
            ApiKey::parse("abc123xyz"),
            Err(KeyProblem::TooShort { len: 9 })
        );
    }

    #[test]
    fn refuses_placeholders_case_insensitively() {
        for raw in [
            "changeme",
            "CHANGEME",
            "your_api_key",
            "Your-Api-Key",
            "tu-clave-secreta-aqui",
            "example",
            "dummy",
            "None",
            "null",
            "placeholder",
            "secret",
            "password",
            "test",
            "*",
            "aaaaaaaaaaaaaaaaaaaaaaaa",
            "put-your_key-here-please",
            "my-changeme-key-0123456789",
            "this-is-an-EXAMPLE-key-123",
        ] {
            assert_eq!(ApiKey::parse(raw), Err(KeyProblem::Placeholder), "{raw}");
        }
    }

    #[test]
    fn refuses_whitespace_inside() {
        assert_eq!(
            ApiKey::parse("abcdefgh ijklmnopq"),
            Err(KeyProblem::BadCharacters)
        );
    }

    #[test]
    fn generated_keys_are_64_hex_and_distinct() {
        let a = ApiKey::generate();
        let b = ApiKey::generate();
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert!(ApiKey::parse(a.expose()).is_ok());
    }

    #[test]
    fn formatting_redacts() {
        let key = ApiKey::parse("3f9a1c0b7d2e4f6a8b9c").unwrap();
        assert!(!format!("{key:?}").contains("3f9a"));
        assert!(!format!("{key}").contains("3f9a"));
    }

    #[test]
    fn matches_only_the_same_key() {
        let key = ApiKey::parse("3f9a1c0b7d2e4f6a8b9c").unwrap();
        assert!(key.matches("3f9a1c0b7d2e4f6a8b9c"));
        assert!(!key.matches("3f9a1c0b7d2e4f6a8b9d"));
        assert!(!key.matches("3f9a"));
    }
}
