//! Positions in an experiment file. The document is parsed once with toml's span-aware parser
//! ([`DeTable`]); serde errors carry a byte span, which is mapped back to the dotted key and the
//! value as written, and failed [`Check`]s (which know their key) are mapped to the key's line.
use super::sections::Check;
use crate::Error;
use serde::de::DeserializeOwned;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// A problem at a place in a TOML text, before the file name is attached.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Issue {
    /// Dotted key, empty for syntax errors.
    pub key: String,
    /// The value as written (or in force), empty when there is none.
    pub value: String,
    /// What is wrong and what is accepted.
    pub expected: String,
    /// 1-based line.
    pub line: usize,
}

impl Issue {
    /// The user-facing error, naming `file`.
    pub fn into_error(self, file: &Path) -> Error {
        Error::InvalidKey {
            file: file.to_path_buf(),
            line: self.line,
            key: self.key,
            value: self.value,
            expected: self.expected,
        }
    }
}

/// One entry found by position: its key path, key span, value span and whether it is a table.
struct Hit {
    path: Vec<String>,
    key: Range<usize>,
    value: Range<usize>,
    table: bool,
}

/// A parsed TOML text with the positions of its keys and values.
pub(crate) struct Doc<'a> {
    text: &'a str,
    root: Spanned<DeTable<'a>>,
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end.max(inner.start)
}

impl<'a> Doc<'a> {
    /// Parses `text`; a syntax error becomes an [`Issue`] at its line.
    pub fn parse(text: &'a str) -> Result<Doc<'a>, Issue> {
        match DeTable::parse(text) {
            Ok(root) => Ok(Doc { text, root }),
            Err(e) => Err(Issue {
                key: String::new(),
                value: String::new(),
                expected: format!("invalid TOML: {}", e.message().trim_end()),
                line: e.span().map_or(1, |s| line_of(text, s.start)),
            }),
        }
    }

    /// The 1-based line holding byte `pos`.
    pub fn line(&self, pos: usize) -> usize {
        line_of(self.text, pos)
    }

    fn slice(&self, span: &Range<usize>) -> String {
        self.text
            .get(span.clone())
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// The entry at a path of keys, if written.
    fn find(&self, path: &[&str]) -> Option<(&Spanned<Cow<'a, str>>, &Spanned<DeValue<'a>>)> {
        let (last, parents) = path.split_last()?;
        let mut table = self.root.get_ref();
        for p in parents {
            match table.get(*p)?.get_ref() {
                DeValue::Table(t) => table = t,
                _ => return None,
            }
        }
        table.get_key_value(*last)
    }

    /// The deepest entry whose key or value holds `span`.
    fn entry_at(&self, span: &Range<usize>) -> Option<Hit> {
        fn walk(table: &DeTable<'_>, span: &Range<usize>, prefix: &mut Vec<String>) -> Option<Hit> {
            for (k, v) in table.iter() {
                prefix.push(k.get_ref().to_string());
                let table = matches!(v.get_ref(), DeValue::Table(_));
                if let DeValue::Table(t) = v.get_ref()
                    && let Some(hit) = walk(t, span, prefix)
                {
                    return Some(hit);
                }
                if contains(&k.span(), span) || contains(&v.span(), span) {
                    return Some(Hit {
                        path: prefix.clone(),
                        key: k.span(),
                        value: v.span(),
                        table,
                    });
                }
                prefix.pop();
            }
            None
        }
        if *span == self.root.span() {
            return None;
        }
        walk(self.root.get_ref(), span, &mut Vec::new())
    }

    /// Maps a deserialization error to the key it is about.
    fn issue_from_de(&self, e: &toml::de::Error) -> Issue {
        let message = e.message().trim_end().to_string();
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
            .map(str::to_string);
        let required = || "missing; this key is required".to_string();
        let hit = e.span().and_then(|s| self.entry_at(&s));
        match (hit, missing) {
            (Some(hit), Some(field)) if hit.table => Issue {
                key: format!("{}.{field}", hit.path.join(".")),
                value: String::new(),
                expected: required(),
                line: self.line(hit.key.start),
            },
            (Some(hit), _) => Issue {
                key: hit.path.join("."),
                value: if hit.table {
                    "(table)".into()
                } else {
                    self.slice(&hit.value)
                },
                expected: message,
                line: self.line(hit.key.start),
            },
            (None, Some(field)) => Issue {
                key: field,
                value: String::new(),
                expected: required(),
                line: 1,
            },
            (None, None) => Issue {
                key: String::new(),
                value: String::new(),
                expected: message,
                line: e.span().map_or(1, |s| self.line(s.start)),
            },
        }
    }

    /// Maps a failed check to the line of its key (else of a related key, else of the nearest
    /// written enclosing table, else line 1) and to the value as written when it is.
    pub fn issue_from_check(&self, c: Check) -> Issue {
        let mut candidates = vec![c.key.clone()];
        candidates.extend(c.near.iter().cloned());
        let mut parent = c.key.as_str();
        while let Some((p, _)) = parent.rsplit_once('.') {
            candidates.push(p.to_string());
            parent = p;
        }
        for cand in &candidates {
            let path: Vec<&str> = cand.split('.').collect();
            if let Some((k, v)) = self.find(&path) {
                let written = *cand == c.key && !matches!(v.get_ref(), DeValue::Table(_));
                return Issue {
                    value: if written {
                        self.slice(&v.span())
                    } else {
                        c.value
                    },
                    key: c.key,
                    expected: c.expected,
                    line: self.line(k.span().start),
                };
            }
        }
        Issue {
            key: c.key,
            value: c.value,
            expected: c.expected,
            line: 1,
        }
    }

    /// Rewrites `[section] kind = "x", ...` into serde's external enum form `section = { x = {
    /// ... } }`, keeping every span (the variant key gets the span of the `kind` value), so that
    /// errors inside the per-kind keys point at them. Without `kind`, `default` is used.
    fn externalize(
        &self,
        root: &mut DeTable<'a>,
        section: &str,
        default: &'static str,
        kinds: &[&str],
    ) -> Result<(), Issue> {
        let Some(entry) = root.get_mut(section) else {
            return Ok(());
        };
        let span = entry.span();
        let DeValue::Table(table) = entry.get_mut() else {
            return Ok(());
        };
        let (kind, kind_span) = match table.remove("kind") {
            None => (Cow::Borrowed(default), span.clone()),
            Some(v) => {
                let vspan = v.span();
                match v.into_inner() {
                    DeValue::String(s) => (s, vspan),
                    _ => {
                        return Err(Issue {
                            key: format!("{section}.kind"),
                            value: self.slice(&vspan),
                            expected: format!("one of {}", kinds.join(", ")),
                            line: self.line(vspan.start),
                        });
                    }
                }
            }
        };
        let body = std::mem::take(table);
        table.insert(
            Spanned::new(kind_span, kind),
            Spanned::new(span, DeValue::Table(body)),
        );
        Ok(())
    }

    /// Deserializes the document, `model` and `head` taken by their `kind` key.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, Issue> {
        let mut root = self.root.clone();
        self.externalize(
            root.get_mut(),
            "model",
            "transformer",
            super::sections::MODEL_KINDS,
        )?;
        self.externalize(root.get_mut(), "head", "mlp", super::sections::HEAD_KINDS)?;
        T::deserialize(toml::de::Deserializer::from(root)).map_err(|e| self.issue_from_de(&e))
    }

    /// The line of every key of `[grid]`, by its dotted name (nested tables flattened the same
    /// way as [`flatten_grid`](super::flatten_grid) does).
    pub fn grid_lines(&self) -> BTreeMap<String, usize> {
        fn walk(
            doc: &Doc<'_>,
            table: &DeTable<'_>,
            prefix: &str,
            out: &mut BTreeMap<String, usize>,
        ) {
            for (k, v) in table.iter() {
                let key = if prefix.is_empty() {
                    k.get_ref().to_string()
                } else {
                    format!("{prefix}.{}", k.get_ref())
                };
                match v.get_ref() {
                    DeValue::Table(t) if !t.contains_key("from") => walk(doc, t, &key, out),
                    _ => {
                        out.insert(key, doc.line(k.span().start));
                    }
                }
            }
        }
        let mut out = BTreeMap::new();
        if let Some((_, v)) = self.find(&["grid"])
            && let DeValue::Table(t) = v.get_ref()
        {
            walk(self, t, "", &mut out);
        }
        out
    }

    /// The line of the key at a dotted path, if written.
    pub fn line_of_key(&self, dotted: &str) -> Option<usize> {
        let path: Vec<&str> = dotted.split('.').collect();
        self.find(&path).map(|(k, _)| self.line(k.span().start))
    }
}

/// The 1-based line of byte `pos` in `text`.
fn line_of(text: &str, pos: usize) -> usize {
    let pos = pos.min(text.len());
    text.as_bytes()[..pos]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}
