//! A Tetris dataset for the 100-parameter `tetris_mlp` (16 -> 5 -> 4).
//!
//! The 2021 hyper-representation paper trained its Tetris zoos on 4x4 images of tetromino-like
//! shapes in 4 classes, but never published how the images were made. This is our documented
//! generator:
//!
//! - classes: 0 = I, 1 = O, 2 = T, 3 = L (the L class includes its mirror image J);
//! - a shape is drawn uniformly among all rotations (and, for L, reflections) of its tetromino
//!   and all translations that fit in the 4x4 grid (I: 8 placements, O: 9, T: 24, L: 48);
//! - each pixel is 255 on the shape and 0 elsewhere, then flipped with probability `flip`
//!   (default 0.05), so classes overlap a little and accuracy is not trivially 100 %;
//! - class labels are balanced by drawing the class first (uniformly), then the placement.
//!
//! Everything is drawn from ChaCha8 seeded with `seed` (train uses the seed, test `seed + 1`).
use super::{IdxArray, ImageSplit};
use rand::{Rng, SeedableRng};

/// The generator's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TetrisSpec {
    /// Training images.
    pub train: usize,
    /// Test images.
    pub test: usize,
    /// Probability of flipping each pixel.
    pub flip: f64,
    /// Seed.
    pub seed: u64,
}

impl Default for TetrisSpec {
    fn default() -> Self {
        Self {
            train: 3000,
            test: 1000,
            flip: 0.05,
            seed: 2021,
        }
    }
}

/// Cells of the base tetrominoes as (row, col).
const BASE: [[(i32, i32); 4]; 4] = [
    [(0, 0), (0, 1), (0, 2), (0, 3)], // I
    [(0, 0), (0, 1), (1, 0), (1, 1)], // O
    [(0, 0), (0, 1), (0, 2), (1, 1)], // T
    [(0, 0), (1, 0), (2, 0), (2, 1)], // L
];

/// All distinct 16-bit masks of a class's placements in a 4x4 grid.
pub fn placements(class: usize) -> Vec<u16> {
    let mut shapes: Vec<Vec<(i32, i32)>> = Vec::new();
    let mut cells = BASE[class].to_vec();
    let reflections = if class == 3 { 2 } else { 1 };
    for refl in 0..reflections {
        if refl == 1 {
            cells = BASE[class].iter().map(|&(r, c)| (r, -c)).collect();
        }
        let mut rot = cells.clone();
        for _ in 0..4 {
            rot = rot.iter().map(|&(r, c)| (c, -r)).collect();
            shapes.push(rot.clone());
        }
    }
    let mut masks: Vec<u16> = Vec::new();
    for s in shapes {
        let (min_r, min_c) = (
            s.iter().map(|p| p.0).min().unwrap(),
            s.iter().map(|p| p.1).min().unwrap(),
        );
        let norm: Vec<(i32, i32)> = s.iter().map(|&(r, c)| (r - min_r, c - min_c)).collect();
        let (h, w) = (
            norm.iter().map(|p| p.0).max().unwrap() + 1,
            norm.iter().map(|p| p.1).max().unwrap() + 1,
        );
        for dr in 0..=(4 - h) {
            for dc in 0..=(4 - w) {
                let m = norm
                    .iter()
                    .fold(0u16, |m, &(r, c)| m | 1 << ((r + dr) * 4 + c + dc));
                if !masks.contains(&m) {
                    masks.push(m);
                }
            }
        }
    }
    masks.sort_unstable();
    masks
}

fn draw(n: usize, flip: f64, seed: u64) -> ImageSplit {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let all: Vec<Vec<u16>> = (0..4).map(placements).collect();
    let mut data = Vec::with_capacity(n * 16);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let class = rng.random_range(0..4usize);
        let mask = all[class][rng.random_range(0..all[class].len())];
        for bit in 0..16 {
            let on = (mask >> bit) & 1 == 1;
            let on = if rng.random::<f64>() < flip { !on } else { on };
            data.push(if on { 255 } else { 0 });
        }
        labels.push(class as u8);
    }
    ImageSplit {
        images: IdxArray {
            dims: vec![n, 4, 4],
            data,
        },
        labels,
    }
}

/// Generates (train, test).
pub fn generate(spec: &TetrisSpec) -> (ImageSplit, ImageSplit) {
    (
        draw(spec.train, spec.flip, spec.seed),
        draw(spec.test, spec.flip, spec.seed.wrapping_add(1)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_counts() {
        let counts: Vec<usize> = (0..4).map(|c| placements(c).len()).collect();
        assert_eq!(counts, vec![8, 9, 24, 48]);
        for c in 0..4 {
            assert!(placements(c).iter().all(|m| m.count_ones() == 4));
        }
        // No placement belongs to two classes.
        let all: Vec<u16> = (0..4).flat_map(placements).collect();
        let mut dedup = all.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(dedup.len(), all.len());
    }

    #[test]
    fn deterministic_balanced_and_noisy() {
        let spec = TetrisSpec::default();
        let (train, test) = generate(&spec);
        assert_eq!(train.images.dims, vec![3000, 4, 4]);
        assert_eq!(test.len(), 1000);
        assert_eq!(generate(&spec).0.images, train.images);
        let counts = train.label_counts(4);
        assert!(
            counts.iter().all(|&c| (650..850).contains(&c)),
            "{counts:?}"
        );
        let on = train.images.data.iter().filter(|&&p| p == 255).count() as f64 / (3000.0 * 16.0);
        // 4/16 on, flipped with p = 0.05: 0.25 * 0.95 + 0.75 * 0.05 = 0.275
        assert!((on - 0.275).abs() < 0.01, "{on}");
        let clean = generate(&TetrisSpec { flip: 0.0, ..spec }).0;
        assert!(
            clean
                .images
                .data
                .chunks(16)
                .all(|img| img.iter().filter(|&&p| p == 255).count() == 4)
        );
    }
}
