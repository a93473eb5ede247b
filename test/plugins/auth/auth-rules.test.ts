// The auth plugin's rule engines on their own: topic filter algebra, ACL file parsing and
// compiled permissions, password files and hashes, the verification cache, the guard.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseAclFile } from '../../../plugins/auth/acl-file.js'
import { BruteForceGuard, guardKey, UsernameGuard } from '../../../plugins/auth/brute-force.js'
import { FileProblem } from '../../../plugins/auth/file-problem.js'
import { parsePasswordFile } from '../../../plugins/auth/password-file.js'
import { hashPassword, parseHash, verifyPassword } from '../../../plugins/auth/password-hash.js'
import { compilePermissions } from '../../../plugins/auth/permissions.js'
import { covers, matches, splitFilter, substitute } from '../../../plugins/auth/topics.js'
import { PasswordVerifier } from '../../../plugins/auth/verifier.js'
import { IdentityResolver } from '../../../plugins/auth/identity.js'

const m = (filter: string, topic: string): boolean => matches(splitFilter(filter), topic)
const c = (grant: string, sub: string): boolean => covers(splitFilter(grant), splitFilter(sub))

test('topic matching follows MQTT, including # matching its parent and $ topics', () => {
  assert.ok(m('a/b', 'a/b'))
  assert.ok(!m('a/b', 'a/b/c'))
  assert.ok(!m('a/b/c', 'a/b'))
  assert.ok(m('a/+', 'a/b'))
  assert.ok(m('a/+', 'a/'))
  assert.ok(!m('a/+', 'a'))
  assert.ok(!m('a/+', 'a/b/c'))
  assert.ok(m('a/#', 'a'))
  assert.ok(m('a/#', 'a/b/c'))
  assert.ok(m('#', 'anything/at/all'))
  assert.ok(!m('#', '$SYS/broker/uptime'))
  assert.ok(!m('+/broker/uptime', '$SYS/broker/uptime'))
  assert.ok(m('$SYS/#', '$SYS/broker/uptime'))
  assert.ok(m('+/+', '/x'))
  assert.ok(!m('ab', 'a'))
  assert.ok(!m('a', 'ab'))
})

test('a grant covers a subscription only when it matches everything the subscription can', () => {
  assert.ok(c('#', 'a/b'))
  assert.ok(c('#', '#'))
  assert.ok(c('a/#', 'a'))
  assert.ok(c('a/#', 'a/+/c'))
  assert.ok(c('a/+', 'a/+'))
  assert.ok(c('a/+/c', 'a/b/c'))
  assert.ok(!c('a/+', 'a/#'), 'a/# reaches deeper than a/+')
  assert.ok(!c('a/b', 'a/+'), 'a/+ also matches a/other')
  assert.ok(!c('users/alice/#', '#'), '# must not leak other users\' topics')
  assert.ok(!c('users/alice/#', 'users/+/x'))
  assert.ok(!c('#', '$SYS/#'), 'a # grant does not cover $SYS')
  assert.ok(!c('+/x', '$SYS/x'))
  assert.ok(c('$SYS/#', '$SYS/broker/+'))
  assert.ok(!c('a/b', 'a/b/c'))
  assert.ok(!c('a/b/c', 'a/b'))
})

test('%u and %c are substituted, and refused when they would inject wildcards or levels', () => {
  assert.equal(substitute('users/%u/%c/#', 'alice', 'dev1'), 'users/alice/dev1/#')
  assert.equal(substitute('users/%u/#', undefined, 'dev1'), null)
  assert.equal(substitute('devices/%c/#', 'alice', '#'), null)
  assert.equal(substitute('devices/%c/#', 'alice', 'a/b'), null)
  assert.equal(substitute('users/%u', 'a+b', 'c'), null)
})

const ACL = `# comment
topic read public/#
topic deny public/secret

user alice
topic readwrite alice/#
topic write shared/in
topic $SYS/#

user bob
topic read shared/#

pattern write devices/%c/out
pattern read users/%u/#
pattern deny users/%u/private
`

test('an ACL file: anonymous topic lines, user blocks, patterns, deny overriding grants', () => {
  const acl = parseAclFile(ACL, 'acl')
  const anon = compilePermissions(acl, { username: undefined, clientId: 'sensor-1' }, null)
  assert.ok(anon.canRead('public/news'))
  assert.ok(!anon.canRead('public/secret'))
  assert.ok(!anon.canPublish('public/news'))
  assert.ok(anon.canPublish('devices/sensor-1/out'))
  assert.ok(!anon.canPublish('devices/sensor-2/out'))
  assert.ok(!anon.canRead('users/alice/x'), 'a %u pattern does not apply without a username')
  assert.ok(anon.canSubscribe('public/news/+'))
  assert.ok(anon.canSubscribe('public/#'), 'a wildcard that only overlaps a deny rule is granted (the denied topic is withheld per delivery)')
  assert.ok(!anon.canSubscribe('public/secret'), 'a filter inside a deny rule is refused')

  const alice = compilePermissions(acl, { username: 'alice', clientId: 'a1' }, null)
  assert.ok(alice.canPublish('alice/x') && alice.canRead('alice/x'))
  assert.ok(alice.canPublish('shared/in') && !alice.canRead('shared/in'))
  assert.ok(!alice.canRead('public/news'), 'anonymous topic lines do not apply to users')
  assert.ok(alice.canRead('$SYS/broker/uptime'))
  assert.ok(alice.canRead('users/alice/inbox'))
  assert.ok(!alice.canRead('users/alice/private'))
  assert.ok(!alice.canRead('users/bob/inbox'))
  assert.ok(alice.canSubscribe('users/alice/#'), 'users/alice/private, denied inside it, is withheld per delivery')
  assert.ok(!alice.canSubscribe('users/alice/private'), 'the denied topic itself is refused')
  assert.ok(alice.canSubscribe('users/alice/inbox/#'))
  assert.ok(!alice.canSubscribe('#'))

  const carol = compilePermissions(acl, { username: 'carol', clientId: 'c1' }, null)
  assert.ok(!carol.canPublish('alice/x'))
  assert.ok(carol.canPublish('devices/c1/out'))
})

test('a token acl claim narrows what the ACL grants', () => {
  const acl = parseAclFile('user alice\ntopic readwrite alice/#\n', 'acl')
  const p = compilePermissions(acl, { username: 'alice', clientId: 'a1' }, { pub: ['alice/%c/out'], sub: ['alice/in/#'] })
  assert.ok(p.canPublish('alice/a1/out'))
  assert.ok(!p.canPublish('alice/other'))
  assert.ok(p.canSubscribe('alice/in/+'))
  assert.ok(!p.canSubscribe('alice/#'))
  const open = compilePermissions(null, { username: 'alice', clientId: 'a1' }, { pub: [], sub: ['x/#'] })
  assert.ok(!open.canPublish('anything'))
  assert.ok(open.canRead('x/y') && !open.canRead('y'))
  assert.ok(compilePermissions(null, { username: 'a', clientId: 'b' }, null).unrestricted)
})

test('ACL file mistakes are reported with file:line', () => {
  const cases: Array<[string, number, RegExp]> = [
    ['topic read a\nfrobnicate x\n', 2, /unknown keyword "frobnicate"/],
    ['user\n', 1, /needs a user name/],
    ['\n\ntopic raed a/b\n', 3, /invalid access "raed"/],
    ['topic read a/#/b\n', 1, /invalid topic filter/],
    ['pattern write\n', 1, /has no topic filter/]
  ]
  for (const [text, line, message] of cases) {
    assert.throws(() => parseAclFile(text, '/etc/acl'), (err: unknown) => {
      assert.ok(err instanceof FileProblem)
      assert.equal(err.line, line)
      assert.match(err.message, new RegExp(`^/etc/acl:${line}: `))
      assert.match(err.message, message)
      return true
    })
  }
  // One word after topic is the filter, with readwrite access (as in Mosquitto).
  const acl = parseAclFile('topic lonely/topic\n', 'acl')
  assert.deepEqual(acl.anonymous[0], { access: 'readwrite', filter: 'lonely/topic', line: 1 })
})

// Lines written by Debian's mosquitto_passwd 2.0.11 (user alice: "secret", bob: "hunter2").
const MOSQUITTO_LINES = `alice:$7$101$9CIFTFW84qK9+cVK$yieRN3kQYAjAgP3663EVeG2YRk/IUK8nwu3RPGJVsgGMSXSfXZcj1jBfwX5+iNE7UXtSnzRRlt9apuhXIe8l0A==
bob:$6$IHLyFRzXnjLAzwqn$C8nuo3qQCYehjBHpePrUQCrNj3pAQGdxzjJmJEPGngNw+eUEVtN6A7xl4YF8lXWxr6BIc1/B20cFI9xdCYc9pw==
`

test('mosquitto_passwd $7$ and $6$ lines verify the right password only', async () => {
  const file = parsePasswordFile(MOSQUITTO_LINES, 'pw')
  const alice = file.get('alice')
  const bob = file.get('bob')
  assert.ok(alice && bob)
  assert.equal(await verifyPassword(alice.hash, Buffer.from('secret')), true)
  assert.equal(await verifyPassword(alice.hash, Buffer.from('secreT')), false)
  assert.equal(await verifyPassword(bob.hash, Buffer.from('hunter2')), true)
  assert.equal(await verifyPassword(bob.hash, Buffer.from('')), false)
  const mine = parseHash(await hashPassword('pw', 1000))
  assert.ok(typeof mine !== 'string' && mine.kind === 'pbkdf2-sha512' && mine.iterations === 1000)
  assert.equal(await verifyPassword(mine, Buffer.from('pw')), true)
})

test('password file mistakes are reported with file:line', () => {
  const cases: Array<[string, number, RegExp]> = [
    ['alice:plaintext\n', 1, /not hashed.*swallow passwd -U/],
    ['# c\nnocolon\n', 2, /no ":"/],
    [':$6$abc$def\n', 1, /empty username/],
    [MOSQUITTO_LINES + 'alice:' + MOSQUITTO_LINES.split('\n')[0].slice(6) + '\n', 3, /already defined on line 1/],
    ['carol:$7$0$9CIFTFW84qK9+cVK$yieR\n', 1, /iteration count 0/],
    ['carol:$7$101$!!$abc\n', 1, /malformed \$7\$/],
    ['carol:$argon2id$v=19$m=65536$abc$def\n', 1, /unsupported hash type/]
  ]
  for (const [text, line, message] of cases) {
    assert.throws(() => parsePasswordFile(text, 'pwfile'), (err: unknown) => {
      assert.ok(err instanceof FileProblem, String(err))
      assert.equal(err.line, line, err.message)
      assert.match(err.message, message)
      return true
    })
  }
})

test('the verification cache serves only the right password, and a wrong one never hits it', async () => {
  const file = parsePasswordFile(MOSQUITTO_LINES, 'pw')
  const alice = file.get('alice')
  assert.ok(alice)
  const v = new PasswordVerifier({ cacheTtlMs: 60_000, maxCacheEntries: 10, concurrency: 1, maxPending: 100 })
  assert.equal(await v.verify('alice', alice, Buffer.from('wrong')), 'bad')
  assert.equal(v.stats.computed, 1)
  assert.equal(await v.verify('alice', alice, Buffer.from('secret')), 'ok')
  assert.equal(await v.verify('alice', alice, Buffer.from('secret')), 'ok')
  assert.equal(v.stats.cacheHits, 1)
  assert.equal(await v.verify('alice', alice, Buffer.from('wrong')), 'bad')
  assert.equal(v.stats.cacheHits, 1)
  assert.equal(v.stats.computed, 3)
  // A changed line (new password) invalidates the cached verification.
  const changed = { ...alice, text: alice.text + 'x' }
  assert.equal(await v.verify('alice', changed, Buffer.from('secret')), 'ok')
  assert.equal(v.stats.cacheHits, 1)
})

test('verifications beyond the pending limit are refused as busy instead of queueing forever', async () => {
  const entry = parsePasswordFile(`u:${await hashPassword('p', 20_000)}\n`, 'pw').get('u')
  assert.ok(entry)
  const v = new PasswordVerifier({ cacheTtlMs: 0, maxCacheEntries: 10, concurrency: 1, maxPending: 2 })
  const results = await Promise.all([1, 2, 3, 4, 5].map(() => v.verify('u', entry, Buffer.from('p'))))
  assert.deepEqual(results.sort(), ['busy', 'busy', 'ok', 'ok', 'ok'])
})

test('the brute-force guard locks an address after N failures in the window, then recovers', () => {
  let now = 1_000_000
  const guard = new BruteForceGuard({ maxFailures: 3, windowMs: 10_000, lockoutMs: 60_000 }, () => now)
  assert.equal(guard.failed('1.2.3.4'), false)
  assert.equal(guard.failed('1.2.3.4'), false)
  assert.equal(guard.lockedFor('1.2.3.4'), 0)
  assert.equal(guard.failed('1.2.3.4'), true)
  assert.equal(guard.lockedFor('1.2.3.4'), 60_000)
  assert.equal(guard.lockedFor('5.6.7.8'), 0, 'other addresses are unaffected')
  assert.notEqual(guardKey('1.2.3.4', 'alice'), guardKey('1.2.3.4', 'bob'), 'users behind one address count apart')
  assert.notEqual(guardKey('1.2.3.4', undefined), guardKey('1.2.3.4', 'alice'))
  now += 30_000
  guard.succeeded('1.2.3.4') // a success during a lockout does not lift it
  assert.equal(guard.lockedFor('1.2.3.4'), 30_000)
  now += 30_001
  assert.equal(guard.lockedFor('1.2.3.4'), 0)
  // Failures spread wider than the window never add up to a lockout.
  for (let i = 0; i < 10; i++) {
    now += 6_000
    guard.failed('9.9.9.9')
    guard.failed('9.9.9.9')
    now += 6_000
  }
  assert.equal(guard.lockedFor('9.9.9.9'), 0)
})

test('the guard table stays bounded under a flood of addresses', () => {
  const guard = new BruteForceGuard({ maxFailures: 5, windowMs: 60_000, lockoutMs: 60_000, maxAddresses: 1000 })
  for (let i = 0; i < 10_000; i++) guard.failed(`10.0.${i >> 8}.${i & 255}`)
  assert.ok(guard.size <= 1000, `size ${guard.size}`)
})

test('a check whose client left while it waited for a slot costs no PBKDF2', async () => {
  const entry = parsePasswordFile(`u:${await hashPassword('p', 20_000)}\n`, 'pw').get('u')
  assert.ok(entry)
  const v = new PasswordVerifier({ cacheTtlMs: 0, maxCacheEntries: 10, concurrency: 1, maxPending: 10 })
  let stillThere = true
  const first = v.verify('u', entry, Buffer.from('p'), () => true)
  const second = v.verify('u', entry, Buffer.from('p'), () => stillThere)
  stillThere = false // the second client closes while the first check runs
  assert.deepEqual(await Promise.all([first, second]), ['ok', 'gone'])
  assert.equal(v.stats.computed, 1)
})

test('an unknown user costs the same PBKDF2 as a known one (no username enumeration by timing)', async () => {
  const passwords = parsePasswordFile(`known:${await hashPassword('pw', 50_000)}\n`, 'pw')
  const verifier = new PasswordVerifier({ cacheTtlMs: 0, maxCacheEntries: 1, concurrency: 2, maxPending: 10 })
  const resolver = new IdentityResolver({ passwords: () => passwords, jwt: () => null, verifier, certIdentity: 'none', allowAnonymous: false })
  const time = async (user: string): Promise<number> => {
    const t = Date.now()
    const r = await resolver.resolve(user, Buffer.from('wrong'), null)
    assert.ok(!r.ok && r.code === 4)
    return Date.now() - t
  }
  await time('known')
  const known = await time('known')
  const unknown = await time('nobody')
  assert.equal(verifier.stats.computed, 3)
  assert.ok(unknown > known / 3, `unknown ${unknown} ms vs known ${known} ms`)
})

test('the per-username guard: failures from any addresses add up; known addresses stay open; a success does not reset the count; the lockout ends', () => {
  let now = 1_000_000
  const guard = new UsernameGuard({ maxFailures: 3, windowMs: 10_000, lockoutMs: 60_000 }, () => now)
  guard.succeeded('alice', '10.0.0.1')
  assert.equal(guard.failed('alice'), false)
  guard.succeeded('alice', '10.0.0.1') // the owner's device logging in meanwhile
  assert.equal(guard.failed('alice'), false)
  assert.equal(guard.failed('alice'), true, 'the third failure, whatever the addresses')
  assert.equal(guard.lockedFor('alice', '10.9.9.9'), 60_000)
  assert.equal(guard.lockedFor('alice', '10.0.0.1'), 0, 'an address alice logged in from')
  assert.equal(guard.lockedFor('bob', '10.9.9.9'), 0)
  assert.equal(guard.lockedFor(undefined, '10.9.9.9'), 0, 'anonymous attempts have no username to lock')
  now += 60_001
  assert.equal(guard.lockedFor('alice', '10.9.9.9'), 0)
})
