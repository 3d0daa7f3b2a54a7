//! Compiles `caduceus/v1/*.proto` with protox (pure Rust, no `protoc`), writes the encoded
//! descriptor set for server reflection, and generates prost messages plus tonic clients/servers.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from("caduceus/v1");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "proto"))
        .collect();
    files.sort();
    println!("cargo:rerun-if-changed=caduceus/v1");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let mut fds = protox::compile(&files, ["."])?;
    strip_doc_slashes(&mut fds);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("caduceus_descriptor.bin"), fds.encode_to_vec())?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}

/// The `.proto` files use `///` doc comments; protobuf keeps the third slash as text. Drop it so the
/// generated Rust docs read `/// Text`, not `/// / Text`.
fn strip_doc_slashes(fds: &mut prost_types::FileDescriptorSet) {
    let fix = |comment: &mut String| {
        *comment = comment
            .lines()
            .map(|line| line.strip_prefix('/').unwrap_or(line))
            .collect::<Vec<_>>()
            .join("\n");
    };
    for file in &mut fds.file {
        for location in file
            .source_code_info
            .iter_mut()
            .flat_map(|info| info.location.iter_mut())
        {
            if let Some(comment) = location.leading_comments.as_mut() {
                fix(comment);
            }
            if let Some(comment) = location.trailing_comments.as_mut() {
                fix(comment);
            }
        }
    }
}
