//! Where is a byte range of Rust's UTF-8 text in a JavaScript string? The core keeps byte ranges;
//! JavaScript indexes strings in UTF-16 code units. Every conversion between the two is here, used by
//! the core (passage ranges, explanations) and the wasm binding alike.

use std::ops::Range;

/// Length in UTF-16 code units of `text`.
pub fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// A byte range of `text` (on character boundaries) as a UTF-16 range.
pub fn utf16_range(text: &str, bytes: Range<usize>) -> Range<usize> {
    let start = utf16_len(&text[..bytes.start]);
    start..start + utf16_len(&text[bytes])
}

/// The byte offset in `text` of UTF-16 code unit `index` (a JavaScript string index); `None` past the
/// end or inside a character.
pub fn utf16_to_byte(text: &str, index: usize) -> Option<usize> {
    let mut units = 0;
    for (byte, ch) in text.char_indices() {
        if units == index {
            return Some(byte);
        }
        units += ch.len_utf16();
    }
    (units == index).then_some(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_indices_map_back_to_byte_offsets() {
        let text = "a🙂é";
        assert_eq!(utf16_to_byte(text, 0), Some(0));
        assert_eq!(utf16_to_byte(text, 1), Some(1));
        assert_eq!(
            utf16_to_byte(text, 2),
            None,
            "inside the emoji's surrogate pair"
        );
        assert_eq!(utf16_to_byte(text, 3), Some(5));
        assert_eq!(utf16_to_byte(text, 4), Some(text.len()));
        assert_eq!(utf16_to_byte(text, 5), None);
    }

    #[test]
    fn byte_ranges_become_utf16_ranges() {
        let text = "a🙂é b";
        assert_eq!(utf16_range(text, 1..5), 1..3, "the emoji is two code units");
        assert_eq!(utf16_range(text, 5..7), 3..4);
        assert_eq!(utf16_range(text, 0..text.len()), 0..utf16_len(text));
    }
}
