//! Word lists compiled once. A detector asks "does any of these occur in the value" in one
//! pass over it, and "is this word one of them" in one hash lookup, however long the list:
//! a loop of `contains` calls scans the value once per word and was most of the engine's
//! time on ordinary values such as a browser's User-Agent.

use aho_corasick::AhoCorasick;
use std::collections::HashSet;
use std::sync::LazyLock;

/// Literals searched for together.
pub(crate) type Patterns = LazyLock<AhoCorasick>;

/// Words looked up whole.
pub(crate) type Words = LazyLock<HashSet<&'static str>>;

/// Compiles a list of literals into one automaton: `static X: Patterns = patterns!(LIST);`.
macro_rules! patterns {
    ($list:expr) => {
        std::sync::LazyLock::new(|| {
            aho_corasick::AhoCorasick::new($list).expect("pattern lists are plain literals")
        })
    };
}

/// Builds a set from a list of words: `static X: Words = words!(LIST);`.
macro_rules! words {
    ($list:expr) => {
        std::sync::LazyLock::new(|| $list.iter().copied().collect())
    };
}

pub(crate) use {patterns, words};

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
    if text.chars().any(&skip) {
        std::borrow::Cow::Owned(text.chars().filter(|c| !skip(*c)).collect())
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}
