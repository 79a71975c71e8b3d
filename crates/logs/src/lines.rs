//! Reading log files line by line with a bound on line length.

use crate::ReadStats;
use std::io::BufRead;

/// Longest line read; longer ones are skipped (without holding them in memory).
pub(crate) const MAX_LINE: usize = 4 << 20;

/// Calls `each` with the number and bytes (without the newline) of every line no longer
/// than [`MAX_LINE`]; longer lines are counted as problems and skipped.
pub(crate) fn for_each_line(
    mut reader: impl BufRead,
    stats: &mut ReadStats,
    mut each: impl FnMut(u64, &[u8], &mut ReadStats),
) -> std::io::Result<()> {
    let mut line = Vec::new();
    let mut line_no = 0u64;
    loop {
        line.clear();
        line_no += 1;
        match read_bounded_line(&mut reader, &mut line)? {
            None => return Ok(()),
            Some(false) => stats.problem(format!("line {line_no}: longer than {MAX_LINE} bytes")),
            Some(true) => each(line_no, &line, stats),
        }
    }
}

/// Reads one line (without its newline) into `line`, keeping at most [`MAX_LINE`] bytes.
/// `None` at end of file; `Some(false)` when the line was longer and its rest was skipped.
pub(crate) fn read_bounded_line(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
) -> std::io::Result<Option<bool>> {
    let mut seen_any = false;
    let mut complete = true;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(seen_any.then_some(complete));
        }
        seen_any = true;
        let (chunk, found_newline) = match memchr::memchr(b'\n', buf) {
            Some(i) => (&buf[..i], true),
            None => (buf, false),
        };
        if complete && line.len() + chunk.len() <= MAX_LINE {
            line.extend_from_slice(chunk);
        } else {
            complete = false;
            line.clear();
        }
        let used = chunk.len() + usize::from(found_newline);
        reader.consume(used);
        if found_newline {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(Some(complete));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlong_lines_are_skipped_without_losing_the_next_ones() {
        let mut text = String::from("{\"message\": \"first\"}\n");
        text.push_str(&"x".repeat(MAX_LINE + 10));
        text.push_str("\n{\"message\": \"third\"}\r\n");
        let reader = std::io::BufReader::with_capacity(64, text.as_bytes());
        let mut stats = ReadStats::default();
        let mut got = Vec::new();
        for_each_line(reader, &mut stats, |n, line, _| {
            got.push((n, String::from_utf8(line.to_vec()).unwrap()))
        })
        .unwrap();
        assert_eq!(
            got,
            vec![
                (1, "{\"message\": \"first\"}".to_string()),
                (3, "{\"message\": \"third\"}".to_string())
            ]
        );
        assert_eq!(stats.skipped, 1);
        assert!(stats.problems[0].starts_with("line 2: longer than"));
    }
}
