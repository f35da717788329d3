//! SPDX license expressions (SPDX 2.3 annex D): ids, `WITH`, `AND`, `OR`
//! (AND binds tighter), parentheses.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A license id or LicenseRef, with its exception if any.
    License {
        id: String,
        exception: Option<String>,
    },
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad license expression '{expr}': {problem}")]
pub struct Error {
    pub expr: String,
    pub problem: String,
}

fn tokens(s: &str) -> Vec<String> {
    s.replace('(', " ( ")
        .replace(')', " ) ")
        .split_whitespace()
        .map(String::from)
        .collect()
}

struct P<'a> {
    t: &'a [String],
    i: usize,
    src: &'a str,
}

impl P<'_> {
    fn err(&self, problem: &str) -> Error {
        Error {
            expr: self.src.to_string(),
            problem: problem.to_string(),
        }
    }
    fn peek(&self) -> Option<&str> {
        self.t.get(self.i).map(String::as_str)
    }
    fn or(&mut self) -> Result<Expr, Error> {
        let mut v = vec![self.and()?];
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("OR")) {
            self.i += 1;
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::Or(v)
        })
    }
    fn and(&mut self) -> Result<Expr, Error> {
        let mut v = vec![self.atom()?];
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("AND")) {
            self.i += 1;
            v.push(self.atom()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::And(v)
        })
    }
    fn atom(&mut self) -> Result<Expr, Error> {
        match self.peek() {
            Some("(") => {
                self.i += 1;
                let e = self.or()?;
                if self.peek() != Some(")") {
                    return Err(self.err("missing ')'"));
                }
                self.i += 1;
                Ok(e)
            }
            Some(t) if !matches!(t.to_ascii_uppercase().as_str(), "AND" | "OR" | "WITH" | ")") => {
                let id = t.to_string();
                self.i += 1;
                let mut exception = None;
                if self.peek().is_some_and(|t| t.eq_ignore_ascii_case("WITH")) {
                    self.i += 1;
                    exception = Some(
                        self.peek()
                            .ok_or_else(|| self.err("WITH needs an exception"))?
                            .to_string(),
                    );
                    self.i += 1;
                }
                Ok(Expr::License { id, exception })
            }
            _ => Err(self.err("expected a license")),
        }
    }
}

/// Parses an SPDX license expression.
pub fn parse(s: &str) -> Result<Expr, Error> {
    let t = tokens(s);
    let mut p = P {
        t: &t,
        i: 0,
        src: s,
    };
    let e = p.or()?;
    if p.i != t.len() {
        return Err(p.err("unexpected text after the expression"));
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn and_binds_tighter_than_or() {
        let e = parse("MIT OR GPL-2.0-only AND (BSD-3-Clause OR ISC)").unwrap();
        let Expr::Or(v) = e else { panic!() };
        assert_eq!(v.len(), 2);
        assert!(matches!(&v[1], Expr::And(a) if a.len() == 2));
        assert_eq!(
            parse("GPL-3.0-or-later WITH Bison-exception-2.2").unwrap(),
            Expr::License {
                id: "GPL-3.0-or-later".into(),
                exception: Some("Bison-exception-2.2".into())
            }
        );
        assert!(parse("MIT OR").is_err());
        assert!(parse("(MIT").is_err());
    }
}
