//! The tables of an experiment file, one typed struct per table, with their defaults and their
//! checks. Serde does the typing (unknown keys, wrong types, unknown names are refused by the
//! deserializer, with their position); [`Check`]s are what remains: ranges and relations
//! between keys. Defaults follow the references named on each key (tags as in reference.md:
//! [R21] NeurIPS 2021 hyper-representations, [R22] NeurIPS 2022 generative hyper-representations,
//! [RS] SANE, [R25] the 2025 behavioural-loss paper).
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::{Path, PathBuf};

/// A value that failed a check after deserialization: which key, its value, what is accepted,
/// and other keys whose line may be shown when `key` itself is not written in the file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Check {
    /// Dotted key, `loss.gamma`.
    pub key: String,
    /// The value in force, formatted.
    pub value: String,
    /// What is accepted.
    pub expected: String,
    /// Keys to locate the error at when `key` is not written (relations between keys).
    pub near: Vec<String>,
}

/// `Err(Check)` unless `ok`.
pub(crate) fn ensure(
    ok: bool,
    key: &str,
    value: impl std::fmt::Display,
    expected: &str,
) -> Result<(), Check> {
    if ok {
        Ok(())
    } else {
        Err(Check {
            key: key.into(),
            value: value.to_string(),
            expected: expected.into(),
            near: Vec::new(),
        })
    }
}

fn at_least_one(key: &str, v: usize) -> Result<(), Check> {
    ensure(v >= 1, key, v, "an integer >= 1")
}

fn unit_closed(key: &str, v: f64) -> Result<(), Check> {
    ensure((0.0..=1.0).contains(&v), key, v, "a number in [0, 1]")
}

fn dropout(key: &str, v: f64) -> Result<(), Check> {
    ensure((0.0..1.0).contains(&v), key, v, "a probability in [0, 1)")
}

fn positive(key: &str, v: f64) -> Result<(), Check> {
    ensure(v > 0.0 && v.is_finite(), key, v, "a finite number > 0")
}

fn non_negative(key: &str, v: f64) -> Result<(), Check> {
    ensure(v >= 0.0 && v.is_finite(), key, v, "a finite number >= 0")
}

fn heads_divide(section: &str, d_model: usize, heads: usize) -> Result<(), Check> {
    at_least_one(&format!("{section}.d_model"), d_model)?;
    at_least_one(&format!("{section}.heads"), heads)?;
    ensure(
        d_model.is_multiple_of(heads),
        &format!("{section}.heads"),
        heads,
        &format!("a divisor of {section}.d_model ({d_model})"),
    )
    .map_err(|mut c| {
        c.near.push(format!("{section}.d_model"));
        c
    })
}

// ------------------------------------------------------------------------------------------
// [zoo]

/// `[zoo]`: which zoo, and which of its checkpoints.
///
/// Exactly one of `path` and `definition` is given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZooSection {
    /// A zoo directory, as written. A relative path is looked up first relative to the
    /// experiment file's directory, else under `<workspace>/zoos/` (see [`ZooSection::resolve`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A zoo definition file (relative to the experiment file's directory), generated into
    /// `<workspace>/zoos/<its name>` on first use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<String>,
    /// Checkpoint epochs used as training samples (default: the last checkpoint only).
    pub epochs: EpochSelection,
    /// Checkpoints with any `|w|` above this are dropped ([RS]/[R25] `weight_threshold`;
    /// default `inf`, no filter). Diverged (non-finite) and missing checkpoints are always dropped.
    pub max_abs_weight: f64,
    /// Use at most this many models of the zoo (for quick runs; default: all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_models: Option<usize>,
}

impl Default for ZooSection {
    fn default() -> Self {
        Self {
            path: None,
            definition: None,
            epochs: EpochSelection::Last,
            max_abs_weight: f64::INFINITY,
            max_models: None,
        }
    }
}

impl ZooSection {
    /// True when the zoo comes from a definition file (`definition`) rather than a directory.
    pub fn is_definition(&self) -> bool {
        self.path.is_none() && self.definition.is_some()
    }

    /// Where the zoo is, for an experiment file in `experiment_dir` and a workspace at
    /// `workspace_dir`:
    ///
    /// - `path`: an absolute path as is; a relative one under `experiment_dir` when that exists,
    ///   else `<workspace_dir>/zoos/<path>` (the zoo may not exist yet);
    /// - `definition`: the definition file, `experiment_dir/<definition>` (the zoo it generates
    ///   lives in `<workspace_dir>/zoos/<the definition's name>`).
    pub fn resolve(&self, experiment_dir: &Path, workspace_dir: &Path) -> PathBuf {
        match (&self.path, &self.definition) {
            (Some(p), _) => {
                let p = Path::new(p);
                if p.is_absolute() {
                    return p.to_path_buf();
                }
                let local = experiment_dir.join(p);
                if local.exists() {
                    local
                } else {
                    workspace_dir.join("zoos").join(p)
                }
            }
            (None, Some(d)) => experiment_dir.join(d),
            // A validated experiment has one of the two; an empty path is the zoos directory.
            (None, None) => workspace_dir.join("zoos"),
        }
    }

    pub(crate) fn check(&self) -> Result<(), Check> {
        match (&self.path, &self.definition) {
            (Some(_), Some(d)) => ensure(
                false,
                "zoo.definition",
                d,
                "only one of zoo.path (a zoo directory) and zoo.definition (a zoo definition file)",
            )?,
            (None, None) => ensure(
                false,
                "zoo.path",
                "(not set)",
                "one of zoo.path (a zoo directory) or zoo.definition (a zoo definition file)",
            )?,
            (Some(p), None) => ensure(!p.is_empty(), "zoo.path", "\"\"", "a zoo directory")?,
            (None, Some(d)) => ensure(
                !d.is_empty(),
                "zoo.definition",
                "\"\"",
                "a zoo definition file",
            )?,
        }
        if let EpochSelection::List(v) = &self.epochs {
            ensure(
                !v.is_empty(),
                "zoo.epochs",
                "[]",
                "\"last\", \"all\" or a non-empty list of epochs",
            )?;
        }
        ensure(
            self.max_abs_weight > 0.0,
            "zoo.max_abs_weight",
            self.max_abs_weight,
            "a number > 0 (inf for no filter)",
        )?;
        if let Some(n) = self.max_models {
            at_least_one("zoo.max_models", n)?;
        }
        Ok(())
    }

    pub(crate) fn normalize(&mut self) {
        if let EpochSelection::List(v) = &mut self.epochs {
            v.sort_unstable();
            v.dedup();
        }
    }
}

/// Which checkpoints of each model are training samples: `"last"`, `"all"`, or a list of epochs
/// (`[21, 22, 23, 24, 25]`, the five consecutive epochs of [R22]/[RS]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum EpochSelection {
    /// The last checkpoint of each model.
    #[default]
    Last,
    /// Every checkpoint.
    All,
    /// These epochs (sorted, without repeats; 0 is the initialisation).
    List(Vec<usize>),
}

impl Serialize for EpochSelection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            EpochSelection::Last => s.serialize_str("last"),
            EpochSelection::All => s.serialize_str("all"),
            EpochSelection::List(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for EpochSelection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = EpochSelection;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("\"last\", \"all\" or a list of epochs")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
                match s {
                    "last" => Ok(EpochSelection::Last),
                    "all" => Ok(EpochSelection::All),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(s), &self)),
                }
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut v = Vec::new();
                while let Some(e) = seq.next_element::<usize>()? {
                    v.push(e);
                }
                Ok(EpochSelection::List(v))
            }
        }
        d.deserialize_any(V)
    }
}

// ------------------------------------------------------------------------------------------
// [model]

/// `[model]`: the autoencoder, chosen by `kind`; each kind accepts only its own keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelSpec {
    /// The 2021 transformer autoencoder ([R21] `def_encoder_attn.py`).
    Transformer(TransformerSpec),
    /// The fully connected baseline autoencoder ([R21] `def_encoder.py`, `encoding = None`).
    Fc(FcSpec),
    /// SANE's GPT-2 style autoencoder on token windows ([RS] `def_AE.py`).
    Sane(SaneSpec),
}

/// The names of [`ModelSpec`]'s kinds, as written in `model.kind`.
pub const MODEL_KINDS: &[&str] = &["transformer", "fc", "sane"];

impl Default for ModelSpec {
    fn default() -> Self {
        ModelSpec::Transformer(TransformerSpec::default())
    }
}

impl ModelSpec {
    /// The kind as written in `model.kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            ModelSpec::Transformer(_) => "transformer",
            ModelSpec::Fc(_) => "fc",
            ModelSpec::Sane(_) => "sane",
        }
    }

    /// The latent size (per model for transformer and fc, per token for sane).
    pub fn latent(&self) -> usize {
        match self {
            ModelSpec::Transformer(t) => t.latent,
            ModelSpec::Fc(f) => f.latent,
            ModelSpec::Sane(s) => s.latent,
        }
    }

    /// The dropout probability.
    pub fn dropout(&self) -> f64 {
        match self {
            ModelSpec::Transformer(t) => t.dropout,
            ModelSpec::Fc(f) => f.dropout,
            ModelSpec::Sane(s) => s.dropout,
        }
    }

    pub(crate) fn check(&self) -> Result<(), Check> {
        match self {
            ModelSpec::Transformer(t) => {
                heads_divide("model", t.d_model, t.heads)?;
                at_least_one("model.layers", t.layers)?;
                at_least_one("model.d_ff", t.d_ff)?;
                at_least_one("model.latent", t.latent)?;
                dropout("model.dropout", t.dropout)
            }
            ModelSpec::Fc(f) => {
                at_least_one("model.latent", f.latent)?;
                dropout("model.dropout", f.dropout)
            }
            ModelSpec::Sane(s) => {
                heads_divide("model", s.d_model, s.heads)?;
                ensure(
                    s.d_model.is_multiple_of(2),
                    "model.d_model",
                    s.d_model,
                    "an even number (the position embedding is two halves of d_model)",
                )?;
                at_least_one("model.layers", s.layers)?;
                at_least_one("model.latent", s.latent)?;
                ensure(
                    s.max_positions.iter().all(|&p| p >= 1),
                    "model.max_positions",
                    format!("{:?}", s.max_positions),
                    "three integers >= 1 (table sizes for the layer, neuron/row and chunk indices)",
                )?;
                dropout("model.dropout", s.dropout)
            }
        }
    }
}

/// How weights become tokens for the transformer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEncoding {
    /// One token per neuron: its incoming weights and bias ([R21] neuron encoding).
    Neuron,
    /// One token per weight ([R21]'s ablation).
    Weight,
}

/// `[model] kind = "transformer"`: the 2021 hyper-representation autoencoder. Defaults are the
/// [R21] Tetris-Seed configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransformerSpec {
    /// Tokenization of the weights (default `neuron`).
    pub encoding: TokenEncoding,
    /// Prepend a learned compression token whose output is the embedding (default true); else
    /// all token outputs are flattened into the bottleneck.
    pub compression_token: bool,
    /// Token width (256).
    pub d_model: usize,
    /// Attention heads (4); must divide `d_model`.
    pub heads: usize,
    /// Encoder blocks, and as many decoder blocks (2).
    pub layers: usize,
    /// Hidden width of the feed-forward blocks (512).
    pub d_ff: usize,
    /// Latent size (50); the bottleneck ends in tanh.
    pub latent: usize,
    /// Dropout in the blocks (0.1), in [0, 1).
    pub dropout: f64,
}

impl Default for TransformerSpec {
    fn default() -> Self {
        Self {
            encoding: TokenEncoding::Neuron,
            compression_token: true,
            d_model: 256,
            heads: 4,
            layers: 2,
            d_ff: 512,
            latent: 50,
            dropout: 0.1,
        }
    }
}

/// `[model] kind = "fc"`: the fully connected baseline. Layer widths are
/// `linspace(P, latent, hidden_layers + 2)` cast to integers (P the number of parameters), each
/// Linear followed by LeakyReLU and dropout except the last, tanh on the latent; the decoder
/// mirrors it ([R21]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FcSpec {
    /// Hidden layers between input and latent (10, i.e. 11 Linear layers per side).
    pub hidden_layers: usize,
    /// Latent size (50).
    pub latent: usize,
    /// Dropout after each hidden layer (0.1), in [0, 1).
    pub dropout: f64,
}

impl Default for FcSpec {
    fn default() -> Self {
        Self {
            hidden_layers: 10,
            latent: 50,
            dropout: 0.1,
        }
    }
}

/// `[model] kind = "sane"`: SANE's autoencoder on windows of SANE tokens. Defaults are the [R25]
/// hyper-representation (d_model 256, 8 heads, 8 layers, latent 64 per token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SaneSpec {
    /// Token size (0 = the widest row of the architecture, the smallest that holds every row).
    pub token_size: usize,
    /// Window length in tokens (0 = the whole sequence, as [R25]; SANE's CNN zoos used 64).
    pub window: usize,
    /// Token width (256); must be even.
    pub d_model: usize,
    /// Attention heads (8); must divide `d_model`.
    pub heads: usize,
    /// Encoder blocks, and as many decoder blocks (8).
    pub layers: usize,
    /// Latent size per token (64).
    pub latent: usize,
    /// Sizes of the three learned position tables ([500, 50, 100]).
    pub max_positions: [usize; 3],
    /// Dropout after the position embedding (0.0), in [0, 1).
    pub dropout: f64,
}

impl Default for SaneSpec {
    fn default() -> Self {
        Self {
            token_size: 0,
            window: 0,
            d_model: 256,
            heads: 8,
            layers: 8,
            latent: 64,
            max_positions: [500, 50, 100],
            dropout: 0.0,
        }
    }
}

/// Private mirror of [`ModelSpec`] in serde's external representation (`{ fc = { ... } }`):
/// the parser rewrites `[model] kind = "fc"` into it so that errors inside keep their position
/// (serde's internally tagged enums buffer the table and lose it).
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum ModelSpecDe {
    Transformer(TransformerSpec),
    Fc(FcSpec),
    Sane(SaneSpec),
}

pub(crate) fn de_model<'de, D: Deserializer<'de>>(d: D) -> Result<ModelSpec, D::Error> {
    Ok(match ModelSpecDe::deserialize(d)? {
        ModelSpecDe::Transformer(t) => ModelSpec::Transformer(t),
        ModelSpecDe::Fc(f) => ModelSpec::Fc(f),
        ModelSpecDe::Sane(s) => ModelSpec::Sane(s),
    })
}

// ------------------------------------------------------------------------------------------
// [head]

/// `[head]`: the projection head applied to the embeddings inside the contrastive loss.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HeadSpec {
    /// [R21]: Linear(latent→hidden)+BatchNorm+ReLU, (layers−1)×[Linear(hidden→hidden)+BN+ReLU],
    /// then Linear(hidden→out)+BN.
    Mlp(MlpHead),
    /// [RS]: flatten, Linear(→30, no bias), LayerNorm, ReLU, Linear(30→30, no bias), LayerNorm,
    /// ReLU. No keys.
    Sane(SaneHead),
}

/// The names of [`HeadSpec`]'s kinds, as written in `head.kind`.
pub const HEAD_KINDS: &[&str] = &["mlp", "sane"];

impl Default for HeadSpec {
    fn default() -> Self {
        HeadSpec::Mlp(MlpHead::default())
    }
}

impl HeadSpec {
    /// The kind as written in `head.kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            HeadSpec::Mlp(_) => "mlp",
            HeadSpec::Sane(_) => "sane",
        }
    }

    pub(crate) fn check(&self) -> Result<(), Check> {
        match self {
            HeadSpec::Mlp(h) => {
                at_least_one("head.layers", h.layers)?;
                at_least_one("head.hidden", h.hidden)?;
                at_least_one("head.out", h.out)
            }
            HeadSpec::Sane(_) => Ok(()),
        }
    }
}

/// `[head] kind = "mlp"`; defaults are [R21] Tetris-Seed's 3/50/20.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MlpHead {
    /// Linear+BatchNorm+ReLU blocks (3).
    pub layers: usize,
    /// Their width (50).
    pub hidden: usize,
    /// Output size (20).
    pub out: usize,
}

impl Default for MlpHead {
    fn default() -> Self {
        Self {
            layers: 3,
            hidden: 50,
            out: 20,
        }
    }
}

/// `[head] kind = "sane"`: a fixed head, no keys.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaneHead {}

/// Private mirror of [`HeadSpec`] in serde's external representation (see [`ModelSpecDe`]).
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum HeadSpecDe {
    Mlp(MlpHead),
    Sane(SaneHead),
}

pub(crate) fn de_head<'de, D: Deserializer<'de>>(d: D) -> Result<HeadSpec, D::Error> {
    Ok(match HeadSpecDe::deserialize(d)? {
        HeadSpecDe::Mlp(h) => HeadSpec::Mlp(h),
        HeadSpecDe::Sane(h) => HeadSpec::Sane(h),
    })
}

// ------------------------------------------------------------------------------------------
// [loss]

/// The contrastive term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContrastKind {
    /// NT-Xent (SimCLR) over the 2N projected views ([R21], [RS]).
    Ntxent,
    /// [R21]'s positive-pairs-only variant (MSE of the positive similarities / τ against 0).
    Positive,
    /// What the positive-only variant evidently meant: positive similarities pulled to 1.
    PositiveAlignment,
}

/// What the reconstruction is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconTarget {
    /// The permuted view before noise and erasing (the evident intention).
    Clean,
    /// The augmented view itself, noise and erased zeros included, as the references do
    /// (reference.md §13.13).
    Augmented,
}

/// The structural (reconstruction) term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconstructionKind {
    /// Plain MSE over the flat weight vectors ([R21]).
    Mse,
    /// SANE's masked MSE: padding is zeroed and counts in the mean ([RS], [R25]).
    Masked,
    /// Layer-wise normalized MSE: every layer divided by its standard deviation over the training
    /// set ([R22] `LayerWiseReconLoss`).
    Layerwise,
}

/// The behavioural term: decoded and original networks run on the same query images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BehaviourKind {
    /// MSE between the softmax outputs ([R25] `l2`, the main results).
    SoftmaxMse,
    /// Distillation: T²·KL(softmax(y/T) ‖ softmax(ŷ/T)) with T = `temperature_kd` ([R25]).
    Kl,
}

/// Where the behavioural loss's query images come from ([R25] `queryset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuerySet {
    /// A fresh shuffled batch of the zoo's training images at every call.
    Data,
    /// Uniform U[0, 1) images of the input shape.
    Random,
    /// Half data, half random.
    Union,
}

/// `[loss]`: `L = γ·C + (1−γ)·[β·S + (1−β)·B]` with C contrastive, S structural (reconstruction)
/// and B behavioural ([R25]; β = 1 is [R21]/[RS]'s loss).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LossSection {
    /// γ, weight of the contrastive term, in [0, 1] (0.5, [R21] Tetris; SANE and [R25] use 0.05).
    pub gamma: f64,
    /// β, structure versus behaviour, in [0, 1] (1.0: structure only).
    pub beta: f64,
    /// The contrastive term (`ntxent`).
    pub contrast: ContrastKind,
    /// τ of the contrastive term (0.1), > 0.
    pub temperature: f64,
    /// The structural term (`mse`).
    pub reconstruction: ReconstructionKind,
    /// The behavioural term (`softmax_mse`).
    pub behaviour: BehaviourKind,
    /// T of the `kl` behavioural term (2.0), > 0.
    pub temperature_kd: f64,
    /// Query images per behavioural loss call (256).
    pub queries: usize,
    /// Where query images come from (`data`).
    pub query_set: QuerySet,
    /// Divide S and B by their values on the first batch (true, [R25]).
    pub normalize_terms: bool,
    /// The reconstruction target (`clean`).
    pub target: ReconTarget,
}

impl Default for LossSection {
    fn default() -> Self {
        Self {
            gamma: 0.5,
            beta: 1.0,
            contrast: ContrastKind::Ntxent,
            temperature: 0.1,
            reconstruction: ReconstructionKind::Mse,
            behaviour: BehaviourKind::SoftmaxMse,
            temperature_kd: 2.0,
            queries: 256,
            query_set: QuerySet::Data,
            normalize_terms: true,
            target: ReconTarget::Clean,
        }
    }
}

impl LossSection {
    pub(crate) fn check(&self) -> Result<(), Check> {
        unit_closed("loss.gamma", self.gamma)?;
        unit_closed("loss.beta", self.beta)?;
        positive("loss.temperature", self.temperature)?;
        positive("loss.temperature_kd", self.temperature_kd)?;
        at_least_one("loss.queries", self.queries)
    }
}

// ------------------------------------------------------------------------------------------
// [augment]

/// How Gaussian noise is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseKind {
    /// `x + σ·N(0, 1)` ([R21]).
    Additive,
    /// `x·(1 + σ·N(0, 1))` ([RS]).
    Multiplicative,
}

/// `[augment]`: how the two views of each model are made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentSection {
    /// A random permutation of the hidden units per view (true; [R21], [RS]).
    pub permutation: bool,
    /// View 1 / view 2 use the canonical copy (unpermuted, or weight-matched when
    /// `canonicalize`) instead of a permuted one ([false, false], as [R25]; SANE's released
    /// configs amount to [true, true]).
    pub canonical_views: [bool; 2],
    /// Size `P` of a finite pool of permutations that views draw from, fixed for the whole
    /// training as the references precompute them ([R21] 120 for Tetris, 25,000 for MNIST zoos;
    /// [RS] 200, [R25] 20 per checkpoint); 0 = a fresh random permutation for every view. Ignored when `permutation` is off (so
    /// a grid can switch permutation on and off with one pool size).
    pub permutation_pool: u64,
    /// One pool for the whole zoo (`zoo`, [R21]) or one per checkpoint (`checkpoint`, [RS]).
    pub permutation_pool_scope: crate::augment::permute::PoolScope,
    /// Map every model to a reference model by weight matching before anything else ([RS]).
    pub canonicalize: bool,
    /// σ of the Gaussian noise, per view (0.0 = off; [R21]'s ablation 0.05, [RS] 0.1
    /// multiplicative).
    pub noise: f64,
    /// How noise is applied (`additive`).
    pub noise_kind: NoiseKind,
    /// Probability of erasing a slice of each view (0.0 = off; [R21] uses 0.5 when on).
    pub erase: f64,
    /// Range of the erased fraction ([0.02, 0.33], [R21]/torchvision).
    pub erase_scale: [f64; 2],
}

impl Default for AugmentSection {
    fn default() -> Self {
        Self {
            permutation: true,
            canonical_views: [false, false],
            permutation_pool: 0,
            permutation_pool_scope: crate::augment::permute::PoolScope::Checkpoint,
            canonicalize: false,
            noise: 0.0,
            noise_kind: NoiseKind::Additive,
            erase: 0.0,
            erase_scale: [0.02, 0.33],
        }
    }
}

impl AugmentSection {
    /// The noise augmentation, `None` when `noise` is 0.
    pub fn noise(&self) -> Option<crate::augment::Noise> {
        let sigma = self.noise as f32;
        (self.noise > 0.0).then_some(match self.noise_kind {
            NoiseKind::Additive => crate::augment::Noise::Additive { sigma },
            NoiseKind::Multiplicative => crate::augment::Noise::Multiplicative { sigma },
        })
    }

    pub(crate) fn check(&self) -> Result<(), Check> {
        non_negative("augment.noise", self.noise)?;
        unit_closed("augment.erase", self.erase)?;
        let [lo, hi] = self.erase_scale;
        ensure(
            lo > 0.0 && lo <= hi && hi <= 1.0,
            "augment.erase_scale",
            format!("[{lo}, {hi}]"),
            "[lo, hi] with 0 < lo <= hi <= 1",
        )
    }
}

// ------------------------------------------------------------------------------------------
// [normalize]

/// Normalization of the weights before they enter the autoencoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightNorm {
    /// Per-layer standardization with the training split's statistics ([RS]).
    Layer,
    /// Raw weights.
    None,
}

/// `[normalize]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NormalizeSection {
    /// How weights are normalized (`layer`).
    pub weights: WeightNorm,
}

impl Default for NormalizeSection {
    fn default() -> Self {
        Self {
            weights: WeightNorm::Layer,
        }
    }
}

// ------------------------------------------------------------------------------------------
// [train]

/// The optimizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Optimizer {
    /// AdamW with decoupled weight decay on matrix parameters only (≥ 2-D), none on biases and
    /// norms ([RS], [R25]).
    #[serde(rename = "adamw")]
    AdamW,
    /// Adam with weight decay as L2 on the gradient ([R21]).
    #[serde(rename = "adam")]
    Adam,
}

/// The learning-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// Constant learning rate.
    None,
    /// One-cycle, stepped per batch, cosine annealing ([RS], [R25]); see [`OneCycle`].
    #[serde(rename = "onecycle")]
    OneCycle,
    /// Reduce on plateau of the training loss, stepped per epoch ([R21]); see [`Plateau`].
    Plateau,
}

/// `train.onecycle`: torch's OneCycleLR parameters (lr is the peak).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OneCycle {
    /// Fraction of the steps spent rising (0.3), in (0, 1).
    pub pct_start: f64,
    /// Initial lr = lr / div_factor (25).
    pub div_factor: f64,
    /// Final lr = initial lr / final_div_factor (1e4).
    pub final_div_factor: f64,
}

impl Default for OneCycle {
    fn default() -> Self {
        Self {
            pct_start: 0.3,
            div_factor: 25.0,
            final_div_factor: 1e4,
        }
    }
}

/// `train.plateau`: torch's ReduceLROnPlateau parameters (mode min, relative threshold,
/// cooldown 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Plateau {
    /// Multiplier of the lr on a plateau (0.3), in (0, 1).
    pub factor: f64,
    /// Epochs without improvement before reducing (10).
    pub patience: usize,
    /// Relative improvement that counts (1e-4).
    pub threshold: f64,
}

impl Default for Plateau {
    fn default() -> Self {
        Self {
            factor: 0.3,
            patience: 10,
            threshold: 1e-4,
        }
    }
}

/// `[train]`: the optimization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSection {
    /// Training epochs (50).
    pub epochs: usize,
    /// Models per batch (64, [R25]); batches are full (the last partial one is dropped), as
    /// NT-Xent needs.
    pub batch_size: usize,
    /// The optimizer (`adamw`).
    pub optimizer: Optimizer,
    /// Learning rate, the peak for `onecycle` (1e-4).
    pub lr: f64,
    /// Weight decay (1e-9, [R21]).
    pub weight_decay: f64,
    /// The lr schedule (`none`).
    pub schedule: Schedule,
    /// Maximal global gradient norm (0 = no clipping).
    pub grad_clip: f64,
    /// Epochs between validation loss and reconstruction R² (1).
    pub eval_every: usize,
    /// Epochs between linear probes from the embeddings to the zoo's properties, recorded in
    /// metrics.jsonl as learning curves of probe R² and accuracy (0 = never, the default).
    pub probe_every: usize,
    /// Epochs between checkpoints (1).
    pub checkpoint_every: usize,
    /// Checkpoints kept besides the best (3).
    pub keep_last: usize,
    /// Parameters of the `onecycle` schedule.
    pub onecycle: OneCycle,
    /// Parameters of the `plateau` schedule.
    pub plateau: Plateau,
}

impl Default for TrainSection {
    fn default() -> Self {
        Self {
            epochs: 50,
            batch_size: 64,
            optimizer: Optimizer::AdamW,
            lr: 1e-4,
            weight_decay: 1e-9,
            schedule: Schedule::None,
            grad_clip: 0.0,
            eval_every: 1,
            probe_every: 0,
            checkpoint_every: 1,
            keep_last: 3,
            onecycle: OneCycle::default(),
            plateau: Plateau::default(),
        }
    }
}

impl TrainSection {
    pub(crate) fn check(&self, gamma: f64) -> Result<(), Check> {
        at_least_one("train.epochs", self.epochs)?;
        if gamma > 0.0 {
            ensure(
                self.batch_size >= 2,
                "train.batch_size",
                self.batch_size,
                "an integer >= 2 (the contrastive loss compares the models of a batch)",
            )?;
        } else {
            at_least_one("train.batch_size", self.batch_size)?;
        }
        positive("train.lr", self.lr)?;
        non_negative("train.weight_decay", self.weight_decay)?;
        non_negative("train.grad_clip", self.grad_clip)?;
        at_least_one("train.eval_every", self.eval_every)?;
        at_least_one("train.checkpoint_every", self.checkpoint_every)?;
        let o = &self.onecycle;
        ensure(
            o.pct_start > 0.0 && o.pct_start < 1.0,
            "train.onecycle.pct_start",
            o.pct_start,
            "a number in (0, 1)",
        )?;
        positive("train.onecycle.div_factor", o.div_factor)?;
        positive("train.onecycle.final_div_factor", o.final_div_factor)?;
        let p = &self.plateau;
        ensure(
            p.factor > 0.0 && p.factor < 1.0,
            "train.plateau.factor",
            p.factor,
            "a number in (0, 1)",
        )?;
        non_negative("train.plateau.threshold", p.threshold)
    }
}

/// `[eval]`: evaluation of each run when its training ends (`hyperzoo run` and the TUI alike),
/// as `hyperzoo eval` does it: probes, baselines and reconstruction into the run's
/// results.toml. Not part of a run's identity: changing it does not make a run directory hold
/// "another configuration".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalSection {
    /// Evaluate each run once its training has finished (also a run finished earlier that has
    /// no results.toml yet) (false).
    pub after_train: bool,
    /// Test images the original and reconstructed networks are scored on (2000).
    pub images: usize,
    /// Fit the probes on features standardised with the training split's statistics (false:
    /// raw features, as the references).
    pub standardize: bool,
}

impl Default for EvalSection {
    fn default() -> Self {
        Self {
            after_train: false,
            images: 2000,
            standardize: false,
        }
    }
}

impl EvalSection {
    /// Whether every key has its default (then config.toml leaves the table out).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}
