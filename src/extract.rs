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
pub struct Page {
    /// The title, when known.
    pub title: Option<String>,
    /// The blocks in reading order.
    pub blocks: Vec<Block>,
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
            lossy: false,
        },
        Content::Html(bytes) => {
            let mut page = html_page(bytes);
            if doc.title.is_some() {
                page.title = doc.title.clone();
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
        if sentences && line.split_whitespace().nth(SENTENCE_SPLIT_WORDS).is_some() {
            for sentence in line.unicode_sentences() {
                push_folded(&mut blocks, sentence, 0.0, false);
            }
        } else {
            push_folded(&mut blocks, line, 0.0, false);
        }
    }
    blocks
}

fn push_folded(blocks: &mut Vec<Block>, text: &str, link_density: f32, heading: bool) {
    // Most text lines are already single-spaced ASCII: copy them as they are.
    let bytes = text.as_bytes();
    let plain = !text.is_empty()
        && bytes
            .iter()
            .all(|&b| b.is_ascii() && (b == b' ' || !b.is_ascii_whitespace()))
        && bytes[0] != b' '
        && bytes[bytes.len() - 1] != b' '
        && !bytes.windows(2).any(|w| w == b"  ");
    if plain {
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
    let encoding = encoding_rs::Encoding::for_bom(bytes)
        .map(|(enc, _)| enc)
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

/// Parse an HTML page into title and blocks.
pub fn html_page(bytes: &[u8]) -> Page {
    let (text, lossy) = decode_html(bytes);
    let html = scraper::Html::parse_document(&text);
    let mut blocks = Vec::new();
    let mut title = None;
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
