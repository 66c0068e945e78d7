//! Kubernetes-style label selectors.
//!
//! Grammar (comma means AND, whitespace around tokens is ignored):
//!
//! ```text
//! selector    := requirement ("," requirement)*
//! requirement := key ("=" | "==" | "!=") value
//!              | key ("in" | "notin") "(" value ("," value)* ")"
//!              | key
//!              | "!" key
//! ```
//!
//! A malformed selector is an error, never a selector that matches nothing.
//! The empty selector matches everything.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::{Labels, VigyError};

// Keys and values are held to the label rules (`labels.rs`), so a selector
// can only name labels a vigy could carry.

/// One condition of a [`LabelSelector`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `key=value` or `key==value`.
    Equals(String, String),
    /// `key!=value`: also true when `key` is absent.
    NotEquals(String, String),
    /// `key in (a,b)`.
    In(String, BTreeSet<String>),
    /// `key notin (a,b)`: also true when `key` is absent.
    NotIn(String, BTreeSet<String>),
    /// `key`: the label is present, whatever its value.
    Exists(String),
    /// `!key`: the label is absent.
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, labels: &Labels) -> bool {
        match self {
            Self::Equals(k, v) => labels.get(k) == Some(v.as_str()),
            Self::NotEquals(k, v) => labels.get(k) != Some(v.as_str()),
            Self::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Self::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Self::Exists(k) => labels.get(k).is_some(),
            Self::DoesNotExist(k) => labels.get(k).is_none(),
        }
    }
}

/// A conjunction of [`Requirement`]s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    source: String,
}

impl LabelSelector {
    /// The selector that matches every vigy.
    pub fn everything() -> Self {
        Self::default()
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// The requirements, in the order written.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether this selector matches everything.
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for LabelSelector {
    type Err = VigyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |reason: String| VigyError::InvalidSelector { selector: s.to_owned(), reason };
        let mut parser = Parser { rest: s };
        let mut requirements = Vec::new();
        parser.skip_ws();
        if parser.rest.is_empty() {
            return Ok(Self::everything());
        }
        loop {
            requirements.push(parser.requirement().map_err(fail)?);
            parser.skip_ws();
            if parser.rest.is_empty() {
                break;
            }
            parser.expect(",").map_err(fail)?;
        }
        Ok(Self { requirements, source: s.trim().to_owned() })
    }
}

struct Parser<'a> {
    rest: &'a str,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        match self.rest.strip_prefix(token) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, token: &str) -> Result<(), String> {
        if self.eat(token) { Ok(()) } else { Err(format!("expected `{token}` at `{}`", self.rest)) }
    }

    /// A key or value: a run of label characters (possibly empty).
    fn word(&mut self) -> &str {
        self.skip_ws();
        let end = self
            .rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')))
            .unwrap_or(self.rest.len());
        let (word, rest) = self.rest.split_at(end);
        self.rest = rest;
        word
    }

    fn key(&mut self) -> Result<String, String> {
        let key = self.word().to_owned();
        if key.is_empty() {
            return Err(format!("expected a label key at `{}`", self.rest));
        }
        crate::labels::check_key(&key).map_err(|e| e.to_string())?;
        Ok(key)
    }

    fn value(&mut self, key: &str) -> Result<String, String> {
        let value = self.word().to_owned();
        crate::labels::check_value(key, &value).map_err(|e| e.to_string())?;
        Ok(value)
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        if self.eat("!") {
            return Ok(Requirement::DoesNotExist(self.key()?));
        }
        let key = self.key()?;
        if self.eat("!=") {
            return Ok(Requirement::NotEquals(key.clone(), self.value(&key)?));
        }
        if self.eat("==") || self.eat("=") {
            return Ok(Requirement::Equals(key.clone(), self.value(&key)?));
        }
        let checkpoint = self.rest;
        match self.word() {
            "in" => Ok(Requirement::In(key.clone(), self.set(&key)?)),
            "notin" => Ok(Requirement::NotIn(key.clone(), self.set(&key)?)),
            "" => {
                self.rest = checkpoint;
                Ok(Requirement::Exists(key))
            }
            other => Err(format!("unexpected `{other}` after key `{key}`")),
        }
    }

    fn set(&mut self, key: &str) -> Result<BTreeSet<String>, String> {
        self.expect("(")?;
        let mut values = BTreeSet::new();
        loop {
            values.insert(self.value(key)?);
            if self.eat(")") {
                return Ok(values);
            }
            self.expect(",")?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[&str]) -> Labels {
        Labels::from_pairs(pairs.iter().copied()).unwrap()
    }

    fn sel(s: &str) -> LabelSelector {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn selector_should_support_every_kubernetes_operator() {
        let mado = labels(&["host=mado", "tier=edge"]);
        let local = labels(&["host=local"]);
        let cases = [
            ("host=mado", true, false),
            ("host==mado", true, false),
            ("host!=mado", false, true),
            ("host in (mado, tear)", true, false),
            ("host notin (mado,tear)", false, true),
            ("tier", true, false),
            ("!tier", false, true),
            ("host in (mado,local), !tier", false, true),
            ("tier!=core", true, true),
            ("", true, true),
        ];
        for (selector, on_mado, on_local) in cases {
            assert_eq!(sel(selector).matches(&mado), on_mado, "{selector} on mado");
            assert_eq!(sel(selector).matches(&local), on_local, "{selector} on local");
        }
    }

    #[test]
    fn selector_should_refuse_malformed_input() {
        for bad in ["host=", "=x", "host in mado", "host in (a,", "host ~ x", "a,,b", "a=b,", "!", "host in ()x"] {
            let err = bad.parse::<LabelSelector>();
            if bad == "host=" {
                // An empty value is legal: it matches labels set to "".
                assert!(err.is_ok());
                continue;
            }
            assert!(matches!(err, Err(VigyError::InvalidSelector { .. })), "{bad:?} parsed as {err:?}");
        }
    }

    #[test]
    fn selector_should_accept_every_key_and_value_a_label_may_have() {
        use crate::labels::tests::{good_keys, good_values};
        for key in good_keys() {
            for selector in [key.clone(), format!("!{key}"), format!("{key}=v"), format!("{key} in (a, b)")] {
                assert!(selector.parse::<LabelSelector>().is_ok(), "{selector}");
            }
        }
        for value in good_values() {
            for selector in [
                format!("k={value}"),
                format!("k!={value}"),
                format!("k in ({value}, x)"),
                format!("k notin ({value})"),
            ] {
                assert!(selector.parse::<LabelSelector>().is_ok(), "{selector}");
            }
        }
    }

    #[test]
    fn selector_should_refuse_every_key_and_value_a_label_may_not_have() {
        use crate::labels::tests::{bad_keys, bad_values};
        // Keys that the selector's word scan would split differently
        // (`%^=@`) are refused too, as a malformed selector.
        for key in bad_keys() {
            for selector in [key.clone(), format!("!{key}"), format!("{key}=v"), format!("{key} in (a)")] {
                let parsed = selector.parse::<LabelSelector>();
                assert!(matches!(parsed, Err(VigyError::InvalidSelector { .. })), "{selector:?} parsed as {parsed:?}");
            }
        }
        for value in bad_values().into_iter().filter(|v| !v.is_empty()) {
            for selector in
                [format!("k={value}"), format!("k!={value}"), format!("k in ({value})"), format!("k notin (a,{value})")]
            {
                let parsed = selector.parse::<LabelSelector>();
                assert!(matches!(parsed, Err(VigyError::InvalidSelector { .. })), "{selector:?} parsed as {parsed:?}");
            }
        }
    }

    #[test]
    fn selector_should_refuse_a_value_of_64_characters() {
        let err = format!("tier={}", "a".repeat(64)).parse::<LabelSelector>().unwrap_err();
        assert!(err.to_string().contains("value of `tier` is 64 characters, the limit is 63"), "{err}");
    }
}
