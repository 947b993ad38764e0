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
-- Runs cmd on k with the values a[first..last], at most 1000 a call; the replies that are lists, joined.
local function batch(cmd, k, a, first, last)
  if first > last then return {} end
  if last - first < 1000 then return redis.call(cmd, k, unpack(a, first, last)) end
  local out = {}
  local i = first
  while i <= last do
    local j = math.min(i + 999, last)
    local r = redis.call(cmd, k, unpack(a, i, j))
    if type(r) == 'table' then
      for x = 1, #r do out[#out + 1] = r[x] end
    end
    i = j + 1
  end
  return out
end
local function hset_range(k, a, first, last) batch('HSET', k, a, first, last) end
-- Deletes the continuation fields (+1.key, +2.key, ...) of data field f; true if there were any.
local function del_more(k, f)
  local i = 1
  while redis.call('HDEL', k, '+' .. i .. f) == 1 do i = i + 1 end
  return i > 1
end
-- Replaces the hash k with a record: created and touched at the given times, the user (or false), data fields
-- from ARGV[first] on.
local function write_record(k, created, touched, user, first)
  redis.call('DEL', k)
  redis.call('HSET', k, '@c', created, '@t', touched)
  if user then redis.call('HSET', k, '@u', user) end
  hset_range(k, ARGV, first, #ARGV)
end
-- The user index prefix and the handle of session key k, whose first plen bytes are the session key prefix.
local function split_key(k, plen)
  plen = tonumber(plen)
  return string.sub(k, 1, plen) .. 'user:', string.sub(k, plen + 1)
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
-- The end of every session write: the expiry (ttl, milliseconds, as the client sent it), then
-- the user index of handle h (index keys: ip .. user), in this script (one server) or by the
-- client afterwards (Cluster: the index is in another hash slot). Reads the clock only for an index.
-- Returns 1 on one server (a number: the client decodes it faster than a list).
local function finish(k, old, cur, ttl, inline, ip, h)
  local n = tonumber(ttl)
  local now = (old or cur) and now_ms()
  local out = 1
  if not inline then out = cluster_index(k, old, cur, now, n) end
  redis.call('PEXPIRE', k, ttl)
  if inline then
    if old and old ~= cur then idx_rem(ip .. old, h, now) end
    if cur then idx_put(ip .. cur, h, now + n, now, false) end
  end
  return out
end
`;

// KEYS[1] session: the session key prefix (as Lua must spell it) then the handle.
// ARGV[1]: 'IU plen ttl createdAt touchedAt': I inline ('1' or '0'), U '1' when the session has a user, plen the
// byte length of the key prefix. ARGV[2] the user when U is '1'. Then the field/value pairs. One header argument
// rather than eight: each argument costs the client some encoding.
const SET_LUA = `${LUA_HELPERS}
local k = KEYS[1]
local inline, has, plen, ttl, created, touched = string.match(ARGV[1], '^(.)(.) (%d+) (%S+) (%S+) (%S+)$')
local user = has == '1' and ARGV[2]
local old = redis.call('HGET', k, '@u')
write_record(k, created, touched, user, user and 3 or 2)
local ip, h
if inline == '1' and (old or user) then ip, h = split_key(k, plen) end
return finish(k, old, user, ttl, inline == '1', ip, h)
`;

// KEYS[1] session: the session key prefix (as Lua must spell it) then the handle.
// ARGV[1]: 'ICU plen ttl touchedAt nu ns ni': I inline ('1' or '0'), C clear ('1' or '0'), U user op (k keep,
// s set, d delete), plen the byte length of the key prefix, then the counts of unset fields, of set field/value
// pairs and of incr field/amount pairs. ARGV[2] the user when U is 's'. Then the unset fields, set pairs and
// incr pairs. One header argument rather than nine: each argument costs the client some encoding.
const PATCH_LUA = `${LUA_HELPERS}
local k = KEYS[1]
local inline, clear, op, plen, ttl, touched, nu, ns, ni = string.match(ARGV[1], '^(.)(.)(.) (%d+) (%S+) (%S+) (%d+) (%d+) (%d+)$')
nu, ns, ni = tonumber(nu), tonumber(ns), tonumber(ni)
local us = op == 's' and 3 or 2
local ss = us + nu
local is = ss + 2 * ns
local ie = is + 2 * ni - 1
-- One read: the session's existence and user, the values to add to, then whether each value written, removed
-- or added to has pieces (+1 field) to delete.
local q = {'@c', '@u'}
for i = is, ie, 2 do q[#q + 1] = ARGV[i] end
local pq = #q
for i = us, ss - 1 do q[#q + 1] = '+1' .. ARGV[i] end
for i = ss, is - 1, 2 do
  if string.byte(ARGV[i], 1) == 46 then q[#q + 1] = '+1' .. ARGV[i] end
end
local pi = #q
for i = is, ie, 2 do q[#q + 1] = '+1' .. ARGV[i] end
local f = batch('HMGET', k, q, 1, #q)
if not f[1] then return 0 end
local old = f[2]
local del = {}
if clear == '1' then
  -- Data fields ('.') and their continuations ('+').
  for _, x in ipairs(redis.call('HKEYS', k)) do
    local b = string.byte(x, 1)
    if b == 46 or b == 43 then del[#del + 1] = x end
  end
end
for i = us, ss - 1 do del[#del + 1] = ARGV[i] end
local cur = old
if op == 's' then
  cur = ARGV[2]
elseif op == 'd' then
  cur = false
  del[#del + 1] = '@u'
end
batch('HDEL', k, del, 1, #del)
-- A value written, removed or added to loses every piece of the old one (only values of 65 bytes or more have any).
for j = pq + 1, #q do
  if f[j] then del_more(k, string.sub(q[j], 3)) end
end
-- One write: the set pairs, the sums, the user, the touch.
local w = {}
for i = ss, is - 1 do w[#w + 1] = ARGV[i] end
-- What this patch's removals and writes leave in a field it also adds to: the core never puts one key in two
-- lists, but the sum must be what applying them in turn would give.
local after, strip = {}, {}
if ni > 0 and nu + ns > 0 then
  for i = us, ss - 1 do after[ARGV[i]] = false end
  for i = ss, is - 1, 2 do after[ARGV[i]] = ARGV[i + 1] end
end
for i = is, ie, 2 do
  local j = (i - is) / 2 + 1
  local v, long = f[2 + j], f[pi + j]
  if clear == '1' then v, long = false, false end
  local left = after[ARGV[i]]
  if left ~= nil then
    v, long = left, after['+1' .. ARGV[i]] ~= nil
    -- The pieces just written go once the sum is.
    if long then strip[#strip + 1] = ARGV[i] end
  end
  local n = 0
  -- A value in pieces is long, so never a number.
  if not long and v and string.find(v, '^%-?%d') then n = tonumber(v) or 0 end
  w[#w + 1] = ARGV[i]
  w[#w + 1] = jnum(n + tonumber(ARGV[i + 1]))
end
if op == 's' then
  w[#w + 1] = '@u'
  w[#w + 1] = cur
end
w[#w + 1] = '@t'
w[#w + 1] = touched
hset_range(k, w, 1, #w)
for _, x in ipairs(strip) do del_more(k, x) end
local ip, h
-- The index prefix and the handle, from the key (needed only for a user index this script keeps).
if inline == '1' and (old or cur) then ip, h = split_key(k, plen) end
return finish(k, old, cur, ttl, inline == '1', ip, h)
`;

// KEYS[1] the old session: the session key prefix (as Lua must spell it) then the old handle.
// ARGV[1]: 'IU plen ttl createdAt touchedAt forwardingTtl to': as for SET_LUA, then the forwarding record's ttl and
// the new handle (last: the rest of the header, whatever it holds). Then, on one server, what SET_LUA takes after
// its header: the user when U is '1', the field/value pairs.
// Only if the old session still exists: replaces it with a forwarding record (field @m: the new handle, no @c,
// so nothing but DESTROY_LUA sees it) and (one server) writes the new session like SET_LUA. On a Cluster the new
// key is in another hash slot: the client has written the new session already, and the script only claims the
// old one; when the claim fails, the client destroys the new one (which has no cookie yet).
const MOVE_LUA = `${LUA_HELPERS}
local from = KEYS[1]
local inline, has, plen, ttl, created, touched, fttl, to = string.match(ARGV[1], '^(.)(.) (%d+) (%S+) (%S+) (%S+) (%S+) (.*)$')
local f = redis.call('HMGET', from, '@c', '@u')
if not f[1] then return 0 end
local olduser = f[2]
redis.call('DEL', from)
redis.call('HSET', from, '@m', to)
redis.call('PEXPIRE', from, fttl)
if inline ~= '1' then
  if olduser then return {1, 1, olduser} end
  return {1, 0, ''}
end
local ip, h = split_key(from, plen)
if olduser then idx_rem(ip .. olduser, h, now_ms()) end
local k = string.sub(from, 1, tonumber(plen)) .. to
local user = has == '1' and ARGV[2]
write_record(k, created, touched, user, user and 3 or 2)
return finish(k, false, user, ttl, true, ip, to)
`;

// KEYS[1] session: the session key prefix (as Lua must spell it) then the handle.
// ARGV[1]: 'I plen ttl touchedAt': I inline ('1' or '0'), plen the byte length of the key prefix.
const TOUCH_LUA = `${LUA_HELPERS}
local k = KEYS[1]
local inline, plen, ttl, touched = string.match(ARGV[1], '^(.) (%d+) (%S+) (%S+)$')
local f = redis.call('HMGET', k, '@c', '@u')
if not f[1] then return 0 end
redis.call('HSET', k, '@t', touched)
local ip, h
if inline == '1' and f[2] then ip, h = split_key(k, plen) end
return finish(k, f[2], f[2], ttl, inline == '1', ip, h)
`;

// KEYS[1] session: the session key prefix (as Lua must spell it) then the handle.
// ARGV[1]: 'I plen user': I inline ('1' or '0'), plen the byte length of the key prefix, the expected user ('' for
// any; last: the rest of the header, whatever it holds).
// Deletes the session, or a forwarding record and (one server) the session it leads to, following further moves.
// With an expected user, a session of someone else is left alone. Returns, on one server, 1 if it deleted a
// session, else 0; on a Cluster {1, had user?, user, forwarded to, deleted a session?}: the client removes the
// user's index member and destroys where it was forwarded to.
const DESTROY_LUA = `${LUA_HELPERS}
local inline, plen, expected = string.match(ARGV[1], '^(.) (%d+) (.*)$')
local k = KEYS[1]
local ip, h = split_key(k, plen)
local kp = string.sub(k, 1, tonumber(plen))
for _ = 1, 8 do
  local f = redis.call('HMGET', k, '@c', '@u', '@m')
  if f[1] and expected ~= '' and f[2] ~= expected then
    if inline ~= '1' then return {1, 0, '', '', 0} end
    return 0
  end
  redis.call('DEL', k)
  local gone = f[1] and 1 or 0
  if inline ~= '1' then return {1, f[2] and 1 or 0, f[2] or '', f[3] or '', gone} end
  if f[2] then idx_rem(ip .. f[2], h, now_ms()) end
  if not f[3] then return gone end
  h = f[3]
  k = kp .. h
end
if inline ~= '1' then return {1, 0, '', '', 0} end
return 0
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

// KEYS[1] a session. Its hash as one JSON array (field, value, field, value, ...), or false when it
// has none. Read-only. One reply string rather than two per field: the client decodes each reply
// string at a cost (ioredis 6 spends thousands of instructions on one), the JSON parser a whole
// array at a fraction of it.
const READ_LUA = `
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then return false end
return cjson.encode(h)
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
  read: new LuaScript(READ_LUA),
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
