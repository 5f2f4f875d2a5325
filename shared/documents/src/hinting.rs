//! Removes TrueType hinting from a font program: glyph instructions and the `fpgm`, `prep`
//! and `cvt ` tables. PDF viewers draw at any size and mostly ignore hints; without them the
//! embedded DejaVu subset is about a third smaller. Outlines and metrics are untouched.

use crate::RenderError;

fn be16(d: &[u8], at: usize) -> Result<u16, RenderError> {
    d.get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| RenderError::Font(format!("truncated font at byte {at}")))
}

fn be32(d: &[u8], at: usize) -> Result<u32, RenderError> {
    d.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| RenderError::Font(format!("truncated font at byte {at}")))
}

fn checksum(data: &[u8]) -> u32 {
    data.chunks(4).fold(0u32, |sum, c| {
        let mut w = [0u8; 4];
        w[..c.len()].copy_from_slice(c);
        sum.wrapping_add(u32::from_be_bytes(w))
    })
}

/// One glyph without its instructions.
fn strip_glyph(g: &[u8]) -> Result<Vec<u8>, RenderError> {
    if g.is_empty() {
        return Ok(Vec::new());
    }
    let contours = be16(g, 0)? as i16;
    let mut out = Vec::with_capacity(g.len());
    if contours >= 0 {
        let n = contours as usize;
        let instr_at = 10 + 2 * n;
        let instr_len = usize::from(be16(g, instr_at)?);
        let rest = instr_at + 2 + instr_len;
        if rest > g.len() {
            return Err(RenderError::Font("glyph instructions run past the glyph".into()));
        }
        out.extend_from_slice(&g[..instr_at]);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&g[rest..]);
    } else {
        out.extend_from_slice(&g[..10]);
        let mut at = 10;
        loop {
            let flags = be16(g, at)?;
            let mut len = 4 + if flags & 0x0001 != 0 { 4 } else { 2 };
            if flags & 0x0008 != 0 {
                len += 2;
            } else if flags & 0x0040 != 0 {
                len += 4;
            } else if flags & 0x0080 != 0 {
                len += 8;
            }
            let component = g.get(at..at + len).ok_or_else(|| RenderError::Font("truncated composite glyph".into()))?;
            out.extend_from_slice(&(flags & !0x0100).to_be_bytes());
            out.extend_from_slice(&component[2..]);
            at += len;
            if flags & 0x0020 == 0 {
                break;
            }
        }
    }
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    Ok(out)
}

/// The font program without hinting.
pub fn strip_hinting(font: &[u8]) -> Result<Vec<u8>, RenderError> {
    let count = usize::from(be16(font, 4)?);
    let mut tables: Vec<([u8; 4], Vec<u8>)> = Vec::with_capacity(count);
    for i in 0..count {
        let e = 12 + i * 16;
        let tag: [u8; 4] = font.get(e..e + 4).and_then(|t| t.try_into().ok()).unwrap_or([0; 4]);
        let offset = be32(font, e + 8)? as usize;
        let len = be32(font, e + 12)? as usize;
        let data = font.get(offset..offset + len).ok_or_else(|| RenderError::Font("table outside the font".into()))?;
        tables.push((tag, data.to_vec()));
    }
    let find = |tables: &[([u8; 4], Vec<u8>)], tag: &[u8; 4]| tables.iter().position(|(t, _)| t == tag);
    let (Some(head), Some(loca), Some(glyf)) = (find(&tables, b"head"), find(&tables, b"loca"), find(&tables, b"glyf"))
    else {
        return Ok(font.to_vec());
    };
    let long = be16(&tables[head].1, 50)? == 1;
    let loca_data = &tables[loca].1;
    let offsets: Vec<usize> = if long {
        (0..loca_data.len() / 4).map(|i| be32(loca_data, i * 4).map(|v| v as usize)).collect::<Result<_, _>>()?
    } else {
        (0..loca_data.len() / 2)
            .map(|i| be16(loca_data, i * 2).map(|v| usize::from(v) * 2))
            .collect::<Result<_, _>>()?
    };
    let glyf_data = &tables[glyf].1;
    let mut new_glyf = Vec::with_capacity(glyf_data.len());
    let mut new_offsets = Vec::with_capacity(offsets.len());
    for w in offsets.windows(2) {
        new_offsets.push(new_glyf.len());
        let g = glyf_data.get(w[0]..w[1]).ok_or_else(|| RenderError::Font("glyph outside glyf".into()))?;
        new_glyf.extend(strip_glyph(g)?);
    }
    new_offsets.push(new_glyf.len());
    let mut new_loca = Vec::with_capacity(new_offsets.len() * 4);
    for off in &new_offsets {
        if long {
            new_loca.extend_from_slice(&(*off as u32).to_be_bytes());
        } else {
            new_loca.extend_from_slice(&((*off / 2) as u16).to_be_bytes());
        }
    }
    tables[glyf].1 = new_glyf;
    tables[loca].1 = new_loca;
    if let Some(maxp) = find(&tables, b"maxp") {
        let m = &mut tables[maxp].1;
        if m.len() >= 32 {
            // maxFunctionDefs, maxInstructionDefs, maxStackElements, maxSizeOfInstructions.
            for at in [20usize, 22, 24, 26] {
                m[at] = 0;
                m[at + 1] = 0;
            }
        }
    }
    tables.retain(|(t, _)| !matches!(t, b"fpgm" | b"prep" | b"cvt " | b"hdmx" | b"LTSH" | b"VDMX"));
    tables.sort_by_key(|t| t.0);
    if let Some(h) = tables.iter_mut().find(|(t, _)| t == b"head") {
        h.1[8..12].copy_from_slice(&[0; 4]);
    }

    let n = tables.len() as u16;
    let mut entry_selector = 0u16;
    while (1u16 << (entry_selector + 1)) <= n {
        entry_selector += 1;
    }
    let search_range = (1u16 << entry_selector) * 16;
    let mut out = Vec::with_capacity(font.len());
    out.extend_from_slice(&font[0..4]);
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(&search_range.to_be_bytes());
    out.extend_from_slice(&entry_selector.to_be_bytes());
    out.extend_from_slice(&(n * 16 - search_range).to_be_bytes());
    let mut offset = 12 + 16 * tables.len();
    let mut head_at = None;
    for (tag, data) in &tables {
        out.extend_from_slice(tag);
        out.extend_from_slice(&checksum(data).to_be_bytes());
        out.extend_from_slice(&(offset as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        if tag == b"head" {
            head_at = Some(offset);
        }
        offset += data.len().div_ceil(4) * 4;
    }
    for (_, data) in &tables {
        out.extend_from_slice(data);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    }
    if let Some(at) = head_at {
        let adjust = 0xB1B0_AFBAu32.wrapping_sub(checksum(&out));
        out[at + 8..at + 12].copy_from_slice(&adjust.to_be_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripped_fonts_keep_their_outlines_and_shrink() {
        let data = include_bytes!("../fonts/DejaVuSans.ttf");
        let face = ttf_parser::Face::parse(data, 0).unwrap();
        let gids: Vec<u16> = "Théière €ŁΩ✓".chars().filter_map(|c| face.glyph_index(c)).map(|g| g.0).collect();
        let remapper = subsetter::GlyphRemapper::new_from_glyphs_sorted(&gids);
        let subset = subsetter::subset(data, 0, &remapper).unwrap();
        let stripped = strip_hinting(&subset).unwrap();
        assert!(stripped.len() < subset.len());
        let before = ttf_parser::Face::parse(&subset, 0).unwrap();
        let after = ttf_parser::Face::parse(&stripped, 0).unwrap();
        assert_eq!(before.number_of_glyphs(), after.number_of_glyphs());
        for gid in 0..after.number_of_glyphs() {
            let id = ttf_parser::GlyphId(gid);
            assert_eq!(before.glyph_bounding_box(id), after.glyph_bounding_box(id), "glyph {gid}");
            assert_eq!(before.glyph_hor_advance(id), after.glyph_hor_advance(id));
            struct Count(usize);
            impl ttf_parser::OutlineBuilder for Count {
                fn move_to(&mut self, _: f32, _: f32) {
                    self.0 += 1
                }
                fn line_to(&mut self, _: f32, _: f32) {
                    self.0 += 1
                }
                fn quad_to(&mut self, _: f32, _: f32, _: f32, _: f32) {
                    self.0 += 1
                }
                fn curve_to(&mut self, _: f32, _: f32, _: f32, _: f32, _: f32, _: f32) {
                    self.0 += 1
                }
                fn close(&mut self) {
                    self.0 += 1
                }
            }
            let (mut a, mut b) = (Count(0), Count(0));
            before.outline_glyph(id, &mut a);
            after.outline_glyph(id, &mut b);
            assert_eq!(a.0, b.0, "glyph {gid} outline");
        }
        assert_eq!(checksum(&stripped), 0xB1B0_AFBA);
    }
}
