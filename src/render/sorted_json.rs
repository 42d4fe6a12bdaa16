//! Pretty JSON with every object's keys in sorted order, written straight from a `Serialize`
//! value: the same bytes as `serde_json::to_string_pretty(&serde_json::to_value(v)?)`, without
//! the `serde_json::Value` tree in between.
//!
//! The JSON result has always been printed through a `Value` (whose maps sort their keys), and
//! its key order is part of the interface. For a large evaluation (thousands of findings, a
//! dozen keys each) building that tree, printing it and freeing it was a fifth of
//! `sdl-gate check`: a `String` per key, a B-tree node per few entries, a `Value` per field.
//! Here a value becomes a light tree instead — scalars already rendered into one byte arena,
//! keys copied into one string arena, a `Vec` per object or array — which is sorted and
//! printed in one pass. Whatever this serializer does not model the way `to_value` does (a map
//! key that is no string, a number out of range) is an error, and the caller falls back to
//! the `Value` path, so the bytes never differ.

use std::ops::Range;

use serde::Serialize;
use serde::ser::{self, Error as _, Impossible};

/// One value, its text in the arenas of [`Tree`].
enum Node {
    /// A rendered scalar (`"text"`, `12`, `true`, `null`): a range of [`Tree::scalars`].
    Scalar(Range<usize>),
    /// An array.
    Array(Vec<Node>),
    /// An object: each key is a range of [`Tree::keys`], unescaped; order as serialized.
    Object(Vec<(Range<usize>, Node)>),
}

/// The arenas a [`Node`] tree points into.
#[derive(Default)]
struct Tree {
    scalars: Vec<u8>,
    keys: String,
}

type Error = serde_json::Error;

/// `serde_json::to_string_pretty(&serde_json::to_value(value)?)`, as bytes, without the
/// intermediate `Value`. An error where `to_value` could differ (see the module comment).
pub(crate) fn to_vec_pretty_sorted<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut tree = Tree::default();
    let root = value.serialize(NodeSerializer { tree: &mut tree })?;
    let mut out = Vec::with_capacity(tree.scalars.len() + tree.keys.len() * 2 + 1024);
    write(&tree, root, 0, &mut out)?;
    Ok(out)
}

fn indent(out: &mut Vec<u8>, level: usize) {
    for _ in 0..level {
        out.extend_from_slice(b"  ");
    }
}

/// Prints `node` as serde_json's `PrettyFormatter` prints a `Value`: two-space indent, `[]`
/// and `{}` when empty, object keys sorted (a repeated key keeps its last value, as a map
/// insert does).
fn write(tree: &Tree, node: Node, level: usize, out: &mut Vec<u8>) -> Result<(), Error> {
    match node {
        Node::Scalar(r) => out.extend_from_slice(&tree.scalars[r]),
        Node::Array(items) => {
            if items.is_empty() {
                out.extend_from_slice(b"[]");
                return Ok(());
            }
            out.push(b'[');
            for (i, item) in items.into_iter().enumerate() {
                out.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
                indent(out, level + 1);
                write(tree, item, level + 1, out)?;
            }
            out.push(b'\n');
            indent(out, level);
            out.push(b']');
        }
        Node::Object(mut entries) => {
            if entries.is_empty() {
                out.extend_from_slice(b"{}");
                return Ok(());
            }
            let key = |r: &Range<usize>| &tree.keys[r.clone()];
            // Stable: of equal keys, the last serialized stays last, and is the one kept.
            entries.sort_by(|a, b| key(&a.0).cmp(key(&b.0)));
            out.push(b'{');
            let mut first = true;
            let mut entries = entries.into_iter().peekable();
            while let Some((k, v)) = entries.next() {
                if entries.peek().is_some_and(|(next, _)| key(next) == key(&k)) {
                    continue;
                }
                out.extend_from_slice(if first { b"\n" } else { b",\n" });
                first = false;
                indent(out, level + 1);
                serde_json::to_writer(&mut *out, key(&k))?;
                out.extend_from_slice(b": ");
                write(tree, v, level + 1, out)?;
            }
            out.push(b'\n');
            indent(out, level);
            out.push(b'}');
        }
    }
    Ok(())
}

/// Serializes one value into a [`Node`], mirroring `serde_json::value::Serializer`.
struct NodeSerializer<'t> {
    tree: &'t mut Tree,
}

impl NodeSerializer<'_> {
    /// Renders a scalar as serde_json renders it.
    fn scalar<T: Serialize + ?Sized>(self, v: &T) -> Result<Node, Error> {
        let start = self.tree.scalars.len();
        serde_json::to_writer(&mut self.tree.scalars, v)?;
        Ok(Node::Scalar(start..self.tree.scalars.len()))
    }

    fn key(&mut self, k: &str) -> Range<usize> {
        let start = self.tree.keys.len();
        self.tree.keys.push_str(k);
        start..self.tree.keys.len()
    }

    /// `{variant: value}`, as `to_value` writes newtype and tuple variants.
    fn tagged(mut self, variant: &'static str, value: Node) -> Node {
        let k = self.key(variant);
        Node::Object(vec![(k, value)])
    }
}

fn out_of_range() -> Error {
    Error::custom("number out of range")
}

impl<'t> ser::Serializer for NodeSerializer<'t> {
    type Ok = Node;
    type Error = Error;
    type SerializeSeq = SeqBuilder<'t>;
    type SerializeTuple = SeqBuilder<'t>;
    type SerializeTupleStruct = SeqBuilder<'t>;
    type SerializeTupleVariant = SeqBuilder<'t>;
    type SerializeMap = MapBuilder<'t>;
    type SerializeStruct = MapBuilder<'t>;
    type SerializeStructVariant = MapBuilder<'t>;

    fn serialize_bool(self, v: bool) -> Result<Node, Error> {
        self.scalar(&v)
    }
    fn serialize_i8(self, v: i8) -> Result<Node, Error> {
        self.scalar(&v)
    }
    fn serialize_i16(self, v: i16) -> Result<Node, Error> {
        self.scalar(&v)
    }
    fn serialize_i32(self, v: i32) -> Result<Node, Error> {
        self.scalar(&v)
    }
    fn serialize_i64(self, v: i64) -> Result<Node, Error> {
        self.scalar(&v)
    }
    fn serialize_i128(self, v: i128) -> Result<Node, Error> {
        // `to_value` keeps an i128 only when it fits an i64 or a u64.
        if let Ok(v) = i64::try_from(v) {
            self.scalar(&v)
        } else if let Ok(v) = u64::try_from(v) {
            self.scalar(&v)
        } else {
            Err(out_of_range())
        }
    }
    fn serialize_u8(self, v: u8) -> Result<Node, Error> {
        self.scalar(&v)
    }
    fn serialize_u16(self, v: u16) -> Result<Node, Error> {
        self.scalar(&v)
    }
    fn serialize_u32(self, v: u32) -> Result<Node, Error> {
        self.scalar(&v)
    }
    fn serialize_u64(self, v: u64) -> Result<Node, Error> {
        self.scalar(&v)
    }
    fn serialize_u128(self, v: u128) -> Result<Node, Error> {
        match u64::try_from(v) {
            Ok(v) => self.scalar(&v),
            Err(_) => Err(out_of_range()),
        }
    }
    fn serialize_f32(self, v: f32) -> Result<Node, Error> {
        // `to_value` widens an f32 to the f64 it prints.
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<Node, Error> {
        // Non-finite numbers are `null` both ways.
        self.scalar(&v)
    }
    fn serialize_char(self, v: char) -> Result<Node, Error> {
        self.scalar(&v)
    }
    fn serialize_str(self, v: &str) -> Result<Node, Error> {
        self.scalar(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Node, Error> {
        let items = v
            .iter()
            .map(|b| {
                let s = self.tree.scalars.len();
                serde_json::to_writer(&mut self.tree.scalars, b)?;
                Ok(Node::Scalar(s..self.tree.scalars.len()))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Node::Array(items))
    }
    fn serialize_none(self) -> Result<Node, Error> {
        self.scalar(&())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Node, Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Node, Error> {
        self.scalar(&())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Node, Error> {
        self.scalar(&())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Node, Error> {
        self.scalar(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Node, Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Node, Error> {
        let inner = value.serialize(NodeSerializer {
            tree: &mut *self.tree,
        })?;
        Ok(self.tagged(variant, inner))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder<'t>, Error> {
        Ok(SeqBuilder {
            tree: self.tree,
            items: Vec::with_capacity(len.unwrap_or(0)),
            variant: None,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder<'t>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<SeqBuilder<'t>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<SeqBuilder<'t>, Error> {
        Ok(SeqBuilder {
            tree: self.tree,
            items: Vec::with_capacity(len),
            variant: Some(variant),
        })
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapBuilder<'t>, Error> {
        Ok(MapBuilder {
            tree: self.tree,
            entries: Vec::with_capacity(len.unwrap_or(0)),
            next_key: None,
            variant: None,
        })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<MapBuilder<'t>, Error> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<MapBuilder<'t>, Error> {
        Ok(MapBuilder {
            tree: self.tree,
            entries: Vec::with_capacity(len),
            next_key: None,
            variant: Some(variant),
        })
    }
}

/// An array being built (`variant`: the tuple variant it is wrapped in).
struct SeqBuilder<'t> {
    tree: &'t mut Tree,
    items: Vec<Node>,
    variant: Option<&'static str>,
}

impl SeqBuilder<'_> {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let node = value.serialize(NodeSerializer {
            tree: &mut *self.tree,
        })?;
        self.items.push(node);
        Ok(())
    }
    fn finish(self) -> Node {
        let array = Node::Array(self.items);
        match self.variant {
            Some(v) => NodeSerializer { tree: self.tree }.tagged(v, array),
            None => array,
        }
    }
}

/// The four sequence-like serde traits all push each element and finish the array.
macro_rules! seq_like {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for SeqBuilder<'_> {
            type Ok = Node;
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.push(value)
            }
            fn end(self) -> Result<Node, Error> {
                Ok(self.finish())
            }
        }
    )*};
}

seq_like!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// An object being built (`variant`: the struct variant it is wrapped in).
struct MapBuilder<'t> {
    tree: &'t mut Tree,
    entries: Vec<(Range<usize>, Node)>,
    next_key: Option<Range<usize>>,
    variant: Option<&'static str>,
}

impl MapBuilder<'_> {
    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Error> {
        let mut s = NodeSerializer {
            tree: &mut *self.tree,
        };
        let k = s.key(key);
        let node = value.serialize(s)?;
        self.entries.push((k, node));
        Ok(())
    }
    fn finish(self) -> Node {
        let object = Node::Object(self.entries);
        match self.variant {
            Some(v) => NodeSerializer { tree: self.tree }.tagged(v, object),
            None => object,
        }
    }
}

impl ser::SerializeMap for MapBuilder<'_> {
    type Ok = Node;
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        let start = self.tree.keys.len();
        // Straight into the key arena: a flattened struct's fields come through here.
        key.serialize(KeySerializer {
            keys: &mut self.tree.keys,
        })?;
        self.next_key = Some(start..self.tree.keys.len());
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let Some(k) = self.next_key.take() else {
            return Err(Error::custom("serialize_value called before serialize_key"));
        };
        let node = value.serialize(NodeSerializer {
            tree: &mut *self.tree,
        })?;
        self.entries.push((k, node));
        Ok(())
    }
    fn end(self) -> Result<Node, Error> {
        Ok(self.finish())
    }
}

impl ser::SerializeStruct for MapBuilder<'_> {
    type Ok = Node;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(key, value)
    }
    fn end(self) -> Result<Node, Error> {
        Ok(self.finish())
    }
}

impl ser::SerializeStructVariant for MapBuilder<'_> {
    type Ok = Node;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(key, value)
    }
    fn end(self) -> Result<Node, Error> {
        Ok(self.finish())
    }
}

/// A map key, appended to the key arena. Only strings, characters and unit variants are taken
/// (what every key in an evaluation is); anything else is an error, so the caller uses
/// `to_value`, which decides.
struct KeySerializer<'k> {
    keys: &'k mut String,
}

fn not_a_string_key() -> Error {
    Error::custom("map key is not a string")
}

impl ser::Serializer for KeySerializer<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.keys.push_str(v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.keys.push(v);
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.keys.push_str(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_bool(self, _: bool) -> Result<(), Error> {
        Err(not_a_string_key())
    }
    fn serialize_i8(self, _: i8) -> Result<(), Error> {
        Err(not_a_string_key())
    }
    fn serialize_i16(self, _: i16) -> Result<(), Error> {
        Err(not_a_string_key())
    }
    fn serialize_i32(self, _: i32) -> Result<(), Error> {
        Err(not_a_string_key())
    }
    fn serialize_i64(self, _: i64) -> Result<(), Error> {
        Err(not_a_string_key())
    }
    fn serialize_u8(self, _: u8) -> Result<(), Error> {
        Err(not_a_string_key())
    }
    fn serialize_u16(self, _: u16) -> Result<(), Error> {
        Err(not_a_string_key())
    }
    fn serialize_u32(self, _: u32) -> Result<(), Error> {
        Err(not_a_string_key())
    }
    fn serialize_u64(self, _: u64) -> Result<(), Error> {
        Err(not_a_string_key())
    }
    fn serialize_f32(self, _: f32) -> Result<(), Error> {
        Err(not_a_string_key())
    }
    fn serialize_f64(self, _: f64) -> Result<(), Error> {
        Err(not_a_string_key())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Error> {
        Err(not_a_string_key())
    }
    fn serialize_none(self) -> Result<(), Error> {
        Err(not_a_string_key())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Error> {
        Err(not_a_string_key())
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Err(not_a_string_key())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        Err(not_a_string_key())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        Err(not_a_string_key())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(not_a_string_key())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        Err(not_a_string_key())
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(not_a_string_key())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(not_a_string_key())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(not_a_string_key())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        Err(not_a_string_key())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(not_a_string_key())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use serde::Serialize;

    use super::to_vec_pretty_sorted;

    fn via_value<T: Serialize>(v: &T) -> String {
        serde_json::to_value(v)
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or_default()
    }

    fn direct<T: Serialize>(v: &T) -> String {
        to_vec_pretty_sorted(v)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default()
    }

    #[derive(Serialize)]
    struct Inner {
        zeta: Option<u32>,
        alpha: Vec<String>,
        empty: Vec<u8>,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<bool>,
        ratio: f64,
        small: f32,
        nan: f64,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Plain,
        Wrapped(String),
        Pair(u8, i64),
        Named { b: bool, a: char },
    }

    #[derive(Serialize)]
    struct Outer {
        #[serde(flatten)]
        inner: Inner,
        kinds: Vec<Kind>,
        map: BTreeMap<String, i32>,
        hashed: HashMap<String, ()>,
        escaped: &'static str,
        nothing: (),
        big: u128,
        negative: i128,
        bytes: serde_bytes_like::Bytes,
        nested: Vec<Vec<BTreeMap<String, String>>>,
    }

    mod serde_bytes_like {
        /// Serializes through `serialize_bytes`.
        pub struct Bytes(pub Vec<u8>);
        impl serde::Serialize for Bytes {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(&self.0)
            }
        }
    }

    #[test]
    fn same_bytes_as_through_a_value() {
        let v = Outer {
            inner: Inner {
                zeta: None,
                alpha: vec!["b".into(), "a\n\"quoted\"".into()],
                empty: Vec::new(),
                skipped: None,
                ratio: 0.1,
                small: 0.1,
                nan: f64::NAN,
            },
            kinds: vec![
                Kind::Plain,
                Kind::Wrapped("w".into()),
                Kind::Pair(1, -2),
                Kind::Named { b: true, a: 'x' },
            ],
            map: [("b".to_string(), 2), ("a".to_string(), 1)].into(),
            hashed: [("k2".to_string(), ()), ("k1".to_string(), ())].into(),
            escaped: "tab\there \u{1} é ✓",
            nothing: (),
            big: u128::from(u64::MAX),
            negative: -5,
            bytes: serde_bytes_like::Bytes(vec![0, 255]),
            nested: vec![vec![], vec![BTreeMap::new()]],
        };
        assert_eq!(direct(&v), via_value(&v));
        assert_eq!(direct(&Vec::<u8>::new()), "[]");
        assert_eq!(direct(&"x"), "\"x\"");
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_as_a_map_does() {
        struct Twice;
        impl Serialize for Twice {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("k", &1)?;
                m.serialize_entry("a", &0)?;
                m.serialize_entry("k", &2)?;
                m.end()
            }
        }
        assert_eq!(direct(&Twice), via_value(&Twice));
    }

    #[test]
    fn what_it_does_not_model_is_an_error_not_other_bytes() {
        let m: BTreeMap<u32, u32> = [(1, 2)].into();
        assert!(to_vec_pretty_sorted(&m).is_err());
        assert!(to_vec_pretty_sorted(&u128::MAX).is_err());
    }
}
