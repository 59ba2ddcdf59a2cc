// A one-line progress bar on a terminal; silent when output is not a terminal (logs, CI).
export function progressBar (label: string, stream: NodeJS.WriteStream = process.stderr): { update: (done: number, total: number, note?: string) => void, done: () => void } {
  let last = 0
  return {
    update (done, total, note = '') {
      if (!stream.isTTY) return
      const now = Date.now()
      if (now - last < 100 && done < total) return
      last = now
      const width = 28
      const filled = Math.round(width * done / Math.max(total, 1))
      stream.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${note}`.slice(0, (stream.columns ?? 120) - 1))
    },
    done () {
      if (stream.isTTY) stream.write('\r\x1b[K')
    }
  }
}
