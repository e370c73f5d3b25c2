// ioredis is an optional peer dependency: the plugin, the memory hub and even the
// Redis entry itself load none of it (the Redis engine only uses the client it is
// handed), so an app without ioredis installed runs the plugin and the memory hub.

import t from 'tap'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

const root = join(__dirname, '..', '..')

t.test('loading the plugin, fastify-typed-sse/hub and fastify-typed-sse/redis loads no ioredis module', async (t) => {
  const script = `
    require('./index.ts'); require('./lib/hub/index.ts'); require('./lib/redis/index.ts')
    const loaded = Object.keys(require.cache).filter(path => path.includes('/node_modules/ioredis/'))
    process.stdout.write(JSON.stringify({ loaded, cached: Object.keys(require.cache).length }))`
  const output = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: root, encoding: 'utf8' })
  const { loaded, cached } = JSON.parse(output) as { loaded: string[], cached: number }
  t.ok(cached > 10, `the entries and their dependencies were loaded (${cached} modules)`)
  t.same(loaded, [], 'no ioredis module among them')

  const control = execFileSync(process.execPath, ['--import', 'tsx', '-e', 'require(\'ioredis\'); process.stdout.write(String(Object.keys(require.cache).some(path => path.includes(\'/node_modules/ioredis/\'))))'], { cwd: root, encoding: 'utf8' })
  t.equal(control, 'true', 'control: requiring ioredis does show in the module cache')
})
