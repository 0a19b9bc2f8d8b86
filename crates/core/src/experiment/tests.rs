use super::*;

/// Every section and (almost) every key, with non-default values. Line numbers matter to the
/// tests below: line 1 is `name`.
const FULL: &str = r#"name = "full"
description = "every section"
seed = 7
device = "cuda:1"

[zoo]
path = "tetris-seed"
epochs = [25, 21, 22, 23, 24, 21]
max_abs_weight = 100.0
max_models = 200

[model]
kind = "transformer"
encoding = "weight"
compression_token = false
d_model = 128
heads = 8
layers = 3
d_ff = 256
latent = 30
dropout = 0.2

[head]
kind = "mlp"
layers = 2
hidden = 40
out = 10

[loss]
gamma = 0.05
beta = 0.1
contrast = "positive"
temperature = 0.2
reconstruction = "layerwise"
behaviour = "kl"
temperature_kd = 3.0
queries = 128
query_set = "union"
normalize_terms = false

[augment]
permutation = false
canonical_views = [true, false]
canonicalize = true
noise = 0.1
noise_kind = "multiplicative"
erase = 0.5
erase_scale = [0.05, 0.2]

[normalize]
weights = "none"

[train]
epochs = 100
batch_size = 32
optimizer = "adam"
lr = 1e-5
weight_decay = 3e-9
schedule = "onecycle"
onecycle = { pct_start = 0.25, div_factor = 10.0, final_div_factor = 1e3 }
plateau = { factor = 0.5, patience = 5, threshold = 1e-3 }
grad_clip = 1.0
eval_every = 5
checkpoint_every = 10
keep_last = 2

[grid]
"loss.gamma" = [0.0, 0.5, 1.0]
"augment.noise" = [0.0, 0.05]
seed = { from = 1, to = 2 }
"train.batch_size" = [32]
"#;

const MINIMAL: &str = "name = \"q\"\n[zoo]\npath = \"tetris-seed\"\n";

fn parse(text: &str) -> Result<Experiment> {
    Experiment::parse(Path::new("experiments/x.toml"), text)
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

/// The error names the file with the line, the key and the value.
#[track_caller]
fn assert_names(e: &str, line: usize, key: &str, value: &str) {
    assert!(
        e.starts_with(&format!("experiments/x.toml:{line}: ")),
        "expected line {line}: {e}"
    );
    assert!(e.contains(key) && e.contains(value), "{key} = {value}: {e}");
}

/// The line of the first occurrence of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle} not in text"))
        + 1
}

#[test]
fn full_example_parses_with_every_value() {
    let x = parse(FULL).unwrap();
    assert_eq!(x.name, "full");
    assert_eq!((x.seed, x.device), (7, DeviceSpec::Cuda(1)));
    assert_eq!(x.zoo.path.as_deref(), Some("tetris-seed"));
    assert_eq!(x.zoo.epochs, EpochSelection::List(vec![21, 22, 23, 24, 25]));
    assert_eq!((x.zoo.max_abs_weight, x.zoo.max_models), (100.0, Some(200)));
    let ModelSpec::Transformer(t) = &x.model else {
        panic!("{:?}", x.model)
    };
    assert_eq!(
        (t.encoding, t.compression_token, t.d_model, t.heads),
        (TokenEncoding::Weight, false, 128, 8)
    );
    assert_eq!((t.layers, t.d_ff, t.latent, t.dropout), (3, 256, 30, 0.2));
    assert_eq!(
        x.head,
        HeadSpec::Mlp(MlpHead {
            layers: 2,
            hidden: 40,
            out: 10
        })
    );
    let l = &x.loss;
    assert_eq!((l.gamma, l.beta, l.temperature), (0.05, 0.1, 0.2));
    assert_eq!(
        (l.contrast, l.reconstruction, l.behaviour, l.query_set),
        (
            ContrastKind::Positive,
            ReconstructionKind::Layerwise,
            BehaviourKind::Kl,
            QuerySet::Union
        )
    );
    assert_eq!(
        (l.temperature_kd, l.queries, l.normalize_terms),
        (3.0, 128, false)
    );
    let a = &x.augment;
    assert_eq!(
        (a.permutation, a.canonical_views, a.canonicalize),
        (false, [true, false], true)
    );
    assert_eq!(
        a.noise(),
        Some(crate::augment::Noise::Multiplicative { sigma: 0.1 })
    );
    assert_eq!((a.erase, a.erase_scale), (0.5, [0.05, 0.2]));
    assert_eq!(x.normalize.weights, WeightNorm::None);
    let tr = &x.train;
    assert_eq!(
        (
            tr.epochs,
            tr.batch_size,
            tr.optimizer,
            tr.lr,
            tr.weight_decay
        ),
        (100, 32, Optimizer::Adam, 1e-5, 3e-9)
    );
    assert_eq!(tr.schedule, Schedule::OneCycle);
    assert_eq!(
        tr.onecycle,
        OneCycle {
            pct_start: 0.25,
            div_factor: 10.0,
            final_div_factor: 1e3
        }
    );
    assert_eq!(
        tr.plateau,
        Plateau {
            factor: 0.5,
            patience: 5,
            threshold: 1e-3
        }
    );
    assert_eq!(
        (
            tr.grad_clip,
            tr.eval_every,
            tr.checkpoint_every,
            tr.keep_last
        ),
        (1.0, 5, 10, 2)
    );
    assert_eq!(x.grid.len(), 3 * 2 * 2);
    assert_eq!(x.path(), Path::new("experiments/x.toml"));
    assert_eq!(x.dir(), Path::new("experiments"));
}

#[test]
fn to_toml_round_trips() {
    let x = parse(FULL).unwrap();
    let text = x.to_toml();
    let y = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(x, y, "{text}");
    // Defaults are written out, infinities and every kind included.
    let m = parse(MINIMAL).unwrap();
    let text = m.to_toml();
    assert!(text.contains("max_abs_weight = inf"), "{text}");
    assert!(text.contains("kind = \"transformer\""), "{text}");
    assert_eq!(parse(&text).unwrap(), m);
    let sane = MINIMAL.to_string() + "[model]\nkind = \"sane\"\n[head]\nkind = \"sane\"\n";
    let s = parse(&sane).unwrap();
    assert_eq!(parse(&s.to_toml()).unwrap(), s);
    let fc = MINIMAL.to_string() + "[model]\nkind = \"fc\"\nhidden_layers = 4\n";
    let f = parse(&fc).unwrap();
    assert_eq!(parse(&f.to_toml()).unwrap(), f);
    // The runs of a grid round-trip too, without a grid.
    for (_, run) in x.expand().unwrap() {
        let text = run.to_toml();
        assert!(!text.contains("[grid]"), "{text}");
        assert_eq!(parse(&text).unwrap(), run);
    }
}

#[test]
fn defaults_fill_an_almost_empty_file() {
    let x = parse(MINIMAL).unwrap();
    assert_eq!(x.name, "q");
    assert_eq!(x.description, "");
    assert_eq!((x.seed, x.device), (DEFAULT_SEED, DeviceSpec::Auto));
    assert_eq!(
        x.zoo,
        ZooSection {
            path: Some("tetris-seed".into()),
            ..ZooSection::default()
        }
    );
    assert_eq!(x.zoo.epochs, EpochSelection::Last);
    assert_eq!(x.zoo.max_abs_weight, f64::INFINITY);
    assert_eq!(x.model, ModelSpec::Transformer(TransformerSpec::default()));
    let ModelSpec::Transformer(t) = &x.model else {
        unreachable!()
    };
    assert_eq!(
        (t.d_model, t.heads, t.layers, t.d_ff, t.latent, t.dropout),
        (256, 4, 2, 512, 50, 0.1)
    );
    assert_eq!(x.head, HeadSpec::Mlp(MlpHead::default()));
    assert_eq!(x.loss, LossSection::default());
    assert_eq!(
        (x.loss.gamma, x.loss.beta, x.loss.temperature),
        (0.5, 1.0, 0.1)
    );
    assert_eq!(x.augment, AugmentSection::default());
    assert!(x.augment.permutation && x.augment.noise().is_none());
    assert_eq!(x.normalize.weights, WeightNorm::Layer);
    assert_eq!(x.train, TrainSection::default());
    assert_eq!(
        (
            x.train.epochs,
            x.train.batch_size,
            x.train.optimizer,
            x.train.lr
        ),
        (50, 64, Optimizer::AdamW, 1e-4)
    );
    assert!(x.grid.axes.is_empty());
    let runs = x.expand().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].0, "q");
    // Per-kind defaults when only the kind is given.
    let s = parse(&(MINIMAL.to_string() + "[model]\nkind = \"sane\"\n")).unwrap();
    assert_eq!(s.model, ModelSpec::Sane(SaneSpec::default()));
    let ModelSpec::Sane(sp) = &s.model else {
        unreachable!()
    };
    assert_eq!(
        (sp.d_model, sp.heads, sp.layers, sp.latent, sp.max_positions),
        (256, 8, 8, 64, [500, 50, 100])
    );
    // [model] without kind is a transformer.
    let t = parse(&(MINIMAL.to_string() + "[model]\nlatent = 20\n")).unwrap();
    assert_eq!(t.model.kind(), "transformer");
    assert_eq!(t.model.latent(), 20);
}

#[test]
fn toml_errors_carry_file_and_line() {
    // A syntax error.
    let e = err(&(MINIMAL.to_string() + "[loss\n"));
    assert!(e.starts_with("experiments/x.toml:4: "), "{e}");
    // toml's own message for a wrong type, at the right line.
    let text = MINIMAL.to_string() + "[train]\nepochs = \"many\"\n";
    let e = err(&text);
    assert_names(&e, 5, "train.epochs", "\"many\"");
    assert!(e.contains("expected usize"), "{e}");
}

#[test]
fn unknown_top_level_key() {
    let text = "name = \"q\"\nepoch = 3\n[zoo]\npath = \"z\"\n";
    let e = err(text);
    assert_names(&e, 2, "epoch", "3");
    assert!(e.contains("unknown field") && e.contains("train"), "{e}");
    // An unknown section.
    let e = err(&(MINIMAL.to_string() + "[optimizer]\nlr = 1.0\n"));
    assert_names(&e, 4, "optimizer", "(table)");
}

#[test]
fn unknown_key_for_the_chosen_model_kind() {
    // `heads` belongs to transformer and sane, not fc.
    let text = MINIMAL.to_string() + "[model]\nkind = \"fc\"\nlatent = 20\nheads = 4\n";
    let e = err(&text);
    assert_names(&e, line_of(&text, "heads"), "model.heads", "4");
    assert!(e.contains("hidden_layers"), "lists the fc keys: {e}");
    // `hidden_layers` belongs to fc only; the kind defaults to transformer.
    let text = MINIMAL.to_string() + "[model]\nhidden_layers = 3\n";
    let e = err(&text);
    assert_names(&e, 5, "model.hidden_layers", "3");
    assert!(e.contains("d_model"), "{e}");
    // Head keys for the sane head.
    let text = MINIMAL.to_string() + "[head]\nkind = \"sane\"\nout = 3\n";
    assert_names(&err(&text), 6, "head.out", "3");
    // An unknown kind, and a kind that is no string.
    let text = MINIMAL.to_string() + "[model]\nkind = \"resnet\"\n";
    let e = err(&text);
    assert_names(&e, 5, "model.kind", "\"resnet\"");
    assert!(e.contains("transformer") && e.contains("sane"), "{e}");
    let e = err(&(MINIMAL.to_string() + "[model]\nkind = 3\n"));
    assert_names(&e, 5, "model.kind", "3");
    assert!(e.contains("fc"), "{e}");
}

#[test]
fn wrong_types_are_named() {
    let cases = [
        ("[loss]\ngamma = \"half\"\n", "loss.gamma", "\"half\""),
        (
            "[loss]\ncontrast = \"simclr\"\n",
            "loss.contrast",
            "\"simclr\"",
        ),
        (
            "[train]\nonecycle = { pct_start = true }\n",
            "train.onecycle.pct_start",
            "true",
        ),
        ("[zoo.x]\n", "zoo.x", "(table)"),
        (
            "[augment]\ncanonical_views = [true]\n",
            "augment.canonical_views",
            "[true]",
        ),
        (
            "[model]\nkind = \"transformer\"\nd_model = -8\n",
            "model.d_model",
            "-8",
        ),
    ];
    for (extra, key, value) in cases {
        let text = MINIMAL.to_string() + extra;
        let e = err(&text);
        let last = text.lines().count();
        assert_names(&e, last, key, value);
    }
    // zoo.epochs takes "last", "all" or a list.
    let text = MINIMAL.to_string() + "epochs = \"some\"\n";
    let e = err(&text);
    assert_names(&e, 4, "zoo.epochs", "\"some\"");
    assert!(e.contains("\"all\""), "{e}");
    let ok = parse(&(MINIMAL.to_string() + "epochs = \"all\"\n")).unwrap();
    assert_eq!(ok.zoo.epochs, EpochSelection::All);
    let e = err(&(MINIMAL.to_string() + "epochs = [1, -2]\n"));
    assert_names(&e, 4, "zoo.epochs", "[1, -2]");
    // The device names the accepted forms.
    let e = err(&format!("device = \"tpu\"\n{MINIMAL}"));
    assert_names(&e, 1, "device", "\"tpu\"");
    assert!(e.contains("cuda:N"), "{e}");
    // Integers are accepted for floats.
    assert_eq!(
        parse(&(MINIMAL.to_string() + "[loss]\ngamma = 1\n"))
            .unwrap()
            .loss
            .gamma,
        1.0
    );
    // A missing name.
    let e = err("[zoo]\npath = \"z\"\n");
    assert!(e.contains("name") && e.contains("required"), "{e}");
}

#[test]
fn out_of_range_values_are_named() {
    let cases = [
        ("[loss]\ngamma = 1.5\n", "loss.gamma", "1.5", "[0, 1]"),
        ("[loss]\nbeta = -0.5\n", "loss.beta", "-0.5", "[0, 1]"),
        (
            "[loss]\ntemperature = 0.0\n",
            "loss.temperature",
            "0.0",
            "> 0",
        ),
        ("[model]\ndropout = 1.0\n", "model.dropout", "1.0", "[0, 1)"),
        ("[model]\nlatent = 0\n", "model.latent", "0", ">= 1"),
        ("[head]\nhidden = 0\n", "head.hidden", "0", ">= 1"),
        ("[augment]\nerase = 2\n", "augment.erase", "2", "[0, 1]"),
        (
            "[augment]\nnoise = -1e-3\n",
            "augment.noise",
            "-1e-3",
            ">= 0",
        ),
        (
            "[augment]\nerase_scale = [0.5, 0.1]\n",
            "augment.erase_scale",
            "[0.5, 0.1]",
            "lo <= hi",
        ),
        ("[train]\nlr = 0\n", "train.lr", "0", "> 0"),
        ("[train]\nbatch_size = 1\n", "train.batch_size", "1", ">= 2"),
        (
            "[train]\nplateau = { factor = 1.5 }\n",
            "train.plateau.factor",
            "1.5",
            "(0, 1)",
        ),
        ("max_abs_weight = 0\n", "zoo.max_abs_weight", "0", "> 0"),
        ("max_models = 0\n", "zoo.max_models", "0", ">= 1"),
        ("epochs = []\n", "zoo.epochs", "[]", "non-empty"),
    ];
    for (extra, key, value, expected) in cases {
        let text = MINIMAL.to_string() + extra;
        let e = err(&text);
        assert_names(&e, text.lines().count(), key, value);
        assert!(e.contains(expected), "{expected}: {e}");
    }
    // The full message form.
    let text = MINIMAL.to_string() + "[loss]\ngamma = 1.5\n";
    assert_eq!(
        err(&text),
        "experiments/x.toml:5: loss.gamma = 1.5: a number in [0, 1]"
    );
    // A batch of one is fine without the contrastive term.
    let text = MINIMAL.to_string() + "[loss]\ngamma = 0\n[train]\nbatch_size = 1\n";
    assert!(parse(&text).is_ok());
    // Names must be usable as directories.
    let e = err("name = \"a/b\"\n[zoo]\npath = \"z\"\n");
    assert_names(&e, 1, "name", "\"a/b\"");
}

#[test]
fn heads_must_divide_d_model() {
    let text = MINIMAL.to_string() + "[model]\nd_model = 100\nheads = 3\n";
    let e = err(&text);
    assert_names(&e, 6, "model.heads", "3");
    assert!(e.contains("divisor of model.d_model (100)"), "{e}");
    // With the default heads (4), the line of d_model is shown.
    let text = MINIMAL.to_string() + "[model]\nd_model = 30\n";
    let e = err(&text);
    assert_names(&e, 5, "model.heads", "4");
    // SANE: the same, and d_model must be even.
    let text = MINIMAL.to_string() + "[model]\nkind = \"sane\"\nd_model = 255\nheads = 5\n";
    let e = err(&text);
    assert_names(&e, 6, "model.d_model", "255");
    assert!(e.contains("even"), "{e}");
    let text = MINIMAL.to_string() + "[model]\nkind = \"sane\"\nheads = 7\n";
    assert_names(&err(&text), 6, "model.heads", "7");
}

#[test]
fn grid_expands_to_named_runs() {
    let x = parse(FULL).unwrap();
    let runs = x.expand().unwrap();
    assert_eq!(runs.len(), 12);
    let names: Vec<&str> = runs.iter().map(|(n, _)| n.as_str()).collect();
    // Keys sorted, the last varying fastest; single-valued keys are not in the names.
    assert_eq!(names[0], "full-augment.noise=0.0-loss.gamma=0.0-seed=1");
    assert_eq!(names[1], "full-augment.noise=0.0-loss.gamma=0.0-seed=2");
    assert_eq!(names[2], "full-augment.noise=0.0-loss.gamma=0.5-seed=1");
    assert_eq!(names[11], "full-augment.noise=0.05-loss.gamma=1.0-seed=2");
    let distinct: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(distinct.len(), 12);
    for (name, run) in &runs {
        assert_eq!(&run.name, name);
        assert!(run.grid.axes.is_empty());
        assert_eq!(run.train.batch_size, 32);
        // Everything the grid does not touch is as in the file.
        assert_eq!(run.model, x.model);
        assert_eq!(run.zoo, x.zoo);
    }
    let (_, last) = &runs[11];
    assert_eq!(
        (last.augment.noise, last.loss.gamma, last.seed),
        (0.05, 1.0, 2)
    );
    // The brief's example name.
    let text =
        MINIMAL.to_string() + "[grid]\n\"loss.gamma\" = [0.5]\n\"augment.noise\" = [0.0, 0.05]\n";
    let runs = parse(&text).unwrap().expand().unwrap();
    let names: Vec<&str> = runs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["q-augment.noise=0.0", "q-augment.noise=0.05"]);
    assert_eq!(runs[1].1.loss.gamma, 0.5);
}

#[test]
fn grid_over_nested_keys_and_kinds() {
    // Unquoted dotted keys are nested tables; three levels deep works.
    let text = MINIMAL.to_string()
        + "[grid]\ntrain.onecycle.pct_start = [0.1, 0.2]\nmodel.kind = [\"transformer\", \"fc\"]\n";
    let x = parse(&text).unwrap();
    assert_eq!(
        x.grid.axes.keys().collect::<Vec<_>>(),
        ["model.kind", "train.onecycle.pct_start"]
    );
    let runs = x.expand().unwrap();
    assert_eq!(runs.len(), 4);
    assert_eq!(
        runs[0].0,
        "q-model.kind=transformer-train.onecycle.pct_start=0.1"
    );
    assert_eq!(runs[3].1.model, ModelSpec::Fc(FcSpec::default()));
    assert_eq!(runs[3].1.train.onecycle.pct_start, 0.2);
    // Strings in names lose characters that do not belong in directory names.
    let text = MINIMAL.to_string() + "[grid]\ndescription = [\"a b\", \"c/d\"]\n";
    let names: Vec<String> = parse(&text)
        .unwrap()
        .expand()
        .unwrap()
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(names, ["q-description=a_b", "q-description=c_d"]);
}

#[test]
fn invalid_grid_values_are_named() {
    // A value out of range: the grid key's line, the grid key, the value and the run.
    let text = MINIMAL.to_string() + "[loss]\ngamma = 0.5\n[grid]\n\"loss.gamma\" = [0.5, 1.5]\n";
    let e = err(&text);
    assert_names(&e, 7, "grid.loss.gamma", "1.5");
    assert!(
        e.contains("run q-loss.gamma=1.5") && e.contains("[0, 1]"),
        "{e}"
    );
    // A value of the wrong type.
    let text = MINIMAL.to_string() + "[grid]\n\"train.epochs\" = [10, \"x\"]\n";
    let e = err(&text);
    assert_names(&e, 5, "grid.train.epochs", "\"x\"");
    // A combination that is invalid, blamed on a grid key of the same table.
    let text = MINIMAL.to_string() + "[grid]\n\"model.heads\" = [4, 3]\n";
    let e = err(&text);
    assert_names(&e, 5, "grid.model.heads", "3");
    assert!(e.contains("divisor"), "{e}");
    // A key that does not exist, in a known table and outside any.
    let text = MINIMAL.to_string() + "[grid]\n\"loss.gama\" = [0.1]\n";
    let e = err(&text);
    assert_names(&e, 5, "grid.loss.gama", "0.1");
    assert!(e.contains("unknown field"), "{e}");
    let text = MINIMAL.to_string() + "[grid]\nlr = [0.1, 0.2]\n";
    let e = err(&text);
    assert_names(&e, 5, "grid.lr", "[0.1, 0.2]");
    assert!(e.contains("section.key"), "{e}");
    // A whole table, the name, and a key of the wrong kind.
    let text = MINIMAL.to_string() + "[grid]\nloss = [1, 2]\n";
    assert_names(&err(&text), 5, "grid.loss", "[1, 2]");
    let text = MINIMAL.to_string() + "[grid]\nname = [\"a\", \"b\"]\n";
    assert_names(&err(&text), 5, "grid.name", "[\"a\", \"b\"]");
    let text = MINIMAL.to_string() + "[grid]\n\"model.hidden_layers\" = [1, 2]\n";
    assert_names(&err(&text), 5, "grid.model.hidden_layers", "1");
    // Bad grid syntax, from crate::grid.
    let text = MINIMAL.to_string() + "[grid]\nseed = 3\n";
    let e = err(&text);
    assert_names(&e, 5, "grid.seed", "3");
    assert!(e.contains("non-empty list"), "{e}");
    let text = MINIMAL.to_string() + "[grid]\nseed = { from = 5, to = 1 }\n";
    assert_names(&err(&text), 5, "grid.seed", "from");
    // Distinct values that print the same give the same run name.
    let text = MINIMAL.to_string() + "[grid]\n\"loss.gamma\" = [0.5, 5e-1]\n";
    let e = err(&text);
    assert!(
        e.contains("two runs would be named q-loss.gamma=0.5"),
        "{e}"
    );
}

#[test]
fn a_changed_experiment_expands_from_its_values() {
    let mut x = parse(FULL).unwrap();
    x.train.epochs = 7;
    x.grid.axes.remove("seed");
    let runs = x.expand().unwrap();
    assert_eq!(runs.len(), 6);
    assert!(runs.iter().all(|(_, r)| r.train.epochs == 7 && r.seed == 7));
}

#[test]
fn zoo_path_and_definition_are_exclusive() {
    let e = err("name = \"q\"\n[zoo]\npath = \"a\"\ndefinition = \"b.toml\"\n");
    assert_names(&e, 4, "zoo.definition", "\"b.toml\"");
    assert!(e.contains("only one of zoo.path"), "{e}");
    let e = err("name = \"q\"\n[zoo]\nepochs = \"all\"\n");
    assert_names(&e, 2, "zoo.path", "(not set)");
    assert!(e.contains("zoo.definition"), "{e}");
    let e = err("name = \"q\"\n");
    assert_names(&e, 1, "zoo.path", "(not set)");
    let d = parse("name = \"q\"\n[zoo]\ndefinition = \"zoos/tetris-seed.toml\"\n").unwrap();
    assert!(d.zoo.is_definition());
    assert!(!parse(MINIMAL).unwrap().zoo.is_definition());
}

#[test]
fn zoo_paths_resolve_against_the_file_then_the_workspace() {
    let tmp = tempfile::tempdir().unwrap();
    let exp_dir = tmp.path().join("experiments");
    let ws = tmp.path().join("ws");
    std::fs::create_dir_all(exp_dir.join("local-zoo")).unwrap();
    let zoo = |path: &str| ZooSection {
        path: Some(path.into()),
        ..ZooSection::default()
    };
    assert_eq!(
        zoo("local-zoo").resolve(&exp_dir, &ws),
        exp_dir.join("local-zoo")
    );
    assert_eq!(
        zoo("tetris-seed").resolve(&exp_dir, &ws),
        ws.join("zoos/tetris-seed")
    );
    let abs = tmp.path().join("elsewhere");
    assert_eq!(zoo(abs.to_str().unwrap()).resolve(&exp_dir, &ws), abs);
    let def = ZooSection {
        definition: Some("zoos/tetris-seed.toml".into()),
        ..ZooSection::default()
    };
    assert_eq!(
        def.resolve(&exp_dir, &ws),
        exp_dir.join("zoos/tetris-seed.toml")
    );
    // Through a loaded experiment: relative to the file's directory.
    let file = exp_dir.join("x.toml");
    std::fs::write(&file, "name = \"q\"\n[zoo]\npath = \"local-zoo\"\n").unwrap();
    let x = Experiment::load(&file).unwrap();
    assert_eq!(x.zoo_location(&ws), exp_dir.join("local-zoo"));
    let e = Experiment::load(&exp_dir.join("missing.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.toml"), "{e}");
}
