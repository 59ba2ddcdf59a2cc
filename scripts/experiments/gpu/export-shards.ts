// Writes the clinical bench's site shards (indices into the official train and val splits) as JSON,
// so that `capacity.py` trains on exactly the images each site has in `npm run bench:clinical`.
//   node scripts/experiments/gpu/export-shards.ts > scripts/experiments/gpu/shards.json
import { loadSplit, shardIndices } from '@medforge/clinical'
import { SITES } from '../../bench/clinical-sites.ts'

const seed = 'medforge' // siteShard's default
const sites = SITES.map(site => {
  const train = loadSplit(site.task, 'train')
  const val = loadSplit(site.task, 'val')
  return {
    name: site.name,
    task: site.task,
    train: shardIndices(train.labels, { sites: site.of, ...(site.alpha === undefined ? {} : { alpha: site.alpha }), seed: `${seed}|train` })[site.index]!,
    val: shardIndices(val.labels, { sites: site.of, seed: `${seed}|val` })[site.index]!
  }
})
process.stdout.write(JSON.stringify({ sites }) + '\n')
