package policy

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// secretNames are member names whose values are never logged, whatever
// the decision asks.
var secretNames = []string{"api_key", "apikey", "authorization", "password", "secret", "token"}

const masked = "***"

// logDecision writes the decision log record of one evaluation.
func (e *Engine) logDecision(ctx context.Context, in *Input, now time.Time, p *prepared, d Decision, err error, latency time.Duration) {
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs,
		slog.String("request_id", in.Request.ID),
		slog.String("revision", p.revision),
		slog.Bool("allow", d.Allow && err == nil),
		slog.Duration("eval", latency),
	)
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelError
		attrs = append(attrs, slog.String("err", err.Error()))
	} else {
		if !d.Allow {
			attrs = append(attrs, slog.Int("status", d.HTTPStatus()))
		}
		if len(d.Reasons) > 0 {
			attrs = append(attrs, slog.Any("reasons", d.Reasons))
		}
		// The evaluated input holds only what the policy reads; the log
		// may name any member, so it reads the whole document.
		if len(d.Log) > 0 {
			if fields := e.logFields(in.Value(now), d.Log); len(fields) > 0 {
				attrs = append(attrs, slog.Attr{Key: "input", Value: slog.GroupValue(fields...)})
			}
		}
	}
	e.dlog.LogAttrs(ctx, level, "policy decision", attrs...)
}

// logFields returns the input members the decision asked to log, masked.
// A path that names nothing in the input is logged as null.
func (e *Engine) logFields(input ast.Value, paths []string) []slog.Attr {
	attrs := make([]slog.Attr, 0, len(paths))
	for _, p := range paths {
		if e.masked(p) || secretPath(p) {
			attrs = append(attrs, slog.String(p, masked))
			continue
		}
		v := lookup(input, p)
		if v == nil {
			attrs = append(attrs, slog.Any(p, nil))
			continue
		}
		j, err := ast.JSON(v)
		if err != nil {
			j = v.String()
		}
		attrs = append(attrs, slog.Any(p, e.maskWithin(p, j)))
	}
	return attrs
}

// masked reports whether the path p is masked: it is in Config.Mask, or
// below a path that is ("request.metadata.team" below "request.metadata").
func (e *Engine) masked(p string) bool {
	for {
		if e.mask[p] {
			return true
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			return false
		}
		p = p[:i]
	}
}

// maskWithin masks the members of an object value whose paths are masked,
// so logging "request" does not log "request.prompt".
func (e *Engine) maskWithin(prefix string, v any) any {
	obj, ok := v.(map[string]any)
	if !ok {
		return v
	}
	for k, sub := range obj {
		p := prefix + "." + k
		if e.mask[p] || isSecret(k) {
			obj[k] = masked
			continue
		}
		obj[k] = e.maskWithin(p, sub)
	}
	return obj
}

func secretPath(p string) bool {
	for seg := range strings.SplitSeq(p, ".") {
		if isSecret(seg) {
			return true
		}
	}
	return false
}

func isSecret(name string) bool {
	name = strings.ToLower(name)
	for _, s := range secretNames {
		if name == s || strings.HasSuffix(name, "_"+s) {
			return true
		}
	}
	return false
}

// lookup returns the value at a dotted path of an object, or nil.
func lookup(v ast.Value, path string) ast.Value {
	for seg := range strings.SplitSeq(path, ".") {
		obj, ok := v.(ast.Object)
		if !ok {
			return nil
		}
		t := obj.Get(ast.InternedTerm(seg))
		if t == nil {
			return nil
		}
		v = t.Value
	}
	return v
}
