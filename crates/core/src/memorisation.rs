//! Memorisation audit of generated networks: does a weight generator produce new networks, or
//! copies of the checkpoints it was trained on? (Zeng et al. 2025 found that published weight
//! generators mostly replicate training checkpoints.)
//!
//! For every audited network the audit finds its **nearest training checkpoint after
//! alignment**: the L2 distance `‖t − π(x)‖` minimised over training checkpoints `t`, where `π`
//! is the permutation of hidden units that weight matching ([`WeightMatching`], aligning the
//! network `x` onto `t`) finds, and records that checkpoint's test accuracy. Permuting hidden
//! units leaves a network's function unchanged, so a generated network that is a permuted
//! training checkpoint is a copy and must come out at distance 0.
//!
//! The same audit runs on two baselines of the same count as the generated networks, which say
//! what the numbers mean:
//!
//! - **noise**: training checkpoints (the generation's anchors, drawn uniformly with
//!   replacement) plus isotropic Gaussian noise rescaled to an L2 norm equal to the median
//!   generated-to-nearest distance: networks as far from the data as the generated ones but, by
//!   construction, copies of a checkpoint plus noise; their nearest distance comes out close to
//!   the noise norm (smaller only where another checkpoint or permutation happens to be
//!   closer);
//! - **interpolation**: averages of two anchors, the second aligned onto the first by weight
//!   matching: the cheapest way of making something "new" from the training set.
//!
//! # Cost: a permutation-invariant pre-screen
//!
//! Weight matching against every training checkpoint is expensive for big zoos. Every hidden-unit
//! permutation only rearranges entries inside each parameter tensor (a layer's weight, its
//! bias), so the L2 distance between the *per-tensor sorted* weight vectors of two networks is a
//! lower bound of their distance under every permutation (sorting both sides minimises
//! `Σ (a_i − b_σ(i))²` over all rearrangements σ). The audit ranks the training checkpoints by
//! this bound and aligns them in increasing order, stopping once the next bound reaches the best
//! aligned distance found (no later checkpoint could then be closer). The result is exact up to
//! weight matching itself, which is coordinate ascent and can stop in a local optimum (the
//! unpermuted distance is taken when it is smaller). `candidates` (K; default 0, no cap) caps
//! the alignments for very large zoos, at the price of missing the nearest checkpoint when the
//! bound is loose.
//!
//! # Data in and out
//!
//! Networks enter as raw (de-normalised) flat weight vectors, row-major `[N, P]` `f32` slices
//! in the architecture's flat layout ([`crate::arch`]); accuracies as one `f64` per training
//! checkpoint. [`audit`] returns [`Memorisation`], results.toml's `[generation.memorisation]`.
//! Networks with a NaN or infinite weight are skipped (counted out of `networks`). Every random
//! draw (the group order of weight matching, the baselines' choices and noise) comes from a
//! ChaCha8 generator seeded by [`AuditSettings::seed`], one stream per audited network, so the
//! result does not depend on the number of threads.
use crate::arch::Layout;
use crate::augment::canon::WeightMatching;
use crate::augment::noise::standard_normal;
use crate::augment::permute::PermutationGroups;
use crate::results::{Memorisation, MemorisationRow, Quantiles};
use crate::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Settings of the memorisation audit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AuditSettings {
    /// Training checkpoints aligned per network at most, in the order of the
    /// permutation-invariant pre-screen (see the module docs); 0 = no cap: alignment goes on
    /// until the next lower bound exceeds the best distance found, so the nearest checkpoint is
    /// exact (up to weight matching). A cap makes the audit faster on large zoos but can miss
    /// the nearest checkpoint when the bound is loose (a noisy network).
    pub candidates: usize,
    /// A network is a near copy when its distance is at most this fraction of its nearest
    /// checkpoint's L2 norm.
    pub copy_threshold: f64,
    /// Weight matching settings.
    pub matching: WeightMatching,
    /// Seed of every random draw.
    pub seed: u64,
}

impl Default for AuditSettings {
    /// No cap on candidates (exact), near copies within 1 % of the neighbour's norm, default
    /// weight matching, seed 0.
    fn default() -> Self {
        Self {
            candidates: 0,
            copy_threshold: 0.01,
            matching: WeightMatching::default(),
            seed: 0,
        }
    }
}

/// The nearest training checkpoint of one network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nearest {
    /// Row of the nearest training checkpoint; `None` for a network with non-finite weights
    /// (or an empty training set).
    pub index: Option<usize>,
    /// L2 distance to it after aligning the network onto it (NaN without one).
    pub distance: f64,
    /// `distance` divided by the checkpoint's L2 norm (0 for two zero vectors).
    pub relative: f64,
    /// The checkpoint's test accuracy (NaN without one).
    pub accuracy: f64,
    /// Training checkpoints aligned exactly (at most [`AuditSettings::candidates`]).
    pub aligned: usize,
}

impl Nearest {
    fn none() -> Self {
        Self {
            index: None,
            distance: f64::NAN,
            relative: f64::NAN,
            accuracy: f64::NAN,
            aligned: 0,
        }
    }
}

/// The training checkpoints prepared for nearest-neighbour search after alignment: their
/// per-tensor sorted copies (the pre-screen) and norms are computed once.
#[derive(Debug, Clone)]
pub struct TrainingSet<'a> {
    groups: &'a PermutationGroups,
    weights: &'a [f32],
    accuracy: &'a [f64],
    tensors: Vec<(usize, usize)>,
    sorted: Vec<f32>,
    norms: Vec<f64>,
    finite: Vec<bool>,
}

impl<'a> TrainingSet<'a> {
    /// `weights`: the training checkpoints, row-major `[T, P]` with `P` the groups' parameter
    /// count; `accuracy`: the test accuracy of each (`T` values, NaN where unknown).
    /// Checkpoints with a non-finite weight are never anyone's nearest.
    pub fn new(
        groups: &'a PermutationGroups,
        weights: &'a [f32],
        accuracy: &'a [f64],
    ) -> Result<Self> {
        let p = groups.param_count();
        let t = check_rows("memorisation audit training checkpoints", weights, p)?;
        if accuracy.len() != t {
            return Err(Error::InvalidValue {
                what: "memorisation audit training accuracies".into(),
                value: format!("{} accuracies", accuracy.len()),
                expected: format!("one per training checkpoint ({t})"),
            });
        }
        let tensors = tensors(groups.layout());
        let mut sorted = Vec::with_capacity(weights.len());
        let mut norms = Vec::with_capacity(t);
        let mut finite = Vec::with_capacity(t);
        for w in weights.chunks_exact(p) {
            sorted.extend(sorted_proxy(&tensors, w));
            norms.push(norm(w));
            finite.push(w.iter().all(|v| v.is_finite()));
        }
        Ok(Self {
            groups,
            weights,
            accuracy,
            tensors,
            sorted,
            norms,
            finite,
        })
    }

    /// Number of training checkpoints.
    pub fn len(&self) -> usize {
        self.norms.len()
    }

    /// True without training checkpoints.
    pub fn is_empty(&self) -> bool {
        self.norms.is_empty()
    }

    fn row(&self, t: usize) -> &[f32] {
        let p = self.groups.param_count();
        &self.weights[t * p..(t + 1) * p]
    }

    /// The nearest training checkpoint of `network` (length `P`) after alignment: the
    /// training checkpoints aligned by weight matching in increasing order of their lower bound
    /// until the bound exceeds the best distance (at most `settings.candidates` of them when
    /// that is not 0; the module docs); `rng` orders weight matching's sweeps.
    pub fn nearest(
        &self,
        network: &[f32],
        settings: &AuditSettings,
        rng: &mut impl Rng,
    ) -> Result<Nearest> {
        let p = self.groups.param_count();
        if network.len() != p {
            return Err(Error::InvalidValue {
                what: "memorisation audit network".into(),
                value: format!("{} weights", network.len()),
                expected: format!("{p} weights (one network)"),
            });
        }
        if !network.iter().all(|v| v.is_finite()) {
            return Ok(Nearest::none());
        }
        let proxy = sorted_proxy(&self.tensors, network);
        let mut bounds: Vec<(f64, usize)> = (0..self.len())
            .filter(|&t| self.finite[t])
            .map(|t| {
                let s = &self.sorted[t * p..(t + 1) * p];
                (sq_dist(&proxy, s).sqrt(), t)
            })
            .collect();
        // Ties broken by row, so the order (and the result) is deterministic.
        let order = |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        let k = match settings.candidates {
            0 => bounds.len(),
            c => c.min(bounds.len()),
        };
        if k == 0 {
            return Ok(Nearest::none());
        }
        if k < bounds.len() {
            bounds.select_nth_unstable_by(k - 1, order);
            bounds.truncate(k);
        }
        bounds.sort_by(order);
        let mut best: Option<(f64, usize)> = None;
        let mut aligned = 0;
        for (bound, t) in bounds {
            if best.is_some_and(|(d, _)| bound >= d) {
                break;
            }
            let reference = self.row(t);
            let d = aligned_distance(self.groups, &settings.matching, reference, network, rng)?;
            aligned += 1;
            if best.is_none_or(|(b, _)| d < b) {
                best = Some((d, t));
            }
        }
        let Some((distance, t)) = best else {
            return Ok(Nearest::none());
        };
        let n = self.norms[t];
        Ok(Nearest {
            index: Some(t),
            distance,
            relative: if n > 0.0 {
                distance / n
            } else if distance == 0.0 {
                0.0
            } else {
                f64::INFINITY
            },
            accuracy: self.accuracy[t],
            aligned,
        })
    }

    /// [`nearest`](Self::nearest) of every row of `networks` (`[N, P]`), on as many threads as
    /// the machine has; network `i` draws from the generator of `(settings.seed, stream, i)`.
    pub fn nearest_all(
        &self,
        networks: &[f32],
        settings: &AuditSettings,
        stream: u64,
    ) -> Result<Vec<Nearest>> {
        let p = self.groups.param_count();
        let n = check_rows("memorisation audit networks", networks, p)?;
        let mut out = vec![Nearest::none(); n];
        if n == 0 {
            return Ok(out);
        }
        let threads = std::thread::available_parallelism()
            .map_or(1, |t| t.get())
            .clamp(1, n);
        let chunk = n.div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = out
                .chunks_mut(chunk)
                .enumerate()
                .map(|(c, slots)| {
                    s.spawn(move || -> Result<()> {
                        for (j, slot) in slots.iter_mut().enumerate() {
                            let i = c * chunk + j;
                            let mut rng = stream_rng(settings.seed, stream, i as u64);
                            *slot =
                                self.nearest(&networks[i * p..(i + 1) * p], settings, &mut rng)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .try_for_each(|h| h.join().expect("memorisation audit thread panicked"))
        })?;
        Ok(out)
    }
}

/// The memorisation audit: the nearest training checkpoint after alignment of every generated
/// network, of as many noise-baseline networks and of as many interpolation-baseline networks
/// (the module docs).
///
/// `train` (`[T, P]`) and `accuracy` (`T`): the training checkpoints searched and their test
/// accuracies; `generated` (`[N, P]`): the generated networks; `anchors` (`[A, P]`): the
/// training checkpoints the baselines are made of (the generation's anchors). All raw,
/// de-normalised weights.
pub fn audit(
    groups: &PermutationGroups,
    train: &[f32],
    accuracy: &[f64],
    generated: &[f32],
    anchors: &[f32],
    settings: &AuditSettings,
) -> Result<Memorisation> {
    let p = groups.param_count();
    let set = TrainingSet::new(groups, train, accuracy)?;
    let n = check_rows("memorisation audit generated networks", generated, p)?;
    check_rows("memorisation audit anchors", anchors, p)?;
    let gen_near = set.nearest_all(generated, settings, 0)?;
    let distances: Vec<f64> = gen_near.iter().map(|x| x.distance).collect();
    let noise_norm = Quantiles::of(&distances).map_or(f64::NAN, |q| q.median);
    let noisy = if noise_norm.is_finite() {
        noise_baseline(
            anchors,
            p,
            n,
            noise_norm,
            &mut stream_rng(settings.seed, 3, 0),
        )
    } else {
        Vec::new()
    };
    let mixed = interpolation_baseline(
        groups,
        anchors,
        n,
        &settings.matching,
        &mut stream_rng(settings.seed, 4, 0),
    )?;
    let noise_near = set.nearest_all(&noisy, settings, 1)?;
    let mixed_near = set.nearest_all(&mixed, settings, 2)?;
    let row = |x: &[Nearest]| summarise(x, settings.copy_threshold);
    Ok(Memorisation {
        checkpoints: set.len(),
        candidates: settings.candidates,
        noise_norm,
        copy_threshold: settings.copy_threshold,
        generated: row(&gen_near),
        noise: row(&noise_near),
        interpolation: row(&mixed_near),
    })
}

/// The noise baseline: `count` networks, each a uniformly drawn (with replacement) finite row
/// of `sources` (`[A, P]`) plus isotropic Gaussian noise rescaled to L2 norm `norm`. Empty
/// without a finite source.
pub fn noise_baseline(
    sources: &[f32],
    p: usize,
    count: usize,
    norm: f64,
    rng: &mut impl Rng,
) -> Vec<f32> {
    let rows = finite_rows(sources, p);
    if rows.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(count * p);
    let mut noise = vec![0f64; p];
    for _ in 0..count {
        let src = rows[rng.random_range(0..rows.len())];
        noise.iter_mut().for_each(|x| *x = standard_normal(rng));
        let len = noise.iter().map(|x| x * x).sum::<f64>().sqrt();
        let scale = if len > 0.0 { norm / len } else { 0.0 };
        out.extend(
            src.iter()
                .zip(&noise)
                .map(|(&w, &e)| (w as f64 + scale * e) as f32),
        );
    }
    out
}

/// The interpolation baseline: `count` networks, each the average of two distinct uniformly
/// drawn finite rows of `sources` (`[A, P]`; the same row twice when there is only one), the
/// second aligned onto the first by weight matching. Empty without a finite source.
pub fn interpolation_baseline(
    groups: &PermutationGroups,
    sources: &[f32],
    count: usize,
    matching: &WeightMatching,
    rng: &mut impl Rng,
) -> Result<Vec<f32>> {
    let p = groups.param_count();
    check_rows("memorisation audit anchors", sources, p)?;
    let rows = finite_rows(sources, p);
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(count * p);
    for _ in 0..count {
        let i = rng.random_range(0..rows.len());
        let j = if rows.len() < 2 {
            i
        } else {
            let j = rng.random_range(0..rows.len() - 1);
            if j >= i { j + 1 } else { j }
        };
        let (a, b) = (rows[i], rows[j]);
        let m = matching.run(groups, a, b, rng)?;
        let index = groups.gather_index(&m.perms);
        out.extend(
            a.iter()
                .zip(&index)
                .map(|(&x, &k)| ((x as f64 + b[k] as f64) / 2.0) as f32),
        );
    }
    Ok(out)
}

/// One row of the audit's table from the nearest checkpoints of a group of networks.
pub fn summarise(nearest: &[Nearest], copy_threshold: f64) -> MemorisationRow {
    let found: Vec<&Nearest> = nearest
        .iter()
        .filter(|x| x.index.is_some() && x.distance.is_finite())
        .collect();
    let mut neighbours: Vec<usize> = found.iter().filter_map(|x| x.index).collect();
    neighbours.sort_unstable();
    neighbours.dedup();
    let copies = found
        .iter()
        .filter(|x| x.relative <= copy_threshold)
        .count();
    let values = |f: fn(&Nearest) -> f64| -> Vec<f64> { found.iter().map(|x| f(x)).collect() };
    MemorisationRow {
        networks: found.len(),
        neighbours: neighbours.len(),
        copies: if found.is_empty() {
            f64::NAN
        } else {
            copies as f64 / found.len() as f64
        },
        distance: Quantiles::of(&values(|x| x.distance)),
        relative: Quantiles::of(&values(|x| x.relative)),
        neighbour_acc: Quantiles::of(&values(|x| x.accuracy)),
    }
}

/// The L2 distance between `reference` and `network` aligned onto it by weight matching.
pub fn aligned_distance(
    groups: &PermutationGroups,
    matching: &WeightMatching,
    reference: &[f32],
    network: &[f32],
    rng: &mut impl Rng,
) -> Result<f64> {
    let m = matching.run(groups, reference, network, rng)?;
    let matched = sq_dist(reference, &groups.apply(network, &m.perms));
    // Weight matching is a heuristic beyond one group: never report more than the unpermuted
    // distance, which is an alignment too.
    Ok(matched.min(sq_dist(reference, network)).sqrt())
}

/// The pre-screen's permutation-invariant proxy of one network: each parameter tensor (`tensors`:
/// `(offset, len)`, as [`tensors`] lists them) sorted ascending, in place.
pub fn sorted_proxy(tensors: &[(usize, usize)], w: &[f32]) -> Vec<f32> {
    let mut out = w.to_vec();
    for &(o, n) in tensors {
        out[o..o + n].sort_by(f32::total_cmp);
    }
    out
}

/// `(offset, len)` of every parameter tensor (each layer's weight, then its bias, a batch norm's
/// running mean and variance) of `layout`:
/// the blocks inside which hidden-unit permutations move entries.
pub fn tensors(layout: &Layout) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(2 * layout.params.len());
    for l in &layout.params {
        out.push((l.weight_offset, l.weight_len()));
        if let Some(b) = l.bias_offset {
            out.push((b, l.out));
        }
        // A batch norm's running statistics move with its channels too.
        if let Some(b) = l.buffers_offset {
            out.extend([(b, l.out), (b + l.out, l.out)]);
        }
    }
    out
}

/// The generator of network `index` of stream `stream`.
fn stream_rng(seed: u64, stream: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    rng.set_stream(index);
    rng
}

/// Rows in a row-major `[N, p]` slice, or an error naming `what`.
fn check_rows(what: &str, w: &[f32], p: usize) -> Result<usize> {
    if p == 0 || !w.len().is_multiple_of(p) {
        return Err(Error::InvalidValue {
            what: what.into(),
            value: format!("{} weights", w.len()),
            expected: format!("a multiple of {p} (the architecture's parameter count)"),
        });
    }
    Ok(w.len() / p)
}

/// The rows of `[N, p]` whose weights are all finite.
fn finite_rows(w: &[f32], p: usize) -> Vec<&[f32]> {
    w.chunks_exact(p)
        .filter(|r| r.iter().all(|v| v.is_finite()))
        .collect()
}

fn sq_dist(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum()
}

fn norm(w: &[f32]) -> f64 {
    w.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::ArchSpec;

    fn groups(name: &str) -> PermutationGroups {
        PermutationGroups::new(&ArchSpec::builtin(name).unwrap()).unwrap()
    }

    /// `n` random networks `[n, P]` with N(0, scale²) weights.
    fn gaussian(n: usize, p: usize, scale: f64, rng: &mut ChaCha8Rng) -> Vec<f32> {
        (0..n * p)
            .map(|_| (standard_normal(rng) * scale) as f32)
            .collect()
    }

    fn row(w: &[f32], i: usize, p: usize) -> &[f32] {
        &w[i * p..(i + 1) * p]
    }

    #[test]
    fn sorted_proxy_is_a_lower_bound_invariant_to_permutations() {
        let g = groups("cnn_s");
        let p = g.param_count();
        let t = tensors(g.layout());
        assert_eq!(t.iter().map(|x| x.1).sum::<usize>(), p);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let w = gaussian(2, p, 0.1, &mut rng);
        let (a, b) = (row(&w, 0, p), row(&w, 1, p));
        let permuted = g.apply(a, &g.random(&mut rng));
        assert_eq!(sorted_proxy(&t, a), sorted_proxy(&t, &permuted));
        let bound = sq_dist(&sorted_proxy(&t, a), &sorted_proxy(&t, b)).sqrt();
        for _ in 0..3 {
            let pb = g.apply(b, &g.random(&mut rng));
            assert!(bound <= sq_dist(a, &pb).sqrt());
        }
        let d = aligned_distance(&g, &WeightMatching::default(), a, b, &mut rng).unwrap();
        assert!(bound <= d && d <= sq_dist(a, b).sqrt(), "{bound} {d}");
    }

    /// A generated network that is a permuted training checkpoint is at distance 0 after
    /// alignment, and that checkpoint is its nearest.
    #[test]
    fn a_permuted_training_checkpoint_is_at_distance_zero() {
        for (name, seed) in [("cnn_s", 2), ("tetris_mlp", 3)] {
            let g = groups(name);
            let p = g.param_count();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let train = gaussian(6, p, 0.1, &mut rng);
            let acc: Vec<f64> = (0..6).map(|i| 0.5 + i as f64 / 100.0).collect();
            let set = TrainingSet::new(&g, &train, &acc).unwrap();
            let copy = g.apply(row(&train, 4, p), &g.random(&mut rng));
            assert!(sq_dist(&copy, row(&train, 4, p)).sqrt() > 0.1, "{name}");
            let n = set
                .nearest(&copy, &AuditSettings::default(), &mut rng)
                .unwrap();
            assert_eq!(n.index, Some(4), "{name}");
            assert!(n.distance <= 1e-5, "{name}: {}", n.distance);
            assert_eq!(n.accuracy, 0.54);
            assert!(n.relative <= 1e-5);
            // The pre-screen's bound of the copy is 0: nothing else needed aligning.
            assert_eq!(n.aligned, 1, "{name}");
        }
    }

    /// A training checkpoint plus noise of norm r (the other checkpoints far away) is at
    /// distance r from it, permuted or not.
    #[test]
    fn a_noisy_training_checkpoint_is_at_the_noise_distance() {
        let g = groups("cnn_s");
        let p = g.param_count();
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let train = gaussian(8, p, 0.1, &mut rng);
        let acc = vec![0.7; 8];
        let set = TrainingSet::new(&g, &train, &acc).unwrap();
        // Training checkpoints are ~0.1·√(2P) ≈ 7 apart; noise of norm 0.3 is per weight ~0.006.
        let r = 0.3;
        let noisy = noise_baseline(row(&train, 2, p), p, 1, r, &mut rng);
        assert!((sq_dist(&noisy, row(&train, 2, p)).sqrt() - r).abs() < 1e-5);
        let generated = g.apply(&noisy, &g.random(&mut rng));
        let settings = AuditSettings {
            candidates: 3,
            ..AuditSettings::default()
        };
        let n = set.nearest(&generated, &settings, &mut rng).unwrap();
        assert_eq!(n.index, Some(2));
        assert!((n.distance - r).abs() < 1e-4 * r, "{}", n.distance);
        assert!(n.aligned <= 3);
    }

    #[test]
    fn heavy_noise_still_finds_its_source_checkpoint() {
        // Noise as large as the spread of the zoo loosens the pre-screen's bound: many
        // checkpoints have a smaller bound than the source. The uncapped search still returns
        // a distance no larger than the noise (the source itself, aligned), where a cap of a
        // few candidates may not.
        let g = groups("tetris_mlp");
        let p = g.param_count();
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let t = 300;
        let train = gaussian(t, p, 0.1, &mut rng);
        let acc = vec![0.5; t];
        let set = TrainingSet::new(&g, &train, &acc).unwrap();
        let r = 1.2; // checkpoints are ~0.1·√(2P) ≈ 1.4 apart
        let settings = AuditSettings::default();
        for source in [3, 150, 299] {
            let noisy = noise_baseline(row(&train, source, p), p, 1, r, &mut rng);
            let generated = g.apply(&noisy, &g.random(&mut rng));
            let n = set.nearest(&generated, &settings, &mut rng).unwrap();
            assert!(
                n.distance <= r + 1e-4,
                "source {source}: {} > {r}",
                n.distance
            );
        }
    }

    #[test]
    fn the_audit_tells_copies_from_noise_and_interpolation() {
        let g = groups("cnn_s");
        let p = g.param_count();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let t = 10;
        let train = gaussian(t, p, 0.1, &mut rng);
        let acc: Vec<f64> = (0..t).map(|i| i as f64 / 10.0).collect();
        // Generated: permuted copies of checkpoints 1 and 3, and permuted copies of 5 and 7
        // plus noise of norm r: two copies, two near misses.
        let r = 0.5;
        let mut generated = Vec::new();
        for i in [1, 3] {
            generated.extend(g.apply(row(&train, i, p), &g.random(&mut rng)));
        }
        for i in [5, 7] {
            let noisy = noise_baseline(row(&train, i, p), p, 1, r, &mut rng);
            generated.extend(g.apply(&noisy, &g.random(&mut rng)));
        }
        // A diverged network is not audited.
        generated.extend(vec![f32::NAN; p]);
        let anchors: Vec<f32> = train[..6 * p].to_vec();
        let settings = AuditSettings {
            seed: 9,
            ..AuditSettings::default()
        };
        let m = audit(&g, &train, &acc, &generated, &anchors, &settings).unwrap();
        assert_eq!((m.checkpoints, m.candidates), (t, 0));
        let gen_ = &m.generated;
        assert_eq!((gen_.networks, gen_.neighbours), (4, 4));
        assert_eq!(gen_.copies, 0.5);
        let d = gen_.distance.unwrap();
        assert!(d.min <= 1e-5 && (d.max - r).abs() < 1e-4, "{d:?}");
        // The noise norm is the median generated distance: (0 + r) / 2.
        assert!((m.noise_norm - r / 2.0).abs() < 1e-4, "{}", m.noise_norm);
        assert_eq!(
            gen_.neighbour_acc.unwrap().mean,
            (0.1 + 0.3 + 0.5 + 0.7) / 4.0
        );
        // The noise baseline: 5 networks (as many as generated) at the noise norm from their
        // source, which is their nearest (the checkpoints are far apart), none a copy.
        let noise = &m.noise;
        assert_eq!(noise.networks, 5);
        assert_eq!(noise.copies, 0.0);
        let nd = noise.distance.unwrap();
        assert!(
            (nd.min - m.noise_norm).abs() < 1e-3 * m.noise_norm
                && (nd.max - m.noise_norm).abs() < 1e-3 * m.noise_norm,
            "{nd:?}"
        );
        // Anchors are checkpoints 0..6: the neighbours' accuracies are theirs.
        assert!(noise.neighbour_acc.unwrap().max <= 0.5 + 1e-12);
        // Averages of two aligned random checkpoints are about half their aligned distance
        // from either: far from every checkpoint, no copies.
        let interp = &m.interpolation;
        assert_eq!((interp.networks, interp.copies), (5, 0.0));
        assert!(interp.distance.unwrap().min > 10.0 * m.noise_norm);
        // Deterministic: the same seed gives the same audit.
        let again = audit(&g, &train, &acc, &generated, &anchors, &settings).unwrap();
        assert_eq!(format!("{again:?}"), format!("{m:?}"));
    }

    #[test]
    fn interpolation_of_a_permuted_pair_is_the_checkpoint() {
        // Two anchors that are permutations of one network: aligned, their average is it.
        let g = groups("tetris_mlp");
        let p = g.param_count();
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let a = gaussian(1, p, 0.3, &mut rng);
        let mut anchors = a.clone();
        anchors.extend(g.apply(&a, &g.random(&mut rng)));
        let mixed =
            interpolation_baseline(&g, &anchors, 3, &WeightMatching::default(), &mut rng).unwrap();
        assert_eq!(mixed.len(), 3 * p);
        for k in 0..3 {
            let m = row(&mixed, k, p);
            let d = [row(&anchors, 0, p), row(&anchors, 1, p)]
                .iter()
                .map(|x| sq_dist(m, x).sqrt())
                .fold(f64::INFINITY, f64::min);
            assert!(d < 1e-6, "{d}");
        }
    }

    #[test]
    fn bad_shapes_are_refused_with_context() {
        let g = groups("tetris_mlp");
        let e = TrainingSet::new(&g, &[0.0; 150], &[0.5])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("150 weights") && e.contains("multiple of 100"),
            "{e}"
        );
        let e = TrainingSet::new(&g, &[0.0; 200], &[0.5])
            .unwrap_err()
            .to_string();
        assert!(e.contains("1 accuracies") && e.contains("(2)"), "{e}");
        let set = TrainingSet::new(&g, &[0.0; 200], &[0.5, 0.6]).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let e = set
            .nearest(&[0.0; 200], &AuditSettings::default(), &mut rng)
            .unwrap_err()
            .to_string();
        assert!(e.contains("one network"), "{e}");
        let none = set
            .nearest(&[f32::INFINITY; 100], &AuditSettings::default(), &mut rng)
            .unwrap();
        assert_eq!(none.index, None);
        // Zero networks: distance 0 to a zero checkpoint is relative 0.
        let zero = set
            .nearest(&[0.0; 100], &AuditSettings::default(), &mut rng)
            .unwrap();
        assert_eq!(
            (zero.index, zero.distance, zero.relative),
            (Some(0), 0.0, 0.0)
        );
    }
}
