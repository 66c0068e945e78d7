use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::VigyError;

/// A vigy's labels: `key=value` pairs, sorted by key.
///
/// Keys are 1 to 253 characters of `[A-Za-z0-9._/-]`; values are 0 to 63
/// characters of `[A-Za-z0-9._-]`. Both start and end with an alphanumeric
/// character (an empty value is allowed), as in Kubernetes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "BTreeMap<String, String>", into = "BTreeMap<String, String>")]
pub struct Labels(BTreeMap<String, String>);

impl Labels {
    /// No labels.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add or replace one label.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> Result<(), VigyError> {
        let (key, value) = (key.into(), value.into());
        check_key(&key)?;
        check_value(&key, &value)?;
        self.0.insert(key, value);
        Ok(())
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Iterate in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Labels from `k=v` pairs, as given on a command line.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = &'a str>) -> Result<Self, VigyError> {
        let mut labels = Self::new();
        for pair in pairs {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| VigyError::InvalidLabel(format!("`{pair}` is not of the form key=value")))?;
            labels.insert(k, v)?;
        }
        Ok(labels)
    }
}

fn check_key(key: &str) -> Result<(), VigyError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/');
    if key.is_empty() || key.len() > 253 || !key.chars().all(ok_char) || !alnum_ends(key) {
        return Err(VigyError::InvalidLabel(format!(
            "key `{key}` must be 1-253 characters of [A-Za-z0-9._/-], starting and ending alphanumeric"
        )));
    }
    Ok(())
}

fn check_value(key: &str, value: &str) -> Result<(), VigyError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if value.len() > 63 || !value.chars().all(ok_char) || (!value.is_empty() && !alnum_ends(value)) {
        return Err(VigyError::InvalidLabel(format!(
            "value `{value}` of `{key}` must be 0-63 characters of [A-Za-z0-9._-], starting and ending alphanumeric"
        )));
    }
    Ok(())
}

fn alnum_ends(s: &str) -> bool {
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    alnum(s.chars().next()) && alnum(s.chars().last())
}

/// `k=v,k2=v2`, the same form [`FromStr`] reads.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (k, v) in self.iter() {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

impl FromStr for Labels {
    type Err = VigyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_pairs(s.split(',').map(str::trim).filter(|p| !p.is_empty()))
    }
}

impl TryFrom<BTreeMap<String, String>> for Labels {
    type Error = VigyError;
    fn try_from(map: BTreeMap<String, String>) -> Result<Self, Self::Error> {
        let mut labels = Self::new();
        for (k, v) in map {
            labels.insert(k, v)?;
        }
        Ok(labels)
    }
}

impl From<Labels> for BTreeMap<String, String> {
    fn from(l: Labels) -> Self {
        l.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_should_parse_pairs_and_refuse_malformed_ones() {
        let labels = Labels::from_pairs(["host=local", "app.pleme.io/tier=edge", "empty="]).unwrap();
        assert_eq!(labels.get("host"), Some("local"));
        assert_eq!(labels.get("empty"), Some(""));
        assert_eq!(labels.to_string(), "app.pleme.io/tier=edge,empty=,host=local");
        assert_eq!(labels.to_string().parse::<Labels>().unwrap(), labels);
        for bad in ["novalue", "=v", "-k=v", "k=v v", "k=-v", "k k=v"] {
            assert!(Labels::from_pairs([bad]).is_err(), "{bad}");
        }
    }
}
