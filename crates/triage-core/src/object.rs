//! Structs read from JSON or YAML only as objects (mappings).
//!
//! serde's derived `Deserialize` also takes a struct written as a list, its
//! fields by position, so `"requester": ["ann@example.com", "Ann"]` would
//! quietly become an e-mail address and a name. Every input type (case,
//! case state, event, directory entry) reads its struct-valued fields, and
//! is read itself, through [`Object`], which refuses anything but an object
//! with ``invalid type: sequence, expected an object (`{…}` with named
//! fields)`` at the field's path.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// `T`, read only from an object.
pub(crate) struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ObjectVisitor(PhantomData)).map(Object)
    }
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object (`{…}` with named fields)")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
    }
}

/// For `#[serde(deserialize_with)]` on a struct-valued field.
pub(crate) fn required<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Object::deserialize(d).map(|o| o.0)
}

/// For `#[serde(default, deserialize_with)]` on an optional struct field.
pub(crate) fn optional<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<Object<T>>::deserialize(d).map(|o| o.map(|o| o.0))
}

/// For `#[serde(default, deserialize_with)]` on a case's short value (an
/// id, a code, a name to look up: account, country, priority, e-mail…):
/// the text without the white space and invisible format characters at its
/// ends (see `text::trim`), and `None` when nothing else is left, as when
/// the field is absent. `acme-de` pasted with a zero-width space after it
/// is `acme-de`, and a value of only a byte-order mark is no value.
pub(crate) fn short_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.and_then(|s| {
        let t = crate::text::trim(&s);
        match t.len() {
            0 => None,
            n if n == s.len() => Some(s),
            _ => Some(t.to_string()),
        }
    }))
}

/// For `#[serde(default, deserialize_with)]` on a list of structs.
pub(crate) fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Vec::<Object<T>>::deserialize(d).map(|v| v.into_iter().map(|o| o.0).collect())
}

/// For `#[serde(default, deserialize_with)]` on a struct field whose
/// absence, and `null`, mean its default.
pub(crate) fn or_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Option::<Object<T>>::deserialize(d).map(|o| o.map(|o| o.0).unwrap_or_default())
}
