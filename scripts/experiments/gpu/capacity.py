# What limits the clinical results: the data, the model size, or the frozen backbone? (issue 13)
#
# A PyTorch re-implementation of the clinical pipeline's recipe, for a CUDA machine: it trains, on
# exactly the bench's site shards (shards.json, from export-shards.ts) and the vendored MedMNIST
# files, 3 seeds each of
#   1. a ResNet-18 (28), end to end: the published baseline's model (MedMNIST v2: Adam 1e-3,
#      batch 128, learning rate x0.1 at 50% and 75% of the epochs, best validation AUC);
#   2. the project's ViT (CLIP layout: 28x28, patch 7, width 64, 4 layers), end to end from scratch;
#   3. the project's recipe on frozen bases of width 64, 128 and 256 (random, or pretrained on
#      FractalDB-style fractals): a linear probe head on the frozen base, then LoRA r=4 (alpha 8) on
#      q_proj and v_proj, up to 10 epochs with patience 3; every site's input second moments; and
#      the composite of the three sites by MedForge-RegMean (tasks equal, samples within a task,
#      alpha 0.9) and by the product-space mean of the updates, scored on both official test splits.
# Not part of the build or the tests (TensorFlow.js is the project's stack; this needs a GPU to run
# in minutes). Usage, from the repository root:
#   python3 scripts/experiments/gpu/capacity.py --seeds 0,1,2 --out results.json
#   python3 scripts/experiments/gpu/capacity.py --quick      (a CPU smoke run: tiny epochs)
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
DATA = os.path.join(ROOT, 'packages', 'clinical', 'data', 'medmnist')
CLIP_MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
CLIP_STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
PUBLISHED = {'pneumonia': 0.944, 'breast': 0.901}


def auc(scores, labels):
    """ROC AUC by the rank-sum statistic (ties averaged)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    order = np.argsort(scores, kind='mergesort')
    ranks = np.empty(len(scores))
    s = scores[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = labels == 1
    n1, n0 = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def to_inputs(images, device):
    x = torch.from_numpy(images).float().div(255).unsqueeze(1).repeat(1, 3, 1, 1)
    return ((x - CLIP_MEAN) / CLIP_STD).to(device)


def load_task(task, device):
    z = np.load(os.path.join(DATA, f'{task}mnist.npz'))
    return {split: (to_inputs(z[f'{split}_images'], device), torch.from_numpy(z[f'{split}_labels'].reshape(-1).astype(np.int64)).to(device)) for split in ('train', 'val', 'test')}


# ---------------------------------------------------------------------------------------------
# Models

class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = nn.Sequential() if stride == 1 and cin == cout else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        return F.relu(self.b2(self.c2(y)) + self.short(x))


class ResNet18(nn.Module):
    """ResNet-18 for 28x28 inputs as in MedMNIST v2's experiments (3x3 stem, no max pool)."""

    def __init__(self, classes):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        layers, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1).flatten(1))


class Block(nn.Module):
    def __init__(self, h, heads, inter):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(h, eps=1e-5)
        self.q, self.k, self.v, self.o = (nn.Linear(h, h) for _ in range(4))
        self.ln2 = nn.LayerNorm(h, eps=1e-5)
        self.fc1 = nn.Linear(h, inter)
        self.fc2 = nn.Linear(inter, h)

    def forward(self, x, dq=None, dv=None, tap=None):
        n, t, h = x.shape
        y = self.ln1(x)
        if tap is not None:
            tap(y)
        q = self.q(y) if dq is None else self.q(y) + y @ dq.T
        v = self.v(y) if dv is None else self.v(y) + y @ dv.T
        k = self.k(y)
        split = lambda z: z.view(n, t, self.heads, h // self.heads).transpose(1, 2)
        q, k, v = split(q), split(k), split(v)
        if hasattr(F, 'scaled_dot_product_attention'):
            a = F.scaled_dot_product_attention(q, k, v)
        else:  # PyTorch < 2.0 (the CPU smoke run)
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), -1) @ v
        x = x + self.o(a.transpose(1, 2).reshape(n, t, h))
        z = self.fc1(self.ln2(x))
        return x + self.fc2(z * torch.sigmoid(1.702 * z))  # quick_gelu


class Vit(nn.Module):
    """The clinical package's ViT layout (CLIP's vision tower), any width; embed() returns the projection."""

    def __init__(self, width, layers=4, patch=7, side=28, projection=64):
        super().__init__()
        self.width = width
        self.patch = nn.Conv2d(3, width, patch, patch, bias=False)
        tokens = (side // patch) ** 2 + 1
        self.cls = nn.Parameter(torch.randn(width) * 0.02)
        self.pos = nn.Parameter(torch.randn(tokens, width) * 0.02)
        self.pre = nn.LayerNorm(width, eps=1e-5)
        self.blocks = nn.ModuleList(Block(width, max(1, width // 16), 2 * width) for _ in range(layers))
        self.post = nn.LayerNorm(width, eps=1e-5)
        self.proj = nn.Linear(width, projection, bias=False)

    def embed(self, x, deltas=None, taps=None):
        p = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(p.shape[0], 1, -1), p], 1) + self.pos
        x = self.pre(x)
        for i, b in enumerate(self.blocks):
            dq, dv = (None, None) if deltas is None else deltas[i]
            x = b(x, dq, dv, None if taps is None else (lambda y, i=i: taps(i, y)))
        return self.proj(self.post(x[:, 0]))


def load_base(path):
    """The clinical package's base weights (safetensors, Hugging Face CLIP names) as a frozen Vit(64)."""
    raw = open(path, 'rb').read()
    n = int.from_bytes(raw[:8], 'little')
    header = json.loads(raw[8:8 + n])
    t = {k: torch.from_numpy(np.frombuffer(raw[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]], dtype=np.float32).copy()).view(v['shape'])
         for k, v in header.items() if k != '__metadata__'}
    vit = Vit(t['vision_model.embeddings.class_embedding'].shape[0])
    e = 'vision_model.embeddings.'
    with torch.no_grad():
        vit.patch.weight.copy_(t[e + 'patch_embedding.weight'])
        vit.cls.copy_(t[e + 'class_embedding'])
        vit.pos.copy_(t[e + 'position_embedding.weight'])
        for mine, theirs in ((vit.pre, 'vision_model.pre_layrnorm'), (vit.post, 'vision_model.post_layernorm')):
            mine.weight.copy_(t[theirs + '.weight'])
            mine.bias.copy_(t[theirs + '.bias'])
        vit.proj.weight.copy_(t['visual_projection.weight'])
        for i, b in enumerate(vit.blocks):
            p = f'vision_model.encoder.layers.{i}.'
            for mine, theirs in ((b.q, 'self_attn.q_proj'), (b.k, 'self_attn.k_proj'), (b.v, 'self_attn.v_proj'), (b.o, 'self_attn.out_proj'),
                                 (b.ln1, 'layer_norm1'), (b.ln2, 'layer_norm2'), (b.fc1, 'mlp.fc1'), (b.fc2, 'mlp.fc2')):
                mine.weight.copy_(t[p + theirs + '.weight'])
                mine.bias.copy_(t[p + theirs + '.bias'])
    return vit.eval()


# ---------------------------------------------------------------------------------------------
# Training

def batches(n, size, gen, shuffle=True):
    order = torch.randperm(n, generator=gen) if shuffle else torch.arange(n)
    for s in range(0, n, size):
        yield order[s:s + size]


@torch.no_grad()
def probs(fn, x, batch=1024):
    out = [torch.softmax(fn(x[s:s + batch]).float(), 1)[:, 1] for s in range(0, len(x), batch)]
    return torch.cat(out).cpu().numpy()


def score(fn, split):
    x, y = split
    p = probs(fn, x)
    yy = y.cpu().numpy()
    return {'auc': auc(p, yy), 'acc': float(((p > 0.5) == (yy == 1)).mean())}


def train_end_to_end(model, train, val, epochs, seed, lr=1e-3, batch=128):
    """MedMNIST v2's protocol: Adam, x0.1 at 50% and 75% of the epochs, the best validation AUC kept."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [epochs // 2, 3 * epochs // 4], 0.1)
    x, y = train
    best, best_state = -1.0, None
    for _ in range(epochs):
        model.train()
        for idx in batches(len(x), batch, gen):
            idx = idx.to(x.device)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
        model.eval()
        v = score(model, val)['auc']
        if v > best:
            best, best_state = v, {k: t.detach().clone() for k, t in model.state_dict().items()}
    model.load_state_dict(best_state)
    model.eval()
    return model


class VitClassifier(nn.Module):
    def __init__(self, vit, classes):
        super().__init__()
        self.vit = vit
        self.head = nn.Linear(vit.proj.out_features, classes)

    def forward(self, x):
        return self.head(self.vit.embed(x))


def fractal_set(categories, instances, side, seed, points=1000):
    """FractalDB-style data (as packages/clinical/src/vision/fractal-db.ts): each category an IFS of
    2-4 random affine maps kept when its render fills >= 8% of the frame; instances perturb every
    parameter by up to 10% and flip at random."""
    rng = np.random.default_rng(seed)

    def render(maps, counts):  # maps [B, 4, 6], the first counts[b] used; returns [B, side, side]
        b, k, _ = maps.shape
        w = (np.abs(maps[:, :, 0] * maps[:, :, 3] - maps[:, :, 1] * maps[:, :, 2]) + 1e-3) * (np.arange(k)[None, :] < counts[:, None])
        cdf = np.cumsum(w / w.sum(1, keepdims=True), 1)
        x = np.zeros(b)
        y = np.zeros(b)
        xs = np.zeros((b, points))
        ys = np.zeros((b, points))
        for i in range(points + 20):
            pick = np.minimum((rng.random(b)[:, None] > cdf).sum(1), k - 1)
            m = maps[np.arange(b), pick]
            x, y = m[:, 0] * x + m[:, 1] * y + m[:, 4], m[:, 2] * x + m[:, 3] * y + m[:, 5]
            x = np.clip(np.nan_to_num(x), -1e6, 1e6)
            y = np.clip(np.nan_to_num(y), -1e6, 1e6)
            if i >= 20:
                xs[:, i - 20], ys[:, i - 20] = x, y
        span = np.maximum(xs.max(1) - xs.min(1), ys.max(1) - ys.min(1))[:, None] + 1e-12
        scale = (side - 5) / span
        px = np.rint(2 + (xs - xs.min(1, keepdims=True)) * scale).astype(int).clip(0, side - 1)
        py = np.rint(2 + (ys - ys.min(1, keepdims=True)) * scale).astype(int).clip(0, side - 1)
        flat = (np.arange(b)[:, None] * side * side + py * side + px).reshape(-1)
        img = np.bincount(flat, minlength=b * side * side).astype(np.float64)
        return np.minimum(1, img / 3).reshape(b, side, side)

    systems, counts = [], []
    while len(systems) < categories:
        ks = rng.integers(2, 5, 256)
        cand = rng.uniform(-1, 1, (256, 4, 6))
        ok = (render(cand, ks) > 0).mean((1, 2)) >= 0.08
        for c, k in zip(cand[ok], ks[ok]):
            if len(systems) < categories:
                systems.append(c)
                counts.append(k)
    maps = np.repeat(np.stack(systems), instances, 0) * rng.uniform(0.9, 1.1, (categories * instances, 4, 6))
    imgs = render(maps, np.repeat(np.array(counts), instances))
    flip = rng.random(len(imgs)) < 0.5
    imgs[flip] = imgs[flip][:, :, ::-1]
    labels = np.repeat(np.arange(categories), instances)
    return imgs.astype(np.float32), labels


def pretrain_base(width, fractals, epochs, seed, device):
    torch.manual_seed(seed)
    imgs, labels = fractals
    x = torch.from_numpy(imgs).unsqueeze(1).repeat(1, 3, 1, 1)
    x = ((x - CLIP_MEAN) / CLIP_STD).to(device)
    y = torch.from_numpy(labels).to(device)
    model = VitClassifier(Vit(width), int(labels.max()) + 1).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    steps = epochs * math.ceil(len(x) / 256)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 1e-3, total_steps=steps)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        correct, total = 0, 0
        for idx in batches(len(x), 256, gen):
            idx = idx.to(device)
            logits = model(x[idx])
            loss = F.cross_entropy(logits, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            correct += int((logits.argmax(1) == y[idx]).sum())
            total += len(idx)
        if os.environ.get('CAPACITY_VERBOSE'):
            print(f'pretrain width {width} epoch {epoch + 1}: train accuracy {correct / total:.3f}', flush=True)
    with torch.no_grad():
        acc = float((model(x[:4096]).argmax(1) == y[:4096]).float().mean())
    return model.vit.eval(), acc


def lora_site(base, train, val, seed, rank=4, alpha=8, epochs=10, patience=3):
    """The clinical package's recipe: a probe head fitted on the frozen base, then LoRA on q and v."""
    for p in base.parameters():
        p.requires_grad_(False)
    x, y = train
    device = x.device
    torch.manual_seed(seed)
    with torch.no_grad():
        emb = torch.cat([base.embed(x[s:s + 1024]) for s in range(0, len(x), 1024)])
    head = nn.Linear(emb.shape[1], 2).to(device)
    opt = torch.optim.Adam(head.parameters(), lr=0.02)
    for _ in range(300):
        loss = F.cross_entropy(head(emb), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    for p in head.parameters():
        p.requires_grad_(False)
    h = base.width
    layers = len(base.blocks)
    A = [nn.Parameter(torch.empty(2, rank, h, device=device).uniform_(-1, 1) / math.sqrt(h)) for _ in range(layers)]  # PEFT: kaiming-uniform(a=sqrt 5)
    B = [nn.Parameter(torch.zeros(2, h, rank, device=device)) for _ in range(layers)]
    s = alpha / rank
    # Each layer's (q, v) updates, s·B·A, from the factors.
    deltas = lambda pairs: [(s * b[0] @ a[0], s * b[1] @ a[1]) for a, b in pairs]
    opt = torch.optim.Adam(A + B, lr=2e-3)
    gen = torch.Generator().manual_seed(seed)
    best, best_epoch, best_ab = -1.0, 0, None
    for epoch in range(1, epochs + 1):
        for idx in batches(len(x), 64, gen):
            idx = idx.to(device)
            loss = F.cross_entropy(head(base.embed(x[idx], deltas(zip(A, B)))), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            d = deltas(zip(A, B))
            v = score(lambda z: head(base.embed(z, d)), val)['auc']
        if v > best:
            best, best_epoch, best_ab = v, epoch, [(a.detach().clone(), b.detach().clone()) for a, b in zip(A, B)]
        if epoch - best_epoch >= patience:
            break
    with torch.no_grad():
        d = deltas(best_ab)
        grams = [torch.zeros(h, h, dtype=torch.float64, device=device) for _ in range(layers)]

        def tap(i, rows):
            r = rows.reshape(-1, h).double()
            grams[i] += r.T @ r
        for st in range(0, len(x), 1024):
            base.embed(x[st:st + 1024], d, tap)
    return {'deltas': d, 'head': head, 'grams': grams, 'samples': len(x)}


def regmean(sites, shrink=0.9, ridge=1e-4, cap=16):
    """MedForge-RegMean (packages/merge-core/src/merge/regmean.ts): per layer and projection,
    (sum w_i dW_i G_i)(sum w_i G_i)^-1, each Gram normalised to trace n with off-diagonals x shrink;
    each task's modules share 1 by (capped) samples."""
    weights = task_weights(sites, cap)
    layers = len(sites[0]['deltas'])
    h = sites[0]['grams'][0].shape[0]
    out = []
    for l in range(layers):
        gs = []
        for st in sites:
            g = st['grams'][l] * (h / torch.trace(st['grams'][l]))
            gs.append(g * shrink + torch.diag(torch.diag(g)) * (1 - shrink))
        total = sum(w * g for w, g in zip(weights, gs)) + ridge * torch.eye(h, dtype=torch.float64, device=gs[0].device)
        pair = []
        for p in (0, 1):
            num = sum(w * st['deltas'][l][p].double() @ g for w, st, g in zip(weights, sites, gs))
            pair.append(torch.linalg.solve(total, num.T).T.float())  # total symmetric
        out.append(tuple(pair))
    return out


def task_weights(sites, cap=16):
    smallest = {}
    for st in sites:
        smallest[st['task']] = min(smallest.get(st['task'], math.inf), st['samples'])
    bounded = [min(st['samples'], cap * smallest[st['task']]) for st in sites]
    totals = {}
    for st, b in zip(sites, bounded):
        totals[st['task']] = totals.get(st['task'], 0) + b
    return [b / totals[st['task']] for st, b in zip(sites, bounded)]


def update_mean(sites, cap=16):
    """The product-space mean: each task's updates averaged by its weights, the tasks' sums added."""
    weights = task_weights(sites, cap)
    return [tuple(sum(w * st['deltas'][l][p] for w, st in zip(weights, sites)) for p in (0, 1)) for l in range(len(sites[0]['deltas']))]


def task_head(sites, task, cap=16):
    weights = task_weights(sites, cap)
    members = [(w, st['head']) for w, st in zip(weights, sites) if st['task'] == task]
    W = sum(w * h.weight for w, h in members)
    b = sum(w * h.bias for w, h in members)
    return lambda e: e @ W.T + b


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--seeds', default='0,1,2')
    ap.add_argument('--widths', default='64,128,256')
    ap.add_argument('--parts', default='resnet,vit,lora')
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--base', action='append', default=[], help='a base weights file (clinical package format) to use instead of the bases built here; repeatable')
    ap.add_argument('--out', default=None)
    args = ap.parse_args()
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    seeds = [int(s) for s in args.seeds.split(',')]
    widths = [int(w) for w in args.widths.split(',')]
    parts = args.parts.split(',')
    q = args.quick
    shards = json.load(open(os.path.join(os.path.dirname(__file__), 'shards.json')))['sites']
    data = {t: load_task(t, device) for t in ('pneumonia', 'breast')}

    def shard(site):
        d = data[site['task']]
        tr = torch.tensor(site['train'], device=device)
        va = torch.tensor(site['val'], device=device)
        if q:  # the smoke run: a few images each
            tr, va = tr[:200], va[:100]
        return (d['train'][0][tr], d['train'][1][tr]), (d['val'][0][va], d['val'][1][va])

    results = {'device': torch.cuda.get_device_name() if device == 'cuda' else 'cpu', 'torch': torch.__version__, 'rows': []}
    t_start = time.time()

    def emit(row):
        row['elapsed_s'] = round(time.time() - t_start, 1)
        results['rows'].append(row)
        print(json.dumps(row), flush=True)
        if args.out:
            with open(args.out, 'w') as f:
                json.dump(results, f)

    e2e_epochs = 2 if q else 60
    for part in parts:
        if part in ('resnet', 'vit'):
            runs = [(s['name'], s['task'], *shard(s)) for s in shards]
            if not q:
                runs.append(('all of pneumonia train', 'pneumonia', data['pneumonia']['train'], data['pneumonia']['val']))
            for seed in seeds:
                for name, task, train, val in runs:
                    torch.manual_seed(seed)
                    model = (ResNet18(2) if part == 'resnet' else VitClassifier(Vit(64), 2)).to(device)
                    if part == 'resnet':
                        model = model.to(memory_format=torch.channels_last)
                    t0 = time.time()
                    train_end_to_end(model, train, val, e2e_epochs, seed)
                    emit({'part': part, 'seed': seed, 'site': name, 'task': task, 'train_images': len(train[0]), 'seconds': round(time.time() - t0, 1), **score(model, data[task]['test'])})
        if part == 'lora':
            # One base per width and kind, as the network has one base; the seeds vary the sites' LoRA.
            bases = [(64, os.path.basename(f), load_base(f).to(device)) for f in args.base]
            if not bases:
                t0 = time.time()
                fractals = fractal_set(8 if q else 200, 8 if q else 100, 28, 0)
                emit({'part': 'fractals', 'images': len(fractals[0]), 'seconds': round(time.time() - t0, 1)})
            for width in widths if not bases else []:
                torch.manual_seed(1000 + width)
                bases.append((width, 'random', Vit(width).to(device).eval()))
                t0 = time.time()
                vit, acc = pretrain_base(width, fractals, 1 if q else 30, 0, device)
                emit({'part': 'pretrain', 'width': width, 'train_acc': acc, 'parameters': sum(p.numel() for p in vit.parameters()), 'seconds': round(time.time() - t0, 1)})
                bases.append((width, 'fractal', vit))
            for seed in seeds:
                for width, kind, base in bases:
                    sites = []
                    for s in shards:
                        train, val = shard(s)
                        t0 = time.time()
                        st = lora_site(base, train, val, 100 * seed + len(sites), epochs=1 if q else 10)
                        st['task'], st['name'] = s['task'], s['name']
                        sites.append(st)
                        emb = lambda x, d=st['deltas']: base.embed(x, d)
                        emit({'part': 'lora', 'seed': seed, 'width': width, 'base': kind, 'model': s['name'], 'task': s['task'], 'seconds': round(time.time() - t0, 1), s['task']: score(lambda z: st['head'](emb(z)), data[s['task']]['test'])})
                    for label, deltas in (('base + probe (no update)', None), ('composite: RegMean', regmean(sites)), ('composite: product-space mean', update_mean(sites))):
                        row = {'part': 'lora', 'seed': seed, 'width': width, 'base': kind, 'model': label}
                        for task in ('pneumonia', 'breast'):
                            hd = task_head(sites, task)
                            row[task] = score(lambda z: hd(base.embed(z, deltas)), data[task]['test'])
                        emit(row)
    print(f'done in {time.time() - t_start:.0f} s', flush=True)


if __name__ == '__main__':
    main()
