//! Where does a long note split? Into token windows that fit the document budget, cut preferably at
//! paragraph breaks, then sentence or line ends, then anywhere; consecutive windows overlap by about a
//! sentence so a fact spanning a cut is still whole in one of them.

use std::ops::Range;

/// How good a cut is just before a token: higher is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Break {
    None,
    Sentence,
    Paragraph,
}

/// Token windows (index ranges into `offsets`) of at most `room` tokens covering every token.
/// `offsets` are the tokens' byte ranges in `text`.
pub fn split(text: &str, offsets: &[(usize, usize)], room: usize) -> Vec<Range<usize>> {
    let n = offsets.len();
    if n <= room {
        return vec![0..n];
    }
    let breaks: Vec<Break> = (0..n).map(|i| break_before(text, offsets, i)).collect();
    let overlap_span = (room / 4).max(1);
    let mut windows = Vec::new();
    let mut start = 0;
    loop {
        if start + room >= n {
            windows.push(start..n);
            return windows;
        }
        // Cut at the best break in the window's second half, the latest one among equals.
        let end = (start + room / 2 + 1..=start + room)
            .rev()
            .max_by_key(|&i| (breaks[i], usize::MAX - (start + room - i)))
            .filter(|&i| breaks[i] > Break::None)
            .unwrap_or(start + room);
        windows.push(start..end);
        // Restart at the earliest break inside the overlap span, or a fixed step back.
        start = (end - overlap_span..end)
            .find(|&i| i > start && breaks[i] > Break::None)
            .unwrap_or((end - overlap_span / 2).max(start + 1));
    }
}

fn break_before(text: &str, offsets: &[(usize, usize)], i: usize) -> Break {
    if i == 0 {
        return Break::Paragraph;
    }
    let gap = text.get(offsets[i - 1].1..offsets[i].0).unwrap_or("");
    let previous = text.get(offsets[i - 1].0..offsets[i - 1].1).unwrap_or("");
    if gap.matches('\n').count() >= 2 {
        Break::Paragraph
    } else if gap.contains('\n') || (matches!(previous, "." | "!" | "?" | "。") && !gap.is_empty())
    {
        Break::Sentence
    } else {
        Break::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whitespace-separated words as tokens, with byte offsets.
    fn words(text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut start = None;
        for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
            match (c.is_whitespace(), start) {
                (true, Some(s)) => {
                    out.push((s, i));
                    start = None;
                }
                (false, None) => start = Some(i),
                _ => {}
            }
        }
        out
    }

    #[test]
    fn short_text_is_one_window() {
        let text = "one two three";
        assert_eq!(split(text, &words(text), 10), vec![0..3]);
    }

    #[test]
    fn windows_cover_everything_fit_and_overlap() {
        let text = (0..60)
            .map(|p| format!("w{p}a w{p}b w{p}c ."))
            .collect::<Vec<_>>()
            .join(" ");
        let offsets = words(&text);
        let windows = split(&text, &offsets, 16);
        assert_eq!(windows.first().unwrap().start, 0);
        assert_eq!(windows.last().unwrap().end, offsets.len());
        for pair in windows.windows(2) {
            assert!(
                pair[1].start < pair[0].end,
                "consecutive windows overlap: {pair:?}"
            );
            assert!(pair[1].start > pair[0].start, "progress: {pair:?}");
        }
        assert!(windows.iter().all(|w| w.len() <= 16));
    }

    #[test]
    fn cuts_prefer_paragraphs_over_sentences() {
        let para = "alpha beta gamma. delta epsilon zeta. eta theta";
        let text = format!("{para}\n\n{para}\n\n{para}");
        let offsets = words(&text);
        let windows = split(&text, &offsets, 12);
        // The first cut lands on the first paragraph break (token 8 starts paragraph two).
        assert_eq!(windows[0], 0..8);
    }

    #[test]
    fn text_without_breaks_is_cut_hard_and_still_progresses() {
        let text = "x ".repeat(100);
        let offsets = words(&text);
        let windows = split(&text, &offsets, 10);
        assert_eq!(windows[0], 0..10);
        assert_eq!(windows.last().unwrap().end, 100);
        assert!(windows.iter().all(|w| !w.is_empty() && w.len() <= 10));
    }
}
