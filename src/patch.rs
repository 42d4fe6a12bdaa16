//! Unified-diff hunks → the line ranges a change added in the new file.
//!
//! Forges hand out per-file patches (GitHub's `patch` field of a pull request file); the gates
//! want `changed_lines` so that `new_only` counts only findings on lines the change touched.
//! Pure: text in, ranges out.

/// A patch that does not follow the unified diff format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("patch line {line}: {reason}")]
pub struct PatchError {
    /// 1-based line of the patch text.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// Parses `@@ -a,b +c,d @@` and returns `(c, d)`.
fn hunk_header(line: &str) -> Option<(u32, u32)> {
    let rest = line.strip_prefix("@@ -")?;
    let plus = rest.find(" +")?;
    let after = &rest[plus + 2..];
    let end = after.find(" @@")?;
    let spec = &after[..end];
    let (start, count) = match spec.split_once(',') {
        Some((s, c)) => (s.parse().ok()?, c.parse().ok()?),
        None => (spec.parse().ok()?, 1),
    };
    Some((start, count))
}

/// The 1-based, inclusive line ranges of the new file that `patch` adds or changes, merged
/// and in order. A patch with only deletions gives no ranges.
pub fn changed_lines(patch: &str) -> Result<Vec<(u32, u32)>, PatchError> {
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    let mut next_new: Option<u32> = None;
    for (i, line) in patch.lines().enumerate() {
        if line.starts_with("@@") {
            let (start, _) = hunk_header(line).ok_or_else(|| PatchError {
                line: i + 1,
                reason: format!(
                    "malformed hunk header `{}`",
                    line.chars().take(80).collect::<String>()
                ),
            })?;
            next_new = Some(start);
            continue;
        }
        let Some(n) = next_new else {
            // Git headers before the first hunk (`diff --git`, `---`, `+++`, `index`).
            continue;
        };
        match line.as_bytes().first() {
            Some(b'+') => {
                match ranges.last_mut() {
                    Some((_, end)) if end.checked_add(1) == Some(n) => *end = n,
                    _ => ranges.push((n, n)),
                }
                next_new = Some(n.saturating_add(1));
            }
            Some(b'-') | Some(b'\\') => {}
            // Context line (' ') or an empty line (a context line whose space was stripped).
            _ => next_new = Some(n.saturating_add(1)),
        }
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn additions_and_changes_become_merged_ranges() {
        let patch = "@@ -1,2 +1,4 @@\n # triagebot-test\n Triagebot testing\n+\n+test";
        assert_eq!(changed_lines(patch).unwrap(), vec![(3, 4)]);
    }

    #[test]
    fn several_hunks_and_replacements() {
        let patch = "@@ -10,4 +10,4 @@ fn a() {\n ctx\n-old\n+new\n ctx\n ctx\n@@ -40,3 +40,5 @@\n ctx\n+a\n+b\n ctx\n-gone\n+c\n\\ No newline at end of file";
        assert_eq!(
            changed_lines(patch).unwrap(),
            vec![(11, 11), (41, 42), (44, 44)]
        );
    }

    #[test]
    fn deletions_only_give_no_ranges() {
        assert_eq!(changed_lines("@@ -5,2 +4,0 @@\n-a\n-b").unwrap(), vec![]);
    }

    #[test]
    fn single_line_header_without_count() {
        assert_eq!(changed_lines("@@ -1 +1 @@\n-a\n+b").unwrap(), vec![(1, 1)]);
    }

    #[test]
    fn malformed_header_is_an_error_naming_the_line() {
        let err = changed_lines("@@ -1,2 +1,2 @@\n a\n@@ nonsense @@\n+x").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.reason.contains("malformed hunk header"));
    }
}
