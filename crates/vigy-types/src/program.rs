//! A vigy's program, checked once at registration.
//!
//! Three checks run in order, cheapest first: the size limit, the nesting
//! limit (a scan that needs no parser, so deeply nested source can never
//! reach the recursive reader and overflow the native stack), then a full
//! parse. Every refusal carries a 1-based line and column and a caret
//! excerpt of the offending line.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Largest accepted program, in bytes.
pub const MAX_PROGRAM_BYTES: usize = 256 * 1024;
/// Deepest accepted nesting of brackets.
pub const MAX_NESTING_DEPTH: usize = 200;

/// Why a program was refused, located in its source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at {line}:{column}\n{excerpt}")]
pub struct ProgramError {
    /// What is wrong.
    pub message: String,
    /// 1-based line of the offending character.
    pub line: usize,
    /// 1-based column (in characters) of the offending character.
    pub column: usize,
    /// The offending line with a caret under the column.
    pub excerpt: String,
}

impl ProgramError {
    /// An error at byte `offset` of `source`.
    pub fn at(source: &str, offset: usize, message: impl Into<String>) -> Self {
        let offset = offset.min(source.len());
        let tatara_lisp::LineCol { line, column } = tatara_lisp::line_col(source, offset);
        let (text, excerpt_column) = window(tatara_lisp::line_at(source, offset), column);
        let caret = tatara_lisp::caret_run(&text, excerpt_column, 1);
        let gutter = line.to_string();
        let pad = " ".repeat(gutter.len());
        Self { message: message.into(), line, column, excerpt: format!("{gutter} | {text}\n{pad} | {caret}") }
    }
}

/// At most this many characters of the line are shown on each side of the
/// offending one, so an error about a huge one-line program stays short.
const EXCERPT_CONTEXT: usize = 40;

/// The part of `line` around 1-based `column`, cut ends marked with `…`,
/// and the column within it.
fn window(line: &str, column: usize) -> (String, usize) {
    let chars: Vec<char> = line.chars().collect();
    let at = column.saturating_sub(1).min(chars.len());
    let start = at.saturating_sub(EXCERPT_CONTEXT);
    let end = (at + EXCERPT_CONTEXT + 1).min(chars.len());
    let mut text: String = if start > 0 { "…".into() } else { String::new() };
    text.extend(&chars[start..end]);
    if end < chars.len() {
        text.push('…');
    }
    (text, at - start + 1 + usize::from(start > 0))
}

/// Program source that is within limits and parses.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Program(String);

impl Program {
    /// Check `source` and keep it.
    pub fn parse(source: impl Into<String>) -> Result<Self, ProgramError> {
        let source = source.into();
        check(&source)?;
        Ok(Self(source))
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.0
    }

    /// The source read into spanned forms. Cannot fail: [`Program::parse`]
    /// already read it once.
    pub fn forms(&self) -> Vec<tatara_lisp::Spanned> {
        tatara_lisp::read_spanned(&self.0).expect("a Program was checked to parse")
    }
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Program({} bytes)", self.0.len())
    }
}

impl TryFrom<String> for Program {
    type Error = ProgramError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl From<Program> for String {
    fn from(p: Program) -> Self {
        p.0
    }
}

/// Size, then nesting, then a real parse.
pub fn check(source: &str) -> Result<(), ProgramError> {
    if source.len() > MAX_PROGRAM_BYTES {
        return Err(ProgramError::at(
            source,
            MAX_PROGRAM_BYTES,
            format!("program is {} bytes, the limit is {MAX_PROGRAM_BYTES}", source.len()),
        ));
    }
    check_nesting(source, MAX_NESTING_DEPTH)?;
    tatara_lisp::read_spanned(source).map_err(|err| {
        let offset = err.span().map_or(source.len(), |s| s.start);
        ProgramError::at(source, offset, format!("program does not parse: {err}"))
    })?;
    Ok(())
}

/// Refuse source whose brackets nest deeper than `limit`, without
/// recursion. Strings and `;` comments are skipped so brackets inside them
/// do not count.
pub fn check_nesting(source: &str, limit: usize) -> Result<(), ProgramError> {
    let mut depth = 0usize;
    let mut chars = source.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => skip_string(&mut chars),
            ';' => {
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '(' | '[' | '{' => {
                depth += 1;
                if depth > limit {
                    return Err(ProgramError::at(
                        source,
                        at,
                        format!("program nests deeper than the limit of {limit}"),
                    ));
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn skip_string(chars: &mut std::str::CharIndices<'_>) {
    while let Some((_, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '"' => return,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_should_accept_the_seed_example() {
        let p = Program::parse("(vigy-log \"info\" \"hello from a vigy\")\n(vigy-noop)").unwrap();
        assert_eq!(p.forms().len(), 2);
    }

    #[test]
    fn program_should_locate_parse_errors_with_a_caret() {
        let err = Program::parse("(vigy-noop)\n(vigy-log \"info\" \"x\"))").unwrap_err();
        assert_eq!((err.line, err.column), (2, 22));
        assert!(err.message.contains("does not parse"), "{}", err.message);
        assert_eq!(err.excerpt, "2 | (vigy-log \"info\" \"x\"))\n  |                      ^");
    }

    #[test]
    fn program_should_refuse_deep_nesting_before_parsing() {
        let deep = format!("{}{}", "(".repeat(100_000), ")".repeat(100_000));
        let err = Program::parse(deep).unwrap_err();
        assert!(err.message.contains("nests deeper than the limit of 200"), "{}", err.message);
        assert_eq!((err.line, err.column), (1, 201));
        // Brackets inside strings and comments do not count.
        let quoted = format!("(vigy-log \"info\" \"{}\") ; {}", "(".repeat(1000), "(".repeat(1000));
        assert!(Program::parse(quoted).is_ok());
    }

    #[test]
    fn program_should_refuse_oversized_source() {
        let big = format!("(vigy-log \"info\" \"{}\")", "x".repeat(MAX_PROGRAM_BYTES));
        let err = Program::parse(big).unwrap_err();
        assert!(err.message.contains("the limit is 262144"), "{}", err.message);
        assert!(err.to_string().len() < 300, "the excerpt of a huge line is cut: {}", err.to_string().len());
    }
}
