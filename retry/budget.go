package retry

import (
	"sync"
	"time"
)

// BudgetConfig configures a Budget. The zero value means the defaults.
type BudgetConfig struct {
	// Ratio is the retries allowed per request sent. Default: 0.1, so that
	// during an outage retries add at most 10% to the load.
	Ratio float64
	// MinPerSecond is a floor of retries per second that accrues with time,
	// so that a quiet client can still retry. Default: 1.
	MinPerSecond float64
	// Max caps the retries saved up. Default: 10.
	Max float64
	// Clock tells the time for MinPerSecond. Default: the real clock.
	Clock Clock
}

// Budget is a token bucket of retries shared by the requests to one
// upstream: every request deposits Ratio tokens, time deposits MinPerSecond
// per second, and every retry withdraws one. When it is empty, failed
// attempts are returned to the caller instead of retried.
//
// Over any stretch of time, retries ≤ Max + Ratio·requests + MinPerSecond·seconds.
// Budget is safe for concurrent use.
type Budget struct {
	mu     sync.Mutex
	cfg    BudgetConfig
	tokens float64
	last   time.Time
}

// NewBudget returns a full budget.
func NewBudget(cfg BudgetConfig) *Budget {
	if cfg.Ratio <= 0 {
		cfg.Ratio = 0.1
	}
	if cfg.MinPerSecond < 0 {
		cfg.MinPerSecond = 0
	} else if cfg.MinPerSecond == 0 {
		cfg.MinPerSecond = 1
	}
	if cfg.Max <= 0 {
		cfg.Max = 10
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	return &Budget{cfg: cfg, tokens: cfg.Max, last: cfg.Clock.Now()}
}

func (b *Budget) refill() {
	now := b.cfg.Clock.Now()
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = min(b.cfg.Max, b.tokens+dt.Seconds()*b.cfg.MinPerSecond)
		b.last = now
	}
}

func (b *Budget) deposit() {
	b.mu.Lock()
	b.refill()
	b.tokens = min(b.cfg.Max, b.tokens+b.cfg.Ratio)
	b.mu.Unlock()
}

func (b *Budget) withdraw() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Available returns the retries the budget would allow now.
func (b *Budget) Available() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	return b.tokens
}
