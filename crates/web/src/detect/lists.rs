//! Word lists compiled once. A detector asks "does any of these occur in the value" in one
//! pass over it, and "is this word one of them" in one hash lookup, however long the list:
//! a loop of `contains` calls scans the value once per word and was most of the engine's
//! time on ordinary values such as a browser's User-Agent.
//!
//! Beside the lists, the text helpers every detector runs on each value: [`without_chars`]
//! (squeezing, borrowed when nothing is dropped) and [`Literal`] (searching a short
//! literal), both cheaper than their standard-library counterparts on short values
//! (docs/benchmarks.md).

use aho_corasick::AhoCorasick;
use std::collections::HashSet;
use std::sync::LazyLock;

/// Literals searched for together.
pub(crate) type Patterns = LazyLock<AhoCorasick>;

/// Words looked up whole.
pub(crate) type Words = LazyLock<HashSet<&'static str, FixedHash>>;

/// The hasher of the fixed word lists: a fast one, since lookups are one per word of
/// every value. Keys from requests are only looked up, never inserted, so a crafted key
/// cannot grow a chain; the engine's one table that takes request values (`memo.rs`)
/// keeps the standard, seeded hasher.
pub(crate) type FixedHash = foldhash::fast::FixedState;

/// Compiles a list of literals into one automaton: `static X: Patterns = patterns!(LIST);`.
macro_rules! patterns {
    ($list:expr) => {
        std::sync::LazyLock::new(|| $crate::detect::lists::automaton($list))
    };
}

/// Builds a set from a list of words: `static X: Words = words!(LIST);`.
macro_rules! words {
    ($list:expr) => {
        std::sync::LazyLock::new(|| $list.iter().copied().collect())
    };
}

pub(crate) use {patterns, words};

/// One automaton for a fixed list of literals. Always a DFA: the lists are fixed and a few
/// hundred literals at most, so its memory is no concern, and it scans a value with fewer
/// instructions than the NFA the builder picks for the longer lists (docs/benchmarks.md).
pub(crate) fn automaton<I, P>(list: I) -> AhoCorasick
where
    I: IntoIterator<Item = P>,
    P: AsRef<[u8]>,
{
    AhoCorasick::builder()
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .build(list)
        .expect("pattern lists are plain literals")
}

/// Whether a match of `automaton` in `text` stands as a word of its own: no letter or
/// digit right before it, and none right after unless the pattern ends in punctuation.
pub(crate) fn any_word(automaton: &AhoCorasick, text: &str) -> bool {
    let b = text.as_bytes();
    automaton.find_overlapping_iter(text).any(|m| {
        let before = m.start() == 0 || !b[m.start() - 1].is_ascii_alphanumeric();
        let last = b[m.end() - 1];
        let after = m.end() == b.len()
            || !last.is_ascii_alphanumeric()
            || !b[m.end()].is_ascii_alphanumeric();
        before && after
    })
}

/// `text` without the characters `skip` matches (whitespace that a parser ignores, NULs),
/// borrowed when it has none, as most values do: squeezing then costs one scan and no
/// allocation.
pub(crate) fn without_chars(text: &str, skip: impl Fn(char) -> bool) -> std::borrow::Cow<'_, str> {
    // Most values are ASCII: read as bytes, without decoding UTF-8.
    let ascii = text.is_ascii();
    let first = if ascii {
        text.bytes().position(|b| skip(char::from(b)))
    } else {
        text.find(&skip)
    };
    let Some(first) = first else {
        return std::borrow::Cow::Borrowed(text);
    };
    // Copied a run at a time, not a character at a time.
    let mut kept = String::with_capacity(text.len());
    kept.push_str(&text[..first]);
    let mut run_start = first;
    let mut cut = |at: usize, len: usize| {
        kept.push_str(&text[run_start..at]);
        run_start = at + len;
    };
    if ascii {
        for (at, b) in text.bytes().enumerate().skip(first) {
            if skip(char::from(b)) {
                cut(at, 1);
            }
        }
    } else {
        for (at, c) in text[first..].char_indices() {
            if skip(c) {
                cut(first + at, c.len_utf8());
            }
        }
    }
    kept.push_str(&text[run_start..]);
    std::borrow::Cow::Owned(kept)
}

/// Substring search for the short literals detectors look for. On the short values
/// requests carry, `str::contains` costs more to set up (a Two-Way searcher per call) than
/// to search; this jumps between occurrences of the needle's first byte (memchr) and
/// compares the rest there. Needles are literals of a few bytes, so the worst case stays
/// linear in the value.
pub(crate) trait Literal {
    /// Whether `needle` occurs.
    fn has(&self, needle: &str) -> bool {
        self.at(needle).is_some()
    }
    /// Where `needle` first occurs.
    fn at(&self, needle: &str) -> Option<usize>;
    /// Where `needle` occurs, left to right, without overlaps (as `match_indices`).
    fn each_at<'a>(&'a self, needle: &'a str) -> impl Iterator<Item = usize> + 'a;
}

impl Literal for str {
    fn at(&self, needle: &str) -> Option<usize> {
        let (text, needle) = (self.as_bytes(), needle.as_bytes());
        let Some((&first, rest)) = needle.split_first() else {
            return Some(0);
        };
        let mut from = 0;
        while let Some(offset) = memchr::memchr(first, &text[from..]) {
            let at = from + offset;
            if text[at + 1..].starts_with(rest) {
                return Some(at);
            }
            from = at + 1;
        }
        None
    }

    fn each_at<'a>(&'a self, needle: &'a str) -> impl Iterator<Item = usize> + 'a {
        let mut from = 0;
        std::iter::from_fn(move || {
            let at = from + self.get(from..)?.at(needle)?;
            from = at + needle.len().max(1);
            Some(at)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeezing_drops_only_the_chosen_characters() {
        let squeeze = |t: &str| without_chars(t, char::is_whitespace).into_owned();
        assert_eq!(squeeze("sel ect\t1\n"), "select1");
        assert_eq!(squeeze("  "), "");
        assert_eq!(squeeze("é x\u{3000}ü"), "éxü");
        assert!(matches!(
            without_chars("plain", char::is_whitespace),
            std::borrow::Cow::Borrowed("plain")
        ));
        assert_eq!(without_chars("a\0b c", |c| c == '\0').into_owned(), "ab c");
    }

    #[test]
    fn literal_search_agrees_with_the_standard_one() {
        let texts = [
            "",
            "a",
            "aab",
            "union select",
            "ééé select",
            "x${jndi:",
            "aaaaab",
            "&&&&& and/./x/./",
        ];
        let needles = [
            "a", "ab", "aab", "select", "${", "é s", "b", "zz", "&&", "/./", "aa",
        ];
        for text in texts {
            for needle in needles {
                assert_eq!(text.at(needle), text.find(needle), "{needle:?} in {text:?}");
                assert_eq!(text.has(needle), text.contains(needle));
                let standard: Vec<usize> = text.match_indices(needle).map(|(at, _)| at).collect();
                assert_eq!(text.each_at(needle).collect::<Vec<_>>(), standard);
            }
        }
    }
}
