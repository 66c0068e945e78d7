//! Page cursors: opaque to clients, a list's name and the sort key of the
//! page's last item to the server. A cursor names the list it came from,
//! so one list's cursor given to another is refused instead of read as a
//! key; it carries the key rather than an offset, so a page does not shift
//! when items before it are added or removed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The cursor of the item whose sort key is `key`, in the list `list`
/// (the page model's name, `VigyList`): pass it back to go on after that
/// item.
pub fn encode(list: &str, key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{list}:{key}"))
}

/// Why a cursor was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadCursor(pub String);

/// The sort key `cursor` stands for, if `encode` made it for `list`.
pub fn decode(list: &str, cursor: &str) -> Result<String, BadCursor> {
    let refuse = || BadCursor(format!("cursor `{}` was not given by a {list}", excerpt(cursor)));
    let text =
        URL_SAFE_NO_PAD.decode(cursor).ok().and_then(|bytes| String::from_utf8(bytes).ok()).ok_or_else(refuse)?;
    match text.split_once(':') {
        Some((from, key)) if from == list => Ok(key.to_owned()),
        _ => Err(refuse()),
    }
}

/// A cursor short enough to quote in an error.
fn excerpt(cursor: &str) -> String {
    const MAX: usize = 40;
    match cursor.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &cursor[..at]),
        None => cursor.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_should_give_back_its_key() {
        for key in ["web-1", "", "a:b:c", "ünïcode", "0193a7c2-7b1e-7000-8000-000000000000"] {
            assert_eq!(decode("VigyList", &encode("VigyList", key)), Ok(key.to_owned()));
        }
    }

    #[test]
    fn a_cursor_should_be_url_safe() {
        let cursor = encode("VigyRunList", "??>>//++");
        assert!(cursor.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{cursor}");
    }

    #[test]
    fn another_lists_cursor_should_be_refused() {
        let err = decode("VigyList", &encode("VigyRunList", "x")).unwrap_err();
        assert!(err.0.contains("was not given by a VigyList"), "{err}");
    }

    #[test]
    fn garbage_should_be_refused_and_quoted_short() {
        for junk in ["%%%", "not base64!", "", &"A".repeat(600)] {
            let err = decode("VigyList", junk).unwrap_err();
            assert!(err.0.chars().count() < 120, "{err}");
        }
        // Valid base64 of bytes that are not UTF-8.
        assert!(decode("VigyList", &URL_SAFE_NO_PAD.encode([0xff, 0xfe])).is_err());
    }
}
