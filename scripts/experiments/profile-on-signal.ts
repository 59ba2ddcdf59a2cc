// Preloaded with `--import`: the first SIGUSR2 starts a V8 CPU profile of this process (1 ms
// sampling), the next writes it to $PROFILE_DIR/<pid>.cpuprofile. Lets a harness profile one window
// of a long run, such as the idle network between publications (scripts/experiments/idle-profile.ts).
import { Session } from 'node:inspector/promises'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

const session = new Session()
session.connect()
let running = false
process.on('SIGUSR2', () => {
  running = !running
  void (async () => {
    if (running) {
      await session.post('Profiler.enable')
      await session.post('Profiler.setSamplingInterval', { interval: 1000 })
      await session.post('Profiler.start')
    } else {
      const { profile } = await session.post('Profiler.stop')
      writeFileSync(join(process.env.PROFILE_DIR ?? '.', `${process.pid}.cpuprofile`), JSON.stringify(profile))
    }
  })()
})
