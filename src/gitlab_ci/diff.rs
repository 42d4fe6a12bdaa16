//! What `git` says about the change when the API cannot be asked: the changed files from
//! `git diff --name-status -z -M BASE HEAD`, and the changed lines from the same diff as a
//! patch (`git diff -U0 -M BASE HEAD`). Pure: the binary runs git and hands the output in.

use crate::patch::changed_lines;
use crate::snapshot::{ChangedFile, FileStatus};

/// Output of `git diff --name-status -z` that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("git diff --name-status entry {entry}: {reason}")]
pub struct DiffError {
    /// 1-based entry (file) number.
    pub entry: usize,
    /// What is wrong.
    pub reason: String,
}

/// Parses `git diff --name-status -z` output: `STATUS NUL PATH NUL`, or for renames and
/// copies `R100 NUL OLD NUL NEW NUL`. Paths that are not UTF-8 are read lossily.
pub fn parse_name_status(out: &[u8]) -> Result<Vec<ChangedFile>, DiffError> {
    let mut fields = out.split(|b| *b == 0).peekable();
    let mut files = Vec::new();
    let mut entry = 0usize;
    while let Some(code) = fields.next() {
        if code.is_empty() && fields.peek().is_none() {
            break;
        }
        entry += 1;
        let code = String::from_utf8_lossy(code).trim().to_string();
        let mut path = |what: &str| -> Result<String, DiffError> {
            match fields.next() {
                Some(p) if !p.is_empty() => Ok(String::from_utf8_lossy(p).into_owned()),
                _ => Err(DiffError {
                    entry,
                    reason: format!("status `{code}` is not followed by {what}"),
                }),
            }
        };
        let letter = code.chars().next().unwrap_or(' ');
        let (status, previous, p) = match letter {
            'R' | 'C' => {
                let old = path("the old path")?;
                let new = path("the new path")?;
                let st = if letter == 'R' {
                    FileStatus::Renamed
                } else {
                    FileStatus::Copied
                };
                (st, Some(old), new)
            }
            'A' => (FileStatus::Added, None, path("a path")?),
            'D' => (FileStatus::Removed, None, path("a path")?),
            'M' => (FileStatus::Modified, None, path("a path")?),
            // Type change, unmerged, unknown: the file changed in some way.
            'T' | 'U' | 'X' | 'B' => (FileStatus::Changed, None, path("a path")?),
            _ => {
                return Err(DiffError {
                    entry,
                    reason: format!(
                        "unknown status `{}`",
                        code.chars().take(10).collect::<String>()
                    ),
                });
            }
        };
        files.push(ChangedFile {
            path: p,
            previous_path: previous,
            status,
            changed_lines: None,
        });
    }
    Ok(files)
}

/// Fills `changed_lines` of `files` from the patch of the same diff: git writes one
/// `diff --git` section per file, in the order of `--name-status`. When the section count
/// does not match, nothing is filled (every line then counts, which over-counts rather than
/// misses) and `false` is returned. Binary files and sections that do not parse stay unknown.
pub fn fill_changed_lines(files: &mut [ChangedFile], patch: &str) -> bool {
    let mut sections: Vec<String> = Vec::new();
    for line in patch.split_inclusive('\n') {
        if line.starts_with("diff --git ") {
            sections.push(String::new());
        }
        if let Some(s) = sections.last_mut() {
            s.push_str(line);
        }
    }
    if sections.len() != files.len() {
        return false;
    }
    for (file, section) in files.iter_mut().zip(sections) {
        let binary = section
            .lines()
            .take_while(|l| !l.starts_with("@@"))
            .any(|l| l.starts_with("Binary files ") || l.starts_with("GIT binary patch"));
        if binary {
            continue;
        }
        file.changed_lines = changed_lines(&section).ok();
    }
    true
}
