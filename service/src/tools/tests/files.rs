//! `read_file`, `write_file`, `patch`, `search_files`: the happy paths and the errors a model
//! must be able to read.

use serde_json::json;

use super::*;

#[tokio::test]
async fn write_then_read_with_line_numbers_and_paging() {
    let fx = fixture().await;
    let out = fx
        .call(
            "write_file",
            json!({"path": "dir/sub/a.txt", "content": "one\ntwo\nthree\n"}),
        )
        .await;
    assert!(!out.is_error, "{}", out.content);
    assert_eq!(json_of(&out)["bytes_written"], 14);
    assert!(fx.workspace().join("dir/sub/a.txt").is_file());

    let out = fx.call("read_file", json!({"path": "dir/sub/a.txt"})).await;
    assert_eq!(out.content, "     1\tone\n     2\ttwo\n     3\tthree\n");

    let out = fx
        .call(
            "read_file",
            json!({"path": "dir/sub/a.txt", "offset": 2, "limit": 1}),
        )
        .await;
    assert!(out.content.starts_with("     2\ttwo\n"), "{}", out.content);
    assert!(out.content.contains("offset=3"), "{}", out.content);

    let out = fx
        .call("read_file", json!({"path": "dir/sub/a.txt", "offset": 9}))
        .await;
    assert!(error_of(&out).contains("past the end"));

    // Absolute paths work too.
    let absolute = fx.home.path().join("abs.txt");
    let out = fx
        .call(
            "write_file",
            json!({"path": absolute.to_str().unwrap(), "content": ""}),
        )
        .await;
    assert!(!out.is_error);
    let out = fx
        .call("read_file", json!({"path": absolute.to_str().unwrap()}))
        .await;
    assert_eq!(out.content, "[empty file]\n");
}

#[tokio::test]
async fn read_errors() {
    let fx = fixture().await;
    let out = fx.call("read_file", json!({"path": "nope.txt"})).await;
    assert!(error_of(&out).contains("nope.txt"));
    let out = fx.call("read_file", json!({"path": "a\u{0}b"})).await;
    assert!(error_of(&out).contains("NUL"));
    let out = fx.call("read_file", json!({"path": 7})).await;
    assert!(error_of(&out).contains("`path`"));
    std::fs::create_dir_all(fx.workspace()).unwrap();
    std::fs::write(fx.workspace().join("bin"), b"\x7fELF\x00\x01").unwrap();
    let out = fx.call("read_file", json!({"path": "bin"})).await;
    assert!(error_of(&out).contains("binary"));
    let out = fx.call("read_file", json!({"path": "."})).await;
    assert!(error_of(&out).contains("directory"));
    let out = fx.call("write_file", json!({"path": "x.txt"})).await;
    assert!(error_of(&out).contains("`content`"));
}

#[tokio::test]
async fn patch_replaces_exact_unique_text() {
    let fx = fixture().await;
    fx.call(
        "write_file",
        json!({"path": "p.txt", "content": "a = 1\nb = 1\nc = 2\n"}),
    )
    .await;
    let read = || std::fs::read_to_string(fx.workspace().join("p.txt")).unwrap();

    let out = fx
        .call(
            "patch",
            json!({"path": "p.txt", "old_string": "c = 2", "new_string": "c = 3"}),
        )
        .await;
    assert_eq!(json_of(&out)["replacements"], 1);
    assert_eq!(read(), "a = 1\nb = 1\nc = 3\n");

    let out = fx
        .call(
            "patch",
            json!({"path": "p.txt", "old_string": "= 1", "new_string": "= 0"}),
        )
        .await;
    assert!(error_of(&out).contains("2 times"));
    assert_eq!(read(), "a = 1\nb = 1\nc = 3\n");

    let out = fx
        .call(
            "patch",
            json!({"path": "p.txt", "old_string": "zzz", "new_string": "y"}),
        )
        .await;
    assert!(error_of(&out).contains("not found"));

    let out = fx
        .call(
            "patch",
            json!({"path": "p.txt", "old_string": "= 1", "new_string": "= 0", "replace_all": true}),
        )
        .await;
    assert_eq!(json_of(&out)["replacements"], 2);
    assert_eq!(read(), "a = 0\nb = 0\nc = 3\n");

    let out = fx
        .call("patch", json!({"path": "p.txt", "old_string": "a"}))
        .await;
    assert!(error_of(&out).contains("`new_string`"));
    let out = fx
        .call(
            "patch",
            json!({"path": "gone.txt", "old_string": "a", "new_string": "b"}),
        )
        .await;
    assert!(error_of(&out).contains("gone.txt"));
}

#[tokio::test]
async fn search_finds_matches_and_skips_git_and_binaries() {
    let fx = fixture().await;
    let ws = fx.ctx.ensure_workspace().await.unwrap();
    std::fs::create_dir_all(ws.join("src/deep")).unwrap();
    std::fs::create_dir_all(ws.join(".git")).unwrap();
    std::fs::write(ws.join("src/deep/lib.rs"), "fn main() {}\n// TODO: fix\n").unwrap();
    std::fs::write(ws.join("notes.md"), "TODO later\n").unwrap();
    std::fs::write(ws.join(".git/config"), "TODO hidden\n").unwrap();
    std::fs::write(ws.join("blob.bin"), b"TODO\x00binary").unwrap();

    let out = fx.call("search_files", json!({"pattern": "TODO"})).await;
    assert!(!out.is_error);
    assert!(
        out.content.contains("lib.rs:2: // TODO: fix"),
        "{}",
        out.content
    );
    assert!(out.content.contains("notes.md:1: TODO later"));
    assert!(!out.content.contains(".git"));
    assert!(!out.content.contains("blob.bin"));
    assert!(out.content.ends_with("[2 matches]"), "{}", out.content);

    let out = fx
        .call("search_files", json!({"pattern": "TODO", "glob": "*.rs"}))
        .await;
    assert!(out.content.contains("lib.rs") && !out.content.contains("notes.md"));

    let out = fx
        .call("search_files", json!({"pattern": "TODO", "path": "src"}))
        .await;
    assert!(out.content.contains("lib.rs") && !out.content.contains("notes.md"));

    let out = fx
        .call("search_files", json!({"pattern": "nothing-here"}))
        .await;
    assert_eq!(out.content, "No matches.");

    let out = fx
        .call("search_files", json!({"pattern": "(unclosed"}))
        .await;
    assert!(error_of(&out).contains("`pattern`"));
    let out = fx
        .call("search_files", json!({"pattern": "x", "glob": "[bad"}))
        .await;
    assert!(error_of(&out).contains("`glob`"));
    let out = fx
        .call("search_files", json!({"pattern": "x", "path": "missing"}))
        .await;
    assert!(error_of(&out).contains("does not exist"));
}
