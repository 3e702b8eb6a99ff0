package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/llmgate/llmgate/models"
	"github.com/llmgate/llmgate/policy"
)

// Config is the proxy's YAML configuration (DESIGN.md, "Example proxy
// configuration"). Zero values mean the defaults documented per field.
type Config struct {
	// Listen is the address to serve on. Default: 127.0.0.1:8080.
	Listen string `yaml:"listen"`
	// Upstream is where requests go.
	Upstream Upstream `yaml:"upstream"`
	// Keys are the API keys clients send, by SHA-256 digest.
	Keys []Key `yaml:"keys"`
	// KeysFile names a file of more keys, one JSON object per line with
	// the fields of a key (see keysfile.go); relative to the configuration
	// file. Read by LoadConfig, again on every reload. For many keys:
	// 100,000 keys load 5× faster with a third of the memory of YAML
	// (BenchmarkKeysFile).
	KeysFile string `yaml:"keys_file"`
	// Tiers are limits, model access and budgets by tier name.
	Tiers map[string]Tier `yaml:"tiers"`
	// Orgs are per-organisation budgets.
	Orgs map[string]Org `yaml:"orgs"`
	// Models overrides the built-in catalog (prices, context, encoding).
	Models map[string]models.Override `yaml:"models"`
	// Aliases maps requested model names to the names to use.
	Aliases map[string]string `yaml:"aliases"`
	// Policy loads Rego policies. Default: the shipped library.
	Policy PolicyConfig `yaml:"policy"`
	// Cache configures the response cache.
	Cache CacheConfig `yaml:"cache"`
	// Moderation turns input and output moderation on.
	Moderation ModerationConfig `yaml:"moderation"`
	// Redis shares limits, budgets and cache between replicas.
	Redis RedisConfig `yaml:"redis"`
	// Admin guards /admin/usage.
	Admin Admin `yaml:"admin"`
	// Log configures request logging.
	Log LogConfig `yaml:"log"`
	// Debug exposes profiling endpoints.
	Debug DebugConfig `yaml:"debug"`
}

// Upstream is the model server the proxy fronts.
type Upstream struct {
	// URL is the upstream's base URL including /v1 (for example
	// http://127.0.0.1:11434/v1 for Ollama), or "builtin" for the
	// in-process llmtest model. Default: builtin.
	URL string `yaml:"url"`
	// APIKeyEnv names the environment variable holding the upstream's
	// API key, sent as Authorization: Bearer. Default: none.
	APIKeyEnv string `yaml:"api_key_env"`
	// Timeout bounds each attempt until response headers. Default: 60s.
	Timeout Duration `yaml:"timeout"`
	// Retries is the number of retries after the first attempt. Default: 2.
	Retries *int `yaml:"retries"`
}

// Key is one client API key.
type Key struct {
	ID        string            `yaml:"id" json:"id"`
	KeySHA256 string            `yaml:"key_sha256" json:"key_sha256"`
	User      string            `yaml:"user" json:"user"`
	Org       string            `yaml:"org" json:"org"`
	Tier      string            `yaml:"tier" json:"tier"`
	Labels    map[string]string `yaml:"labels" json:"labels"`
	Revoked   bool              `yaml:"revoked" json:"revoked"`
}

// Tier is what a key of the tier may do.
type Tier struct {
	RPM int `yaml:"rpm"`
	TPM int `yaml:"tpm"`
	// RPMBurst and TPMBurst are how many requests and tokens a fresh key
	// may use at once (0: the rate); TPMBurst is also the largest request.
	RPMBurst int      `yaml:"rpm_burst"`
	TPMBurst int      `yaml:"tpm_burst"`
	Models   []string `yaml:"models"`
	Budget   Budget   `yaml:"budget"`
}

// Org is an organisation's budget.
type Org struct {
	Budget Budget `yaml:"budget"`
}

// Budget is a spend limit in US dollars.
type Budget struct {
	USDPerMonth float64 `yaml:"usd_per_month"`
	USDPerDay   float64 `yaml:"usd_per_day"`
}

// PolicyConfig locates the Rego policies.
type PolicyConfig struct {
	// Dir holds .rego files. Default: empty, the shipped library.
	Dir string `yaml:"dir"`
	// Disabled takes the policy layer out of the chain: no Rego decision
	// is made, so tiers' model lists are not enforced and input moderation
	// only scores (nothing blocks on the scores). Meant for measuring the
	// other layers (bench/). Default: false.
	Disabled bool `yaml:"disabled"`
	// Evaluator evaluates the decisions: "ir" (llmgate's evaluator of
	// OPA's plans, several times faster), "topdown" (OPA's reference
	// evaluator) or "auto", ir when it supports everything the policy
	// uses. Default: auto.
	Evaluator string `yaml:"evaluator"`
}

// CacheConfig configures the response cache.
type CacheConfig struct {
	// MaxBytes bounds the in-memory cache. Default: 64MiB; 0 disables
	// the cache when set explicitly with "disabled: true".
	MaxBytes ByteSize `yaml:"max_bytes"`
	// TTL is how long entries live. Default: 10m.
	TTL Duration `yaml:"ttl"`
	// Scope is key, org or global. Default: key.
	Scope string `yaml:"scope"`
	// Disabled turns the cache off.
	Disabled bool `yaml:"disabled"`
}

// ModerationConfig turns moderation on.
type ModerationConfig struct {
	Input  bool `yaml:"input"`
	Output bool `yaml:"output"`
}

// RedisConfig points at a shared Redis.
type RedisConfig struct {
	// URL is a redis:// URL; empty keeps everything in memory.
	URL string `yaml:"url"`
	// Fail is "closed" (503 when Redis is unreachable) or "open" (local
	// limits). Default: closed.
	Fail string `yaml:"fail"`
	// Replicas is the number of proxy replicas, for fail-open local limits
	// of limit/replicas. Default: 1.
	Replicas int `yaml:"replicas"`
	// Prefix starts every Redis key, so that several deployments can share
	// one Redis: limits live under <prefix>rl:, cached responses under
	// <prefix>cache: and spend under {<prefix>billing}: (the ledger keeps
	// all its keys in one Cluster slot; limits and cache spread by key).
	// It must not contain "{" or "}". Default: "llmgate:".
	Prefix string `yaml:"prefix"`
}

// Admin guards the admin endpoints.
type Admin struct {
	KeySHA256 string `yaml:"key_sha256"`
}

// LogConfig configures the request log.
type LogConfig struct {
	// Prompts logs prompt and response text, with PII redacted. Default: false.
	Prompts bool `yaml:"prompts"`
	// Format is "text" or "json". Default: text.
	Format string `yaml:"format"`
}

// DebugConfig exposes diagnostics on the proxy's own address.
type DebugConfig struct {
	// Pprof serves Go's profiles under /debug/pprof/ (for example
	// /debug/pprof/profile?seconds=10) to anyone who can reach the listen
	// address: turn it on only on a loopback or private address.
	// Default: false.
	Pprof bool `yaml:"pprof"`
}

// Duration is a time.Duration written as "60s" or "10m".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration such as 30s or 10m", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// ByteSize is a size written as 1048576, "64MiB", "512KiB", "1GiB" or "10MB".
type ByteSize int64

// UnmarshalYAML parses a size with an optional unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := parseByteSize(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = ByteSize(v)
	return nil
}

func parseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || f*float64(mult) > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is not a size such as 64MiB", s)
	}
	return int64(f * float64(mult)), nil
}

// LoadConfig reads and validates the YAML file at path.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if cfg.KeysFile != "" {
		file := cfg.KeysFile
		if !filepath.IsAbs(file) {
			file = filepath.Join(filepath.Dir(path), file)
		}
		if err := cfg.loadKeysFile(file); err != nil {
			return nil, fmt.Errorf("config %s: keys_file: %w", path, err)
		}
	}
	return cfg, nil
}

// ParseConfig decodes and validates a configuration. Unknown fields are
// errors; every error names the field and its line.
func ParseConfig(b []byte) (*Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	cfg := &Config{}
	if root.Kind != 0 {
		strict := yaml.NewDecoder(bytes.NewReader(b))
		strict.KnownFields(true)
		if err := strict.Decode(cfg); err != nil {
			return nil, err
		}
	}
	cfg.applyDefaults()
	if err := cfg.validate(&root); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.Upstream.URL == "" {
		c.Upstream.URL = "builtin"
	}
	if c.Upstream.Timeout == 0 {
		c.Upstream.Timeout = Duration(60 * time.Second)
	}
	if c.Upstream.Retries == nil {
		two := 2
		c.Upstream.Retries = &two
	}
	if c.Cache.MaxBytes == 0 {
		c.Cache.MaxBytes = 64 << 20
	}
	if c.Cache.TTL == 0 {
		c.Cache.TTL = Duration(10 * time.Minute)
	}
	if c.Cache.Scope == "" {
		c.Cache.Scope = "key"
	}
	if c.Redis.Fail == "" {
		c.Redis.Fail = "closed"
	}
	if c.Redis.Replicas == 0 {
		c.Redis.Replicas = 1
	}
	if c.Redis.Prefix == "" {
		c.Redis.Prefix = "llmgate:"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
}

// fieldError is a validation error naming the field and its line.
func fieldError(root *yaml.Node, path string, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if line := lineOf(root, path); line > 0 {
		return fmt.Errorf("line %d: %s: %s", line, path, msg)
	}
	return fmt.Errorf("%s: %s", path, msg)
}

// lineOf finds the line of a dotted path such as "keys.0.key_sha256" or
// "tiers.free.rpm" in the document; 0 when it is absent.
func lineOf(root *yaml.Node, path string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, part := range strings.Split(path, ".") {
		switch n.Kind {
		case yaml.MappingNode:
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part {
					line, next = n.Content[i].Line, n.Content[i+1]
					break
				}
			}
			if next == nil {
				return line
			}
			n = next
		case yaml.SequenceNode:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(n.Content) {
				return line
			}
			n = n.Content[i]
			line = n.Line
		default:
			return line
		}
	}
	return line
}

// checkKey reports what is wrong with one key through add(field, ...);
// ids holds the ids seen so far and gains k's.
func (c *Config) checkKey(k Key, ids map[string]bool, add func(field, format string, args ...any)) {
	switch {
	case k.ID == "":
		add("id", "missing")
	case ids[k.ID]:
		add("id", "duplicate id %q", k.ID)
	}
	ids[k.ID] = true
	if d, err := hex.DecodeString(k.KeySHA256); err != nil || len(d) != 32 {
		add("key_sha256", "must be the 64 hex digits of the key's SHA-256 (sha256sum)")
	}
	if k.Tier == "" && !c.Policy.Disabled && c.Policy.Dir == "" {
		add("tier", "missing: the shipped policy refuses a key without a tier (give it one, or set policy: {disabled: true})")
	}
	if k.Tier != "" && len(c.Tiers) > 0 {
		if _, ok := c.Tiers[k.Tier]; !ok {
			add("tier", "unknown tier %q", k.Tier)
		}
	}
	if k.Org != "" && c.Orgs != nil {
		if _, ok := c.Orgs[k.Org]; !ok {
			add("org", "unknown org %q (add it under orgs:)", k.Org)
		}
	}
}

func (c *Config) validate(root *yaml.Node) error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fieldError(root, path, format, args...))
	}
	if c.Upstream.URL != "builtin" {
		u, err := url.Parse(c.Upstream.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("upstream.url", "%q is not builtin or an http(s) URL such as http://127.0.0.1:11434/v1", c.Upstream.URL)
		}
	}
	if r := *c.Upstream.Retries; r < 0 || r > 10 {
		add("upstream.retries", "%d is out of range 0–10", r)
	}
	ids := make(map[string]bool, len(c.Keys))
	for i, k := range c.Keys {
		p := fmt.Sprintf("keys.%d", i)
		c.checkKey(k, ids, func(field, format string, args ...any) { add(p+"."+field, format, args...) })
	}
	for _, name := range slices.Sorted(maps.Keys(c.Tiers)) {
		t, p := c.Tiers[name], "tiers."+name
		if t.RPM < 0 {
			add(p+".rpm", "must not be negative")
		}
		if t.TPM < 0 {
			add(p+".tpm", "must not be negative")
		}
		if t.RPMBurst < 0 {
			add(p+".rpm_burst", "must not be negative")
		}
		if t.TPMBurst < 0 {
			add(p+".tpm_burst", "must not be negative")
		}
		if t.Budget.USDPerMonth < 0 || t.Budget.USDPerDay < 0 {
			add(p+".budget", "must not be negative")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Orgs)) {
		if o := c.Orgs[name]; o.Budget.USDPerMonth < 0 || o.Budget.USDPerDay < 0 {
			add("orgs."+name+".budget", "must not be negative")
		}
	}
	if _, err := models.New(models.Config{Models: c.Models, Aliases: c.Aliases}); err != nil {
		add("models", "%v", err)
	}
	if _, err := policy.ParseEvaluator(c.Policy.Evaluator); err != nil {
		add("policy.evaluator", "%q is not auto, topdown or ir", c.Policy.Evaluator)
	}
	switch c.Cache.Scope {
	case "key", "org", "global":
	default:
		add("cache.scope", "%q is not key, org or global", c.Cache.Scope)
	}
	if c.Redis.URL != "" {
		if u, err := url.Parse(c.Redis.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			add("redis.url", "%q is not a redis:// URL", c.Redis.URL)
		}
	}
	switch c.Redis.Fail {
	case "open", "closed":
	default:
		add("redis.fail", "%q is not open or closed", c.Redis.Fail)
	}
	if c.Redis.Replicas < 1 {
		add("redis.replicas", "must be at least 1")
	}
	if strings.ContainsAny(c.Redis.Prefix, "{}") {
		add("redis.prefix", "%q must not contain { or }: the stores add their own hash tags", c.Redis.Prefix)
	}
	if c.Admin.KeySHA256 != "" {
		if d, err := hex.DecodeString(c.Admin.KeySHA256); err != nil || len(d) != 32 {
			add("admin.key_sha256", "must be the 64 hex digits of the admin key's SHA-256")
		}
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format", "%q is not text or json", c.Log.Format)
	}
	return errors.Join(errs...)
}
