//! Text that came from a payload, made safe to print on an operator's terminal.
//!
//! A payload is written by whoever can push to the queue. Printed raw, a newline in its `id` or
//! `displayName` forges a whole `[time][id] Processed: ...` line, and ESC or BEL bytes set the
//! terminal's title, clear its screen or worse; a class name of 50 MB is printed whole. Every line
//! the worker or the CLI prints from a payload therefore passes through [`printable`] (one-line
//! fields) or [`printable_lines`] (multi-line blocks such as a stack trace).

use std::borrow::Cow;
use std::fmt::Write;

/// How many characters of one payload field a line shows before it is cut (a real Laravel
/// class name or job id is far shorter).
pub const FIELD_LIMIT: usize = 300;

/// How many characters of a message that may quote a payload (an exception's text) a log line
/// shows.
pub const MESSAGE_LIMIT: usize = 2000;

/// Whether `c` must not reach a terminal as is: C0 and C1 controls, DEL, and the Unicode
/// bidirectional overrides that make text display in another order than it reads.
fn unsafe_char(c: char, keep_newlines: bool) -> bool {
    (c.is_control() && !(keep_newlines && (c == '\n' || c == '\t')))
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escape(c: char, out: &mut String) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

fn clean(text: &str, max_chars: usize, keep_newlines: bool) -> Cow<'_, str> {
    let cut = text.char_indices().nth(max_chars).map(|(at, _)| at);
    let shown = &text[..cut.unwrap_or(text.len())];
    if cut.is_none() && !shown.chars().any(|c| unsafe_char(c, keep_newlines)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(shown.len() + 32);
    for c in shown.chars() {
        if unsafe_char(c, keep_newlines) {
            escape(c, &mut out);
        } else {
            out.push(c);
        }
    }
    if cut.is_some() {
        let _ = write!(out, "…({} bytes in all)", text.len());
    }
    Cow::Owned(out)
}

/// One line's worth of `text`: control characters (newlines too) escaped as `\n`, `\x1b`,
/// `\u{9b}`, and at most `max_chars` characters, then `…(N bytes in all)`. Borrows when there is
/// nothing to change.
pub fn printable(text: &str, max_chars: usize) -> Cow<'_, str> {
    clean(text, max_chars, false)
}

/// Like [`printable`], but newlines and tabs stay (a stack trace keeps its lines) and there is no
/// length limit.
pub fn printable_lines(text: &str) -> Cow<'_, str> {
    clean(text, usize::MAX, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(
            printable("App\\Jobs\\SomeJob", 300),
            Cow::Borrowed(_)
        ));
        assert!(matches!(printable_lines("a\n\tb"), Cow::Borrowed(_)));
    }

    #[test]
    fn controls_and_overrides_are_escaped() {
        assert_eq!(
            printable("a\nb\x1b]0;x\x07\r\u{9b}\u{202e}é", 300),
            "a\\nb\\x1b]0;x\\x07\\r\\u{9b}\\u{202e}é"
        );
        assert_eq!(printable_lines("a\nb\x1bc"), "a\nb\\x1bc");
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        let text = "é".repeat(1000);
        let shown = printable(&text, 10);
        assert_eq!(shown, format!("{}…(2000 bytes in all)", "é".repeat(10)));
    }
}
