package billing

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmgate/llmgate/internal/outage"
)

// RedisConfig configures a RedisLedger.
type RedisConfig struct {
	// Client runs the ledger's script: a *redis.Client, *redis.ClusterClient
	// or *redis.Ring (all are redis.Scripter). Required.
	Client redis.Scripter
	// Prefix starts every key. Keep a hash tag in it ("{…}"): every key of
	// one Apply must live in one Redis Cluster slot for the script to be
	// atomic, so all ledger keys share the prefix's slot. Default:
	// "{llmgate:billing}:".
	Prefix string
	// Timeout bounds each call to Redis, on top of ctx's deadline.
	// Default: 250ms.
	Timeout time.Duration
	// Fail is what Reserve does when Redis does not answer. Default:
	// FailClosed.
	Fail FailMode
	// RetryInterval is how long, after Redis failed or timed out, calls
	// skip it: they fail at once (Reserve as Fail says) instead of each
	// waiting for Timeout. After it, calls try Redis again and the first
	// answer ends the outage. A settlement skipped this way is lost like
	// one that timed out: its hold lapses with its bucket. Default: 1s.
	RetryInterval time.Duration
	// Clock times RetryInterval; the ledger's days are Redis TIME's.
	// Default: the real clock.
	Clock Clock
}

// RedisLedger is a Ledger on Redis (or Valkey, or Redis Cluster), shared by
// every process that uses the same Redis and Prefix. Each Apply is one Lua
// script: it takes the day from Redis TIME (so replicas' clocks do not
// matter), sums each window's buckets, checks every budget and applies
// every change with integer HINCRBY, or nothing. Buckets are hashes with
// fields "s" (spent) and "r" (reserved), keyed
// "<prefix><scope>|<window>|<day or month index>", with a TTL past the end
// of every window that reads them. The script is sent with EVALSHA and
// reloaded when Redis answers NOSCRIPT.
//
// Create one with NewRedis; it is safe for concurrent use.
type RedisLedger struct {
	client  redis.Scripter
	prefix  string
	timeout time.Duration
	fail    FailMode
	down    *outage.Tracker
}

var _ Ledger = (*RedisLedger)(nil)

// NewRedis returns a ledger on cfg.Client.
func NewRedis(cfg RedisConfig) (*RedisLedger, error) {
	if cfg.Client == nil {
		return nil, errors.New("billing: RedisConfig.Client is nil")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "{llmgate:billing}:"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 250 * time.Millisecond
	}
	if cfg.Fail > FailOpen {
		return nil, fmt.Errorf("billing: unknown FailMode %d", cfg.Fail)
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	return &RedisLedger{client: cfg.Client, prefix: cfg.Prefix, timeout: cfg.Timeout, fail: cfg.Fail,
		down: outage.New(cfg.RetryInterval, cfg.Clock.Now)}, nil
}

// FailMode is what the ledger does when Redis cannot answer: Reserve fails
// (FailClosed) or admits the call (FailOpen). Middleware reads it to treat
// a reservation that cannot grow mid-stream the same way.
func (l *RedisLedger) FailMode() FailMode { return l.fail }

// Reserve implements Ledger. When Redis does not answer and the ledger
// fails open, it returns an allowed Reservation with FailedOpen set and no
// error; a done ctx is an error either way.
func (l *RedisLedger) Reserve(ctx context.Context, charges []Charge) (Reservation, error) {
	r, err := reserve(ctx, l, charges)
	if err != nil && l.fail == FailOpen && errors.Is(err, ErrUnavailable) && ctx.Err() == nil {
		r = Reservation{Allowed: true, FailedOpen: true, ledger: l, day: Today}
		r.setHolds(charges, false)
		return r, nil
	}
	return r, err
}

// Balances implements Ledger.
func (l *RedisLedger) Balances(ctx context.Context, charges []Charge) ([]Balance, error) {
	return balances(ctx, l, charges)
}

// args per op in the script's ARGV.
const argsPerOp = 8

// Apply implements Ledger. Errors from Redis, its timeout and ctx wrap
// ErrUnavailable; so does a call skipped because Redis failed within the
// retry interval.
func (l *RedisLedger) Apply(ctx context.Context, ops []Op) (Applied, error) {
	if err := validateOps(ops); err != nil {
		return Applied{}, err
	}
	if l.down.Skip() {
		return Applied{}, fmt.Errorf("%w: %w", ErrUnavailable, outage.ErrSkipped)
	}
	keys := make([]string, len(ops))
	args := make([]any, 0, len(ops)*argsPerOp)
	for i, op := range ops {
		c := op.Charge
		keys[i] = l.prefix + c.Scope + "|" + c.Window.String()
		budget := int64(-1)
		if c.Budget != Unlimited {
			budget = int64(c.Budget)
		}
		check := 0
		if op.Check {
			check = 1
		}
		args = append(args,
			int(c.Window.Period), c.Window.Days, op.Day, budget,
			int64(op.Reserved), int64(op.Spent), check, int64(c.Window.ttl()/time.Second))
	}
	tctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	res, err := applyScript.Run(tctx, l.client, keys, args...).Int64Slice()
	if err != nil {
		// go-redis reports a deadline as a net timeout, sometimes an
		// instant before ctx notices; make it an errors.Is match.
		var ne net.Error
		if cerr := tctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%w)", cerr, err)
		} else if errors.As(err, &ne) && ne.Timeout() && !errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
		}
	}
	l.down.Observe(ctx, err)
	if err != nil {
		return Applied{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if len(res) != 2+3*len(ops) {
		return Applied{}, fmt.Errorf("%w: script returned %d values for %d ops", ErrUnavailable, len(res), len(ops))
	}
	today := res[1]
	a := Applied{OK: res[0] == 1, Day: today, Balances: make([]Balance, len(ops))}
	for i, op := range ops {
		day := op.Day
		if day == Today {
			day = today
		}
		v := res[2+3*i:]
		a.Balances[i] = balance(op.Charge, day, Money(v[1]), Money(v[2]), v[0] == 1)
	}
	return a, nil
}

// applyScript is Apply in one atomic step.
//
// KEYS[i]: the base key of op i, "<prefix><scope>|<window>"; a bucket is
// the base key, "|" and its index (unix day, or year×12+month-1).
// ARGV, argsPerOp per op: period (0 month, 1 day, 2 rolling), rolling
// days, day (-1 = today by TIME), budget (-1 = unlimited), reserved delta,
// spent delta, check (0/1), TTL seconds.
// Returns {ok, today, then per op: fit, spent, reserved}.
//
// Amounts are below 2^53, so Lua's doubles sum and compare them exactly;
// deltas reach HINCRBY as the strings they came in as.
var applyScript = redis.NewScript(`
local now = redis.call('TIME')
local today = math.floor(tonumber(now[1]) / 86400)

local function month_of(day)
  -- civil-from-days (H. Hinnant), for days since 1970-01-01
  local z = day + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp + 3
  if mp >= 10 then m = mp - 9 end
  if m <= 2 then y = y + 1 end
  return y * 12 + m - 1
end

local n = #KEYS
local out = {1, today}
local last = {}
local ok = 1
for i = 1, n do
  local a = (i - 1) * 8
  local period = tonumber(ARGV[a + 1])
  local days = tonumber(ARGV[a + 2])
  local day = tonumber(ARGV[a + 3])
  local budget = tonumber(ARGV[a + 4])
  local dr = tonumber(ARGV[a + 5])
  local ds = tonumber(ARGV[a + 6])
  local check = ARGV[a + 7] == '1'
  if day < 0 then day = today end
  local idx = day
  if period == 0 then idx = month_of(day) end
  local first = idx
  if period == 2 then first = day - days + 1 end
  local s, r = 0, 0
  for j = first, idx do
    local v = redis.call('HMGET', KEYS[i] .. '|' .. string.format('%d', j), 's', 'r')
    s = s + (tonumber(v[1]) or 0)
    r = r + (tonumber(v[2]) or 0)
  end
  local fit = 1
  if check and budget >= 0 and s + ds + r + dr > budget then
    fit = 0
    ok = 0
  end
  last[i] = KEYS[i] .. '|' .. string.format('%d', idx)
  out[3 + 3 * (i - 1)] = fit
  out[4 + 3 * (i - 1)] = s
  out[5 + 3 * (i - 1)] = r
end
out[1] = ok
if ok == 0 then return out end

for i = 1, n do
  local a = (i - 1) * 8
  local dr = tonumber(ARGV[a + 5])
  local ds = tonumber(ARGV[a + 6])
  if dr ~= 0 or ds ~= 0 then
    local key = last[i]
    if ds ~= 0 then redis.call('HINCRBY', key, 's', ARGV[a + 6]) end
    if dr ~= 0 then
      local before = tonumber(redis.call('HGET', key, 'r') or '0')
      local after = redis.call('HINCRBY', key, 'r', ARGV[a + 5])
      if after < 0 then
        redis.call('HSET', key, 'r', 0)
        after = 0
      end
      dr = after - before
    end
    redis.call('EXPIRE', key, ARGV[a + 8])
    out[4 + 3 * (i - 1)] = out[4 + 3 * (i - 1)] + ds
    out[5 + 3 * (i - 1)] = out[5 + 3 * (i - 1)] + dr
  end
end
return out
`)
