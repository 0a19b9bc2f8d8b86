//! The records of a run's metrics.jsonl, one JSON object per line tagged by `kind`: the trainer
//! writes them, the TUI, `hyperzoo show` and the report crate read them. Readers skip lines that
//! do not parse (a line torn by a kill, or a kind a newer version added), and every field
//! missing on reading takes its default, so older files still load.
use serde::{Deserialize, Serialize};

/// One line of metrics.jsonl.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Record {
    /// An optimizer step.
    Step(StepRecord),
    /// An evaluation of the validation split.
    Epoch(EpochRecord),
    /// Linear probes from the embeddings at the end of an epoch (`eval.probe_every`).
    Probe(ProbeRecord),
}

/// Per-step record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StepRecord {
    /// Optimizer steps done, this one included.
    pub step: u64,
    /// 0-based epoch.
    pub epoch: u64,
    /// Total loss.
    pub loss: f64,
    /// Contrast term (raw).
    pub contrast: Option<f64>,
    /// Structure term (raw).
    pub structure: Option<f64>,
    /// Behaviour term (raw).
    pub behaviour: Option<f64>,
    /// Learning rate of the step.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Training samples (networks) per second of the step, data included.
    pub samples_per_s: f64,
    /// Time the producer took to build the batch.
    pub data_ms: f64,
    /// Time the step waited for the batch.
    pub wait_ms: f64,
    /// Time of forward, backward and update.
    pub step_ms: f64,
}

/// Per-evaluation record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EpochRecord {
    /// Steps done.
    pub step: u64,
    /// Epochs done (1-based).
    pub epoch: u64,
    /// Mean training loss of the epoch.
    pub train_loss: f64,
    /// Reconstruction MSE on the validation split (normalised weights, no augmentation).
    pub val_loss: f64,
    /// Reconstruction R² on the validation split: 1 − MSE / MSE of predicting the mean.
    pub val_r2: f64,
    /// Learning rate at the end of the epoch.
    pub lr: f64,
}

/// Probe scores at the end of an epoch: a learning curve of what the embedding knows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProbeRecord {
    /// Steps done.
    pub step: u64,
    /// Epochs done (1-based).
    pub epoch: u64,
    /// One score per property (the embedding's probes only).
    pub probes: Vec<ProbeScore>,
}

/// A probe's validation and test score.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProbeScore {
    /// The property.
    pub property: String,
    /// `r2` or `accuracy`.
    pub metric: String,
    /// Score on the validation split, when it has rows.
    pub val: Option<f64>,
    /// Score on the test split.
    pub test: f64,
}

/// A run's metric series, by kind, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// Per-step records.
    pub steps: Vec<StepRecord>,
    /// Per-evaluation records.
    pub epochs: Vec<EpochRecord>,
    /// Probe records.
    pub probes: Vec<ProbeRecord>,
}

impl Metrics {
    /// Parses metrics.jsonl text; lines that are not complete records are skipped.
    pub fn parse(text: &str) -> Metrics {
        let mut m = Metrics::default();
        m.extend(text);
        m
    }

    /// Appends the records of more metrics.jsonl text.
    pub fn extend(&mut self, text: &str) {
        for line in text.lines() {
            match serde_json::from_str::<Record>(line) {
                Ok(Record::Step(s)) => self.steps.push(s),
                Ok(Record::Epoch(e)) => self.epochs.push(e),
                Ok(Record::Probe(p)) => self.probes.push(p),
                Err(_) => {} // torn by a kill, or a kind this version does not know
            }
        }
    }

    /// The test score of `property`'s probe over epochs: `(epoch, score)`.
    pub fn probe_series(&self, property: &str) -> Vec<(f64, f64)> {
        self.probes
            .iter()
            .filter_map(|r| {
                let p = r.probes.iter().find(|p| p.property == property)?;
                p.test.is_finite().then_some((r.epoch as f64, p.test))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_with_their_kind_and_torn_lines_are_skipped() {
        let recs = [
            Record::Step(StepRecord {
                step: 1,
                loss: 0.5,
                structure: Some(0.5),
                ..Default::default()
            }),
            Record::Epoch(EpochRecord {
                step: 10,
                epoch: 1,
                val_r2: 0.25,
                ..Default::default()
            }),
            Record::Probe(ProbeRecord {
                step: 10,
                epoch: 1,
                probes: vec![ProbeScore {
                    property: "test_acc".into(),
                    metric: "r2".into(),
                    val: None,
                    test: 0.75,
                }],
            }),
        ];
        let mut text: String = recs
            .iter()
            .map(|r| serde_json::to_string(r).unwrap() + "\n")
            .collect();
        assert!(text.starts_with(r#"{"kind":"step","step":1,"#), "{text}");
        text.push_str(r#"{"kind":"step","step":2,"lo"#); // torn by a kill
        let m = Metrics::parse(&text);
        assert_eq!(m.steps.len(), 1);
        assert_eq!(m.epochs[0].val_r2, 0.25);
        assert_eq!(m.probe_series("test_acc"), vec![(1.0, 0.75)]);
        assert!(m.probe_series("epoch").is_empty());
        // Older files without newer fields still load.
        let old = Metrics::parse(r#"{"kind":"epoch","step":3,"epoch":1,"val_loss":0.1}"#);
        assert_eq!(old.epochs[0].val_loss, 0.1);
        assert_eq!(old.epochs[0].lr, 0.0);
    }
}
