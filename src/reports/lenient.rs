//! Lenient leaf types for scanner JSON.
//!
//! Scanners disagree on small things — `security-severity` is `"9.1"` in one tool and `9.1` in
//! another, a CWE property is a string here and a list there. These wrappers accept every
//! reasonable spelling and turn the rest into "absent" instead of failing the whole report,
//! while still being zero-copy for the common case.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A number given as a JSON number or a numeric string; anything else is `None`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct LenientF64(pub Option<f64>);

impl<'de> Deserialize<'de> for LenientF64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LenientF64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a numeric string")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LenientF64, E> {
                Ok(LenientF64(v.is_finite().then_some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LenientF64, E> {
                Ok(LenientF64(Some(v as f64)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LenientF64, E> {
                Ok(LenientF64(Some(v as f64)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LenientF64, E> {
                Ok(LenientF64(
                    v.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
                ))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<LenientF64, E> {
                Ok(LenientF64(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LenientF64, E> {
                Ok(LenientF64(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LenientF64, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LenientF64(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LenientF64, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LenientF64(None))
            }
        }
        d.deserialize_any(V)
    }
}

impl LenientF64 {
    /// The value as a non-negative integer that fits `u32`.
    pub fn as_u32(self) -> Option<u32> {
        self.0
            .filter(|v| *v >= 0.0 && *v <= u32::MAX as f64)
            .map(|v| v as u32)
    }

    /// The value as an index (non-negative integer).
    pub fn as_index(self) -> Option<usize> {
        self.0
            .filter(|v| *v >= 0.0 && v.fract() == 0.0 && *v < 1e12)
            .map(|v| v as usize)
    }
}

/// Strings given as one string, a list of strings (and numbers), or a number; maps and
/// nested lists are ignored.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct LenientStrings(pub Vec<String>);

impl<'de> Deserialize<'de> for LenientStrings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LenientStrings;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LenientStrings, E> {
                Ok(LenientStrings(vec![v.to_owned()]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LenientStrings, E> {
                Ok(LenientStrings(vec![v.to_string()]))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LenientStrings, E> {
                Ok(LenientStrings(vec![v.to_string()]))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<LenientStrings, E> {
                Ok(LenientStrings::default())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<LenientStrings, E> {
                Ok(LenientStrings::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<LenientStrings, E> {
                Ok(LenientStrings::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LenientStrings, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<LenientScalar>()? {
                    if let Some(s) = item.0 {
                        out.push(s);
                    }
                }
                Ok(LenientStrings(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LenientStrings, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LenientStrings::default())
            }
        }
        d.deserialize_any(V)
    }
}

/// One string or integer as text; anything else is `None`.
struct LenientScalar(Option<String>);

impl<'de> Deserialize<'de> for LenientScalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LenientScalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LenientScalar, E> {
                Ok(LenientScalar(Some(v.to_owned())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LenientScalar, E> {
                Ok(LenientScalar(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LenientScalar, E> {
                Ok(LenientScalar(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<LenientScalar, E> {
                Ok(LenientScalar(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<LenientScalar, E> {
                Ok(LenientScalar(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LenientScalar, E> {
                Ok(LenientScalar(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LenientScalar, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LenientScalar(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LenientScalar, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LenientScalar(None))
            }
        }
        d.deserialize_any(V)
    }
}
