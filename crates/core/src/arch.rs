//! Architecture specs: the ordered layers of a zoo's networks, and everything that follows from
//! them without tensors: shapes, the flat parameter layout, parameter counts.
//!
//! The flat layout is PyTorch's state-dict order: for each parametric layer in order, the weight
//! (conv `[out, in, kh, kw]`, linear `[out, in]`, row-major) then the bias `[out]`. A zoo's
//! `[N, P]` weight matrix therefore exchanges with PyTorch users without reshuffling.
//!
//! `Activation` and `Dropout` layers without an explicit function/probability take the model's
//! hyperparameters (a zoo varies them per model); they hold no parameters.
//!
//! Residual networks: a `residual` layer holds a `body` and a `shortcut` (empty: the identity)
//! whose outputs are added; its parameters come body first, then shortcut, as torchvision's
//! `BasicBlock` lists `conv1, bn1, conv2, bn2, downsample.0, downsample.1`. A `batch_norm`
//! layer holds weight, bias, running mean and running variance in that order (PyTorch's state
//! dict without `num_batches_tracked`, an integer no zoo format needs).
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Element-wise nonlinearities used by the zoos.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// max(0, x)
    Relu,
    /// LeakyReLU with slope 0.01 (PyTorch's default).
    Leakyrelu,
    /// tanh
    Tanh,
    /// 1 / (1 + e^-x)
    Sigmoid,
    /// x * sigmoid(x)
    Silu,
    /// Gaussian error linear unit (exact, erf form, as torch's default).
    Gelu,
}

impl Activation {
    /// Every activation, in a fixed order (used for categorical probes).
    pub const ALL: [Activation; 6] = [
        Activation::Relu,
        Activation::Leakyrelu,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Silu,
        Activation::Gelu,
    ];

    /// The lowercase name used in TOML and CSV.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Leakyrelu => "leakyrelu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Silu => "silu",
            Activation::Gelu => "gelu",
        }
    }
}

impl std::str::FromStr for Activation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Activation::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| Error::InvalidValue {
                what: "activation".into(),
                value: s.into(),
                expected: format!("one of {}", Activation::ALL.map(|a| a.name()).join(", ")),
            })
    }
}

fn one() -> usize {
    1
}
fn yes() -> bool {
    true
}
fn bn_eps() -> f64 {
    1e-5
}
fn bn_momentum() -> f64 {
    0.1
}

/// One layer of an architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Layer {
    /// 2-D convolution with a square kernel.
    Conv2d {
        /// Output channels.
        out: usize,
        /// Kernel size (square).
        kernel: usize,
        /// Stride.
        #[serde(default = "one")]
        stride: usize,
        /// Zero padding on each side.
        #[serde(default)]
        padding: usize,
        /// Whether the layer has a bias.
        #[serde(default = "yes")]
        bias: bool,
    },
    /// Max pooling with a square window; stride defaults to the window.
    MaxPool {
        /// Window size.
        kernel: usize,
        /// Stride (default: `kernel`).
        #[serde(default)]
        stride: Option<usize>,
    },
    /// Nonlinearity; `None` takes the model's `activation` hyperparameter.
    Activation {
        /// A fixed function, or the model's.
        #[serde(default, rename = "fn")]
        func: Option<Activation>,
    },
    /// Dropout; `None` takes the model's `dropout` hyperparameter.
    Dropout {
        /// A fixed probability, or the model's.
        #[serde(default)]
        p: Option<f64>,
    },
    /// `[C, H, W]` to `[C*H*W]`, channel-major as in PyTorch.
    Flatten,
    /// Mean over the spatial dimensions: `[C, H, W]` to `[C]`.
    GlobalAvgPool,
    /// Fully connected layer.
    Linear {
        /// Output features.
        out: usize,
        /// Whether the layer has a bias.
        #[serde(default = "yes")]
        bias: bool,
    },
    /// Batch normalisation of the channels of `[C, H, W]` (PyTorch's BatchNorm2d) or the
    /// features of `[F]` (BatchNorm1d), with an affine weight and bias and running statistics.
    BatchNorm {
        /// Added to the variance (PyTorch's default 1e-5).
        #[serde(default = "bn_eps")]
        eps: f64,
        /// Weight of a batch's statistics in the running ones (PyTorch's default 0.1).
        #[serde(default = "bn_momentum")]
        momentum: f64,
    },
    /// A residual block: `body(x) + shortcut(x)`, both of the same shape; an empty shortcut is
    /// the identity. The nonlinearity after the sum is the next layer.
    Residual {
        /// The block's layers.
        body: Vec<Layer>,
        /// The shortcut's layers (e.g. a 1x1 convolution and batch norm), or none.
        #[serde(default)]
        shortcut: Vec<Layer>,
    },
}

impl Layer {
    /// Whether this layer is, or holds, a residual block or batch normalisation (what the
    /// sequential-only parts of hyperzoo do not handle yet).
    pub fn is_residual_or_norm(&self) -> bool {
        matches!(self, Layer::Residual { .. } | Layer::BatchNorm { .. })
    }
}

/// Kind of a parametric layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Convolution: weight `[out, in, k, k]`.
    Conv {
        /// Kernel size.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Padding.
        padding: usize,
    },
    /// Linear: weight `[out, in]`.
    Linear,
    /// Batch normalisation: weight and bias `[C]`, then running mean and variance `[C]`.
    BatchNorm,
}

/// Where one parametric layer's weight and bias sit in the flat vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamLayer {
    /// Index of the layer in [`ArchSpec::layers`].
    pub layer_index: usize,
    /// Conv or linear.
    pub kind: ParamKind,
    /// Output channels / features (rows).
    pub out: usize,
    /// Input channels / features.
    pub inp: usize,
    /// Weight shape in PyTorch order.
    pub weight_shape: Vec<usize>,
    /// Offset of the weight in the flat vector.
    pub weight_offset: usize,
    /// Offset of the bias, if the layer has one.
    pub bias_offset: Option<usize>,
    /// Offset of a batch norm's running mean (its running variance follows).
    pub buffers_offset: Option<usize>,
    /// Input activation shape `[C, H, W]` or `[F]`.
    pub in_shape: Vec<usize>,
    /// Output activation shape.
    pub out_shape: Vec<usize>,
}

impl ParamLayer {
    /// Number of weights (without bias).
    pub fn weight_len(&self) -> usize {
        self.weight_shape.iter().product()
    }
    /// Incoming weights per output row (`in * k * k` or `in`).
    pub fn row_len(&self) -> usize {
        self.weight_len() / self.out
    }
    /// Weights plus bias plus a batch norm's running statistics: the layer's extent in the
    /// flat vector.
    pub fn len(&self) -> usize {
        self.weight_len()
            + if self.bias_offset.is_some() {
                self.out
            } else {
                0
            }
            + if self.buffers_offset.is_some() {
                2 * self.out
            } else {
                0
            }
    }
    /// True when the layer has no parameters (never, for valid specs).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fan-in and fan-out as PyTorch computes them for initialisation.
    pub fn fans(&self) -> (usize, usize) {
        let receptive = match self.kind {
            ParamKind::Conv { kernel, .. } => kernel * kernel,
            ParamKind::Linear | ParamKind::BatchNorm => 1,
        };
        (self.inp * receptive, self.out * receptive)
    }
}

/// An architecture: input shape and ordered layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchSpec {
    /// Name (a built-in's name, or the user's).
    pub name: String,
    /// Input shape `[C, H, W]`.
    pub input: [usize; 3],
    /// Layers in order.
    pub layers: Vec<Layer>,
}

/// The derived layout of an [`ArchSpec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Parametric layers in order.
    pub params: Vec<ParamLayer>,
    /// Total parameter count.
    pub total: usize,
    /// Shape after every layer (index = layer index).
    pub shapes: Vec<Vec<usize>>,
}

impl ArchSpec {
    /// Whether some layer is a residual block or batch normalisation.
    pub fn is_residual_or_norm(&self) -> bool {
        self.layers.iter().any(Layer::is_residual_or_norm)
    }

    /// An error for a part of hyperzoo that handles sequential networks without batch norm
    /// only: `what` names it.
    pub fn sequential_only(&self, what: &str) -> Result<()> {
        if !self.is_residual_or_norm() {
            return Ok(());
        }
        Err(Error::InvalidValue {
            what: format!("{what} of architecture '{}'", self.name),
            value: "residual blocks or batch normalisation".into(),
            expected: "a sequential network without batch norm (residual networks are, so far, \
                       built, laid out and evaluated; the rest follows)"
                .into(),
        })
    }
}

impl Layout {
    /// Output shape of the network.
    pub fn output_shape(&self) -> &[usize] {
        self.shapes.last().map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether some layer is a batch norm (with running statistics in the flat vector).
    pub fn has_batch_norm(&self) -> bool {
        self.params.iter().any(|p| p.kind == ParamKind::BatchNorm)
    }
}

impl ArchSpec {
    /// Infers shapes and the flat parameter layout, rejecting impossible specs with the layer
    /// index, the layer and the shape it received.
    pub fn layout(&self) -> Result<Layout> {
        if self.input.contains(&0) {
            return Err(Error::InvalidValue {
                what: format!("architecture '{}' input", self.name),
                value: format!("{:?}", self.input),
                expected: "[channels, height, width], all positive".into(),
            });
        }
        let mut walk = Walk {
            spec: self,
            offset: 0,
            params: Vec::new(),
        };
        let mut shapes = Vec::with_capacity(self.layers.len());
        let mut shape = self.input.to_vec();
        for (i, layer) in self.layers.iter().enumerate() {
            shape = walk.layer(i, "", layer, shape)?;
            shapes.push(shape.clone());
        }
        let (offset, params) = (walk.offset, walk.params);
        if params.is_empty() {
            return Err(Error::InvalidValue {
                what: format!("architecture '{}'", self.name),
                value: "no conv2d or linear layer".into(),
                expected: "at least one parametric layer".into(),
            });
        }
        if shape.len() != 1 {
            return Err(Error::InvalidValue {
                what: format!("architecture '{}' output", self.name),
                value: format!("{shape:?}"),
                expected:
                    "a flat vector of class logits: end with linear (or flatten/global_avg_pool)"
                        .into(),
            });
        }
        Ok(Layout {
            params,
            total: offset,
            shapes,
        })
    }

    /// Number of parameters.
    pub fn param_count(&self) -> Result<usize> {
        Ok(self.layout()?.total)
    }

    /// Parses a custom architecture from TOML (`name`, `input`, `[[layers]]` with `type`).
    pub fn from_toml(path: &std::path::Path, text: &str) -> Result<ArchSpec> {
        let spec: ArchSpec =
            toml::from_str(text).map_err(|e| Error::format(path, e.to_string()))?;
        spec.layout()
            .map_err(|e| Error::format(path, e.to_string()))?;
        Ok(spec)
    }

    /// A built-in architecture by name with its default input, or `None`.
    ///
    /// Built-ins: `cnn_s` (1x28x28, 2464 params; `cnn_s_rgb` 3x28x28, 2864), `cnn3` (3x32x32,
    /// 10,853), `unterthiner_cnn` (1x28x28, 4970), `tetris_mlp` (1x4x4, 100, no biases),
    /// `lenet5` (3x32x32, 62,006).
    pub fn builtin(name: &str) -> Option<ArchSpec> {
        builtin(name)
    }

    /// The same layers on another input shape (e.g. `cnn_s` on 3 channels).
    pub fn with_input(mut self, input: [usize; 3]) -> ArchSpec {
        self.input = input;
        self
    }
}

/// The layout's walk over (possibly nested) layers: the next parameter offset and the
/// parametric layers so far.
struct Walk<'a> {
    spec: &'a ArchSpec,
    offset: usize,
    params: Vec<ParamLayer>,
}

impl Walk<'_> {
    /// The shape after `layer` (top-level layer `i`; `place` says where in a block it sits)
    /// on input `shape`, its parameters appended.
    fn layer(
        &mut self,
        i: usize,
        place: &str,
        layer: &Layer,
        shape: Vec<usize>,
    ) -> Result<Vec<usize>> {
        let name = &self.spec.name;
        let bad = |i: usize, l: &Layer, shape: &[usize], why: &str| Error::InvalidValue {
            what: format!("architecture '{name}' layer {i}{place}"),
            value: format!("{l:?} on input shape {shape:?}"),
            expected: why.into(),
        };
        let mut shape = shape;
        let in_shape = shape.clone();
        match layer {
            Layer::Conv2d {
                out,
                kernel,
                stride,
                padding,
                bias,
            } => {
                let [c, h, w] = spatial(&shape)
                    .ok_or_else(|| bad(i, layer, &shape, "conv2d needs [C, H, W] input"))?;
                if *out == 0 || *kernel == 0 || *stride == 0 {
                    return Err(bad(
                        i,
                        layer,
                        &shape,
                        "out, kernel and stride must be positive",
                    ));
                }
                let (hp, wp) = (h + 2 * padding, w + 2 * padding);
                if *kernel > hp || *kernel > wp {
                    return Err(bad(i, layer, &shape, "kernel larger than the padded input"));
                }
                let (ho, wo) = ((hp - kernel) / stride + 1, (wp - kernel) / stride + 1);
                let weight_shape = vec![*out, c, *kernel, *kernel];
                let wlen: usize = weight_shape.iter().product();
                let bias_offset = bias.then_some(self.offset + wlen);
                self.params.push(ParamLayer {
                    layer_index: i,
                    kind: ParamKind::Conv {
                        kernel: *kernel,
                        stride: *stride,
                        padding: *padding,
                    },
                    out: *out,
                    inp: c,
                    weight_shape,
                    weight_offset: self.offset,
                    bias_offset,
                    buffers_offset: None,
                    in_shape: in_shape.clone(),
                    out_shape: vec![*out, ho, wo],
                });
                self.offset += wlen + if *bias { *out } else { 0 };
                shape = vec![*out, ho, wo];
            }
            Layer::MaxPool { kernel, stride } => {
                let [c, h, w] = spatial(&shape)
                    .ok_or_else(|| bad(i, layer, &shape, "max_pool needs [C, H, W] input"))?;
                let s = stride.unwrap_or(*kernel);
                if *kernel == 0 || s == 0 || *kernel > h || *kernel > w {
                    return Err(bad(
                        i,
                        layer,
                        &shape,
                        "window must be positive and fit the input",
                    ));
                }
                shape = vec![c, (h - kernel) / s + 1, (w - kernel) / s + 1];
            }
            Layer::Activation { .. } => {}
            Layer::BatchNorm { eps, momentum } => {
                if !(*eps > 0.0 && (0.0..=1.0).contains(momentum)) {
                    return Err(bad(
                        i,
                        layer,
                        &shape,
                        "eps must be positive and momentum in [0, 1]",
                    ));
                }
                let c = match shape.len() {
                    1 | 3 => shape[0],
                    _ => return Err(bad(i, layer, &shape, "batch_norm needs [C, H, W] or [F]")),
                };
                self.params.push(ParamLayer {
                    layer_index: i,
                    kind: ParamKind::BatchNorm,
                    out: c,
                    inp: c,
                    weight_shape: vec![c],
                    weight_offset: self.offset,
                    bias_offset: Some(self.offset + c),
                    buffers_offset: Some(self.offset + 2 * c),
                    in_shape: shape.clone(),
                    out_shape: shape.clone(),
                });
                self.offset += 4 * c;
            }
            Layer::Residual { body, shortcut } => {
                if body.is_empty() {
                    return Err(bad(i, layer, &shape, "a residual block needs a body"));
                }
                let input = shape.clone();
                let mut out = input.clone();
                for (j, l) in body.iter().enumerate() {
                    out = self.layer(i, &format!("{place} body {j}"), l, out)?;
                }
                let mut side = input.clone();
                for (j, l) in shortcut.iter().enumerate() {
                    side = self.layer(i, &format!("{place} shortcut {j}"), l, side)?;
                }
                if out != side {
                    return Err(bad(
                        i,
                        layer,
                        &input,
                        &format!(
                            "body and shortcut of the same shape (body gives {out:?}, shortcut {side:?})"
                        ),
                    ));
                }
                shape = out;
            }
            Layer::Dropout { p } => {
                if p.is_some_and(|p| !(0.0..1.0).contains(&p)) {
                    return Err(bad(i, layer, &shape, "dropout p must be in [0, 1)"));
                }
            }
            Layer::Flatten => shape = vec![shape.iter().product()],
            Layer::GlobalAvgPool => {
                let [c, _, _] = spatial(&shape).ok_or_else(|| {
                    bad(i, layer, &shape, "global_avg_pool needs [C, H, W] input")
                })?;
                shape = vec![c];
            }
            Layer::Linear { out, bias } => {
                if shape.len() != 1 {
                    return Err(bad(
                        i,
                        layer,
                        &shape,
                        "linear needs a flat input: add a flatten layer before it",
                    ));
                }
                if *out == 0 {
                    return Err(bad(i, layer, &shape, "out must be positive"));
                }
                let weight_shape = vec![*out, shape[0]];
                let wlen = out * shape[0];
                self.params.push(ParamLayer {
                    layer_index: i,
                    kind: ParamKind::Linear,
                    out: *out,
                    inp: shape[0],
                    weight_shape,
                    weight_offset: self.offset,
                    bias_offset: bias.then_some(self.offset + wlen),
                    buffers_offset: None,
                    in_shape: in_shape.clone(),
                    out_shape: vec![*out],
                });
                self.offset += wlen + if *bias { *out } else { 0 };
                shape = vec![*out];
            }
        }
        Ok(shape)
    }
}

fn spatial(shape: &[usize]) -> Option<[usize; 3]> {
    <[usize; 3]>::try_from(shape).ok()
}

/// Sequential built-ins (every part of hyperzoo handles them).
pub const BUILTINS: &[&str] = &[
    "cnn_s",
    "cnn_s_rgb",
    "cnn3",
    "unterthiner_cnn",
    "tetris_mlp",
    "lenet5",
];

/// Residual built-ins with batch norm: `resnet18` (the Model Zoos' ResNet-18 for 32x32 images:
/// first convolution 3x3 stride 1, no max pooling) and `resnet8` (a small one for 28x28 grey
/// images, trainable on a CPU). Accepted by [`ArchSpec::builtin`] beside [`BUILTINS`].
pub const RESIDUAL_BUILTINS: &[&str] = &["resnet8", "resnet18"];

fn conv(out: usize, kernel: usize) -> Layer {
    Layer::Conv2d {
        out,
        kernel,
        stride: 1,
        padding: 0,
        bias: true,
    }
}
fn pool2() -> Layer {
    Layer::MaxPool {
        kernel: 2,
        stride: None,
    }
}
fn act() -> Layer {
    Layer::Activation { func: None }
}
fn drop() -> Layer {
    Layer::Dropout { p: None }
}
fn linear(out: usize) -> Layer {
    Layer::Linear { out, bias: true }
}
fn bn() -> Layer {
    Layer::BatchNorm {
        eps: bn_eps(),
        momentum: bn_momentum(),
    }
}
/// A convolution without bias, as residual networks have them.
fn conv_nb(out: usize, kernel: usize, stride: usize, padding: usize) -> Layer {
    Layer::Conv2d {
        out,
        kernel,
        stride,
        padding,
        bias: false,
    }
}
/// torchvision's BasicBlock: two 3x3 convolutions with batch norm; the shortcut a 1x1
/// convolution with batch norm where the block changes the shape (`project`).
fn basic_block(out: usize, stride: usize, project: bool) -> Layer {
    Layer::Residual {
        body: vec![
            conv_nb(out, 3, stride, 1),
            bn(),
            act(),
            conv_nb(out, 3, 1, 1),
            bn(),
        ],
        shortcut: if project {
            vec![conv_nb(out, 1, stride, 0), bn()]
        } else {
            Vec::new()
        },
    }
}
/// A ResNet: stem (3x3 convolution, batch norm, activation), then per stage (channels, blocks),
/// blocks followed by the activation, the first block of a stage after the first with stride 2;
/// global average pooling and a linear classifier.
fn resnet(stem: usize, stages: &[(usize, usize)], classes: usize) -> Vec<Layer> {
    let mut layers = vec![conv_nb(stem, 3, 1, 1), bn(), act()];
    let mut channels = stem;
    for (s, &(out, blocks)) in stages.iter().enumerate() {
        for b in 0..blocks {
            let stride = if s > 0 && b == 0 { 2 } else { 1 };
            layers.push(basic_block(out, stride, stride != 1 || out != channels));
            layers.push(act());
            channels = out;
        }
    }
    layers.push(Layer::GlobalAvgPool);
    layers.push(linear(classes));
    layers
}

fn builtin(name: &str) -> Option<ArchSpec> {
    let (input, layers) = match name {
        // [R21] def_net.py CNN: conv-pool-act(-drop) x2, conv-act, flatten, fc-act(-drop), fc.
        "cnn_s" | "cnn_s_rgb" => (
            if name == "cnn_s" {
                [1, 28, 28]
            } else {
                [3, 28, 28]
            },
            vec![
                conv(8, 5),
                pool2(),
                act(),
                drop(),
                conv(6, 5),
                pool2(),
                act(),
                drop(),
                conv(4, 2),
                act(),
                Layer::Flatten,
                linear(20),
                act(),
                drop(),
                linear(10),
            ],
        ),
        // [R22]/[RS]/[R25] CNN3: three conv-pool-act-drop blocks, flatten, fc-act-drop, fc.
        "cnn3" => (
            [3, 32, 32],
            vec![
                conv(16, 3),
                pool2(),
                act(),
                drop(),
                conv(32, 3),
                pool2(),
                act(),
                drop(),
                conv(15, 3),
                pool2(),
                act(),
                drop(),
                Layer::Flatten,
                linear(20),
                act(),
                drop(),
                linear(10),
            ],
        ),
        // [GR] Unterthiner et al.: 3 x (conv 16 3x3 stride 2, act, dropout), GAP, dense 10.
        "unterthiner_cnn" => {
            let c = || Layer::Conv2d {
                out: 16,
                kernel: 3,
                stride: 2,
                padding: 0,
                bias: true,
            };
            (
                [1, 28, 28],
                vec![
                    c(),
                    act(),
                    drop(),
                    c(),
                    act(),
                    drop(),
                    c(),
                    act(),
                    drop(),
                    Layer::GlobalAvgPool,
                    linear(10),
                ],
            )
        }
        // [R21] Tetris MLP: 16 -> 5 -> 4, no biases.
        "tetris_mlp" => (
            [1, 4, 4],
            vec![
                Layer::Flatten,
                Layer::Linear {
                    out: 5,
                    bias: false,
                },
                act(),
                Layer::Linear {
                    out: 4,
                    bias: false,
                },
            ],
        ),
        // [R25] LeNet5: conv-act-pool-drop x2, fc-act-drop x2, fc.
        "lenet5" => (
            [3, 32, 32],
            vec![
                conv(6, 5),
                act(),
                pool2(),
                drop(),
                conv(16, 5),
                act(),
                pool2(),
                drop(),
                Layer::Flatten,
                linear(120),
                act(),
                drop(),
                linear(84),
                act(),
                drop(),
                linear(10),
            ],
        ),
        // [RS] ResNetBase: torchvision's ResNet-18 with conv1 3x3 stride 1 padding 1 (no bias)
        // and maxpool = Identity; 10 classes (CIFAR-10).
        "resnet18" => (
            [3, 32, 32],
            resnet(64, &[(64, 2), (128, 2), (256, 2), (512, 2)], 10),
        ),
        // A small ResNet (stem 8, stages of 8, 16, 32 channels, one block each) for MNIST-sized
        // images: 7 convolutions (2 more as shortcuts) and the classifier, 20,146 values.
        "resnet8" => ([1, 28, 28], resnet(8, &[(8, 1), (16, 1), (32, 1)], 10)),
        _ => return None,
    };
    Some(ArchSpec {
        name: name.into(),
        input,
        layers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(name: &str) -> usize {
        ArchSpec::builtin(name).unwrap().param_count().unwrap()
    }

    #[test]
    fn resnet18_is_laid_out_as_its_state_dict() {
        // torchvision's resnet18(num_classes=10) has 11,181,642 parameters; conv1 3x3 instead
        // of 7x7 takes 9,408 - 1,728: 11,173,962 (the CIFAR ResNet-18 count); its 20 batch
        // norms hold 4,800 channels, whose running mean and variance add 9,600.
        let layout = ArchSpec::builtin("resnet18").unwrap().layout().unwrap();
        assert_eq!(layout.total, 11_173_962 + 9_600);
        let norms: Vec<_> = layout
            .params
            .iter()
            .filter(|p| p.kind == ParamKind::BatchNorm)
            .collect();
        assert_eq!(norms.len(), 20);
        assert_eq!(norms.iter().map(|p| p.out).sum::<usize>(), 4_800);
        // State-dict order: conv1, bn1, layer1.0.conv1, layer1.0.bn1, ...; layer2.0's
        // downsample (1x1 conv, bn) after its conv2 and bn2; fc last.
        let kinds: Vec<String> = layout
            .params
            .iter()
            .map(|p| match p.kind {
                ParamKind::Conv { kernel, stride, .. } => format!("conv{kernel}s{stride}"),
                ParamKind::BatchNorm => "bn".into(),
                ParamKind::Linear => "fc".into(),
            })
            .collect();
        assert_eq!(
            kinds[..12].join(" "),
            "conv3s1 bn conv3s1 bn conv3s1 bn conv3s1 bn conv3s1 bn conv3s2 bn"
        );
        assert_eq!(kinds[12..16].join(" "), "conv3s1 bn conv1s2 bn");
        assert_eq!(kinds.last().unwrap(), "fc");
        // Each tensor follows the one before: weight, bias, running mean, running var.
        let mut next = 0;
        for p in &layout.params {
            assert_eq!(p.weight_offset, next);
            next = p.weight_offset + p.len();
            if p.kind == ParamKind::BatchNorm {
                assert_eq!(p.bias_offset, Some(p.weight_offset + p.out));
                assert_eq!(p.buffers_offset, Some(p.weight_offset + 2 * p.out));
            }
        }
        assert_eq!(next, layout.total);
        assert_eq!(layout.output_shape(), &[10]);
        assert_eq!(count("resnet8"), 20_146);
    }

    #[test]
    fn residual_blocks_read_from_toml_and_shape_errors_name_the_block() {
        let text = r#"
name = "tiny-res"
input = [2, 8, 8]
[[layers]]
type = "conv2d"
out = 4
kernel = 3
padding = 1
bias = false
[[layers]]
type = "batch_norm"
[[layers]]
type = "residual"
[[layers.body]]
type = "conv2d"
out = 6
kernel = 3
stride = 2
padding = 1
[[layers.body]]
type = "batch_norm"
eps = 1e-3
[[layers.shortcut]]
type = "conv2d"
out = 6
kernel = 1
stride = 2
[[layers]]
type = "activation"
[[layers]]
type = "global_avg_pool"
[[layers]]
type = "linear"
out = 3
"#;
        let spec = ArchSpec::from_toml(std::path::Path::new("tiny.toml"), text).unwrap();
        assert!(spec.is_residual_or_norm());
        let layout = spec.layout().unwrap();
        // conv 72, bn 16, body conv 216 + 6, bn 24, shortcut conv 24 + 6, linear 18 + 3.
        assert_eq!(layout.total, 72 + 16 + 222 + 24 + 30 + 21);
        assert_eq!(layout.shapes[2], vec![6, 4, 4]);
        // Without the shortcut's stride the two branches differ: the error says so.
        let broken = text.replace("kernel = 1\nstride = 2", "kernel = 1");
        let err = ArchSpec::from_toml(std::path::Path::new("tiny.toml"), &broken)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("tiny.toml") && err.contains("layer 2") && err.contains("[6, 4, 4]"),
            "{err}"
        );
        let err = ArchSpec::from_toml(
            std::path::Path::new("tiny.toml"),
            &text.replace("eps = 1e-3", "eps = 0.0"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("layer 2 body 1") && err.contains("eps"),
            "{err}"
        );
    }

    #[test]
    fn builtin_parameter_counts_match_the_references() {
        assert_eq!(count("cnn_s"), 2464);
        assert_eq!(count("cnn_s_rgb"), 2864);
        assert_eq!(count("cnn3"), 10_853);
        assert_eq!(count("unterthiner_cnn"), 4970);
        assert_eq!(count("tetris_mlp"), 100);
        assert_eq!(count("lenet5"), 62_006);
        for n in BUILTINS.iter().chain(RESIDUAL_BUILTINS) {
            assert_eq!(
                ArchSpec::builtin(n)
                    .unwrap()
                    .layout()
                    .unwrap()
                    .output_shape()
                    .len(),
                1,
                "{n}"
            );
        }
    }

    #[test]
    fn cnn_s_layout_is_pytorch_state_dict_order() {
        let l = ArchSpec::builtin("cnn_s").unwrap().layout().unwrap();
        let per_layer: Vec<usize> = l.params.iter().map(ParamLayer::len).collect();
        assert_eq!(per_layer, vec![208, 1206, 100, 740, 210]);
        let idx: Vec<usize> = l.params.iter().map(|p| p.layer_index).collect();
        assert_eq!(idx, vec![0, 4, 8, 11, 14]);
        let p1 = &l.params[1];
        assert_eq!((p1.weight_offset, p1.bias_offset), (208, Some(208 + 1200)));
        assert_eq!(p1.weight_shape, vec![6, 8, 5, 5]);
        assert_eq!(l.params[3].in_shape, vec![36]);
        assert_eq!(l.shapes[10], vec![36]);
        assert_eq!(l.params[2].fans(), (6 * 4, 4 * 4));
    }

    #[test]
    fn cnn3_rows_and_unterthiner_shapes() {
        let l = ArchSpec::builtin("cnn3").unwrap().layout().unwrap();
        let rows: Vec<usize> = l.params.iter().map(|p| p.out).collect();
        assert_eq!(rows.iter().sum::<usize>(), 93);
        assert_eq!(l.params.iter().map(|p| p.row_len() + 1).max(), Some(289));
        let idx: Vec<usize> = l.params.iter().map(|p| p.layer_index).collect();
        assert_eq!(idx, vec![0, 4, 8, 13, 16]);
        let u = ArchSpec::builtin("unterthiner_cnn")
            .unwrap()
            .layout()
            .unwrap();
        assert_eq!(u.params[2].out_shape, vec![16, 2, 2]); // 28 -> 13 -> 6 -> 2
    }

    #[test]
    fn custom_toml_architecture_and_errors() {
        let p = std::path::Path::new("arch.toml");
        let text = r#"
            name = "tiny"
            input = [1, 8, 8]
            [[layers]]
            type = "conv2d"
            out = 2
            kernel = 3
            padding = 1
            [[layers]]
            type = "activation"
            fn = "relu"
            [[layers]]
            type = "global_avg_pool"
            [[layers]]
            type = "linear"
            out = 3
        "#;
        let spec = ArchSpec::from_toml(p, text).unwrap();
        assert_eq!(spec.param_count().unwrap(), 2 * 9 + 2 + 3 * 2 + 3);
        let e = ArchSpec::from_toml(
            p,
            &text.replace("\"global_avg_pool\"", "\"max_pool\"\nkernel = 2"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("arch.toml") && e.contains("layer 3") && e.contains("flatten"),
            "{e}"
        );
        let e = ArchSpec::from_toml(p, &text.replace("padding = 1", "pading = 1"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("pading"), "{e}");
        let e = ArchSpec::from_toml(p, &text.replace("relu", "swish"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("swish"), "{e}");
    }
}
