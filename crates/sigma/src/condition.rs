//! Sigma conditions: `selection and not 1 of filter_*`, parsed into an expression tree.

/// A condition expression over named selections.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Ref(String),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// `1 of pattern` / `all of pattern`; `them` is the pattern `*`.
    Quantified {
        all: bool,
        pattern: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Open,
    Close,
}

fn lex(text: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        match c {
            '(' | ')' | ' ' | '\t' | '\n' | '\r' => {
                if !word.is_empty() {
                    out.push(Tok::Word(std::mem::take(&mut word)));
                }
                match c {
                    '(' => out.push(Tok::Open),
                    ')' => out.push(Tok::Close),
                    _ => {}
                }
            }
            '|' => {
                return Err(
                    "aggregations after `|` (count, near) are not supported; use correlation rules"
                        .into(),
                );
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(Tok::Word(word));
    }
    Ok(out)
}

/// Parses a condition: `or` binds loosest, then `and`, then `not`.
pub(crate) fn parse(text: &str) -> Result<Expr, String> {
    let toks = lex(text)?;
    let mut p = Parser { toks, pos: 0 };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err(format!("unexpected `{}` in condition", p.describe()));
    }
    Ok(e)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn keyword(&self, k: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
    }

    fn describe(&self) -> String {
        match self.toks.get(self.pos) {
            Some(Tok::Word(w)) => w.clone(),
            Some(Tok::Open) => "(".into(),
            Some(Tok::Close) => ")".into(),
            None => "end of condition".into(),
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.and()?];
        while self.keyword("or") {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.not()?];
        while self.keyword("and") {
            self.pos += 1;
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, String> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Open) => {
                self.pos += 1;
                let e = self.or()?;
                if self.toks.get(self.pos) != Some(&Tok::Close) {
                    return Err(format!("expected `)` but found `{}`", self.describe()));
                }
                self.pos += 1;
                Ok(e)
            }
            Some(Tok::Word(w)) => {
                let lower = w.to_ascii_lowercase();
                if matches!(lower.as_str(), "1" | "any" | "all")
                    && self.toks.get(self.pos + 1) == Some(&Tok::Word("of".into()))
                {
                    self.pos += 2;
                    let Some(Tok::Word(target)) = self.toks.get(self.pos).cloned() else {
                        return Err(format!(
                            "`{w} of` needs a selection pattern or `them`, found `{}`",
                            self.describe()
                        ));
                    };
                    self.pos += 1;
                    let pattern = if target.eq_ignore_ascii_case("them") {
                        "*".to_string()
                    } else {
                        target
                    };
                    return Ok(Expr::Quantified {
                        all: lower == "all",
                        pattern,
                    });
                }
                if matches!(lower.as_str(), "and" | "or" | "of") {
                    return Err(format!("`{w}` where a selection name was expected"));
                }
                self.pos += 1;
                Ok(Expr::Ref(w))
            }
            _ => Err(format!(
                "expected a selection name but found `{}`",
                self.describe()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_quantifiers() {
        let e = parse("selection and not 1 of filter_* or all of them").unwrap();
        assert_eq!(
            e,
            Expr::Or(vec![
                Expr::And(vec![
                    Expr::Ref("selection".into()),
                    Expr::Not(Box::new(Expr::Quantified {
                        all: false,
                        pattern: "filter_*".into()
                    }))
                ]),
                Expr::Quantified {
                    all: true,
                    pattern: "*".into()
                }
            ])
        );
        assert_eq!(
            parse("(a or b) and c").unwrap(),
            Expr::And(vec![
                Expr::Or(vec![Expr::Ref("a".into()), Expr::Ref("b".into())]),
                Expr::Ref("c".into())
            ])
        );
        assert!(parse("a and (b").is_err());
        assert!(
            parse("selection | count() > 5")
                .unwrap_err()
                .contains("aggregations")
        );
        assert!(parse("a b").is_err());
    }
}
