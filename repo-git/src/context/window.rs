//! Cutting a file that does not fit down to its most relevant window:
//! whole lines around the densest run of matches, so the band sees code
//! in its context rather than scattered lines.

use std::ops::Range;

/// A window of whole lines: its bytes in the text and its 1-based,
/// inclusive line numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) bytes: Range<usize>,
    pub(crate) lines: (usize, usize),
}

/// The window of at most `limit` bytes holding the most lines with hits
/// (the earliest such window on a tie), widened with the lines around it
/// while it fits. Without hits, the head of the file (its imports and
/// doc comment say most about it). `None` if not even one line fits.
pub(crate) fn best_window(text: &str, hit_offsets: &[usize], limit: usize) -> Option<Window> {
    // Byte ranges of the lines, each with its newline.
    let mut lines: Vec<Range<usize>> = Vec::new();
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        if b == b'\n' {
            lines.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < text.len() {
        lines.push(start..text.len());
    }
    if lines.is_empty() {
        return None;
    }

    // Lines with at least one hit: one per line, so a line repeating a term
    // does not outweigh several lines that use it.
    let mut hit_line = vec![false; lines.len()];
    for &offset in hit_offsets {
        let line = lines.partition_point(|l| l.end <= offset);
        if let Some(flag) = hit_line.get_mut(line) {
            *flag = true;
        }
    }

    // Two pointers: for each first line, the furthest last line that fits.
    let length = |a: usize, b: usize| lines[b - 1].end - lines[a].start;
    let mut best: Option<(usize, usize, usize)> = None; // (hits, first, end)
    let mut end = 0;
    let mut hits = 0;
    for first in 0..lines.len() {
        if end < first {
            end = first;
            hits = 0;
        }
        while end < lines.len() && length(first, end + 1) <= limit {
            hits += usize::from(hit_line[end]);
            end += 1;
        }
        if end > first && best.is_none_or(|(h, _, _)| hits > h) {
            best = Some((hits, first, end));
        }
        if end > first {
            hits -= usize::from(hit_line[first]);
        }
    }
    let (hits, first, end) = best?;

    // Shrink to the hit lines, then widen evenly up and down while it fits,
    // so the matches sit in the middle of their context.
    let (mut a, mut b) = if hits == 0 {
        (first, first + 1)
    } else {
        let a = (first..end).find(|&i| hit_line[i]).unwrap_or(first);
        let b = (first..end)
            .rev()
            .find(|&i| hit_line[i])
            .map_or(end, |i| i + 1);
        (a, b)
    };
    loop {
        let mut grew = false;
        if b < lines.len() && length(a, b + 1) <= limit {
            b += 1;
            grew = true;
        }
        if hits > 0 && a > 0 && length(a - 1, b) <= limit {
            a -= 1;
            grew = true;
        }
        if !grew {
            break;
        }
    }
    Some(Window {
        bytes: lines[a].start..lines[b - 1].end,
        lines: (a + 1, b),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(n: usize) -> String {
        (1..=n).map(|i| format!("line {i:03}\n")).collect()
    }

    #[test]
    fn centres_on_the_hits() {
        let text = text(100); // 9 bytes a line
        let at = text.find("line 050").unwrap();
        let w = best_window(&text, &[at], 9 * 5).unwrap();
        assert_eq!(w.lines, (48, 52));
        assert_eq!(
            &text[w.bytes.clone()],
            "line 048\nline 049\nline 050\nline 051\nline 052\n"
        );
    }

    #[test]
    fn prefers_the_densest_run() {
        let text = text(100);
        let offsets: Vec<usize> = ["line 010", "line 070", "line 071", "line 072"]
            .iter()
            .map(|l| text.find(l).unwrap())
            .collect();
        let w = best_window(&text, &offsets, 9 * 4).unwrap();
        assert!(w.lines.0 <= 70 && w.lines.1 >= 72, "{w:?}");
    }

    #[test]
    fn without_hits_shows_the_head() {
        let text = text(100);
        let w = best_window(&text, &[], 9 * 3).unwrap();
        assert_eq!(w.lines, (1, 3));
        assert_eq!(w.bytes, 0..27);
    }

    #[test]
    fn nothing_if_no_line_fits() {
        assert_eq!(best_window("a very long line\n", &[0], 4), None);
        assert_eq!(best_window("", &[], 100), None);
    }

    #[test]
    fn never_exceeds_the_limit() {
        let text = text(50);
        for limit in [9, 10, 20, 100, 449, 450] {
            let w = best_window(&text, &[200, 300], limit).unwrap();
            assert!(w.bytes.len() <= limit);
        }
    }
}
