//! The Factur-X PDF/A-3b of an invoice, in two steps:
//!
//! 1. **printpdf** turns the laid-out pages into a PDF object graph: pages, content streams,
//!    and the Type0 font (descriptor, `/W`, ToUnicode) of the subset [`crate::font`] prepared.
//! 2. **The Factur-X pass**, on the `lopdf::Document` printpdf hands over before anything is
//!    written, adds what printpdf does not make: the CII XML attached as `factur-x.xml`
//!    (`/EmbeddedFiles`, `/AF`, `/AFRelationship /Data`), the XMP metadata with PDF/A-3B
//!    identification and the Factur-X extension schema, the sRGB output intent, the subset tag
//!    on the font name, the `/Info` dictionary matching the XMP, and ids derived from the
//!    invoice. It also compresses the streams (the font program arrives already deflated).
//!
//! Everything that could vary is derived from the invoice (no clock, no counter, no random
//! id), so the same invoice always gives the same bytes.

use std::collections::BTreeSet;

use lopdf::{Dictionary, Object, ObjectId, Stream, StringFormat};
use marketbill_domain::Invoice;
use marketbill_domain::calendar::iso_date;
use printpdf::{
    Color, CustomPdfConformance, FontId, Greyscale, Line, LinePoint, Op, PaintMode, PdfConformance, PdfDocument,
    PdfFont, PdfFontHandle, PdfPage, PdfSaveOptions, Point, Pt, Rect, TextItem, TextRenderingMode,
};
use sha2::{Digest, Sha256};

use crate::RenderError;
use crate::font::{Face, FontFamily, PreparedSubset};
use crate::layout::{Draw, PAGE_HEIGHT, PAGE_WIDTH, Page};

/// The published compact sRGB profile of the output intent (CC0, see `icc/LICENSE-CC0.txt`).
const SRGB_PROFILE: &[u8] = include_bytes!("../icc/sRGB-v2-magic.icc");

/// The resource name of the one embedded font (fixed: printpdf would draw a random one).
const FONT_RESOURCE: &str = "F1";

const PRODUCER: &str = "Marketbill";

/// zlib (FlateDecode) compression, for what is compressed once (the font program, its map).
pub fn deflate(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(data, 6)
}

thread_local! {
    /// One compressor per thread, reset between streams: a new one is a large fresh
    /// allocation (page faults, zeroing) that cost more than compressing a page's content.
    static COMPRESSOR: std::cell::RefCell<flate2::Compress> =
        std::cell::RefCell::new(flate2::Compress::new(flate2::Compression::new(1), true));
}

/// zlib compression of the per-document streams (content streams, the CII XML), at level 1:
/// zlib-rs's quick strategy took a fifth off the rendering of a 3-line invoice against level 3,
/// for 1.6 KB more (25.2 KB, under the 30 KB the PDF is allowed).
fn deflate_fast(data: &[u8]) -> Vec<u8> {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        c.reset();
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        loop {
            let consumed = usize::try_from(c.total_in()).unwrap_or(usize::MAX).min(data.len());
            match c.compress_vec(&data[consumed..], &mut out, flate2::FlushCompress::Finish) {
                Ok(flate2::Status::StreamEnd) => break,
                Ok(_) => out.reserve(out.capacity().max(1024)),
                // Cannot happen with a finished input; fall back to the one-shot call.
                Err(_) => return miniz_oxide::deflate::compress_to_vec_zlib(data, 3),
            }
        }
        out
    })
}

fn gray(level: f32) -> Color {
    Color::Greyscale(Greyscale { percent: level, icc_profile: None })
}

fn point(x: f32, y: f32) -> LinePoint {
    LinePoint { p: Point { x: Pt(x), y: Pt(y) }, bezier: false }
}

/// The graphics and text state already set in a content stream, so that an operation is
/// written only when it changes something (text state outlives text objects).
#[derive(Default)]
struct Pen {
    fill: Option<f32>,
    stroke: Option<f32>,
    line_width: Option<f32>,
    size: Option<f32>,
    bold: Option<bool>,
    in_text: bool,
}

impl Pen {
    fn fill(&mut self, ops: &mut Vec<Op>, level: f32) {
        if self.fill != Some(level) {
            self.fill = Some(level);
            ops.push(Op::SetFillColor { col: gray(level) });
        }
    }

    fn stroke(&mut self, ops: &mut Vec<Op>, level: f32, width: f32) {
        if self.stroke != Some(level) {
            self.stroke = Some(level);
            ops.push(Op::SetOutlineColor { col: gray(level) });
        }
        if self.line_width != Some(width) {
            self.line_width = Some(width);
            ops.push(Op::SetOutlineThickness { pt: Pt(width) });
        }
    }

    fn text(&mut self, ops: &mut Vec<Op>, on: bool) {
        if on != self.in_text {
            self.in_text = on;
            ops.push(if on { Op::StartTextSection } else { Op::EndTextSection });
        }
    }
}

/// printpdf operations for one laid-out page. Each string is a text object of its own,
/// placed by a text cursor move (`Td`) from the origin that starting a text object resets to:
/// two numbers written instead of a text matrix's six (formatting numbers was a third of the
/// content stream's encoding), and the text state (font, size, mode, colours) carries over
/// from one text object to the next.
fn page_ops(page: &Page) -> Vec<Op> {
    let font = PdfFontHandle::External(FontId(FONT_RESOURCE.to_owned()));
    let mut ops = Vec::with_capacity(page.len() * 3 + 8);
    let mut pen = Pen::default();
    for d in page {
        match d {
            Draw::Fill { x, y, w, h, gray: level } => {
                pen.text(&mut ops, false);
                pen.fill(&mut ops, *level);
                ops.push(Op::DrawRectangle {
                    rectangle: Rect {
                        x: Pt(*x),
                        y: Pt(*y),
                        width: Pt(*w),
                        height: Pt(*h),
                        mode: Some(PaintMode::Fill),
                        winding_order: None,
                    },
                });
            }
            Draw::Rule { x1, y1, x2, y2, width, gray: level } => {
                pen.text(&mut ops, false);
                pen.stroke(&mut ops, *level, *width);
                ops.push(Op::DrawLine {
                    line: Line { points: vec![point(*x1, *y1), point(*x2, *y2)], is_closed: false },
                });
            }
            Draw::Text { face, size, x, y, text, gray: level } => {
                pen.text(&mut ops, false);
                pen.text(&mut ops, true);
                pen.fill(&mut ops, *level);
                let bold = *face == Face::Bold;
                if pen.bold != Some(bold) {
                    pen.bold = Some(bold);
                    let mode = if bold { TextRenderingMode::FillStroke } else { TextRenderingMode::Fill };
                    ops.push(Op::SetTextRenderingMode { mode });
                }
                // Bold: the same glyphs filled and outlined with a line a sixteenth of the size.
                if bold {
                    pen.stroke(&mut ops, *level, size / 16.0);
                }
                if pen.size != Some(*size) {
                    pen.size = Some(*size);
                    ops.push(Op::SetFont { font: font.clone(), size: Pt(*size) });
                }
                ops.push(Op::SetTextCursor { pos: Point { x: Pt(*x), y: Pt(*y) } });
                ops.push(Op::ShowText { items: vec![TextItem::Text(text.clone())] });
            }
        }
    }
    pen.text(&mut ops, false);
    ops
}

/// The printpdf document of the pages, drawn with the prepared subset.
fn printpdf_document(title: &str, pages: &[Page], font: printpdf::ParsedFont) -> PdfDocument {
    let mut doc = PdfDocument::new(title);
    // No PDF/X or PDF/A machinery of printpdf's (its PDF/A setting is a label that writes a
    // CMYK PDF/X output intent): the Factur-X pass writes the PDF/A-3 parts itself.
    doc.metadata.info.conformance = PdfConformance::Custom(CustomPdfConformance {
        requires_icc_profile: false,
        requires_xmp_metadata: false,
        ..Default::default()
    });
    doc.resources.fonts.map.insert(FontId(FONT_RESOURCE.to_owned()), PdfFont::new(font));
    let size = Rect::from_wh(Pt(PAGE_WIDTH), Pt(PAGE_HEIGHT));
    doc.pages = pages
        .iter()
        .map(|p| PdfPage { media_box: size.clone(), trim_box: size.clone(), crop_box: size.clone(), ops: page_ops(p) })
        .collect();
    doc
}

/// Builds the Factur-X PDF of an invoice whose CII XML is `cii`.
pub fn write_pdf(inv: &Invoice, pages: &[Page], fonts: &FontFamily, cii: &[u8]) -> Result<Vec<u8>, RenderError> {
    // The characters the pages use decide the subset (the prepared one nearly always).
    let used = used_chars(pages);
    let subset = fonts.regular.subset_for(&used)?;

    let kind = if inv.kind.is_credit_note() { "Avoir" } else { "Facture" };
    let title = format!("{kind} {}", inv.number);
    let doc = printpdf_document(&title, pages, fonts.regular.printpdf_font(&subset, &used));
    // Optimising would deflate every stream at the best (slowest) level and prune objects:
    // the pass below compresses what needs it, once, at a fast level.
    let options = PdfSaveOptions { optimize: false, subset_fonts: false, secure: true, image_optimization: None };
    let mut warnings = Vec::new();
    let mut lo = doc.to_lopdf_document(&options, &mut warnings);
    if let Some(w) = warnings.iter().find(|w| matches!(w.severity, printpdf::PdfParseErrorSeverity::Error)) {
        return Err(RenderError::Pdf(w.msg.clone()));
    }
    FacturX { inv, title: &title, subset: &subset, cii }.apply(&mut lo)?;
    let mut out = Vec::with_capacity(40 * 1024 + cii.len());
    lo.save_to(&mut out).map_err(|e| RenderError::Pdf(e.to_string()))?;
    // The end-of-line after `%%EOF` that lopdf leaves out (the only thing PDF/A allows there).
    out.push(b'\n');
    Ok(out)
}

/// The characters the pages' texts use. Marked in a bit set first (those of the Basic
/// Multilingual Plane), then gathered in order: inserting each of a page's ~1,500 characters
/// into the ordered set one by one cost a fiftieth of a seller run's CPU.
fn used_chars(pages: &[Page]) -> BTreeSet<char> {
    let mut seen = vec![0u64; 0x1_0000 / 64];
    let mut beyond = BTreeSet::new();
    for page in pages {
        for d in page {
            if let Draw::Text { text, .. } = d {
                for ch in text.chars() {
                    let c = ch as usize;
                    match seen.get_mut(c / 64) {
                        Some(word) => *word |= 1 << (c % 64),
                        None => {
                            beyond.insert(ch);
                        }
                    }
                }
            }
        }
    }
    let mut used = Vec::new();
    for (i, &word) in seen.iter().enumerate().filter(|(_, w)| **w != 0) {
        let mut rest = word;
        while rest != 0 {
            let bit = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            used.extend(char::from_u32((i * 64 + bit) as u32));
        }
    }
    used.into_iter().chain(beyond).collect()
}

/// What the Factur-X pass adds to printpdf's document.
struct FacturX<'a> {
    inv: &'a Invoice,
    title: &'a str,
    subset: &'a PreparedSubset,
    cii: &'a [u8],
}

fn missing(what: &str) -> RenderError {
    RenderError::Pdf(format!("printpdf's document has no {what}"))
}

fn reference(dict: &Dictionary, key: &[u8]) -> Option<ObjectId> {
    dict.get(key).and_then(Object::as_reference).ok()
}

/// A PDF text string: literal when plain ASCII, else UTF-16BE with a byte-order mark.
fn text_string(s: &str) -> Object {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Object::String(s.as_bytes().to_vec(), StringFormat::Literal);
    }
    let mut bytes = vec![0xFE, 0xFF];
    bytes.extend(s.encode_utf16().flat_map(u16::to_be_bytes));
    Object::String(bytes, StringFormat::Hexadecimal)
}

fn literal(s: &str) -> Object {
    Object::String(s.as_bytes().to_vec(), StringFormat::Literal)
}

/// Puts deflated data in a stream, marked so that lopdf does not compress it again.
fn set_deflated(stream: &mut Stream, data: Vec<u8>) {
    stream.set_content(data);
    stream.dict.set("Filter", "FlateDecode");
    stream.allows_compression = false;
}

/// A new stream of `data`, deflated.
fn deflated(dict: Dictionary, data: &[u8]) -> Stream {
    let mut s = Stream::new(dict, Vec::new());
    set_deflated(&mut s, deflate_fast(data));
    s
}

/// Deflates a stream of the document in place.
fn deflate_stream(doc: &mut lopdf::Document, id: ObjectId, what: &str) -> Result<(), RenderError> {
    let stream = doc.get_object_mut(id).and_then(Object::as_stream_mut).map_err(|_| missing(what))?;
    let data = deflate_fast(&stream.content);
    set_deflated(stream, data);
    Ok(())
}

impl FacturX<'_> {
    fn apply(&self, doc: &mut lopdf::Document) -> Result<(), RenderError> {
        doc.version = "1.7".to_owned();
        // A binary comment of four bytes above 127 marks the file as binary (PDF/A requires it).
        doc.binary_mark = vec![0xE2, 0xE3, 0xCF, 0xD3];
        let root = doc.trailer.get(b"Root").and_then(Object::as_reference).map_err(|_| missing("catalog"))?;
        let info = doc.trailer.get(b"Info").and_then(Object::as_reference).map_err(|_| missing("Info"))?;

        let pages = page_ids(doc, root)?;
        let first_page = *pages.first().ok_or_else(|| missing("page"))?;
        self.font(doc, first_page)?;
        for page in pages {
            let contents = reference(doc.get_dictionary(page).map_err(|_| missing("page"))?, b"Contents")
                .ok_or_else(|| missing("page content"))?;
            deflate_stream(doc, contents, "page content")?;
        }

        let digest = Sha256::digest(self.cii);
        let file_id = &digest[..16];
        let date = self.inv.issue_date;
        let pdf_date = format!("D:{:04}{:02}{:02}000000Z", date.year(), u8::from(date.month()), date.day());
        let author = self.inv.body.seller.legal_name.as_str();

        // The sRGB output intent (the profile is compressed once per process).
        static ICC: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let icc_bytes = ICC.get_or_init(|| deflate(SRGB_PROFILE));
        let mut icc = Stream::new(Dictionary::from_iter([("N", Object::Integer(3))]), Vec::new());
        set_deflated(&mut icc, icc_bytes.clone());
        let icc = doc.add_object(icc);
        let intent = Dictionary::from_iter([
            ("Type", Object::Name(b"OutputIntent".to_vec())),
            ("S", Object::Name(b"GTS_PDFA1".to_vec())),
            ("OutputConditionIdentifier", literal("sRGB IEC61966-2.1")),
            ("Info", literal("sRGB")),
            ("DestOutputProfile", Object::Reference(icc)),
        ]);

        // The Factur-X XML, attached as the associated file (PDF/A-3).
        let params = Dictionary::from_iter([
            ("ModDate", literal(&pdf_date)),
            ("Size", Object::Integer(i64::try_from(self.cii.len()).unwrap_or(i64::MAX))),
        ]);
        let embedded = doc.add_object(deflated(
            Dictionary::from_iter([
                ("Type", Object::Name(b"EmbeddedFile".to_vec())),
                ("Subtype", Object::Name(b"text/xml".to_vec())),
                ("Params", Object::Dictionary(params)),
            ]),
            self.cii,
        ));
        let filespec = doc.add_object(Dictionary::from_iter([
            ("Type", Object::Name(b"Filespec".to_vec())),
            ("F", literal("factur-x.xml")),
            ("UF", literal("factur-x.xml")),
            ("Desc", literal("Factur-X invoice")),
            ("AFRelationship", Object::Name(b"Data".to_vec())),
            (
                "EF",
                Object::Dictionary(Dictionary::from_iter([
                    ("F", Object::Reference(embedded)),
                    ("UF", Object::Reference(embedded)),
                ])),
            ),
        ]));

        // Metadata: the XMP (left uncompressed, as PDF/A advises) and /Info say the same.
        let doc_id: String = file_id.iter().map(|b| format!("{b:02x}")).collect();
        let xmp = xmp(self.title, author, &format!("{}T00:00:00Z", iso_date(date)), &doc_id);
        let metadata = doc.add_object(
            Stream::new(
                Dictionary::from_iter([
                    ("Type", Object::Name(b"Metadata".to_vec())),
                    ("Subtype", Object::Name(b"XML".to_vec())),
                ]),
                xmp.into_bytes(),
            )
            .with_compression(false),
        );
        doc.objects.insert(
            info,
            Object::Dictionary(Dictionary::from_iter([
                ("Title", text_string(self.title)),
                ("Author", text_string(author)),
                ("Creator", literal(PRODUCER)),
                ("Producer", literal(PRODUCER)),
                ("CreationDate", literal(&pdf_date)),
                ("ModDate", literal(&pdf_date)),
            ])),
        );

        let catalog = doc.get_object_mut(root).and_then(Object::as_dict_mut).map_err(|_| missing("catalog"))?;
        catalog.set("Metadata", Object::Reference(metadata));
        catalog.set("Lang", literal(self.inv.body.language.code()));
        catalog.set(
            "ViewerPreferences",
            Object::Dictionary(Dictionary::from_iter([("DisplayDocTitle", Object::Boolean(true))])),
        );
        catalog.set("OutputIntents", Object::Array(vec![Object::Dictionary(intent)]));
        catalog.set(
            "Names",
            Object::Dictionary(Dictionary::from_iter([(
                "EmbeddedFiles",
                Object::Dictionary(Dictionary::from_iter([(
                    "Names",
                    Object::Array(vec![literal("factur-x.xml"), Object::Reference(filespec)]),
                )])),
            )])),
        );
        catalog.set("AF", Object::Array(vec![Object::Reference(filespec)]));

        let id = Object::String(file_id.to_vec(), StringFormat::Hexadecimal);
        doc.trailer.set("ID", Object::Array(vec![id.clone(), id]));
        Ok(())
    }

    /// The font printpdf wrote, finished: the prepared (already deflated) program in its
    /// program stream, and the ToUnicode map compressed.
    /// (Every page uses the same font resources: the first page's are read.)
    fn font(&self, doc: &mut lopdf::Document, first_page: ObjectId) -> Result<(), RenderError> {
        let resources = reference(doc.get_dictionary(first_page).map_err(|_| missing("page"))?, b"Resources")
            .ok_or_else(|| missing("page resources"))?;
        let fonts = reference(doc.get_dictionary(resources).map_err(|_| missing("resources"))?, b"Font")
            .ok_or_else(|| missing("font resources"))?;
        let type0 =
            reference(doc.get_dictionary(fonts).map_err(|_| missing("font resources"))?, FONT_RESOURCE.as_bytes())
                .ok_or_else(|| missing("font"))?;

        let (to_unicode, descriptor) = {
            let font = doc.get_dictionary(type0).map_err(|_| missing("font"))?;
            let to_unicode = reference(font, b"ToUnicode").ok_or_else(|| missing("ToUnicode map"))?;
            let cid_font = font
                .get(b"DescendantFonts")
                .and_then(Object::as_array)
                .ok()
                .and_then(|a| a.first())
                .and_then(|o| o.as_dict().ok())
                .ok_or_else(|| missing("descendant font"))?;
            (to_unicode, reference(cid_font, b"FontDescriptor").ok_or_else(|| missing("font descriptor"))?)
        };
        let program = reference(doc.get_dictionary(descriptor).map_err(|_| missing("font descriptor"))?, b"FontFile2")
            .ok_or_else(|| missing("font program"))?;
        let stream =
            doc.get_object_mut(program).and_then(Object::as_stream_mut).map_err(|_| missing("font program"))?;
        set_deflated(stream, self.subset.font_file.clone());
        stream.dict.set("Length1", Object::Integer(i64::try_from(self.subset.font_file_len).unwrap_or(i64::MAX)));
        deflate_stream(doc, to_unicode, "ToUnicode map")
    }
}

/// The pages of the document, in order.
fn page_ids(doc: &lopdf::Document, root: ObjectId) -> Result<Vec<ObjectId>, RenderError> {
    let pages = reference(doc.get_dictionary(root).map_err(|_| missing("catalog"))?, b"Pages")
        .ok_or_else(|| missing("page tree"))?;
    Ok(doc
        .get_dictionary(pages)
        .and_then(|d| d.get(b"Kids"))
        .and_then(Object::as_array)
        .map_err(|_| missing("page list"))?
        .iter()
        .filter_map(|o| o.as_reference().ok())
        .collect())
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    crate::xml::escape_into(&mut out, s);
    out
}

/// XMP metadata: Dublin Core, PDF/A-3B identification and the Factur-X extension schema.
fn xmp(title: &str, author: &str, date: &str, doc_id: &str) -> String {
    let (title, author) = (xml_escape(title), xml_escape(author));
    let producer = PRODUCER;
    let property = |name: &str, description: &str| {
        format!(
            "<rdf:li rdf:parseType=\"Resource\"><pdfaProperty:name>{name}</pdfaProperty:name>\
             <pdfaProperty:valueType>Text</pdfaProperty:valueType><pdfaProperty:category>external</pdfaProperty:category>\
             <pdfaProperty:description>{description}</pdfaProperty:description></rdf:li>"
        )
    };
    let properties = [
        property("DocumentFileName", "Name of the embedded XML invoice file"),
        property("DocumentType", "INVOICE"),
        property("Version", "Version of the Factur-X XML schema"),
        property("ConformanceLevel", "Factur-X profile of the embedded XML"),
    ]
    .concat();
    format!(
        "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n\
<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n\
<rdf:Description rdf:about=\"\" xmlns:pdfaid=\"http://www.aiim.org/pdfa/ns/id/\"><pdfaid:part>3</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance></rdf:Description>\n\
<rdf:Description rdf:about=\"\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:format>application/pdf</dc:format>\
<dc:title><rdf:Alt><rdf:li xml:lang=\"x-default\">{title}</rdf:li></rdf:Alt></dc:title>\
<dc:creator><rdf:Seq><rdf:li>{author}</rdf:li></rdf:Seq></dc:creator></rdf:Description>\n\
<rdf:Description rdf:about=\"\" xmlns:pdf=\"http://ns.adobe.com/pdf/1.3/\"><pdf:Producer>{producer}</pdf:Producer></rdf:Description>\n\
<rdf:Description rdf:about=\"\" xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\"><xmp:CreatorTool>{producer}</xmp:CreatorTool>\
<xmp:CreateDate>{date}</xmp:CreateDate><xmp:ModifyDate>{date}</xmp:ModifyDate><xmp:MetadataDate>{date}</xmp:MetadataDate></rdf:Description>\n\
<rdf:Description rdf:about=\"\" xmlns:xmpMM=\"http://ns.adobe.com/xap/1.0/mm/\"><xmpMM:DocumentID>uuid:{doc_id}</xmpMM:DocumentID></rdf:Description>\n\
<rdf:Description rdf:about=\"\" xmlns:pdfaExtension=\"http://www.aiim.org/pdfa/ns/extension/\" xmlns:pdfaSchema=\"http://www.aiim.org/pdfa/ns/schema#\" xmlns:pdfaProperty=\"http://www.aiim.org/pdfa/ns/property#\">\
<pdfaExtension:schemas><rdf:Bag><rdf:li rdf:parseType=\"Resource\">\
<pdfaSchema:schema>Factur-X PDFA Extension Schema</pdfaSchema:schema>\
<pdfaSchema:namespaceURI>urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#</pdfaSchema:namespaceURI>\
<pdfaSchema:prefix>fx</pdfaSchema:prefix><pdfaSchema:property><rdf:Seq>{properties}</rdf:Seq></pdfaSchema:property>\
</rdf:li></rdf:Bag></pdfaExtension:schemas></rdf:Description>\n\
<rdf:Description rdf:about=\"\" xmlns:fx=\"urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#\">\
<fx:DocumentType>INVOICE</fx:DocumentType><fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>\
<fx:Version>1.0</fx:Version><fx:ConformanceLevel>EN 16931</fx:ConformanceLevel></rdf:Description>\n\
</rdf:RDF></x:xmpmeta>\n<?xpacket end=\"w\"?>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Draw {
        Draw::Text { face: Face::Regular, size: 9.0, x: 0.0, y: 0.0, text: s.into(), gray: 0.0 }
    }

    #[test]
    fn the_used_characters_are_those_of_every_text_of_every_page_in_order() {
        let pages = vec![
            vec![text("Théière 12,50 €"), Draw::Rule { x1: 0.0, y1: 0.0, x2: 1.0, y2: 1.0, width: 1.0, gray: 0.0 }],
            vec![text("Łódź ≥ 400 lm ✓ \u{1F600}"), text("zZ\u{FFFF}\u{0}")],
        ];
        let expected: BTreeSet<char> = pages
            .iter()
            .flatten()
            .filter_map(|d| match d {
                Draw::Text { text, .. } => Some(text.chars()),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(used_chars(&pages), expected);
        assert!(used_chars(&[]).is_empty());
    }
}
