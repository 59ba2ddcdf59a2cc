# Prints capacity.py's results (one or more JSON files) as the Markdown tables of BENCHMARKS.md:
# test AUC, mean ± sd over the seeds, and each composite's gap to the best single module of a task.
#   python3 scripts/experiments/gpu/summarize.py scripts/experiments/gpu/results/2026-11-27-h200.json
import json
import statistics
import sys
from collections import defaultdict

rows = [r for path in sys.argv[1:] for r in json.load(open(path))['rows']]


def cell(values):
    if not values:
        return '–'
    if len(values) == 1:
        return f'{values[0]:.3f} (1 seed)'
    return f'{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}' + ('' if len(values) == 3 else f' ({len(values)} seeds)')


SITES = ['Hospital A', 'Hospital B', 'Clinic C', 'all of pneumonia train']
e2e = defaultdict(list)
for r in rows:
    if r['part'] in ('resnet', 'vit'):
        e2e[(r['part'], r['site'])].append(r['auc'])
if e2e:
    print('| trained end to end | ' + ' | '.join(SITES) + ' |')
    print('|---' * (len(SITES) + 1) + '|')
    for part, label in (('resnet', 'ResNet-18 (28), 11M parameters'), ('vit', "the clinical package's ViT (0.15M), from scratch")):
        print(f'| {label} | ' + ' | '.join(cell(e2e[(part, s)]) for s in SITES) + ' |')
    print()

lora = defaultdict(list)
configs = []
for r in rows:
    if r['part'] != 'lora':
        continue
    key = (r['width'], r['base'])
    if key not in configs:
        configs.append(key)
    for task in ('pneumonia', 'breast'):
        if task in r:
            lora[(key, r['model'], task)].append((r['seed'], r[task]['auc']))

if configs:
    print('| frozen base (width, kind) | Hospital A | Hospital B | Clinic C | base + probe, no update | RegMean composite | product-space mean | RegMean gap to the best single module |')
    print('|---|---|---|---|---|---|---|---|')
    for key in configs:
        v = lambda model, task: [a for _, a in sorted(lora[(key, model, task)])]
        best = {'pneumonia': [max(a, b) for a, b in zip(v('Hospital A', 'pneumonia'), v('Hospital B', 'pneumonia'))], 'breast': v('Clinic C', 'breast')}
        gap = lambda task: statistics.mean(c - b for c, b in zip(v('composite: RegMean', task), best[task]))
        both = lambda model: f"{cell(v(model, 'pneumonia'))} / {cell(v(model, 'breast'))}"
        print(f"| {key[0]}, {key[1]} | {cell(v('Hospital A', 'pneumonia'))} | {cell(v('Hospital B', 'pneumonia'))} | {cell(v('Clinic C', 'breast'))} | {both('base + probe (no update)')} | {both('composite: RegMean')} | {both('composite: product-space mean')} | {gap('pneumonia'):+.3f} / {gap('breast'):+.3f} |")
