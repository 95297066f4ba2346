//! [`GlobalId`]: Rails' `gid://app/Model/id` reference to a record, typed.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// The key Active Job marks a GlobalID argument with.
pub(crate) const GLOBALID_KEY: &str = "_aj_globalid";

/// A Rails GlobalID, such as `gid://app/User/1`: the record an Active Job argument names.
///
/// Deserializes from the `gid://` string or from Active Job's marker object
/// `{"_aj_globalid": "gid://..."}`; serializes as the marker object, so an argument holding
/// one reaches Ruby as the record (GlobalID locates it). The id is kept as written
/// (percent-encoding and query parameters included).
///
/// ```
/// use jobs::active_job::GlobalId;
/// let gid: GlobalId = "gid://app/User/1".parse().unwrap();
/// assert_eq!((gid.app.as_str(), gid.model.as_str(), gid.id.as_str()), ("app", "User", "1"));
/// assert_eq!(gid.to_string(), "gid://app/User/1");
/// let marker: GlobalId = serde_json::from_value(serde_json::json!({"_aj_globalid": "gid://shop/Order/7"})).unwrap();
/// assert_eq!(marker, GlobalId::new("shop", "Order", "7"));
/// assert_eq!(serde_json::to_value(&marker).unwrap(), serde_json::json!({"_aj_globalid": "gid://shop/Order/7"}));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct GlobalId {
    /// The application, `app` in `gid://app/User/1`.
    pub app: String,
    /// The model class, `User`.
    pub model: String,
    /// The record's id, `1`.
    pub id: String,
}

/// A string that is not a `gid://app/Model/id` URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a GlobalID (expected gid://app/Model/id)")]
#[non_exhaustive]
pub struct GlobalIdError(pub String);

impl GlobalId {
    /// The GlobalID of record `id` of `model` in `app`.
    ///
    /// ```
    /// assert_eq!(jobs::active_job::GlobalId::new("app", "User", "1").to_string(), "gid://app/User/1");
    /// ```
    pub fn new(app: impl Into<String>, model: impl Into<String>, id: impl Into<String>) -> Self {
        GlobalId {
            app: app.into(),
            model: model.into(),
            id: id.into(),
        }
    }
}

impl FromStr for GlobalId {
    type Err = GlobalIdError;

    fn from_str(s: &str) -> Result<Self, GlobalIdError> {
        let bad = || GlobalIdError(s.to_owned());
        let rest = s.strip_prefix("gid://").ok_or_else(bad)?;
        let mut parts = rest.splitn(3, '/');
        let (app, model, id) = match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(m), Some(i)) if !a.is_empty() && !m.is_empty() && !i.is_empty() => {
                (a, m, i)
            }
            _ => return Err(bad()),
        };
        Ok(GlobalId::new(app, model, id))
    }
}

impl fmt::Display for GlobalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "gid://{}/{}/{}", self.app, self.model, self.id)
    }
}

impl Serialize for GlobalId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(GLOBALID_KEY, &self.to_string())?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for GlobalId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = GlobalId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a gid://app/Model/id string or {\"_aj_globalid\": \"gid://...\"}")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<GlobalId, E> {
                s.parse().map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<GlobalId, A::Error> {
                let mut gid = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == GLOBALID_KEY {
                        let s: String = map.next_value()?;
                        gid = Some(s.parse().map_err(de::Error::custom)?);
                    } else {
                        return Err(de::Error::unknown_field(&key, &[GLOBALID_KEY]));
                    }
                }
                gid.ok_or_else(|| de::Error::missing_field(GLOBALID_KEY))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_prints_gid_uris() {
        let gid: GlobalId = "gid://app/Admin::User/42?tenant=a".parse().unwrap();
        assert_eq!(gid.model, "Admin::User");
        assert_eq!(gid.id, "42?tenant=a");
        assert_eq!(gid.to_string(), "gid://app/Admin::User/42?tenant=a");
        for bad in [
            "app/User/1",
            "gid://app/User",
            "gid://app//1",
            "gid:///User/1",
            "",
        ] {
            assert!(bad.parse::<GlobalId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn deserializes_from_a_string_or_the_marker_and_refuses_others() {
        let a: GlobalId = serde_json::from_value(json!("gid://app/User/1")).unwrap();
        let b: GlobalId =
            serde_json::from_value(json!({"_aj_globalid": "gid://app/User/1"})).unwrap();
        assert_eq!(a, b);
        assert!(serde_json::from_value::<GlobalId>(json!({"x": 1})).is_err());
        assert!(serde_json::from_value::<GlobalId>(json!(1)).is_err());
        assert!(serde_json::from_value::<GlobalId>(json!("nope")).is_err());
    }
}
