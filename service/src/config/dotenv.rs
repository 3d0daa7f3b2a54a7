//! The `<home>/.env` file: reading it into a map (via `dotenvy`'s iterator, never into the process
//! environment) and appending a generated API key with mode 0600. Precedence between `.env`, the
//! environment and `config.yaml` is decided in `mod.rs`, not here.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::ConfigError;
use super::key::ApiKey;

/// Name of the key variable, shared by the reader and the generated line.
pub const KEY_VAR: &str = "API_SERVER_KEY";

/// Reads `path` as a dotenv file: `KEY=VALUE` lines, `#` comments, optional quotes, `export `
/// prefix. A missing file is an empty map; later lines win over earlier ones.
pub fn read(path: &Path) -> Result<HashMap<String, String>, ConfigError> {
    let iter = match dotenvy::from_path_iter(path) {
        Ok(iter) => iter,
        Err(err) if err.not_found() => return Ok(HashMap::new()),
        Err(err) => return Err(dotenv_error(path, err)),
    };
    let mut vars = HashMap::new();
    for item in iter {
        let (key, value) = item.map_err(|err| dotenv_error(path, err))?;
        vars.insert(key, value);
    }
    Ok(vars)
}

/// Appends `API_SERVER_KEY=<key>` as a new line to `path` (creating its directory and the file),
/// then sets the file mode to 0600 explicitly — also when the file already existed — because it
/// now holds a secret.
pub fn append_key(path: &Path, key: &ApiKey) -> Result<(), ConfigError> {
    let io_err = |source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|source| ConfigError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io_err)?;

    let needs_newline = ends_without_newline(&mut file).map_err(io_err)?;
    let line = format!(
        "{}{KEY_VAR}={}\n",
        if needs_newline { "\n" } else { "" },
        key.expose()
    );
    file.write_all(line.as_bytes()).map_err(io_err)?;
    file.sync_all().map_err(io_err)
}

/// True when the file is non-empty and its last byte is not `\n`, so an appended line would be
/// glued onto the previous one.
fn ends_without_newline(file: &mut fs::File) -> std::io::Result<bool> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

fn dotenv_error(path: &Path, err: dotenvy::Error) -> ConfigError {
    match err {
        dotenvy::Error::Io(source) => ConfigError::Io {
            path: path.to_path_buf(),
            source,
        },
        other => ConfigError::DotEnv {
            path: path.to_path_buf(),
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(&dir.path().join(".env")).unwrap().is_empty());
    }

    #[test]
    fn parses_quotes_comments_and_export() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        fs::write(
            &path,
            "# a comment\n\
             API_SERVER_KEY=\"quoted-value-0123456789\" # Obligatoria. Bearer token.\n\
             API_SERVER_HOST='0.0.0.0'\n\
             export API_SERVER_PORT=9000\n\
             \n\
             API_SERVER_CORS_ORIGINS=\"\" # Opcional\n\
             PLAIN=value\n",
        )
        .unwrap();
        let vars = read(&path).unwrap();
        assert_eq!(vars["API_SERVER_KEY"], "quoted-value-0123456789");
        assert_eq!(vars["API_SERVER_HOST"], "0.0.0.0");
        assert_eq!(vars["API_SERVER_PORT"], "9000");
        assert_eq!(vars["API_SERVER_CORS_ORIGINS"], "");
        assert_eq!(vars["PLAIN"], "value");
        assert_eq!(vars.len(), 5);
    }

    #[test]
    fn malformed_line_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        fs::write(&path, "GOOD=1\nBAD LINE WITHOUT EQUALS\n").unwrap();
        let err = read(&path).unwrap_err();
        assert!(matches!(err, ConfigError::DotEnv { .. }), "{err:?}");
        assert!(err.to_string().contains(".env"), "{err}");
    }

    #[test]
    fn append_adds_a_line_and_sets_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("home").join(".env");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, "A=1").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let key = ApiKey::generate();
        append_key(&path, &key).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("A=1\nAPI_SERVER_KEY={}\n", key.expose()));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read(&path).unwrap()["API_SERVER_KEY"], key.expose());
    }
}
