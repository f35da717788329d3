//! Debian control-file paragraphs (deb822(5)): `Field: value` lines,
//! continuation lines start with a space or tab, paragraphs end at a blank line.

/// One paragraph: its fields in order, and the raw text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paragraph {
    pub fields: Vec<(String, String)>,
    pub raw: String,
}

impl Paragraph {
    /// A field's value (case-insensitive name); continuation lines joined with `\n`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Splits a deb822 text into paragraphs.
pub fn parse(text: &str) -> Vec<Paragraph> {
    let mut out = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut raw = String::new();
    let mut flush = |fields: &mut Vec<(String, String)>, raw: &mut String| {
        if !fields.is_empty() {
            out.push(Paragraph {
                fields: std::mem::take(fields),
                raw: std::mem::take(raw),
            });
        }
        raw.clear();
    };
    for line in text.lines() {
        if line.trim().is_empty() {
            flush(&mut fields, &mut raw);
            continue;
        }
        raw.push_str(line);
        raw.push('\n');
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = fields.last_mut() {
                v.push('\n');
                v.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            fields.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    flush(&mut fields, &mut raw);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn paragraphs_fields_and_continuations() {
        let p = super::parse(
            "Package: a\nDescription: x\n more\n .\n\n\nPackage: b\nStatus: install ok installed\n",
        );
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].get("description"), Some("x\nmore\n."));
        assert_eq!(p[1].get("Status"), Some("install ok installed"));
        assert!(p[0].raw.ends_with(" .\n"));
    }
}
