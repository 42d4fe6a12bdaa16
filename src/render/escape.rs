//! Escaping of text from users and scanners before it goes into Markdown.
//!
//! Anything a PR author, a reviewer or a scanner wrote may try to mention people (`@org/team`),
//! inject HTML (`<img src=…>`, `<!-- sdl-gate:summary -->` to hijack the sticky comment), break
//! out of a table cell (`|`, newlines), or fake formatting and links. Every such string passes
//! through one of these functions; the renderers never interpolate raw text.

/// A zero-width space: breaks `@mention` and `#123` auto-links without changing what a reader
/// sees.
const ZWSP: char = '\u{200B}';

/// Escapes text for Markdown prose: HTML is neutralised, Markdown punctuation escaped,
/// mentions and issue references broken, line breaks kept.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut prev: Option<char> = None;
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '@' => {
                out.push('@');
                out.push(ZWSP);
            }
            '#' if prev.is_none_or(|p| p.is_whitespace() || p == '(') => {
                out.push('#');
                out.push(ZWSP);
            }
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\r' => {}
            c if c.is_control() && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
        prev = Some(c);
    }
    out
}

/// Escapes text for one line of Markdown (a list item, a heading, a table cell): like
/// [`text`], with every line break folded into a space, and cut to `max` characters with an
/// ellipsis so one finding cannot flood a table.
pub fn line(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = if flat.chars().count() > max {
        let mut t: String = flat.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    } else {
        flat
    };
    text(&cut)
}

/// Escapes text for a Markdown code span: backticks cannot be escaped inside one, so the span
/// is fenced with more backticks than the text holds. Mentions are inert in code.
pub fn code(s: &str) -> String {
    let flat: String = s
        .chars()
        .map(|c| {
            if c == '\n' || c == '\r' || c == '|' {
                ' '
            } else {
                c
            }
        })
        .collect();
    let mut run = 0;
    let mut max_run = 0;
    for c in flat.chars() {
        if c == '`' {
            run += 1;
            max_run = max_run.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(max_run + 1);
    let pad = if flat.starts_with('`') || flat.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{flat}{pad}{fence}")
}

/// A link to `url` with escaped `label`, or just the label when the URL is not a plain
/// `https://` (or `http://`) URL without spaces, quotes or angle brackets.
pub fn link(label: &str, url: &str) -> String {
    let safe = (url.starts_with("https://") || url.starts_with("http://"))
        && !url.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '<' | '>' | '"' | '\'' | '`' | '(' | ')')
        });
    if safe {
        format!("[{}]({url})", line(label, 200))
    } else {
        line(label, 200)
    }
}

/// Renders sdl-gate's own explanation text, where backticks mark code spans around values
/// (paths, globs, ids): every part outside the spans is escaped like [`line()`], every span is
/// rendered with [`code`]. Safe on any input: an unbalanced backtick only makes the rest a
/// code span, which is inert.
pub fn rich(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let flat: String = if flat.chars().count() > max {
        let mut t: String = flat.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    } else {
        flat
    };
    flat.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 0 {
                text(part)
            } else if part.is_empty() {
                String::new()
            } else {
                code(part)
            }
        })
        .collect()
}
