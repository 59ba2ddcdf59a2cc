// Token buckets per key (a peer, an author): `take` is O(1) and never allocates more than
// `maxKeys` buckets, so a flood of fresh keys cannot grow memory without bound.
export interface RateLimiter { take (key: string, cost?: number): boolean }

export function createRateLimiter (options: { ratePerSecond: number, burst: number, maxKeys?: number }): RateLimiter {
  const buckets = new Map<string, { tokens: number, at: number }>()
  const maxKeys = options.maxKeys ?? 10_000
  return {
    take (key, cost = 1) {
      const now = performance.now()
      let b = buckets.get(key)
      if (b === undefined) {
        if (buckets.size >= maxKeys) buckets.delete(buckets.keys().next().value!)
        b = { tokens: options.burst, at: now }
        buckets.set(key, b)
      }
      b.tokens = Math.min(options.burst, b.tokens + (now - b.at) / 1000 * options.ratePerSecond)
      b.at = now
      if (b.tokens < cost) return false
      b.tokens -= cost
      return true
    }
  }
}
