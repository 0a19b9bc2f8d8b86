//! Colour themes: [`hyperzoo_core::theme::Theme`] (read from `themes/*.toml`) turned into
//! ratatui colours. The three shipped themes are embedded, so the binary finds them wherever
//! it runs; a theme file on disk (by path, or by name in a themes directory) wins.
use crate::error::{Error, Result};
use hyperzoo_core::theme::Theme;
use ratatui::style::{Color, Modifier, Style};
use std::path::{Path, PathBuf};

/// The shipped themes, by name.
const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../../themes/dark.toml")),
    ("light", include_str!("../../../themes/light.toml")),
    ("plain", include_str!("../../../themes/plain.toml")),
];

/// Names of the embedded themes.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// An embedded theme by name.
pub fn builtin(name: &str) -> Option<Theme> {
    let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
    Theme::parse(Path::new(&format!("themes/{name}.toml")), text).ok()
}

/// Loads a theme: `name` as a path to a `.toml` file, else `<dir>/<name>.toml` in the first of
/// `dirs` that has it, else an embedded theme.
pub fn load(name: &str, dirs: &[PathBuf]) -> Result<Theme> {
    let err = |reason: String| Error::Theme {
        name: name.into(),
        reason,
    };
    let as_path = Path::new(name);
    if as_path.extension().is_some_and(|e| e == "toml") {
        return Theme::load(as_path).map_err(|e| err(e.to_string()));
    }
    for dir in dirs {
        let p = dir.join(format!("{name}.toml"));
        if p.is_file() {
            return Theme::load(&p).map_err(|e| err(e.to_string()));
        }
    }
    builtin(name).ok_or_else(|| {
        err(format!(
            "no such theme; use a .toml path or one of {}",
            builtin_names().join(", ")
        ))
    })
}

/// A theme colour (`#rrggbb` or an ANSI name, see [`hyperzoo_core::theme::ANSI_NAMES`]).
pub fn color(c: &str) -> Color {
    if let Some(hex) = c.strip_prefix('#')
        && hex.len() == 6
        && let Ok(v) = u32::from_str_radix(hex, 16)
    {
        return Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8);
    }
    match c {
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" => Color::Gray,
        "darkgray" => Color::DarkGray,
        "lightred" => Color::LightRed,
        "lightgreen" => Color::LightGreen,
        "lightyellow" => Color::LightYellow,
        "lightblue" => Color::LightBlue,
        "lightmagenta" => Color::LightMagenta,
        "lightcyan" => Color::LightCyan,
        "white" => Color::White,
        _ => Color::Reset,
    }
}

/// A theme's colours as ratatui colours, with the styles the views use.
#[derive(Debug, Clone, PartialEq)]
pub struct Palette {
    /// Text.
    pub fg: Color,
    /// Background.
    pub bg: Color,
    /// Selection, focus, headers.
    pub accent: Color,
    /// Secondary text, borders.
    pub muted: Color,
    /// Finished runs, best values.
    pub good: Color,
    /// Failures.
    pub bad: Color,
    /// Warnings, stale runs.
    pub warn: Color,
    /// Plotted series, in the order runs get them.
    pub series: Vec<Color>,
}

impl Palette {
    /// The colours of `theme`.
    pub fn new(theme: &Theme) -> Self {
        let u = &theme.ui;
        Self {
            fg: color(&u.fg),
            bg: color(&u.bg),
            accent: color(&u.accent),
            muted: color(&u.muted),
            good: color(&u.good),
            bad: color(&u.bad),
            warn: color(&u.warn),
            series: theme.series.iter().map(|c| color(c)).collect(),
        }
    }

    /// Colour of series slot `i` (cycling).
    pub fn series(&self, i: usize) -> Color {
        self.series
            .get(i % self.series.len().max(1))
            .copied()
            .unwrap_or(self.fg)
    }

    /// Plain text.
    pub fn text(&self) -> Style {
        Style::new().fg(self.fg).bg(self.bg)
    }

    /// Borders and secondary text.
    pub fn dim(&self) -> Style {
        Style::new().fg(self.muted)
    }

    /// Titles and headers.
    pub fn header(&self) -> Style {
        Style::new().fg(self.accent).add_modifier(Modifier::BOLD)
    }

    /// The highlighted row.
    pub fn highlight(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_plain_is_ascii_16_colour() {
        for name in builtin_names() {
            assert!(builtin(name).is_some(), "{name}");
        }
        let plain = load("plain", &[]).unwrap();
        assert!(plain.ascii);
        let p = Palette::new(&plain);
        assert!(p.series.iter().all(|c| !matches!(c, Color::Rgb(..))));
        assert_eq!(
            Palette::new(&builtin("dark").unwrap()).series(8),
            color("#4e9af1")
        );
        let e = load("neon", &[]).unwrap_err().to_string();
        assert!(
            e.contains("neon") && e.contains("dark, light, plain"),
            "{e}"
        );
    }
}
