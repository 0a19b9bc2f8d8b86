//! Grids: the one syntax shared by zoo files and experiment ablations.
//!
//! A `[grid]` table maps keys to lists of values; the expansion is the cartesian product, in a
//! fixed order (keys sorted, values as written, the last key varying fastest). `seed` may also be
//! written as an inclusive range `{ from = 1, to = 1000 }`.
//!
//! ```toml
//! [grid]
//! activation = ["tanh", "relu"]
//! lr = [1e-3, 1e-4]
//! seed = { from = 1, to = 10 }
//! ```
use crate::{Error, Result};
use std::collections::BTreeMap;

/// An expanded grid point: key to value.
pub type Point = BTreeMap<String, toml::Value>;

/// A grid of keys to lists of values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grid {
    /// Keys (sorted) and their values.
    pub axes: BTreeMap<String, Vec<toml::Value>>,
}

impl Grid {
    /// Parses a `[grid]` table; `file` names the file in errors.
    pub fn from_table(file: &str, table: &toml::Table) -> Result<Grid> {
        let mut axes = BTreeMap::new();
        for (key, value) in table {
            let values = match value {
                toml::Value::Array(a) if !a.is_empty() => a.clone(),
                toml::Value::Table(t) if t.contains_key("from") => range(file, key, t)?,
                other => {
                    return Err(Error::InvalidValue {
                        what: format!("{file}: grid.{key}"),
                        value: other.to_string(),
                        expected:
                            "a non-empty list of values, or { from = A, to = B } for integers"
                                .into(),
                    });
                }
            };
            axes.insert(key.clone(), values);
        }
        Ok(Grid { axes })
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.axes.values().map(Vec::len).product()
    }

    /// True for a grid with no points (never for a parsed grid; an empty grid has one point).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All points, in the fixed order.
    pub fn expand(&self) -> Vec<Point> {
        let mut points = vec![Point::new()];
        for (key, values) in &self.axes {
            points = points
                .into_iter()
                .flat_map(|p| {
                    values.iter().map(move |v| {
                        let mut q = p.clone();
                        q.insert(key.clone(), v.clone());
                        q
                    })
                })
                .collect();
        }
        points
    }

    /// The keys whose lists have more than one value.
    pub fn varied(&self) -> Vec<&str> {
        self.axes
            .iter()
            .filter(|(_, v)| v.len() > 1)
            .map(|(k, _)| k.as_str())
            .collect()
    }
}

fn range(file: &str, key: &str, t: &toml::Table) -> Result<Vec<toml::Value>> {
    let int = |k: &str| t.get(k).and_then(toml::Value::as_integer);
    match (int("from"), int("to"), t.len()) {
        (Some(a), Some(b), 2) if a <= b => Ok((a..=b).map(toml::Value::Integer).collect()),
        _ => Err(Error::InvalidValue {
            what: format!("{file}: grid.{key}"),
            value: toml::Value::Table(t.clone()).to_string(),
            expected: "{ from = A, to = B } with integers A <= B and no other keys".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(text: &str) -> Result<Grid> {
        let t: toml::Table = toml::from_str(text).unwrap();
        Grid::from_table("z.toml", &t)
    }

    #[test]
    fn cartesian_product_in_fixed_order() {
        let g = grid("b = [1, 2]\na = ['x', 'y', 'z']\nseed = { from = 1, to = 2 }").unwrap();
        assert_eq!(g.len(), 12);
        let pts = g.expand();
        assert_eq!(pts.len(), 12);
        assert_eq!(pts[0]["a"].as_str(), Some("x"));
        assert_eq!(pts[1]["seed"].as_integer(), Some(2));
        assert_eq!(pts[2]["b"].as_integer(), Some(2));
        assert_eq!(g.varied(), vec!["a", "b", "seed"]);
        assert_eq!(grid("").unwrap().expand().len(), 1);
    }

    #[test]
    fn bad_axes_are_named() {
        let e = grid("lr = 0.1").unwrap_err().to_string();
        assert!(e.contains("grid.lr") && e.contains("0.1"), "{e}");
        let e = grid("seed = { from = 5, to = 1 }").unwrap_err().to_string();
        assert!(e.contains("grid.seed"), "{e}");
        assert!(grid("x = []").is_err());
    }
}
