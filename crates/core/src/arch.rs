//! Architecture specs: the ordered layers of a zoo's networks, and everything that follows from
//! them without tensors: shapes, the flat parameter layout, parameter counts.
//!
//! The flat layout is PyTorch's state-dict order: for each parametric layer in order, the weight
//! (conv `[out, in, kh, kw]`, linear `[out, in]`, row-major) then the bias `[out]`. A zoo's
//! `[N, P]` weight matrix therefore exchanges with PyTorch users without reshuffling.
//!
//! `Activation` and `Dropout` layers without an explicit function/probability take the model's
//! hyperparameters (a zoo varies them per model); they hold no parameters.
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
    /// Weights plus bias.
    pub fn len(&self) -> usize {
        self.weight_len()
            + if self.bias_offset.is_some() {
                self.out
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
            ParamKind::Linear => 1,
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

impl Layout {
    /// Output shape of the network.
    pub fn output_shape(&self) -> &[usize] {
        self.shapes.last().map(Vec::as_slice).unwrap_or(&[])
    }
}

impl ArchSpec {
    /// Infers shapes and the flat parameter layout, rejecting impossible specs with the layer
    /// index, the layer and the shape it received.
    pub fn layout(&self) -> Result<Layout> {
        let bad = |i: usize, l: &Layer, shape: &[usize], why: &str| Error::InvalidValue {
            what: format!("architecture '{}' layer {i}", self.name),
            value: format!("{l:?} on input shape {shape:?}"),
            expected: why.into(),
        };
        if self.input.contains(&0) {
            return Err(Error::InvalidValue {
                what: format!("architecture '{}' input", self.name),
                value: format!("{:?}", self.input),
                expected: "[channels, height, width], all positive".into(),
            });
        }
        let mut shape = self.input.to_vec();
        let mut offset = 0;
        let mut params = Vec::new();
        let mut shapes = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
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
                    let bias_offset = bias.then_some(offset + wlen);
                    params.push(ParamLayer {
                        layer_index: i,
                        kind: ParamKind::Conv {
                            kernel: *kernel,
                            stride: *stride,
                            padding: *padding,
                        },
                        out: *out,
                        inp: c,
                        weight_shape,
                        weight_offset: offset,
                        bias_offset,
                        in_shape: in_shape.clone(),
                        out_shape: vec![*out, ho, wo],
                    });
                    offset += wlen + if *bias { *out } else { 0 };
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
                    params.push(ParamLayer {
                        layer_index: i,
                        kind: ParamKind::Linear,
                        out: *out,
                        inp: shape[0],
                        weight_shape,
                        weight_offset: offset,
                        bias_offset: bias.then_some(offset + wlen),
                        in_shape: in_shape.clone(),
                        out_shape: vec![*out],
                    });
                    offset += wlen + if *bias { *out } else { 0 };
                    shape = vec![*out];
                }
            }
            shapes.push(shape.clone());
        }
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

fn spatial(shape: &[usize]) -> Option<[usize; 3]> {
    <[usize; 3]>::try_from(shape).ok()
}

/// Names accepted by [`ArchSpec::builtin`].
pub const BUILTINS: &[&str] = &[
    "cnn_s",
    "cnn_s_rgb",
    "cnn3",
    "unterthiner_cnn",
    "tetris_mlp",
    "lenet5",
];

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
    fn builtin_parameter_counts_match_the_references() {
        assert_eq!(count("cnn_s"), 2464);
        assert_eq!(count("cnn_s_rgb"), 2864);
        assert_eq!(count("cnn3"), 10_853);
        assert_eq!(count("unterthiner_cnn"), 4970);
        assert_eq!(count("tetris_mlp"), 100);
        assert_eq!(count("lenet5"), 62_006);
        for n in BUILTINS {
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
