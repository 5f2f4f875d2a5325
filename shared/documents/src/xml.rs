//! A tiny XML writer: elements written in order into a string, text and attributes escaped.
//! Documents are built by hand in schema order; no DOM, no allocation per node.

use std::fmt::Write as _;

pub struct Xml {
    out: String,
    stack: Vec<&'static str>,
}

/// Escapes text for element content and attribute values; drops the characters XML 1.0 forbids.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
}

impl Xml {
    pub fn new(capacity: usize) -> Xml {
        let mut out = String::with_capacity(capacity);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        Xml { out, stack: Vec::with_capacity(16) }
    }

    /// Opens an element with attributes (already-safe names, escaped values).
    pub fn open_with(&mut self, name: &'static str, attrs: &[(&str, &str)]) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        for (k, v) in attrs {
            let _ = write!(self.out, " {k}=\"");
            escape_into(&mut self.out, v);
            self.out.push('"');
        }
        self.out.push('>');
        self.stack.push(name);
        self
    }

    pub fn open(&mut self, name: &'static str) -> &mut Self {
        self.open_with(name, &[])
    }

    pub fn close(&mut self) -> &mut Self {
        if let Some(name) = self.stack.pop() {
            let _ = write!(self.out, "</{name}>");
        }
        self
    }

    /// `<name attrs>text</name>`.
    pub fn leaf_with(&mut self, name: &'static str, attrs: &[(&str, &str)], text: &str) -> &mut Self {
        self.open_with(name, attrs);
        escape_into(&mut self.out, text);
        self.close()
    }

    pub fn leaf(&mut self, name: &'static str, text: &str) -> &mut Self {
        self.leaf_with(name, &[], text)
    }

    /// A leaf only when there is a value.
    pub fn leaf_opt(&mut self, name: &'static str, text: Option<&str>) -> &mut Self {
        if let Some(t) = text.filter(|t| !t.is_empty()) {
            self.leaf(name, t);
        }
        self
    }

    pub fn finish(mut self) -> Vec<u8> {
        while !self.stack.is_empty() {
            self.close();
        }
        self.out.push('\n');
        self.out.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes_are_escaped() {
        let mut x = Xml::new(64);
        x.open_with("a", &[("k", "x\"<&")]).leaf("b", "Tom & \"Jerry\" <3 l'été\u{1}").close();
        let s = String::from_utf8(x.finish()).unwrap();
        assert!(s.contains("<a k=\"x&quot;&lt;&amp;\"><b>Tom &amp; &quot;Jerry&quot; &lt;3 l&apos;été</b></a>"), "{s}");
    }
}
