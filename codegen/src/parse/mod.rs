//! One reader per spec format, each lowering into [`crate::ir::Api`].

pub mod graphql;
pub mod openapi;
pub mod proto;

/// A spec that could not be read at all (as opposed to specs that disagree,
/// which the checker reports).
#[derive(Debug)]
pub struct ReadError {
    /// The spec file.
    pub source: String,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.source, self.message)
    }
}

impl std::error::Error for ReadError {}

pub(crate) fn fail(source: &str, message: impl Into<String>) -> ReadError {
    ReadError { source: source.to_owned(), message: message.into() }
}
