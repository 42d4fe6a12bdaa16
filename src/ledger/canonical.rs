//! RFC 8785 (JSON Canonicalization Scheme) for the ledger: the bytes an entry's hash covers
//! must not depend on who serialised it, so that anyone — an auditor's own script included —
//! recomputes the same hash from the same entry.
//!
//! Entries hold strings, integers, booleans, null, arrays and objects only; a number that is
//! not an integer is refused rather than formatted (RFC 8785 prescribes ECMAScript's number
//! formatting, which no entry needs).

use serde_json::Value;

/// Why a value has no canonical form here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    /// A number that is not an integer (at the JSON pointer given).
    #[error("{pointer}: a ledger entry holds integers only, found {number}")]
    NotAnInteger {
        /// Where in the value.
        pointer: String,
        /// The number as written.
        number: String,
    },
}

/// The canonical JSON text of `value` (RFC 8785): object members sorted by the UTF-16 code
/// units of their names, no whitespace, strings escaped minimally.
pub fn canonical(value: &Value) -> Result<String, CanonicalError> {
    let mut out = String::with_capacity(256);
    write_value(value, &mut out)?;
    Ok(out)
}

/// Whether `text` is the canonical JSON text of `value` (what it was parsed from), written
/// into a buffer reused per thread rather than a new string each time.
pub fn is_canonical(value: &Value, text: &str) -> Result<bool, CanonicalError> {
    thread_local! {
        static BUF: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    BUF.with(|buf| {
        let mut out = buf.borrow_mut();
        out.clear();
        write_value(value, &mut out)?;
        Ok(out.as_str() == text)
    })
}

/// Writes `value`; a number that is not an integer fails with the JSON pointer to it, built
/// on the way back up (so the path costs nothing when all is well).
fn write_value(value: &Value, out: &mut String) -> Result<(), CanonicalError> {
    let under = |key: &str, e: CanonicalError| match e {
        CanonicalError::NotAnInteger { pointer, number } => CanonicalError::NotAnInteger {
            pointer: format!("/{key}{pointer}"),
            number,
        },
    };
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            use std::fmt::Write;
            if let Some(i) = n.as_i64() {
                let _ = write!(out, "{i}");
            } else if let Some(u) = n.as_u64() {
                let _ = write!(out, "{u}");
            } else {
                return Err(CanonicalError::NotAnInteger {
                    pointer: String::new(),
                    number: n.to_string(),
                });
            }
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out).map_err(|e| under(&i.to_string(), e))?;
            }
            out.push(']');
        }
        Value::Object(members) => {
            let utf16 = |a: &String, b: &String| a.encode_utf16().cmp(b.encode_utf16());
            let write_member = |out: &mut String, i: usize, key: &String, member: &Value| {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(member, out).map_err(|e| under(key, e))
            };
            out.push('{');
            // The map keeps its keys in byte order, which is UTF-16 order unless a key holds
            // characters beyond U+FFFF: sort only then.
            if members.keys().is_sorted_by(|a, b| utf16(a, b).is_le()) {
                for (i, (key, member)) in members.iter().enumerate() {
                    write_member(out, i, key, member)?;
                }
            } else {
                let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
                sorted.sort_by(|a, b| utf16(a.0, b.0));
                for (i, (key, member)) in sorted.into_iter().enumerate() {
                    write_member(out, i, key, member)?;
                }
            }
            out.push('}');
        }
    }
    Ok(())
}

/// RFC 8785 §3.2.2.2: `"` and `\` escaped, the control characters as `\b \t \n \f \r` or
/// `\u00xx` (lower-case hex), everything else as itself.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{0C}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_are_sorted_by_utf16_and_whitespace_is_gone() {
        // By UTF-16 code units U+1F600 (0xD83D 0xDE00) sorts before U+FB33, though it is the
        // later code point: the order RFC 8785 §3.2.3 prescribes.
        let value = json!({"\u{fb33}": 1, "\u{1f600}": 2, "b": [true, null], "a": "x"});
        assert_eq!(
            canonical(&value).unwrap(),
            "{\"a\":\"x\",\"b\":[true,null],\"\u{1f600}\":2,\"\u{fb33}\":1}"
        );
    }

    #[test]
    fn strings_escape_only_what_rfc_8785_escapes() {
        let value = json!("a\"b\\c\u{1}\n\u{7f}é/</script>");
        assert_eq!(
            canonical(&value).unwrap(),
            "\"a\\\"b\\\\c\\u0001\\n\u{7f}é/</script>\""
        );
    }

    #[test]
    fn a_fraction_is_refused_with_its_place() {
        let err = canonical(&json!({"gates": [{"score": 1.5}]})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/gates/0/score: a ledger entry holds integers only, found 1.5"
        );
        assert_eq!(
            canonical(&json!([-3, 18446744073709551615u64])).unwrap(),
            "[-3,18446744073709551615]"
        );
    }
}
