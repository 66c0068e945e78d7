//! A vigy's program, checked once at registration.
//!
//! Three checks run in order, cheapest first: the size limit, the nesting
//! limit (a scan that needs no parser and counts lists and quote prefixes
//! as the reader recurses on them, so deeply nested source can never reach
//! the recursive reader and overflow the native stack), then a full
//! parse. Every refusal carries a 1-based line and column and a caret
//! excerpt of the offending line.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Largest accepted program, in bytes.
pub const MAX_PROGRAM_BYTES: usize = 256 * 1024;
/// Deepest accepted nesting: open lists plus pending quote prefixes (see
/// [`check_nesting`]). The reader recurses once per level, so this bounds
/// the native stack any read of checked source needs.
///
/// Measured with `cargo run -p vigy-types --example reader_stack` (debug
/// build, tatara-lisp 0.4.13): a list level costs the reader about 1.5 KB
/// of stack, a prefix level about 2.2 KB (two calls); 200 prefixes read on
/// 443 KiB, 200 lists on 303 KiB. So checked source reads on any thread
/// of 1 MiB or more, tokio's 2 MiB workers and the CLI's main thread
/// included, with room for its caller; optimised builds need less.
/// Evaluation recurses per level too, and runs on the evaluation threads'
/// large stacks.
pub const MAX_NESTING_DEPTH: usize = 200;

/// Most ticks one simulation of a program runs (`simulateProgram`): a
/// simulation is a request answered while its caller waits.
pub const MAX_SIMULATED_TICKS: u32 = 100;

/// `ticks` if a simulation may run that many: 1 to [`MAX_SIMULATED_TICKS`].
pub fn simulated_ticks(ticks: u32) -> Result<u32, crate::VigyError> {
    if (1..=MAX_SIMULATED_TICKS).contains(&ticks) { Ok(ticks) } else { Err(crate::VigyError::InvalidTickCount(ticks)) }
}

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

/// Refuse source that would make the reader recurse deeper than `limit`,
/// without recursion and without reading it.
///
/// The scan follows tatara-lisp 0.4.13's tokenizer (`reader.rs`) token by
/// token, so it counts exactly what the reader recurses on:
///
/// - `(` opens a list: one level until its `)`.
/// - Each prefix `'`, `` ` ``, `,` and `,@` is one level until the datum it
///   wraps ends, so `'''x` is three levels and `'('(x))` four.
/// - Nothing else nests. `[`, `]`, `{`, `}` and `#` are ordinary atom
///   characters (`#t`, `#f` and `[a` are atoms; `#(` is the atom `#` then a
///   list); strings, including the reader's `\u{…}` escape that runs to the
///   next `}` whatever it passes, and `;` comments are skipped as the reader
///   skips them.
///
/// The depth at each point is the number of open lists plus the prefixes
/// still waiting for their datum on the path from the top-level form: the
/// number of reader calls on the native stack (see [`MAX_NESTING_DEPTH`]
/// for what each costs).
pub fn check_nesting(source: &str, limit: usize) -> Result<(), ProgramError> {
    let too_deep = |at: usize| {
        ProgramError::at(
            source,
            at,
            format!("program nests deeper than the limit of {limit} (each open list and each quote prefix is a level)"),
        )
    };
    // For each open list, the levels it holds: itself and the prefixes
    // written before it, which end when it closes.
    let mut open: Vec<usize> = Vec::new();
    // Prefixes read since the last datum or `(`, waiting for their datum.
    let mut pending = 0usize;
    let mut depth = 0usize;
    let mut chars = source.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '\'' | '`' | ',' => {
                if c == ',' {
                    chars.next_if(|&(_, next)| next == '@');
                }
                pending += 1;
                depth += 1;
                if depth > limit {
                    return Err(too_deep(at));
                }
            }
            c if c.is_whitespace() => {}
            ';' => {
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '(' => {
                open.push(pending + 1);
                pending = 0;
                depth += 1;
                if depth > limit {
                    return Err(too_deep(at));
                }
            }
            ')' => {
                // A `)` right after a prefix is a reader error; either way
                // the waiting prefixes are done.
                depth -= pending;
                pending = 0;
                if let Some(levels) = open.pop() {
                    depth -= levels;
                }
            }
            '"' => {
                skip_string(&mut chars);
                depth -= pending;
                pending = 0;
            }
            _ => {
                while chars.next_if(|&(_, c)| !is_atom_boundary(c)).is_some() {}
                depth -= pending;
                pending = 0;
            }
        }
    }
    Ok(())
}

/// Where the reader ends a bare atom (`Sexp::is_bare_atom_boundary`).
fn is_atom_boundary(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '\'' | '`' | ',' | '"' | ';')
}

/// Skip the rest of a string whose opening `"` was consumed, as the
/// reader's tokenizer does: `\` takes the next character, and `\u` then
/// takes one more and, if that one is `{`, everything up to and including
/// the next `}`, closing quotes too.
fn skip_string(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) {
    while let Some((_, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, 'u')) = chars.next()
                    && let Some((_, '{')) = chars.next()
                {
                    for (_, c) in chars.by_ref() {
                        if c == '}' {
                            break;
                        }
                    }
                }
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
    fn a_simulation_should_run_one_to_a_hundred_ticks() {
        assert_eq!(simulated_ticks(1), Ok(1));
        assert_eq!(simulated_ticks(MAX_SIMULATED_TICKS), Ok(100));
        for refused in [0, 101, u32::MAX] {
            let err = simulated_ticks(refused).unwrap_err();
            assert_eq!(err.to_string(), format!("invalid tick count {refused}: a simulation runs 1 to 100 ticks"));
        }
    }

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

#[cfg(test)]
mod nesting_tests {
    //! The scan counts what the reader recurses on: lists and prefixes.

    use super::*;

    /// Whether `source` nests at most `limit` levels.
    fn within(source: &str, limit: usize) -> bool {
        check_nesting(source, limit).is_ok()
    }

    /// The deepest `source` nests, found with the scan itself.
    fn depth(source: &str) -> usize {
        (0..).find(|&limit| within(source, limit)).unwrap()
    }

    #[test]
    fn nesting_should_refuse_twenty_thousand_quotes_before_reading() {
        let quotes = format!("(vigy-log \"info\" {}x)", "'".repeat(20_000));
        let err = Program::parse(quotes).unwrap_err();
        assert!(err.message.contains("nests deeper than the limit of 200"), "{}", err.message);
        // The list is level 1, the 200th quote level 201, at column 17 + 200.
        assert_eq!((err.line, err.column), (1, 217));
    }

    #[test]
    fn nesting_should_refuse_a_quarter_million_quotes_on_a_small_stack() {
        // 250,000 quotes overflowed even the 8 MiB main thread in the reader.
        // The scan does not recurse: 64 KiB of stack is enough to refuse it.
        let refused = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(|| Program::parse(format!("{}x", "'".repeat(250_000))).is_err())
            .unwrap()
            .join()
            .unwrap();
        assert!(refused);
    }

    #[test]
    fn nesting_should_count_every_prefix_as_the_reader_does() {
        assert_eq!(depth("x"), 0);
        assert_eq!(depth("'x"), 1);
        assert_eq!(depth("'''x"), 3);
        assert_eq!(depth("`x"), 1);
        assert_eq!(depth(",x"), 1);
        assert_eq!(depth(",@x"), 1, "`,@` is one prefix, not two");
        assert_eq!(depth("`(a ,@(b ,c))"), 5);
        assert_eq!(depth("'('(x))"), 4);
        // A prefix ends with its datum: siblings do not add up.
        assert_eq!(depth("('a 'b 'c '(d))"), 3);
        assert_eq!(depth("(a) (b) ((c))"), 2);
        assert_eq!(depth("'\"s\" 'x"), 1);
        // A chain of mixed prefixes is as deep as its length.
        let mixed = "'`,,@".repeat(50);
        assert_eq!(depth(&format!("({mixed}x)")), 201);
        assert!(Program::parse(format!("({mixed}x)")).is_err());
        assert!(Program::parse(format!("({}x)", "'`,,@".repeat(49))).is_ok());
    }

    /// How deep the reader's tree is: what the scan must predict.
    fn tree_depth(form: &tatara_lisp::Spanned) -> usize {
        use tatara_lisp::SpannedForm as F;
        match &form.form {
            F::List(items) => 1 + items.iter().map(tree_depth).max().unwrap_or(0),
            F::Quote(inner) | F::Quasiquote(inner) | F::Unquote(inner) | F::UnquoteSplice(inner) => {
                1 + tree_depth(inner)
            }
            F::Atom(_) | F::Nil => 0,
        }
    }

    #[test]
    fn nesting_should_equal_the_depth_of_what_the_reader_builds() {
        // Random token soups (a fixed LCG, so the test is deterministic):
        // whenever the reader accepts one, the scan's depth is the depth
        // of the reader's tree, string escapes and comments included.
        const TOKENS: [&str; 17] = [
            "(", ")", "'", "`", ",", ",@", "x", " ", "\"s\"", ";c\n", "#t", "[", "{}", "\"\\u\"", "\"\\u{\"", "}", "\n",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut checked = 0;
        for _ in 0..20_000 {
            let mut source = String::new();
            for _ in 0..(seed % 40) {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                source.push_str(TOKENS[(seed >> 33) as usize % TOKENS.len()]);
            }
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            if let Ok(forms) = tatara_lisp::read_spanned(&source) {
                let expected = forms.iter().map(tree_depth).max().unwrap_or(0);
                assert_eq!(depth(&source), expected, "{source:?}");
                checked += 1;
            }
        }
        assert!(checked > 500, "only {checked} soups parsed");
    }

    #[test]
    fn nesting_should_treat_hash_and_other_brackets_as_the_atoms_they_are() {
        // tatara-lisp has no `#` reader macros: `#t`, `#f`, `#foo` are atoms,
        // and `#(` is the atom `#` followed by a list.
        assert_eq!(depth("#t #f #foo"), 0);
        assert_eq!(depth("#(a #(b))"), 2);
        // `[`, `]`, `{`, `}` are atom characters to the reader, never lists.
        let brackets = format!("(vigy-log \"info\" '{}x{})", "[{".repeat(1_000), "}]".repeat(1_000));
        assert_eq!(depth(&brackets), 2);
        assert!(Program::parse(brackets).is_ok());
    }

    #[test]
    fn nesting_should_skip_strings_and_comments_as_the_reader_does() {
        assert_eq!(depth("\"((( ''' \" ; (((\n x"), 0);
        assert_eq!(depth("\"a \\\" ((\" x"), 0, "an escaped quote does not end the string");
        assert_eq!(depth("a;b\n(c)"), 1, "`;` ends an atom and starts a comment");
    }

    #[test]
    fn nesting_should_follow_the_readers_unicode_escape_past_a_closing_quote() {
        // The reader's `\u` takes the next character, here the `"` the eye
        // reads as the end of the string, so the parentheses after `x"`
        // are real and the string closes at the final `""`. A scan that
        // stopped at the first `"` would see only strings and pass 10,000
        // levels to the reader.
        let hidden = format!("\"\\u\"x\" {}{} \"\"", "(".repeat(10_000), ")".repeat(10_000));
        assert!(tatara_lisp::read_spanned("\"\\u\"x\" (a) \"\"").is_ok(), "the reader reads the shape");
        let err = Program::parse(hidden).unwrap_err();
        assert!(err.message.contains("nests deeper"), "{}", err.message);
        // `\u{` runs to the next `}`, closing quotes included.
        assert_eq!(depth("\"\\u{\" ((( \"} \" (x)"), 1);
    }

    #[test]
    fn nesting_should_accept_the_limit_and_refuse_one_more_for_lists_and_quotes() {
        let lists = |n: usize| format!("{}x{}", "(".repeat(n), ")".repeat(n));
        let quotes = |n: usize| format!("{}x", "'".repeat(n));
        for source in [lists(MAX_NESTING_DEPTH), quotes(MAX_NESTING_DEPTH)] {
            assert!(Program::parse(source).is_ok());
        }
        for source in [lists(MAX_NESTING_DEPTH + 1), quotes(MAX_NESTING_DEPTH + 1)] {
            assert!(Program::parse(source).is_err());
        }
    }

    #[test]
    fn programs_at_the_limit_should_read_on_half_a_tokio_worker_stack() {
        // Any source `check` accepts is read within 1 MiB of stack, half of a
        // tokio worker thread's 2 MiB, even unoptimised (the deepest kind,
        // 200 prefixes, needs about 443 KiB in a debug build: see
        // `examples/reader_stack.rs`).
        let sources = [
            format!("{}x{}", "(".repeat(MAX_NESTING_DEPTH), ")".repeat(MAX_NESTING_DEPTH)),
            format!("{}x", "'".repeat(MAX_NESTING_DEPTH)),
            format!("{}x", ",@".repeat(MAX_NESTING_DEPTH)),
            format!("{}x{}", "'(".repeat(MAX_NESTING_DEPTH / 2), ")".repeat(MAX_NESTING_DEPTH / 2)),
        ];
        std::thread::Builder::new()
            .stack_size(1024 * 1024)
            .spawn(move || {
                for source in sources {
                    let program = Program::parse(source).unwrap();
                    assert_eq!(program.forms().len(), 1);
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
