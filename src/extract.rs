//! Stage 2, extract: turn a raw document into a title and a list of text blocks.
//!
//! In: a [`RawDocument`]. Out: a [`Page`]: the title (from the JSON
//! field or `<title>`) and [`Block`]s, the units the cleaner classifies.
//!
//! - HTML is decoded with the charset the page declares (BOM, then `<meta charset>` or
//!   `<meta http-equiv=content-type>`; undeclared pages are UTF-8 if they decode as such,
//!   else windows-1252, as browsers do), parsed with a real HTML parser (html5ever through
//!   `scraper`), and split at block elements (`p`, `div`, `li`, `td`, `h1`–`h6`, `br`, ...).
//!   `script`, `style`, `noscript`, `template` and `head` are dropped. Each block records how
//!   much of its text sits inside links (link density: navigation is mostly links).
//! - Text is split at line breaks. A very long line (text whose whitespace was folded, or a
//!   wall of text) is split further into sentences (Unicode sentence boundaries), so the
//!   cleaner still has units to judge.

use scraper::Node;
use unicode_segmentation::UnicodeSegmentation;

use crate::read::{Content, RawDocument};

/// A unit of text the cleaner keeps or drops as a whole.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Block {
    /// The text, whitespace folded to single spaces.
    pub text: String,
    /// Fraction of the block's non-space characters that sit inside `<a>` links (HTML only;
    /// 0 for text input).
    pub link_density: f32,
    /// True for `h1`–`h6` (and the HTML title is not a block).
    pub heading: bool,
}

impl Block {
    /// A block of plain text.
    pub fn text(text: impl Into<String>) -> Block {
        Block {
            text: text.into(),
            link_density: 0.0,
            heading: false,
        }
    }
}

/// A document after extraction.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Page {
    /// The title, when known.
    pub title: Option<String>,
    /// The blocks in reading order.
    pub blocks: Vec<Block>,
    /// The publication date as the input or the page's metadata gives it (unparsed).
    pub date: Option<String>,
    /// The page's URL as the input gives it, else its canonical URL (`<link
    /// rel="canonical">`, `og:url`).
    pub url: Option<String>,
    /// Whether the page bytes had to be decoded with replacement characters.
    pub lossy: bool,
}

/// Lines longer than this many words are split into sentences: a page whose line breaks were
/// folded away, or a wall of text, still gives the cleaner units to judge. Ordinary
/// paragraphs are far shorter, and sentence segmentation is costly, so they are left whole.
const SENTENCE_SPLIT_WORDS: usize = 250;

/// Extract title and blocks from a raw document. `sentences`: split very long text lines
/// into sentences (what the cleaner needs; pointless work without it).
pub fn extract(doc: &RawDocument, sentences: bool) -> Page {
    match &doc.content {
        Content::Text(text) => Page {
            title: doc.title.clone(),
            blocks: text_blocks(text, sentences),
            date: doc.date.clone(),
            url: doc.url.clone(),
            lossy: false,
        },
        Content::Html(bytes) => {
            let mut page = html_page_with(bytes, doc.charset.as_deref());
            if doc.title.is_some() {
                page.title = doc.title.clone();
            }
            if doc.date.is_some() {
                page.date = doc.date.clone();
            }
            if doc.url.is_some() {
                page.url = doc.url.clone();
            }
            page
        }
    }
}

/// The whole document as one block: what shingling needs when nothing is cleaned (shingles
/// run across block boundaries anyway), without splitting text into lines.
pub fn whole(doc: &RawDocument) -> Page {
    match &doc.content {
        Content::Text(text) => Page {
            title: doc.title.clone(),
            date: doc.date.clone(),
            url: doc.url.clone(),
            blocks: if text.trim().is_empty() {
                Vec::new()
            } else {
                vec![Block::text(text.as_str())]
            },
            lossy: false,
        },
        Content::Html(_) => {
            let mut page = extract(doc, false);
            let texts: Vec<&str> = page.blocks.iter().map(|b| b.text.as_str()).collect();
            let joined = texts.join("\n");
            page.blocks = if joined.is_empty() {
                Vec::new()
            } else {
                vec![Block::text(joined)]
            };
            page
        }
    }
}

/// Split text into blocks: lines, and (with `sentences`) sentences of very long lines.
pub fn text_blocks(text: &str, sentences: bool) -> Vec<Block> {
    let mut blocks = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        // More than N words take at least 2N + 1 bytes: most lines are ruled out by length
        // before words are counted.
        if sentences
            && line.len() > 2 * SENTENCE_SPLIT_WORDS
            && line.split_whitespace().nth(SENTENCE_SPLIT_WORDS).is_some()
        {
            for sentence in line.unicode_sentences() {
                push_folded(&mut blocks, sentence.trim(), 0.0, false);
            }
        } else {
            push_folded(&mut blocks, line, 0.0, false);
        }
    }
    blocks
}

/// Whether `bytes` is non-empty ASCII whose only whitespace is single spaces between
/// words. One branch-free pass over byte pairs (the compiler vectorizes it), where three
/// passes with early exits were 5% of a run's cycles.
fn is_single_spaced_ascii(bytes: &[u8]) -> bool {
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    let other_space = |b: u8| b != b' ' && b.is_ascii_whitespace();
    let odd = |b: u8| !b.is_ascii() | other_space(b);
    let bad = bytes.iter().zip(&bytes[1..]).fold(false, |bad, (&a, &b)| {
        bad | odd(a) | ((a == b' ') & (b == b' '))
    });
    !(bad | odd(last) | (first == b' ') | (last == b' '))
}

fn push_folded(blocks: &mut Vec<Block>, text: &str, link_density: f32, heading: bool) {
    // Most text lines are already single-spaced ASCII: copy them as they are.
    if is_single_spaced_ascii(text.as_bytes()) {
        blocks.push(Block {
            text: text.to_string(),
            link_density,
            heading,
        });
        return;
    }
    let mut folded = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !folded.is_empty() {
            folded.push(' ');
        }
        folded.push_str(word);
    }
    if !folded.is_empty() {
        blocks.push(Block {
            text: folded,
            link_density,
            heading,
        });
    }
}

/// Decode HTML bytes with the page's charset. Returns the text and whether decoding was lossy.
pub fn decode_html(bytes: &[u8]) -> (String, bool) {
    decode_html_with(bytes, None)
}

/// [`decode_html`] with the charset the transport declared (the HTTP `Content-Type` of a
/// WARC response), which, as browsers do, comes after a byte-order mark and before the
/// page's own `<meta>`. An unknown label is ignored.
pub(crate) fn decode_html_with(bytes: &[u8], transport: Option<&str>) -> (String, bool) {
    let transport = transport.and_then(|l| encoding_rs::Encoding::for_label(l.trim().as_bytes()));
    let encoding = encoding_rs::Encoding::for_bom(bytes)
        .map(|(enc, _)| enc)
        .or(transport)
        .or_else(|| declared_charset(bytes))
        .unwrap_or_else(|| {
            if std::str::from_utf8(bytes).is_ok() {
                encoding_rs::UTF_8
            } else {
                encoding_rs::WINDOWS_1252
            }
        });
    let (text, _, lossy) = encoding.decode(bytes);
    (text.into_owned(), lossy)
}

/// The charset a page declares in a `<meta>` tag within its first few kilobytes (the HTML
/// prescan, simplified). UTF-16 declared in a meta tag means UTF-8, as the spec says.
fn declared_charset(bytes: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let head = &bytes[..bytes.len().min(8192)];
    let lower: Vec<u8> = head.iter().map(u8::to_ascii_lowercase).collect();
    let mut from = 0;
    while let Some(pos) = find(&lower[from..], b"<meta") {
        let start = from + pos;
        let end = find(&lower[start..], b">").map_or(lower.len(), |e| start + e);
        let tag = &lower[start..end];
        if let Some(at) = find(tag, b"charset") {
            let mut rest = &tag[at + b"charset".len()..];
            rest = trim_start(rest);
            if let Some(r) = rest.strip_prefix(b"=") {
                let r = trim_start(r);
                let r = r.strip_prefix(b"\"").or(r.strip_prefix(b"'")).unwrap_or(r);
                let len = r
                    .iter()
                    .position(|&c| matches!(c, b'"' | b'\'' | b';' | b' ' | b'/' | b'>'))
                    .unwrap_or(r.len());
                if let Some(enc) = encoding_rs::Encoding::for_label(&r[..len]) {
                    let utf16 = enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE;
                    return Some(if utf16 { encoding_rs::UTF_8 } else { enc });
                }
            }
        }
        from = end;
    }
    None
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &s[n..]
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn is_block_element(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "body"
            | "br"
            | "caption"
            | "center"
            | "dd"
            | "details"
            | "dialog"
            | "div"
            | "dl"
            | "dt"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "form"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "header"
            | "hr"
            | "li"
            | "main"
            | "nav"
            | "ol"
            | "option"
            | "p"
            | "pre"
            | "section"
            | "select"
            | "table"
            | "tbody"
            | "td"
            | "tfoot"
            | "th"
            | "thead"
            | "tr"
            | "ul"
    )
}

fn is_skipped_element(name: &str) -> bool {
    matches!(
        name,
        "script" | "style" | "noscript" | "template" | "head" | "svg" | "iframe" | "object"
    )
}

/// The block being assembled while walking the tree.
#[derive(Default)]
struct Pending {
    text: String,
    chars: usize,
    link_chars: usize,
    heading: bool,
}

impl Pending {
    fn flush(&mut self, blocks: &mut Vec<Block>) {
        if self.chars > 0 {
            let link_density = self.link_chars as f32 / self.chars as f32;
            push_folded(blocks, &self.text, link_density, self.heading);
        }
        *self = Pending::default();
    }
}

/// Elements nested deeper than this are flattened before parsing, as browsers do (Blink
/// stops nesting at 512): the HTML5 tree builder checks "element in scope" over the whole
/// stack of open elements for many tags, which is quadratic on a page of 100,000 nested
/// `<div>`s (31 s for 1.1 MB). Real pages nest a few dozen deep and are never touched.
pub(crate) const MAX_HTML_DEPTH: usize = 512;

/// Elements without an end tag: they never deepen the tree.
const VOID_ELEMENTS: &[&[u8]] = &[
    b"area", b"base", b"br", b"col", b"embed", b"hr", b"img", b"input", b"link", b"meta", b"param",
    b"source", b"track", b"wbr", b"keygen",
];

/// Elements whose content is raw text, holding no tags.
const RAW_TEXT_ELEMENTS: &[&[u8]] = &[
    b"script",
    b"style",
    b"textarea",
    b"title",
    b"xmp",
    b"iframe",
    b"noembed",
    b"noframes",
    b"plaintext",
];

/// Whether a tag name is one of `names`, ignoring ASCII case (no allocation per tag).
fn name_in(name: &[u8], names: &[&[u8]]) -> bool {
    names.iter().any(|n| name.eq_ignore_ascii_case(n))
}

/// One tag found by [`scan_tag`]: where it ends, and whether it opens (+1), closes (-1) or
/// leaves the depth alone (0).
struct Tag {
    end: usize,
    depth_change: i8,
}

/// The tag starting at `at` (a `<`), if it is one: a start or end tag, a comment or a
/// doctype. Raw-text elements (`script`, `style`, ...) are skipped to their end tag.
fn scan_tag(bytes: &[u8], at: usize) -> Option<Tag> {
    let rest = &bytes[at..];
    if rest.starts_with(b"<!--") {
        let end = find_from(bytes, at + 4, b"-->").map_or(bytes.len(), |e| e + 3);
        return Some(Tag {
            end,
            depth_change: 0,
        });
    }
    let (closing, name_start) = match rest.get(1)? {
        b'/' => (true, at + 2),
        b'!' | b'?' => {
            let end = find_from(bytes, at, b">").map_or(bytes.len(), |e| e + 1);
            return Some(Tag {
                end,
                depth_change: 0,
            });
        }
        c if c.is_ascii_alphabetic() => (false, at + 1),
        _ => return None,
    };
    let name_end = bytes[name_start..]
        .iter()
        .position(|c| !c.is_ascii_alphanumeric())
        .map_or(bytes.len(), |p| name_start + p);
    let name = &bytes[name_start..name_end];
    // The end of the tag, skipping quoted attribute values.
    let mut i = name_end;
    let mut quote = None;
    while i < bytes.len() {
        match (quote, bytes[i]) {
            (None, b'"' | b'\'') => quote = Some(bytes[i]),
            (Some(q), c) if c == q => quote = None,
            (None, b'>') => break,
            _ => {}
        }
        i += 1;
    }
    let end = (i + 1).min(bytes.len());
    if closing {
        return Some(Tag {
            end,
            depth_change: -1,
        });
    }
    let self_closing = end >= 2 && bytes[end - 2] == b'/';
    if name_in(name, VOID_ELEMENTS) || self_closing {
        return Some(Tag {
            end,
            depth_change: 0,
        });
    }
    if name_in(name, RAW_TEXT_ELEMENTS) {
        // Raw text: its content holds no tags; jump to the end tag (left for the loop).
        let mut close = b"</".to_vec();
        close.extend_from_slice(name);
        let body_end = find_ignore_case(bytes, end, &close).unwrap_or(bytes.len());
        return Some(Tag {
            end: body_end,
            depth_change: 1,
        });
    }
    Some(Tag {
        end,
        depth_change: 1,
    })
}

fn find_from(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

fn find_ignore_case(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|p| from + p)
}

/// The tags of a page in order, each as `(start, end, depth change, depth after)`, with
/// the nesting depth counted naively from start and end tags: one linear pass, nothing held.
struct TagDepths<'a> {
    bytes: &'a [u8],
    at: usize,
    depth: usize,
}

impl<'a> TagDepths<'a> {
    fn new(bytes: &'a [u8]) -> TagDepths<'a> {
        TagDepths {
            bytes,
            at: 0,
            depth: 0,
        }
    }
}

impl Iterator for TagDepths<'_> {
    type Item = (usize, usize, i8, usize);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let at = self.at + self.bytes[self.at..].iter().position(|&b| b == b'<')?;
            let Some(tag) = scan_tag(self.bytes, at) else {
                self.at = at + 1;
                continue;
            };
            match tag.depth_change {
                1 => self.depth += 1,
                -1 => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
            self.at = tag.end.max(at + 1);
            return Some((at, tag.end, tag.depth_change, self.depth));
        }
    }
}

/// The page with every tag nested deeper than `max_depth` removed (their text stays), or
/// `None` when it never gets that deep. Depth is counted naively from start and end tags,
/// in one linear pass; pages this deep are machine-made, not hand-written.
pub(crate) fn flatten_deep_nesting(html: &str, max_depth: usize) -> Option<String> {
    // Ordinary pages stop here, after one scan that holds nothing.
    if TagDepths::new(html.as_bytes()).all(|(.., depth)| depth <= max_depth) {
        return None;
    }
    let mut out = String::with_capacity(html.len());
    let mut copied = 0;
    for (start, end, change, depth_after) in TagDepths::new(html.as_bytes()) {
        // An opening tag past the cap, or a closing tag that closes one: dropped.
        let too_deep = match change {
            1 => depth_after > max_depth,
            -1 => depth_after >= max_depth,
            _ => false,
        };
        if too_deep && html.is_char_boundary(start) && html.is_char_boundary(end) {
            out.push_str(&html[copied..start]);
            // The dropped tag still separates words.
            out.push(' ');
            copied = end;
        }
    }
    out.push_str(&html[copied..]);
    Some(out)
}

/// The publication date a `<meta>` element gives (`article:published_time`,
/// `datePublished`, `pubdate`, Dublin Core and the like), unparsed.
fn meta_date(el: &scraper::node::Element) -> Option<String> {
    const NAMES: [&str; 10] = [
        "article:published_time",
        "og:article:published_time",
        "datepublished",
        "pubdate",
        "publishdate",
        "publish-date",
        "dc.date",
        "dc.date.issued",
        "date",
        "parsely-pub-date",
    ];
    let key = ["property", "name", "itemprop"]
        .iter()
        .find_map(|a| el.attr(a))?
        .to_ascii_lowercase();
    NAMES
        .contains(&key.as_str())
        .then(|| el.attr("content").map(str::to_string))
        .flatten()
}

/// The canonical URL a `<link rel="canonical">` or `<meta property="og:url">` gives: the
/// address the publisher names for the page, the same on every mirror of it.
fn canonical_url(el: &scraper::node::Element) -> Option<String> {
    let given = match el.name() {
        "link" => el
            .attr("rel")
            .filter(|r| {
                r.split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("canonical"))
            })
            .and_then(|_| el.attr("href")),
        _ => el
            .attr("property")
            .or_else(|| el.attr("name"))
            .filter(|p| p.eq_ignore_ascii_case("og:url"))
            .and_then(|_| el.attr("content")),
    };
    given
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_string)
}

/// Parse an HTML page into title and blocks.
pub fn html_page(bytes: &[u8]) -> Page {
    html_page_with(bytes, None)
}

/// [`html_page`] with the transport's charset ([`decode_html_with`]).
pub(crate) fn html_page_with(bytes: &[u8], transport: Option<&str>) -> Page {
    let (text, lossy) = decode_html_with(bytes, transport);
    let text = match flatten_deep_nesting(&text, MAX_HTML_DEPTH) {
        Some(flat) => flat,
        None => text,
    };
    let html = scraper::Html::parse_document(&text);
    let mut blocks = Vec::new();
    let mut title = None;
    let mut date: Option<String> = None;
    let mut url: Option<String> = None;
    let mut pending = Pending::default();
    let mut skip_depth = 0usize;
    let mut link_depth = 0usize;
    let mut heading_depth = 0usize;
    for edge in html.tree.root().traverse() {
        match edge {
            ego_tree_edge::Open(node) => match node.value() {
                Node::Element(el) => {
                    let name = el.name();
                    if name == "title" && title.is_none() {
                        let t: String = node
                            .children()
                            .filter_map(|c| c.value().as_text().map(|t| t.to_string()))
                            .collect();
                        let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
                        if !t.is_empty() {
                            title = Some(t);
                        }
                    }
                    if name == "meta" && date.is_none() {
                        date = meta_date(el);
                    }
                    if url.is_none() && matches!(name, "link" | "meta") {
                        url = canonical_url(el);
                    }
                    if skip_depth > 0 || is_skipped_element(name) {
                        skip_depth += 1;
                        continue;
                    }
                    if is_block_element(name) {
                        pending.flush(&mut blocks);
                    }
                    if name == "a" {
                        link_depth += 1;
                    }
                    if matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6") {
                        heading_depth += 1;
                        pending.heading = true;
                    }
                }
                Node::Text(t) if skip_depth == 0 => {
                    let chars = t.chars().filter(|c| !c.is_whitespace()).count();
                    pending.chars += chars;
                    if link_depth > 0 {
                        pending.link_chars += chars;
                    }
                    pending.text.push_str(t);
                }
                _ => {}
            },
            ego_tree_edge::Close(node) => {
                if let Node::Element(el) = node.value() {
                    let name = el.name();
                    if skip_depth > 0 {
                        skip_depth -= 1;
                        continue;
                    }
                    if name == "a" {
                        link_depth = link_depth.saturating_sub(1);
                        // Adjacent links are separate words even without whitespace.
                        pending.text.push(' ');
                    }
                    if is_block_element(name) {
                        pending.flush(&mut blocks);
                    } else {
                        // Inline elements (span, td content, ...) still separate words
                        // when the page has no whitespace between them.
                        if matches!(name, "span" | "img" | "label" | "button" | "input") {
                            pending.text.push(' ');
                        }
                    }
                    if matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6") {
                        heading_depth = heading_depth.saturating_sub(1);
                        pending.heading = heading_depth > 0;
                    }
                }
            }
        }
    }
    pending.flush(&mut blocks);
    Page {
        title,
        blocks,
        date,
        url,
        lossy,
    }
}

/// `scraper` re-exports the tree but not the traversal edge; name it once here.
mod ego_tree_edge {
    pub use ego_tree::iter::Edge::{Close, Open};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_spaced_ascii_is_told_from_what_needs_folding() {
        // What the three-pass check it replaced said, on every case that tells them apart.
        let old = |text: &str| {
            let bytes = text.as_bytes();
            !text.is_empty()
                && bytes
                    .iter()
                    .all(|&b| b.is_ascii() && (b == b' ' || !b.is_ascii_whitespace()))
                && bytes[0] != b' '
                && bytes[bytes.len() - 1] != b' '
                && !bytes.windows(2).any(|w| w == b"  ")
        };
        for text in [
            "",
            "a",
            " ",
            "  ",
            "a b",
            "a  b",
            " a",
            "a ",
            "a\tb",
            "a\nb",
            "ab\r",
            "\x0cab",
            "caf\u{e9}",
            "\u{e9}",
            "one two three",
            "x\u{a0}y",
            "a b  ",
            "ab c d e f g",
        ] {
            assert_eq!(
                is_single_spaced_ascii(text.as_bytes()),
                old(text),
                "{text:?}"
            );
        }
    }

    /// The deepest naive nesting of a page (what [`flatten_deep_nesting`] bounds).
    fn depth(html: &str) -> usize {
        TagDepths::new(html.as_bytes())
            .map(|(.., depth)| depth)
            .max()
            .unwrap_or(0)
    }

    /// Issue 8: 100,000 nested `<div>`s took 31 s in the tree builder's scope checks, which
    /// walk the stack of open elements. Flattened, the stack never exceeds the cap, so each
    /// check is bounded and the parse is linear in the page.
    #[test]
    fn deep_nesting_is_flattened_to_the_cap_and_keeps_its_text() {
        let n = 20_000;
        let page = format!(
            "<html><body>{}<p>The <b>minister</b> said so.</p><script>var a = '<div>';</script>{}</body></html>",
            "<div class=\"x>y\">".repeat(n),
            "</div>".repeat(n)
        );
        let flat = flatten_deep_nesting(&page, MAX_HTML_DEPTH).expect("deeper than the cap");
        assert!(depth(&flat) <= MAX_HTML_DEPTH, "{}", depth(&flat));
        let parsed = html_page(page.as_bytes());
        let texts: Vec<_> = parsed.blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(texts, ["The minister said so."]);
        // Ordinary pages are not touched.
        let shallow = "<html><body><div><p>Text <br> more</p><!-- <div> --></div></body></html>";
        assert_eq!(flatten_deep_nesting(shallow, MAX_HTML_DEPTH), None);
        assert_eq!(depth(shallow), 4);
    }

    #[test]
    fn html_blocks_follow_block_elements() {
        let page = html_page(
            b"<html><head><title> A  story </title><style>p{}</style></head><body>\
              <div><a href=x>Home</a> | <a href=y>World</a></div>\
              <p>First <b>para</b>graph.</p><script>var x;</script><p>Second<br>line</p>\
              </body></html>",
        );
        assert_eq!(page.title.as_deref(), Some("A story"));
        let texts: Vec<_> = page.blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(
            texts,
            ["Home | World", "First paragraph.", "Second", "line"]
        );
        assert!(page.blocks[0].link_density > 0.8);
        assert_eq!(page.blocks[1].link_density, 0.0);
    }

    #[test]
    fn charset_from_meta() {
        let bytes = b"<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1251\"></head><body><p>\xcf\xf3\xf2\xe8\xed</p></body></html>";
        let page = html_page(bytes);
        assert_eq!(page.blocks[0].text, "Путин");
        assert!(!page.lossy);
    }

    #[test]
    fn undeclared_non_utf8_is_windows_1252() {
        let page = html_page(b"<p>caf\xe9</p>");
        assert_eq!(page.blocks[0].text, "café");
    }

    #[test]
    fn text_blocks_split_lines_and_long_lines() {
        let blocks = text_blocks("Title\n\n  para one \n", true);
        assert_eq!(blocks, [Block::text("Title"), Block::text("para one")]);
        let long = "Word after word goes on. ".repeat(80);
        assert!(text_blocks(&long, true).len() > 10);
        assert_eq!(text_blocks(&long, false).len(), 1);
    }
}
