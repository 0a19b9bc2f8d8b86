//! Zoo generation: a zoo definition's networks trained population by population into the zoo
//! store (every epoch's checkpoint and properties), resuming where a stopped generation left
//! off, optionally one shard of the populations of several processes.
use super::{Context, Env, Note};
use crate::device;
use crate::zoo::dataset::load_zoo_data;
use crate::zoo::train::{GenerateOptions, generate, is_cancelled};
use crate::{Error, Result};
use hyperzoo_core::zoo::ZooDef;
use hyperzoo_core::zoo::store::{Zoo, ZooWriter};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// How a zoo generation ended.
#[derive(Debug)]
pub enum ZooEnd {
    /// The zoo was complete before: nothing trained.
    AlreadyComplete(Zoo),
    /// Every population trained now: the zoo is complete.
    Complete {
        /// The zoo.
        zoo: Zoo,
        /// Networks trained now, epochs each, and seconds.
        trained: (usize, usize, f64),
    },
    /// This shard's populations are trained; the zoo is complete once every shard is
    /// (`hyperzoo zoo merge`).
    ShardDone {
        /// The zoo directory.
        dir: PathBuf,
        /// This shard: (index, count).
        shard: (usize, usize),
        /// Networks trained now, epochs each, and seconds.
        trained: (usize, usize, f64),
    },
    /// Stopped by the stop flag; every finished epoch is kept (resumable).
    Cancelled {
        /// The zoo directory.
        dir: PathBuf,
    },
}

/// Trains the zoo definition `file` into `out` (default `<workspace>/zoos/<name>`), the
/// populations of `shard` (`(0, 1)`: all).
pub fn generate_zoo(
    env: &Env,
    file: &Path,
    out: Option<PathBuf>,
    shard: (usize, usize),
    cancel: &AtomicBool,
    on: &mut dyn FnMut(Note<'_>),
) -> Result<ZooEnd> {
    let def = ZooDef::load(file)?;
    let out = out.unwrap_or_else(|| env.workspace.zoos().join(&def.name));
    let dev = device::resolve(env.device)?;
    let data = load_zoo_data(&def, &env.data_dir, &dev.device)
        .context(|| format!("loading dataset '{}' for {}", def.dataset, file.display()))?;
    let versions = HashMap::from([
        (
            "hyperzoo".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        ("burn".to_string(), device::BURN_VERSION.to_string()),
        ("libtorch".to_string(), device::LIBTORCH_VERSION.to_string()),
        ("device".to_string(), dev.to_string()),
    ]);
    let command: Vec<String> = std::env::args().collect();
    let writer = ZooWriter::create_or_resume(&out, &def, versions, &command.join(" "))?;
    if writer.is_complete() {
        on(Note::Info(format!(
            "{} is already complete; nothing to train",
            out.display()
        )));
        return Ok(ZooEnd::AlreadyComplete(Zoo::open(&out)?));
    }
    let pops = def.populations();
    let mine: Vec<usize> = (0..pops.len()).filter(|k| k % shard.1 == shard.0).collect();
    let todo: Vec<usize> = mine
        .iter()
        .copied()
        .filter(|&k| !writer.is_done(k))
        .collect();
    let total_models: usize = todo.iter().map(|&k| pops[k].1.len()).sum();
    // Every checkpoint of every network still to train is written as float32.
    let params = def.arch.param_count()?;
    hyperzoo_core::budget::check_disk(
        &out,
        (total_models * def.checkpoints.len() * params * 4) as u64,
        &format!(
            "the weights of {total_models} networks x {} checkpoints x {params} parameters",
            def.checkpoints.len()
        ),
    )?;
    on(Note::Info(format!(
        "zoo {}: {} networks of {} ({} params) on {}, {} epochs, {} population(s){}; {} to train -> {}",
        def.name,
        def.networks.len(),
        def.arch.name,
        def.arch.param_count()?,
        dev,
        def.epochs,
        pops.len(),
        if shard.1 > 1 {
            format!(", shard {}/{} has {}", shard.0, shard.1, mine.len())
        } else {
            String::new()
        },
        total_models,
        out.display()
    )));
    on(Note::ZooStarted {
        zoo: &def.name,
        units: (total_models * def.epochs) as u64,
    });
    let start = Instant::now();
    let opts = GenerateOptions {
        shard,
        kernel: env.zoo_kernel,
        ..Default::default()
    };
    let mut on_event = |ev: crate::zoo::train::Event| on(Note::Zoo(&ev));
    match generate(
        &def,
        &data,
        &writer,
        &dev.device,
        &opts,
        cancel,
        &mut on_event,
    ) {
        Ok(()) => {}
        Err(e) if is_cancelled(&e) => return Ok(ZooEnd::Cancelled { dir: out }),
        Err(e) => return Err(e),
    }
    let trained = (total_models, def.epochs, start.elapsed().as_secs_f64());
    if shard.1 == 1 && (0..pops.len()).all(|k| writer.is_done(k)) {
        let zoo = writer.finish(&def).map_err(Error::from)?;
        Ok(ZooEnd::Complete { zoo, trained })
    } else {
        Ok(ZooEnd::ShardDone {
            dir: out,
            shard,
            trained,
        })
    }
}
