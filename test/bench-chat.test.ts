import { spawnSync } from 'node:child_process'
import t from 'tap'
import { bench, finite } from './helpers/bench.js'

/**
 * `npm run bench -- --chat-every S` with tiny numbers, against Plaza (a real process, a Redis of the
 * run's own, for the chat's share of Redis commands) and the bare baseline: each walker also chats,
 * and every chat is counted as received by everyone in its space. No timing is asserted.
 */
t.test('a walk with chats: every chat reaches everyone in its space, the sender included, once; Plaza\'s Redis commands are split between moves and chats', async (t) => {
  const { stdout, output } = await bench(t, ['--users', '8', '--spaces', '2', '--hz', '2', '--chat-every', '1', '--duration', '2', '--warmup', '0', '--drain', '5', '--no-generator-warmup', '--private-redis'])
  t.match(stdout, '2 moves/s each, a chat every 1 s each')
  for (const figure of ['chats sent (/s)', 'chat deliveries received / expected (everyone in the space, sender included)', 'chat→recipient latency p99 (ms)',
    'Redis commands per accepted move, chat apart (--private-redis)', 'Redis commands per chat message (chat-append.lua calls / messages; --private-redis)']) {
    t.match(stdout, `| ${figure} |`, `the table shows "${figure}"`)
  }
  const runs = output.results[0]?.runs ?? []
  t.same(runs.map((r) => r.server), ['Plaza', 'baseline'])
  for (const run of runs) {
    const chats = run.load.chats
    t.ok((chats?.sent ?? 0) > 0, `${run.server}: chats were sent`)
    // 4 users a space: each chat to 4 users.
    t.equal(chats?.expected, ((chats?.sent ?? 0) - (chats?.refused ?? 0)) * 4, `${run.server}: each chat is expected once by each of the 4 users of its space`)
    t.equal(chats?.delivered, chats?.expected, `${run.server}: every chat delivery arrived`)
    t.equal(chats?.refused, 0, `${run.server}: no chat was refused`)
    t.equal(chats?.unmatched, 0, `${run.server}: every chat came in its sender's order`)
    t.equal(chats?.duplicated, 0, `${run.server}: no chat came twice`)
    t.ok(finite(chats?.latencyMs.p99), `${run.server}: chat latency is a number`)
    t.equal(run.load.broadcasts.delivered, run.load.broadcasts.expected, `${run.server}: every move broadcast arrived too`)
    t.equal(run.load.latencyMs.samples, run.load.broadcasts.delivered, `${run.server}: move latencies are the moves' alone`)
  }
  const plaza = runs.find((r) => r.server === 'Plaza')
  t.ok((plaza?.chatScriptCalls ?? 0) > 0, 'the chat script\'s calls were counted')
  t.ok(finite(plaza?.redisPerChat) && finite(plaza?.redisPerMoveChatApart), 'Plaza\'s Redis commands per chat message and per move without them are numbers')
  // The private Redis, and its keys, went with the run.
})

t.test('--chat-every is refused with the metaverse dialect, which has no chat', async (t) => {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--chat-every', '10', '--dialect', 'metaverse'], {
    cwd: new URL('..', import.meta.url).pathname,
    env: { PATH: process.env.PATH },
    encoding: 'utf8'
  })
  t.equal(run.status, 2, 'exits 2')
  t.match(run.stderr, 'metaverse has no chat')
  t.match(run.stderr, 'usage: npm run bench')
})
