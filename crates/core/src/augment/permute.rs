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
//! Batch norm acts on each channel with its own weight, bias and running statistics: it joins
//! the group of the channels it normalises, its four entries of channel `u` moving with unit
//! `u`. A residual block adds its body's output to its shortcut's, channel by channel, so the
//! two must be permuted alike: their groups are one (for an identity shortcut, the block's
//! output group is its input group). A ResNet's residual stream is therefore one group through
//! a whole stage: the stem's (or the projection's) convolution and batch norm, every block's
//! second convolution and batch norm as producers, every block's first convolution (and the next
//! stage's projection, and the classifier) as consumers. Channels added to the network's input
//! are not permutable.
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
/// In a residual network a group spans every layer that writes or reads one residual stream:
/// several producers (the convolutions whose outputs are added, and the batch norms after
/// them) and several consumers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermGroup {
    /// Number of units (the size of the permutation).
    pub size: usize,
    /// Index in [`Layout::params`] of the (first) layer whose outputs are permuted.
    pub producer: usize,
    /// Index in [`Layout::params`] of the (first) parametric layer whose inputs follow.
    pub consumer: usize,
    /// Input columns of that consumer per unit before any kernel: `H*W` after a flatten of
    /// `[C, H, W]`, else 1.
    pub block: usize,
    /// Contiguous entries per unit in each row of that consumer's weight: `block` for a linear
    /// consumer, `k*k` for a conv consumer.
    pub chunk: usize,
    /// Every layer whose rows are the units, in layout order: convolutions and linear layers
    /// (a weight row and a bias entry per unit) and batch norms (weight, bias, running mean
    /// and variance entries per unit). For a sequential network: `[producer]`.
    pub producers: Vec<usize>,
    /// Every layer whose inputs follow, in layout order, as `(layer, block, chunk)`. For a
    /// sequential network: `[(consumer, block, chunk)]`.
    pub consumers: Vec<(usize, usize, usize)>,
}

/// A group while the walk over the layers builds it.
struct Building {
    size: usize,
    producers: Vec<usize>,
    consumers: Vec<(usize, usize, usize)>,
    /// Merged into another group (the sum of a residual block).
    merged: Option<usize>,
    /// The network's input channels, which no permutation may move.
    fixed: bool,
}

/// The walk over (possibly nested) layers: the groups built so far and the parameters still
/// to visit.
struct GroupWalk<'a> {
    spec: &'a ArchSpec,
    layout: &'a Layout,
    next: usize,
    groups: Vec<Building>,
}

impl GroupWalk<'_> {
    fn find(&self, mut g: usize) -> usize {
        while let Some(m) = self.groups[g].merged {
            g = m;
        }
        g
    }

    /// One group from two whose units are added (a residual block's sum); the earlier keeps
    /// its place, a fixed one stays fixed.
    fn union(&mut self, a: usize, b: usize) -> usize {
        let (a, b) = (self.find(a), self.find(b));
        if a == b {
            return a;
        }
        let (keep, gone) = (a.min(b), a.max(b));
        let moved = std::mem::take(&mut self.groups[gone].producers);
        let consumers = std::mem::take(&mut self.groups[gone].consumers);
        let fixed = self.groups[gone].fixed;
        self.groups[gone].merged = Some(keep);
        let k = &mut self.groups[keep];
        k.producers.extend(moved);
        k.consumers.extend(consumers);
        k.fixed |= fixed;
        keep
    }

    /// Walks `layers` from the activation whose channels are group `cur`; returns the group of
    /// the output's channels.
    fn layers(&mut self, layers: &[Layer], mut cur: usize) -> Result<usize> {
        for layer in layers {
            cur = match layer {
                Layer::Conv2d { .. } | Layer::Linear { .. } => {
                    let li = self.next;
                    self.next += 1;
                    let m = &self.layout.params[li];
                    let g = self.find(cur);
                    let size = self.groups[g].size;
                    let inconsistent = |why: &str| Error::InvalidValue {
                        what: format!("architecture '{}' permutation group", self.spec.name),
                        value: format!(
                            "{size} units feeding layer {} ({:?} input {:?})",
                            m.layer_index, m.kind, m.in_shape
                        ),
                        expected: why.into(),
                    };
                    let (block, chunk) = match m.kind {
                        ParamKind::Conv { kernel, .. } => {
                            if m.inp != size {
                                return Err(inconsistent(
                                    "a conv consumer with one input channel per unit",
                                ));
                            }
                            (1, kernel * kernel)
                        }
                        _ => {
                            // A flatten of [C, H, W] (channel-major) gives each unit H*W
                            // columns; global pooling or a flat input one.
                            if !m.inp.is_multiple_of(size) {
                                return Err(inconsistent(
                                    "a linear consumer with `block` columns per unit",
                                ));
                            }
                            (m.inp / size, m.inp / size)
                        }
                    };
                    debug_assert_eq!(chunk * size, m.row_len());
                    self.groups[g].consumers.push((li, block, chunk));
                    self.groups.push(Building {
                        size: m.out,
                        producers: vec![li],
                        consumers: Vec::new(),
                        merged: None,
                        fixed: false,
                    });
                    self.groups.len() - 1
                }
                Layer::BatchNorm { .. } => {
                    let g = self.find(cur);
                    let l = &self.layout.params[self.next];
                    let size = self.groups[g].size;
                    if l.out != size && !self.groups[g].fixed {
                        return Err(Error::InvalidValue {
                            what: format!("architecture '{}' permutation group", self.spec.name),
                            value: format!(
                                "a batch norm of {} features after {size} permutable channels \
                                 (layer {})",
                                l.out, l.layer_index
                            ),
                            expected: "batch norm on the channels themselves (before any \
                                       flatten), or no permutation augmentation"
                                .into(),
                        });
                    }
                    self.groups[g].producers.push(self.next);
                    self.next += 1;
                    g
                }
                Layer::Residual { body, shortcut } => {
                    let out = self.layers(body, cur)?;
                    let side = self.layers(shortcut, cur)?;
                    self.union(out, side)
                }
                Layer::Activation { .. }
                | Layer::Dropout { .. }
                | Layer::MaxPool { .. }
                | Layer::Flatten
                | Layer::GlobalAvgPool => cur,
            };
        }
        Ok(cur)
    }
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
        let mut walk = GroupWalk {
            spec,
            layout: &layout,
            next: 0,
            groups: vec![Building {
                size: spec.input[0],
                producers: Vec::new(),
                consumers: Vec::new(),
                merged: None,
                fixed: true,
            }],
        };
        walk.layers(&spec.layers, 0)?;
        // Every group that is not the input's, has consumers (the logits have none) and was
        // not merged into another, in the order of its first producer.
        let groups = walk
            .groups
            .into_iter()
            .filter(|g| g.merged.is_none() && !g.fixed && !g.consumers.is_empty())
            .map(|g| {
                let (consumer, block, chunk) = g.consumers[0];
                PermGroup {
                    size: g.size,
                    producer: g.producers[0],
                    consumer,
                    block,
                    chunk,
                    producers: g.producers,
                    consumers: g.consumers,
                }
            })
            .collect();
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
    /// the group: per producer its weight row and bias entry (a batch norm's four entries), then
    /// the unit's chunk of every consumer row (consumers and rows in order). Slot `k` of unit `i` and slot `k` of unit `j`
    /// are the "same" weight of two different units, which is what weight matching compares.
    ///
    /// # Panics
    /// If `group` or `unit` is out of range.
    pub fn unit_slots(&self, group: usize, unit: usize) -> Vec<usize> {
        let g = &self.groups[group];
        assert!(unit < g.size, "unit {unit} of a group of {}", g.size);
        let mut slots = Vec::new();
        for &li in &g.producers {
            let l = &self.layout.params[li];
            if l.kind == ParamKind::BatchNorm {
                // Weight, bias, running mean, running variance: one entry each per channel.
                let buffers = l.buffers_offset.expect("a batch norm's running statistics");
                let bias = l.bias_offset.expect("a batch norm's bias");
                slots.extend([l.weight_offset, bias, buffers, buffers + l.out].map(|o| o + unit));
                continue;
            }
            let row = l.row_len();
            let start = l.weight_offset + unit * row;
            slots.extend(start..start + row);
            if let Some(b) = l.bias_offset {
                slots.push(b + unit);
            }
        }
        for &(li, _, chunk) in &g.consumers {
            let m = &self.layout.params[li];
            let mrow = m.row_len();
            for o in 0..m.out {
                let start = m.weight_offset + o * mrow + unit * chunk;
                slots.extend(start..start + chunk);
            }
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

    /// [`gather_index`](Self::gather_index) at `params` only: the entry of the original
    /// network that each of those entries of the permuted one comes from, without building the
    /// index of the whole vector (a window of a ResNet-18's 11 M parameters costs its own size).
    ///
    /// # Panics
    /// If `perms` is not one valid permutation per group or a parameter is out of range.
    pub fn sources(&self, perms: &[Vec<usize>], params: &[usize]) -> Vec<usize> {
        self.check(perms);
        let layers = &self.layout.params;
        // Per layer: the permutation of its rows (units it produces) and of its input chunks.
        let mut rows: Vec<Option<&[usize]>> = vec![None; layers.len()];
        let mut cols: Vec<Option<(&[usize], usize)>> = vec![None; layers.len()];
        for (g, perm) in self.groups.iter().zip(perms) {
            for &li in &g.producers {
                rows[li] = Some(perm);
            }
            for &(li, _, chunk) in &g.consumers {
                cols[li] = Some((perm, chunk));
            }
        }
        let starts: Vec<usize> = layers.iter().map(|l| l.weight_offset).collect();
        params
            .iter()
            .map(|&p| {
                assert!(
                    p < self.layout.total,
                    "parameter {p} of {}",
                    self.layout.total
                );
                let li = starts.partition_point(|&s| s <= p) - 1;
                let l = &layers[li];
                let row = |u: usize| rows[li].map_or(u, |perm| perm[u]);
                if let Some(b) = l.buffers_offset.filter(|&b| p >= b) {
                    let (which, unit) = ((p - b) / l.out, (p - b) % l.out);
                    return b + which * l.out + row(unit);
                }
                if let Some(b) = l.bias_offset.filter(|&b| p >= b) {
                    return b + row(p - b);
                }
                let len = l.row_len();
                let (o, c) = ((p - l.weight_offset) / len, (p - l.weight_offset) % len);
                let c = cols[li].map_or(c, |(perm, chunk)| perm[c / chunk] * chunk + c % chunk);
                l.weight_offset + row(o) * len + c
            })
            .collect()
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
    fn sources_at_some_parameters_are_the_gather_index_there() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for name in ["cnn_s", "cnn3", "resnet8"] {
            let g = groups(name);
            let perms = g.random(&mut rng);
            let index = g.gather_index(&perms);
            let all: Vec<usize> = (0..g.param_count()).collect();
            assert_eq!(g.sources(&perms, &all), index, "{name}");
            let some: Vec<usize> = (0..g.param_count()).rev().step_by(7).collect();
            let want: Vec<usize> = some.iter().map(|&p| index[p]).collect();
            assert_eq!(g.sources(&perms, &some), want, "{name}");
        }
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
    fn a_batch_norm_after_a_flatten_is_refused_not_permuted_wrongly() {
        let text = r#"
name = "bn-flat"
input = [1, 4, 4]
[[layers]]
type = "conv2d"
out = 2
kernel = 3
padding = 1
[[layers]]
type = "flatten"
[[layers]]
type = "batch_norm"
[[layers]]
type = "linear"
out = 3
"#;
        let path = std::path::Path::new("bn.toml");
        let spec = crate::arch::ArchSpec::from_toml(path, text).unwrap();
        let err = PermutationGroups::new(&spec).unwrap_err().to_string();
        assert!(err.contains("batch norm of 32 features after 2"), "{err}");
        // On the channels themselves it joins their group.
        let ok = text.replace(
            "type = \"flatten\"\n[[layers]]\ntype = \"batch_norm\"",
            "type = \"batch_norm\"\n[[layers]]\ntype = \"flatten\"",
        );
        let spec = crate::arch::ArchSpec::from_toml(path, &ok).unwrap();
        let g = PermutationGroups::new(&spec).unwrap();
        assert_eq!(g.groups()[0].producers, vec![0, 1]);
    }

    #[test]
    fn permutation_helpers() {
        assert!(is_permutation(&[2, 0, 1], 3));
        assert!(!is_permutation(&[2, 0, 2], 3));
        assert!(!is_permutation(&[0, 1], 3));
        assert_eq!(invert(&[2, 0, 1]), vec![1, 2, 0]);
    }
}
