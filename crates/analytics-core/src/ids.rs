//! Identifiers: ads accounts, entities and asynchronous jobs.
//!
//! Account and entity ids are opaque base-36-like strings on the wire (`18ce54d4x5t`, `8u94t`);
//! tweet ids are decimal strings. Job ids are 64-bit snowflakes sent both as a JSON number (`id`,
//! which exceeds 2^53 and loses precision in JavaScript) and as a string (`id_str`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest id adstats accepts; real ids are far shorter.
pub const MAX_ID_LEN: usize = 64;

/// An id string that is empty, too long or holds characters ids never have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} id {got:?}: ids are 1 to 64 ASCII letters or digits")]
pub struct InvalidId {
    kind: &'static str,
    got: String,
}

fn check_id(kind: &'static str, s: &str) -> Result<(), InvalidId> {
    if s.is_empty() || s.len() > MAX_ID_LEN || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(InvalidId {
            kind,
            got: s.to_owned(),
        });
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$m:meta])* $name:ident, $kind:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks and wraps an id string.
            pub fn new(s: impl Into<String>) -> Result<Self, InvalidId> {
                let s = s.into();
                check_id($kind, &s)?;
                Ok(Self(s))
            }

            /// The id as sent on the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, InvalidId> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// An ads account id (`18ce54d4x5t`).
    AccountId,
    "account"
);
string_id!(
    /// The id of an analytics entity (campaign, line item, tweet, ...).
    EntityId,
    "entity"
);

/// An asynchronous job id (a 64-bit snowflake).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub u64);

impl JobId {
    /// The id as the API's `id_str`.
    pub fn to_id_str(self) -> String {
        self.0.to_string()
    }
}

impl FromStr for JobId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        s.parse::<u64>().map(JobId).map_err(|_| InvalidId {
            kind: "job",
            got: s.to_owned(),
        })
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_check_their_characters() {
        assert!(EntityId::new("8u94t").is_ok());
        assert!(EntityId::new("").is_err());
        assert!(EntityId::new("a,b").is_err());
        assert!(AccountId::new("x".repeat(65)).is_err());
        let err = EntityId::new("a b").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid entity id "a b": ids are 1 to 64 ASCII letters or digits"#
        );
    }

    #[test]
    fn job_ids_keep_all_64_bits() {
        let id: JobId = "1120829647711653888".parse().unwrap();
        assert_eq!(id.to_id_str(), "1120829647711653888");
        assert_eq!(serde_json::to_string(&id).unwrap(), "1120829647711653888");
        assert!("12x".parse::<JobId>().is_err());
    }
}
