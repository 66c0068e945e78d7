//! The bounded beginning of a body or an output stream: what is recorded
//! of it, however much there was.

/// How many bytes of a response body, or of a program's stdout and its
/// stderr, are kept and recorded.
pub const EXCERPT_BYTES: usize = 4096;

/// The first [`EXCERPT_BYTES`] of a stream, and whether there was more.
#[derive(Debug, Default)]
pub(crate) struct Excerpt {
    bytes: Vec<u8>,
    truncated: bool,
}

impl Excerpt {
    /// Keep what of `data` still fits; `false` once more arrived than fits
    /// (the caller may stop reading).
    pub(crate) fn push(&mut self, data: &[u8]) -> bool {
        let room = EXCERPT_BYTES - self.bytes.len();
        if data.len() > room {
            self.bytes.extend_from_slice(&data[..room]);
            self.truncated = true;
        } else {
            self.bytes.extend_from_slice(data);
        }
        !self.truncated
    }

    /// Mark that the stream went on past what was read.
    pub(crate) fn cut_short(&mut self) {
        self.truncated = true;
    }

    pub(crate) fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// The excerpt as text: invalid UTF-8 replaced, and a character split
    /// by the cut left out rather than shown as garbage.
    pub(crate) fn text(&self) -> String {
        let bytes = if self.truncated { whole_chars(&self.bytes) } else { &self.bytes };
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// `bytes` without a UTF-8 sequence left incomplete at its end.
fn whole_chars(bytes: &[u8]) -> &[u8] {
    for back in 1..=bytes.len().min(4) {
        let start = bytes.len() - back;
        let byte = bytes[start];
        if byte & 0xC0 != 0x80 {
            let needs = match byte {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 1,
            };
            return if needs > back { &bytes[..start] } else { bytes };
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_should_keep_at_most_its_bound_and_say_it_was_cut() {
        let mut excerpt = Excerpt::default();
        assert!(excerpt.push(&[b'a'; 100]));
        assert!(!excerpt.push(&vec![b'b'; EXCERPT_BYTES]));
        assert!(excerpt.is_truncated());
        assert_eq!(excerpt.text().len(), EXCERPT_BYTES);
    }

    #[test]
    fn an_excerpt_should_not_end_in_half_a_character() {
        let mut excerpt = Excerpt::default();
        excerpt.push(&vec![b'a'; EXCERPT_BYTES - 1]);
        excerpt.push("é and more".as_bytes());
        let text = excerpt.text();
        assert_eq!(text.len(), EXCERPT_BYTES - 1);
        assert!(!text.contains('\u{FFFD}'));
    }

    #[test]
    fn an_excerpt_should_replace_invalid_bytes_inside_it() {
        let mut excerpt = Excerpt::default();
        excerpt.push(b"ok \xff ok");
        assert_eq!(excerpt.text(), "ok \u{FFFD} ok");
    }
}
