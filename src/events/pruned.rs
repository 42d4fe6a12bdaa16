//! Parsing a webhook body into only the parts the extractors read.
//!
//! A GitHub `pull_request` delivery is about 24 KB of JSON of which the extractors read a
//! dozen fields. Building the whole [`Value`] (a map node and a `String` per key and string,
//! then dropping them all) was most of the ingest's CPU. [`KeptPaths::parse`] instead builds a
//! *pruned* [`Value`]: the objects on the way to a kept path, and the kept values themselves
//! (whole subtrees, where an extractor walks one); everything else is parsed and dropped
//! without allocating.
//!
//! Skipped values are still parsed exactly as [`serde_json::from_str`] parses them into a
//! [`Value`] (strings UTF-8- and escape-checked, numbers range-checked, nesting depth limited),
//! so a body is refused by the pruned parse iff the full parse refuses it, with the same error
//! at the same line and column. `serde::de::IgnoredAny` is deliberately not used: serde_json
//! skips it with a syntax-only scanner that accepts `1e400`, lone surrogates (`"\ud800"`) and
//! unbounded nesting, which the full parse refuses (and which would then be stored).
//!
//! The paths to keep are declared next to the extractors (`github::KEPT`, `gitlab::KEPT`), and
//! in debug builds the extractors' field reader (`events::Fields`) asserts every path it reads is covered, so an
//! extractor reading a field its table lacks fails every test that exercises it.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A set of dotted JSON paths (`pull_request.head.sha`) to keep from a payload, as a trie.
/// A path keeps the whole value at its end; the objects above it keep only their kept keys.
#[derive(Debug)]
pub struct KeptPaths {
    root: Node,
}

/// One object level of the trie.
#[derive(Debug, Default)]
struct Node {
    /// The whole value here is kept.
    whole: bool,
    /// The kept keys of this object, each with what is kept below it.
    children: Vec<(&'static str, Node)>,
}

impl Node {
    fn child(&self, key: &str) -> Option<&(&'static str, Node)> {
        self.children.iter().find(|(name, _)| *name == key)
    }
}

impl KeptPaths {
    /// The trie of `groups` of dotted paths (groups so that forges can share a list, such as
    /// the fields the policy-push check reads). A path under another kept path adds nothing.
    pub fn new(groups: &[&[&'static str]]) -> KeptPaths {
        let mut root = Node::default();
        for &path in groups.iter().flat_map(|g| g.iter()) {
            let mut node = &mut root;
            for part in path.split('.') {
                let at = match node.children.iter().position(|(name, _)| *name == part) {
                    Some(at) => at,
                    None => {
                        node.children.push((part, Node::default()));
                        node.children.len() - 1
                    }
                };
                node = &mut node.children[at].1;
            }
            node.whole = true;
        }
        KeptPaths { root }
    }

    /// Whether the value at the dotted `path` survives [`KeptPaths::parse`] intact: the path
    /// is a kept path or lies under one.
    pub fn covers(&self, path: &str) -> bool {
        let mut node = &self.root;
        for part in path.split('.') {
            if node.whole {
                return true;
            }
            match node.child(part) {
                Some((_, next)) => node = next,
                None => return false,
            }
        }
        node.whole
    }

    /// Parses `body` as JSON, keeping only the kept paths. Every value the trie covers reads
    /// the same in the result as in `serde_json::from_str::<Value>(body)`; an object on the
    /// way to a kept path holds only its kept keys; a value that is not an object where the
    /// trie expects one (the root included) becomes `null`. Fails exactly when
    /// `serde_json::from_str::<Value>` fails, with the same error. (A `&str`, not bytes: the
    /// caller checks the UTF-8 once, and serde_json then need not check each string again.)
    pub fn parse(&self, body: &str) -> Result<Value, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(body);
        let value = Prune(&self.root).deserialize(&mut de)?;
        de.end()?;
        Ok(value)
    }
}

/// Deserializes the value at one trie node.
struct Prune<'t>(&'t Node);

impl<'de> DeserializeSeed<'de> for Prune<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        if self.0.whole {
            <Value as de::Deserialize>::deserialize(deserializer)
        } else {
            deserializer.deserialize_any(self)
        }
    }
}

impl<'de> Visitor<'de> for Prune<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut kept = Map::new();
        while let Some(child) = map.next_key_seed(Key(self.0))? {
            match child {
                Some((name, node)) => {
                    // A repeated key replaces the earlier value, as in the full parse.
                    let value = map.next_value_seed(Prune(node))?;
                    kept.insert((*name).to_owned(), value);
                }
                None => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(Value::Object(kept))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// Reads an object key and finds it among a node's kept keys, without allocating.
struct Key<'t>(&'t Node);

impl<'de, 't> DeserializeSeed<'de> for Key<'t> {
    type Value = Option<&'t (&'static str, Node)>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, 't> Visitor<'de> for Key<'t> {
    type Value = Option<&'t (&'static str, Node)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.child(key))
    }
}

/// A value parsed as for a [`Value`] (the same checks, the same errors) and dropped, with no
/// allocation.
struct Skip;

impl<'de> de::Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Skip, D::Error> {
        deserializer.deserialize_any(Skip)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Skip)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const PATHS: &[&str] = &[
        "action",
        "pull_request.number",
        "pull_request.head.sha",
        "list",
    ];

    fn kept() -> KeptPaths {
        KeptPaths::new(&[PATHS, &["pull_request.head"]])
    }

    /// The pruned parse's oracle: the full parse, cut down to the trie on the `Value`.
    fn prune(value: &Value, node: &Node) -> Value {
        if node.whole {
            return value.clone();
        }
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter_map(|(k, v)| {
                        let (name, child) = node.child(k)?;
                        Some(((*name).to_owned(), prune(v, child)))
                    })
                    .collect(),
            ),
            _ => Value::Null,
        }
    }

    /// The pruned parse and the full parse cut down agree: same value, or the same error.
    fn agree(body: &str) {
        let kept = kept();
        let full = serde_json::from_str::<Value>(body)
            .map(|v| prune(&v, &kept.root))
            .map_err(|e| e.to_string());
        let pruned = kept.parse(body).map_err(|e| e.to_string());
        assert_eq!(pruned, full, "{body}");
    }

    #[test]
    fn coverage_is_a_kept_path_or_below_one() {
        let kept = kept();
        for path in [
            "action",
            "pull_request.head",
            "pull_request.head.sha.x",
            "list.a",
        ] {
            assert!(kept.covers(path), "{path}");
        }
        for path in [
            "pull_request",
            "pull_request.title",
            "number",
            "actions",
            "",
        ] {
            assert!(!kept.covers(path), "{path}");
        }
    }

    #[test]
    fn only_kept_paths_are_built() {
        let body = json!({"action": "opened", "number": 7, "zen": "x",
            "pull_request": {"number": 7, "title": "t", "head": {"sha": "abc", "ref": "b"}},
            "list": [{"a": 1}, 2]});
        let pruned = kept().parse(&body.to_string()).expect("parses");
        assert_eq!(
            pruned,
            json!({"action": "opened", "list": [{"a": 1}, 2],
                "pull_request": {"number": 7, "head": {"sha": "abc", "ref": "b"}}})
        );
    }

    #[test]
    fn hostile_shapes_read_as_in_the_full_parse() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let many = format!("[{}0]", "0,".repeat(200_000));
        let cases: Vec<String> = vec![
            // The HTTP test's malformed body, and its position.
            "{\"action\": \"opened\",\n  oops}".into(),
            // Repeated keys: the last wins, kept or on the way to a kept path.
            r#"{"action": "a", "action": "b"}"#.into(),
            r#"{"pull_request": {"number": 1}, "pull_request": {"title": "x"}}"#.into(),
            r#"{"pull_request": {"number": 1, "number": null}}"#.into(),
            // Not an object where the trie expects one, at the root or below.
            "[1, 2]".into(),
            "\"text\"".into(),
            "7".into(),
            "null".into(),
            r#"{"pull_request": [1, {"number": 2}]}"#.into(),
            r#"{"pull_request": {"head": "sha"}}"#.into(),
            // Escaped keys match their unescaped names.
            r#"{"\u0061ction": "opened", "pull\u005frequest": {"number": 3}}"#.into(),
            // Nesting around the limit, skipped and kept.
            format!(r#"{{"skipped": {}}}"#, deep(126)),
            format!(r#"{{"skipped": {}}}"#, deep(127)),
            format!(r#"{{"skipped": {}}}"#, deep(10_000)),
            format!(r#"{{"list": {}}}"#, deep(200)),
            // A huge skipped array.
            format!(r#"{{"skipped": {many}, "action": "opened"}}"#),
            // Numbers and strings the full parse refuses, where they would be skipped.
            r#"{"skipped": 1e400, "action": "opened"}"#.into(),
            format!(r#"{{"skipped": 1{}, "action": "opened"}}"#, "0".repeat(400)),
            r#"{"skipped": "\ud800", "action": "opened"}"#.into(),
            r#"{"skipped": "\x", "action": "opened"}"#.into(),
            "{\"skipped\": \"a\tb\"}".into(),
            r#"{"\ud800": 1}"#.into(),
            // Truncated, trailing, empty.
            r#"{"action": "opened", "skipped": [1, 2"#.into(),
            r#"{"action": "opened"} x"#.into(),
            r#"{"action": "opened"}  "#.into(),
            String::new(),
        ];
        for body in &cases {
            agree(body);
        }
    }

    #[test]
    fn refusals_keep_their_position() {
        let err = kept()
            .parse("{\"action\": \"opened\",\n  oops}")
            .expect_err("refused");
        assert_eq!((err.line(), err.column()), (2, 3));
    }

    /// JSON values over a few keys, some kept by the trie.
    fn json_value() -> impl Strategy<Value = Value> {
        let key = prop::sample::select(vec![
            "action",
            "pull_request",
            "number",
            "head",
            "sha",
            "list",
            "a",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[a-z\u{e9}\u{1F600}\"\\\\]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 64, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::vec((key.clone(), inner), 0..6).prop_map(|entries| {
                    Value::Object(
                        entries
                            .into_iter()
                            .map(|(k, v)| (k.to_owned(), v))
                            .collect(),
                    )
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

        #[test]
        fn pruned_parse_is_the_full_parse_cut_down(value in json_value()) {
            agree(&value.to_string());
        }

        #[test]
        fn a_damaged_body_is_refused_as_the_full_parse_refuses_it(
            value in json_value(),
            at in any::<prop::sample::Index>(),
            damage in prop::sample::select(vec!["{", "}", "[", "]", ",", ":", "\"", "\\", " ", "0", "-", "e", ".", "x", "\u{1}", "\u{e9}"]),
            insert in any::<bool>(),
        ) {
            let mut body = value.to_string();
            let mut at = at.index(body.len() + 1);
            while !body.is_char_boundary(at) {
                at -= 1;
            }
            if !insert && at < body.len() {
                body.remove(at);
            }
            body.insert_str(at, damage);
            agree(&body);
        }
    }
}
