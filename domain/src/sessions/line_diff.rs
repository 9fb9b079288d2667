//! A line diff for the review page: the AI's output against the human's
//! edit, or one agent's version against another's. Longest common
//! subsequence over lines, after trimming the common head and tail (edits
//! are usually local, so the quadratic part stays small); past a size cap
//! it degrades to "all removed, all added" rather than stalling a request.

use serde::{Deserialize, Serialize};

/// What happened to one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineChange {
    Same,
    Removed,
    Added,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffLine {
    pub change: LineChange,
    pub text: String,
}

/// Cells of the LCS table beyond which the middle is not aligned.
const MAX_CELLS: usize = 4_000_000;

/// The lines of `old` and `new` as kept, removed and added, in order.
pub fn line_diff(old: &str, new: &str) -> Vec<DiffLine> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let line = |change, text: &str| DiffLine {
        change,
        text: text.to_owned(),
    };
    let mut out: Vec<DiffLine> = a[..head]
        .iter()
        .map(|t| line(LineChange::Same, t))
        .collect();
    if am.len().saturating_mul(bm.len()) > MAX_CELLS {
        out.extend(am.iter().map(|t| line(LineChange::Removed, t)));
        out.extend(bm.iter().map(|t| line(LineChange::Added, t)));
    } else {
        // lcs[i][j]: common lines of am[i..] and bm[j..].
        let w = bm.len() + 1;
        let mut lcs = vec![0u32; (am.len() + 1) * w];
        for i in (0..am.len()).rev() {
            for j in (0..bm.len()).rev() {
                lcs[i * w + j] = if am[i] == bm[j] {
                    lcs[(i + 1) * w + j + 1] + 1
                } else {
                    lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < am.len() || j < bm.len() {
            if i < am.len() && j < bm.len() && am[i] == bm[j] {
                out.push(line(LineChange::Same, am[i]));
                i += 1;
                j += 1;
            } else if j < bm.len() && (i == am.len() || lcs[i * w + j + 1] > lcs[(i + 1) * w + j]) {
                out.push(line(LineChange::Added, bm[j]));
                j += 1;
            } else {
                out.push(line(LineChange::Removed, am[i]));
                i += 1;
            }
        }
    }
    out.extend(
        a[a.len() - tail..]
            .iter()
            .map(|t| line(LineChange::Same, t)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(d: &[DiffLine]) -> String {
        d.iter()
            .map(|l| {
                let sign = match l.change {
                    LineChange::Same => ' ',
                    LineChange::Removed => '-',
                    LineChange::Added => '+',
                };
                format!("{sign}{}\n", l.text)
            })
            .collect()
    }

    #[test]
    fn an_edit_in_the_middle_is_one_removal_and_one_addition() {
        let d = line_diff("a\nb\nc\nd", "a\nb\nC\nd");
        assert_eq!(render(&d), " a\n b\n-c\n+C\n d\n");
    }

    #[test]
    fn insertions_deletions_and_identity() {
        assert_eq!(render(&line_diff("a\nc", "a\nb\nc")), " a\n+b\n c\n");
        assert_eq!(render(&line_diff("a\nb\nc", "a\nc")), " a\n-b\n c\n");
        assert_eq!(render(&line_diff("x\ny", "x\ny")), " x\n y\n");
        assert_eq!(render(&line_diff("", "new")), "+new\n");
        assert_eq!(render(&line_diff("old", "")), "-old\n");
    }

    #[test]
    fn reordered_lines_keep_the_longest_common_part() {
        let d = line_diff("1\n2\n3\n4", "2\n3\n4\n1");
        assert_eq!(render(&d), "-1\n 2\n 3\n 4\n+1\n");
    }

    #[test]
    fn huge_inputs_degrade_instead_of_stalling() {
        let old: String = (0..3000).map(|i| format!("o{i}\n")).collect();
        let new: String = (0..3000).map(|i| format!("n{i}\n")).collect();
        let d = line_diff(&old, &new);
        assert_eq!(d.len(), 6000);
        assert!(d[..3000].iter().all(|l| l.change == LineChange::Removed));
    }
}
