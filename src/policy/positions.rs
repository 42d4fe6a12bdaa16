//! Where each key of a YAML document is written.
//!
//! serde-saphyr reports the line and column of errors it raises while deserializing, but the
//! semantic checks that run afterwards (`approvals: 0`, a reviewer set that nobody can satisfy)
//! only see the typed [`Policy`](super::Policy). This index walks the parser's events once and
//! records, for every mapping key and sequence item, its path (`gates.security_review.approvals`)
//! and position, so a semantic error can point at the line the author has to change.
//!
//! The walk is iterative (no recursion), does not expand aliases, and only runs on text that
//! the budgeted deserializer already accepted or on text it rejected as a whole, so its cost is
//! linear in the size of the text.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser};

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index (0-based).
    Index(usize),
}

/// Renders a path as `gates.dependencies.ignore[0].reason`.
pub(crate) fn display_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

/// One recorded node: its path, where its key (or `-` item) starts and where its value starts.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Path from the root.
    pub path: Vec<Seg>,
    /// The key of a mapping entry; for a sequence item, the item itself.
    pub key: Pos,
    /// The value.
    pub value: Pos,
}

/// Positions of every key and item of the first document.
#[derive(Debug, Default)]
pub(crate) struct PositionIndex {
    entries: Vec<Entry>,
    /// Path → position in `entries`, so looking up every issue of a large file stays linear.
    by_path: HashMap<Vec<Seg>, usize>,
    /// Whether the document has any node at all (an empty or comment-only file has none).
    has_content: bool,
}

enum Frame {
    Map {
        path: Vec<Seg>,
        /// The key read and its position, while waiting for its value.
        key: Option<(String, Pos)>,
    },
    Seq {
        path: Vec<Seg>,
        next: usize,
    },
    /// A container used as a mapping key (legal YAML, never valid in a policy): its content is
    /// not recorded.
    Skip,
}

impl PositionIndex {
    /// Walks `text`. Stops quietly at the first syntax error (what was read so far is kept):
    /// the syntax error itself is reported by the deserializer.
    pub(crate) fn build(text: &str) -> PositionIndex {
        let mut index = PositionIndex::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut parser = Parser::new_from_str(text);
        let mut documents = 0usize;
        while let Some(next) = parser.next_event() {
            let Ok((event, span)) = next else { break };
            let here = Pos {
                line: span.start.line(),
                column: span.start.col() + 1,
            };
            match event {
                Event::DocumentStart(..) => {
                    documents += 1;
                    if documents > 1 {
                        break;
                    }
                }
                Event::Scalar(text, ..) => {
                    index.node(&mut stack, here, Some(text.as_ref()), None);
                }
                Event::Alias(..) => {
                    index.node(&mut stack, here, None, None);
                }
                Event::MappingStart(..) => {
                    let frame = index.node(&mut stack, here, None, Some(true));
                    stack.push(frame);
                }
                Event::SequenceStart(..) => {
                    let frame = index.node(&mut stack, here, None, Some(false));
                    stack.push(frame);
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                Event::DocumentEnd | Event::StreamEnd => break,
                _ => {}
            }
        }
        index
    }

    /// Records a node that starts at `here`. `container` is `Some(true)` for a mapping,
    /// `Some(false)` for a sequence; the frame to push for it is returned.
    fn node(
        &mut self,
        stack: &mut [Frame],
        here: Pos,
        scalar: Option<&str>,
        container: Option<bool>,
    ) -> Frame {
        self.has_content = true;
        let child_path = match stack.last_mut() {
            None => Some(Vec::new()),
            Some(Frame::Skip) => None,
            Some(Frame::Map { path, key }) => match key.take() {
                None => {
                    // This node is a key.
                    match scalar {
                        Some(k) => {
                            *key = Some((k.to_string(), here));
                            return Frame::Skip;
                        }
                        None => {
                            *key = Some((String::from("?"), here));
                            return Frame::Skip;
                        }
                    }
                }
                Some((k, key_pos)) => {
                    let mut p = path.clone();
                    p.push(Seg::Key(k));
                    self.record(Entry {
                        path: p.clone(),
                        key: key_pos,
                        value: here,
                    });
                    Some(p)
                }
            },
            Some(Frame::Seq { path, next }) => {
                let mut p = path.clone();
                p.push(Seg::Index(*next));
                *next += 1;
                self.record(Entry {
                    path: p.clone(),
                    key: here,
                    value: here,
                });
                Some(p)
            }
        };
        match (container, child_path) {
            (Some(true), Some(path)) => Frame::Map { path, key: None },
            (Some(false), Some(path)) => Frame::Seq { path, next: 0 },
            _ => Frame::Skip,
        }
    }

    fn record(&mut self, entry: Entry) {
        // The first occurrence wins (a duplicate key is rejected by the deserializer anyway).
        self.by_path
            .entry(entry.path.clone())
            .or_insert(self.entries.len());
        self.entries.push(entry);
    }

    /// True when the document holds at least one node.
    pub(crate) fn has_content(&self) -> bool {
        self.has_content
    }

    /// The entry at exactly `path`.
    pub(crate) fn get(&self, path: &[Seg]) -> Option<&Entry> {
        self.by_path.get(path).and_then(|&i| self.entries.get(i))
    }

    /// The entry at `path`, or at its closest written ancestor (a default value has no
    /// position of its own; the section that holds it does).
    pub(crate) fn nearest(&self, path: &[Seg]) -> Option<&Entry> {
        (1..=path.len())
            .rev()
            .find_map(|n| path.get(..n).and_then(|p| self.get(p)))
    }

    /// The mapping entry whose key starts at `pos`, for naming the section of an unknown key.
    pub(crate) fn key_at(&self, pos: Pos) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == pos)
    }

    /// The entry whose value starts at `pos`.
    pub(crate) fn value_at(&self, pos: Pos) -> Option<&Entry> {
        self.entries.iter().find(|e| e.value == pos)
    }

    /// The innermost entry containing `pos` (the last entry starting at or before it whose
    /// path is a prefix-chain), used when an error points inside a value.
    pub(crate) fn enclosing(&self, pos: Pos) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key <= pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(path: &str) -> Vec<Seg> {
        path.split('.')
            .map(|s| match s.parse::<usize>() {
                Ok(i) => Seg::Index(i),
                Err(_) => Seg::Key(s.to_string()),
            })
            .collect()
    }

    #[test]
    fn records_keys_and_items_with_positions() {
        let text = "version: 1\ngates:\n  sast:\n    checks: [CodeQL, Semgrep]\n  dependencies:\n    ignore:\n      - id: X\n        reason: r\n";
        let idx = PositionIndex::build(text);
        let e = idx.get(&key("gates.sast.checks")).map(|e| (e.key, e.value));
        assert_eq!(
            e,
            Some((
                Pos { line: 4, column: 5 },
                Pos {
                    line: 4,
                    column: 13
                }
            ))
        );
        let item = idx.get(&key("gates.sast.checks.1")).map(|e| e.key);
        assert_eq!(
            item,
            Some(Pos {
                line: 4,
                column: 22
            })
        );
        let reason = idx
            .get(&key("gates.dependencies.ignore.0.reason"))
            .map(|e| e.key);
        assert_eq!(reason, Some(Pos { line: 8, column: 9 }));
        assert_eq!(
            display_path(&key("gates.dependencies.ignore.0.reason")),
            "gates.dependencies.ignore[0].reason"
        );
    }

    #[test]
    fn nearest_falls_back_to_the_written_ancestor() {
        let idx =
            PositionIndex::build("version: 1\ngates:\n  security_review:\n    approvals: 2\n");
        let e = idx.nearest(&key("gates.security_review.reviewers"));
        assert_eq!(
            e.map(|e| display_path(&e.path)),
            Some("gates.security_review".to_string())
        );
    }

    #[test]
    fn empty_and_comment_only_documents_have_no_content() {
        assert!(!PositionIndex::build("").has_content());
        assert!(!PositionIndex::build("# only a comment\n\n").has_content());
        assert!(PositionIndex::build("version: 1").has_content());
    }

    #[test]
    fn syntax_error_keeps_what_was_read() {
        let idx = PositionIndex::build("version: 1\ngates: [\n");
        assert!(idx.get(&key("version")).is_some());
    }
}
