//! The embedded font: DejaVu Sans (Bitstream Vera licence, see `fonts/LICENSE-DejaVu.txt`),
//! compiled into the binary — nothing is read from the system. Bold text is the same face
//! drawn with a thin outline (PDF text render mode 2): one embedded subset instead of two
//! keeps a typical invoice near 20 KB.
//!
//! Subsetting a font costs milliseconds, so the subset of the characters nearly every invoice
//! uses (Latin-1, €, French typography) is prepared once per process, already deflated, and
//! reused. A document that needs other characters (Polish, Greek, symbols…) gets its own
//! subset of the common set plus those. A character the font does not have at all is printed
//! as its code point (`[U+4E2D]`) — visible, never a silent blank.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

use sha2::{Digest, Sha256};
use subsetter::GlyphRemapper;

use crate::RenderError;

const REGULAR_TTF: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// How text is drawn: plain, or bold (the same glyphs, filled and outlined).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Face {
    Regular,
    Bold,
}

/// One parsed face: glyph lookup and metrics, in font units.
pub struct FontFace {
    pub data: &'static [u8],
    pub postscript_name: &'static str,
    pub units_per_em: u16,
    pub ascent: i16,
    pub descent: i16,
    pub cap_height: i16,
    /// OS/2 weight class (400 for the regular face).
    pub weight_class: u16,
    pub bbox: [i16; 4],
    glyphs: BTreeMap<char, (u16, u16)>,
    /// The same for the first code points, by index (`NO_GLYPH` where the font has none): the
    /// layout measures every character, and a map lookup per character was most of its time.
    low: Vec<(u16, u16)>,
    /// The subset every document starts from, prepared once.
    common: OnceLock<Result<PreparedSubset, RenderError>>,
    /// The last subsets prepared for characters beyond the common ones, by glyph set: a
    /// seller's catalogue repeats, so the same product titles come back run after run.
    recent: Mutex<VecDeque<(BTreeSet<u16>, PreparedSubset)>>,
}

/// Code points below this are looked up by index (Latin, Greek, Cyrillic, punctuation,
/// symbols and dingbats; 48 KB).
const LOW_CHARS: usize = 0x2800;
const NO_GLYPH: (u16, u16) = (u16::MAX, 0);

/// Subsets kept beyond the common one (each about 25 KB).
const RECENT_SUBSETS: usize = 32;

/// A subset ready to be embedded: its program deflated once, its glyph numbering.
#[derive(Debug, Clone)]
pub struct PreparedSubset {
    /// Six capital letters naming the subset (`ABCDEF+DejaVuSans`).
    pub tag: String,
    /// The subset program (TrueType), deflated.
    pub font_file: Vec<u8>,
    /// Length of the font program before deflating (`/Length1`).
    pub font_file_len: usize,
    /// Original glyph id → glyph id in the subset.
    pub cids: BTreeMap<u16, u16>,
}

/// Characters nearly every French invoice uses.
fn common_chars() -> impl Iterator<Item = char> {
    ('\u{20}'..='\u{7e}')
        .chain('\u{a0}'..='\u{ff}')
        .chain(['\u{152}', '\u{153}', '\u{178}', '\u{20ac}', '\u{2019}', '\u{201c}', '\u{201d}'])
        .chain(['\u{2013}', '\u{2014}', '\u{2026}', '\u{202f}', '\u{2022}'])
}

impl FontFace {
    fn parse(data: &'static [u8], postscript_name: &'static str) -> Result<FontFace, RenderError> {
        let parsed = ttf_parser::Face::parse(data, 0).map_err(|e| RenderError::Font(e.to_string()))?;
        let mut glyphs = BTreeMap::new();
        if let Some(cmap) = parsed.tables().cmap {
            for sub in cmap.subtables.into_iter().filter(|s| s.is_unicode()) {
                sub.codepoints(|cp| {
                    if let (Some(ch), Some(gid)) = (char::from_u32(cp), sub.glyph_index(cp)) {
                        let adv = parsed.glyph_hor_advance(gid).unwrap_or(0);
                        glyphs.entry(ch).or_insert((gid.0, adv));
                    }
                });
            }
        }
        let bbox = parsed.global_bounding_box();
        let mut low = vec![NO_GLYPH; LOW_CHARS];
        for (ch, g) in &glyphs {
            if let Some(slot) = low.get_mut(*ch as usize) {
                *slot = *g;
            }
        }
        Ok(FontFace {
            data,
            postscript_name,
            units_per_em: parsed.units_per_em(),
            ascent: parsed.ascender(),
            descent: parsed.descender(),
            cap_height: parsed.capital_height().unwrap_or(parsed.ascender()),
            weight_class: parsed.weight().to_number(),
            bbox: [bbox.x_min, bbox.y_min, bbox.x_max, bbox.y_max],
            glyphs,
            low,
            common: OnceLock::new(),
            recent: Mutex::new(VecDeque::new()),
        })
    }

    /// The glyph id and advance of a character, if the font has it.
    pub fn glyph(&self, ch: char) -> Option<(u16, u16)> {
        match self.low.get(ch as usize) {
            Some(&g) if g == NO_GLYPH => None,
            Some(&g) => Some(g),
            None => self.glyphs.get(&ch).copied(),
        }
    }

    pub fn has(&self, ch: char) -> bool {
        self.glyph(ch).is_some()
    }

    /// Width of a string at a size, in points (characters the font lacks count as nothing:
    /// [`printable`] replaces them first).
    pub fn width(&self, text: &str, size: f32) -> f32 {
        let units: u32 = text.chars().filter_map(|c| self.glyph(c)).map(|(_, adv)| u32::from(adv)).sum();
        units as f32 * size / f32::from(self.units_per_em)
    }

    fn common_gids(&self) -> BTreeSet<u16> {
        common_chars().filter_map(|c| self.glyph(c)).map(|(g, _)| g).collect()
    }

    /// The prepared subset of the common characters (computed on first use).
    pub fn common_subset(&self) -> Result<&PreparedSubset, RenderError> {
        self.common.get_or_init(|| self.prepare(&self.common_gids())).as_ref().map_err(Clone::clone)
    }

    /// The subset for a document using `chars`: the prepared one when it covers them all.
    pub fn subset_for(&self, chars: &BTreeSet<char>) -> Result<std::borrow::Cow<'_, PreparedSubset>, RenderError> {
        let common = self.common_subset()?;
        let extra: BTreeSet<u16> = chars
            .iter()
            .filter_map(|c| self.glyph(*c))
            .map(|(g, _)| g)
            .filter(|g| !common.cids.contains_key(g))
            .collect();
        if extra.is_empty() {
            return Ok(std::borrow::Cow::Borrowed(common));
        }
        {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(hit) = recent.iter().position(|(k, _)| *k == extra).and_then(|i| recent.remove(i)) {
                let out = hit.1.clone();
                recent.push_front(hit);
                return Ok(std::borrow::Cow::Owned(out));
            }
        }
        let mut all = self.common_gids();
        all.extend(extra.iter().copied());
        let prepared = self.prepare(&all)?;
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.push_front((extra, prepared.clone()));
        recent.truncate(RECENT_SUBSETS);
        Ok(std::borrow::Cow::Owned(prepared))
    }

    fn prepare(&self, gids: &BTreeSet<u16>) -> Result<PreparedSubset, RenderError> {
        let sorted: Vec<u16> = gids.iter().copied().collect();
        let remapper = GlyphRemapper::new_from_glyphs_sorted(&sorted);
        let program = subsetter::subset(self.data, 0, &remapper).map_err(|e| RenderError::Font(e.to_string()))?;
        let program = crate::hinting::strip_hinting(&program)?;
        let mut cids = BTreeMap::new();
        for gid in remapper.remapped_gids() {
            if let Some(new) = remapper.get(gid) {
                cids.insert(gid, new);
            }
        }
        let mut hasher = Sha256::new();
        hasher.update(self.postscript_name.as_bytes());
        for g in &sorted {
            hasher.update(g.to_be_bytes());
        }
        let digest = hasher.finalize();
        let tag: String = digest.iter().take(6).map(|b| char::from(b'A' + b % 26)).collect();
        Ok(PreparedSubset { tag, font_file_len: program.len(), font_file: crate::pdf::deflate(&program), cids })
    }

    /// The font as printpdf takes it for one document: the subset's name and metrics, and the
    /// characters the document uses mapped to their glyphs in the subset with their advances.
    /// printpdf writes the font's dictionaries (descriptor, `/W`, ToUnicode) from these. Its
    /// program stream is filled by the Factur-X pass with the prepared, already deflated
    /// subset, so printpdf is handed only the sfnt version tag that marks a TrueType program:
    /// copying, parsing and compressing the program again for every document cost more than
    /// the rest of the page.
    pub fn printpdf_font(&self, subset: &PreparedSubset, used: &BTreeSet<char>) -> printpdf::ParsedFont {
        let mut codepoint_to_glyph = BTreeMap::new();
        let mut glyph_widths = BTreeMap::new();
        for ch in used {
            if let Some((gid, advance)) = self.glyph(*ch)
                && let Some(&cid) = subset.cids.get(&gid)
            {
                codepoint_to_glyph.insert(u32::from(*ch), cid);
                glyph_widths.insert(cid, advance);
            }
        }
        printpdf::ParsedFont {
            original_bytes: TRUETYPE_TAG.to_vec(),
            font_index: 0,
            font_name: Some(format!("{}+{}", subset.tag, self.postscript_name)),
            codepoint_to_glyph,
            glyph_widths,
            units_per_em: self.units_per_em,
            font_metrics: printpdf::FontMetrics { ascent: self.ascent, descent: self.descent },
            font_type: printpdf::FontType::TrueType,
            pdf_font_metrics: printpdf::PdfFontMetricsStub {
                units_per_em: self.units_per_em,
                x_min: self.bbox[0],
                y_min: self.bbox[1],
                x_max: self.bbox[2],
                y_max: self.bbox[3],
                caret_slope_rise: 1,
                caret_slope_run: 0,
                us_weight_class: self.weight_class,
            },
        }
    }
}

/// The sfnt version tag of a TrueType program.
const TRUETYPE_TAG: [u8; 4] = [0, 1, 0, 0];

/// The embedded font, parsed once per process.
pub struct FontFamily {
    pub regular: FontFace,
}

impl FontFamily {
    /// The font program that draws a face (one program for both).
    pub fn face(&self, _face: Face) -> &FontFace {
        &self.regular
    }
}

static FAMILY: OnceLock<Result<FontFamily, RenderError>> = OnceLock::new();

/// The embedded family (parsed on first use).
pub fn family() -> Result<&'static FontFamily, RenderError> {
    FAMILY
        .get_or_init(|| Ok(FontFamily { regular: FontFace::parse(REGULAR_TTF, "DejaVuSans")? }))
        .as_ref()
        .map_err(Clone::clone)
}

/// The text as it will be printed: characters the font lacks become `[U+XXXX]`.
pub fn printable(face: &FontFace, text: &str) -> String {
    if text.chars().all(|c| face.has(c)) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if face.has(c) {
            out.push(c);
        } else {
            let _ = write!(out, "[U+{:04X}]", u32::from(c));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_font_covers_french_european_and_greek_text() {
        let f = family().unwrap();
        for c in "àâçéèêëîïôûùüÿœæ€«» ŁłżźćńąęśŚ ÄÖÜß ΑΒΓαβγ ≥±✓♻Ø".chars()
        {
            assert!(f.regular.has(c), "regular lacks {c}");
        }
    }

    #[test]
    fn missing_characters_become_visible_code_points() {
        let f = family().unwrap();
        assert_eq!(printable(&f.regular, "Thé 中"), "Thé [U+4E2D]");
    }

    #[test]
    fn the_common_subset_is_reused_and_extra_characters_get_their_own() {
        let f = family().unwrap();
        let latin: BTreeSet<char> = "Théière €".chars().collect();
        assert!(matches!(f.regular.subset_for(&latin).unwrap(), std::borrow::Cow::Borrowed(_)));
        let polish: BTreeSet<char> = "Łódź".chars().collect();
        let sub = f.regular.subset_for(&polish).unwrap();
        let (gid, _) = f.regular.glyph('Ł').unwrap();
        assert!(sub.cids.contains_key(&gid));
        assert!(matches!(sub, std::borrow::Cow::Owned(_)));
    }
}
