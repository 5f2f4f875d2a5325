//! A compact sRGB ICC profile (version 2, display class), built by this code rather than
//! bundled: sRGB primaries adapted to D50, D50 white point, and the sRGB tone curve sampled
//! at 256 points. About 1.1 KB; PDF/A needs it as the output intent of a document drawn in
//! DeviceRGB.

/// s15Fixed16 encoding of a number.
fn s15f16(v: f64) -> [u8; 4] {
    ((v * 65536.0).round() as i32).to_be_bytes()
}

fn xyz_tag(x: f64, y: f64, z: f64) -> Vec<u8> {
    let mut t = b"XYZ \0\0\0\0".to_vec();
    t.extend_from_slice(&s15f16(x));
    t.extend_from_slice(&s15f16(y));
    t.extend_from_slice(&s15f16(z));
    t
}

fn curve_tag() -> Vec<u8> {
    const POINTS: u32 = 256;
    let mut t = b"curv\0\0\0\0".to_vec();
    t.extend_from_slice(&POINTS.to_be_bytes());
    for i in 0..POINTS {
        let v = f64::from(i) / f64::from(POINTS - 1);
        // The sRGB electro-optical transfer function (IEC 61966-2-1).
        let linear = if v <= 0.04045 { v / 12.92 } else { ((v + 0.055) / 1.055).powf(2.4) };
        t.extend_from_slice(&((linear * 65535.0).round() as u16).to_be_bytes());
    }
    t
}

fn text_description_tag(text: &str) -> Vec<u8> {
    let mut t = b"desc\0\0\0\0".to_vec();
    t.extend_from_slice(&(text.len() as u32 + 1).to_be_bytes());
    t.extend_from_slice(text.as_bytes());
    t.push(0);
    t.extend_from_slice(&[0; 4]); // Unicode language code
    t.extend_from_slice(&[0; 4]); // Unicode count
    t.extend_from_slice(&[0; 2]); // ScriptCode code
    t.push(0); // ScriptCode count
    t.extend_from_slice(&[0; 67]);
    t
}

fn text_tag(text: &str) -> Vec<u8> {
    let mut t = b"text\0\0\0\0".to_vec();
    t.extend_from_slice(text.as_bytes());
    t.push(0);
    t
}

/// The profile bytes.
pub fn srgb_profile() -> Vec<u8> {
    let curve = curve_tag();
    let tags: Vec<(&[u8; 4], Vec<u8>)> = vec![
        (b"desc", text_description_tag("sRGB (Marketbill compact)")),
        (b"cprt", text_tag("No copyright, use freely")),
        (b"wtpt", xyz_tag(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz_tag(0.436_074_7, 0.222_504_5, 0.013_932_2)),
        (b"gXYZ", xyz_tag(0.385_064_9, 0.716_878_6, 0.097_104_5)),
        (b"bXYZ", xyz_tag(0.143_080_4, 0.060_616_9, 0.714_173_3)),
        (b"rTRC", curve.clone()),
        (b"gTRC", curve.clone()),
        (b"bTRC", curve),
    ];
    let table_len = 4 + 12 * tags.len();
    let mut data: Vec<u8> = Vec::new();
    let mut entries: Vec<([u8; 4], u32, u32)> = Vec::new();
    let mut shared_curve: Option<(u32, u32)> = None;
    for (sig, body) in &tags {
        let is_curve = sig.ends_with(b"TRC");
        if is_curve && let Some((off, len)) = shared_curve {
            entries.push((**sig, off, len));
            continue;
        }
        while !data.len().is_multiple_of(4) {
            data.push(0);
        }
        let offset = (128 + table_len + data.len()) as u32;
        data.extend_from_slice(body);
        entries.push((**sig, offset, body.len() as u32));
        if is_curve {
            shared_curve = Some((offset, body.len() as u32));
        }
    }
    while !data.len().is_multiple_of(4) {
        data.push(0);
    }
    let size = (128 + table_len + data.len()) as u32;

    let mut p = Vec::with_capacity(size as usize);
    p.extend_from_slice(&size.to_be_bytes());
    p.extend_from_slice(&[0; 4]); // preferred CMM
    p.extend_from_slice(&[2, 0x10, 0, 0]); // version 2.1
    p.extend_from_slice(b"mntr");
    p.extend_from_slice(b"RGB ");
    p.extend_from_slice(b"XYZ ");
    for v in [2026u16, 1, 1, 0, 0, 0] {
        p.extend_from_slice(&v.to_be_bytes());
    }
    p.extend_from_slice(b"acsp");
    p.extend_from_slice(&[0; 4]); // platform
    p.extend_from_slice(&[0; 4]); // flags
    p.extend_from_slice(&[0; 4]); // manufacturer
    p.extend_from_slice(&[0; 4]); // model
    p.extend_from_slice(&[0; 8]); // attributes
    p.extend_from_slice(&[0; 4]); // rendering intent: perceptual
    p.extend_from_slice(&s15f16(0.9642));
    p.extend_from_slice(&s15f16(1.0));
    p.extend_from_slice(&s15f16(0.8249));
    p.extend_from_slice(&[0; 4]); // creator
    p.extend_from_slice(&[0; 16]); // profile id (v4 only)
    p.extend_from_slice(&[0; 28]); // reserved
    p.extend_from_slice(&(tags.len() as u32).to_be_bytes());
    for (sig, off, len) in entries {
        p.extend_from_slice(&sig);
        p.extend_from_slice(&off.to_be_bytes());
        p.extend_from_slice(&len.to_be_bytes());
    }
    p.extend_from_slice(&data);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_header_is_consistent() {
        let p = srgb_profile();
        assert_eq!(u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as usize, p.len());
        assert_eq!(&p[12..16], b"mntr");
        assert_eq!(&p[16..20], b"RGB ");
        assert_eq!(&p[36..40], b"acsp");
        assert_eq!(u32::from_be_bytes([p[128], p[129], p[130], p[131]]), 9);
        assert!(p.len() < 1500, "{} bytes", p.len());
        // Every tag lies inside the profile, on a 4-byte boundary.
        for i in 0..9 {
            let e = 132 + i * 12;
            let off = u32::from_be_bytes([p[e + 4], p[e + 5], p[e + 6], p[e + 7]]) as usize;
            let len = u32::from_be_bytes([p[e + 8], p[e + 9], p[e + 10], p[e + 11]]) as usize;
            assert_eq!(off % 4, 0);
            assert!(off + len <= p.len());
        }
    }
}
