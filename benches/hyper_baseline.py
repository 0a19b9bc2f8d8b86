"""Baseline for `hyperzoo bench hyper`: hyper-representation training steps in plain PyTorch, as the
reference code runs them (one model, one loss, one optimizer step per batch), and report training
samples (zoo networks) per second.

Run (full torch wheel in .venv-ref, see scripts/reference/setup-venv.sh), beside
`hyperzoo bench hyper` on the same machine with the same flags and thread count:
    .venv-ref/bin/python benches/hyper_baseline.py --model r21-mnist --threads 2
    .venv-ref/bin/python benches/hyper_baseline.py --model sane-2025 --threads 2
    .venv-ref/bin/python benches/hyper_baseline.py --model sane-2025 --behaviour --threads 2
    .venv-ref/bin/python benches/hyper_baseline.py --model sane-resnet18 --batch 1 --steps 2 \
        --warmup 1 --threads 2

Models (mirroring crates/engine/src/hyper/{nn,model,loss}.rs; reference.md §3.1, §3.2, §4, §6):
- r21-mnist: the 2021 transformer AE at its MNIST-Seed size. CNN-s networks (2464 parameters) as
  48 neuron tokens in 5 groups (8x26, 6x201, 4x25, 20x37, 10x21 values), one Linear embedder per
  group to d_model 800, learned compression token, learned positions, 2 pre-norm blocks (layer
  norm alpha*(x-mean)/(unbiased std + 1e-6)+beta, separate q/k/v Linear with bias, 4 heads,
  attention dropout 0.1, FF Linear(800->900)-ReLU-Dropout-Linear, dropout 0.1), compression-token
  output -> Linear(800->700) -> tanh; decoder Linear(700->48*800) + positions, 2 blocks, one
  Linear debedder per group, scattered back to the flat vector. Projection head 4/400/50 (Linear +
  BatchNorm1d(train mode) + ReLU, last Linear + BatchNorm). Loss 0.1*NT-Xent(tau 0.1) on the head
  outputs of the two views + 0.9*MSE(reconstruction, input). Adam lr 1e-4 (no weight decay).
- sane-2025: SANE as in the 2025 paper. CNN3 networks (10,853 parameters) as 93 tokens of 289
  values (one token per output row: 16 rows of 28, 32 of 145, 15 of 289, 20 of 61, 10 of 21, zero
  padded), positions (n = 0..92, l = layer 0..4, c = row in layer); Linear(289->256) tokenizer +
  position embedding E1(n)+E2(l) (128) concatenated with E3(c) (128), tables [500, 50, 100];
  8 GPT-2 style blocks (LayerNorm without bias, fused qkv and projections without bias, 8 heads,
  SDPA attention, MLP 4d with GELU, no dropout), per-token Linear(256->64) latent; decoder
  Linear(64->256) + the same positions, 8 blocks, Linear(256->289). SANE head: flatten(93*64) ->
  Linear(30, no bias) -> LayerNorm -> ReLU -> Linear(30, 30, no bias) -> LayerNorm -> ReLU. Loss
  0.05*NT-Xent(tau 0.1) + 0.95*masked MSE. AdamW lr 1e-4, weight decay 3e-9 on >=2-D parameters
  only (0 on norms and biases).
- sane-2025 --behaviour: the 2025 C+S+B loss, 0.05*NT-Xent + 0.95*[0.1*S/s_S + 0.9*B/s_B]
  (s_S, s_B = the terms' values on the first step, frozen); B = MSE(softmax(y_rec),
  softmax(y_orig)) per network (nan_to_num, non-finite networks dropped, mean over networks),
  where every decoded token sequence of the batch (both views) is mapped back to the 10,853 flat
  CNN3 weights (the real slots of the tokens, PyTorch state-dict order) and run, together with
  the original, on Q = 256 random U[0,1) 3x32x32 query images (fresh every step); the original
  branch under no_grad. CNN3 = Conv(3->16,k3)-MaxPool2-ReLU, Conv(16->32,k3)-MaxPool2-ReLU,
  Conv(32->15,k3)-MaxPool2-ReLU, Flatten(60), Linear(60->20)-ReLU, Linear(20->10). The networks
  run functionally, all of them at once: `--behaviour-impl grouped` (default; as the Rust
  population forward: the first conv as one ungrouped conv with N*16 filters on the shared
  queries, the others as grouped convs with groups = N, the linears as batched matmuls) or
  `--behaviour-impl vmap` (torch.func.functional_call over an nn.Module under torch.func.vmap,
  as [R25] does). Same optimizer (the learning rate does not change the cost of a step).

- sane-resnet18: SANE at [RS]'s ResNet-18 setting (pretrain_sane_cifar100_resnet18.py, reference.md
  §3.2): the same modules at token size 288, d_model 2048, 16 heads, 8 + 8 blocks, latent 128,
  position tables [55000, 100, 550], on windows of 256 of a ResNet-18's 53,524 tokens; SANE head on
  256*128 = 32,768 inputs; same loss and optimizer as sane-2025 (no behavioural loss: a window is
  not a whole network). Inputs: random normal tokens [N, 256, 288] with every slot real (the real
  mask of a window changes the loss's value, not its cost) and positions of a window at a random
  start (n = s..s+255, layers and rows drawn within the tables). Peak host memory (ru_maxrss) and,
  on CUDA, peak allocated GPU memory are printed with the step time.

Inputs: random normal flat weights (r21-mnist) / random normal tokens with zero padding
(sane-2025), generated once; the two views are the batch and a noised copy of it (additive noise
0.05 for r21-mnist, SANE's multiplicative noise 0.1 for sane-2025), fixed for every step. The cost
of the model step (forward of both views as one 2*batch batch, loss, backward, optimizer step) is
what is measured; data loading and augmentation are not. fp32 throughout (the references use AMP
on GPUs). NT-Xent uses normalized rows and one matmul for the cosine similarities (the reference
code builds a [2N, 2N, d] CosineSimilarity broadcast, which gives the same values more slowly).
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# ------------------------------------------------------------------------------------------------
# Zoo networks: per-layer (out, row length without bias), PyTorch state-dict order, all with bias.
# ------------------------------------------------------------------------------------------------

CNN_S_ROWS = [(8, 25), (6, 200), (4, 24), (20, 36), (10, 20)]  # 2464 parameters (c_in 1)
CNN3_ROWS = [(16, 27), (32, 144), (15, 288), (20, 60), (10, 20)]  # 10,853 parameters (c_in 3)


def layer_offsets(rows):
    """(weight_offset, bias_offset) of each layer in the flat vector (weight first, then bias)."""
    out, off = [], 0
    for n, r in rows:
        out.append((off, off + n * r))
        off += n * r + n
    return out, off


def neuron_token_order(rows):
    """2021 neuron tokens: groups (tokens, values per token) and the flat index of every value in
    token order (each token: the neuron's incoming weights, then its bias)."""
    offs, _ = layer_offsets(rows)
    groups, order = [], []
    for (n, r), (w, b) in zip(rows, offs):
        for o in range(n):
            order.extend(range(w + o * r, w + (o + 1) * r))
            order.append(b + o)
        groups.append((n, r + 1))
    return groups, order


def sane_tokens(rows, token_size):
    """SANE tokens of a network: positions [T, 3] (n, l, c), mask [T, token_size] and, for every
    flat weight (state-dict order), its slot in the flattened [T * token_size] token tensor."""
    offs, total = layer_offsets(rows)
    pos, mask_rows, slots = [], [], [0] * total
    t = 0
    for l, ((n, r), (w, b)) in enumerate(zip(rows, offs)):
        assert r + 1 <= token_size, "one token per row"
        for c in range(n):
            pos.append((t, l, c))
            m = [1.0] * (r + 1) + [0.0] * (token_size - r - 1)
            mask_rows.append(m)
            for j in range(r):
                slots[w + c * r + j] = t * token_size + j
            slots[b + c] = t * token_size + r
            t += 1
    return (torch.tensor(pos, dtype=torch.long), torch.tensor(mask_rows),
            torch.tensor(slots, dtype=torch.long))


# ------------------------------------------------------------------------------------------------
# 2021 transformer autoencoder ([R21], reference.md §3.1; crates/engine/src/hyper/nn.rs Block2021)
# ------------------------------------------------------------------------------------------------


class Norm2021(nn.Module):
    """alpha * (x - mean) / (unbiased std + eps) + beta."""

    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.a = nn.Parameter(torch.ones(d))
        self.b = nn.Parameter(torch.zeros(d))
        self.eps = eps

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        std = x.std(-1, keepdim=True)
        return self.a * (x - mean) / (std + self.eps) + self.b


class Block2021(nn.Module):
    def __init__(self, d, heads, d_ff, dropout):
        super().__init__()
        self.norm1, self.norm2 = Norm2021(d), Norm2021(d)
        self.q, self.k, self.v, self.out = (nn.Linear(d, d) for _ in range(4))
        self.ff1, self.ff2 = nn.Linear(d, d_ff), nn.Linear(d_ff, d)
        self.heads = heads
        self.drop = nn.Dropout(dropout)
        self.attn_drop = nn.Dropout(0.1)  # fixed in the reference, whatever the config says

    def forward(self, x):
        b, t, d = x.shape
        dk = d // self.heads
        h = self.norm1(x)

        def split(y):
            return y.view(b, t, self.heads, dk).transpose(1, 2)

        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        w = torch.softmax(q @ k.transpose(-2, -1) / dk ** 0.5, dim=-1)
        a = (self.attn_drop(w) @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.drop(self.out(a))
        f = self.ff2(self.drop(F.relu(self.ff1(self.norm2(x)))))
        return x + self.drop(f)


class TransformerAe2021(nn.Module):
    def __init__(self, rows, d, heads, layers, d_ff, latent, dropout):
        super().__init__()
        groups, order = neuron_token_order(rows)
        inverse = [0] * len(order)
        for k, i in enumerate(order):
            inverse[i] = k
        self.register_buffer("gather", torch.tensor(order, dtype=torch.long))
        self.register_buffer("scatter", torch.tensor(inverse, dtype=torch.long))
        self.groups = groups
        t = sum(n for n, _ in groups)
        self.t, self.d = t, d
        self.embedders = nn.ModuleList(nn.Linear(length, d) for _, length in groups)
        self.comp = nn.Parameter(torch.randn(1, 1, d))
        self.enc_pos = nn.Parameter(torch.randn(t + 1, d))
        self.enc = nn.ModuleList(Block2021(d, heads, d_ff, dropout) for _ in range(layers))
        self.bottleneck = nn.Linear(d, latent)
        self.dec_in = nn.Linear(latent, t * d)
        self.dec_pos = nn.Parameter(torch.randn(t, d))
        self.dec = nn.ModuleList(Block2021(d, heads, d_ff, dropout) for _ in range(layers))
        self.debedders = nn.ModuleList(nn.Linear(d, length) for _, length in groups)
        self.drop = nn.Dropout(dropout)

    def encode(self, x):  # [B, P] -> [B, latent]
        b = x.shape[0]
        tokens = x[:, self.gather]
        parts, off = [], 0
        for emb, (n, length) in zip(self.embedders, self.groups):
            parts.append(emb(tokens[:, off:off + n * length].reshape(b, n, length)))
            off += n * length
        h = torch.cat([self.comp.expand(b, -1, -1)] + parts, 1)
        h = self.drop(h + self.enc_pos)
        for blk in self.enc:
            h = blk(h)
        return torch.tanh(self.bottleneck(h[:, 0]))

    def decode(self, z):  # [B, latent] -> [B, P]
        b = z.shape[0]
        h = self.drop(self.dec_in(z).view(b, self.t, self.d) + self.dec_pos)
        for blk in self.dec:
            h = blk(h)
        parts, off = [], 0
        for deb, (n, length) in zip(self.debedders, self.groups):
            parts.append(deb(h[:, off:off + n]).reshape(b, n * length))
            off += n
        return torch.cat(parts, 1)[:, self.scatter]


class MlpHead(nn.Module):
    """[R21] projection head: (Linear+BN+ReLU) x layers, Linear+BN; kaiming-normal, biases 0.01."""

    def __init__(self, d_in, layers, hidden, out):
        super().__init__()
        dims = [d_in] + [hidden] * layers + [out]
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims, dims[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm1d(b) for b in dims[1:])
        for lin in self.linears:
            nn.init.kaiming_normal_(lin.weight)
            nn.init.constant_(lin.bias, 0.01)

    def forward(self, x):
        last = len(self.linears) - 1
        for i, (lin, bn) in enumerate(zip(self.linears, self.norms)):
            x = bn(lin(x))
            if i < last:
                x = F.relu(x)
        return x


# ------------------------------------------------------------------------------------------------
# SANE ([RS] def_AE.py / def_transformer.py, reference.md §3.2; nn.rs SaneBlock, model.rs SaneAe)
# ------------------------------------------------------------------------------------------------


class SaneBlock(nn.Module):
    def __init__(self, d, heads, layers):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d, bias=False), nn.LayerNorm(d, bias=False)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)
        self.fc = nn.Linear(d, 4 * d, bias=False)
        self.fc_proj = nn.Linear(4 * d, d, bias=False)
        self.heads = heads
        for lin in (self.qkv, self.fc):
            nn.init.normal_(lin.weight, 0.0, 0.02)
        for lin in (self.proj, self.fc_proj):
            nn.init.normal_(lin.weight, 0.0, 0.02 / (2 * layers) ** 0.5)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (y.view(b, t, self.heads, d // self.heads).transpose(1, 2) for y in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0, is_causal=False)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        return x + self.fc_proj(F.gelu(self.fc(self.ln2(x))))


class SanePositions(nn.Module):
    def __init__(self, d, max_positions):
        super().__init__()
        h = d // 2
        self.n = nn.Embedding(max_positions[0], h)
        self.l = nn.Embedding(max_positions[1], h)
        self.c = nn.Embedding(max_positions[2], d - h)
        for e in (self.n, self.l, self.c):
            nn.init.normal_(e.weight, 0.0, 0.02)

    def forward(self, pos):  # [B, W, 3] -> [B, W, d]
        return torch.cat([self.n(pos[..., 0]) + self.l(pos[..., 1]), self.c(pos[..., 2])], -1)


def normal_linear(d_in, d_out, bias=True):
    lin = nn.Linear(d_in, d_out, bias=bias)
    nn.init.normal_(lin.weight, 0.0, 0.02)
    if bias:
        nn.init.zeros_(lin.bias)
    return lin


class SaneAe(nn.Module):
    def __init__(self, token_size, d, heads, layers, latent, max_positions):
        super().__init__()
        self.tokenizer = normal_linear(token_size, d)
        self.pos = SanePositions(d, max_positions)
        self.enc = nn.ModuleList(SaneBlock(d, heads, layers) for _ in range(layers))
        self.comp = normal_linear(d, latent)
        self.dec_in = normal_linear(latent, d)
        self.dec = nn.ModuleList(SaneBlock(d, heads, layers) for _ in range(layers))
        self.out = normal_linear(d, token_size)

    def encode(self, x, pos):  # [B, W, token_size] -> [B, W, latent]
        h = self.tokenizer(x) + self.pos(pos)
        for blk in self.enc:
            h = blk(h)
        return self.comp(h)

    def decode(self, z, pos):  # [B, W, latent] -> [B, W, token_size]
        h = self.dec_in(z) + self.pos(pos)
        for blk in self.dec:
            h = blk(h)
        return self.out(h)


class SaneHead(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.l1, self.l2 = normal_linear(d_in, 30, bias=False), normal_linear(30, 30, bias=False)
        self.n1, self.n2 = nn.LayerNorm(30, bias=False), nn.LayerNorm(30, bias=False)

    def forward(self, z):  # [B, W, latent] -> [B, 30]
        x = F.relu(self.n1(self.l1(z.flatten(1))))
        return F.relu(self.n2(self.l2(x)))


# ------------------------------------------------------------------------------------------------
# Losses ([R21]/[RS]/[R25], reference.md §4; crates/engine/src/hyper/loss.rs)
# ------------------------------------------------------------------------------------------------


def nt_xent(z_i, z_j, tau):
    """SimCLR NT-Xent: cross-entropy of each of the 2N rows' positive against the 2N-2 others
    (self excluded), summed and divided by 2N."""
    n = z_i.shape[0]
    z = F.normalize(torch.cat([z_i, z_j], 0), dim=1, eps=1e-8)
    logits = (z @ z.t()) / tau
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, target, reduction="sum") / (2 * n)


def masked_mse(y, target, mask):
    """SANE: mean((y*mask - target)^2) over every entry, padding included."""
    return ((y * mask - target) ** 2).mean()


def unpack_cnn3(flat):
    """[N, 10853] state-dict-order weights -> per-layer tensors with a leading N."""
    n = flat.shape[0]
    shapes = [((16, 3, 3, 3), 16), ((32, 16, 3, 3), 32), ((15, 32, 3, 3), 15), ((20, 60), 20),
              ((10, 20), 10)]
    out, off = [], 0
    for wshape, nb in shapes:
        nw = 1
        for s in wshape:
            nw *= s
        out.append(flat[:, off:off + nw].reshape(n, *wshape))
        out.append(flat[:, off + nw:off + nw + nb])
        off += nw + nb
    assert off == flat.shape[1]
    return out


def cnn3_grouped(flat, queries):
    """N CNN3 networks on the same queries [Q, 3, 32, 32] -> logits [N, Q, 10], as one population
    forward: channels of all networks side by side, grouped convs, batched matmuls."""
    n, q = flat.shape[0], queries.shape[0]
    w1, b1, w2, b2, w3, b3, fw1, fb1, fw2, fb2 = unpack_cnn3(flat)
    # Shared input: one ungrouped conv with N*16 filters.
    h = F.conv2d(queries, w1.reshape(n * 16, 3, 3, 3), b1.reshape(n * 16))
    h = F.relu(F.max_pool2d(h, 2))
    h = F.conv2d(h, w2.reshape(n * 32, 16, 3, 3), b2.reshape(n * 32), groups=n)
    h = F.relu(F.max_pool2d(h, 2))
    h = F.conv2d(h, w3.reshape(n * 15, 32, 3, 3), b3.reshape(n * 15), groups=n)
    h = F.relu(F.max_pool2d(h, 2))  # [Q, N*15, 2, 2]
    h = h.reshape(q, n, 60).transpose(0, 1)  # [N, Q, 60] in Flatten order (c, y, x)
    h = F.relu(torch.baddbmm(fb1.unsqueeze(1), h, fw1.transpose(1, 2)))
    return torch.baddbmm(fb2.unsqueeze(1), h, fw2.transpose(1, 2))


class Cnn3(nn.Module):
    def __init__(self):
        super().__init__()
        self.module_list = nn.Sequential(
            nn.Conv2d(3, 16, 3), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(16, 32, 3), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(32, 15, 3), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(),
            nn.Linear(60, 20), nn.ReLU(), nn.Linear(20, 10),
        )

    def forward(self, x):
        return self.module_list(x)


_CNN3 = None
_CNN3_KEYS = ["module_list.0.weight", "module_list.0.bias", "module_list.3.weight",
              "module_list.3.bias", "module_list.6.weight", "module_list.6.bias",
              "module_list.10.weight", "module_list.10.bias", "module_list.12.weight",
              "module_list.12.bias"]


def cnn3_vmap(flat, queries):
    """The same with torch.func: functional_call of one CNN3 module under vmap over networks."""
    global _CNN3
    if _CNN3 is None:
        _CNN3 = Cnn3().to(flat.device)
        assert [k for k, _ in _CNN3.named_parameters()] == _CNN3_KEYS
    params = dict(zip(_CNN3_KEYS, unpack_cnn3(flat)))

    def one(p, x):
        return torch.func.functional_call(_CNN3, p, (x,))

    return torch.func.vmap(one, in_dims=(0, None))(params, queries)


def behaviour_l2(y_rec, y_orig):
    """[R25] 'l2': MSE(softmax(y_rec), softmax(y_orig)) per network, non-finite networks dropped."""
    t = torch.nan_to_num(torch.softmax(y_orig, -1), nan=0.0, posinf=1.0, neginf=0.0)
    o = torch.nan_to_num(torch.softmax(y_rec, -1), nan=0.0, posinf=1.0, neginf=0.0)
    per_model = ((o - t) ** 2).mean(dim=(1, 2))
    finite = torch.isfinite(per_model)
    return torch.where(finite, per_model, torch.zeros_like(per_model)).sum() / finite.sum()


# ------------------------------------------------------------------------------------------------
# Benchmarks
# ------------------------------------------------------------------------------------------------


def build_r21(a, dev):
    ae = TransformerAe2021(CNN_S_ROWS, d=800, heads=4, layers=2, d_ff=900, latent=700,
                           dropout=0.1).to(dev)
    head = MlpHead(700, layers=4, hidden=400, out=50).to(dev)
    params = list(ae.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-4)
    _, p = layer_offsets(CNN_S_ROWS)
    assert p == 2464
    x_i = torch.randn(a.batch, p, device=dev)
    x_j = x_i + 0.05 * torch.randn_like(x_i)
    x = torch.cat([x_i, x_j], 0)  # both views as one batch of 2N rows
    gamma, tau = 0.1, 0.1
    n = a.batch

    def step():
        opt.zero_grad(set_to_none=True)
        z = ae.encode(x)
        y = ae.decode(z)
        c = nt_xent(head(z[:n]), head(z[n:]), tau)
        s = F.mse_loss(y, x)
        loss = gamma * c + (1 - gamma) * s
        loss.backward()
        opt.step()
        return loss

    return ae, head, step


def sane_optimizer(ae, head):
    """AdamW lr 1e-4, weight decay 3e-9 on >= 2-D parameters only (0 on norms and biases)."""
    named = list(ae.named_parameters()) + list(head.named_parameters())
    decay = [p for _, p in named if p.dim() >= 2]
    no_decay = [p for _, p in named if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": 3e-9},
                              {"params": no_decay, "weight_decay": 0.0}], lr=1e-4)


def build_sane(a, dev):
    rows, ts = CNN3_ROWS, 289
    pos, mask, slots = sane_tokens(rows, ts)
    t = pos.shape[0]
    assert t == 93 and slots.numel() == 10853
    pos, mask, slots = pos.to(dev), mask.to(dev), slots.to(dev)
    ae = SaneAe(ts, d=256, heads=8, layers=8, latent=64, max_positions=[500, 50, 100]).to(dev)
    head = SaneHead(t * 64).to(dev)
    opt = sane_optimizer(ae, head)
    n = a.batch
    x_i = torch.randn(n, t, ts, device=dev) * mask
    x_j = x_i * (1 + 0.1 * torch.randn_like(x_i))
    x = torch.cat([x_i, x_j], 0)  # [2N, 93, 289]
    positions = pos.unsqueeze(0).expand(2 * n, t, 3)
    gamma, beta, tau = 0.05, 0.1, 0.1
    forward = cnn3_grouped if a.behaviour_impl == "grouped" else cnn3_vmap
    scales = {}

    def step():
        opt.zero_grad(set_to_none=True)
        z = ae.encode(x, positions)
        y = ae.decode(z, positions)
        c = nt_xent(head(z[:n]), head(z[n:]), tau)
        s = masked_mse(y, x, mask)
        if not a.behaviour:
            loss = gamma * c + (1 - gamma) * s
        else:
            queries = torch.rand(a.queries, 3, 32, 32, device=dev)
            rec = y.reshape(2 * n, t * ts)[:, slots]
            with torch.no_grad():
                y_orig = forward(x.reshape(2 * n, t * ts)[:, slots], queries)
            b = behaviour_l2(forward(rec, queries), y_orig)
            if not scales:  # first-batch values, frozen (one host sync, first step only)
                scales["s"], scales["b"] = s.item(), b.item()
            loss = gamma * c + (1 - gamma) * (beta * s / scales["s"]
                                              + (1 - beta) * b / scales["b"])
        loss.backward()
        opt.step()
        return loss

    return ae, head, step


def build_sane_resnet18(a, dev):
    ts, w, d, latent = 288, 256, 2048, 128
    ae = SaneAe(ts, d=d, heads=16, layers=8, latent=latent,
                max_positions=[55000, 100, 550]).to(dev)
    head = SaneHead(w * latent).to(dev)
    opt = sane_optimizer(ae, head)
    n = a.batch
    x_i = torch.randn(n, w, ts, device=dev)
    x_j = x_i * (1 + 0.1 * torch.randn_like(x_i))
    x = torch.cat([x_i, x_j], 0)  # [2N, 256, 288]
    mask = torch.ones(w, ts, device=dev)
    start = int(torch.randint(0, 53524 - w + 1, ()))
    pos = torch.stack([torch.arange(start, start + w), torch.randint(0, 100, (w,)),
                       torch.randint(0, 550, (w,))], 1).to(dev)
    positions = pos.unsqueeze(0).expand(2 * n, w, 3)
    gamma, tau = 0.05, 0.1

    def step():
        opt.zero_grad(set_to_none=True)
        z = ae.encode(x, positions)
        y = ae.decode(z, positions)
        c = nt_xent(head(z[:n]), head(z[n:]), tau)
        loss = gamma * c + (1 - gamma) * masked_mse(y, x, mask)
        loss.backward()
        opt.step()
        return loss

    return ae, head, step


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=["r21-mnist", "sane-2025", "sane-resnet18"],
                    default="r21-mnist")
    ap.add_argument("--behaviour", action="store_true",
                    help="sane-2025 only: add the 2025 behavioural loss (beta 0.1)")
    ap.add_argument("--behaviour-impl", choices=["grouped", "vmap"], default="grouped",
                    help="how the CNN3 networks run in the behavioural loss")
    ap.add_argument("--queries", type=int, default=256, help="query images of the behavioural loss")
    ap.add_argument("--batch", type=int, default=None,
                    help="zoo networks per step (default 500 for r21-mnist, 64 for sane-2025, "
                         "32 for sane-resnet18); "
                         "the two views make 2*batch rows")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.behaviour and a.model != "sane-2025":
        ap.error("--behaviour needs --model sane-2025")
    if a.batch is None:
        a.batch = {"r21-mnist": 500, "sane-2025": 64, "sane-resnet18": 32}[a.model]
    if a.batch < 1 or a.steps < 1 or a.warmup < 0 or a.queries < 1:
        ap.error("need --batch >= 1, --steps >= 1, --warmup >= 0, --queries >= 1")
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    dev = torch.device(a.device)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    build = {"r21-mnist": build_r21, "sane-2025": build_sane, "sane-resnet18": build_sane_resnet18}
    ae, head, step = build[a.model](a, dev)
    ae.train()
    head.train()
    n_ae = sum(p.numel() for p in ae.parameters())
    n_head = sum(p.numel() for p in head.parameters())

    for _ in range(a.warmup):
        step()
    sync()
    times = []
    loss = None
    for _ in range(a.steps):
        start = time.perf_counter()
        loss = step()
        sync()
        times.append(time.perf_counter() - start)
    med = statistics.median(times)
    rate = a.batch / med
    final_loss = float(loss.detach())
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    peak_gpu = torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else None
    what = a.model + (f" +behaviour ({a.behaviour_impl}, Q={a.queries})" if a.behaviour else "")
    print(f"pytorch {what}: {n_ae + n_head:,} parameters (autoencoder {n_ae:,}, head {n_head:,}), "
          f"batch {a.batch} ({2 * a.batch} rows), {a.threads} threads, {a.device}: "
          f"{med:.4f} s/step (median of {a.steps} after {a.warmup} warm-up; "
          f"min {min(times):.4f}, max {max(times):.4f}), {rate:.2f} samples/s, "
          f"last loss {final_loss:.4g}; peak resident memory {peak_rss / 1e9:.2f} GB"
          + (f", peak GPU memory allocated {peak_gpu / 1e9:.2f} GB" if peak_gpu is not None else ""))
    print(json.dumps({
        "bench": "hyper", "impl": "pytorch", "torch": torch.__version__, "model": a.model,
        "behaviour": a.behaviour,
        "behaviour_impl": a.behaviour_impl if a.behaviour else None,
        "queries": a.queries if a.behaviour else None,
        "params": n_ae + n_head, "params_autoencoder": n_ae, "params_head": n_head,
        "batch": a.batch, "threads": a.threads, "device": a.device, "steps": a.steps,
        "warmup": a.warmup, "s_per_step": med, "s_per_step_min": min(times),
        "s_per_step_max": max(times), "samples_per_s": rate, "last_loss": final_loss,
        "peak_rss_bytes": peak_rss, "peak_gpu_bytes": peak_gpu,
    }))


if __name__ == "__main__":
    main()
