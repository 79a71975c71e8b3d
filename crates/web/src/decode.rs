//! Undoing the encodings attackers hide payloads in: percent-encoding (repeated, `%uXXXX`,
//! overlong UTF-8), HTML entities, JavaScript escapes, look-alike Unicode, and base64.
//!
//! Every function is bounded by its input: decoding only ever shortens text (or keeps its
//! length), and repeated passes stop after [`MAX_URL_PASSES`].

/// Percent-decoding passes: double and triple encoding are common evasions.
const MAX_URL_PASSES: usize = 3;

/// Decodes percent-encoding until nothing changes (at most [`MAX_URL_PASSES`] times);
/// `plus_is_space` for query strings and form bodies.
pub fn url_decode(text: &str, plus_is_space: bool) -> String {
    let mut current = percent_decode_once(text, plus_is_space);
    for _ in 1..MAX_URL_PASSES {
        if !current.contains('%') {
            break;
        }
        let next = percent_decode_once(&current, false);
        if next == current {
            break;
        }
        current = next;
    }
    current
}

/// One pass of `%XX` decoding to raw bytes (`+` left as is): what a server's parser hands
/// the application before any character-set decoding.
pub fn percent_bytes(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One pass of `%XX`, `%uXXXX` and (optionally) `+`; then bytes to text, reading overlong
/// UTF-8 forms (`%c0%ae` for `.`) as the character they spell.
fn percent_decode_once(text: &str, plus_is_space: bool) -> String {
    if !(text.contains('%') || plus_is_space && text.contains('+')) {
        // Already text, and valid UTF-8 holds no overlong form.
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            if let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
            // Nibbles escaped apart (`%5%c` for `%5c`), which IIS put back together.
            if let (Some(h), Some(b'%'), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2),
                bytes.get(i + 3).copied().and_then(hex),
            ) {
                out.push(h << 4 | l);
                i += 4;
                continue;
            }
            if matches!(bytes.get(i + 1), Some(b'u' | b'U'))
                && let Some(code) = bytes
                    .get(i + 2..i + 6)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
            {
                let c = char::from_u32(code).unwrap_or('\u{fffd}');
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                i += 6;
                continue;
            }
        }
        out.push(if plus_is_space && b == b'+' { b' ' } else { b });
        i += 1;
    }
    bytes_to_text(&out)
}

/// Bytes as text: valid UTF-8 as is, overlong forms as the ASCII they encode, other
/// invalid bytes as latin-1 characters (so nothing is silently dropped).
pub fn bytes_to_text(bytes: &[u8]) -> String {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_string();
    }
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let cont = |j: usize| bytes.get(j).is_some_and(|c| (0x80..0xc0).contains(c));
        // Overlong two-byte forms of ASCII (`c0 ae` for `.`, `c0 af` for `/`). Decoders
        // that were exploited with them (IIS, Tomcat) read the second byte's low six bits
        // whatever its top bits (`c1 1c` for `\`), and some drop the lead byte's low bit
        // too, so a dot or a slash in those six bits is read as one.
        if (b == 0xc0 || b == 0xc1) && i + 1 < bytes.len() {
            let next = bytes[i + 1];
            let low = next & 0x3f;
            let overlong = ((b & 0x01) << 6) | low;
            let separator = |c: u8| matches!(c, b'.' | b'/' | b'\\');
            let code = if separator(low) {
                low
            } else if next >= 0x80 || separator(overlong) {
                overlong
            } else {
                // A stray lead byte before plain ASCII: dropped, as lenient decoders do.
                next
            };
            out.push(char::from(code));
            i += 2;
            continue;
        }
        // Longer overlong forms (`e0 80 ae`, `f0 80 80 ae`, `f8 80 80 80 ae`, `fc 80 80 80
        // 80 ae`): a lead byte, continuation bytes carrying only zeros, then the character.
        let extra = match b {
            0xe0 => 2,
            0xf0 => 3,
            0xf8 => 4,
            0xfc => 5,
            _ => 0,
        };
        if extra > 0 && (1..=extra).all(|k| cont(i + k)) {
            let code = bytes[i + 1..=i + extra]
                .iter()
                .fold(0u32, |acc, c| (acc << 6) | u32::from(c & 0x3f));
            if code < 0x80 {
                out.push(char::from(code as u8));
                i += extra + 1;
                continue;
            }
        }
        let len = match b {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => 1,
        };
        if len > 1
            && let Some(s) = bytes
                .get(i..i + len)
                .and_then(|s| std::str::from_utf8(s).ok())
        {
            out.push_str(s);
            i += len;
            continue;
        }
        // A stray lead byte (`%c0.`): IIS and others dropped it.
        if b >= 0xc0 {
            i += 1;
            continue;
        }
        out.push(char::from(b));
        i += 1;
    }
    out
}

/// HTML character references: `&#60;`, `&#x3c;` (the `;` optional, as browsers accept)
/// and the named ones that matter for markup and URLs.
pub fn html_decode(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match entity(rest) {
            Some((c, used)) => {
                out.push(c);
                rest = &rest[used..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character an entity at the start of `text` stands for, and its length.
fn entity(text: &str) -> Option<(char, usize)> {
    let body = &text[1..];
    if let Some(num) = body.strip_prefix('#') {
        let (digits, radix, skip) = match num.strip_prefix(['x', 'X']) {
            Some(h) => (h, 16, 3),
            None => (num, 10, 2),
        };
        let len = digits
            .bytes()
            .take_while(|b| b.is_ascii_hexdigit() && (radix == 16 || b.is_ascii_digit()))
            .take(8)
            .count();
        if len == 0 {
            return None;
        }
        let code = u32::from_str_radix(&digits[..len], radix).ok()?;
        let semi = usize::from(digits[len..].starts_with(';'));
        return Some((
            char::from_u32(code).unwrap_or('\u{fffd}'),
            skip + len + semi,
        ));
    }
    const NAMED: &[(&str, char)] = &[
        ("lt", '<'),
        ("gt", '>'),
        ("quot", '"'),
        ("apos", '\''),
        ("amp", '&'),
        ("colon", ':'),
        ("tab", '\t'),
        ("newline", '\n'),
        ("lpar", '('),
        ("rpar", ')'),
        ("sol", '/'),
        ("bsol", '\\'),
        ("excl", '!'),
        ("period", '.'),
        ("comma", ','),
        ("num", '#'),
        ("equals", '='),
        ("grave", '`'),
        ("nbsp", ' '),
    ];
    let name_len = body.bytes().take_while(u8::is_ascii_alphabetic).count();
    let name = &body[..name_len];
    let (_, c) = NAMED.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))?;
    let semi = usize::from(body[name_len..].starts_with(';'));
    Some((*c, 1 + name_len + semi))
}

/// `text` without `/* … */` comments, which SQL, PHP, JavaScript and CSS parsers all
/// skip between tokens (`document/*x*/.cookie`, `system/**/(ls)`).
pub(crate) fn without_block_comments(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("/*") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("/*") {
        out.push_str(&rest[..at]);
        rest = rest[at + 2..]
            .split_once("*/")
            .map_or("", |(_, after)| after);
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// JavaScript and CSS escapes: `\x3c`, `\u003c`, `\u{3c}`, and CSS `\3c `.
pub fn js_decode(text: &str) -> String {
    if !text.contains('\\') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let rest = &text[i + 1..];
        let (code, used) = if let Some(h) = rest.strip_prefix('x') {
            (h.get(..2).and_then(|h| u32::from_str_radix(h, 16).ok()), 3)
        } else if let Some(h) = rest.strip_prefix("u{") {
            let end = h.find('}').unwrap_or(0);
            (
                h.get(..end).and_then(|h| u32::from_str_radix(h, 16).ok()),
                3 + end,
            )
        } else if let Some(h) = rest.strip_prefix('u') {
            (h.get(..4).and_then(|h| u32::from_str_radix(h, 16).ok()), 5)
        } else if rest.starts_with('0')
            && rest.bytes().take(4).filter(u8::is_ascii_hexdigit).count() == 4
        {
            // CSS: up to six hex digits, then an optional space (`\0075\0072`).
            let len = rest
                .bytes()
                .take(6)
                .take_while(u8::is_ascii_hexdigit)
                .count();
            let space = usize::from(rest[len..].starts_with(' '));
            (u32::from_str_radix(&rest[..len], 16).ok(), len + space)
        } else if rest.len() >= 3
            && rest.as_bytes()[..3]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            (u32::from_str_radix(&rest[..3], 8).ok(), 3)
        } else {
            (None, 0)
        };
        match code.and_then(char::from_u32) {
            Some(decoded) => {
                out.push(decoded);
                for _ in 0..used {
                    chars.next();
                }
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Look-alike characters folded to ASCII: fullwidth forms (`／`, `．`, `＜`), division and
/// set-minus slashes, ideographic space and full stop, circled letters and digits, which
/// some back ends (and IDNA, for host names) normalise before use.
pub fn fold_lookalikes(text: &str) -> String {
    if text.is_ascii() {
        return text.to_string();
    }
    text.chars()
        .map(|c| match c {
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
            '\u{2215}' | '\u{2044}' => '/',
            '\u{2216}' | '\u{fe68}' => '\\',
            '\u{3000}' | '\u{00a0}' => ' ',
            '\u{2024}' | '\u{3002}' | '\u{ff61}' => '.',
            // Circled letters and digits (`ⓛⓞⓒⓐⓛⓗⓞⓢⓣ`, `①②⑦.⓪.⓪.①`), which IDNA maps to
            // ASCII in host names.
            '\u{24d0}'..='\u{24e9}' => char::from_u32(c as u32 - 0x24d0 + 'a' as u32).unwrap_or(c),
            '\u{24b6}'..='\u{24cf}' => char::from_u32(c as u32 - 0x24b6 + 'a' as u32).unwrap_or(c),
            '\u{2460}'..='\u{2468}' => char::from_u32(c as u32 - 0x2460 + '1' as u32).unwrap_or(c),
            '\u{24ea}' => '0',
            // Apostrophes and primes (`1′='1`), which best-fit code-page conversion turns
            // into a quote.
            '\u{02bc}' | '\u{2018}' | '\u{2019}' | '\u{2032}' | '\u{2035}' => '\'',
            c => c,
        })
        .collect()
}

/// The base64 text that stands for `bytes` inside any longer base64 string, at each of the
/// three alignments: only the characters that do not depend on the neighbours.
pub fn base64_offsets(bytes: &[u8]) -> Vec<String> {
    use base64::Engine;
    let mut out = Vec::with_capacity(3);
    for shift in 0..3usize {
        let mut padded = vec![0u8; shift];
        padded.extend_from_slice(bytes);
        let full = base64::engine::general_purpose::STANDARD.encode(&padded);
        let start = [0, 2, 3][shift];
        let end = full.len() - [0, 3, 2][(bytes.len() + shift) % 3];
        if start < end {
            out.push(full[start..end].to_string());
        }
    }
    out
}

/// The text a base64 value decodes to, when it looks like base64 and decodes to mostly
/// printable text (a payload smuggled in an encoded parameter).
pub fn base64_text(text: &str) -> Option<String> {
    // Quotes around it, or the end of the tag it was written into (`…Cg=="/>`).
    let t = text
        .trim()
        .trim_start_matches(['"', '\''])
        .trim_end_matches(['"', '\'', '/', '>']);
    // Several base64 words separated by spaces (`PDxzY3I… PC9zY3JpcHQ`) decode one by one.
    if t.contains(' ') {
        let words: Vec<&str> = t.split_whitespace().collect();
        if words.len() > 8 || words.iter().any(|w| w.len() < 8) {
            return None;
        }
        let decoded: Option<Vec<String>> = words.iter().map(|w| base64_word(w)).collect();
        return decoded.map(|parts| parts.concat());
    }
    base64_word(t)
}

fn base64_word(text: &str) -> Option<String> {
    use base64::Engine;
    let t = text.trim_end_matches('=');
    if t.len() < 8
        || !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_'))
        || t.bytes()
            .all(|b| b.is_ascii_alphanumeric() && b.is_ascii_lowercase())
        || t.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        return None;
    }
    let standard = t.replace('-', "+").replace('_', "/");
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(standard.as_bytes())
        .ok()?;
    let printable = bytes
        .iter()
        .filter(|b| b.is_ascii_graphic() || matches!(b, b' ' | b'\r' | b'\n' | b'\t' | 0))
        .count();
    (printable * 10 >= bytes.len() * 9).then(|| String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_in_all_its_forms() {
        assert_eq!(url_decode("a%20b+c", true), "a b c");
        assert_eq!(url_decode("a+b", false), "a+b");
        assert_eq!(url_decode("..%252f..%252fetc", false), "../../etc");
        assert_eq!(url_decode("%u003cscript%u003e", false), "<script>");
        assert_eq!(url_decode("%c0%ae%c0%ae%c0%af", false), "../");
        assert_eq!(url_decode("%e0%80%ae", false), ".");
        assert_eq!(
            url_decode("%f0%80%80%ae%f8%80%80%80%ae%fc%80%80%80%80%af", false),
            "../"
        );
        assert_eq!(url_decode("%c1%9c", false), "\\");
        assert_eq!(url_decode("%c0%2e%c0%2e/", false), "../");
        assert_eq!(url_decode("%c1%1c%c1%af", false), "\\/");
        assert_eq!(url_decode("caf%C3%A9", false), "café");
        assert_eq!(url_decode("100%", false), "100%");
        assert_eq!(
            url_decode("..%25%35%25%63..%25%32%25%66etc", false),
            "..\\../etc"
        );
    }

    #[test]
    fn entities_escapes_and_lookalikes() {
        assert_eq!(
            html_decode("&lt;a&#62;&#x3C;&#106avascript&colon;"),
            "<a><javascript:"
        );
        assert_eq!(html_decode("fish & chips &copy;"), "fish & chips &copy;");
        assert_eq!(js_decode(r"\x3cscript\u003e\u{61}"), "<script>a");
        assert_eq!(js_decode(r"\141\154ert"), "alert");
        assert_eq!(js_decode(r"url(\006a\0061 vascript"), "url(javascript");
        assert_eq!(js_decode(r"C:\windows"), r"C:\windows");
        assert_eq!(fold_lookalikes("．．／etc"), "../etc");
        assert_eq!(
            base64_text("PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==").as_deref(),
            Some("<script>alert(1)</script>")
        );
        assert_eq!(base64_text("helloworldfoobar"), None);
        assert_eq!(base64_text("1234567890123"), None);
    }
}
