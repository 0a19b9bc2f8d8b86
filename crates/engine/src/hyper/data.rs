//! Training data of a hyper-representation run: the checkpoints of a zoo split as rows of a
//! matrix (normalised), and the two augmented views of every batch, built on the CPU.
//!
//! Rows are (model, epoch) pairs of the chosen checkpoint epochs; networks recorded as diverged
//! or missing at an epoch, and checkpoints with any |w| above the threshold, are left out (as
//! the reference loaders do). Views are drawn from a generator seeded by (run seed, epoch,
//! batch), so a resumed run sees the batches an uninterrupted one would.
use crate::{Error, Result};
use hyperzoo_core::augment::canon::canonicalize;
use hyperzoo_core::augment::erase::{RandomErasing, VectorErasing};
use hyperzoo_core::augment::noise::Noise;
use hyperzoo_core::augment::permute::{PermutationGroups, PermutationPool};
use hyperzoo_core::tokens::norm::Standardizer;
use hyperzoo_core::tokens::sane::SaneTokenizer;
use hyperzoo_core::zoo::ModelSplit;
use hyperzoo_core::zoo::store::{NetStatus, Zoo};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

/// Checkpoints of one model split.
#[derive(Debug, Clone)]
pub struct SplitData {
    /// Parameters per network.
    pub params: usize,
    /// `[rows, params]` weights (normalised once [`SplitData::normalize`] ran).
    pub weights: Vec<f32>,
    /// Model id of every row.
    pub model: Vec<usize>,
    /// Epoch of every row.
    pub epoch: Vec<usize>,
}

impl SplitData {
    /// Number of checkpoints.
    pub fn len(&self) -> usize {
        self.model.len()
    }

    /// True when there is no checkpoint.
    pub fn is_empty(&self) -> bool {
        self.model.is_empty()
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.weights[i * self.params..(i + 1) * self.params]
    }

    /// Applies a fitted standardization to every row.
    pub fn normalize(&mut self, s: &Standardizer) -> Result<()> {
        s.apply(&mut self.weights)?;
        Ok(())
    }
}

/// Which checkpoints to use.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// Checkpoint epochs.
    pub epochs: Vec<usize>,
    /// Drop checkpoints with any |w| above this.
    pub max_abs_weight: f64,
    /// Use only models with id below this.
    pub max_models: Option<usize>,
    /// Map every model to the first training model by weight matching (all its epochs with the
    /// permutation found at its last selected epoch).
    pub canonicalize: bool,
}

/// Loads the train, val and test splits of `zoo` (weights as stored, not normalised).
pub fn load_splits(zoo: &Zoo, sel: &Selection, seed: u64) -> Result<[SplitData; 3]> {
    let p = zoo.manifest.params;
    let status: HashMap<(usize, usize), NetStatus> = zoo
        .records
        .iter()
        .map(|r| ((r.id, r.epoch), r.status))
        .collect();
    let mut out = [ModelSplit::Train, ModelSplit::Val, ModelSplit::Test].map(|_| SplitData {
        params: p,
        weights: Vec::new(),
        model: Vec::new(),
        epoch: Vec::new(),
    });
    let split_index = |s: ModelSplit| match s {
        ModelSplit::Train => 0,
        ModelSplit::Val => 1,
        ModelSplit::Test => 2,
    };
    for &epoch in &sel.epochs {
        let w = zoo.weights(epoch)?;
        for m in &zoo.models {
            if sel.max_models.is_some_and(|n| m.id >= n) {
                continue;
            }
            if status.get(&(m.id, epoch)) != Some(&NetStatus::Ok) {
                continue;
            }
            let row = &w[m.id * p..(m.id + 1) * p];
            if row
                .iter()
                .any(|v| !v.is_finite() || f64::from(v.abs()) > sel.max_abs_weight)
            {
                continue;
            }
            let s = &mut out[split_index(m.split)];
            s.weights.extend_from_slice(row);
            s.model.push(m.id);
            s.epoch.push(epoch);
        }
    }
    if out[0].is_empty() {
        return Err(Error::Core(hyperzoo_core::Error::format(
            &zoo.dir,
            format!(
                "no usable training checkpoint at epochs {:?} (all diverged, missing or above max_abs_weight?)",
                sel.epochs
            ),
        )));
    }
    if sel.canonicalize {
        canonicalize_all(zoo, &mut out, seed)?;
    }
    Ok(out)
}

fn canonicalize_all(zoo: &Zoo, splits: &mut [SplitData; 3], seed: u64) -> Result<()> {
    let groups = PermutationGroups::new(&zoo.manifest.arch)?;
    let p = zoo.manifest.params;
    let last = |s: &SplitData, m: usize| -> usize {
        (0..s.len())
            .filter(|&i| s.model[i] == m)
            .max_by_key(|&i| s.epoch[i])
            .expect("model has rows")
    };
    let reference = splits[0].row(last(&splits[0], splits[0].model[0])).to_vec();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xCA70);
    for s in splits.iter_mut() {
        let models: std::collections::BTreeSet<usize> = s.model.iter().copied().collect();
        for m in models {
            let (_, matching) = canonicalize(&groups, &reference, s.row(last(s, m)), &mut rng)?;
            let idx = groups.gather_index(&matching.perms);
            for i in (0..s.len()).filter(|&i| s.model[i] == m) {
                let row: Vec<f32> = idx.iter().map(|&j| s.weights[i * p + j]).collect();
                s.weights[i * p..(i + 1) * p].copy_from_slice(&row);
            }
        }
    }
    Ok(())
}

/// How rows become model inputs.
#[derive(Debug, Clone)]
pub enum Representation {
    /// The flat vector, `[1, P]` per network (2021 transformer, FC baseline).
    Flat,
    /// SANE tokens, a window of `window` tokens per network.
    Sane {
        /// The tokenizer.
        tokenizer: SaneTokenizer,
        /// Tokens per window (the whole sequence when equal to the token count).
        window: usize,
        /// Parameter of every slot of a network's token block (`u32::MAX`: padding); the
        /// inverse of the tokenizer's [`SaneTokenizer::slots`].
        param_of_slot: Vec<u32>,
    },
}

impl Representation {
    /// SANE tokens for `tokenizer` with windows of `window` tokens (0 = whole sequence).
    pub fn sane(tokenizer: SaneTokenizer, window: usize) -> Result<Self> {
        let t = tokenizer.token_count();
        let window = if window == 0 { t } else { window.min(t) };
        let mut param_of_slot = vec![u32::MAX; tokenizer.mask().len()];
        for (p, &s) in tokenizer.slots().iter().enumerate() {
            // p < P <= the slots, which the tokenizer numbers in u32.
            param_of_slot[s as usize] = p as u32;
        }
        Ok(Representation::Sane {
            tokenizer,
            window,
            param_of_slot,
        })
    }

    /// `[tokens, values per token]` of one network's input.
    pub fn item_shape(&self, params: usize) -> [usize; 2] {
        match self {
            Representation::Flat => [1, params],
            Representation::Sane {
                tokenizer, window, ..
            } => [*window, tokenizer.token_size()],
        }
    }
}

/// Augmentations of each view.
#[derive(Debug, Clone, Default)]
pub struct Augment {
    /// Permutation groups (None: no permutation).
    pub permutation: Option<PermutationGroups>,
    /// Views that stay unpermuted (canonical).
    pub canonical: [bool; 2],
    /// A finite pool the permutations are drawn from (None: a fresh one per view).
    pub pool: Option<PermutationPool>,
    /// Noise.
    pub noise: Option<Noise>,
    /// Erasing of a slice of the flat vector (2021).
    pub erase_vector: Option<VectorErasing>,
    /// Erasing of a rectangle of the token window (SANE).
    pub erase_window: Option<RandomErasing>,
}

/// A batch on the CPU: inputs `[rows, T, D]`, positions `[rows, T, 3]` for SANE.
#[derive(Debug, Clone)]
pub struct BatchData {
    /// Inputs, row-major.
    pub x: Vec<f32>,
    /// Shape of `x`.
    pub shape: [usize; 3],
    /// Positions (SANE).
    pub pos: Option<Vec<i64>>,
    /// Mask `[T, D]` of real values (SANE; 1 everywhere otherwise).
    pub mask: Vec<f32>,
    /// The views before noise and erasing (same shape as `x`), when those changed them.
    pub target: Option<Vec<f32>>,
}

/// The generator of batch `batch` of `epoch` (and of the validation batches with `epoch =
/// u64::MAX`).
pub fn batch_rng(seed: u64, epoch: u64, batch: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xBA7C_0000_0000_0003);
    rng.set_stream(epoch.wrapping_mul(1 << 32).wrapping_add(batch));
    rng
}

/// The parameters a SANE window of `size` tokens from `start` holds, in ascending order, with
/// the slot (relative to the window) each one fills: read from the window's slots only.
fn window_params(
    param_of_slot: &[u32],
    start: usize,
    size: usize,
    ts: usize,
) -> (Vec<usize>, Vec<usize>) {
    let a = start * ts;
    let mut pairs: Vec<(usize, usize)> = param_of_slot[a..(start + size) * ts]
        .iter()
        .enumerate()
        .filter(|&(_, &p)| p != u32::MAX)
        .map(|(s, &p)| (p as usize, s))
        .collect();
    pairs.sort_unstable();
    pairs.into_iter().unzip()
}

/// The positions `[rows, size, 3]` of `rows` networks' SANE windows of `size` tokens from
/// `start`.
pub fn window_positions(
    tokenizer: &SaneTokenizer,
    start: usize,
    size: usize,
    rows: usize,
) -> Vec<i64> {
    let one: Vec<i64> = tokenizer.positions()[start..start + size]
        .iter()
        .flat_map(|p| p.to_array().map(i64::from))
        .collect();
    one.repeat(rows)
}

/// The mask `[size, D]` and positions `[rows, size, 3]` of a SANE window.
fn window_frame(
    tokenizer: &SaneTokenizer,
    start: usize,
    size: usize,
    rows: usize,
) -> (Vec<f32>, Vec<i64>) {
    let ts = tokenizer.token_size();
    let mask = tokenizer.mask()[start * ts..(start + size) * ts].to_vec();
    (mask, window_positions(tokenizer, start, size, rows))
}

/// Starts of the consecutive windows covering a whole SANE sequence (the last one ending at
/// the sequence's end); `[0]` for the flat representation.
pub fn window_starts(repr: &Representation) -> Vec<usize> {
    match repr {
        Representation::Flat => vec![0],
        Representation::Sane {
            tokenizer, window, ..
        } => {
            let t = tokenizer.token_count();
            let mut s: Vec<usize> = (0..t).step_by(*window).map(|s| s.min(t - window)).collect();
            s.dedup();
            s
        }
    }
}

/// The permutations of view `view` of row `i` (None: the view stays as stored).
fn draw_perms(
    aug: &Augment,
    view: usize,
    i: usize,
    rng: &mut ChaCha8Rng,
) -> Option<Vec<Vec<usize>>> {
    match (&aug.permutation, aug.canonical[view]) {
        (Some(groups), false) => Some(match &aug.pool {
            Some(pool) => pool.draw(groups, i as u64, rng),
            None => groups.random(rng),
        }),
        _ => None,
    }
}

/// Two augmented views of rows `ids`: view 1 of every row, then view 2 (`2·len(ids)` rows).
///
/// A SANE window is gathered straight from the stored rows: only the window's parameters are
/// permuted, noised and placed into tokens, never a whole network, so a batch costs its
/// windows' size whatever the networks' (a ResNet-18's 11 M parameters). Noise is drawn for the
/// window's parameters in flat order; with the whole sequence as the window every draw is what
/// tokenizing whole permuted networks gave.
pub fn views(
    data: &SplitData,
    ids: &[usize],
    aug: &Augment,
    repr: &Representation,
    rng: &mut ChaCha8Rng,
) -> Result<BatchData> {
    let changes = aug.noise.is_some() || aug.erase_vector.is_some() || aug.erase_window.is_some();
    match repr {
        Representation::Flat => {
            let p = data.params;
            let mut rows: Vec<Vec<f32>> = Vec::with_capacity(2 * ids.len());
            let mut targets: Vec<Vec<f32>> = Vec::with_capacity(2 * ids.len());
            for view in 0..2 {
                for &i in ids {
                    let row = data.row(i);
                    let mut x: Vec<f32> = match draw_perms(aug, view, i, rng) {
                        Some(perms) => {
                            let groups = aug.permutation.as_ref().expect("drawn from groups");
                            groups
                                .gather_index(&perms)
                                .iter()
                                .map(|&j| row[j])
                                .collect()
                        }
                        None => row.to_vec(),
                    };
                    if changes {
                        targets.push(x.clone());
                    }
                    if let Some(n) = &aug.noise {
                        n.apply(&mut x, rng);
                    }
                    if let Some(e) = &aug.erase_vector {
                        e.apply(&mut x, rng);
                    }
                    rows.push(x);
                }
            }
            Ok(BatchData {
                shape: [rows.len(), 1, p],
                x: rows.concat(),
                pos: None,
                mask: vec![1.0; p],
                target: changes.then(|| targets.concat()),
            })
        }
        Representation::Sane {
            tokenizer,
            window,
            param_of_slot,
            ..
        } => {
            let (t, ts, w) = (tokenizer.token_count(), tokenizer.token_size(), *window);
            // A shorter window's start is drawn first (its parameters are gathered); the whole
            // sequence's (always 0) is drawn after the views, where earlier versions drew it,
            // so such runs keep their random streams.
            let early = if w < t {
                Some(tokenizer.window_start(w, rng)?)
            } else {
                None
            };
            let (params, slots) = window_params(param_of_slot, early.unwrap_or(0), w, ts);
            let (n, per) = (2 * ids.len(), w * ts);
            let mut x = vec![0.0f32; n * per];
            let mut target = changes.then(|| vec![0.0f32; n * per]);
            let scatter = |out: &mut [f32], vals: &[f32]| {
                for (&s, &v) in slots.iter().zip(vals) {
                    out[s] = v;
                }
            };
            for view in 0..2 {
                for (k, &i) in ids.iter().enumerate() {
                    let r = view * ids.len() + k;
                    let row = data.row(i);
                    let mut vals: Vec<f32> = match draw_perms(aug, view, i, rng) {
                        Some(perms) => {
                            let groups = aug.permutation.as_ref().expect("drawn from groups");
                            groups
                                .sources(&perms, &params)
                                .iter()
                                .map(|&j| row[j])
                                .collect()
                        }
                        None => params.iter().map(|&j| row[j]).collect(),
                    };
                    if let Some(tg) = &mut target {
                        scatter(&mut tg[r * per..(r + 1) * per], &vals);
                    }
                    if let Some(noise) = &aug.noise {
                        noise.apply(&mut vals, rng);
                    }
                    scatter(&mut x[r * per..(r + 1) * per], &vals);
                }
            }
            let start = match early {
                Some(s) => s,
                None => tokenizer.window_start(w, rng)?,
            };
            if let Some(e) = &aug.erase_window {
                for r in x.chunks_mut(per) {
                    e.apply(r, w, ts, rng);
                }
            }
            let (mask, pos) = window_frame(tokenizer, start, w, n);
            Ok(BatchData {
                shape: [n, w, ts],
                x,
                pos: Some(pos),
                mask,
                target,
            })
        }
    }
}

/// Rows `ids` without augmentation (evaluation); SANE windows start at `start` (gathered
/// from the stored rows, as [`views`] does).
pub fn clean(
    data: &SplitData,
    ids: &[usize],
    repr: &Representation,
    start: usize,
) -> Result<BatchData> {
    match repr {
        Representation::Flat => Ok(BatchData {
            shape: [ids.len(), 1, data.params],
            x: ids.iter().flat_map(|&i| data.row(i)).copied().collect(),
            pos: None,
            mask: vec![1.0; data.params],
            target: None,
        }),
        Representation::Sane {
            tokenizer,
            window,
            param_of_slot,
            ..
        } => {
            let (t, ts, w) = (tokenizer.token_count(), tokenizer.token_size(), *window);
            if start + w > t {
                return Err(Error::Core(hyperzoo_core::Error::InvalidValue {
                    what: "SANE window".into(),
                    value: format!("start {start}, size {w}"),
                    expected: format!("a window inside the {t} tokens"),
                }));
            }
            let (params, slots) = window_params(param_of_slot, start, w, ts);
            let per = w * ts;
            let mut x = vec![0.0f32; ids.len() * per];
            for (out, &i) in x.chunks_exact_mut(per).zip(ids) {
                let row = data.row(i);
                for (&s, &p) in slots.iter().zip(&params) {
                    out[s] = row[p];
                }
            }
            let (mask, pos) = window_frame(tokenizer, start, w, ids.len());
            Ok(BatchData {
                shape: [ids.len(), w, ts],
                x,
                pos: Some(pos),
                mask,
                target: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyperzoo_core::arch::ArchSpec;
    use hyperzoo_core::augment::permute::PoolScope;
    use std::collections::HashSet;

    fn split(rows: usize, params: usize) -> SplitData {
        SplitData {
            params,
            weights: (0..rows * params)
                .map(|v| (v as f32 * 0.37).sin())
                .collect(),
            model: (0..rows).collect(),
            epoch: vec![0; rows],
        }
    }

    /// Distinct first views of each row over `epochs` batches of all rows.
    fn distinct_views(aug: &Augment, data: &SplitData, epochs: u64) -> Vec<usize> {
        let ids: Vec<usize> = (0..data.len()).collect();
        let mut seen: Vec<HashSet<Vec<u32>>> = vec![HashSet::new(); ids.len()];
        for epoch in 0..epochs {
            let b = views(
                data,
                &ids,
                aug,
                &Representation::Flat,
                &mut batch_rng(7, epoch, 0),
            )
            .unwrap();
            for (row, x) in b.x.chunks(data.params).enumerate() {
                seen[row % ids.len()].insert(x.iter().map(|v| v.to_bits()).collect());
            }
        }
        seen.iter().map(HashSet::len).collect()
    }

    /// What tokenizing whole augmented networks gives: view `r`'s permuted (and noised) flat
    /// vector, drawn as the views draw them, tokenized whole, then windowed at `start`.
    fn whole_network_views(
        data: &SplitData,
        ids: &[usize],
        aug: &Augment,
        tok: &SaneTokenizer,
        start_first: Option<usize>,
        rng: &mut ChaCha8Rng,
    ) -> (Vec<f32>, usize) {
        let groups = aug.permutation.as_ref().unwrap();
        let mut flat = Vec::new();
        if let Some(w) = start_first {
            tok.window_start(w, rng).unwrap();
        }
        for _view in 0..2 {
            for &i in ids {
                let mut x = groups.apply(data.row(i), &groups.random(rng));
                if let Some(n) = &aug.noise {
                    n.apply(&mut x, rng);
                }
                flat.extend(x);
            }
        }
        let start = match start_first {
            Some(_) => 0,
            None => tok.window_start(tok.token_count(), rng).unwrap(),
        };
        (tok.tokenize(&flat).unwrap(), start)
    }

    #[test]
    fn sane_views_gathered_from_windows_equal_whole_networks_tokenized() {
        for name in ["cnn3", "resnet8"] {
            let arch = ArchSpec::builtin(name).unwrap();
            let groups = PermutationGroups::new(&arch).unwrap();
            let tok = SaneTokenizer::new(&arch.layout().unwrap(), 64).unwrap();
            let (t, ts) = (tok.token_count(), tok.token_size());
            let data = split(5, groups.param_count());
            let ids = [3, 0, 4];
            let noisy = Augment {
                permutation: Some(groups.clone()),
                noise: Some(Noise::Multiplicative { sigma: 0.1 }),
                ..Augment::default()
            };
            // The whole sequence: every draw as before, noise included, bit for bit.
            let repr = Representation::sane(tok.clone(), 0).unwrap();
            let got = views(&data, &ids, &noisy, &repr, &mut batch_rng(3, 1, 2)).unwrap();
            let (want, start) =
                whole_network_views(&data, &ids, &noisy, &tok, None, &mut batch_rng(3, 1, 2));
            assert_eq!(start, 0);
            assert_eq!(got.x, want, "{name}");
            assert_eq!(got.shape, [6, t, ts]);
            // A shorter window (permutations only): the window of the whole permuted networks.
            let w = t / 3;
            let perm_only = Augment {
                noise: None,
                ..noisy.clone()
            };
            let repr = Representation::sane(tok.clone(), w).unwrap();
            let got = views(&data, &ids, &perm_only, &repr, &mut batch_rng(3, 1, 2)).unwrap();
            let mut rng = batch_rng(3, 1, 2);
            let start = tok.window_start(w, &mut rng).unwrap();
            let (whole, _) = whole_network_views(
                &data,
                &ids,
                &perm_only,
                &tok,
                Some(w),
                &mut batch_rng(3, 1, 2),
            );
            let want = tok.window(&whole, start, w).unwrap();
            assert_eq!(got.x, want.tokens, "{name}");
            assert_eq!(got.mask, want.mask);
            let pos: Vec<i64> = want
                .positions
                .iter()
                .flat_map(|p| p.to_array().map(i64::from))
                .collect();
            assert_eq!(got.pos.as_deref(), Some(&pos.repeat(6)[..]));
            // Evaluation windows: the stored networks' tokens.
            let c = clean(&data, &ids, &repr, start).unwrap();
            let flat: Vec<f32> = ids.iter().flat_map(|&i| data.row(i).to_vec()).collect();
            let want = tok.window(&tok.tokenize(&flat).unwrap(), start, w).unwrap();
            assert_eq!(c.x, want.tokens, "{name}");
            assert!(clean(&data, &ids, &repr, t - w + 1).is_err());
        }
    }

    #[test]
    fn a_pool_of_p_permutations_gives_exactly_p_views_per_model() {
        let arch = ArchSpec::builtin("cnn_s").unwrap();
        let groups = PermutationGroups::new(&arch).unwrap();
        let data = split(3, groups.param_count());
        for scope in [PoolScope::Zoo, PoolScope::Checkpoint] {
            let aug = Augment {
                permutation: Some(groups.clone()),
                pool: Some(PermutationPool {
                    size: 5,
                    scope,
                    seed: 11,
                }),
                ..Augment::default()
            };
            // 400 epochs x 2 views: every member is drawn (the chance of missing one is ~1e-77).
            assert_eq!(distinct_views(&aug, &data, 400), vec![5, 5, 5], "{scope:?}");
        }
        // Fresh permutations: (nearly) every view differs.
        let fresh = Augment {
            permutation: Some(groups),
            ..Augment::default()
        };
        assert!(distinct_views(&fresh, &data, 50).iter().all(|&n| n > 45));
    }

    #[test]
    fn zoo_pools_are_shared_and_checkpoint_pools_are_not() {
        let arch = ArchSpec::builtin("cnn_s").unwrap();
        let groups = PermutationGroups::new(&arch).unwrap();
        let pool = |scope| PermutationPool {
            size: 4,
            scope,
            seed: 3,
        };
        let zoo = pool(PoolScope::Zoo);
        let ckpt = pool(PoolScope::Checkpoint);
        assert_eq!(zoo.member(&groups, 0, 2), zoo.member(&groups, 9, 2));
        assert_ne!(ckpt.member(&groups, 0, 2), ckpt.member(&groups, 9, 2));
        // The same member every time it is asked for (fixed for the whole training).
        assert_eq!(ckpt.member(&groups, 5, 1), ckpt.member(&groups, 5, 1));
        // Members of one pool differ from each other.
        let members: HashSet<_> = (0..4).map(|k| ckpt.member(&groups, 5, k)).collect();
        assert_eq!(members.len(), 4);
    }
}
