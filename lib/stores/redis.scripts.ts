import { createHash } from 'node:crypto';

// The Lua scripts of RedisStore, each run whole and atomically by Redis.

// Shared Lua: index upkeep, chunked HSET (Lua's unpack takes at most ~8000 values), value pieces, JSON numbers.
const LUA_HELPERS = String.raw`
-- Redis 3.2 to 4 replicate scripts verbatim unless told otherwise; TIME needs effects replication.
if redis.replicate_commands then redis.replicate_commands() end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function ms(n) return string.format('%.0f', n) end
-- Drops index members whose expiry passed and makes the index live as long as its longest member.
local function idx_fix(ik, now)
  redis.call('ZREMRANGEBYSCORE', ik, '-inf', ms(now))
  local top = redis.call('ZREVRANGE', ik, 0, 0, 'WITHSCORES')
  if top[2] then redis.call('PEXPIREAT', ik, ms(tonumber(top[2]))) end
end
local function idx_put(ik, h, score, now, raise_only)
  local cur = raise_only and redis.call('ZSCORE', ik, h)
  if not cur or tonumber(cur) < score then redis.call('ZADD', ik, ms(score), h) end
  idx_fix(ik, now)
end
local function idx_rem(ik, h, now)
  redis.call('ZREM', ik, h)
  idx_fix(ik, now)
end
local function hset_range(k, a, first, last)
  local i = first
  while i <= last do
    local j = math.min(i + 999, last)
    redis.call('HSET', k, unpack(a, i, j))
    i = j + 1
  end
end
-- Deletes the continuation fields (+1.key, +2.key, ...) of data field f; true if there were any.
local function del_more(k, f)
  local i = 1
  while redis.call('HDEL', k, '+' .. i .. f) == 1 do i = i + 1 end
  return i > 1
end
-- Replaces the hash k with a record: created and touched at ARGV[5] and ARGV[6], the user ARGV[8]
-- when ARGV[7] is '1', data fields from ARGV[first] on. Returns the user, or false.
local function write_record(k, first)
  local user = ARGV[7] == '1' and ARGV[8] or false
  redis.call('DEL', k)
  redis.call('HSET', k, '@c', ARGV[5], '@t', ARGV[6])
  if user then redis.call('HSET', k, '@u', user) end
  hset_range(k, ARGV, first, #ARGV)
  return user
end
-- A JSON number that JSON.parse reads back as exactly n (shortest of 15 to 17 digits).
local function jnum(n)
  if n ~= n or n == math.huge or n == -math.huge then return 'null' end
  if n == 0 then return '0' end
  for p = 15, 16 do
    local s = string.format('%.' .. p .. 'g', n)
    if tonumber(s) == n then return s end
  end
  return string.format('%.17g', n)
end
-- Cluster mode: the session hash remembers in @x the score it last asked the client to put in
-- the user index (expiry + one ttl of headroom), so only about one write per ttl needs a second
-- command. Returns what the client must do: {1, put?, user, score, remove?, old user}.
local function cluster_index(k, old, cur, now, ttl)
  local put, xs = 0, ''
  if cur then
    local x = tonumber(redis.call('HGET', k, '@x') or '')
    if cur ~= old or not x or x < now + ttl then
      xs = ms(now + 2 * ttl)
      redis.call('HSET', k, '@x', xs)
      put = 1
    end
  else
    redis.call('HDEL', k, '@x')
  end
  local rem = 0
  if old and old ~= cur then rem = 1 end
  return {1, put, cur or '', xs, rem, old or ''}
end
-- The end of every session write: the expiry, then the user index, in this script (one server)
-- or by the client afterwards (Cluster: the index is in another hash slot).
local function finish(k, old, cur, now, ttl, inline)
  local out = {1}
  if not inline then out = cluster_index(k, old, cur, now, ttl) end
  redis.call('PEXPIRE', k, ARGV[4])
  if inline then
    if old and old ~= cur then idx_rem(ARGV[2] .. old, ARGV[3], now) end
    if cur then idx_put(ARGV[2] .. cur, ARGV[3], now + ttl, now, false) end
  end
  return out
end
`;

// KEYS[1] session. ARGV: inline, index prefix, handle, ttl, createdAt, touchedAt, hasUser, user, field/value pairs...
const SET_LUA = `${LUA_HELPERS}
local k = KEYS[1]
local inline = ARGV[1] == '1'
local ttl = tonumber(ARGV[4])
local now = now_ms()
local old = redis.call('HGET', k, '@u')
local user = write_record(k, 9)
return finish(k, old, user, now, ttl, inline)
`;

// KEYS[1] session. ARGV: inline, index prefix, handle, ttl, touchedAt, clear, user op (k keep, s set, d delete), user,
// #unset, #set pairs, #incr pairs, then unset fields, set field/value pairs, incr field/amount pairs.
const PATCH_LUA = `${LUA_HELPERS}
local k = KEYS[1]
if redis.call('HEXISTS', k, '@c') == 0 then return {0} end
local inline = ARGV[1] == '1'
local ttl = tonumber(ARGV[4])
local now = now_ms()
local old = redis.call('HGET', k, '@u')
if ARGV[6] == '1' then
  -- Data fields ('.') and their continuations ('+').
  for _, f in ipairs(redis.call('HKEYS', k)) do
    local b = string.byte(f, 1)
    if b == 46 or b == 43 then redis.call('HDEL', k, f) end
  end
end
local nu, ns, ni = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local p = 12
for i = p, p + nu - 1 do
  redis.call('HDEL', k, ARGV[i])
  del_more(k, ARGV[i])
end
p = p + nu
-- A new value replaces every piece of the old one.
for i = p, p + 2 * ns - 1, 2 do
  if string.byte(ARGV[i], 1) == 46 then del_more(k, ARGV[i]) end
end
hset_range(k, ARGV, p, p + 2 * ns - 1)
p = p + 2 * ns
for i = p, p + 2 * ni - 1, 2 do
  local v = redis.call('HGET', k, ARGV[i])
  local n = 0
  -- A value in pieces is long, so never a number.
  if not del_more(k, ARGV[i]) and v and string.find(v, '^%-?%d') then n = tonumber(v) or 0 end
  redis.call('HSET', k, ARGV[i], jnum(n + tonumber(ARGV[i + 1])))
end
local cur = old
if ARGV[7] == 's' then
  cur = ARGV[8]
  redis.call('HSET', k, '@u', cur)
elseif ARGV[7] == 'd' then
  cur = false
  redis.call('HDEL', k, '@u')
end
redis.call('HSET', k, '@t', ARGV[5])
return finish(k, old, cur, now, ttl, inline)
`;

// KEYS[1] the old session. ARGV: inline, index prefix, new handle, ttl, createdAt, touchedAt, hasUser, user,
// session key prefix (as Lua must spell it), old handle, forwarding ttl, field/value pairs...
// Only if the old session still exists: replaces it with a forwarding record (field @m: the new handle, no @c,
// so nothing but DESTROY_LUA sees it) and (one server) writes the new session like SET_LUA. On a Cluster the new
// key is in another hash slot: the client has written the new session already, and the script only claims the
// old one; when the claim fails, the client destroys the new one (which has no cookie yet).
const MOVE_LUA = `${LUA_HELPERS}
local from = KEYS[1]
if redis.call('HEXISTS', from, '@c') == 0 then return {0} end
local inline = ARGV[1] == '1'
local olduser = redis.call('HGET', from, '@u')
redis.call('DEL', from)
redis.call('HSET', from, '@m', ARGV[3])
redis.call('PEXPIRE', from, ARGV[11])
if not inline then
  if olduser then return {1, 1, olduser} end
  return {1, 0, ''}
end
local now = now_ms()
local ttl = tonumber(ARGV[4])
if olduser then idx_rem(ARGV[2] .. olduser, ARGV[10], now) end
local k = ARGV[9] .. ARGV[3]
local user = write_record(k, 12)
return finish(k, false, user, now, ttl, inline)
`;

// KEYS[1] session. ARGV: inline, index prefix, handle, ttl, touchedAt.
const TOUCH_LUA = `${LUA_HELPERS}
local k = KEYS[1]
if redis.call('HEXISTS', k, '@c') == 0 then return {0} end
local inline = ARGV[1] == '1'
local ttl = tonumber(ARGV[4])
local now = now_ms()
local user = redis.call('HGET', k, '@u')
redis.call('HSET', k, '@t', ARGV[5])
return finish(k, user, user, now, ttl, inline)
`;

// KEYS[1] session. ARGV: inline, index prefix, handle, session key prefix, expected user ('' for any).
// Deletes the session, or a forwarding record and (one server) the session it leads to, following further moves.
// With an expected user, a session of someone else is left alone. Returns {1, had user?, user, forwarded to, deleted a session?}:
// on a Cluster the client removes the user's index member and destroys where it was forwarded to.
const DESTROY_LUA = `${LUA_HELPERS}
local k, h = KEYS[1], ARGV[3]
local inline = ARGV[1] == '1'
for _ = 1, 8 do
  local f = redis.call('HMGET', k, '@c', '@u', '@m')
  if f[1] and ARGV[5] ~= '' and f[2] ~= ARGV[5] then return {1, 0, '', '', 0} end
  redis.call('DEL', k)
  local gone = f[1] and 1 or 0
  if not inline then return {1, f[2] and 1 or 0, f[2] or '', f[3] or '', gone} end
  if f[2] then idx_rem(ARGV[2] .. f[2], h, now_ms()) end
  if not f[3] then return {1, 0, '', '', gone} end
  h = f[3]
  k = ARGV[4] .. h
end
return {1, 0, '', '', 0}
`;

// KEYS[1] user index. ARGV: inline, session key prefix, user, except handle ('' for none).
// One server: deletes every session of the user but the excepted one, in one step, and returns their handles.
// Cluster: the sessions are in other hash slots, so it only returns the members, for the client to destroy one by
// one (DESTROY_LUA with the expected user); a move in flight is still caught, by its forwarding record.
const DESTROY_USER_LUA = `${LUA_HELPERS}
local ik = KEYS[1]
local members = redis.call('ZRANGE', ik, 0, -1)
if ARGV[1] ~= '1' then return members end
local out = {}
for _, h in ipairs(members) do
  if h ~= ARGV[4] then
    local k = ARGV[2] .. h
    if redis.call('HGET', k, '@u') == ARGV[3] then
      redis.call('DEL', k)
      out[#out + 1] = h
    end
    redis.call('ZREM', ik, h)
  end
end
idx_fix(ik, now_ms())
return out
`;

// KEYS[1] user index. ARGV: 'put', handle, score | 'rem', handle | 'drop', handle, seen score, ...
// 'drop' removes members only if their score is still the one seen, so a concurrent re-add survives.
const INDEX_LUA = `${LUA_HELPERS}
local ik = KEYS[1]
local now = now_ms()
if ARGV[1] == 'put' then
  idx_put(ik, ARGV[2], tonumber(ARGV[3]), now, true)
elseif ARGV[1] == 'rem' then
  idx_rem(ik, ARGV[2], now)
else
  for i = 2, #ARGV, 2 do
    local s = redis.call('ZSCORE', ik, ARGV[i])
    if s and tonumber(s) == tonumber(ARGV[i + 1]) then redis.call('ZREM', ik, ARGV[i]) end
  end
  idx_fix(ik, now)
end
return 1
`;

// KEYS[1] a session's lock. ARGV: token, ttl. Extends the lock only while the token holds it.
const LOCK_RENEW_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

// KEYS[1] a session's lock. ARGV: token. Deletes the lock only while the token holds it.
const LOCK_RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export class LuaScript {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}

export const SCRIPTS = {
  set: new LuaScript(SET_LUA),
  patch: new LuaScript(PATCH_LUA),
  move: new LuaScript(MOVE_LUA),
  touch: new LuaScript(TOUCH_LUA),
  destroy: new LuaScript(DESTROY_LUA),
  destroyUser: new LuaScript(DESTROY_USER_LUA),
  index: new LuaScript(INDEX_LUA),
  lockRenew: new LuaScript(LOCK_RENEW_LUA),
  lockRelease: new LuaScript(LOCK_RELEASE_LUA),
};
