//! ZIP bundles for bulk downloads: many documents, one archive, stable names and bytes.

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::RenderError;

/// One file of a bundle.
pub struct BundleEntry<'a> {
    /// Name inside the archive (`2026/F2026-000001.pdf`).
    pub name: String,
    pub bytes: &'a [u8],
}

/// Writes the entries, sorted by name, with a fixed timestamp: the same documents always give
/// the same archive. PDFs are already compressed and are stored; XML is deflated.
pub fn zip_documents(mut entries: Vec<BundleEntry<'_>>) -> Result<Vec<u8>, RenderError> {
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries.dedup_by(|a, b| a.name == b.name);
    let total: usize = entries.iter().map(|e| e.bytes.len()).sum();
    let mut zip = ZipWriter::new(Cursor::new(Vec::with_capacity(total + 1024)));
    let stamp = DateTime::from_date_and_time(2000, 1, 1, 0, 0, 0).map_err(|e| RenderError::Archive(e.to_string()))?;
    for e in &entries {
        let method = if e.name.ends_with(".pdf") { CompressionMethod::Stored } else { CompressionMethod::Deflated };
        let options =
            SimpleFileOptions::default().compression_method(method).last_modified_time(stamp).unix_permissions(0o644);
        zip.start_file(e.name.as_str(), options).map_err(|err| RenderError::Archive(err.to_string()))?;
        zip.write_all(e.bytes).map_err(|err| RenderError::Archive(err.to_string()))?;
    }
    let cursor = zip.finish().map_err(|e| RenderError::Archive(e.to_string()))?;
    Ok(cursor.into_inner())
}

/// Joins archives written by [`zip_documents`] into one, in the order given, copying each entry
/// as it is (no recompression): a large export is built part by part, then assembled.
pub fn merge_archives(parts: &[Vec<u8>]) -> Result<Vec<u8>, RenderError> {
    let total: usize = parts.iter().map(Vec::len).sum();
    let mut out = ZipWriter::new(Cursor::new(Vec::with_capacity(total + 1024)));
    for part in parts {
        let mut archive =
            zip::ZipArchive::new(Cursor::new(part.as_slice())).map_err(|e| RenderError::Archive(e.to_string()))?;
        for i in 0..archive.len() {
            let entry = archive.by_index_raw(i).map_err(|e| RenderError::Archive(e.to_string()))?;
            out.raw_copy_file(entry).map_err(|e| RenderError::Archive(e.to_string()))?;
        }
    }
    let cursor = out.finish().map_err(|e| RenderError::Archive(e.to_string()))?;
    Ok(cursor.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_are_stable_and_readable() {
        let a = zip_documents(vec![
            BundleEntry { name: "b.xml".into(), bytes: b"<x/>" },
            BundleEntry { name: "a.pdf".into(), bytes: b"%PDF-1.7" },
        ])
        .unwrap();
        let b = zip_documents(vec![
            BundleEntry { name: "a.pdf".into(), bytes: b"%PDF-1.7" },
            BundleEntry { name: "b.xml".into(), bytes: b"<x/>" },
        ])
        .unwrap();
        assert_eq!(a, b);
        let mut archive = zip::ZipArchive::new(Cursor::new(a)).unwrap();
        assert_eq!(archive.len(), 2);
        assert_eq!(archive.by_index(0).unwrap().name().unwrap(), "a.pdf");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut archive.by_name("b.xml").unwrap(), &mut text).unwrap();
        assert_eq!(text, "<x/>");
    }

    #[test]
    fn merged_parts_are_the_archive_of_all_their_entries() {
        let whole = zip_documents(vec![
            BundleEntry { name: "a.pdf".into(), bytes: b"%PDF-1.7 a" },
            BundleEntry { name: "b.xml".into(), bytes: b"<b/>" },
            BundleEntry { name: "c.pdf".into(), bytes: b"%PDF-1.7 c" },
        ])
        .unwrap();
        let first = zip_documents(vec![
            BundleEntry { name: "a.pdf".into(), bytes: b"%PDF-1.7 a" },
            BundleEntry { name: "b.xml".into(), bytes: b"<b/>" },
        ])
        .unwrap();
        let second = zip_documents(vec![BundleEntry { name: "c.pdf".into(), bytes: b"%PDF-1.7 c" }]).unwrap();
        let merged = merge_archives(&[first, second]).unwrap();
        assert_eq!(merged, whole, "assembling parts gives the archive written at once");
        assert!(merge_archives(&[b"not a zip".to_vec()]).is_err());
    }
}
