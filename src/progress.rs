//! The command line's view of a workflow: its notes as progress bars on a terminal, or as
//! plain lines (a pipe, a log file, `--plain-progress`).
use hyperzoo_engine::hyper::train::Event;
use hyperzoo_engine::workflow::Note;
use hyperzoo_engine::zoo::train::Event as ZooEvent;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Instant;

/// Turns a workflow's [`Note`]s into output on stderr.
pub struct Progress {
    plain: bool,
    bar: ProgressBar,
    /// Steps per epoch of the run being trained (plain lines once an epoch).
    steps_per_epoch: u64,
    /// Network-epochs done in this zoo generation, and when it started.
    zoo_done: f64,
    zoo_start: Instant,
}

impl Progress {
    /// Bars when stderr is a terminal and `plain` is not asked for, else lines.
    pub fn new(plain: bool) -> Self {
        let plain = plain || !std::io::stderr().is_terminal();
        Self {
            plain,
            bar: ProgressBar::hidden(),
            steps_per_epoch: 1,
            zoo_done: 0.0,
            zoo_start: Instant::now(),
        }
    }

    /// A line above the bar (or alone).
    fn line(&self, line: &str) {
        if self.bar.is_hidden() {
            crate::say!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    fn new_bar(&mut self, len: u64, template: &str) {
        self.bar.finish_and_clear();
        self.bar = if self.plain {
            ProgressBar::hidden()
        } else {
            let b = ProgressBar::new(len);
            b.set_style(
                ProgressStyle::with_template(template)
                    .expect("template")
                    .progress_chars("=> "),
            );
            b
        };
    }

    /// Clears the bar (at the end of a workflow, before its summary is printed).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// Shows one note.
    pub fn note(&mut self, note: Note<'_>) {
        match note {
            Note::Info(s) => self.line(&s),
            Note::Warning(s) => self.line(&format!("warning: {s}")),
            Note::Train { run, event } => self.train(run, event),
            Note::ZooStarted { units, .. } => {
                self.new_bar(
                    units,
                    "{elapsed_precise} [{bar:40}] {pos}/{len} network-epochs  {per_sec}  ETA {eta}  {msg}",
                );
                self.zoo_done = 0.0;
                self.zoo_start = Instant::now();
            }
            Note::Zoo(e) => self.zoo(e),
        }
    }

    fn train(&mut self, name: &str, ev: &Event) {
        match ev {
            Event::Started {
                steps_per_epoch,
                total_steps,
                resumed_at,
                rows,
                params,
            } => {
                self.steps_per_epoch = *steps_per_epoch;
                self.new_bar(
                    *total_steps,
                    "{elapsed_precise} [{bar:30}] {pos}/{len} steps  {msg}  ETA {eta}",
                );
                self.line(&format!(
                    "{name}: {} train / {} val / {} test checkpoints, model {params} parameters, {total_steps} steps{}",
                    rows[0],
                    rows[1],
                    rows[2],
                    resumed_at.map_or(String::new(), |s| format!(", resuming at step {s}"))
                ));
            }
            Event::Step(s) => {
                self.bar.set_position(s.step);
                self.bar.set_message(format!(
                    "epoch {} loss {:.4} lr {:.2e} {:.0} samples/s",
                    s.epoch + 1,
                    s.loss,
                    s.lr,
                    s.samples_per_s
                ));
                if self.bar.is_hidden()
                    && (s.step % self.steps_per_epoch.max(1) == 0 || s.step == 1)
                {
                    crate::say!(
                        "{name}: step {} epoch {} loss {:.5} lr {:.3e} {:.0} samples/s",
                        s.step,
                        s.epoch + 1,
                        s.loss,
                        s.lr,
                        s.samples_per_s
                    );
                }
            }
            Event::Epoch(r) => self.line(&format!(
                "{name}: epoch {} train loss {:.5} val loss {:.5} val R² {:.4}",
                r.epoch, r.train_loss, r.val_loss, r.val_r2
            )),
            Event::Probe(r) => {
                let scores: Vec<String> = r
                    .probes
                    .iter()
                    .map(|p| format!("{} {:.3}", p.property, p.test))
                    .collect();
                self.line(&format!(
                    "{name}: epoch {} probes (test R²/accuracy): {}",
                    r.epoch,
                    scores.join(", ")
                ));
            }
            Event::Checkpoint { .. } => {}
        }
    }

    fn zoo(&mut self, e: &ZooEvent) {
        match e {
            ZooEvent::Population {
                pop,
                of,
                models,
                epoch,
            } => self.line(&format!(
                "population {}/{of}: {models} networks, from epoch {epoch}",
                pop + 1
            )),
            ZooEvent::Step { models, steps, .. } => {
                self.zoo_done += *models as f64 / *steps as f64;
                self.bar.set_position(self.zoo_done as u64);
            }
            ZooEvent::Epoch {
                pop,
                epoch,
                mean_test_acc,
                diverged,
            } => {
                self.bar.set_message(format!("acc {mean_test_acc:.3}"));
                self.line(&format!(
                    "population {} epoch {epoch}: mean test acc {:.4}, diverged {diverged}, {:.1} network-epochs/s",
                    pop + 1,
                    mean_test_acc,
                    self.zoo_done / self.zoo_start.elapsed().as_secs_f64()
                ));
            }
        }
    }
}
