//! The identity of a change's content: `git patch-id --stable`, computed from a diff.
//!
//! An approval given on an earlier commit still counts for the head when the change's diff
//! against its base is the same patch — a rebase, or a force-push that only moved the base.
//! Git defines "the same patch" with `git patch-id`: SHA-1 over the diff with all whitespace
//! and the hunk headers' line numbers removed; `--stable` hashes each file on its own and adds
//! the hashes (as 20-byte little-endian numbers), so the order of the files does not matter.
//!
//! Whitespace is content in Python, YAML or a Makefile: an indentation change can move a
//! line out of an `if` and keep git's default (whitespace-blind) id. So the gate compares
//! [`Mode::Verbatim`] ids, git's `--verbatim` (`--stable` without stripping whitespace); the
//! whitespace-blind [`Mode::Stable`] is there for comparison with what people run.
//!
//! [`of_diff`] is a port of git's `builtin/patch-id.c` (`get_one_patchid`) over the text
//! `git diff` prints; [`of_files`] rebuilds that text from what a forge hands out per
//! file (GitHub's `files[].patch`: the hunks without git's header) and hashes it. For added,
//! modified and removed text files the two agree with git (the unit test runs the real tool);
//! a renamed file is hashed without git's `similarity index` line, which the forge does not
//! give, so its id differs from git's own but is the same for the same rename. A file the
//! forge gives no patch for (binary, too large, a mode change only) leaves the id unknown:
//! two such files cannot be told apart, so nothing is carried over on them (fail closed).
//!
//! Pure: text in, hex out.

use sha1::{Digest, Sha1};

use crate::snapshot::FileStatus;

/// Which of git's `patch-id` modes (both hash each file on its own and ignore line numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `git patch-id --stable`: whitespace is removed before hashing.
    Stable,
    /// `git patch-id --verbatim`: lines are hashed as they are, whitespace included.
    Verbatim,
}

/// The bytes of a SHA-1.
const RAW: usize = 20;

/// git's running state: the sum of the flushed per-file hashes and the open hash.
struct Acc {
    result: [u8; RAW],
    ctx: Sha1,
    len: usize,
}

impl Acc {
    fn new() -> Self {
        Acc {
            result: [0; RAW],
            ctx: Sha1::new(),
            len: 0,
        }
    }

    /// `flush_one_hunk`: adds the open hash to the result (byte 0 first, with carry) and
    /// starts a new one.
    fn flush(&mut self) {
        let ctx = std::mem::replace(&mut self.ctx, Sha1::new());
        let hash = ctx.finalize();
        let mut carry: u16 = 0;
        for (r, h) in self.result.iter_mut().zip(hash.iter()) {
            carry += u16::from(*r) + u16::from(*h);
            *r = (carry & 0xff) as u8;
            carry >>= 8;
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        self.ctx.update(bytes);
    }

    fn hex(&self) -> String {
        hex::encode(self.result)
    }
}

/// C's `isspace` in the "C" locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `scan_hunk_header`: the old and new line counts of `@@ -a,b +c,d @@` (1 when omitted);
/// on a malformed header it leaves what it could not read, as git does.
fn scan_hunk_header(line: &str, before: &mut i64, after: &mut i64) {
    fn digits(s: &[u8]) -> usize {
        s.iter().take_while(|b| b.is_ascii_digit()).count()
    }
    fn number(s: &[u8]) -> i64 {
        let n = digits(s);
        std::str::from_utf8(&s[..n])
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0)
    }
    let bytes = line.as_bytes();
    let Some(mut q) = bytes.get(4..) else {
        return;
    };
    let mut n = digits(q);
    if q.get(n) == Some(&b',') {
        q = &q[n + 1..];
        *before = number(q);
        n = digits(q);
    } else {
        *before = 1;
    }
    if n == 0 || q.get(n) != Some(&b' ') || q.get(n + 1) != Some(&b'+') {
        return;
    }
    let mut r = &q[n + 2..];
    let n = digits(r);
    if r.get(n) == Some(&b',') {
        r = &r[n + 1..];
        *after = number(r);
    } else {
        *after = 1;
    }
}

/// Whether `s` starts with a full hex object id (git's `get_oid_hex`).
fn starts_with_oid(s: &str) -> bool {
    s.len() >= 40 && s.as_bytes()[..40].iter().all(|b| b.is_ascii_hexdigit())
}

/// `git patch-id --stable` (or `--verbatim`) of the first patch in `diff` (the output of
/// `git diff`, `git show` or `git format-patch`), as 40 hex digits; `None` for a diff with
/// nothing to hash (git then prints nothing).
pub fn of_diff(diff: &str, mode: Mode) -> Option<String> {
    let verbatim = mode == Mode::Verbatim;
    let mut acc = Acc::new();
    let (mut before, mut after): (i64, i64) = (-1, -1);
    let mut binary = false;
    let (mut pre_oid, mut post_oid) = (String::new(), String::new());
    for line in diff.split_inclusive('\n') {
        let p = line
            .strip_prefix("commit ")
            .or_else(|| line.strip_prefix("From "));
        if p.is_none() && line.starts_with("\\ ") && line.len() > 12 {
            // "\ No newline at end of file"
            if verbatim {
                acc.update(line.as_bytes());
            }
            continue;
        }
        if starts_with_oid(p.unwrap_or(line)) {
            if acc.len > 0 {
                // The next patch of a `git log -p` stream.
                break;
            }
            continue;
        }
        // Commit messages and anything before the first diff.
        if acc.len == 0 && !line.starts_with("diff ") {
            continue;
        }
        // The diff header of a file?
        if before == -1 {
            if line.starts_with("GIT binary patch") || line.starts_with("Binary files") {
                binary = true;
                before = 0;
                acc.update(pre_oid.as_bytes());
                acc.update(post_oid.as_bytes());
                acc.flush();
                continue;
            } else if let Some(rest) = line.strip_prefix("index ") {
                if let Some((a, b)) = rest.split_once("..") {
                    let b = b.trim_end_matches('\n');
                    let b = b.split_once(' ').map_or(b, |(oid, _)| oid);
                    pre_oid = a.chars().take(64).collect();
                    post_oid = b.chars().take(64).collect();
                }
                continue;
            } else if line.starts_with("--- ") {
                before = 1;
                after = 1;
            } else if !line.as_bytes().first().is_some_and(u8::is_ascii_alphabetic) {
                break;
            }
        }
        if binary {
            if line.starts_with("diff ") {
                binary = false;
                before = -1;
            }
            continue;
        }
        // Between hunks: another hunk, another file, or the end of the patch.
        if before == 0 && after == 0 {
            if line.starts_with("@@ -") {
                scan_hunk_header(line, &mut before, &mut after);
                continue;
            }
            if !line.starts_with("diff ") {
                break;
            }
            acc.flush();
            before = -1;
            after = -1;
        }
        match line.as_bytes().first() {
            Some(b'-') => before -= 1,
            Some(b'+') => after -= 1,
            Some(b' ') => {
                before -= 1;
                after -= 1;
            }
            _ => {}
        }
        if verbatim {
            acc.len += line.len();
            acc.update(line.as_bytes());
        } else {
            let kept: Vec<u8> = line.bytes().filter(|b| !is_space(*b)).collect();
            acc.len += kept.len();
            acc.update(&kept);
        }
    }
    acc.flush();
    (acc.len > 0).then(|| acc.hex())
}

/// One file of a change as a forge describes it: GitHub's `files[]` of a pull request or a
/// comparison.
#[derive(Debug, Clone, Copy)]
pub struct FilePatch<'a> {
    /// The path in the newer commit.
    pub path: &'a str,
    /// The old path of a renamed or copied file.
    pub previous_path: Option<&'a str>,
    /// What happened to the file.
    pub status: FileStatus,
    /// The hunks (`@@ … @@` and the lines after), as GitHub's `patch` field; `None` when the
    /// forge gave none.
    pub patch: Option<&'a str>,
}

/// Why [`of_files`] could not name the patch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchIdError {
    /// The forge gave no patch for a file (binary, too large, or a mode change only).
    #[error("the forge gives no patch for {0}: binary, too large or a mode change only")]
    NoPatch(String),
    /// The change has no diff at all.
    #[error("the change has no diff")]
    Empty,
}

/// The `git diff` text of one file, rebuilt from the forge's description.
fn file_diff(f: &FilePatch<'_>) -> Result<String, PatchIdError> {
    let path = f.path;
    let old = f.previous_path.unwrap_or(path);
    let moved = matches!(f.status, FileStatus::Renamed | FileStatus::Copied);
    let patch = match f.patch {
        Some(p) if !p.is_empty() => Some(p),
        // A pure rename or copy has no hunks; any other file without hunks is binary, too
        // large or a mode change, whose content the forge does not show.
        Some(_) if moved => None,
        _ => return Err(PatchIdError::NoPatch(path.to_string())),
    };
    let mut text = format!("diff --git a/{old} b/{path}\n");
    match f.status {
        FileStatus::Added => text.push_str(&format!(
            "new file mode 100644\n--- /dev/null\n+++ b/{path}\n"
        )),
        FileStatus::Removed => text.push_str(&format!(
            "deleted file mode 100644\n--- a/{path}\n+++ /dev/null\n"
        )),
        FileStatus::Renamed | FileStatus::Copied => {
            let verb = if f.status == FileStatus::Renamed {
                "rename"
            } else {
                "copy"
            };
            text.push_str(&format!("{verb} from {old}\n{verb} to {path}\n"));
            if patch.is_some() {
                text.push_str(&format!("--- a/{old}\n+++ b/{path}\n"));
            }
        }
        FileStatus::Modified | FileStatus::Changed => {
            text.push_str(&format!("--- a/{path}\n+++ b/{path}\n"))
        }
    }
    if let Some(p) = patch {
        text.push_str(p);
        if !p.ends_with('\n') {
            text.push('\n');
        }
    }
    Ok(text)
}

/// `git patch-id` (in `mode`) of a change given as its files (in any order); an error names
/// the file that makes it unknown.
pub fn of_files(files: &[FilePatch<'_>], mode: Mode) -> Result<String, PatchIdError> {
    let mut acc = Acc::new();
    for f in files {
        // Each file on its own, so a file without hunks (a pure rename) cannot run into the
        // next one: the sum is the same in any order.
        let one = of_diff(&file_diff(f)?, mode).ok_or(PatchIdError::Empty)?;
        let mut raw = [0u8; RAW];
        hex::decode_to_slice(&one, &mut raw).map_err(|_| PatchIdError::Empty)?;
        let mut carry: u16 = 0;
        for (r, h) in acc.result.iter_mut().zip(raw) {
            carry += u16::from(*r) + u16::from(h);
            *r = (carry & 0xff) as u8;
            carry >>= 8;
        }
        acc.len += 1;
    }
    if acc.len == 0 {
        return Err(PatchIdError::Empty);
    }
    Ok(acc.hex())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::{Command, Stdio};

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(["-c", "commit.gpgsign=false", "-c", "core.autocrlf=false"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("git {args:?}: {e}"));
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `git patch-id --stable` / `--verbatim` of `diff`, from the real tool.
    fn real_patch_id(dir: &Path, diff: &str, mode: Mode) -> String {
        use std::io::Write;
        let flag = match mode {
            Mode::Stable => "--stable",
            Mode::Verbatim => "--verbatim",
        };
        let mut child = Command::new("git")
            .args(["patch-id", flag])
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("git patch-id: {e}"));
        child
            .stdin
            .take()
            .unwrap_or_else(|| panic!("stdin"))
            .write_all(diff.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.split_whitespace()
            .next()
            .unwrap_or_else(|| panic!("no patch id for {diff}"))
            .to_string()
    }

    /// Splits `git diff` output into GitHub-like files: path, status and the hunks only.
    fn as_github_files(diff: &str) -> Vec<(String, FileStatus, String)> {
        let mut files = Vec::new();
        for chunk in diff.split("diff --git ").skip(1) {
            let header_end = chunk.find("\n@@ ").map_or(chunk.len(), |i| i + 1);
            let header = &chunk[..header_end];
            let path = header
                .lines()
                .next()
                .and_then(|l| l.split(" b/").nth(1))
                .unwrap_or_else(|| panic!("{header}"))
                .to_string();
            let status = if header.contains("new file mode") {
                FileStatus::Added
            } else if header.contains("deleted file mode") {
                FileStatus::Removed
            } else {
                FileStatus::Modified
            };
            // GitHub's `patch` has no trailing newline.
            let hunks = chunk[header_end..].trim_end_matches('\n').to_string();
            files.push((path, status, hunks));
        }
        files
    }

    fn write(dir: &Path, path: &str, text: &str) {
        let p = dir.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(p, text).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn agrees_with_the_real_git_patch_id() {
        let tmp = std::env::temp_dir().join(format!("sdl-gate-patch-id-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).unwrap_or_else(|e| panic!("{e}"));
        let dir = tmp.as_path();
        git(dir, &["init", "-q", "-b", "main"]);
        let body: String = (1..=40).map(|i| format!("line {i}\n")).collect();
        write(dir, "src/auth.rs", &body);
        write(dir, "gone.txt", "bye\nnow\n");
        write(dir, "README.md", "# demo\nno newline at the end");
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", "base"]);
        // Two hunks, an added file, a removed file, whitespace, no newline at the end.
        let changed = body
            .replace("line 3\n", "line three\n")
            .replace("line 30\n", "line 30\n  indented\tline\n");
        write(dir, "src/auth.rs", &changed);
        write(dir, "src/new.rs", "fn main() {}\n");
        std::fs::remove_file(dir.join("gone.txt")).unwrap_or_else(|e| panic!("{e}"));
        write(dir, "README.md", "# demo\nstill no newline");
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", "head"]);

        let diff = git(dir, &["diff", "HEAD~1..HEAD"]);
        let mut files = as_github_files(&diff);
        assert_eq!(files.len(), 4);
        // GitHub's order is not git's: the id does not depend on it.
        files.reverse();
        let described: Vec<FilePatch<'_>> = files
            .iter()
            .map(|(path, status, hunks)| FilePatch {
                path,
                previous_path: None,
                status: *status,
                patch: Some(hunks),
            })
            .collect();
        for mode in [Mode::Stable, Mode::Verbatim] {
            let real = real_patch_id(dir, &diff, mode);
            assert_eq!(
                of_diff(&diff, mode).as_deref(),
                Some(real.as_str()),
                "{mode:?} {diff}"
            );
            // The same change rebuilt from GitHub's per-file hunks.
            assert_eq!(of_files(&described, mode), Ok(real), "{mode:?}");
        }
        let id = |d: &str, mode| real_patch_id(dir, d, mode);

        // One changed character is another patch, in both modes.
        write(dir, "src/new.rs", "fn main() { run() }\n");
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", "other"]);
        let other = git(dir, &["diff", "HEAD~2..HEAD"]);
        for mode in [Mode::Stable, Mode::Verbatim] {
            assert_ne!(id(&other, mode), id(&diff, mode));
            assert_eq!(of_diff(&other, mode), Some(id(&other, mode)));
        }
        // Whitespace only: the same for --stable, another patch for --verbatim.
        let before = git(dir, &["diff", "HEAD~1..HEAD"]);
        write(dir, "src/new.rs", "fn main() {  run() }\n");
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", "spaces"]);
        let spaced = git(dir, &["diff", "HEAD~2..HEAD"]);
        assert_eq!(id(&spaced, Mode::Stable), id(&before, Mode::Stable));
        assert_ne!(id(&spaced, Mode::Verbatim), id(&before, Mode::Verbatim));
        for mode in [Mode::Stable, Mode::Verbatim] {
            assert_eq!(of_diff(&spaced, mode), Some(id(&spaced, mode)));
        }

        // A rebase: the head commit replayed on a base that moved its second hunk down (git
        // hashes the context lines, so the base changed away from them).
        git(dir, &["checkout", "-q", "-b", "moved", "main~3"]);
        write(
            dir,
            "src/auth.rs",
            &body.replace("line 15\n", "line 15\n// one\n// two\n"),
        );
        git(dir, &["commit", "-q", "-am", "base moved"]);
        git(dir, &["cherry-pick", "main~2"]);
        let rebased = git(dir, &["diff", "HEAD~1..HEAD"]);
        assert_ne!(rebased, diff, "other line numbers");
        for mode in [Mode::Stable, Mode::Verbatim] {
            assert_eq!(id(&rebased, mode), id(&diff, mode));
            assert_eq!(of_diff(&rebased, mode), Some(id(&diff, mode)));
        }
        let _ = std::fs::remove_dir_all(&tmp);
    }

    #[test]
    fn line_numbers_do_not_matter_content_does() {
        let a = "@@ -1,2 +1,2 @@\n ctx\n-old\n+new";
        let moved = "@@ -41,2 +57,2 @@ fn x()\n ctx\n-old\n+new";
        let other = "@@ -1,2 +1,2 @@\n ctx\n-old\n+newer";
        let id = |p: &str| {
            of_files(
                &[FilePatch {
                    path: "a.rs",
                    previous_path: None,
                    status: FileStatus::Modified,
                    patch: Some(p),
                }],
                Mode::Verbatim,
            )
        };
        assert_eq!(id(a), id(moved));
        assert_ne!(id(a), id(other));
    }

    #[test]
    fn a_file_without_a_patch_leaves_the_id_unknown() {
        let files = [
            FilePatch {
                path: "a.rs",
                previous_path: None,
                status: FileStatus::Modified,
                patch: Some("@@ -1 +1 @@\n-a\n+b"),
            },
            FilePatch {
                path: "logo.png",
                previous_path: None,
                status: FileStatus::Modified,
                patch: None,
            },
        ];
        assert_eq!(
            of_files(&files, Mode::Verbatim),
            Err(PatchIdError::NoPatch("logo.png".into()))
        );
        assert_eq!(of_files(&[], Mode::Verbatim), Err(PatchIdError::Empty));
        // A pure rename (an empty patch) is known, and differs from another rename.
        let rename = |to: &'static str| FilePatch {
            path: to,
            previous_path: Some("old.rs"),
            status: FileStatus::Renamed,
            patch: Some(""),
        };
        let (a, b) = (
            of_files(&[rename("new.rs")], Mode::Verbatim),
            of_files(&[rename("other.rs")], Mode::Verbatim),
        );
        assert!(a.is_ok() && b.is_ok() && a != b);
    }
}
