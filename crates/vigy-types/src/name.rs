use std::fmt;

use serde::{Deserialize, Serialize};

use crate::VigyError;

/// A vigy's human name: 1 to [`VigyName::MAX_LEN`] bytes, no control
/// characters, no leading or trailing whitespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VigyName(String);

impl VigyName {
    /// Longest accepted name, in bytes.
    pub const MAX_LEN: usize = 128;

    /// Validate `name`.
    pub fn new(name: impl Into<String>) -> Result<Self, VigyError> {
        let name = name.into();
        let refuse = |why: &str| Err(VigyError::InvalidName(format!("{name:?} {why}")));
        if name.is_empty() {
            return refuse("is empty");
        }
        if name.len() > Self::MAX_LEN {
            return Err(VigyError::InvalidName(format!(
                "is {} bytes long, the maximum is {}",
                name.len(),
                Self::MAX_LEN
            )));
        }
        if name.chars().any(char::is_control) {
            return refuse("contains a control character");
        }
        if name.trim() != name {
            return refuse("has leading or trailing whitespace");
        }
        Ok(Self(name))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// Names order as their text, so a map keyed by names can be ranged by a
// plain `&str` (a page cursor).
impl std::borrow::Borrow<str> for VigyName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VigyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for VigyName {
    type Error = VigyError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<VigyName> for String {
    fn from(n: VigyName) -> Self {
        n.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_should_refuse_empty_long_control_and_padded_names() {
        assert!(VigyName::new("sync-to-system-tear").is_ok());
        assert!(VigyName::new("héllo wörld").is_ok());
        for bad in ["", " x", "x ", "a\nb", "a\u{7}b"] {
            assert!(matches!(VigyName::new(bad), Err(VigyError::InvalidName(_))), "{bad:?}");
        }
        assert!(VigyName::new("x".repeat(VigyName::MAX_LEN)).is_ok());
        assert!(VigyName::new("x".repeat(VigyName::MAX_LEN + 1)).is_err());
    }
}
