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

/// Whether `text` is canonical JSON (RFC 8785) of the kind entries hold, checked in one
/// pass over the text without building a value: no whitespace; object members in strictly
/// increasing UTF-16 order of their names; strings escaped exactly as [`canonical`] writes
/// them; integers without sign or zero padding beyond `-` and `0`. Equal to
/// `canonical(parse(text)) == text` for every text (tested against it), at a fraction of the
/// cost, for `ledger verify`.
pub fn check_canonical(text: &str) -> bool {
    let mut p = Checker {
        b: text.as_bytes(),
        i: 0,
        depth: 0,
    };
    p.value() && p.i == p.b.len()
}

/// Nesting beyond this is not canonical for us (serde_json refuses it too).
const MAX_DEPTH: usize = 128;

struct Checker<'a> {
    b: &'a [u8],
    i: usize,
    depth: usize,
}

impl Checker<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.b[self.i..].starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> bool {
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().is_some(),
            Some(b't') => self.eat(b"true"),
            Some(b'f') => self.eat(b"false"),
            Some(b'n') => self.eat(b"null"),
            Some(b'-' | b'0'..=b'9') => self.integer(),
            _ => false,
        }
    }

    fn nested(&mut self, inner: impl FnOnce(&mut Self) -> bool) -> bool {
        self.depth += 1;
        let ok = self.depth <= MAX_DEPTH && inner(self);
        self.depth -= 1;
        ok
    }

    fn array(&mut self) -> bool {
        self.i += 1;
        if self.eat(b"]") {
            return true;
        }
        self.nested(|p| {
            loop {
                if !p.value() {
                    return false;
                }
                if p.eat(b"]") {
                    return true;
                }
                if !p.eat(b",") {
                    return false;
                }
            }
        })
    }

    fn object(&mut self) -> bool {
        self.i += 1;
        if self.eat(b"}") {
            return true;
        }
        self.nested(|p| {
            let mut previous: Option<(usize, usize)> = None;
            loop {
                let Some(key) = p.string() else { return false };
                if let Some(prev) = previous
                    && !p.key_before(prev, key)
                {
                    return false;
                }
                previous = Some(key);
                if !p.eat(b":") || !p.value() {
                    return false;
                }
                if p.eat(b"}") {
                    return true;
                }
                if !p.eat(b",") {
                    return false;
                }
            }
        })
    }

    /// Whether the key between quotes at `a` sorts strictly before the one at `b` in UTF-16
    /// code units (the raw contents compare as well when neither has escapes).
    fn key_before(&self, a: (usize, usize), b: (usize, usize)) -> bool {
        let (ka, kb) = (&self.b[a.0..a.1], &self.b[b.0..b.1]);
        if !ka.contains(&b'\\') && !kb.contains(&b'\\') && ka.is_ascii() && kb.is_ascii() {
            return ka < kb;
        }
        let decode = |raw: &[u8]| -> Option<String> {
            serde_json::from_slice::<String>(&[b"\"", raw, b"\""].concat()).ok()
        };
        match (decode(ka), decode(kb)) {
            (Some(x), Some(y)) => x.encode_utf16().lt(y.encode_utf16()),
            _ => false,
        }
    }

    /// A canonical string; the span of its contents.
    fn string(&mut self) -> Option<(usize, usize)> {
        if !self.eat(b"\"") {
            return None;
        }
        let start = self.i;
        loop {
            let c = self.peek()?;
            match c {
                b'"' => {
                    let end = self.i;
                    self.i += 1;
                    return Some((start, end));
                }
                b'\\' => {
                    let e = *self.b.get(self.i + 1)?;
                    match e {
                        b'"' | b'\\' | b'b' | b't' | b'n' | b'f' | b'r' => self.i += 2,
                        b'u' => {
                            // Only control characters without a short escape, lower-case hex.
                            let hex = self.b.get(self.i + 2..self.i + 6)?;
                            if !hex.starts_with(b"00")
                                || !hex[2..]
                                    .iter()
                                    .all(|h| h.is_ascii_digit() || (b'a'..=b'f').contains(h))
                            {
                                return None;
                            }
                            let code = u8::from_str_radix(std::str::from_utf8(&hex[2..]).ok()?, 16)
                                .ok()?;
                            if code >= 0x20 || matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                                return None;
                            }
                            self.i += 6;
                        }
                        _ => return None,
                    }
                }
                0x00..=0x1f => return None,
                _ => self.i += 1,
            }
        }
    }

    fn integer(&mut self) -> bool {
        let start = self.i;
        self.eat(b"-");
        let digits = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let text = &self.b[digits..self.i];
        let negative = digits > start;
        let well_formed = match text {
            [] => false,
            [b'0'] => !negative,
            [b'0', ..] => false,
            _ => true,
        };
        // No fraction or exponent, and within what serde_json reads as an integer.
        well_formed
            && !matches!(self.peek(), Some(b'.' | b'e' | b'E'))
            && std::str::from_utf8(&self.b[start..self.i])
                .ok()
                .is_some_and(|t| t.parse::<i64>().is_ok() || t.parse::<u64>().is_ok())
    }
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
    fn the_one_pass_check_agrees_with_canonicalising() {
        let canon = [
            r#"{"a":1,"b":[true,false,null],"c":{"d":"x\\y\"z\n\u001f"},"e":-3,"f":0}"#,
            r#"{}"#,
            r#"[]"#,
            r#""é/</script>""#,
            r#"{"😀":1,"דּ":2}"#,
            r#"18446744073709551615"#,
        ];
        for t in canon {
            let v: Value = serde_json::from_str(t).unwrap();
            assert_eq!(canonical(&v).unwrap(), t);
            assert!(check_canonical(t), "{t}");
        }
        let not = [
            r#"{"b":1,"a":2}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"a": 1}"#,
            r#"{"דּ":2,"😀":1}"#,
            r#""\/""#,
            r#""\u0041""#,
            r#""\u000a""#,
            r#""\u001F""#,
            r#"01"#,
            r#"-0"#,
            r#"1.5"#,
            r#"1e3"#,
            r#"18446744073709551616"#,
            r#"[1,]"#,
            r#"{"a":1}x"#,
            "\"a\tb\"",
        ];
        for t in not {
            assert!(!check_canonical(t), "{t}");
        }
    }

    proptest::proptest! {
        #[test]
        fn the_one_pass_check_is_canonicalising_for_any_text(text in "[\\[\\]{}\",:a-c0-9\\\\u -]{0,24}") {
            let expected = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| canonical(&v).ok())
                .is_some_and(|c| c == text);
            proptest::prop_assert_eq!(check_canonical(&text), expected, "{}", text);
        }
    }

    fn any_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            "[a-z\"\\\\\u{1}-\u{1f}é😀\u{fb33}/]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map("[a-c😀\u{fb33}\"]{0,3}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn every_canonical_text_passes_and_its_pretty_form_does_not(v in any_value()) {
            let text = canonical(&v).unwrap();
            proptest::prop_assert!(check_canonical(&text), "{}", text);
            let pretty = serde_json::to_string_pretty(&v).unwrap();
            proptest::prop_assert_eq!(check_canonical(&pretty), pretty == text, "{}", pretty);
        }
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
