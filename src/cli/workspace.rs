//! Report files in a CI job's checkout, found by glob: the GitHub Action (`sarif` and
//! `reports` inputs) and the GitLab CI job (`SDL_GATE_REPORTS`) search the same way, so a
//! policy author's globs mean the same on both.

use std::fs;
use std::path::{Path, PathBuf};

use sdl_gate::policy::{GlobList, GlobPattern};

/// Folders never searched for reports.
pub(crate) const SKIP_DIRS: [&str; 4] = [".git", "node_modules", "target", ".venv"];

/// Directory entries looked at, at most (a glob like `**/*.json` in a big checkout).
pub(crate) const MAX_SCANNED: usize = 200_000;

/// What a search found.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// Matching files, sorted.
    pub files: Vec<PathBuf>,
    /// True when the search stopped at [`MAX_SCANNED`] entries: a matching file may be missed.
    pub cut: bool,
}

impl Found {
    /// The line for the report's "not checked" list when the search was cut.
    pub fn cut_note(&self, what: &str) -> Option<String> {
        self.cut.then(|| {
            format!(
                "{what}: the search stopped after {MAX_SCANNED} entries of the checkout; name the report files more precisely so none is missed"
            )
        })
    }
}

/// Walks `root` for files whose path relative to `root` matches one of `globs` (a leading
/// `./` is ignored), skipping [`SKIP_DIRS`] and the files in `skip`. A bad glob is an error
/// naming it.
pub(crate) fn find_files(root: &Path, globs: &[String], skip: &[PathBuf]) -> Result<Found, String> {
    if globs.is_empty() {
        return Ok(Found::default());
    }
    let patterns = globs
        .iter()
        .map(|g| GlobPattern::new(g.trim_start_matches("./")))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let list = GlobList::new(&patterns);
    let mut found = Found::default();
    let mut stack = vec![root.to_path_buf()];
    let mut seen = 0usize;
    'walk: while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_SCANNED {
                found.cut = true;
                break 'walk;
            }
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !SKIP_DIRS.iter().any(|s| entry.file_name() == *s) {
                    stack.push(path);
                }
            } else if kind.is_file() && !skip.contains(&path) {
                let rel = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .replace('\\', "/");
                // gzip'd SARIF (`x.sarif.gz`) is found by the globs that find `x.sarif`.
                let gz_of_sarif = rel
                    .strip_suffix(".gz")
                    .filter(|r| r.ends_with(".sarif"))
                    .is_some_and(|r| list.is_match(r));
                if list.is_match(&rel) || gz_of_sarif {
                    found.files.push(path);
                }
            }
        }
    }
    found.files.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str) {
        let p = root.join(rel);
        if let Some(dir) = p.parent() {
            fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
        }
        fs::write(&p, b"{}").unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn globs_match_relative_paths_and_skip_build_folders_and_outputs() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let root = dir.path();
        for rel in [
            "reports/b.sarif",
            "reports/a.sarif",
            "node_modules/x/c.sarif",
            "target/d.sarif",
            "out/sdl-gate.sarif",
            "notes.txt",
        ] {
            touch(root, rel);
        }
        let skip = vec![root.join("out/sdl-gate.sarif")];
        let found = find_files(root, &["./**/*.sarif".to_string()], &skip)
            .unwrap_or_else(|e| panic!("{e}"));
        let rel: Vec<_> = found
            .files
            .iter()
            .map(|p| {
                p.strip_prefix(root)
                    .unwrap_or(p)
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(rel, vec!["reports/a.sarif", "reports/b.sarif"]);
        assert!(!found.cut);
        assert!(found.cut_note("input `sarif`").is_none());
        assert!(find_files(root, &[], &[]).is_ok_and(|f| f.files.is_empty()));
        assert!(find_files(root, &["[".to_string()], &[]).is_err());
    }
}
