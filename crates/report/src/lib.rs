//! hyperzoo-report: exports of runs and comparisons (TOML, CSV, PNG, SVG).
