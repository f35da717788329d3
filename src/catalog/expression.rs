//! License expressions as values. slim builds them from license fields
//! (DEP-5 `License:` lines, apk `L:`, rpm `License`) and combines them (the
//! AND of a copyright file's paragraphs, a LicenseRef replaced by the id its
//! text matches) as trees, so a join can never change what an operand means;
//! they are written as SPDX text. Reading and evaluating SPDX text (a policy,
//! an SBOM) is the `spdx` crate's [`spdx::Expression`]: see [`parse`].

use std::fmt;

/// A license expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lic {
    /// One license: an SPDX id or LicenseRef, with `WITH exception` if any.
    Term(String),
    /// All of these (two or more, none an AND).
    And(Vec<Lic>),
    /// Any one of these (two or more, none an OR).
    Or(Vec<Lic>),
}

fn join(items: impl IntoIterator<Item = Lic>, and: bool) -> Option<Lic> {
    let mut v: Vec<Lic> = Vec::new();
    let mut push = |x: Lic| {
        if !v.contains(&x) {
            v.push(x);
        }
    };
    for x in items {
        match x {
            Lic::And(inner) if and => inner.into_iter().for_each(&mut push),
            Lic::Or(inner) if !and => inner.into_iter().for_each(&mut push),
            x => push(x),
        }
    }
    match v.len() {
        0 => None,
        1 => v.pop(),
        _ if and => Some(Lic::And(v)),
        _ => Some(Lic::Or(v)),
    }
}

impl Lic {
    pub fn term(s: impl Into<String>) -> Lic {
        Lic::Term(s.into())
    }

    /// The AND of `items`, nested ANDs flattened and repeated operands listed
    /// once; None for no items.
    pub fn all(items: impl IntoIterator<Item = Lic>) -> Option<Lic> {
        join(items, true)
    }

    /// The OR of `items`, as [`Lic::all`] is the AND.
    pub fn any(items: impl IntoIterator<Item = Lic>) -> Option<Lic> {
        join(items, false)
    }

    /// The operands of a top-level AND; the expression itself otherwise.
    pub fn and_terms(&self) -> Vec<Lic> {
        match self {
            Lic::And(v) => v.clone(),
            x => vec![x.clone()],
        }
    }

    /// Whether `term` is one of the licenses (a whole term, not a substring).
    pub fn has_term(&self, term: &str) -> bool {
        match self {
            Lic::Term(t) => t == term,
            Lic::And(v) | Lic::Or(v) => v.iter().any(|x| x.has_term(term)),
        }
    }

    /// The expression with every term passed through `f`, joined again (so
    /// operands that became equal are listed once).
    pub fn map_terms(&self, f: &mut dyn FnMut(&str) -> String) -> Lic {
        match self {
            Lic::Term(t) => Lic::Term(f(t)),
            Lic::And(v) => Lic::all(v.iter().map(|x| x.map_terms(f))).expect("not empty"),
            Lic::Or(v) => Lic::any(v.iter().map(|x| x.map_terms(f))).expect("not empty"),
        }
    }
}

/// SPDX text. AND binds tighter than OR: an OR inside an AND is
/// parenthesised, and so, for the reader, is an AND inside an OR.
impl fmt::Display for Lic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (v, op) = match self {
            Lic::Term(t) => return f.write_str(t),
            Lic::And(v) => (v, " AND "),
            Lic::Or(v) => (v, " OR "),
        };
        for (i, x) in v.iter().enumerate() {
            if i > 0 {
                f.write_str(op)?;
            }
            match x {
                Lic::Term(_) => write!(f, "{x}")?,
                _ => write!(f, "({x})")?,
            }
        }
        Ok(())
    }
}

/// A token of a free-text license field.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    And,
    Or,
    /// `,` or `;`: in DEP-5 it joins with the lowest precedence
    /// (`GPL-2+ or Artistic, and BSD` is `(GPL-2+ or Artistic) and BSD`).
    Comma,
    Open,
    Close,
}

fn tokens(field: &str) -> Vec<Token> {
    // Some files write `LGPLv3+_or_GPLv2+`.
    let spaced = field
        .replace("_or_", " or ")
        .replace("_and_", " and ")
        .replace('(', " ( ")
        .replace(')', " ) ")
        .replace([',', ';'], " , ");
    spaced
        .split_whitespace()
        .map(|w| match w.to_ascii_lowercase().as_str() {
            "and" | "&" | "&&" => Token::And,
            "or" | "|" | "||" | "/" => Token::Or,
            "," => Token::Comma,
            "(" => Token::Open,
            ")" => Token::Close,
            _ => Token::Word(w.to_string()),
        })
        .collect()
}

/// Nesting deeper than this is not a license field.
const MAX_DEPTH: usize = 32;

struct Parser {
    t: Vec<Token>,
    i: usize,
    /// Whether `,` binds loosest (DEP-5) rather than as AND.
    comma_lowest: bool,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.t.get(self.i)
    }

    /// level 0: `,` (when loosest); 1: OR; 2: AND (and `,` otherwise).
    fn expr(&mut self, level: u8, depth: usize) -> Option<Lic> {
        if level == 3 {
            return self.atom(depth);
        }
        let mut v = vec![self.expr(level + 1, depth)?];
        loop {
            let joins = match self.peek() {
                Some(Token::Comma) => level == if self.comma_lowest { 0 } else { 2 },
                Some(Token::Or) => level == 1,
                Some(Token::And) => level == 2,
                _ => false,
            };
            if !joins {
                break;
            }
            self.i += 1;
            v.push(self.expr(level + 1, depth)?);
        }
        match level {
            1 => Lic::any(v),
            _ => Lic::all(v),
        }
    }

    fn atom(&mut self, depth: usize) -> Option<Lic> {
        match self.peek()? {
            Token::Open if depth < MAX_DEPTH => {
                self.i += 1;
                let e = self.expr(0, depth + 1)?;
                (self.peek() == Some(&Token::Close)).then_some(())?;
                self.i += 1;
                Some(e)
            }
            Token::Word(_) => {
                // Words between operators form one name (`Public Domain`,
                // `GPL-3+ with Bison exception`).
                let mut words = Vec::new();
                while let Some(Token::Word(w)) = self.peek() {
                    words.push(w.clone());
                    self.i += 1;
                }
                Some(Lic::Term(words.join(" ")))
            }
            _ => None,
        }
    }
}

/// Operators without an operand on both sides are dropped (`GPL and`,
/// `, and`: the first of a run of operators is kept).
fn tidy(t: Vec<Token>) -> Vec<Token> {
    let is_op = |t: &Token| matches!(t, Token::And | Token::Or | Token::Comma);
    let mut out: Vec<Token> = Vec::new();
    for x in t {
        let after_operand = matches!(out.last(), Some(Token::Word(_) | Token::Close));
        if is_op(&x) && !after_operand {
            continue;
        }
        out.push(x);
    }
    // An operator followed by no operand (`(A or)`, a trailing `,`).
    let mut keep = vec![true; out.len()];
    for i in 0..out.len() {
        if is_op(&out[i]) && !matches!(out.get(i + 1), Some(Token::Word(_) | Token::Open)) {
            keep[i] = false;
        }
    }
    out.into_iter()
        .zip(keep)
        .filter_map(|(x, k)| k.then_some(x))
        .collect()
}

/// Parses a free-text license field into names and operators: `and`/`&`,
/// `or`/`|`/`/`, parentheses, and `,` (loosest when `comma_lowest`, as in
/// DEP-5; otherwise an AND). Each term is a name as written. Unbalanced
/// parentheses are read as if absent; None when nothing is left.
pub fn parse_field(field: &str, comma_lowest: bool) -> Option<Lic> {
    let t = tidy(tokens(field));
    let parse = |t: Vec<Token>| {
        let mut p = Parser {
            t,
            i: 0,
            comma_lowest,
        };
        let e = p.expr(0, 0)?;
        (p.i == p.t.len()).then_some(e)
    };
    parse(t.clone()).or_else(|| {
        let flat = t
            .into_iter()
            .filter(|x| !matches!(x, Token::Open | Token::Close))
            .collect();
        parse(tidy(flat))
    })
}

/// Parses SPDX text for reading and evaluating: the SPDX License List's ids
/// (deprecated ones too, and old data's `GPL-2.0+`, read as
/// `GPL-2.0-or-later`), LicenseRefs, `WITH`,
/// `AND`, `OR`, parentheses. The parser is the `spdx` crate's, which does not
/// recurse on its input.
pub fn parse(text: &str) -> Result<spdx::Expression, spdx::error::ParseError> {
    spdx::Expression::parse_mode(
        text,
        spdx::ParseMode {
            allow_deprecated: true,
            allow_postfix_plus_on_gpl: true,
            ..spdx::ParseMode::STRICT
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(s: &str, dep5: bool) -> String {
        parse_field(s, dep5).unwrap().to_string()
    }

    #[test]
    fn joins_flatten_dedup_and_parenthesise_by_precedence() {
        let or = Lic::any([Lic::term("A"), Lic::term("B")]).unwrap();
        let e = Lic::all([Lic::term("MIT"), or.clone(), Lic::term("MIT")]).unwrap();
        assert_eq!(e.to_string(), "MIT AND (A OR B)");
        let inner = Lic::any([
            Lic::all([Lic::term("A"), Lic::term("B")]).unwrap(),
            Lic::term("C"),
        ]);
        let e = Lic::all([Lic::term("MIT"), inner.unwrap()]).unwrap();
        assert_eq!(e.to_string(), "MIT AND ((A AND B) OR C)");
        assert_eq!(
            Lic::all([e.clone(), Lic::term("X")])
                .unwrap()
                .and_terms()
                .len(),
            3
        );
        assert!(e.has_term("B") && !e.has_term("M"));
        let replaced = e.map_terms(&mut |t| if t == "C" { "MIT".into() } else { t.into() });
        assert_eq!(replaced.to_string(), "MIT AND ((A AND B) OR MIT)");
    }

    #[test]
    fn fields_with_parentheses_commas_and_dangling_operators() {
        assert_eq!(
            field("(GPL-2+ and LGPL-2+) or BSD", true),
            "(GPL-2+ AND LGPL-2+) OR BSD"
        );
        assert_eq!(
            field("GPL-2+ or Artistic, and BSD", true),
            "(GPL-2+ OR Artistic) AND BSD"
        );
        assert_eq!(
            field("GPL-2+ or Artistic, BSD", false),
            "GPL-2+ OR (Artistic AND BSD)"
        );
        assert_eq!(
            field("GPLv2 with exceptions and MIT", false),
            "GPLv2 with exceptions AND MIT"
        );
        assert_eq!(field("LGPLv3+_or_GPLv2+", true), "LGPLv3+ OR GPLv2+");
        assert_eq!(field("GPL and", false), "GPL");
        assert_eq!(field("(MIT or", false), "MIT");
        assert_eq!(field("BSD (3 clause)", false), "BSD 3 clause");
        assert_eq!(parse_field(" , ", true), None);
        let deep = format!("{}MIT{}", "(".repeat(100), ")".repeat(100));
        assert_eq!(field(&deep, false), "MIT", "too deep: read flat");
    }

    #[test]
    fn spdx_text_parses_with_deprecated_ids_and_rejects_unknown_ones() {
        let old = parse("GPL-2.0+ OR MIT").unwrap();
        let ids: Vec<String> = old.requirements().map(|r| r.req.to_string()).collect();
        assert_eq!(ids, ["GPL-2.0-or-later", "MIT"]);
        assert!(parse("LicenseRef-x AND (MIT OR Apache-2.0 WITH LLVM-exception)").is_ok());
        assert!(parse("NOASSERTION").is_ok());
        assert!(parse("MIT OR").is_err());
        assert!(parse("Not-A-License").is_err());
    }
}
