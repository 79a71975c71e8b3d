//! The values of an XML document: its text nodes and attribute values, each named by the
//! path of its element, the way a JSON body gives its strings. Markup (`soap:Envelope`,
//! `xmlns:`, `<link>` in a feed) is how XML is written, not input to judge as HTML; the
//! document as a whole is still checked for what only markup can do (entities, XInclude,
//! processing instructions, script elements and event handlers).
//!
//! This is a reader for well-formed documents only: anything it cannot follow (a tag left
//! open, a stray `<`, an attribute without quotes) makes it give up, and the body is then
//! inspected as one value, as any text would be. What it hands out is bounded: at most
//! `max_values` values, each path cut to [`MAX_PATH`] bytes (element names are as long as
//! the sender likes, and every value repeats the names of the elements around it).

/// One value of a document: the element path (`envelope/body/item`, `item@href`) and the
/// text as written (entities not yet decoded; CDATA as it is).
pub struct XmlValue<'a> {
    pub path: String,
    pub text: &'a str,
}

/// Why a document was not read.
#[derive(Debug, PartialEq, Eq)]
pub enum Unread {
    /// Not well-formed as far as this reader follows XML.
    Malformed,
    /// Elements nested deeper than the limit.
    TooDeep,
}

/// The longest element path a value is named by.
pub const MAX_PATH: usize = 256;

/// The first `max_values` values of `doc`, in document order, or why it was not read.
/// The whole document is read for well-formedness either way.
pub fn values(doc: &str, max_depth: usize, max_values: usize) -> Result<Vec<XmlValue<'_>>, Unread> {
    let b = doc.as_bytes();
    let mut out = Values {
        read: Vec::new(),
        max: max_values,
    };
    let mut open: Vec<&str> = Vec::new();
    let mut seen_element = false;
    let mut i = 0;
    while i < b.len() {
        let Some(lt) = memchr::memchr(b'<', &b[i..]).map(|at| i + at) else {
            text(doc, i, b.len(), &open, &mut out)?;
            break;
        };
        text(doc, i, lt, &open, &mut out)?;
        let rest = &doc[lt..];
        i = if rest.starts_with("<?") {
            lt + end_of(rest, "?>")?
        } else if rest.starts_with("<!--") {
            lt + end_of(rest, "-->")?
        } else if let Some(inner) = rest.strip_prefix("<![CDATA[") {
            let end = inner.find("]]>").ok_or(Unread::Malformed)?;
            out.add(&open, None, &inner[..end]);
            lt + 9 + end + 3
        } else if rest.starts_with("<!") {
            lt + declaration_end(rest)?
        } else if let Some(close) = rest.strip_prefix("</") {
            let len = name_len(close);
            let name = &close[..len];
            if len == 0 || open.pop() != Some(name) {
                return Err(Unread::Malformed);
            }
            let after = close[len..].trim_start();
            if !after.starts_with('>') {
                return Err(Unread::Malformed);
            }
            lt + rest.len() - after.len() + 1
        } else {
            let (name, used, self_closing) = start_tag(rest, &open, &mut out)?;
            seen_element = true;
            if !self_closing {
                if open.len() >= max_depth {
                    return Err(Unread::TooDeep);
                }
                open.push(name);
            }
            lt + used
        };
    }
    if open.is_empty() && seen_element {
        Ok(out.read)
    } else {
        Err(Unread::Malformed)
    }
}

/// The values kept, up to a bound.
struct Values<'a> {
    read: Vec<XmlValue<'a>>,
    max: usize,
}

impl<'a> Values<'a> {
    /// Keeps `text` as the value of the innermost open element, or of its `attribute`
    /// (`element@attribute`), while there is room.
    fn add(&mut self, open: &[&str], attribute: Option<(&str, &str)>, text: &'a str) {
        if self.read.len() >= self.max {
            return;
        }
        let mut path = String::new();
        let elements = open
            .iter()
            .chain(attribute.as_ref().map(|(element, _)| element));
        for (k, element) in elements.enumerate() {
            if k > 0 {
                push_bounded(&mut path, "/");
            }
            push_bounded(&mut path, element);
        }
        if let Some((_, name)) = attribute {
            push_bounded(&mut path, "@");
            push_bounded(&mut path, name);
        }
        self.read.push(XmlValue { path, text });
    }
}

/// Appends as much of `text` as keeps `path` within [`MAX_PATH`] bytes.
fn push_bounded(path: &mut String, text: &str) {
    let room = MAX_PATH.saturating_sub(path.len());
    path.push_str(&text[..text.floor_char_boundary(room)]);
}

/// Text between tags, as a value of the element it is in; whitespace alone is layout.
/// Text outside the root element is not XML.
fn text<'a>(
    doc: &'a str,
    from: usize,
    to: usize,
    open: &[&str],
    out: &mut Values<'a>,
) -> Result<(), Unread> {
    let text = doc[from..to].trim();
    if text.is_empty() {
        return Ok(());
    }
    if open.is_empty() {
        return Err(Unread::Malformed);
    }
    out.add(open, None, text);
    Ok(())
}

/// The length of `rest` up to and including `end`.
fn end_of(rest: &str, end: &str) -> Result<usize, Unread> {
    rest.find(end)
        .map(|at| at + end.len())
        .ok_or(Unread::Malformed)
}

/// The length of a `<!DOCTYPE …>` declaration, its internal subset (`[ … ]`) included.
fn declaration_end(rest: &str) -> Result<usize, Unread> {
    let mut depth = 0usize;
    let mut quote = None;
    for (at, c) in rest.char_indices() {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '<') => depth += 1,
            (None, '>') => {
                depth -= 1;
                if depth == 0 {
                    return Ok(at + 1);
                }
            }
            _ => {}
        }
    }
    Err(Unread::Malformed)
}

/// `name`, `soap:Body`, `x-y.z`: the length of the XML name `text` opens with.
fn name_len(text: &str) -> usize {
    text.bytes()
        .enumerate()
        .take_while(|(at, c)| {
            c.is_ascii_alphabetic()
                || *c == b'_'
                || *c == b':'
                || *c >= 0x80
                || (*at > 0 && (c.is_ascii_digit() || *c == b'-' || *c == b'.'))
        })
        .count()
}

/// A start tag at the opening of `rest`: its name, its length, whether it closes itself;
/// its attribute values go to `out` as `element@attribute`.
fn start_tag<'a>(
    rest: &'a str,
    open: &[&str],
    out: &mut Values<'a>,
) -> Result<(&'a str, usize, bool), Unread> {
    let len = name_len(&rest[1..]);
    if len == 0 {
        return Err(Unread::Malformed);
    }
    let name = &rest[1..1 + len];
    let mut at = 1 + len;
    loop {
        let after = rest[at..].trim_start();
        let spaced = after.len() < rest.len() - at;
        at = rest.len() - after.len();
        if after.starts_with("/>") {
            return Ok((name, at + 2, true));
        }
        if after.starts_with('>') {
            return Ok((name, at + 1, false));
        }
        let attribute = name_len(after);
        if attribute == 0 || !spaced {
            return Err(Unread::Malformed);
        }
        let value = after[attribute..]
            .trim_start()
            .strip_prefix('=')
            .ok_or(Unread::Malformed)?
            .trim_start();
        let quote = value.chars().next().filter(|q| matches!(q, '"' | '\''));
        let quote = quote.ok_or(Unread::Malformed)?;
        let end = value[1..].find(quote).ok_or(Unread::Malformed)?;
        out.add(open, Some((name, &after[..attribute])), &value[1..1 + end]);
        at = rest.len() - value.len() + 1 + end + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(doc: &str) -> Result<Vec<(String, &str)>, Unread> {
        values(doc, 64, 100).map(|v| v.into_iter().map(|x| (x.path, x.text)).collect())
    }

    #[test]
    fn text_nodes_and_attribute_values_are_named_by_their_element() {
        let doc = r#"<?xml version="1.0"?>
            <!-- a feed -->
            <rss version="2.0"><channel><title>Where's the beef?</title>
            <link href='https://example.com/a?id=1&amp;b=2'/>
            <description><![CDATA[<p>Hello</p>]]></description></channel></rss>"#;
        assert_eq!(
            read(doc).unwrap(),
            vec![
                ("rss@version".to_string(), "2.0"),
                ("rss/channel/title".to_string(), "Where's the beef?"),
                (
                    "rss/channel/link@href".to_string(),
                    "https://example.com/a?id=1&amp;b=2"
                ),
                ("rss/channel/description".to_string(), "<p>Hello</p>"),
            ]
        );
    }

    #[test]
    fn a_doctype_with_an_internal_subset_is_skipped_as_markup() {
        let doc = r#"<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>"#;
        assert_eq!(read(doc).unwrap(), vec![("a".to_string(), "&x;")]);
    }

    #[test]
    fn anything_but_well_formed_xml_is_left_unread() {
        for doc in [
            "<script>alert(1)</script",       // a tag left open
            "<img src=x onerror=alert(1)>",   // an attribute without quotes
            "<a><b></a></b>",                 // crossed elements
            "<a>1</a><b>2</b> trailing text", // text outside the root
            "plain text",
            "<a>unclosed",
            "<a x='1'y='2'/>", // attributes not separated
        ] {
            assert_eq!(read(doc), Err(Unread::Malformed), "{doc}");
        }
        let deep = format!("{}{}", "<a>".repeat(10), "</a>".repeat(10));
        assert_eq!(values(&deep, 5, 100).err(), Some(Unread::TooDeep));
    }

    #[test]
    fn what_a_document_hands_out_is_bounded() {
        // Two thousand values under elements with long names: the first hundred are kept,
        // each named by a path cut to its bound, and the document is still read whole.
        let name = "n".repeat(1000);
        let item = format!("<{name} x='1'>v</{name}>");
        let doc = format!("<{name}>{}</{name}>", item.repeat(1_000));
        let read = values(&doc, 64, 100).unwrap();
        assert_eq!(read.len(), 100);
        assert!(read.iter().all(|v| v.path.len() <= MAX_PATH), "paths cut");
        assert_eq!(read[0].path, name[..MAX_PATH]);
        // A document that is not well-formed past the bound is still refused.
        assert_eq!(
            values(&format!("{doc}<"), 64, 100).err(),
            Some(Unread::Malformed)
        );
        // A name cut inside a character keeps whole characters.
        let wide = "é".repeat(200);
        let doc = format!("<{wide}>v</{wide}>");
        let read = values(&doc, 64, 10).unwrap();
        assert!(read[0].path.len() <= MAX_PATH && read[0].path.chars().all(|c| c == 'é'));
    }
}
