//! Refuses argument values that JSON would not give back unchanged, or that no worker could
//! read back.
//!
//! 1. `serde_json` quietly turns a NaN or infinite float into `null` and a map key like `1`
//!    into the string `"1"`; a job would then run with other arguments than it was given.
//!    [`check_json_safe`] walks a value through serde first and names the path of the first
//!    such value, so enqueue can refuse it instead.
//! 2. Nesting: a payload nested deeper than a decoder's limit can be stored but never run
//!    (serde_json stops at 128 levels, Ruby's `JSON.parse` at 100). An argument may nest at
//!    most [`MAX_ARG_DEPTH`] arrays or objects, so the whole payload (an object holding the
//!    `args` array) stays within 100. The walk stops at that depth, so a value nested a
//!    million deep is refused without recursing a million frames. [`value_depth_within`]
//!    checks a `serde_json::Value` the same way, without recursion.

use serde::ser::{self, Impossible, Serialize};
use std::borrow::Cow;
use std::fmt::{self, Display};

/// Why a value cannot be stored as JSON unchanged, and where inside the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem} at `{path}`")]
pub struct NotJsonSafe {
    /// What was wrong, e.g. "NaN cannot be stored in JSON (it would become null)".
    pub problem: String,
    /// Where, e.g. `$.prices[2]`.
    pub path: String,
}

impl ser::Error for NotJsonSafe {
    fn custom<T: Display>(msg: T) -> Self {
        NotJsonSafe {
            problem: msg.to_string(),
            path: "$".into(),
        }
    }
}

/// The deepest nesting of arrays and objects an argument may have: 98, so that a payload
/// (one object, its `args` array, then the argument) nests at most 100 deep, the lowest limit
/// among the decoders that read it (Ruby's `JSON.parse`; serde_json's is 128).
pub const MAX_ARG_DEPTH: usize = 98;

/// Whether `value` nests at most `max` arrays or objects deep, checked without recursion.
///
/// ```
/// use jobs::envelope::check::value_depth_within;
/// let v = serde_json::json!({"a": [[1]]});
/// assert!(value_depth_within(&v, 3));
/// assert!(!value_depth_within(&v, 2));
/// assert!(value_depth_within(&serde_json::json!(7), 0));
/// ```
pub fn value_depth_within(value: &serde_json::Value, max: usize) -> bool {
    use serde_json::Value;
    // A plain value (most arguments) nests nothing: no stack to allocate.
    if !matches!(value, Value::Array(_) | Value::Object(_)) {
        return true;
    }
    let mut stack: Vec<(&Value, usize)> = vec![(value, 0)];
    while let Some((v, depth)) = stack.pop() {
        match v {
            Value::Array(_) | Value::Object(_) if depth + 1 > max => return false,
            Value::Array(items) => stack.extend(items.iter().map(|c| (c, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|c| (c, depth + 1))),
            _ => {}
        }
    }
    true
}

/// Checks that `value` survives a JSON round trip unchanged and nests at most
/// [`MAX_ARG_DEPTH`] deep.
///
/// ```
/// use std::collections::HashMap;
/// use jobs::envelope::check::check_json_safe;
/// assert!(check_json_safe(&vec![1.5, 2.0]).is_ok());
/// let err = check_json_safe(&vec![1.0, f64::NAN]).unwrap_err();
/// assert_eq!(err.path, "$[1]");
/// let keys: HashMap<u32, u32> = [(1, 2)].into();
/// assert!(check_json_safe(&keys).is_err());
/// let mut deep = serde_json::json!(1);
/// for _ in 0..200 {
///     deep = serde_json::json!([deep]);
/// }
/// let err = check_json_safe(&deep).unwrap_err();
/// assert!(err.problem.contains("nested deeper than 98"), "{}", err.problem);
/// ```
pub fn check_json_safe<T: Serialize + ?Sized>(value: &T) -> Result<(), NotJsonSafe> {
    value.serialize(Checker {
        path: Cow::Borrowed("$"),
        depth: 0,
    })
}

struct Checker {
    /// Where this value is; the root's costs no allocation (most arguments are plain).
    path: Cow<'static, str>,
    /// Arrays and objects around this value.
    depth: usize,
}

impl Checker {
    fn fail(&self, problem: impl Into<String>) -> NotJsonSafe {
        NotJsonSafe {
            problem: problem.into(),
            path: self.path.to_string(),
        }
    }

    fn float(&self, v: f64) -> Result<(), NotJsonSafe> {
        if v.is_nan() {
            Err(self.fail("NaN cannot be stored in JSON (it would become null)"))
        } else if v.is_infinite() {
            Err(self.fail("an infinite float cannot be stored in JSON (it would become null)"))
        } else {
            Ok(())
        }
    }

    /// Opens an array or object here, refusing one level past [`MAX_ARG_DEPTH`].
    fn open(self) -> Result<Compound, NotJsonSafe> {
        if self.depth >= MAX_ARG_DEPTH {
            return Err(self.fail(format!(
                "the value is nested deeper than {MAX_ARG_DEPTH} arrays or objects, more than \
                 a worker can decode"
            )));
        }
        Ok(Compound {
            path: self.path,
            depth: self.depth + 1,
            index: 0,
            key: None,
        })
    }
}

/// Walks the elements of a sequence, tuple or the fields of a struct.
struct Compound {
    path: Cow<'static, str>,
    /// Arrays and objects around the elements, this one included.
    depth: usize,
    index: usize,
    key: Option<String>,
}

impl Compound {
    /// The value under key `suffix` of this object (a variant's one-key wrapper).
    fn child(&self, suffix: fmt::Arguments<'_>) -> Checker {
        Checker {
            path: format!("{}{}", self.path, suffix).into(),
            depth: self.depth,
        }
    }

    fn next_index(&mut self) -> Checker {
        let c = Checker {
            path: format!("{}[{}]", self.path, self.index).into(),
            depth: self.depth,
        };
        self.index += 1;
        c
    }
}

type R = Result<(), NotJsonSafe>;

impl ser::Serializer for Checker {
    type Ok = ();
    type Error = NotJsonSafe;
    type SerializeSeq = Compound;
    type SerializeTuple = Compound;
    type SerializeTupleStruct = Compound;
    type SerializeTupleVariant = Compound;
    type SerializeMap = Compound;
    type SerializeStruct = Compound;
    type SerializeStructVariant = Compound;

    fn serialize_bool(self, _: bool) -> R {
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> R {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> R {
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> R {
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> R {
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> R {
        if i64::try_from(v).is_ok() || u64::try_from(v).is_ok() {
            Ok(())
        } else {
            Err(self.fail("a 128-bit integer outside the 64-bit range cannot be stored in JSON"))
        }
    }
    fn serialize_u8(self, _: u8) -> R {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> R {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> R {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> R {
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> R {
        if u64::try_from(v).is_ok() {
            Ok(())
        } else {
            Err(self.fail("a 128-bit integer outside the 64-bit range cannot be stored in JSON"))
        }
    }
    fn serialize_f32(self, v: f32) -> R {
        self.float(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> R {
        self.float(v)
    }
    fn serialize_char(self, _: char) -> R {
        Ok(())
    }
    fn serialize_str(self, _: &str) -> R {
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> R {
        Ok(())
    }
    fn serialize_none(self) -> R {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> R {
        v.serialize(self)
    }
    fn serialize_unit(self) -> R {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> R {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> R {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> R {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> R {
        // JSON wraps a newtype variant in a one-key object: one level more.
        v.serialize(self.open()?.child(format_args!(".{variant}")))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound, NotJsonSafe> {
        self.open()
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound, NotJsonSafe> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Compound, NotJsonSafe> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound, NotJsonSafe> {
        // `{"Variant": [...]}`: the wrapping object is one level more.
        self.open()?
            .child(format_args!(".{variant}"))
            .serialize_seq(Some(len))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Compound, NotJsonSafe> {
        self.serialize_seq(len)
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Compound, NotJsonSafe> {
        self.serialize_seq(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound, NotJsonSafe> {
        // `{"Variant": [...]}`: the wrapping object is one level more.
        self.open()?
            .child(format_args!(".{variant}"))
            .serialize_seq(Some(len))
    }
}

impl ser::SerializeSeq for Compound {
    type Ok = ();
    type Error = NotJsonSafe;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> R {
        v.serialize(self.next_index())
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeTuple for Compound {
    type Ok = ();
    type Error = NotJsonSafe;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> R {
        v.serialize(self.next_index())
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Compound {
    type Ok = ();
    type Error = NotJsonSafe;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> R {
        v.serialize(self.next_index())
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for Compound {
    type Ok = ();
    type Error = NotJsonSafe;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> R {
        v.serialize(self.next_index())
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeMap for Compound {
    type Ok = ();
    type Error = NotJsonSafe;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> R {
        let name = key.serialize(KeyName).map_err(|problem| NotJsonSafe {
            problem: problem.0,
            path: format!("{}{{key}}", self.path),
        })?;
        self.key = Some(name);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> R {
        let key = self.key.take().unwrap_or_default();
        v.serialize(Checker {
            path: format!("{}.{}", self.path, key).into(),
            depth: self.depth,
        })
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeStruct for Compound {
    type Ok = ();
    type Error = NotJsonSafe;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, name: &'static str, v: &T) -> R {
        v.serialize(Checker {
            path: format!("{}.{}", self.path, name).into(),
            depth: self.depth,
        })
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeStructVariant for Compound {
    type Ok = ();
    type Error = NotJsonSafe;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, name: &'static str, v: &T) -> R {
        v.serialize(Checker {
            path: format!("{}.{}", self.path, name).into(),
            depth: self.depth,
        })
    }
    fn end(self) -> R {
        Ok(())
    }
}

/// Accepts only map keys that are strings in Rust too, returning the key for the path.
struct KeyName;

#[derive(Debug)]
struct KeyProblem(String);

const NON_STRING_KEY: &str =
    "a map key that is not a string cannot be stored in JSON unchanged (it would become a string)";

impl ser::Serializer for KeyName {
    type Ok = String;
    type Error = KeyProblem;
    type SerializeSeq = Impossible<String, KeyProblem>;
    type SerializeTuple = Impossible<String, KeyProblem>;
    type SerializeTupleStruct = Impossible<String, KeyProblem>;
    type SerializeTupleVariant = Impossible<String, KeyProblem>;
    type SerializeMap = Impossible<String, KeyProblem>;
    type SerializeStruct = Impossible<String, KeyProblem>;
    type SerializeStructVariant = Impossible<String, KeyProblem>;

    fn serialize_str(self, v: &str) -> Result<String, KeyProblem> {
        Ok(v.to_owned())
    }
    fn serialize_char(self, v: char) -> Result<String, KeyProblem> {
        Ok(v.to_string())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        v: &'static str,
    ) -> Result<String, KeyProblem> {
        Ok(v.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<String, KeyProblem> {
        v.serialize(self)
    }
    fn serialize_bool(self, _: bool) -> Result<String, KeyProblem> {
        Err(KeyProblem(NON_STRING_KEY.into()))
    }
    fn serialize_i8(self, _: i8) -> Result<String, KeyProblem> {
        Err(KeyProblem(NON_STRING_KEY.into()))
    }
    fn serialize_i16(self, _: i16) -> Result<String, KeyProblem> {
        Err(KeyProblem(NON_STRING_KEY.into()))
    }
    fn serialize_i32(self, _: i32) -> Result<String, KeyProblem> {
        Err(KeyProblem(NON_STRING_KEY.into()))
    }
    fn serialize_i64(self, _: i64) -> Result<String, KeyProblem> {
        Err(KeyProblem(NON_STRING_KEY.into()))
    }
    fn serialize_u8(self, _: u8) -> Result<String, KeyProblem> {
        Err(KeyProblem(NON_STRING_KEY.into()))
    }
    fn serialize_u16(self, _: u16) -> Result<String, KeyProblem> {
        Err(KeyProblem(NON_STRING_KEY.into()))
    }
    fn serialize_u32(self, _: u32) -> Result<String, KeyProblem> {
        Err(KeyProblem(NON_STRING_KEY.into()))
    }
    fn serialize_u64(self, _: u64) -> Result<String, KeyProblem> {
        Err(KeyProblem(NON_STRING_KEY.into()))
    }
    fn serialize_f32(self, _: f32) -> Result<String, KeyProblem> {
        Err(KeyProblem(NON_STRING_KEY.into()))
    }
    fn serialize_f64(self, _: f64) -> Result<String, KeyProblem> {
        Err(KeyProblem(NON_STRING_KEY.into()))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<String, KeyProblem> {
        Err(KeyProblem(NON_STRING_KEY.into()))
    }
    fn serialize_none(self) -> Result<String, KeyProblem> {
        Err(KeyProblem(NON_STRING_KEY.into()))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<String, KeyProblem> {
        Err(KeyProblem(NON_STRING_KEY.into()))
    }
    fn serialize_unit(self) -> Result<String, KeyProblem> {
        Err(KeyProblem(NON_STRING_KEY.into()))
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<String, KeyProblem> {
        Err(KeyProblem(NON_STRING_KEY.into()))
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, KeyProblem> {
        Err(KeyProblem(NON_STRING_KEY.into()))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, KeyProblem> {
        Err(KeyProblem(NON_STRING_KEY.into()))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, KeyProblem> {
        Err(KeyProblem(NON_STRING_KEY.into()))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, KeyProblem> {
        Err(KeyProblem(NON_STRING_KEY.into()))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, KeyProblem> {
        Err(KeyProblem(NON_STRING_KEY.into()))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, KeyProblem> {
        Err(KeyProblem(NON_STRING_KEY.into()))
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, KeyProblem> {
        Err(KeyProblem(NON_STRING_KEY.into()))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, KeyProblem> {
        Err(KeyProblem(NON_STRING_KEY.into()))
    }
}

impl ser::Error for KeyProblem {
    fn custom<T: Display>(msg: T) -> Self {
        KeyProblem(msg.to_string())
    }
}

impl Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyProblem {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(serde::Serialize)]
    struct Order {
        prices: Vec<f64>,
        note: Option<f32>,
    }

    #[test]
    fn names_the_path_of_a_nan_inside_a_struct() {
        let err = check_json_safe(&Order {
            prices: vec![1.0, f64::INFINITY],
            note: None,
        })
        .unwrap_err();
        assert_eq!(err.path, "$.prices[1]");
        assert!(err.problem.contains("infinite"));
        let err = check_json_safe(&Order {
            prices: vec![],
            note: Some(f32::NAN),
        })
        .unwrap_err();
        assert_eq!(err.path, "$.note");
    }

    #[test]
    fn string_keys_pass_and_integer_keys_fail() {
        let ok: BTreeMap<String, f64> = [("a".to_string(), 1.0)].into();
        assert!(check_json_safe(&ok).is_ok());
        let bad: BTreeMap<i64, f64> = [(1, 1.0)].into();
        let err = check_json_safe(&vec![bad]).unwrap_err();
        assert_eq!(err.path, "$[0]{key}");
    }
}
