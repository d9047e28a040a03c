//! Newtypes for the canonical value of blobs and timestamps.
//!
//! The codecs turn every protocol's wire form into one canonical JSON value (see the
//! convention in `nimbus-codegen`): a blob is a base64 string and a timestamp is a
//! number of epoch seconds (fractional allowed). Typed structs use these newtypes so
//! they (de)serialize exactly that.

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Binary data; canonical form is a standard (padded) base64 string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Blob(pub Vec<u8>);

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Blob, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map(Blob)
            .map_err(serde::de::Error::custom)
    }
}

impl From<Vec<u8>> for Blob {
    fn from(v: Vec<u8>) -> Blob {
        Blob(v)
    }
}

/// A point in time; canonical form is a JSON number of seconds since the Unix epoch.
/// Whole seconds serialize as an integer, others as a float.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Timestamp(pub f64);

impl Timestamp {
    pub fn from_secs(secs: i64) -> Timestamp {
        Timestamp(secs as f64)
    }

    pub fn from_millis(ms: i64) -> Timestamp {
        Timestamp(ms as f64 / 1000.0)
    }

    pub fn secs(self) -> f64 {
        self.0
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            s.serialize_i64(v as i64)
        } else {
            s.serialize_f64(v)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        f64::deserialize(d).map(Timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_and_timestamp_round_trip() {
        let b = Blob(b"hi\x00".to_vec());
        let v = serde_json::to_value(&b).unwrap();
        assert_eq!(v, serde_json::json!("aGkA"));
        assert_eq!(serde_json::from_value::<Blob>(v).unwrap(), b);
        assert_eq!(
            serde_json::to_value(Timestamp(1700000000.0)).unwrap(),
            serde_json::json!(1700000000)
        );
        assert_eq!(
            serde_json::to_value(Timestamp(1.5)).unwrap(),
            serde_json::json!(1.5)
        );
        assert_eq!(
            serde_json::from_value::<Timestamp>(serde_json::json!(12)).unwrap(),
            Timestamp(12.0)
        );
    }

    #[test]
    fn typed_sts_structs_use_the_canonical_value() {
        use crate::types::sts::{AssumeRoleRequest, AssumeRoleResponse, Credentials};
        let req: AssumeRoleRequest = serde_json::from_value(serde_json::json!({
            "RoleArn": "arn:aws:iam::000000000000:role/r",
            "RoleSessionName": "s",
            "DurationSeconds": 900
        }))
        .unwrap();
        assert_eq!(req.role_session_name, "s");
        assert_eq!(req.duration_seconds, Some(900));
        let resp = AssumeRoleResponse {
            credentials: Some(Credentials {
                access_key_id: Some("AKIA".into()),
                expiration: Some(Timestamp(1700000000.0)),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&resp).unwrap(),
            serde_json::json!({"Credentials": {"AccessKeyId": "AKIA", "Expiration": 1700000000}})
        );
    }
}
