//! A run's metrics as TensorBoard event files, for `tensorboard --logdir`.
//!
//! One directory per run (`<out>/<run>/`) with one `events.out.tfevents.<time>.<host>` file:
//! every number of metrics.jsonl as a scalar at its step (`train/loss`, `train/lr`, …;
//! `eval/val_loss`, `eval/val_r2`, …; `probe/<property>/test` and `/val`), and the run's
//! config.toml as text (`config`, TensorBoard's text plugin).
//!
//! The format: a TFRecord file (each record: its length as u64 little endian, the length's
//! masked CRC-32C, the bytes, their masked CRC-32C) of `tensorflow.Event` protocol buffers,
//! the first one `file_version: "brain.Event:2"`. The few fields needed are encoded here.
use crate::run::{Record, open_run};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Writes the run in `run_dir` as TensorBoard events under `out/<run name>/`; returns the
/// event file.
pub fn write_events(run_dir: &Path, out: &Path) -> Result<PathBuf> {
    let run = open_run(run_dir)?;
    let records = run.require_metrics()?;
    let config = std::fs::read_to_string(run.path("config.toml")).unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let host = hyperzoo_core::workspace::host_name();
    let dir = out.join(&run.name);
    let path = dir.join(format!("events.out.tfevents.{}.{host}", now as u64));
    let mut file = Vec::new();
    let mut event = |e: Vec<u8>| record(&mut file, &e);
    event(event_proto(now, 0, Some("brain.Event:2"), None));
    event(event_proto(
        now,
        0,
        None,
        Some(text_summary("config", &config)),
    ));
    for r in &records {
        let step = r.number("step").unwrap_or(0.0) as i64;
        let values: Vec<(String, f32)> = scalars(r);
        if values.is_empty() {
            continue;
        }
        let summary: Vec<u8> = values
            .iter()
            .flat_map(|(tag, v)| bytes_field(1, &scalar_value(tag, *v)))
            .collect();
        event(event_proto(now, step, None, Some(summary)));
    }
    hyperzoo_core::fsutil::write_atomic(&path, &file).map_err(Error::Core)?;
    Ok(path)
}

/// The scalars of one metrics.jsonl record, tagged by its kind.
fn scalars(r: &Record) -> Vec<(String, f32)> {
    let prefix = match r.kind() {
        Some("step") => "train",
        Some("epoch") => "eval",
        Some("probe") => {
            let probes = r.get("probes").and_then(|p| p.as_array());
            return probes
                .into_iter()
                .flatten()
                .flat_map(|p| {
                    let property = p["property"].as_str().unwrap_or("?");
                    ["test", "val"].into_iter().filter_map(move |split| {
                        let v = p[split].as_f64().filter(|v| v.is_finite())?;
                        Some((format!("probe/{property}/{split}"), v as f32))
                    })
                })
                .collect();
        }
        _ => return Vec::new(),
    };
    r.0.iter()
        .filter(|(k, _)| !matches!(k.as_str(), "kind" | "step" | "epoch"))
        .filter_map(|(k, v)| {
            let v = v.as_f64().filter(|v| v.is_finite())?;
            Some((format!("{prefix}/{k}"), v as f32))
        })
        .collect()
}

// Protocol buffer encoding: varints, tagged fields.

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire));
}

fn bytes_field(field: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    key(&mut out, field, 2);
    varint(&mut out, bytes.len() as u64);
    out.extend_from_slice(bytes);
    out
}

/// `Event { wall_time = 1; step = 2; file_version = 3; summary = 5 }`.
fn event_proto(
    wall_time: f64,
    step: i64,
    version: Option<&str>,
    summary: Option<Vec<u8>>,
) -> Vec<u8> {
    let mut out = Vec::new();
    key(&mut out, 1, 1);
    out.extend_from_slice(&wall_time.to_le_bytes());
    if step != 0 {
        key(&mut out, 2, 0);
        varint(&mut out, step as u64);
    }
    if let Some(v) = version {
        out.extend(bytes_field(3, v.as_bytes()));
    }
    if let Some(s) = summary {
        out.extend(bytes_field(5, &s));
    }
    out
}

/// `Summary.Value { tag = 1; simple_value = 2 }`.
fn scalar_value(tag: &str, v: f32) -> Vec<u8> {
    let mut out = bytes_field(1, tag.as_bytes());
    key(&mut out, 2, 5);
    out.extend_from_slice(&v.to_le_bytes());
    out
}

/// A `Summary` of one text value: `Value { tag = 1; metadata = 9 { plugin_data = 1 {
/// plugin_name = 1: "text" } }; tensor = 8 { dtype = 1: DT_STRING (7); string_val = 8 } }`.
fn text_summary(tag: &str, text: &str) -> Vec<u8> {
    let plugin = bytes_field(1, &bytes_field(1, b"text"));
    let mut tensor = Vec::new();
    key(&mut tensor, 1, 0);
    varint(&mut tensor, 7);
    // An empty shape (a scalar string).
    tensor.extend(bytes_field(2, &[]));
    // Markdown: the TOML in a code block.
    tensor.extend(bytes_field(8, format!("```toml\n{text}\n```").as_bytes()));
    let mut value = bytes_field(1, tag.as_bytes());
    value.extend(bytes_field(8, &tensor));
    value.extend(bytes_field(9, &plugin));
    bytes_field(1, &value)
}

/// TFRecord's masked CRC-32C.
fn masked_crc(bytes: &[u8]) -> u32 {
    let c = crc32c::crc32c(bytes);
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn record(out: &mut Vec<u8>, data: &[u8]) {
    let len = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader of what [`write_events`] writes: checks every record's CRCs and decodes each
    /// event's step, scalars and texts.
    /// An event as the test reads it: its step, its scalars and its texts (tag, value).
    type ReadEvent = (i64, Vec<(String, f32)>, Vec<(String, String)>);

    fn read_events(bytes: &[u8]) -> Vec<ReadEvent> {
        fn varint(b: &[u8], i: &mut usize) -> u64 {
            let (mut v, mut shift) = (0u64, 0);
            loop {
                let x = b[*i];
                *i += 1;
                v |= u64::from(x & 0x7f) << shift;
                if x < 0x80 {
                    return v;
                }
                shift += 7;
            }
        }
        /// (field, wire, payload) of each field of a message.
        fn fields(b: &[u8]) -> Vec<(u64, u8, Vec<u8>)> {
            let mut i = 0;
            let mut out = Vec::new();
            while i < b.len() {
                let k = varint(b, &mut i);
                let (field, wire) = (k >> 3, (k & 7) as u8);
                let payload = match wire {
                    0 => varint(b, &mut i).to_le_bytes().to_vec(),
                    1 => {
                        i += 8;
                        b[i - 8..i].to_vec()
                    }
                    2 => {
                        let n = varint(b, &mut i) as usize;
                        i += n;
                        b[i - n..i].to_vec()
                    }
                    5 => {
                        i += 4;
                        b[i - 4..i].to_vec()
                    }
                    w => panic!("wire type {w}"),
                };
                out.push((field, wire, payload));
            }
            out
        }
        let mut events = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let len = &bytes[i..i + 8];
            assert_eq!(
                masked_crc(len).to_le_bytes(),
                bytes[i + 8..i + 12],
                "length CRC"
            );
            let n = u64::from_le_bytes(len.try_into().unwrap()) as usize;
            let data = &bytes[i + 12..i + 12 + n];
            assert_eq!(
                masked_crc(data).to_le_bytes(),
                bytes[i + 12 + n..i + 16 + n],
                "data CRC"
            );
            i += 16 + n;
            let (mut step, mut scalars, mut texts) = (0, Vec::new(), Vec::new());
            for (f, _, p) in fields(data) {
                match f {
                    2 => step = i64::from_le_bytes(p[..8].try_into().unwrap()),
                    5 => {
                        for (_, _, value) in fields(&p) {
                            let vf = fields(&value);
                            let tag = String::from_utf8(vf[0].2.clone()).unwrap();
                            for (f, _, p) in &vf[1..] {
                                match f {
                                    2 => scalars.push((
                                        tag.clone(),
                                        f32::from_le_bytes(p[..4].try_into().unwrap()),
                                    )),
                                    8 => {
                                        let s = fields(p).into_iter().find(|x| x.0 == 8).unwrap().2;
                                        texts.push((tag.clone(), String::from_utf8(s).unwrap()));
                                    }
                                    _ => {}
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
            events.push((step, scalars, texts));
        }
        events
    }

    #[test]
    fn a_run_becomes_events_tensorboard_reads() {
        let tmp = tempfile::tempdir().unwrap();
        let spec = crate::testutil::RunSpec::new("r");
        let run = crate::testutil::write_run(tmp.path(), &spec);
        let path = write_events(&run, &tmp.path().join("tb")).unwrap();
        assert!(path.starts_with(tmp.path().join("tb").join("r")));
        let events = read_events(&std::fs::read(&path).unwrap());
        // The version event, the config as text, then the records with numbers.
        assert_eq!(events[1].2[0].0, "config");
        assert!(events[1].2[0].1.contains("```toml"));
        let all: Vec<(i64, String, f32)> = events
            .iter()
            .flat_map(|(s, v, _)| v.iter().map(move |(t, x)| (*s, t.clone(), *x)))
            .collect();
        assert!(all.iter().any(|(_, t, _)| t == "train/loss"));
        assert!(all.iter().any(|(_, t, _)| t == "eval/val_r2"));
        // Steps as written, in order.
        let steps: Vec<i64> = all
            .iter()
            .filter(|(_, t, _)| t == "train/loss")
            .map(|(s, _, _)| *s)
            .collect();
        assert!(
            steps.windows(2).all(|w| w[0] < w[1]) && !steps.is_empty(),
            "{steps:?}"
        );
    }

    #[test]
    fn masked_crc_matches_tensorflow() {
        // CRC-32C of "123456789" is 0xE3069283 (the standard check value); TFRecord masks it.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        let c: u32 = 0xE306_9283;
        assert_eq!(
            masked_crc(b"123456789"),
            c.rotate_right(15).wrapping_add(0xa282_ead8)
        );
    }
}
