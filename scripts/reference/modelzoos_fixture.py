"""Tiny zoos in the Model Zoos layout (Schürholt et al., NeurIPS 2022 D&B), written by PyTorch.

Writes tests/fixtures/modelzoos/ (a CNN zoo) and tests/fixtures/modelzoos_expected.json
(logits), and tests/fixtures/modelzoos_resnet/ with tests/fixtures/modelzoos_resnet_expected.json
(a zoo of small ResNets with batch norm, named as torchvision names a ResNet-18, wrapped as
[RS] ResNetBase wraps it: keys model.conv1.weight, model.bn1.running_mean, model.layer2.0.
downsample.1.weight, ...), used by tests/import.rs to check `hyperzoo zoo import modelzoos`.
Run:  scripts/reference/setup-venv.sh && .venv-ref/bin/python scripts/reference/modelzoos_fixture.py

The layout is the one ray tune wrote for the published zoos (ModelZooDataset
code/model_definitions/def_NN_experiment.py):
    <zoo>/<experiment>/<trial dir>/params.json          the trial's config (one JSON object)
    <zoo>/<experiment>/<trial dir>/result.json          one JSON object per line, per epoch
    <zoo>/<experiment>/<trial dir>/checkpoint_NNNNNN/checkpoints   torch.save(model.state_dict())
    <zoo>/<experiment>/<trial dir>/checkpoint_NNNNNN/optimizer     torch.save(optimizer.state_dict())
The CNN is def_net.py's `CNN`: a `module_list` where Dropout layers are inserted only when
dropout > 0, so the state-dict keys of a dropout-0.5 model are module_list.{0,4,8,11,14} instead
of module_list.{0,3,6,9,11}. The trial with dropout 0.5 checks that the importer maps tensors by
layer order, not by key names. One trial lacks its last checkpoint (a crashed trial) and the
first result line carries the generators' -999 "no training yet" sentinel.
"""
import json
import pathlib
import shutil

import torch
import torch.nn as nn

from resnet_blocks import BasicBlock

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "modelzoos"
EXPECTED = ROOT / "tests" / "fixtures" / "modelzoos_expected.json"
RES_OUT = ROOT / "tests" / "fixtures" / "modelzoos_resnet"
RES_EXPECTED = ROOT / "tests" / "fixtures" / "modelzoos_resnet_expected.json"

ACTS = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU, "sigmoid": nn.Sigmoid}


class CNN(nn.Module):
    """def_net.py CNN for 1-channel 28x28 input (2464 parameters)."""

    def __init__(self, nlin, dropout):
        super().__init__()
        a = ACTS[nlin]
        layers = [nn.Conv2d(1, 8, 5), nn.MaxPool2d(2, 2), a()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.Conv2d(8, 6, 5), nn.MaxPool2d(2, 2), a()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.Conv2d(6, 4, 2), a(), nn.Flatten(), nn.Linear(36, 20), a()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.Linear(20, 10)]
        self.module_list = nn.ModuleList(layers)

    def forward(self, x):
        for m in self.module_list:
            x = m(x)
        return x


class TvResNet(nn.Module):
    """torchvision's ResNet layout with one BasicBlock per stage (conv1 3x3 stride 1, no max
    pooling, as [RS] ResNetBase has it): hyperzoo's resnet8."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = nn.Sequential(BasicBlock(8, 8, 1))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, 2))
        self.layer3 = nn.Sequential(BasicBlock(16, 32, 2))
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(x.mean(dim=(2, 3)))


class ResNetBase(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = TvResNet()

    def forward(self, x):
        return self.model(x)


def resnet_zoo():
    """Two ResNet trials, SGD as the Model Zoos train them, checkpoints 0..2 (a few training
    steps each, so that the running statistics move)."""
    if RES_OUT.exists():
        shutil.rmtree(RES_OUT)
    exp = RES_OUT / "tune_zoo_resnet_tiny"
    exp.mkdir(parents=True)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 1, 28, 28, generator=g)
    xt = torch.randn(32, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (32,), generator=g)
    expected = {"inputs": x.flatten().tolist(), "input_shape": [4, 1, 28, 28], "models": []}
    for k, seed in enumerate([11, 12]):
        torch.manual_seed(seed)
        model = ResNetBase()
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
        name = f"NN_tune_trainable_bbbb2_0000{k}_{k}"
        d = exp / name
        d.mkdir()
        config = {
            "model::type": "Resnet18",
            "model::o_dim": 10,
            "model::init_type": "kaiming_uniform",
            "optim::optimizer": "sgd",
            "optim::lr": 0.05,
            "optim::wd": 5e-4,
            "optim::momentum": 0.9,
            "seed": seed,
            "training::batchsize": 32,
            "training::epochs_train": 60,
            "cuda": False,
            "dataset::dump": "/zoos/MNIST/tune_zoo_resnet_tiny/dataset.pt",
        }
        (d / "params.json").write_text(json.dumps(config))
        lines, logits = [], {}
        for epoch in range(3):
            if epoch > 0:
                model.train()
                for _ in range(3):
                    opt.zero_grad()
                    nn.functional.cross_entropy(model(xt), y).backward()
                    opt.step()
            model.eval()
            with torch.no_grad():
                out = model(x)
            c = d / f"checkpoint_{epoch:06d}"
            c.mkdir()
            torch.save(model.state_dict(), c / "checkpoints")
            logits[str(epoch)] = out.flatten().tolist()
            lines.append({"test_acc": 0.1 * (epoch + 1), "test_loss": 2.3, "training_iteration": epoch})
        (d / "result.json").write_text("".join(json.dumps(l) + "\n" for l in lines))
        expected["models"].append({"dir": name, "logits": logits})
    RES_EXPECTED.write_text(json.dumps(expected))
    print(f"wrote {RES_OUT} and {RES_EXPECTED}")


def init(model, init_type):
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if init_type == "uniform":
                nn.init.uniform_(m.weight)
            elif init_type == "normal":
                nn.init.normal_(m.weight)
            elif init_type == "kaiming_uniform":
                nn.init.kaiming_uniform_(m.weight)
            elif init_type == "kaiming_normal":
                nn.init.kaiming_normal_(m.weight)
            nn.init.constant_(m.bias, 0.01)


TRIALS = [
    # name, seed, nlin, dropout, init, optimizer, lr, wd, epochs written
    ("NN_tune_trainable_aaaa1_00000_0", 1, "tanh", 0.0, "uniform", "adam", 1e-3, 1e-4, 3),
    ("NN_tune_trainable_aaaa1_00001_1", 2, "relu", 0.5, "kaiming_uniform", "sgd", 1e-4, 1e-3, 3),
    ("NN_tune_trainable_aaaa1_00002_2", 3, "gelu", 0.0, "normal", "adam", 1e-4, 1e-3, 2),
]
EPOCHS = 2  # checkpoints 0..2; trial 2 crashed after epoch 1


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    exp = OUT / "tune_zoo_mnist_hyperparameter_10_fixed_seeds"
    exp.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (16,), generator=g)
    xt = torch.randn(16, 1, 28, 28, generator=g)
    expected = {"inputs": x.flatten().tolist(), "input_shape": [4, 1, 28, 28], "models": []}
    for name, seed, nlin, dropout, init_type, opt_name, lr, wd, written in TRIALS:
        torch.manual_seed(seed)
        model = CNN(nlin, dropout)
        init(model, init_type)
        if opt_name == "adam":
            opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
        else:
            opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=wd)
        d = exp / name
        d.mkdir()
        config = {
            "model::type": "CNN",
            "model::channels_in": 1,
            "model::o_dim": 10,
            "model::nlin": nlin,
            "model::dropout": dropout,
            "model::init_type": init_type,
            "optim::optimizer": opt_name,
            "optim::lr": lr,
            "optim::wd": wd,
            "optim::momentum": 0.9,
            "seed": seed,
            "training::batchsize": 10,
            "training::epochs_train": 50,
            "cuda": False,
            "dataset::dump": "/zoos/MNIST/tune_zoo_mnist_hyperparameter_10_fixed_seeds/dataset.pt",
        }
        (d / "params.json").write_text(json.dumps(config))
        lines = []
        logits = {}
        for epoch in range(EPOCHS + 1):
            if epoch > 0:
                model.train()
                for _ in range(3):
                    opt.zero_grad()
                    loss = nn.functional.cross_entropy(model(xt), y)
                    loss.backward()
                    opt.step()
            model.eval()
            with torch.no_grad():
                out = model(x)
            if epoch < written:
                c = d / f"checkpoint_{epoch:06d}"
                c.mkdir()
                torch.save(model.state_dict(), c / "checkpoints")
                torch.save(opt.state_dict(), c / "optimizer")
                logits[str(epoch)] = out.flatten().tolist()
                acc = 0.1 * (epoch + 1) + 0.01 * seed
                lines.append(
                    {
                        "train_loss": -999 if epoch == 0 else 2.0 - 0.1 * epoch,
                        "train_acc": -999 if epoch == 0 else acc + 0.05,
                        "test_loss": 2.3 - 0.1 * epoch,
                        "test_acc": acc,
                        "val_loss": 2.25 - 0.1 * epoch,
                        "val_acc": acc + 0.01,
                        "training_iteration": epoch,
                        "trial_id": name.split("_")[3],
                    }
                )
        (d / "result.json").write_text("".join(json.dumps(l) + "\n" for l in lines))
        expected["models"].append({"dir": name, "logits": logits})
    EXPECTED.write_text(json.dumps(expected))
    print(f"wrote {OUT} and {EXPECTED}")
    resnet_zoo()


if __name__ == "__main__":
    main()
