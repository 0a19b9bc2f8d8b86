//! The bundled font. plotters is built without system font lookup (no fontconfig), so text is
//! drawn with the fonts registered in its ab_glyph table; this registers DejaVu Sans (license in
//! `crates/report/fonts/LICENSE-DejaVu.txt`) once. Every plotting function of this crate calls
//! [`register_fonts`]; call it yourself before drawing with plotters directly.
use plotters::style::{FontStyle, register_font};
use std::sync::Once;

static DEJAVU_SANS: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// The families registered. plotters asks for "sans-serif" by default; the other generic names
/// fall back to the same face so that no text style fails to render. Bold and italic fall back
/// to the normal style.
pub const FAMILIES: [&str; 3] = ["sans-serif", "serif", "monospace"];

/// Registers the bundled font with plotters (idempotent, thread-safe).
pub fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for family in FAMILIES {
            if register_font(family, FontStyle::Normal, DEJAVU_SANS).is_err() {
                panic!("the bundled fonts/DejaVuSans.ttf is not a valid font");
            }
        }
    });
}
