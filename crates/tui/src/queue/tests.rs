//! The queue with a worker that trains nothing: it checks the configuration it is given the way
//! `hyperzoo run` does, writes `running`, waits until the test releases it (or it is stopped),
//! then writes `finished` (or `cancelled`).
use super::*;
use crate::fixture;
use crate::store::{Phase, Snapshot};
use std::collections::{HashMap, HashSet};

/// What the fake worker does with a run.
#[derive(Clone, Copy, PartialEq)]
enum Act {
    /// Running until released or stopped.
    Train,
    /// Returns at once, writing nothing (as a run whose zoo could not be generated).
    Vanish,
    /// Panics before writing anything.
    Panic,
}

#[derive(Default)]
struct Shared {
    log: Vec<String>,
    released: HashSet<String>,
    acts: HashMap<String, Act>,
}

type SharedRef = Arc<Mutex<Shared>>;

struct Fake {
    shared: SharedRef,
    workspace: PathBuf,
}

impl Worker for Fake {
    fn work(&self, job: &Job, stop: Arc<AtomicBool>) {
        if let Job::Task { run, task } = job {
            // As the binary's worker: the run's job.toml says running, then finished.
            let dir = RunDir::open(&self.workspace.join("runs").join(run)).unwrap();
            let job = |state| JobStatus {
                task: *task,
                state,
                message: String::new(),
            };
            assert_eq!(dir.job().unwrap().unwrap().state, RunState::Queued);
            dir.set_job(&job(RunState::Running)).unwrap();
            self.shared
                .lock()
                .unwrap()
                .log
                .push(format!("{} {run}", task.name()));
            dir.set_job(&job(RunState::Finished)).unwrap();
            return;
        }
        let Job::Train { run, config } = job else {
            panic!("no zoo jobs here");
        };
        let act = {
            let mut sh = self.shared.lock().unwrap();
            sh.log.push(format!("start {run}"));
            sh.acts.get(run).copied().unwrap_or(Act::Train)
        };
        match act {
            Act::Vanish => return,
            Act::Panic => panic!("the fake worker panics on {run}"),
            Act::Train => {}
        }
        // As `hyperzoo run <config.toml>`: one run of that name, and the configuration it
        // writes is the one already there.
        let text = std::fs::read_to_string(config).unwrap();
        let exp = Experiment::load(config).unwrap();
        let runs = exp.expand().unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(&runs[0].0, run);
        assert_eq!(resolved_config(&runs[0].1, &self.workspace), text);
        let dir = RunDir::create(config.parent().unwrap()).unwrap();
        let status = |state| Status {
            state,
            step: 0,
            epoch: 0,
            epochs: 2,
            message: String::new(),
            device: "cpu".into(),
        };
        dir.set_status(&status(RunState::Running)).unwrap();
        loop {
            if stop.load(Ordering::SeqCst) {
                dir.set_status(&status(RunState::Cancelled)).unwrap();
                break;
            }
            if self.shared.lock().unwrap().released.contains(run) {
                dir.set_status(&status(RunState::Finished)).unwrap();
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.shared.lock().unwrap().log.push(format!("end {run}"));
    }
}

struct Bed {
    _tmp: tempfile::TempDir,
    ws: PathBuf,
    exp: PathBuf,
    shared: SharedRef,
    queue: RunQueue,
}

impl Bed {
    /// A workspace, an experiment file `seeds.toml` of `seeds` runs on a zoo defined beside
    /// it (and generated: see [`Bed::zoo_complete`]), and a queue of at most `max` jobs.
    fn new(max: usize, seeds: &str) -> Bed {
        let tmp = tempfile::tempdir().unwrap();
        let ws = tmp.path().join("workspace");
        Bed::zoo_complete(&ws, true);
        let exp_dir = tmp.path().join("experiments");
        fixture::zoo_definition(&exp_dir.join("zoos/tiny.toml"), "tiny");
        let exp = exp_dir.join("seeds.toml");
        std::fs::write(
            &exp,
            format!(
                "name = \"s\"\n[zoo]\ndefinition = \"zoos/tiny.toml\"\n[model]\nkind = \"transformer\"\n[train]\nepochs = 2\n[grid]\nseed = [{seeds}]\n"
            ),
        )
        .unwrap();
        let shared = SharedRef::default();
        let fake = Fake {
            shared: shared.clone(),
            workspace: ws.clone(),
        };
        let queue = RunQueue::new(&ws, max, Box::new(fake));
        Bed {
            _tmp: tmp,
            ws,
            exp,
            shared,
            queue,
        }
    }

    /// Marks zoo `tiny` generated (its zoo.toml says complete), or removes it.
    fn zoo_complete(ws: &Path, complete: bool) {
        let zoo = ws.join("zoos/tiny");
        if complete {
            std::fs::create_dir_all(&zoo).unwrap();
            std::fs::write(
                zoo.join("zoo.toml"),
                "name = \"tiny\"\nstatus = \"complete\"\n",
            )
            .unwrap();
        } else {
            std::fs::remove_dir_all(&zoo).unwrap();
        }
    }

    fn release(&self, run: &str) {
        self.shared.lock().unwrap().released.insert(run.to_string());
    }

    fn log(&self) -> Vec<String> {
        self.shared.lock().unwrap().log.clone()
    }

    fn status(&self, run: &str) -> Status {
        read_status(&self.ws.join("runs").join(run))
            .unwrap()
            .unwrap_or_else(|| panic!("{run} has no status"))
    }

    fn phases(&self) -> Vec<(String, Phase)> {
        Snapshot::read(&self.ws, &self.exp, SystemTime::now())
            .runs
            .iter()
            .map(|r| (r.name.clone(), r.phase))
            .collect()
    }

    fn live(&mut self) -> (usize, usize) {
        (self.queue.live_runs(), self.queue.queued_runs())
    }
}

/// Waits (up to 20 s) until `cond` holds.
fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn phases(list: &[(&str, Phase)]) -> Vec<(String, Phase)> {
    list.iter().map(|(n, p)| (n.to_string(), *p)).collect()
}

#[test]
fn runs_start_in_order_within_the_limit_and_wait_queued() {
    let mut bed = Bed::new(1, "1, 2, 3");
    let msg = bed.queue.enqueue(&bed.exp).unwrap();
    assert_eq!(msg, "seeds.toml: 1 started, 2 queued (at most 1 at once)");
    assert_eq!(bed.queue.running(), ["s-seed=1"]);
    assert_eq!(bed.queue.waiting(), ["s-seed=2", "s-seed=3"]);
    assert_eq!(bed.live(), (3, 2));
    // A started job is running at once (preparing), before it writes its own status.
    let s = bed.status("s-seed=1");
    assert_eq!(s.state, RunState::Running);
    until("the first run to train", || {
        bed.status("s-seed=1").message.is_empty()
    });
    // Waiting runs have their configuration and a queued status, in the store too.
    for run in ["s-seed=2", "s-seed=3"] {
        let s = bed.status(run);
        assert_eq!((s.state, s.epochs), (RunState::Queued, 2));
        assert!(s.message.contains("queued in process"), "{}", s.message);
        assert!(bed.ws.join("runs").join(run).join("config.toml").is_file());
    }
    assert_eq!(
        bed.phases(),
        phases(&[
            ("s-seed=1", Phase::Running),
            ("s-seed=2", Phase::Queued),
            ("s-seed=3", Phase::Queued)
        ])
    );
    // Launching the same file again leaves everything as it is.
    let again = bed.queue.enqueue(&bed.exp).unwrap_err();
    assert!(
        again.contains("s-seed=1 (running)") && again.contains("s-seed=3 (queued)"),
        "{again}"
    );
    // A queued run taken out of the queue is cancelled; the others go on in order.
    assert_eq!(
        bed.queue.stop("s-seed=3").unwrap(),
        "s-seed=3: taken out of the queue"
    );
    assert_eq!(bed.status("s-seed=3").state, RunState::Cancelled);
    assert_eq!(bed.live(), (2, 1));
    bed.release("s-seed=1");
    until("the second run to start", || {
        bed.queue.running() == ["s-seed=2"]
    });
    assert_eq!(bed.live(), (1, 0));
    bed.release("s-seed=2");
    until("the queue to empty", || bed.live() == (0, 0));
    assert_eq!(
        bed.log(),
        [
            "start s-seed=1",
            "end s-seed=1",
            "start s-seed=2",
            "end s-seed=2"
        ]
    );
    assert!(
        bed.queue
            .stop("s-seed=2")
            .unwrap_err()
            .contains("neither running nor queued")
    );
    // Launched again: finished runs are left out, the cancelled one trains.
    let msg = bed.queue.enqueue(&bed.exp).unwrap();
    assert_eq!(
        msg,
        "seeds.toml: 1 started; left out: s-seed=1 (finished), s-seed=2 (finished)"
    );
    bed.release("s-seed=3");
    until("the last run to end", || bed.live() == (0, 0));
    assert_eq!(bed.status("s-seed=3").state, RunState::Finished);
}

#[test]
fn stop_all_empties_the_queue_and_stops_the_running() {
    let mut bed = Bed::new(2, "1, 2, 3");
    bed.queue.enqueue(&bed.exp).unwrap();
    assert_eq!(bed.live(), (3, 1));
    until("two runs to train", || {
        ["s-seed=1", "s-seed=2"]
            .iter()
            .all(|r| bed.status(r).state == RunState::Running)
    });
    assert_eq!(bed.queue.stop_all(), (2, 1));
    assert_eq!(bed.status("s-seed=3").state, RunState::Cancelled);
    until("the runs to stop", || bed.live() == (0, 0));
    for run in ["s-seed=1", "s-seed=2"] {
        assert_eq!(bed.status(run).state, RunState::Cancelled);
    }
    // Stopping one running run leaves the other going.
    let msg = bed.queue.enqueue(&bed.exp).unwrap();
    assert_eq!(msg, "seeds.toml: 2 started, 1 queued (at most 2 at once)");
    assert!(
        bed.queue
            .stop("s-seed=1")
            .unwrap()
            .contains("stopping s-seed=1 at its next step")
    );
    until("the third run to take the free slot", || {
        bed.queue.running() == ["s-seed=2", "s-seed=3"]
    });
    assert_eq!(bed.status("s-seed=1").state, RunState::Cancelled);
    bed.queue.stop_all();
    until("the rest to stop", || bed.live() == (0, 0));
}

#[test]
fn runs_of_another_configuration_or_process_are_left_out() {
    let mut bed = Bed::new(1, "1, 2, 3, 4");
    let runs = bed.ws.join("runs");
    // s-seed=1 holds another configuration; s-seed=2 trains in another, live process;
    // s-seed=3 was running in a process that died (stale): it is resumed.
    fixture::run_dir(&runs.join("s-seed=1"), "cancelled", 3, 10);
    fixture::run_dir(&runs.join("s-seed=2"), "running", 3, 10);
    fixture::run_dir(&runs.join("s-seed=3"), "running", 3, 10);
    let exp = Experiment::load(&bed.exp).unwrap().expand().unwrap();
    for (name, e) in &exp[1..3] {
        std::fs::write(
            runs.join(name).join("config.toml"),
            resolved_config(e, &bed.ws),
        )
        .unwrap();
    }
    fixture::age(&runs.join("s-seed=3"), Duration::from_secs(3600));
    let msg = bed.queue.enqueue(&bed.exp).unwrap();
    assert!(msg.starts_with("seeds.toml: 1 started, 1 queued"), "{msg}");
    assert!(
        msg.contains("s-seed=1 (") && msg.contains("holds a run with another configuration"),
        "{msg}"
    );
    assert!(
        msg.contains("s-seed=2 (live in another hyperzoo process)"),
        "{msg}"
    );
    assert_eq!(bed.queue.running(), ["s-seed=3"]);
    assert_eq!(bed.queue.waiting(), ["s-seed=4"]);
    // Nothing was written to the runs left out.
    let other = std::fs::read_to_string(runs.join("s-seed=1/config.toml")).unwrap();
    assert!(other.contains("d_model = 64"), "{other}");
    assert_eq!(bed.status("s-seed=1").state, RunState::Cancelled);
    assert_eq!(bed.status("s-seed=2").state, RunState::Running);
    bed.queue.stop_all();
    until("the queue to empty", || bed.live() == (0, 0));
    // Nothing to start at all is an error that says why.
    // (A grid of one value names its run after the experiment.)
    let mut bed = Bed::new(1, "1");
    bed.release("s");
    bed.queue.enqueue(&bed.exp).unwrap();
    until("the run to end", || bed.live() == (0, 0));
    let e = bed.queue.enqueue(&bed.exp).unwrap_err();
    assert_eq!(e, "seeds.toml: nothing to start: s (finished)");
    let bad = bed.exp.with_file_name("bad.toml");
    std::fs::write(&bad, "name = \"bad\"\n[model]\nkind = \"x\"\n").unwrap();
    let e = bed.queue.enqueue(&bad).unwrap_err();
    assert!(e.contains("bad.toml"), "{e}");
}

#[test]
fn jobs_that_end_before_their_first_step_leave_no_queued_status() {
    let mut bed = Bed::new(1, "1, 2, 3");
    {
        let mut sh = bed.shared.lock().unwrap();
        sh.acts.insert("s-seed=1".into(), Act::Vanish);
        sh.acts.insert("s-seed=2".into(), Act::Panic);
    }
    bed.release("s-seed=3");
    bed.queue.enqueue(&bed.exp).unwrap();
    // A panicking job frees its slot too: the queue goes on to the end.
    until("the queue to empty", || bed.live() == (0, 0));
    let s = bed.status("s-seed=1");
    assert_eq!(s.state, RunState::Failed);
    assert!(s.message.contains("before its first step"), "{}", s.message);
    let s = bed.status("s-seed=2");
    assert_eq!(s.state, RunState::Failed);
    assert!(s.message.contains("panicked"), "{}", s.message);
    assert_eq!(bed.status("s-seed=3").state, RunState::Finished);
}

#[test]
fn a_zoo_to_generate_is_not_generated_twice_at_once() {
    let mut bed = Bed::new(2, "1, 2");
    Bed::zoo_complete(&bed.ws, false);
    bed.queue.enqueue(&bed.exp).unwrap();
    // Both runs need zoo "tiny", not generated yet: only one starts.
    std::thread::sleep(TICK * 3);
    assert_eq!(bed.queue.running(), ["s-seed=1"]);
    assert_eq!(bed.queue.waiting(), ["s-seed=2"]);
    // Once the zoo is complete, the second starts beside the first.
    Bed::zoo_complete(&bed.ws, true);
    until("the second run to start", || bed.queue.running().len() == 2);
    bed.queue.stop_all();
    until("the queue to empty", || bed.live() == (0, 0));
    // A zoo file is a zoo job; a complete zoo is not generated again.
    let e = bed
        .queue
        .enqueue(&bed.exp.with_file_name("zoos/tiny.toml"))
        .unwrap_err();
    assert!(e.contains("zoo tiny is complete"), "{e}");
}

#[test]
fn the_heartbeat_keeps_waiting_runs_fresh() {
    let bed = Bed::new(1, "1, 2");
    bed.queue.enqueue(&bed.exp).unwrap();
    let waiting = bed.ws.join("runs/s-seed=2");
    std::fs::write(waiting.join("metrics.jsonl"), "").unwrap();
    fixture::age(&waiting, Duration::from_secs(3600));
    let stale = |bed: &Bed| {
        bed.phases()
            .into_iter()
            .find(|(n, _)| n == "s-seed=2")
            .map(|(_, p)| p)
    };
    assert_eq!(stale(&bed), Some(Phase::Stale));
    bed.queue.inner.beat(&bed.queue.inner.lock());
    assert_eq!(stale(&bed), Some(Phase::Queued));
    bed.queue.stop_all();
}

#[test]
fn evaluations_queue_after_training_one_job_per_run_and_show_in_the_run_list() {
    let mut bed = Bed::new(1, "1, 2");
    bed.queue.enqueue(&bed.exp).unwrap();
    // One job per run: a run training here is left out, a waiting one too.
    let busy = bed
        .queue
        .enqueue_task(Task::Evaluate, &["s-seed=1".into(), "s-seed=2".into()])
        .unwrap_err();
    assert!(
        busy.contains("s-seed=1 (busy") && busy.contains("s-seed=2 (busy"),
        "{busy}"
    );
    bed.release("s-seed=1");
    bed.release("s-seed=2");
    until("both runs to finish", || bed.live() == (0, 0));
    let msg = bed
        .queue
        .enqueue_task(Task::Evaluate, &["s-seed=1".into(), "s-seed=2".into()])
        .unwrap();
    assert_eq!(msg, "evaluation of 2 run(s) queued");
    until("both evaluations", || bed.live() == (0, 0));
    let log = bed.log();
    assert!(
        log.contains(&"evaluate s-seed=1".to_string())
            && log.contains(&"evaluate s-seed=2".to_string()),
        "{log:?}"
    );
    let snap = Snapshot::read(&bed.ws, &bed.exp, SystemTime::now());
    for run in &snap.runs {
        let job = run.job.as_ref().expect("job.toml read");
        assert_eq!((job.task, job.state), (Task::Evaluate, RunState::Finished));
        assert_eq!(run.status_label(), "finished");
    }
    // Held by another process (here: this one, outside the queue): refused, naming it.
    let held = RunLock::acquire(&bed.ws.join("runs/s-seed=1")).unwrap();
    let refused = bed
        .queue
        .enqueue_task(Task::Generate, &["s-seed=1".into()])
        .unwrap_err();
    assert!(refused.contains("in use by pid"), "{refused}");
    drop(held);
}
