//! Reading tool arguments out of the model's JSON object, with errors that name the argument so
//! the model can fix its call, and resolving the paths it passes. Tools decide what is required.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::ToolContext;

/// The arguments object of one call.
pub(crate) struct Args<'a>(&'a Map<String, Value>);

/// An empty object, for tools called with no arguments at all.
static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

impl<'a> Args<'a> {
    /// Wraps the parsed arguments; anything but an object (or null) is an error.
    pub(crate) fn new(value: &'a Value) -> Result<Args<'a>, String> {
        match value {
            Value::Object(map) => Ok(Args(map)),
            Value::Null => Ok(Args(&EMPTY)),
            _ => Err("the arguments must be a JSON object".to_owned()),
        }
    }

    fn present(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// A required string argument.
    pub(crate) fn string(&self, name: &str) -> Result<&'a str, String> {
        self.opt_string(name)?
            .ok_or_else(|| format!("missing required argument `{name}` (string)"))
    }

    /// A required, non-blank string argument.
    pub(crate) fn non_empty(&self, name: &str) -> Result<&'a str, String> {
        let value = self.string(name)?;
        if value.trim().is_empty() {
            return Err(format!("argument `{name}` must not be empty"));
        }
        Ok(value)
    }

    /// An optional string argument (absent or null → `None`).
    pub(crate) fn opt_string(&self, name: &str) -> Result<Option<&'a str>, String> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("argument `{name}` must be a string")),
        }
    }

    /// An optional non-negative whole number; numeric strings (`"30"`) are accepted because
    /// some models quote numbers.
    pub(crate) fn opt_u64(&self, name: &str) -> Result<Option<u64>, String> {
        let bad = || format!("argument `{name}` must be a non-negative whole number");
        match self.present(name) {
            None => Ok(None),
            Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
                (Some(v), _) => Ok(Some(v)),
                (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 && f < 1e15 => Ok(Some(f as u64)),
                _ => Err(bad()),
            },
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad()),
            Some(_) => Err(bad()),
        }
    }

    /// An optional boolean; `"true"`/`"false"` strings are accepted.
    pub(crate) fn opt_bool(&self, name: &str) -> Result<Option<bool>, String> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(format!("argument `{name}` must be true or false")),
        }
    }
}

/// Resolves a path the model gave: `~/…` against the user's home, relative paths against the
/// session workspace (created), absolute paths as they are — the agent runs on this host by
/// design. Empty paths and paths containing NUL are refused.
pub(crate) async fn resolve_path(
    ctx: &ToolContext,
    name: &str,
    raw: &str,
) -> Result<PathBuf, String> {
    if raw.trim().is_empty() {
        return Err(format!("argument `{name}` must not be empty"));
    }
    if raw.contains('\0') {
        return Err(format!("argument `{name}` contains a NUL byte"));
    }
    if let Some(rest) = raw.strip_prefix("~/")
        && let Some(home) = dirs::home_dir()
    {
        return Ok(home.join(rest));
    }
    let path = Path::new(raw);
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(ctx.ensure_workspace().await?.join(path))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn errors_name_the_argument() {
        let value = json!({"a": 1, "s": "x", "n": "12", "f": 3.0, "b": "true", "neg": -1});
        let args = Args::new(&value).unwrap();
        assert!(args.string("missing").unwrap_err().contains("`missing`"));
        assert!(args.string("a").unwrap_err().contains("`a`"));
        assert_eq!(args.string("s").unwrap(), "x");
        assert_eq!(args.opt_u64("n").unwrap(), Some(12));
        assert_eq!(args.opt_u64("f").unwrap(), Some(3));
        assert!(args.opt_u64("neg").unwrap_err().contains("`neg`"));
        assert_eq!(args.opt_bool("b").unwrap(), Some(true));
        assert!(Args::new(&json!([1])).is_err());
        assert!(Args::new(&Value::Null).is_ok());
    }
}
