//! The first pass's shingle values, kept on disk for the second.
//!
//! `dedup` and `clusters` sign every page in a first pass and keep only signatures, so that
//! memory follows the number of pages, not their text; exact verification then needs the
//! shingle sets of the pages in candidate pairs. Rebuilding them means reading, parsing,
//! cleaning, tokenizing and shingling those pages again, about a third of a run. Instead,
//! the first pass appends each page's values (4 bytes each, as shingling gave them) to an
//! anonymous temporary file, and the second reads back just the ones it needs.
//!
//! The file is unlinked as soon as it is made (`tempfile::tempfile`), so nothing is left
//! behind, even by a killed run; its pages live in the operating system's page cache, not
//! in the process's memory. It holds at most [`SPILL_BUDGET`] bytes. Past the budget, or
//! when the temporary directory cannot be written (full, read-only), later pages are simply
//! not spilled and the second read rebuilds them from the input as before: the spill only
//! ever saves work, it never decides anything.

use std::fs::File;
use std::io::Write;
#[cfg(unix)]
use std::os::unix::fs::FileExt;
#[cfg(windows)]
use std::os::windows::fs::FileExt;

use crate::document::Doc;
use crate::shingle::{append_values_bytes, values_from_bytes};

/// Bytes of shingle values a run keeps on disk at most: about 2M pages of news
/// (2 KB each), so a run of up to a few million pages reads its input once. Pages beyond
/// it are rebuilt from the input by the second read.
pub(crate) const SPILL_BUDGET: u64 = 4 << 30;

/// Marks a page whose values are not in the spill.
const NOT_SPILLED: u64 = u64::MAX;

/// Values a page may spill: the count's 24 bits. A page with more (a shingle set of 16M
/// values is some 100 MB of text, past `--max-bytes`) is rebuilt from the input.
const MAX_VALUES: usize = (1 << 24) - 1;

/// Where each page's values are, by input position.
pub(crate) struct Spill {
    file: Option<File>,
    /// Set when a write failed: nothing more is written; what was written stays readable.
    stopped: bool,
    written: u64,
    budget: u64,
    /// Per page, its offset (the high 40 bits) and count of values (the low 24), or
    /// [`NOT_SPILLED`]: 8 bytes a page, not 16, as a 1M-page run holds a million of them.
    at: Vec<u64>,
}

impl Spill {
    /// A spill into a fresh anonymous file in the temporary directory (`TMPDIR`), holding at
    /// most `budget` bytes. When no file can be made, nothing is spilled.
    pub(crate) fn new(budget: u64) -> Spill {
        Spill {
            file: tempfile::tempfile().ok(),
            stopped: false,
            written: 0,
            budget,
            at: Vec::new(),
        }
    }

    /// Append the values of a chunk of documents (the next ones in input order), emptying
    /// each document's [`Doc::values`].
    pub(crate) fn push(&mut self, docs: &mut [Doc]) {
        let first = self.at.len();
        let mut bytes: Vec<u8> = Vec::new();
        let mut at = Vec::with_capacity(docs.len());
        for d in docs.iter_mut() {
            let values = std::mem::take(&mut d.values);
            let size = values.len() as u64 * 4;
            if self.file.is_none()
                || self.stopped
                || d.signature.is_none()
                || values.len() > MAX_VALUES
                || self.written + bytes.len() as u64 + size > self.budget
            {
                at.push(NOT_SPILLED);
                continue;
            }
            let offset = self.written + bytes.len() as u64;
            at.push(offset << 24 | values.len() as u64);
            append_values_bytes(&values, &mut bytes);
        }
        self.at.extend(at);
        if bytes.is_empty() {
            return;
        }
        let wrote = match &mut self.file {
            Some(file) => file.write_all(&bytes).is_ok(),
            None => false,
        };
        if wrote {
            self.written += bytes.len() as u64;
        } else {
            // A failed write (the disk full) may have left part of the chunk: none of it is
            // read, and nothing more is spilled; the earlier chunks are still read back.
            self.stopped = true;
            for slot in &mut self.at[first..] {
                *slot = NOT_SPILLED;
            }
        }
    }

    /// Whether document `doc`'s values were spilled.
    pub(crate) fn has(&self, doc: usize) -> bool {
        self.file.is_some() && self.at.get(doc).is_some_and(|&at| at != NOT_SPILLED)
    }

    /// Document `doc`'s values as shingling gave them, or `None` when they were not spilled
    /// or cannot be read back.
    pub(crate) fn values(&self, doc: usize) -> Option<Vec<u32>> {
        let at = *self.at.get(doc)?;
        if at == NOT_SPILLED {
            return None;
        }
        let (offset, count) = (at >> 24, at & MAX_VALUES as u64);
        let file = self.file.as_ref()?;
        let mut bytes = vec![0u8; count as usize * 4];
        read_at(file, &mut bytes, offset).ok()?;
        values_from_bytes(&bytes)
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    file.read_exact_at(buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        match file.seek_read(buf, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{Retain, prepare_text, sign_keeping};
    use crate::minhash::MinHasher;
    use crate::params::Params;

    /// A signed document carrying `values` (or a skipped one, when not `signed`).
    fn doc(values: Vec<u32>, signed: bool) -> Doc {
        let text = if signed {
            "one two three four five six seven eight nine ten eleven twelve"
        } else {
            ""
        };
        let params = Params::dedup();
        let page = prepare_text("d", text, &params);
        let hasher = MinHasher::new(&params.minhash);
        let mut d = sign_keeping(&page, &params, &hasher, Retain::Values);
        assert_eq!(d.signature.is_some(), signed);
        d.values = values;
        d
    }

    #[test]
    fn values_come_back_as_they_went_in() {
        let mut spill = Spill::new(1 << 20);
        let mut first = vec![doc(vec![5, 1, 5, 9], true), doc(vec![], false)];
        let mut second = vec![doc(vec![u32::MAX, 0], true)];
        spill.push(&mut first);
        spill.push(&mut second);
        assert!(
            first[0].values.is_empty(),
            "the chunk's values are moved out"
        );
        assert_eq!(spill.values(0), Some(vec![5, 1, 5, 9]));
        assert_eq!(spill.values(1), None, "a skipped page is not spilled");
        assert!(!spill.has(1));
        assert_eq!(spill.values(2), Some(vec![u32::MAX, 0]));
        assert_eq!(spill.values(3), None, "past the end");
        assert_eq!(spill.written, 24);
    }

    /// A full disk: the write fails, the chunk is not claimed, and nothing more is written.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_write_stops_the_spill_and_claims_nothing() {
        let full = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/full")
            .unwrap();
        let mut spill = Spill {
            file: Some(full),
            stopped: false,
            written: 0,
            budget: 1 << 20,
            at: Vec::new(),
        };
        let mut docs = vec![doc(vec![1, 2, 3], true)];
        spill.push(&mut docs);
        assert!(spill.stopped);
        assert!(!spill.has(0));
        assert_eq!(spill.values(0), None);
        let mut more = vec![doc(vec![4], true)];
        spill.push(&mut more);
        assert!(!spill.has(1), "nothing is written after a failure");
        assert_eq!(spill.written, 0);
    }

    #[test]
    fn pages_past_the_budget_are_not_spilled() {
        let mut spill = Spill::new(12);
        let mut docs = vec![
            doc(vec![1, 2], true),
            doc(vec![3, 4], true),
            doc(vec![5], true),
        ];
        spill.push(&mut docs);
        assert_eq!(spill.values(0), Some(vec![1, 2]));
        assert!(!spill.has(1), "8 + 8 bytes is over 12");
        assert_eq!(spill.values(1), None);
        assert_eq!(spill.values(2), Some(vec![5]), "a smaller page still fits");
        assert_eq!(spill.written, 12);
    }
}
