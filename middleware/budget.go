package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"

	"github.com/llmgate/llmgate/billing"
	"github.com/llmgate/llmgate/models"
	"github.com/llmgate/llmgate/wire"
)

// BudgetLimit is one scope's spending limits, in US dollars, as the proxy's
// YAML writes them (`budget: {usd_per_month: 10}`). A zero field sets no
// limit for that window; both may be set, and then both apply.
type BudgetLimit struct {
	// USDPerMonth is the most the scope may spend per calendar month (UTC).
	USDPerMonth float64 `yaml:"usd_per_month,omitempty" json:"usd_per_month,omitempty"`
	// USDPerDay is the most the scope may spend per calendar day (UTC).
	USDPerDay float64 `yaml:"usd_per_day,omitempty" json:"usd_per_day,omitempty"`
}

// BudgetConfig configures Budgets. The zero value has no budgets: the
// Budget layer then only fills Call.CostEstimate and Call.Cost.
type BudgetConfig struct {
	// Ledger records spend and holds reservations. Share one Redis ledger
	// between replicas to enforce budgets across them. Default: a new
	// billing.NewMemory ledger.
	Ledger billing.Ledger
	// Tiers are the per-key budgets of the keys of each tier
	// (`tiers.free.budget`). Default: none.
	Tiers map[string]BudgetLimit
	// Keys are per-key budgets by key id; they replace the tier's budget
	// for that key. Default: none.
	Keys map[string]BudgetLimit
	// Users are budgets per user (Principal.User). Default: none.
	Users map[string]BudgetLimit
	// Orgs are budgets per org (`orgs.acme.budget`). Default: none.
	Orgs map[string]BudgetLimit
	// Catalog prices the model when the chain has no Count layer (with
	// Count, Call.ModelInfo is used). Default: models.Builtin().
	Catalog *models.Catalog
	// ChargeCacheHits bills a response served from the cache
	// (Call.CacheStatus "HIT") like one from the model. Default: false, a
	// cache hit costs nothing.
	ChargeCacheHits bool
	// StepTokens is how many completion tokens' worth of cost a stream
	// that outgrew its reservation reserves at a time (see
	// billing.Reservation.Continue). Default: 256.
	StepTokens int
	// Logger receives ledger errors (settle failures, an unavailable
	// ledger). Default: slog.Default().
	Logger *slog.Logger
}

// maxCharges is the most charges a request makes: three scopes, two
// windows each.
const maxCharges = 6

// scopeLimit is a BudgetLimit in Money; 0 means no limit of that window.
type scopeLimit struct{ month, day billing.Money }

// Budgets holds the budgets of every scope and the ledger that enforces
// them. The Budget layer reserves against it and Policy reads its balances
// for the policy input; give both the same *Budgets.
//
// Create one with NewBudgets. A Budgets is immutable and safe for
// concurrent use; a nil *Budgets has no budgets.
type Budgets struct {
	ledger          billing.Ledger
	tiers, keys     map[string]scopeLimit
	users, orgs     map[string]scopeLimit
	catalog         *models.Catalog
	chargeCacheHits bool
	stepTokens      int
	logger          *slog.Logger
}

// NewBudgets validates cfg and returns its Budgets. A budget that is
// negative, not finite or larger than billing.MaxAmount is an error.
func NewBudgets(cfg BudgetConfig) (*Budgets, error) {
	b := &Budgets{
		ledger: cfg.Ledger, catalog: cfg.Catalog, chargeCacheHits: cfg.ChargeCacheHits,
		stepTokens: cfg.StepTokens, logger: cfg.Logger,
	}
	if b.ledger == nil {
		b.ledger = billing.NewMemory(billing.MemoryConfig{})
	}
	if b.catalog == nil {
		b.catalog = models.Builtin()
	}
	if b.stepTokens <= 0 {
		b.stepTokens = 256
	}
	if b.logger == nil {
		b.logger = slog.Default()
	}
	var err error
	for _, m := range []struct {
		name string
		src  map[string]BudgetLimit
		dst  *map[string]scopeLimit
	}{{"tiers", cfg.Tiers, &b.tiers}, {"keys", cfg.Keys, &b.keys}, {"users", cfg.Users, &b.users}, {"orgs", cfg.Orgs, &b.orgs}} {
		if *m.dst, err = convertLimits(m.name, m.src); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func convertLimits(name string, src map[string]BudgetLimit) (map[string]scopeLimit, error) {
	if len(src) == 0 {
		return nil, nil
	}
	dst := make(map[string]scopeLimit, len(src))
	for k, l := range src {
		month, err := usdToMoney(l.USDPerMonth)
		if err != nil {
			return nil, fmt.Errorf("middleware: budget %s.%s.usd_per_month: %w", name, k, err)
		}
		day, err := usdToMoney(l.USDPerDay)
		if err != nil {
			return nil, fmt.Errorf("middleware: budget %s.%s.usd_per_day: %w", name, k, err)
		}
		dst[k] = scopeLimit{month, day}
	}
	return dst, nil
}

// errBadBudget is wrapped by NewBudgets' errors about a budget's value.
var errBadBudget = errors.New("out of range")

func usdToMoney(usd float64) (billing.Money, error) {
	m := math.Round(usd * float64(billing.Dollar))
	if math.IsNaN(usd) || usd < 0 || m > float64(billing.MaxAmount) {
		return 0, fmt.Errorf("%v USD: %w (0 to %v)", usd, errBadBudget, billing.MaxAmount)
	}
	return billing.Money(m), nil
}

// Ledger returns the ledger the budgets are kept in.
func (b *Budgets) Ledger() billing.Ledger { return b.ledger }

// appendCharges appends a charge of amount for every budget of p's scopes:
// key (Keys, else the tier's), user and org, month before day.
func (b *Budgets) appendCharges(dst []billing.Charge, p *Principal, amount billing.Money) []billing.Charge {
	if b == nil || p == nil {
		return dst
	}
	add := func(scope string, l scopeLimit) {
		if l.month > 0 {
			dst = append(dst, billing.Charge{Scope: scope, Window: billing.Monthly, Budget: l.month, Amount: amount})
		}
		if l.day > 0 {
			dst = append(dst, billing.Charge{Scope: scope, Window: billing.Daily, Budget: l.day, Amount: amount})
		}
	}
	if p.KeyID != "" {
		l, ok := b.keys[p.KeyID]
		if !ok {
			l = b.tiers[p.Tier]
		}
		add("key:"+p.KeyID, l)
	}
	if p.User != "" {
		add("user:"+p.User, b.users[p.User])
	}
	if p.Org != "" {
		add("org:"+p.Org, b.orgs[p.Org])
	}
	return dst
}

// Balances reads the current spend of each of p's budgets (reservations of
// calls in flight included): one Balance per scope and window with a
// budget, key first, then user, then org. It returns nil when p has no
// budget. For /admin/usage and the policy input.
func (b *Budgets) Balances(ctx context.Context, p *Principal) ([]billing.Balance, error) {
	var buf [maxCharges]billing.Charge
	charges := b.appendCharges(buf[:0], p, 0)
	if len(charges) == 0 {
		return nil, nil
	}
	bals, err := b.ledger.Balances(ctx, charges)
	if err != nil {
		return nil, fmt.Errorf("middleware: budget balances: %w", err)
	}
	return bals, nil
}

// prices returns the prices of c's model: Call.ModelInfo's when Count ran,
// else the catalog's.
func (b *Budgets) prices(c *Call) models.Prices {
	if c.ModelInfo.Name != "" || c.Model == "" {
		return c.ModelInfo.Prices
	}
	m, _ := b.catalog.Resolve(c.Model)
	return m.Prices
}

// Budget returns the layer that keeps b's budgets. For each chat,
// completions or embeddings request it reserves the worst-case cost
// (billing.WorstCase of Call.PromptTokens and Call.MaxCompletionTokens at
// the model's prices) on every budget of the principal's scopes — key,
// user, org — atomically, all or nothing, before calling next: a request
// that does not fit gets 429 insufficient_quota with x-should-retry: false,
// and concurrent requests can never together reserve more than a budget.
//
// When the response ends, the reservation settles to billing.Cost of
// Call.Usage (set by Count: reported by the handler, or counted — so a
// client that disconnects mid-stream pays for the prompt and the tokens
// generated; an embeddings call pays for its input). An upstream error
// before any output cancels it; a cache hit costs nothing unless
// BudgetConfig.ChargeCacheHits. A stream that outgrows its reservation
// when the budget has run out is ended with a final SSE event carrying an
// insufficient_quota envelope, then [DONE].
// Call.CostEstimate and Call.Cost are set either way.
//
// Place it after Count and Policy (which may change the model and
// max_tokens). A nil b, a request without a Call and other endpoints pass
// through. An unavailable ledger is a 503 (or, with a fail-open Redis
// ledger, the request goes through unchecked); one that becomes
// unavailable when a stream needs more ends the stream with a 503 event
// (or, failing open, lets it run on unchecked).
func Budget(b *Budgets) Middleware {
	return func(next http.Handler) http.Handler {
		if b == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c := CallFrom(r.Context())
			if c == nil || (c.Chat == nil && c.Completion == nil && c.Embedding == nil) {
				next.ServeHTTP(w, r)
				return
			}
			b.serve(next, w, r, c)
		})
	}
}

func (b *Budgets) serve(next http.Handler, w http.ResponseWriter, r *http.Request, c *Call) {
	s := &budgetCall{b: b, c: c, prices: b.prices(c), ctx: context.WithoutCancel(r.Context())}
	worst := billing.WorstCase(s.prices, c.PromptTokens, c.MaxCompletionTokens)
	c.CostEstimate = worst
	var buf [maxCharges]billing.Charge
	charges := b.appendCharges(buf[:0], c.Principal, worst)
	if len(charges) > 0 {
		res, err := b.ledger.Reserve(r.Context(), charges)
		if err != nil {
			b.logger.ErrorContext(r.Context(), "middleware: budget reserve failed", "request_id", c.RequestID, "err", err)
			wire.WriteError(w, budgetUnavailable(c, err))
			return
		}
		if !res.Allowed {
			denied, _ := res.Denied()
			w.Header().Set("x-should-retry", "false")
			wire.WriteError(w, budgetExhausted(denied, worst))
			return
		}
		s.res, s.reserved = res, true
	}
	o := Observer{OnEnd: s.onEnd}
	if c.Stream && s.reserved {
		o.OnChunk = s.onChunk
		w = &budgetWriter{w: w, s: s}
	}
	c.Observe(o)
	next.ServeHTTP(w, r)
}

// budgetUnavailable is the envelope of a ledger that could not decide: 503
// when it was unreachable, else 500. Neither says more than the request id.
func budgetUnavailable(c *Call, err error) *wire.Error {
	e := wire.ServerError(c.RequestID)
	if errors.Is(err, billing.ErrUnavailable) {
		e.Status = http.StatusServiceUnavailable
	}
	return e
}

// budgetExhausted is the 429 insufficient_quota envelope for the balance
// that did not fit a request of worst-case cost worst.
func budgetExhausted(bal billing.Balance, worst billing.Money) *wire.Error {
	msg := "You exceeded your current quota: this request may cost up to " + worst.String() + "."
	if bal.Scope != "" {
		msg = fmt.Sprintf("You exceeded your current quota: the %s budget of %v per %s has %v left, and this request may cost up to %v.",
			bal.Scope, bal.Budget, bal.Window, bal.Remaining(), worst)
	}
	return &wire.Error{Status: http.StatusTooManyRequests, Type: wire.TypeInsufficientQuota,
		Code: wire.CodeInsufficientQuota, Message: msg}
}
