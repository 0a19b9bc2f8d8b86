//! Keys to actions, from TOML. The default keymap is embedded (`default_keymap.toml`); a user
//! file lists only the actions it rebinds. The `?` help is generated from the keymap, so each
//! bindable action carries its description here.
use crate::app::{Action, View};
use crate::error::{Error, Result};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::fmt;
use std::path::Path;

const DEFAULT: &str = include_str!("default_keymap.toml");

/// The actions a key can be bound to: name in the keymap, action, description for the help.
pub const BINDABLE: &[(&str, Action, &str)] = &[
    ("quit", Action::Quit, "quit"),
    ("help", Action::Help, "show or hide this help"),
    ("up", Action::Up, "move up"),
    ("down", Action::Down, "move down"),
    ("top", Action::Top, "go to the first row"),
    ("bottom", Action::Bottom, "go to the last row"),
    ("next_view", Action::NextView, "next view"),
    ("prev_view", Action::PrevView, "previous view"),
    (
        "experiments",
        Action::Goto(View::Experiments),
        "experiments view",
    ),
    ("run", Action::Goto(View::Run), "run view (curves, log)"),
    (
        "compare",
        Action::Goto(View::Compare),
        "compare the selected runs",
    ),
    ("zoos", Action::Goto(View::Zoos), "zoos view"),
    ("results", Action::Goto(View::Results), "results of the run"),
    (
        "table",
        Action::Goto(View::Table),
        "ablation table of the runs",
    ),
    ("enter", Action::Enter, "open the run under the cursor"),
    ("back", Action::Back, "back; clear the filter"),
    ("filter", Action::Filter, "filter rows by name or tag"),
    ("select", Action::Select, "select the run for comparison"),
    (
        "smoothing",
        Action::ToggleSmoothing,
        "smooth curves (debiased EMA)",
    ),
    ("log_scale", Action::ToggleLogScale, "logarithmic y axis"),
    (
        "window",
        Action::ToggleWindow,
        "full history / recent window",
    ),
    (
        "zoom_in",
        Action::ZoomIn,
        "zoom in (halve the curves' window)",
    ),
    (
        "zoom_out",
        Action::ZoomOut,
        "zoom out (double it, up to all)",
    ),
    ("probe", Action::NextProbe, "next probe property (run view)"),
    (
        "accuracy",
        Action::ToggleAccuracy,
        "accuracy distributions (results)",
    ),
    ("scroll_up", Action::ScrollUp, "scroll the results up"),
    ("scroll_down", Action::ScrollDown, "scroll the results down"),
    ("export", Action::Export, "export results, loss plot"),
    (
        "sort_next",
        Action::SortNext,
        "table: sort by the next column",
    ),
    (
        "sort_prev",
        Action::SortPrev,
        "table: sort by the previous one",
    ),
    (
        "sort_reverse",
        Action::SortReverse,
        "table: reverse the order",
    ),
    (
        "group_seeds",
        Action::GroupSeeds,
        "table: seeds as mean+-std, or not",
    ),
    ("launch", Action::Launch, "launch, resume; generate a zoo"),
    ("stop", Action::Stop, "stop the run, or unqueue it (asks)"),
    (
        "evaluate",
        Action::Evaluate,
        "evaluate: probes, reconstruction",
    ),
    (
        "generate",
        Action::Generate,
        "generate networks from the run(s)",
    ),
    (
        "new_experiment",
        Action::NewExperiment,
        "new experiment from the template",
    ),
    (
        "copy_experiment",
        Action::CopyExperiment,
        "copy the experiment, then edit it",
    ),
    ("edit", Action::Edit, "edit the experiment in $EDITOR"),
    ("delete", Action::Delete, "delete the run (asks first)"),
];

/// A key with its modifiers (ctrl, alt; shift only for non-character keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// The key.
    pub code: KeyCode,
    /// Ctrl, Alt (and Shift for named keys).
    pub mods: KeyModifiers,
}

impl Key {
    /// A key without modifiers.
    pub fn new(code: KeyCode) -> Self {
        Self::with(code, KeyModifiers::NONE)
    }

    /// A key with modifiers, normalised: a character carries its case, not a Shift flag, and
    /// Shift-Tab is BackTab.
    pub fn with(code: KeyCode, mods: KeyModifiers) -> Self {
        let mut mods = mods & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match code {
            KeyCode::Tab if mods.contains(KeyModifiers::SHIFT) => KeyCode::BackTab,
            c => c,
        };
        if matches!(code, KeyCode::Char(_) | KeyCode::BackTab) {
            mods.remove(KeyModifiers::SHIFT);
        }
        Self { code, mods }
    }

    /// Parses `q`, `G`, `ctrl-c`, `shift-tab`, `enter`, `f5`...
    pub fn parse(s: &str) -> Option<Key> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = s;
        loop {
            let (prefix, m) = match rest.split_once('-') {
                Some((p, r)) if !r.is_empty() => (p, r),
                _ => break,
            };
            match prefix.to_ascii_lowercase().as_str() {
                "ctrl" => mods |= KeyModifiers::CONTROL,
                "alt" => mods |= KeyModifiers::ALT,
                "shift" => mods |= KeyModifiers::SHIFT,
                _ => return None,
            }
            rest = m;
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => KeyCode::Char(c),
            _ => match rest.to_ascii_lowercase().as_str() {
                "enter" => KeyCode::Enter,
                "esc" => KeyCode::Esc,
                "tab" => KeyCode::Tab,
                "backtab" => KeyCode::BackTab,
                "space" => KeyCode::Char(' '),
                "backspace" => KeyCode::Backspace,
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "pageup" => KeyCode::PageUp,
                "pagedown" => KeyCode::PageDown,
                "delete" => KeyCode::Delete,
                "insert" => KeyCode::Insert,
                f => KeyCode::F(
                    f.strip_prefix('f')?
                        .parse()
                        .ok()
                        .filter(|n| (1..=12).contains(n))?,
                ),
            },
        };
        Some(Key::with(code, mods))
    }
}

impl From<KeyEvent> for Key {
    fn from(e: KeyEvent) -> Self {
        Key::with(e.code, e.modifiers)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("alt-")?;
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            f.write_str("shift-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::BackTab => f.write_str("shift-tab"),
            KeyCode::PageUp => f.write_str("pageup"),
            KeyCode::PageDown => f.write_str("pagedown"),
            KeyCode::F(n) => write!(f, "f{n}"),
            other => write!(f, "{}", format!("{other:?}").to_ascii_lowercase()),
        }
    }
}

/// One action and the keys bound to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// Name in the keymap file.
    pub name: &'static str,
    /// The action.
    pub action: Action,
    /// What it does (for the help).
    pub description: &'static str,
    /// Its keys, in the order written.
    pub keys: Vec<Key>,
}

/// Keys to actions.
#[derive(Debug, Clone, PartialEq)]
pub struct Keymap {
    bindings: Vec<Binding>,
}

impl Default for Keymap {
    fn default() -> Self {
        let empty = Keymap {
            bindings: BINDABLE
                .iter()
                .map(|&(name, action, description)| Binding {
                    name,
                    action,
                    description,
                    keys: Vec::new(),
                })
                .collect(),
        };
        empty
            .merged(Path::new("<default keymap>"), DEFAULT)
            .expect("the embedded keymap is valid (tested)")
    }
}

impl Keymap {
    /// The default keymap with the bindings of `path` when that file exists.
    pub fn load(path: Option<&Path>) -> Result<Keymap> {
        match path {
            Some(p) if p.exists() => {
                let text = std::fs::read_to_string(p).map_err(|e| Error::Keymap {
                    path: p.into(),
                    reason: e.to_string(),
                })?;
                Keymap::default().merged(p, &text)
            }
            _ => Ok(Keymap::default()),
        }
    }

    /// This keymap with the actions listed in `text` (a keymap file at `path`) rebound.
    pub fn merged(&self, path: &Path, text: &str) -> Result<Keymap> {
        let err = |reason: String| Error::Keymap {
            path: path.into(),
            reason,
        };
        let table: toml::Table = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let mut out = self.clone();
        for (name, value) in &table {
            let Some(b) = out.bindings.iter_mut().find(|b| b.name == name) else {
                let names: Vec<&str> = BINDABLE.iter().map(|b| b.0).collect();
                return Err(err(format!(
                    "unknown action '{name}'; actions are {}",
                    names.join(", ")
                )));
            };
            let specs: Vec<&str> = match value {
                toml::Value::String(s) => vec![s.as_str()],
                toml::Value::Array(a) => a
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Option<_>>()
                    .ok_or_else(|| err(format!("{name}: keys must be strings")))?,
                other => {
                    return Err(err(format!(
                        "{name} = {other}: expected a key or a list of keys"
                    )));
                }
            };
            b.keys = specs
                .iter()
                .map(|s| {
                    Key::parse(s).ok_or_else(|| {
                        err(format!(
                            "{name} = \"{s}\" is not a key: use a character, a name such as enter, esc, tab, space, up, pageup, f1, optionally with ctrl-, alt- or shift-"
                        ))
                    })
                })
                .collect::<Result<_>>()?;
        }
        for (i, a) in out.bindings.iter().enumerate() {
            for b in &out.bindings[i + 1..] {
                if let Some(k) = a.keys.iter().find(|k| b.keys.contains(k)) {
                    return Err(err(format!(
                        "key '{k}' is bound to both {} and {}",
                        a.name, b.name
                    )));
                }
            }
        }
        Ok(out)
    }

    /// The action bound to `key`.
    pub fn action(&self, key: Key) -> Option<Action> {
        self.bindings
            .iter()
            .find(|b| b.keys.contains(&key))
            .map(|b| b.action)
    }

    /// Every binding, in help order.
    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    /// The keys of `action`, written as in the keymap file and joined by `, `.
    pub fn keys_text(&self, action: Action) -> String {
        self.bindings
            .iter()
            .find(|b| b.action == action)
            .map(|b| {
                b.keys
                    .iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keymap_binds_terminal_habits() {
        let km = Keymap::default();
        let act = |s: &str| km.action(Key::parse(s).unwrap());
        assert_eq!(act("q"), Some(Action::Quit));
        assert_eq!(act("ctrl-c"), Some(Action::Quit));
        assert_eq!(act("j"), Some(Action::Down));
        assert_eq!(act("G"), Some(Action::Bottom));
        assert_eq!(act("3"), Some(Action::Goto(View::Compare)));
        assert_eq!(act("space"), Some(Action::Select));
        assert!(
            km.bindings().iter().all(|b| !b.keys.is_empty()),
            "every action has a key"
        );
        // What crossterm reports: 'G' with Shift, BackTab with Shift.
        let shift_g = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(km.action(shift_g.into()), Some(Action::Bottom));
        let backtab = KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT);
        assert_eq!(km.action(backtab.into()), Some(Action::PrevView));
        assert_eq!(km.keys_text(Action::Quit), "q, ctrl-c");
    }

    #[test]
    fn user_keymap_rebinds_and_errors_name_the_problem() {
        let p = Path::new("keys.toml");
        let km = Keymap::default()
            .merged(p, "quit = \"Q\"\ndelete = []\nhelp = [\"h\", \"?\"]")
            .unwrap();
        assert_eq!(km.action(Key::parse("Q").unwrap()), Some(Action::Quit));
        assert_eq!(km.action(Key::parse("q").unwrap()), None);
        assert_eq!(km.action(Key::parse("D").unwrap()), None);
        assert_eq!(km.keys_text(Action::Help), "h, ?");
        let e = |text: &str| Keymap::default().merged(p, text).unwrap_err().to_string();
        let unknown = e("jump = \"J\"");
        assert!(
            unknown.contains("keys.toml")
                && unknown.contains("'jump'")
                && unknown.contains("quit, help"),
            "{unknown}"
        );
        let bad = e("quit = \"ctrl-\"");
        assert!(bad.contains("quit = \"ctrl-\" is not a key"), "{bad}");
        let clash = e("quit = \"j\"");
        assert!(
            clash.contains("'j' is bound to both quit and down"),
            "{clash}"
        );
    }

    #[test]
    fn keys_round_trip_through_text() {
        for s in [
            "q",
            "G",
            "?",
            "-",
            "ctrl-c",
            "alt-x",
            "shift-tab",
            "enter",
            "space",
            "f5",
            "pageup",
        ] {
            assert_eq!(Key::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(Key::parse("backtab"), Key::parse("shift-tab"));
        assert!(
            Key::parse("f13").is_none()
                && Key::parse("hyper-x").is_none()
                && Key::parse("").is_none()
        );
    }
}
