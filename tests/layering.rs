//! The layers stay apart: the forge adapters (`src/forge/**`) read and send and know no
//! policy, gate, renderer or HTTP server, so a rule changed in the engine cannot be left behind
//! in one forge's copy. This reads the sources and fails naming the file and line of any
//! import across the seam.

use std::path::{Path, PathBuf};

const FORBIDDEN: [&str; 4] = [
    "crate::gates",
    "crate::policy",
    "crate::render",
    "crate::server",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn forge_adapters_import_no_policy_gate_renderer_or_server() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/forge");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() >= 10, "the forge sources were found: {files:?}");
    let mut crossings = Vec::new();
    for file in &files {
        let text =
            std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if let Some(bad) = FORBIDDEN.iter().find(|f| code.contains(*f)) {
                crossings.push(format!(
                    "{}:{}: {bad}: {}",
                    file.display(),
                    i + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        crossings.is_empty(),
        "imports across the forge seam:\n{}",
        crossings.join("\n")
    );
}

/// The shared change path (`src/engine/*.rs`, not its `github/` part, the per-forge
/// processors beside it, nor the wiring that builds one processor per forge) names no forge
/// adapter: what one forge cannot do comes from its
/// `Capabilities`, not from a branch on which forge it is.
#[test]
fn the_shared_engine_names_no_forge_adapter() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/engine");
    let beside = ["dispatch.rs", "gitlab.rs", "wiring.rs"];
    let mut crossings = Vec::new();
    let mut checked = 0;
    let entries = std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() || !name.ends_with(".rs") || beside.contains(&name.as_str()) {
            continue;
        }
        checked += 1;
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if code.starts_with("pub use ") || code.starts_with("pub mod ") {
                continue; // the module's own table of contents
            }
            for bad in [
                "forge::github",
                "forge::gitlab",
                "engine::github",
                "github::",
                "gitlab::",
                "ForgeName::GitHub =>",
                "ForgeName::GitLab =>",
            ] {
                if code.contains(bad) {
                    crossings.push(format!(
                        "{}:{}: {bad}: {}",
                        path.display(),
                        i + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(checked >= 4, "the engine sources were found ({checked})");
    assert!(
        crossings.is_empty(),
        "the shared engine reaches into one forge:\n{}",
        crossings.join("\n")
    );
}
