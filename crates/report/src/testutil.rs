//! Fixture run directories and zoos, written by hand as `hyperzoo run` and `eval` would.
use hyperzoo_core::arch::ArchSpec;
use hyperzoo_core::zoo::ModelSplit;
use hyperzoo_core::zoo::store::{FORMAT_VERSION, Manifest, ModelRow, NetStatus, Record, write_zoo};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// What a fixture run holds.
pub struct RunSpec {
    pub name: String,
    /// Step records (epoch records after steps 3 and 6).
    pub steps: u64,
    /// Epoch records, at most 2.
    pub epochs: u64,
    /// status.toml's state; `None`: no status.toml.
    pub state: Option<&'static str>,
    pub results: bool,
    /// Added to every probe score and to the weight R².
    pub score_shift: f64,
    pub ood: bool,
}

impl RunSpec {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            steps: 6,
            epochs: 2,
            state: Some("finished"),
            results: true,
            score_shift: 0.0,
            ood: false,
        }
    }
}

/// Writes `<root>/runs/<name>/` and returns it.
pub fn write_run(root: &Path, spec: &RunSpec) -> PathBuf {
    let dir = root.join("runs").join(&spec.name);
    std::fs::create_dir_all(dir.join("checkpoints")).unwrap();
    std::fs::write(dir.join("config.toml"), format!("name = {:?}\n", spec.name)).unwrap();
    if let Some(state) = spec.state {
        let status = format!(
            "state = \"{state}\"\nstep = {}\nepoch = {}\nepochs = 2\nmessage = \"\"\n",
            spec.steps, spec.epochs
        );
        std::fs::write(dir.join("status.toml"), status).unwrap();
    }

    let (train_loss, val_loss, val_r2) = ([1.2, 1.0], [1.1, 0.9], [0.25, 0.5]);
    let mut metrics = String::new();
    for step in 1..=spec.steps {
        let epoch = (step - 1) / 3;
        // Keys in the order the trainer writes them (serde_json's json! would sort them).
        writeln!(
            metrics,
            r#"{{"kind":"step","step":{step},"epoch":{epoch},"loss":{:?},"contrast":1.5,"structure":0.5,"lr":0.001}}"#,
            2.0 / step as f64
        )
        .unwrap();
        if step % 3 == 0 && epoch < spec.epochs {
            let e = epoch as usize;
            writeln!(
                metrics,
                r#"{{"kind":"epoch","step":{step},"epoch":{},"train_loss":{},"val_loss":{},"val_r2":{},"lr":0.001}}"#,
                epoch + 1,
                train_loss[e],
                val_loss[e],
                val_r2[e]
            )
            .unwrap();
        }
    }
    metrics.push_str("{\"kind\": \"st"); // torn by a kill
    std::fs::write(dir.join("metrics.jsonl"), metrics).unwrap();

    if spec.results {
        std::fs::write(dir.join("results.toml"), results_text(spec, &dir)).unwrap();
    }
    dir
}

fn results_text(spec: &RunSpec, dir: &Path) -> String {
    let d = spec.score_shift;
    let mut t = format!(
        "run = {:?}\nzoo = \"tetris\"\ncheckpoint = {:?}\nembedding_dim = 32\nrows = [100, 20, 40]\n",
        spec.name,
        dir.join("checkpoints/best").display().to_string()
    );
    let probes = [
        ("test_acc", "r2", [0.9, -2.5, 0.6]),
        ("activation", "accuracy", [0.95, 0.5, 0.8]),
    ];
    for (property, metric, scores) in probes {
        for (method, score) in ["hyper", "W", "s(W)"].iter().zip(scores) {
            write!(
                t,
                "\n[[probes]]\nproperty = \"{property}\"\nmethod = \"{method}\"\nmetric = \"{metric}\"\ntrain = 0.99\nval = 0.9\ntest = {:.3}\n",
                score + d
            )
            .unwrap();
            if metric == "r2" {
                t.push_str("kendall_tau = 0.8\nalpha = 1.0\n");
            }
        }
    }
    write!(
        t,
        "\n[reconstruction]\ncheckpoints = 40\nweight_r2 = {:.3}\nweight_mse = 0.2\nl2_mean = 3.5\nimages = 500\n",
        0.8 + d
    )
    .unwrap();
    let tables = [
        ("acc_original", [0.2, 0.5, 0.6, 0.7, 0.8, 0.58]),
        ("acc_reconstructed", [0.1, 0.4, 0.55, 0.65, 0.75, 0.52]),
        ("agreement", [0.5, 0.7, 0.8, 0.9, 0.95, 0.78]),
    ];
    for (name, [min, q25, median, q75, max, mean]) in tables {
        write!(
            t,
            "\n[reconstruction.{name}]\nmin = {min}\nq25 = {q25}\nmedian = {median}\nq75 = {q75}\nmax = {max}\nmean = {mean}\n"
        )
        .unwrap();
    }
    if spec.ood {
        t.push_str(
            "\n[[ood]]\nzoo = \"other\"\nproperty = \"test_acc\"\nmethod = \"hyper\"\nr2 = 0.6\nkendall_tau = 0.7\n",
        );
    }
    t
}

/// A complete zoo of `n` tetris MLPs with checkpoints at epochs 0 and 5: test accuracy at
/// epoch 5 is `0.5 + 0.01 i`, except the last network, which diverged.
pub fn write_test_zoo(root: &Path, n: usize) -> PathBuf {
    let dir = root.join("zoos/tiny");
    let arch = ArchSpec::builtin("tetris_mlp").unwrap();
    let params = arch.param_count().unwrap();
    let manifest = Manifest {
        format: FORMAT_VERSION,
        name: "tiny".into(),
        description: String::new(),
        status: hyperzoo_core::zoo::store::ZooStatus::Complete,
        dataset: "tetris".into(),
        models: n,
        params,
        epochs: 5,
        checkpoints: vec![],
        arch,
        versions: Default::default(),
        command: "test".into(),
        definition: String::new(),
        source: String::new(),
        data: None,
    };
    let rows: Vec<ModelRow> = (0..n)
        .map(|id| ModelRow {
            id,
            split: ModelSplit::Train,
            population: 0,
            hparams: vec![("activation".into(), "relu".into())],
        })
        .collect();
    let weights: Vec<(usize, Vec<f32>)> =
        [0, 5].iter().map(|&e| (e, vec![0.0; n * params])).collect();
    let records: Vec<Record> = (0..n)
        .flat_map(|id| {
            [0, 5].map(|epoch| {
                let diverged = epoch == 5 && id == n - 1;
                let acc = match (epoch, diverged) {
                    (_, true) => f64::NAN,
                    (0, _) => 0.1,
                    _ => 0.5 + 0.01 * id as f64,
                };
                Record {
                    id,
                    epoch,
                    status: if diverged {
                        NetStatus::Diverged
                    } else {
                        NetStatus::Ok
                    },
                    train_loss: 1.0,
                    train_acc: acc,
                    val_loss: 1.0,
                    val_acc: acc,
                    test_loss: 1.0,
                    test_acc: acc,
                    ggap: 0.0,
                }
            })
        })
        .collect();
    write_zoo(&dir, manifest, &rows, &weights, &records).unwrap();
    dir
}

/// Width and height of a PNG file, after checking its signature.
pub fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.len() > 1000, "{} is too small", path.display());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

/// The texts of an SVG file's `<text>` elements, after checking it is an SVG.
pub fn svg_labels(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.starts_with("<svg"),
        "not an SVG: {}",
        &text[..text.len().min(80)]
    );
    assert!(text.trim_end().ends_with("</svg>"));
    svg_text_elements(&text)
}

/// The contents of the `<text ...>...</text>` elements of an SVG document, trimmed.
pub fn svg_text_elements(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|rest| {
            let start = rest.find('>')? + 1;
            let end = rest.find("</text>")?;
            Some(rest[start..end].trim().to_string())
        })
        .collect()
}

/// Asserts that every label is the text of one of `labels`.
pub fn assert_labels(labels: &[String], want: &[&str]) {
    for w in want {
        assert!(labels.iter().any(|l| l == w), "no text {w:?} in {labels:?}");
    }
}

/// The ink box of one SVG `<text>` element, in image pixels.
#[derive(Debug, Clone)]
pub struct TextBox {
    pub text: String,
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

/// The value of attribute `name` in the opening tag `tag`.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Where each `<text>` element of an SVG document puts ink, as a browser lays it out: the
/// bundled DejaVu Sans at the element's font-size, its anchor (`text-anchor`), its baseline
/// shift (`dy` of 0.76em, ±0.5ex) and its rotation; the box spans the glyphs' outlines.
/// Independent of plotters' own text measure.
pub fn svg_text_boxes(svg: &str) -> Vec<TextBox> {
    use ab_glyph::{Font, FontRef};
    let font = FontRef::try_from_slice(include_bytes!("../fonts/DejaVuSans.ttf")).unwrap();
    let upem = f64::from(font.units_per_em().unwrap());
    // DejaVu Sans' x-height (OS/2 sxHeight 1120 of 2048 units), which `ex` refers to.
    let ex = 1120.0 / 2048.0;
    let mut boxes = Vec::new();
    for rest in svg.split("<text").skip(1) {
        let Some(open_end) = rest.find('>') else {
            continue;
        };
        let tag = &rest[..open_end];
        let Some(close) = rest.find("</text>") else {
            continue;
        };
        let text = unescape(rest[open_end + 1..close].trim());
        if text.is_empty() {
            continue;
        }
        let num = |name: &str| attr(tag, name).and_then(|v| v.parse::<f64>().ok());
        let (x, y, size) = (
            num("x").unwrap(),
            num("y").unwrap(),
            num("font-size").unwrap(),
        );
        let em = size / upem;
        let baseline = y + match attr(tag, "dy") {
            Some("0.76em") => 0.76 * size,
            Some("0.5ex") => 0.5 * ex * size,
            Some("-0.5ex") => -0.5 * ex * size,
            Some(other) => panic!("unexpected dy {other:?}"),
            None => 0.0,
        };
        let (mut pen, mut ink) = (0.0f64, None::<(f64, f64, f64, f64)>);
        for c in text.chars() {
            let id = font.glyph_id(c);
            assert!(
                id.0 != 0 || c == ' ',
                "{c:?} of {text:?} is not in the font"
            );
            if let Some(outline) = font.outline(id) {
                let b = outline.bounds;
                let (gx0, gx1) = (pen + f64::from(b.min.x), pen + f64::from(b.max.x));
                let (gy0, gy1) = (f64::from(b.min.y), f64::from(b.max.y));
                ink = Some(match ink {
                    None => (gx0, gy0, gx1, gy1),
                    Some((a, b2, c2, d)) => (a.min(gx0), b2.min(gy0), c2.max(gx1), d.max(gy1)),
                });
            }
            pen += f64::from(font.h_advance_unscaled(id));
        }
        let Some((ix0, iy0, ix1, iy1)) = ink else {
            continue;
        };
        let start = x - match attr(tag, "text-anchor") {
            Some("middle") => pen * em / 2.0,
            Some("end") => pen * em,
            _ => 0.0,
        };
        // Font units have y up.
        let mut corners = [
            (start + ix0 * em, baseline - iy1 * em),
            (start + ix1 * em, baseline - iy1 * em),
            (start + ix0 * em, baseline - iy0 * em),
            (start + ix1 * em, baseline - iy0 * em),
        ];
        if let Some(t) = attr(tag, "transform") {
            let inner = t.trim_start_matches("rotate(").trim_end_matches(')');
            let v: Vec<f64> = inner
                .split(',')
                .map(|s| s.trim().parse().unwrap())
                .collect();
            let (a, cx, cy) = (v[0].to_radians(), v[1], v[2]);
            for p in &mut corners {
                let (dx, dy) = (p.0 - cx, p.1 - cy);
                *p = (
                    cx + dx * a.cos() - dy * a.sin(),
                    cy + dx * a.sin() + dy * a.cos(),
                );
            }
        }
        let xs = corners.map(|p| p.0);
        let ys = corners.map(|p| p.1);
        let fold = |v: [f64; 4], f: fn(f64, f64) -> f64| v.into_iter().reduce(f).unwrap();
        boxes.push(TextBox {
            text,
            x0: fold(xs, f64::min),
            y0: fold(ys, f64::min),
            x1: fold(xs, f64::max),
            y1: fold(ys, f64::max),
        });
    }
    boxes
}

/// Asserts that no two text elements of `svg` overlap and none reaches past the image's
/// edges (half a pixel of tolerance); the message names the texts and their boxes.
pub fn assert_text_fits(svg: &str) {
    let dim = |name: &str| -> f64 {
        attr(&svg[..svg.find('>').unwrap()], name)
            .unwrap()
            .parse()
            .unwrap()
    };
    let (w, h) = (dim("width"), dim("height"));
    let boxes = svg_text_boxes(svg);
    assert!(!boxes.is_empty(), "no text in the SVG");
    let tol = 0.5;
    let mut problems = Vec::new();
    for b in &boxes {
        if b.x0 < -tol || b.y0 < -tol || b.x1 > w + tol || b.y1 > h + tol {
            problems.push(format!("{:?} leaves the {w}×{h} image: {b:?}", b.text));
        }
    }
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            let dx = a.x1.min(b.x1) - a.x0.max(b.x0);
            let dy = a.y1.min(b.y1) - a.y0.max(b.y0);
            if dx > tol && dy > tol {
                problems.push(format!("{:?} overlaps {:?}: {a:?} {b:?}", a.text, b.text));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svg(texts: &str) -> String {
        format!(
            r#"<svg width="200" height="100" viewBox="0 0 200 100" xmlns="http://www.w3.org/2000/svg">{texts}</svg>"#
        )
    }

    fn text(x: f64, y: f64, anchor: &str, extra: &str, body: &str) -> String {
        format!(
            r##"<text x="{x}" y="{y}" dy="0.76em" text-anchor="{anchor}" font-family="sans-serif" font-size="10" opacity="1" fill="#000000"{extra}>{body}</text>"##
        )
    }

    fn fails(svg: &str) -> String {
        let r = std::panic::catch_unwind(|| assert_text_fits(svg));
        let e = r.expect_err("the check passed");
        e.downcast_ref::<String>().cloned().unwrap_or_default()
    }

    #[test]
    fn the_layout_check_finds_overlap_clipping_and_follows_anchors_and_rotation() {
        // "0.0" and "0.1" 12 px apart at 10 px: about 17 px wide each, so they overlap.
        let crowded =
            svg(&(text(50.0, 50.0, "middle", "", "0.0") + &text(62.0, 50.0, "middle", "", "0.1")));
        assert!(fails(&crowded).contains("\"0.0\" overlaps \"0.1\""));
        let apart =
            svg(&(text(50.0, 50.0, "middle", "", "0.0") + &text(80.0, 50.0, "middle", "", "0.1")));
        assert_text_fits(&apart);
        // Anchors: an end-anchored text ends at x.
        let b = &svg_text_boxes(&apart.replace("middle", "end"))[0];
        assert!((b.x1 - 50.0).abs() < 1.0 && b.x0 < 35.0, "{b:?}");
        // Past the right edge.
        let cut = svg(&text(190.0, 10.0, "start", "", "footnote"));
        assert!(fails(&cut).contains("leaves the 200×100 image"));
        // A y-axis description rotated by 270° stands upright: taller than wide.
        let rotated = svg(&text(
            20.0,
            50.0,
            "middle",
            r#" transform="rotate(270, 20, 50)""#,
            "% of networks",
        ));
        let b = &svg_text_boxes(&rotated)[0];
        assert!(b.y1 - b.y0 > 3.0 * (b.x1 - b.x0), "{b:?}");
        assert!((b.y0 + b.y1) / 2.0 - 50.0 < 1.0, "{b:?}");
        // Entities are text.
        assert_eq!(
            svg_text_boxes(&svg(&text(50.0, 50.0, "start", "", "a &amp; b")))[0].text,
            "a & b"
        );
    }
}
