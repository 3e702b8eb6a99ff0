package llmgate_test

import rego.v1

import data.llmgate

# A free-tier chat request for gpt-4o-mini with budget left.
base := {
	"request": {"id": "r1", "endpoint": "/v1/chat/completions", "model": "gpt-4o-mini", "stream": false, "n": 1, "max_tokens": 256, "messages": 2, "tools": []},
	"principal": {"key_id": "k1", "user": "alice", "org": "acme", "tier": "free"},
	"model": {"name": "gpt-4o-mini", "known": true, "encoding": "o200k_base", "deprecated": false},
	"tokens": {"prompt": 1200, "max_completion": 256},
	"cost": {"estimate_usd": 0.001},
	"budgets": {"key": {"window": "month", "spent_usd": 2, "budget_usd": 10, "remaining_usd": 8}},
	"time": {"rfc3339": "2025-06-02T10:00:00Z", "unix_ns": 1748858400000000000},
}

with_model(m) := object.union(base, {"request": {"model": m}, "model": {"name": m}})

test_free_tier_allowed_model if {
	d := llmgate.decision with input as base
	d.allow
	d.max_tokens == 1024
	not d.reasons # absent when allowed
}

test_free_tier_glob if {
	llmgate.decision.allow with input as with_model("llmtest-small")
}

test_free_tier_model_not_allowed if {
	d := llmgate.decision with input as with_model("gpt-4o")
	not d.allow
	d.status == 404
	d.code == "model_not_found"
	d.reasons == ["The model 'gpt-4o' does not exist or you do not have access to it."]
}

test_glob_does_not_cross_slash if {
	not llmgate.decision.allow with input as with_model("llmtest-a/b")
}

test_enterprise_any_model if {
	inp := object.union(with_model("o3-pro"), {"principal": {"tier": "enterprise"}})
	d := llmgate.decision with input as inp
	d.allow
	d.max_tokens == null
}

test_unknown_tier if {
	d := llmgate.decision with input as object.union(base, {"principal": {"tier": "gold"}})
	d.status == 403
	d.reasons == ["Unknown tier \"gold\"."]
}

test_tools_denied_on_free if {
	d := llmgate.decision with input as object.union(base, {"request": {"tools": ["get_weather"]}})
	d.status == 403
	d.code == null
}

test_tools_allowed_on_pro if {
	inp := object.union(base, {"principal": {"tier": "pro"}, "request": {"tools": ["get_weather"]}})
	llmgate.decision.allow with input as inp
}

test_budget_exhausted if {
	inp := object.union(base, {"cost": {"estimate_usd": 9}})
	d := llmgate.decision with input as inp
	d.status == 429
	d.code == "insufficient_quota"
	d.reasons == ["The key budget ($10 per month) is exhausted: $8 left, this request may cost up to $9."]
}

test_budget_zero_remaining_without_estimate if {
	inp := json.patch(base, [
		{"op": "remove", "path": "/cost/estimate_usd"},
		{"op": "replace", "path": "/budgets/key/remaining_usd", "value": 0},
	])
	d := llmgate.decision with input as inp
	d.status == 429
}

test_model_denial_outranks_budget if {
	inp := object.union(with_model("gpt-4o"), {"cost": {"estimate_usd": 9}})
	d := llmgate.decision with input as inp
	d.status == 404
	count(d.reasons) == 2
}

test_deprecated_allowed_by_default if {
	llmgate.decision.allow with input as object.union(base, {"model": {"deprecated": true}})
}

test_deprecated_denied_when_configured if {
	d := llmgate.decision with input as object.union(base, {"model": {"deprecated": true}})
		with data.llmgate_config.deny_deprecated as true
	d.status == 404
	d.reasons == ["The model 'gpt-4o-mini' has been deprecated."]
}

test_moderation_flagged_blocks if {
	inp := object.union(base, {"moderation": {"flagged": true, "categories": {"harassment": true, "hate": false}, "scores": {"harassment": 0.9}}})
	d := llmgate.decision with input as inp
	d.status == 400
	d.code == "content_policy_violation"
	d.reasons == ["The request was flagged by the content policy: harassment."]
}

test_moderation_threshold if {
	inp := object.union(base, {"moderation": {"flagged": false, "categories": {"violence": false}, "scores": {"violence": 0.4}}})
	llmgate.decision.allow with input as inp
	d := llmgate.decision with input as inp with data.llmgate_config.moderation.thresholds as {"violence": 0.3}
	d.status == 400
}

test_pii_redacted_not_blocked if {
	inp := object.union(base, {"moderation": {"flagged": true, "categories": {"pii/email": true, "pii/phone": false}, "scores": {}}})
	d := llmgate.decision with input as inp
	d.allow
	d.redact == ["pii/email"]
}

test_ignored_category if {
	inp := object.union(base, {"moderation": {"flagged": true, "categories": {"sexual": true}, "scores": {}}})
	llmgate.decision.allow with input as inp with data.llmgate_config.moderation.ignore as ["sexual"]
}

hours_cfg := {"from": 9, "to": 17, "tz": "Europe/Paris"}

test_hours_inside if {
	# 10:00 UTC is 12:00 in Paris (summer time).
	llmgate.decision.allow with input as base with data.llmgate_config.tiers.free.hours as hours_cfg
}

test_hours_outside if {
	inp := object.union(base, {"time": {"unix_ns": 1748890800000000000}}) # 19:00 UTC, 21:00 Paris
	d := llmgate.decision with input as inp with data.llmgate_config.tiers.free.hours as hours_cfg
	d.status == 403
	d.reasons == ["Your tier may call between 09:00 and 17:00 (Europe/Paris)."]
}

test_hours_wrap_midnight if {
	inp := object.union(base, {"time": {"unix_ns": 1748890800000000000}}) # 19:00 UTC
	llmgate.decision.allow with input as inp with data.llmgate_config.tiers.free.hours as {"from": 18, "to": 6}
	not llmgate.decision.allow with input as base with data.llmgate_config.tiers.free.hours as {"from": 18, "to": 6}
}

test_rewrite_limits_cache if {
	tier := {"models": ["*"], "rewrite": {"gpt-4o": "gpt-4o-mini"}, "limits": {"key": {"rpm": 5}}, "cache": "force"}
	d := llmgate.decision with input as with_model("gpt-4o") with data.llmgate_config.tiers.free as tier
	d.allow
	d.model == "gpt-4o-mini"
	d.limits == {"key": {"rpm": 5}}
	d.cache == "force"
}

test_rewrite_from_a_model_outside_the_list if {
	tier := {"models": ["gpt-4o-mini", "llmtest-*"], "rewrite": {"gpt-4o": "gpt-4o-mini", "gpt-4.1": "o3"}}
	d := llmgate.decision with input as with_model("gpt-4o") with data.llmgate_config.tiers.free as tier
	d.allow
	d.model == "gpt-4o-mini"
	e := llmgate.decision with input as with_model("gpt-4.1") with data.llmgate_config.tiers.free as tier
	not e.allow
	e.status == 404
}

# ---- embeddings ----

# An embeddings request as llmgate builds it: tokens.prompt is the input,
# there is no completion, the estimate is the input's cost.
embed(tier, model) := object.union(base, {
	"request": {"endpoint": "/v1/embeddings", "model": model, "n": 0, "max_tokens": 0, "messages": 0},
	"principal": {"tier": tier},
	"model": {"name": model, "encoding": "cl100k_base", "context_window": 8191},
	"tokens": {"prompt": 20000, "max_completion": 0},
	"cost": {"estimate_usd": 0.0004},
})

test_embeddings_free_tier_small_model if llmgate.decision.allow with input as embed("free", "text-embedding-3-small")

test_embeddings_free_tier_large_model_not_allowed if {
	d := llmgate.decision with input as embed("free", "text-embedding-3-large")
	d.status == 404
	d.code == "model_not_found"
}

test_embeddings_pro_tier_large_model if llmgate.decision.allow with input as embed("pro", "text-embedding-3-large")

test_embeddings_budget_exhausted if {
	inp := object.union(embed("free", "text-embedding-3-small"), {"budgets": {"key": {"remaining_usd": 0.0001}}})
	d := llmgate.decision with input as inp
	d.status == 429
	d.code == "insufficient_quota"
}
