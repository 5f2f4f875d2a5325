//! Our own PDF writer: a Factur-X PDF/A-3b from the laid-out pages, the embedded font subsets,
//! an sRGB output intent, the XMP metadata with the Factur-X extension schema and the CII XML
//! attached as `factur-x.xml`. Everything that could vary (ids, dates) is derived from the
//! invoice, so the same invoice always gives the same bytes.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::OnceLock;

use marketbill_domain::Invoice;
use marketbill_domain::calendar::iso_date;
use sha2::{Digest, Sha256};

use crate::RenderError;
use crate::font::{Face, FontFace, FontFamily, PreparedSubset};
use crate::layout::{Draw, PAGE_HEIGHT, PAGE_WIDTH, Page};

/// zlib (FlateDecode) compression, for what is compressed once (font programs, the ICC profile).
pub fn deflate(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(data, 6)
}

thread_local! {
    /// One compressor per thread, reset between streams: a new one is a large fresh
    /// allocation (page faults, zeroing) that cost more than compressing a page's content.
    static COMPRESSOR: std::cell::RefCell<flate2::Compress> =
        std::cell::RefCell::new(flate2::Compress::new(flate2::Compression::new(3), true));
}

/// zlib compression of the per-document streams (content streams, the CII XML), at a fast level.
fn deflate_fast(data: &[u8]) -> Vec<u8> {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        c.reset();
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        loop {
            let consumed = c.total_in() as usize;
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

/// A PDF being written: objects go straight to the buffer; the xref is built at the end.
struct PdfWriter {
    buf: Vec<u8>,
    offsets: Vec<usize>,
}

impl PdfWriter {
    fn new(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity);
        // The binary comment marks the file as binary (PDF/A requires it).
        buf.extend_from_slice(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n");
        PdfWriter { buf, offsets: vec![0] }
    }

    fn alloc(&mut self) -> usize {
        self.offsets.push(0);
        self.offsets.len() - 1
    }

    fn obj(&mut self, id: usize, body: &str) {
        self.offsets[id] = self.buf.len();
        self.buf.extend_from_slice(format!("{id} 0 obj\n{body}\nendobj\n").as_bytes());
    }

    fn stream(&mut self, id: usize, dict: &str, data: &[u8]) {
        self.offsets[id] = self.buf.len();
        self.buf.extend_from_slice(format!("{id} 0 obj\n<<{dict} /Length {}>>\nstream\n", data.len()).as_bytes());
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\nendstream\nendobj\n");
    }

    fn finish(mut self, root: usize, info: usize, file_id: &[u8]) -> Vec<u8> {
        let xref_at = self.buf.len();
        let mut xref = format!("xref\n0 {}\n0000000000 65535 f \n", self.offsets.len());
        for off in &self.offsets[1..] {
            let _ = writeln!(xref, "{off:010} 00000 n ");
        }
        let id: String = file_id.iter().map(|b| format!("{b:02X}")).collect();
        let _ = write!(
            xref,
            "trailer\n<< /Size {} /Root {root} 0 R /Info {info} 0 R /ID [<{id}> <{id}>] >>\nstartxref\n{xref_at}\n%%EOF\n",
            self.offsets.len()
        );
        self.buf.extend_from_slice(xref.as_bytes());
        self.buf
    }
}

/// A PDF text string: literal when plain ASCII, else UTF-16BE with a byte-order mark.
fn text_string(s: &str) -> String {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'(' && b != b')' && b != b'\\') {
        return format!("({s})");
    }
    let mut out = String::from("<FEFF");
    for unit in s.encode_utf16() {
        let _ = write!(out, "{unit:04X}");
    }
    out.push('>');
    out
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    crate::xml::escape_into(&mut out, s);
    out
}

fn num(v: f32) -> String {
    let r = (v * 100.0).round() / 100.0;
    if r.fract() == 0.0 { format!("{}", r as i64) } else { format!("{r}") }
}

/// Four upper-case hex digits of a CID.
fn push_hex4(out: &mut String, v: u16) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for shift in [12, 8, 4, 0] {
        out.push(char::from(DIGITS[usize::from((v >> shift) & 0xF)]));
    }
}

/// Encodes the pages' drawing commands into content streams with the subsets' CIDs.
fn content_stream(page: &Page, font: &FontFace, subset: &PreparedSubset) -> Vec<u8> {
    let mut s = String::with_capacity(page.len() * 60);
    for d in page {
        match d {
            Draw::Fill { x, y, w, h, gray } => {
                let _ = writeln!(s, "{} g {} {} {} {} re f", num(*gray), num(*x), num(*y), num(*w), num(*h));
            }
            Draw::Rule { x1, y1, x2, y2, width, gray } => {
                let _ = writeln!(
                    s,
                    "{} G {} w {} {} m {} {} l S",
                    num(*gray),
                    num(*width),
                    num(*x1),
                    num(*y1),
                    num(*x2),
                    num(*y2)
                );
            }
            Draw::Text { face, size, x, y, text, gray } => {
                let mut hex = String::with_capacity(text.len() * 4);
                for ch in text.chars() {
                    if let Some(&cid) = font.glyph(ch).and_then(|(gid, _)| subset.cids.get(&gid)) {
                        push_hex4(&mut hex, cid);
                    }
                }
                // Bold: fill and stroke the glyphs with a line a sixteenth of the size.
                let mode = match face {
                    Face::Regular => "0 Tr".to_owned(),
                    Face::Bold => format!("2 Tr {} w {} G", num(size / 16.0), num(*gray)),
                };
                let _ = writeln!(
                    s,
                    "BT {} g {mode} /F1 {} Tf 1 0 0 1 {} {} Tm <{hex}> Tj ET",
                    num(*gray),
                    num(*size),
                    num(*x),
                    num(*y)
                );
            }
        }
    }
    deflate_fast(s.as_bytes())
}

static ICC: OnceLock<Vec<u8>> = OnceLock::new();

/// Builds the Factur-X PDF of an invoice whose CII XML is `cii`.
pub fn write_pdf(inv: &Invoice, pages: &[Page], fonts: &FontFamily, cii: &[u8]) -> Result<Vec<u8>, RenderError> {
    // The characters the pages use.
    let mut used: BTreeSet<char> = BTreeSet::new();
    for page in pages {
        for d in page {
            if let Draw::Text { text, .. } = d {
                used.extend(text.chars());
            }
        }
    }
    let font = &fonts.regular;
    let subset = font.subset_for(&used)?;

    let digest = Sha256::digest(cii);
    let file_id = &digest[..16];
    let date = inv.issue_date;
    let pdf_date = format!("D:{:04}{:02}{:02}000000Z", date.year(), u8::from(date.month()), date.day());
    let xmp_date = format!("{}T00:00:00Z", iso_date(date));
    let kind = if inv.kind.is_credit_note() { "Avoir" } else { "Facture" };
    let title = format!("{kind} {}", inv.number);
    let author = inv.body.seller.legal_name.clone();
    const PRODUCER: &str = "Marketbill";

    let mut w = PdfWriter::new(48 * 1024 + cii.len());
    let catalog = w.alloc();
    let pages_id = w.alloc();
    let info = w.alloc();
    let metadata = w.alloc();
    let icc = w.alloc();
    let embedded = w.alloc();
    let filespec = w.alloc();

    // The font: one Type0 / CIDFontType2 with the subset program.
    let scale = 1000.0 / f32::from(font.units_per_em);
    let type0 = w.alloc();
    let cid_font = w.alloc();
    let descriptor = w.alloc();
    let file = w.alloc();
    let to_unicode = w.alloc();
    let base = format!("{}+{}", subset.tag, font.postscript_name);
    w.obj(
        type0,
        &format!(
            "<< /Type /Font /Subtype /Type0 /BaseFont /{base} /Encoding /Identity-H /DescendantFonts [{cid_font} 0 R] /ToUnicode {to_unicode} 0 R >>"
        ),
    );
    w.obj(
        cid_font,
        &format!(
            "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{base} /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /FontDescriptor {descriptor} 0 R /DW 1000 /W [{}] /CIDToGIDMap /Identity >>",
            subset.widths
        ),
    );
    let m = |v: i16| (f32::from(v) * scale).round() as i32;
    w.obj(
        descriptor,
        &format!(
            "<< /Type /FontDescriptor /FontName /{base} /Flags 32 /FontBBox [{} {} {} {}] /ItalicAngle 0 /Ascent {} /Descent {} /CapHeight {} /StemV 80 /FontFile2 {file} 0 R >>",
            m(font.bbox[0]),
            m(font.bbox[1]),
            m(font.bbox[2]),
            m(font.bbox[3]),
            m(font.ascent),
            m(font.descent),
            m(font.cap_height)
        ),
    );
    w.stream(file, &format!(" /Length1 {} /Filter /FlateDecode", subset.font_file_len), &subset.font_file);
    w.stream(to_unicode, " /Filter /FlateDecode", &subset.to_unicode);
    let font_dict = format!("/F1 {type0} 0 R");

    // Pages.
    let mut kids = Vec::with_capacity(pages.len());
    for page in pages {
        let page_id = w.alloc();
        let content = w.alloc();
        let data = content_stream(page, font, &subset);
        w.stream(content, " /Filter /FlateDecode", &data);
        w.obj(
            page_id,
            &format!(
                "<< /Type /Page /Parent {pages_id} 0 R /MediaBox [0 0 {} {}] /Resources << /Font << {font_dict} >> >> /Contents {content} 0 R >>",
                num(PAGE_WIDTH),
                num(PAGE_HEIGHT)
            ),
        );
        kids.push(format!("{page_id} 0 R"));
    }
    w.obj(pages_id, &format!("<< /Type /Pages /Kids [{}] /Count {} >>", kids.join(" "), pages.len()));

    // Output intent: sRGB.
    let icc_bytes = ICC.get_or_init(|| deflate(&crate::icc::srgb_profile()));
    w.stream(icc, " /N 3 /Filter /FlateDecode", icc_bytes);

    // The Factur-X XML, attached as associated file (PDF/A-3).
    let xml_z = deflate_fast(cii);
    w.stream(
        embedded,
        &format!(
            " /Type /EmbeddedFile /Subtype /text#2Fxml /Params << /ModDate ({pdf_date}) /Size {} >> /Filter /FlateDecode",
            cii.len()
        ),
        &xml_z,
    );
    w.obj(
        filespec,
        &format!(
            "<< /Type /Filespec /F (factur-x.xml) /UF (factur-x.xml) /Desc (Factur-X invoice) /AFRelationship /Data /EF << /F {embedded} 0 R /UF {embedded} 0 R >> >>"
        ),
    );

    // Metadata: the XMP and the Info dictionary say the same things.
    let xmp =
        xmp(&title, &author, PRODUCER, &xmp_date, &file_id.iter().map(|b| format!("{b:02x}")).collect::<String>());
    w.stream(metadata, " /Type /Metadata /Subtype /XML", xmp.as_bytes());
    w.obj(
        info,
        &format!(
            "<< /Title {} /Author {} /Creator ({PRODUCER}) /Producer ({PRODUCER}) /CreationDate ({pdf_date}) /ModDate ({pdf_date}) >>",
            text_string(&title),
            text_string(&author)
        ),
    );
    let lang = inv.body.language.code();
    w.obj(
        catalog,
        &format!(
            "<< /Type /Catalog /Pages {pages_id} 0 R /Metadata {metadata} 0 R /Lang ({lang}) \
             /ViewerPreferences << /DisplayDocTitle true >> \
             /OutputIntents [<< /Type /OutputIntent /S /GTS_PDFA1 /OutputConditionIdentifier (sRGB IEC61966-2.1) /Info (sRGB) /DestOutputProfile {icc} 0 R >>] \
             /Names << /EmbeddedFiles << /Names [(factur-x.xml) {filespec} 0 R] >> >> /AF [{filespec} 0 R] >>"
        ),
    );
    Ok(w.finish(catalog, info, file_id))
}

/// XMP metadata: Dublin Core, PDF/A-3B identification and the Factur-X extension schema.
fn xmp(title: &str, author: &str, producer: &str, date: &str, doc_id: &str) -> String {
    let (title, author) = (xml_escape(title), xml_escape(author));
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
