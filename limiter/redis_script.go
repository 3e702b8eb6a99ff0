package limiter

import (
	"crypto/sha1"
	"encoding/hex"
)

// Both scripts keep a bucket's theoretical arrival time (TAT) as a Lua
// number of microseconds since 2025-01-01T00:00:00Z, read from Redis TIME.
// Lua numbers are doubles: integers are exact up to 2⁵³ µs (285 years),
// and fractional emission intervals (Period/Rate not a whole number of
// microseconds) keep sub-microsecond precision for decades. A bucket is a
// plain string key holding the TAT with a PX expiry at the TAT, after
// which the bucket is full and the key is not needed.

// reserveLua decides every limit of a request and charges them all only
// if all admit their cost. KEYS[i] is the bucket of limit i; ARGV holds
// four numbers per limit: period (ns), rate, burst, cost. It returns
// {ok, then per limit: allowed, too_large, remaining, reset_us, retry_us}.
const reserveLua = `
local t = redis.call('TIME')
local now = (tonumber(t[1]) - 1735689600) * 1000000 + tonumber(t[2])
local n = #KEYS
local before, after, ivs, spans, allowed, too, retry = {}, {}, {}, {}, {}, {}, {}
local cur, first = {}, {}
local ok = 1
for i = 1, n do
  local b = (i - 1) * 4
  local iv = (tonumber(ARGV[b + 1]) / 1000) / tonumber(ARGV[b + 2])
  local burst = tonumber(ARGV[b + 3])
  local cost = tonumber(ARGV[b + 4])
  local span = burst * iv
  local key = KEYS[i]
  local tat = cur[key]
  if tat == nil then
    local v = redis.call('GET', key)
    tat = v and tonumber(v) or now
    if tat < now then tat = now end
    before[i] = tat
    first[key] = i
  else
    before[i] = before[first[key]]
  end
  local nxt = tat + cost * iv
  allowed[i], too[i], retry[i] = 0, 0, 0
  if cost > burst then
    too[i] = 1
  elseif nxt - span > now then
    retry[i] = math.ceil(nxt - span - now)
  else
    allowed[i] = 1
  end
  if allowed[i] == 0 then
    ok = 0
    nxt = tat
  end
  after[i], ivs[i], spans[i], cur[key] = nxt, iv, span, nxt
end
local out = {ok}
for i = 1, n do
  local state = before[i]
  if ok == 1 then state = after[i] end
  local rem = math.floor((now + spans[i] - state) / ivs[i] + 1e-6)
  if rem < 0 then rem = 0 end
  local j = 2 + (i - 1) * 5
  out[j], out[j + 1], out[j + 2], out[j + 3], out[j + 4] = allowed[i], too[i], rem, math.ceil(state - now), retry[i]
end
if ok == 1 then
  for i = 1, n do
    local ttl = math.ceil((after[i] - now) / 1000)
    if ttl > 0 then
      redis.call('SET', KEYS[i], string.format('%.17g', after[i]), 'PX', ttl)
    else
      redis.call('DEL', KEYS[i])
    end
  end
end
return out
`

// adjustLua charges (positive delta) or refunds (negative delta) buckets.
// KEYS[i] is a bucket; ARGV holds three numbers per bucket: period (ns),
// rate, delta. A refund never fills a bucket beyond full; a charge may put
// it into debt.
const adjustLua = `
local t = redis.call('TIME')
local now = (tonumber(t[1]) - 1735689600) * 1000000 + tonumber(t[2])
for i = 1, #KEYS do
  local b = (i - 1) * 3
  local iv = (tonumber(ARGV[b + 1]) / 1000) / tonumber(ARGV[b + 2])
  local delta = tonumber(ARGV[b + 3])
  local v = redis.call('GET', KEYS[i])
  local tat = v and tonumber(v)
  if delta < 0 then
    if tat and tat > now then
      tat = tat + delta * iv
      if tat > now then
        redis.call('SET', KEYS[i], string.format('%.17g', tat), 'PX', math.ceil((tat - now) / 1000))
      else
        redis.call('DEL', KEYS[i])
      end
    end
  elseif delta > 0 then
    if not tat or tat < now then tat = now end
    tat = tat + delta * iv
    redis.call('SET', KEYS[i], string.format('%.17g', tat), 'PX', math.ceil((tat - now) / 1000))
  end
end
return 1
`

// script is a Lua script and its SHA1, for EVALSHA.
type script struct {
	src string
	sha string
}

func newScript(src string) script {
	h := sha1.Sum([]byte(src))
	return script{src: src, sha: hex.EncodeToString(h[:])}
}

var (
	reserveScript = newScript(reserveLua)
	adjustScript  = newScript(adjustLua)
)
