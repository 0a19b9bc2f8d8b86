//! Permutation symmetry of a network's flat weight vector, derived from its [`ArchSpec`].
//!
//! # The rule
//!
//! Take two consecutive parametric layers `L` (producer) and `M` (consumer) of the layout. The
//! `L.out` output units of `L` (conv output channels / linear output neurons) form one
//! **permutation group**: reordering them, together with the matching input axis of `M`, leaves
//! the network's function unchanged. The last parametric layer's outputs are the class logits
//! and belong to no group, so a network with `K` parametric layers has `K - 1` groups.
//!
//! Permuting unit `u` of a group moves, consistently:
//!
//! - row `u` of `L`'s weight (`[out, in, k, k]` or `[out, in]`: everything behind index `u` of
//!   the first axis) and entry `u` of `L`'s bias;
//! - the slice of every row of `M`'s weight that reads unit `u`. Which slice depends on the
//!   non-parametric layers between `L` and `M`, walked in order:
//!   - `activation`, `max_pool`, `dropout` act on each channel separately (element-wise or per
//!     channel window), so they commute with any channel permutation and change nothing;
//!   - `flatten` of a `[C, H, W]` activation is channel-major (PyTorch), so channel `c` becomes
//!     the contiguous input columns `[c*H*W, (c+1)*H*W)` of the next linear layer (a *block* of
//!     `H*W` columns; `H, W` are the spatial size just before the flatten, after any pooling);
//!     a flatten of an already flat activation changes nothing;
//!   - `global_avg_pool` maps channel `c` to the single column `c` (block 1).
//!
//!   For a conv consumer, unit `u` owns input channel `u` of every output row: `k*k`
//!   contiguous entries `[u*k*k, (u+1)*k*k)` of the row. For a linear consumer it owns the
//!   `block` columns `[u*block, (u+1)*block)`. Either way every row of `M` splits into `L.out`
//!   equal contiguous chunks, one per unit ("chunk" below).
//!
//! A parametric layer between two groups is the consumer of one and the producer of the next:
//! its rows follow the second group and its input chunks the first; the two axes are independent.
//!
//! # Conventions
//!
//! A permutation `perm` of a group of size `n` is a `Vec<usize>` holding each of `0..n` once,
//! read as a **gather**: unit `i` of the permuted network is unit `perm[i]` of the original
//! (`w_new[i] = w_old[perm[i]]`, as PyTorch's `index_select` / `w[perm]` and the references'
//! `permute_checkpoint` / `apply_permutation` read it). A list of permutations, one per group in
//! group order, is what [`PermutationGroups::apply`] takes; [`PermutationGroups::inverse`] undoes
//! it. The flat vector is the layout's PyTorch state-dict order (see [`crate::arch`]).
//!
//! The whole transform is one gather over the flat vector ([`PermutationGroups::gather_index`]),
//! so a precomputed index serves a whole batch, as [R21]'s precomputed permutation index does.
use crate::arch::{ArchSpec, Layer, Layout, ParamKind};
use crate::{Error, Result};
use rand::Rng;
use rand::seq::SliceRandom;

/// Where the permutations of a finite pool are drawn (reference.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolScope {
    /// One pool of `P` permutations shared by every model of the zoo ([R21]: precomputed once,
    /// 120 for Tetris, 25,000 for its MNIST zoos).
    Zoo,
    /// `P` permutations of its own for every checkpoint ([RS], [R25]: drawn offline per
    /// checkpoint, fixed for the whole training).
    Checkpoint,
}

/// A finite pool of permutations: `size` fixed permutations per zoo or per checkpoint, derived
/// from a seed, from which every view picks one uniformly (with replacement), as the references
/// do, instead of a fresh random permutation per view.
///
/// Permutation `k` of checkpoint `item` is drawn by [`PermutationGroups::random`] from a
/// generator seeded by `(seed, k)` (zoo scope) or `(seed, item, k)` (checkpoint scope), so the
/// pool is never stored, is the same in every epoch and after a resume, and costs one draw per
/// view like fresh permutations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PermutationPool {
    /// Permutations per pool (≥ 1).
    pub size: u64,
    /// One pool for the zoo, or one per checkpoint.
    pub scope: PoolScope,
    /// The seed the pool derives from.
    pub seed: u64,
}

impl PermutationPool {
    /// Permutation `k` (< `size`) of checkpoint `item`'s pool.
    pub fn member(&self, groups: &PermutationGroups, item: u64, k: u64) -> Vec<Vec<usize>> {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed ^ 0x9E37_79B9_7F4A_7C15);
        let stream = match self.scope {
            PoolScope::Zoo => k,
            PoolScope::Checkpoint => item.wrapping_mul(self.size).wrapping_add(k),
        };
        rng.set_stream(stream);
        groups.random(&mut rng)
    }

    /// A uniformly chosen member of checkpoint `item`'s pool (`rng` picks which).
    pub fn draw(
        &self,
        groups: &PermutationGroups,
        item: u64,
        rng: &mut impl Rng,
    ) -> Vec<Vec<usize>> {
        let k = rng.random_range(0..self.size.max(1));
        self.member(groups, item, k)
    }
}

/// One permutation group: the output units of a parametric layer and the inputs of the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermGroup {
    /// Number of units (the size of the permutation).
    pub size: usize,
    /// Index in [`Layout::params`] of the layer whose outputs are permuted.
    pub producer: usize,
    /// Index in [`Layout::params`] of the next parametric layer, whose inputs follow.
    pub consumer: usize,
    /// Input columns of the consumer per unit before any kernel: `H*W` after a flatten of
    /// `[C, H, W]`, else 1.
    pub block: usize,
    /// Contiguous entries per unit in each row of the consumer's weight: `block` for a linear
    /// consumer, `k*k` for a conv consumer.
    pub chunk: usize,
}

/// The permutation groups of an architecture, with the layout they index into.
///
/// ```
/// use hyperzoo_core::arch::ArchSpec;
/// use hyperzoo_core::augment::PermutationGroups;
/// let groups = PermutationGroups::new(&ArchSpec::builtin("cnn_s").unwrap()).unwrap();
/// assert_eq!(groups.sizes(), vec![8, 6, 4, 20]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermutationGroups {
    layout: Layout,
    groups: Vec<PermGroup>,
}

impl PermutationGroups {
    /// Derives the groups of `spec` (see the module docs for the rule). Fails only when the spec
    /// itself is invalid ([`ArchSpec::layout`]'s error).
    pub fn new(spec: &ArchSpec) -> Result<Self> {
        let layout = spec.layout()?;
        spec.sequential_only("the permutation symmetries")?;
        let mut groups = Vec::with_capacity(layout.params.len().saturating_sub(1));
        for (li, pair) in layout.params.windows(2).enumerate() {
            let (l, m) = (&pair[0], &pair[1]);
            let size = l.out;
            // Walk the non-parametric layers between the two, tracking how many input columns
            // of the consumer one channel of the producer becomes.
            let mut block = 1;
            for i in l.layer_index + 1..m.layer_index {
                match &spec.layers[i] {
                    Layer::Activation { .. } | Layer::Dropout { .. } | Layer::MaxPool { .. } => {}
                    Layer::Flatten => {
                        let before = &layout.shapes[i - 1];
                        if before.len() == 3 {
                            block *= before[1] * before[2];
                        }
                    }
                    Layer::GlobalAvgPool => {}
                    other => unreachable!("parametric layer {other:?} between two layout entries"),
                }
            }
            let inconsistent = |why: &str| Error::InvalidValue {
                what: format!("architecture '{}' permutation group {li}", spec.name),
                value: format!(
                    "{} units feeding layer {} ({:?} input {:?})",
                    size, m.layer_index, m.kind, m.in_shape
                ),
                expected: why.into(),
            };
            let chunk = match m.kind {
                ParamKind::Conv { kernel, .. } => {
                    if block != 1 || m.inp != size {
                        return Err(inconsistent(
                            "a conv consumer with one input channel per unit",
                        ));
                    }
                    kernel * kernel
                }
                ParamKind::Linear => {
                    if m.inp != size * block {
                        return Err(inconsistent(
                            "a linear consumer with `block` columns per unit",
                        ));
                    }
                    block
                }
                ParamKind::BatchNorm => unreachable!("refused by sequential_only"),
            };
            debug_assert_eq!(chunk * size, m.row_len());
            groups.push(PermGroup {
                size,
                producer: li,
                consumer: li + 1,
                block,
                chunk,
            });
        }
        Ok(Self { layout, groups })
    }

    /// The flat layout the groups index into.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The groups, in layer order.
    pub fn groups(&self) -> &[PermGroup] {
        &self.groups
    }

    /// Number of groups (parametric layers minus one).
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// True for a network with a single parametric layer (nothing to permute).
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Size of each group, in order.
    pub fn sizes(&self) -> Vec<usize> {
        self.groups.iter().map(|g| g.size).collect()
    }

    /// Parameters per network (the flat vector's length).
    pub fn param_count(&self) -> usize {
        self.layout.total
    }

    /// The identity permutation of every group.
    pub fn identity(&self) -> Vec<Vec<usize>> {
        self.groups.iter().map(|g| (0..g.size).collect()).collect()
    }

    /// One uniformly random permutation per group (Fisher–Yates), as [RS]'s preprocessing draws
    /// them (`randperm` per group).
    pub fn random(&self, rng: &mut impl Rng) -> Vec<Vec<usize>> {
        self.groups
            .iter()
            .map(|g| {
                let mut p: Vec<usize> = (0..g.size).collect();
                p.shuffle(rng);
                p
            })
            .collect()
    }

    /// The permutations that undo `perms`: `apply(apply(w, perms), inverse(perms)) == w`.
    ///
    /// # Panics
    /// If `perms` is not one valid permutation per group.
    pub fn inverse(&self, perms: &[Vec<usize>]) -> Vec<Vec<usize>> {
        self.check(perms);
        perms.iter().map(|p| invert(p)).collect()
    }

    /// The flat indices owned by `unit` of group `group`, in a fixed order shared by all units of
    /// the group: the producer's weight row, the producer's bias entry (if any), then the unit's
    /// chunk of every consumer row (rows in order). Slot `k` of unit `i` and slot `k` of unit `j`
    /// are the "same" weight of two different units, which is what weight matching compares.
    ///
    /// # Panics
    /// If `group` or `unit` is out of range.
    pub fn unit_slots(&self, group: usize, unit: usize) -> Vec<usize> {
        let g = &self.groups[group];
        assert!(unit < g.size, "unit {unit} of a group of {}", g.size);
        let (l, m) = (
            &self.layout.params[g.producer],
            &self.layout.params[g.consumer],
        );
        let row = l.row_len();
        let mut slots = Vec::with_capacity(row + 1 + m.out * g.chunk);
        let start = l.weight_offset + unit * row;
        slots.extend(start..start + row);
        if let Some(b) = l.bias_offset {
            slots.push(b + unit);
        }
        let mrow = m.row_len();
        for o in 0..m.out {
            let start = m.weight_offset + o * mrow + unit * g.chunk;
            slots.extend(start..start + g.chunk);
        }
        slots
    }

    /// The gather index of `perms`: `apply(w, perms)[i] == w[index[i]]` for every `i`.
    /// Precompute it once to permute many networks (or a whole `[N, P]` batch) with one gather.
    ///
    /// # Panics
    /// If `perms` is not one valid permutation per group.
    pub fn gather_index(&self, perms: &[Vec<usize>]) -> Vec<usize> {
        self.check(perms);
        let mut index: Vec<usize> = (0..self.layout.total).collect();
        // The groups touch independent axes (a layer's rows vs. its input chunks), so applying
        // them one after the other composes to the joint permutation.
        for (gi, perm) in perms.iter().enumerate() {
            if perm.iter().enumerate().all(|(i, &p)| i == p) {
                continue;
            }
            let slots: Vec<Vec<usize>> = (0..perm.len()).map(|u| self.unit_slots(gi, u)).collect();
            let before = index.clone();
            for (new, &old) in perm.iter().enumerate() {
                for (&dst, &src) in slots[new].iter().zip(&slots[old]) {
                    index[dst] = before[src];
                }
            }
        }
        index
    }

    /// A permuted copy of one network's flat weights (`weights.len() == P`).
    ///
    /// # Panics
    /// If `weights` has the wrong length or `perms` is not one valid permutation per group.
    pub fn apply(&self, weights: &[f32], perms: &[Vec<usize>]) -> Vec<f32> {
        self.check_len(weights.len(), 1);
        self.gather_index(perms)
            .iter()
            .map(|&i| weights[i])
            .collect()
    }

    /// Permutes one network's flat weights in place.
    ///
    /// # Panics
    /// As [`apply`](Self::apply).
    pub fn apply_in_place(&self, weights: &mut [f32], perms: &[Vec<usize>]) {
        let permuted = self.apply(weights, perms);
        weights.copy_from_slice(&permuted);
    }

    /// Applies the same permutations to every row of a row-major `[N, P]` batch, in place.
    ///
    /// # Panics
    /// If `batch.len()` is not a multiple of `P`, or `perms` is invalid.
    pub fn apply_batch(&self, batch: &mut [f32], perms: &[Vec<usize>]) {
        let p = self.layout.total;
        assert!(
            p > 0 && batch.len().is_multiple_of(p),
            "batch of {} values is not [N, {p}]",
            batch.len()
        );
        let index = self.gather_index(perms);
        let mut row = vec![0f32; p];
        for w in batch.chunks_exact_mut(p) {
            for (dst, &i) in row.iter_mut().zip(&index) {
                *dst = w[i];
            }
            w.copy_from_slice(&row);
        }
    }

    fn check_len(&self, len: usize, n: usize) {
        assert_eq!(
            len,
            n * self.layout.total,
            "flat weights of length {len}, expected {} for {n} network(s)",
            n * self.layout.total
        );
    }

    /// Panics with a clear message unless `perms` holds one valid permutation per group.
    fn check(&self, perms: &[Vec<usize>]) {
        assert_eq!(
            perms.len(),
            self.groups.len(),
            "{} permutations given for {} groups",
            perms.len(),
            self.groups.len()
        );
        for (gi, (p, g)) in perms.iter().zip(&self.groups).enumerate() {
            assert!(
                is_permutation(p, g.size),
                "permutation {gi} {p:?} is not a permutation of 0..{}",
                g.size
            );
        }
    }
}

/// True if `p` holds each of `0..n` exactly once.
pub fn is_permutation(p: &[usize], n: usize) -> bool {
    if p.len() != n {
        return false;
    }
    let mut seen = vec![false; n];
    p.iter()
        .all(|&i| i < n && !std::mem::replace(&mut seen[i], true))
}

/// The inverse of one permutation: `inv[p[i]] = i`.
///
/// # Panics
/// If an entry of `p` is out of range.
pub fn invert(p: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; p.len()];
    for (i, &pi) in p.iter().enumerate() {
        inv[pi] = i;
    }
    inv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::BUILTINS;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn groups(name: &str) -> PermutationGroups {
        PermutationGroups::new(&ArchSpec::builtin(name).unwrap()).unwrap()
    }

    fn ramp(n: usize) -> Vec<f32> {
        (0..n).map(|i| i as f32).collect()
    }

    #[test]
    fn group_sizes_and_blocks_of_the_builtins() {
        let g = groups("cnn_s");
        assert_eq!(g.sizes(), vec![8, 6, 4, 20]);
        // Flatten of [4, 3, 3]: each conv3 channel owns 9 columns of fc1.
        let blocks: Vec<usize> = g.groups().iter().map(|g| g.block).collect();
        assert_eq!(blocks, vec![1, 1, 9, 1]);
        let chunks: Vec<usize> = g.groups().iter().map(|g| g.chunk).collect();
        assert_eq!(chunks, vec![25, 4, 9, 1]);
        assert_eq!(groups("cnn_s_rgb").sizes(), vec![8, 6, 4, 20]);
        let g = groups("cnn3");
        assert_eq!(g.sizes(), vec![16, 32, 15, 20]);
        assert_eq!(g.groups()[2].block, 4); // flatten of [15, 2, 2]
        assert_eq!(groups("tetris_mlp").sizes(), vec![5]);
        assert_eq!(groups("tetris_mlp").groups()[0].chunk, 1);
        let g = groups("unterthiner_cnn");
        assert_eq!(g.sizes(), vec![16, 16, 16]);
        assert_eq!(g.groups()[2].block, 1); // global average pool: channel c -> column c
        let g = groups("lenet5");
        assert_eq!(g.sizes(), vec![6, 16, 120, 84]);
        assert_eq!(g.groups()[1].block, 25); // flatten of [16, 5, 5]
    }

    #[test]
    fn unit_slots_partition_the_touched_weights() {
        for name in BUILTINS {
            let g = groups(name);
            for (gi, grp) in g.groups().iter().enumerate() {
                let mut all: Vec<usize> = (0..grp.size).flat_map(|u| g.unit_slots(gi, u)).collect();
                let n = all.len();
                all.sort_unstable();
                all.dedup();
                assert_eq!(all.len(), n, "{name} group {gi}: overlapping slots");
                let (l, m) = (
                    &g.layout().params[grp.producer],
                    &g.layout().params[grp.consumer],
                );
                assert_eq!(n, l.len() + m.weight_len(), "{name} group {gi}");
            }
        }
    }

    #[test]
    fn cnn_s_permutation_moves_rows_bias_and_flatten_blocks() {
        let g = groups("cnn_s");
        let l = g.layout().clone();
        let w = ramp(l.total);
        let mut perms = g.identity();
        perms[2] = vec![3, 0, 1, 2]; // conv3's 4 channels
        let out = g.apply(&w, &perms);
        let (c3, fc1) = (&l.params[2], &l.params[3]);
        // Row 0 of conv3 is the old row 3 ([4, 6, 2, 2]: 24 per row), bias likewise.
        assert_eq!(out[c3.weight_offset], w[c3.weight_offset + 3 * 24]);
        let b = c3.bias_offset.unwrap();
        assert_eq!(out[b..b + 4], [w[b + 3], w[b], w[b + 1], w[b + 2]]);
        // fc1 row 7, columns 0..9 (channel 0's block) are the old columns 27..36 (channel 3).
        let r = fc1.weight_offset + 7 * 36;
        assert_eq!(out[r..r + 9], w[r + 27..r + 36]);
        assert_eq!(out[r + 9..r + 18], w[r..r + 9]);
        // fc1's bias and fc2 are untouched by this group.
        let fb = fc1.bias_offset.unwrap();
        assert_eq!(out[fb..], w[fb..]);
    }

    #[test]
    fn apply_then_inverse_is_identity_for_every_builtin() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for name in BUILTINS {
            let g = groups(name);
            let w = ramp(g.param_count());
            for _ in 0..3 {
                let perms = g.random(&mut rng);
                let p = g.apply(&w, &perms);
                if perms != g.identity() {
                    assert_ne!(p, w, "{name}: a permutation changed nothing");
                }
                let mut sorted = p.clone();
                sorted.sort_by(f32::total_cmp);
                assert_eq!(sorted, w, "{name}: apply is not a rearrangement");
                assert_eq!(g.apply(&p, &g.inverse(&perms)), w, "{name}");
            }
            assert_eq!(g.apply(&w, &g.identity()), w, "{name}");
        }
    }

    #[test]
    fn batch_and_in_place_agree_with_apply() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let g = groups("cnn3");
        let p = g.param_count();
        let batch: Vec<f32> = (0..3 * p).map(|i| (i as f32 * 0.37).sin()).collect();
        let perms = g.random(&mut rng);
        let mut b = batch.clone();
        g.apply_batch(&mut b, &perms);
        for n in 0..3 {
            let mut row = batch[n * p..(n + 1) * p].to_vec();
            assert_eq!(b[n * p..(n + 1) * p], g.apply(&row, &perms));
            g.apply_in_place(&mut row, &perms);
            assert_eq!(b[n * p..(n + 1) * p], row);
        }
    }

    #[test]
    #[should_panic(expected = "is not a permutation")]
    fn invalid_permutations_are_refused() {
        let g = groups("tetris_mlp");
        g.apply(&ramp(100), &[vec![0, 0, 1, 2, 3]]);
    }

    #[test]
    fn permutation_helpers() {
        assert!(is_permutation(&[2, 0, 1], 3));
        assert!(!is_permutation(&[2, 0, 2], 3));
        assert!(!is_permutation(&[0, 1], 3));
        assert_eq!(invert(&[2, 0, 1]), vec![1, 2, 0]);
    }
}
