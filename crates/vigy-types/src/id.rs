use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{VigyError, VigyName};

/// Stable identity of a vigy: the first 128 bits of the BLAKE3 hash of its
/// name, as 32 lowercase hex characters.
///
/// Deriving the id from the name is what makes registration idempotent:
/// registering the same name twice addresses the same vigy, in every process
/// and on every machine, without a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VigyId([u8; 16]);

impl VigyId {
    /// The id a vigy named `name` has.
    pub fn for_name(name: &VigyName) -> Self {
        let hash = blake3::hash(name.as_str().as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&hash.as_bytes()[..16]);
        Self(bytes)
    }
}

impl VigyId {
    /// A number fixed by the id and spread evenly over `u64`: where in a
    /// window a vigy's stable offsets (jitter, start-up spread) fall.
    pub fn spread(self) -> u64 {
        let mut first = [0; 8];
        first.copy_from_slice(&self.0[..8]);
        u64::from_le_bytes(first)
    }
}

impl fmt::Display for VigyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl FromStr for VigyId {
    type Err = VigyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || VigyError::InvalidId(s.to_owned());
        if s.len() != 32 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(invalid());
        }
        let mut bytes = [0u8; 16];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| invalid())?;
        }
        Ok(Self(bytes))
    }
}

impl TryFrom<String> for VigyId {
    type Error = VigyError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<VigyId> for String {
    fn from(id: VigyId) -> Self {
        id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_should_be_derived_from_the_name_and_round_trip_through_text() {
        let a = VigyId::for_name(&VigyName::new("hello").unwrap());
        let b = VigyId::for_name(&VigyName::new("hello").unwrap());
        let c = VigyId::for_name(&VigyName::new("hello2").unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        let text = a.to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(text.parse::<VigyId>().unwrap(), a);
        assert!(text[..31].parse::<VigyId>().is_err());
        assert!(text.to_uppercase().parse::<VigyId>().is_err());
    }
}
