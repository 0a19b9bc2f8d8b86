//! Colour themes for the TUI, read from `themes/*.toml`. Colours are `#rrggbb` or one of the 16
//! ANSI names (for terminals without true colour); the TUI maps them to its own colour type.
use crate::{Error, Result};
use serde::Deserialize;
use std::path::Path;

/// The 16 ANSI colour names accepted besides `#rrggbb`, plus `reset` (the terminal's default).
pub const ANSI_NAMES: &[&str] = &[
    "reset",
    "black",
    "red",
    "green",
    "yellow",
    "blue",
    "magenta",
    "cyan",
    "gray",
    "darkgray",
    "lightred",
    "lightgreen",
    "lightyellow",
    "lightblue",
    "lightmagenta",
    "lightcyan",
    "white",
];

/// A colour theme.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Theme {
    /// Display name.
    pub name: String,
    /// Draw with ASCII markers only (no braille, no box-drawing), for plain terminals.
    #[serde(default)]
    pub ascii: bool,
    /// Base colours.
    pub ui: UiColors,
    /// Colours of plotted series, assigned to runs in a stable order.
    pub series: Vec<String>,
}

/// Colours of interface elements.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiColors {
    /// Text.
    pub fg: String,
    /// Background.
    pub bg: String,
    /// Selection, focus, headers.
    pub accent: String,
    /// Secondary text, borders.
    pub muted: String,
    /// Completed runs, best values.
    pub good: String,
    /// Failures.
    pub bad: String,
    /// Warnings, stale runs.
    pub warn: String,
}

/// Whether `c` is a colour a theme may use.
pub fn is_color(c: &str) -> bool {
    let hex = c
        .strip_prefix('#')
        .is_some_and(|h| h.len() == 6 && h.chars().all(|x| x.is_ascii_hexdigit()));
    hex || ANSI_NAMES.contains(&c)
}

impl Theme {
    /// Parses and validates a theme file's text; errors name the file and the bad value.
    pub fn parse(path: &Path, text: &str) -> Result<Theme> {
        let theme: Theme = toml::from_str(text).map_err(|e| Error::format(path, e.to_string()))?;
        let u = &theme.ui;
        let named = [
            ("ui.fg", &u.fg),
            ("ui.bg", &u.bg),
            ("ui.accent", &u.accent),
            ("ui.muted", &u.muted),
        ];
        let status = [
            ("ui.good", &u.good),
            ("ui.bad", &u.bad),
            ("ui.warn", &u.warn),
        ];
        let series = theme
            .series
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("series[{i}]"), c));
        let all = named
            .into_iter()
            .chain(status)
            .map(|(k, c)| (k.to_string(), c))
            .chain(series);
        for (key, c) in all {
            if !is_color(c) {
                return Err(Error::format(
                    path,
                    format!(
                        "{key} = \"{c}\" is not a colour: use #rrggbb or one of {}",
                        ANSI_NAMES.join(", ")
                    ),
                ));
            }
        }
        if theme.series.is_empty() {
            return Err(Error::format(
                path,
                "series is empty: list at least one colour",
            ));
        }
        Ok(theme)
    }

    /// Reads a theme file.
    pub fn load(path: &Path) -> Result<Theme> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
        Self::parse(path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_themes_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../themes");
        let mut names = Vec::new();
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                names.push(Theme::load(&p).unwrap_or_else(|e| panic!("{e}")).name);
            }
        }
        names.sort();
        assert_eq!(names, ["dark", "light", "plain"]);
    }

    #[test]
    fn bad_colour_and_unknown_key_are_named() {
        let p = Path::new("themes/x.toml");
        let ok = "name='x'\nseries=['red']\n[ui]\nfg='white'\nbg='black'\naccent='#00aaff'\nmuted='gray'\ngood='green'\nbad='red'\nwarn='yellow'\n";
        Theme::parse(p, ok).unwrap();
        let e = Theme::parse(p, &ok.replace("#00aaff", "#00aaf"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("themes/x.toml") && e.contains("ui.accent = \"#00aaf\""),
            "{e}"
        );
        let e = Theme::parse(p, &format!("{ok}glow='red'\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("glow"), "{e}");
    }
}
