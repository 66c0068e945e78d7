use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::VigyError;

/// Most labels one vigy may carry.
pub const MAX_LABELS: usize = 64;

/// A vigy's labels: at most [`MAX_LABELS`] `key=value` pairs, sorted by key.
///
/// Keys and values follow Kubernetes' rules (apimachinery's
/// `IsQualifiedName` and `IsValidLabelValue`), checked by [`check_key`] and
/// [`check_value`], which selectors use too.
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
        if self.0.len() >= MAX_LABELS && !self.0.contains_key(&key) {
            return Err(VigyError::InvalidLabel(format!(
                "a vigy may have at most {MAX_LABELS} labels; `{key}` would be label {}",
                self.0.len() + 1
            )));
        }
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

/// Longest name part of a key, and longest value.
const MAX_NAME: usize = 63;
/// Longest key prefix (a DNS subdomain).
const MAX_PREFIX: usize = 253;

/// A label key: an optional prefix and `/`, then a name.
///
/// - The name is 1 to 63 characters of `[A-Za-z0-9._-]`, starting and
///   ending with a letter or digit.
/// - The prefix is a DNS subdomain (RFC 1123): at most 253 characters, dot
///   separated labels of lowercase letters, digits and `-`, each starting
///   and ending with a letter or digit.
pub(crate) fn check_key(key: &str) -> Result<(), VigyError> {
    let refuse = |why: String| Err(VigyError::InvalidLabel(format!("key `{key}` {why}")));
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return refuse("has an empty prefix before `/`".into());
        }
        if prefix.len() > MAX_PREFIX {
            return refuse(format!("has a prefix of {} characters, the limit is {MAX_PREFIX}", prefix.len()));
        }
        if !is_dns_subdomain(prefix) {
            return refuse(format!(
                "has prefix `{prefix}`, which must be a DNS subdomain: dot-separated parts of lowercase letters, digits and `-`, each starting and ending with a letter or digit"
            ));
        }
    }
    if name.is_empty() {
        return refuse("has an empty name".into());
    }
    if name.len() > MAX_NAME {
        return refuse(format!("has a name of {} characters, the limit is {MAX_NAME}", name.len()));
    }
    if !is_label_text(name) {
        return refuse(format!(
            "must be a name of letters, digits, `-`, `_` and `.` starting and ending with a letter or digit, optionally after a prefix and one `/`; `{name}` is not"
        ));
    }
    Ok(())
}

/// A label value: empty, or 1 to 63 characters of `[A-Za-z0-9._-]`
/// starting and ending with a letter or digit.
pub(crate) fn check_value(key: &str, value: &str) -> Result<(), VigyError> {
    if value.len() > MAX_NAME {
        return Err(VigyError::InvalidLabel(format!(
            "value of `{key}` is {} characters, the limit is {MAX_NAME}",
            value.len()
        )));
    }
    if !value.is_empty() && !is_label_text(value) {
        return Err(VigyError::InvalidLabel(format!(
            "value `{value}` of `{key}` must be empty or letters, digits, `-`, `_` and `.` starting and ending with a letter or digit"
        )));
    }
    Ok(())
}

/// `[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?`, ASCII only.
fn is_label_text(s: &str) -> bool {
    let inner = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    alnum_ends(s, |c| c.is_ascii_alphanumeric()) && s.chars().all(inner)
}

/// RFC 1123 subdomain: `[a-z0-9]([a-z0-9-]*[a-z0-9])?` parts joined by `.`.
fn is_dns_subdomain(s: &str) -> bool {
    let lower_alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    s.split('.').all(|part| alnum_ends(part, lower_alnum) && part.chars().all(|c| lower_alnum(c) || c == '-'))
}

/// Whether `s` is non-empty and its first and last characters pass `ok`.
fn alnum_ends(s: &str, ok: impl Fn(char) -> bool) -> bool {
    s.chars().next().is_some_and(&ok) && s.chars().last().is_some_and(&ok)
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
pub(crate) mod tests {
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

    // The cases of Kubernetes' `TestIsQualifiedName` and
    // `TestIsValidLabelValue` (apimachinery `util/validation`), restated.

    /// Keys Kubernetes accepts.
    pub(crate) fn good_keys() -> Vec<String> {
        let mut keys: Vec<String> = [
            "simple",
            "now-with-dashes",
            "1-starts-with-num",
            "1234",
            "simple/simple",
            "now-with-dashes/simple",
            "now-with-dashes/now-with-dashes",
            "now.with.dots/simple",
            "now-with.dashes-and.dots/simple",
            "1-num.2-num/3-num",
            "1234/5678",
            "1.2.3.4/5678",
            "Uppercase_Is_OK_123",
            "example.com/Uppercase_Is_OK_123",
            "requests.storage-foo",
        ]
        .map(String::from)
        .into();
        keys.push("a".repeat(63));
        keys.push(format!("{}/{}", "a".repeat(253), "b".repeat(63)));
        keys
    }

    /// Keys Kubernetes refuses.
    pub(crate) fn bad_keys() -> Vec<String> {
        let mut keys: Vec<String> = [
            "nospecialchars%^=@",
            "cantendwithadash-",
            "-cantstartwithadash-",
            "only/one/slash",
            "Example.com/abc",
            "example_com/abc",
            "example.com/",
            "/simple",
        ]
        .map(String::from)
        .into();
        keys.push("a".repeat(64));
        keys.push(format!("{}/abc", "a".repeat(254)));
        keys
    }

    /// Values Kubernetes accepts.
    pub(crate) fn good_values() -> Vec<String> {
        let mut values: Vec<String> =
            ["simple", "now-with-dashes", "1-starts-with-num", "end-with-num-1", "1234", ""].map(String::from).into();
        values.push("a".repeat(63));
        values
    }

    /// Values Kubernetes refuses.
    pub(crate) fn bad_values() -> Vec<String> {
        let mut values: Vec<String> = [
            "nospecialchars%^=@",
            "Tama-nui-te-rā.is.Māori.sun",
            "\\backslashes\\are\\bad",
            "-starts-with-dash",
            "ends-with-dash-",
            ".starts.with.dot",
            "ends.with.dot.",
        ]
        .map(String::from)
        .into();
        values.push("a".repeat(64));
        values
    }

    #[test]
    fn labels_should_accept_the_keys_kubernetes_accepts() {
        for key in good_keys() {
            assert!(Labels::new().insert(key.clone(), "v").is_ok(), "{key}");
        }
    }

    #[test]
    fn labels_should_refuse_the_keys_kubernetes_refuses() {
        for key in bad_keys() {
            let err = Labels::new().insert(key.clone(), "v");
            assert!(matches!(err, Err(VigyError::InvalidLabel(_))), "{key}: {err:?}");
        }
    }

    #[test]
    fn labels_should_accept_the_values_kubernetes_accepts() {
        for value in good_values() {
            assert!(Labels::new().insert("k", value.clone()).is_ok(), "{value}");
        }
    }

    #[test]
    fn labels_should_refuse_the_values_kubernetes_refuses() {
        for value in bad_values() {
            let err = Labels::new().insert("k", value.clone());
            assert!(matches!(err, Err(VigyError::InvalidLabel(_))), "{value}: {err:?}");
        }
    }

    #[test]
    fn labels_should_refuse_a_value_of_64_characters() {
        let err = Labels::new().insert("k", "a".repeat(64)).unwrap_err();
        assert_eq!(err.to_string(), "invalid label: value of `k` is 64 characters, the limit is 63");
    }

    #[test]
    fn labels_should_say_what_is_wrong_with_a_key() {
        let message = |key: &str| Labels::new().insert(key, "").unwrap_err().to_string();
        assert!(message("only/one/slash").contains("`one/slash` is not"), "{}", message("only/one/slash"));
        assert!(message("Example.com/abc").contains("prefix `Example.com`, which must be a DNS subdomain"));
        assert!(message(&format!("{}/abc", "a".repeat(254))).contains("prefix of 254 characters, the limit is 253"));
        assert!(message("example.com/").contains("empty name"));
        assert!(message("/simple").contains("empty prefix"));
    }

    #[test]
    fn labels_should_refuse_a_65th_label_but_let_the_64th_change() {
        let mut labels =
            Labels::from_pairs((0..64).map(|i| format!("k{i}=v")).collect::<Vec<_>>().iter().map(String::as_str))
                .unwrap();
        assert!(labels.insert("k0", "changed").is_ok());
        let err = labels.insert("k64", "v").unwrap_err();
        assert_eq!(err.to_string(), "invalid label: a vigy may have at most 64 labels; `k64` would be label 65");
        let json = format!("{{{}}}", (0..65).map(|i| format!("\"k{i}\":\"v\"")).collect::<Vec<_>>().join(","));
        assert!(serde_json::from_str::<Labels>(&json).is_err(), "deserialising is held to the same rules");
    }
}
