package limiter

import (
	"testing"
	"time"
)

func TestFormatReset(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"},
		{0, "0s"},
		{time.Nanosecond, "1ms"},
		{20 * time.Millisecond, "20ms"},
		{547*time.Millisecond + 200*time.Microsecond, "548ms"},
		{1500 * time.Microsecond, "2ms"},
		{time.Second, "1s"},
		{8640 * time.Millisecond, "8.64s"},
		{time.Second + time.Microsecond, "1.001s"},
		{90500 * time.Millisecond, "1m30.5s"},
		{172800 * time.Millisecond, "2m52.8s"},
		{6 * time.Minute, "6m0s"},
		{time.Hour, "1h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := FormatReset(tt.d); got != tt.want {
				t.Errorf("FormatReset(%v) = %q, want %q", tt.d, got, tt.want)
			}
			if tt.d > 0 {
				back, err := time.ParseDuration(FormatReset(tt.d))
				if err != nil || back < tt.d {
					t.Errorf("FormatReset(%v) parses back to %v, %v: a client waiting that long is early", tt.d, back, err)
				}
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		d          time.Duration
		sec, milli string
	}{
		{0, "0", "0"},
		{-time.Second, "0", "0"},
		{time.Microsecond, "1", "1"},
		{1500 * time.Millisecond, "2", "1500"},
		{2 * time.Second, "2", "2000"},
		{100*time.Millisecond + time.Nanosecond, "1", "101"},
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			s, ms := RetryAfter(tt.d)
			if s != tt.sec || ms != tt.milli {
				t.Errorf("RetryAfter(%v) = %q, %q; want %q, %q", tt.d, s, ms, tt.sec, tt.milli)
			}
		})
	}
}

func TestHeaderItems(t *testing.T) {
	full := func(l Limit) Limit { _, _, _ = l.normalize(); return l }
	tests := []struct {
		name           string
		r              Result
		policy, status string
		openai         [3]string
	}{
		{
			name:   "rpm",
			r:      Result{Limit: full(rpm("k", 600)), Remaining: 599, ResetAfter: 100 * time.Millisecond},
			policy: `"rpm";q=600;w=60`, status: `"rpm";r=599;t=1`,
			openai: [3]string{"600", "599", "100ms"},
		},
		{
			name:   "tpm",
			r:      Result{Limit: full(tpm("k", 40000)), Remaining: 1000, ResetAfter: 58500 * time.Millisecond},
			policy: `"tpm";q=40000;w=60;qu="tokens"`, status: `"tpm";r=1000;t=59`,
			openai: [3]string{"40000", "1000", "58.5s"},
		},
		{
			name:   "per day",
			r:      Result{Limit: full(Limit{Key: "k", Rate: 1000, Period: 24 * time.Hour}), Remaining: 0, ResetAfter: 6 * time.Minute},
			policy: `"rpd";q=1000;w=86400`, status: `"rpd";r=0;t=360`,
			openai: [3]string{"1000", "0", "6m0s"},
		},
		{
			name:   "odd period and a named limit needing escapes",
			r:      Result{Limit: full(Limit{Key: "k", Rate: 5, Period: 1500 * time.Millisecond, Name: "org \"acme\"\\tpm\n"}), ResetAfter: 0},
			policy: `"org \"acme\"\\tpm?";q=5;w=2`, status: `"org \"acme\"\\tpm?";r=0;t=0`,
			openai: [3]string{"5", "0", "0s"},
		},
		{
			name:   "unnamed odd period",
			r:      Result{Limit: full(Limit{Key: "k", Rate: 5, Kind: Tokens, Period: 10 * time.Second}), Remaining: 5},
			policy: `"tp10s";q=5;w=10;qu="tokens"`, status: `"tp10s";r=5;t=0`,
			openai: [3]string{"5", "5", "0s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.PolicyItem(); got != tt.policy {
				t.Errorf("PolicyItem = %s, want %s", got, tt.policy)
			}
			if got := tt.r.RateLimitItem(); got != tt.status {
				t.Errorf("RateLimitItem = %s, want %s", got, tt.status)
			}
			l, rem, reset := tt.r.OpenAI()
			if got := [3]string{l, rem, reset}; got != tt.openai {
				t.Errorf("OpenAI = %q, want %q", got, tt.openai)
			}
		})
	}
	both := []Result{tests[0].r, tests[1].r}
	if got, want := PolicyHeader(both), `"rpm";q=600;w=60, "tpm";q=40000;w=60;qu="tokens"`; got != want {
		t.Errorf("PolicyHeader = %s, want %s", got, want)
	}
	if got, want := RateLimitHeader(both), `"rpm";r=599;t=1, "tpm";r=1000;t=59`; got != want {
		t.Errorf("RateLimitHeader = %s, want %s", got, want)
	}
}

func TestTightest(t *testing.T) {
	key := Result{Limit: tpm("key", 100), Allowed: true, Remaining: 50, ResetAfter: time.Second}
	org := Result{Limit: tpm("org", 1000), Allowed: true, Remaining: 20, ResetAfter: time.Minute}
	orgLater := org
	orgLater.ResetAfter = 2 * time.Minute
	denied := Result{Limit: tpm("user", 1000), Remaining: 900}
	req := Result{Limit: rpm("key", 10), Allowed: true, Remaining: 1}
	tests := []struct {
		name string
		in   []Result
		kind Kind
		want string
		ok   bool
	}{
		{"fewest remaining", []Result{key, org, req}, Tokens, "org", true},
		{"denied first", []Result{key, org, denied}, Tokens, "user", true},
		{"tie goes to the longer reset", []Result{org, orgLater}, Tokens, "org", true},
		{"kind filter", []Result{key, org, req}, Requests, "key", true},
		{"none", []Result{key}, Requests, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Tightest(tt.in, tt.kind)
			if ok != tt.ok || got.Limit.Key != tt.want {
				t.Errorf("Tightest = %q, %v; want %q, %v", got.Limit.Key, ok, tt.want, tt.ok)
			}
			if tt.name == "tie goes to the longer reset" && got.ResetAfter != 2*time.Minute {
				t.Errorf("tie: ResetAfter %v", got.ResetAfter)
			}
		})
	}
}
