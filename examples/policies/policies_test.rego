package llmgate_examples_test

import rego.v1

import data.llmgate

# Input documents as llmgate builds them (policy/README.md).
req(tier, model) := {
	"request": {"id": "r1", "endpoint": "/v1/chat/completions", "model": model, "stream": false, "n": 1, "max_tokens": 256, "messages": 2, "tools": [], "has_images": false},
	"principal": {"key_id": "k1", "user": "alice", "org": "acme", "tier": tier},
	"model": {"name": model, "known": true, "encoding": "o200k_base", "context_window": 128000, "deprecated": false},
	"tokens": {"prompt": 1000, "max_completion": 256},
	"cost": {"estimate_usd": 0.002},
	"budgets": {
		"key": {"window": "month", "spent_usd": 1, "budget_usd": 10, "remaining_usd": 9},
		"org": {"window": "month", "spent_usd": 50, "budget_usd": 100, "remaining_usd": 50},
	},
	# 2025-06-02T15:00:00Z: 11:00 in New York.
	"time": {"rfc3339": "2025-06-02T15:00:00Z", "unix_ns": 1748876400000000000},
}

free := req("free", "gpt-4o-mini")

# ---- model allow-lists per tier ----

test_free_allowed if llmgate.decision.allow with input as free

test_free_denied_big_model if {
	d := llmgate.decision with input as req("free", "gpt-4o")
	d.status == 404
	d.code == "model_not_found"
}

test_pro_allowed_big_model if llmgate.decision.allow with input as req("pro", "gpt-4.1-mini")

test_pro_denied_o3 if not llmgate.decision.allow with input as req("pro", "o3")

test_enterprise_anything if llmgate.decision.allow with input as req("enterprise", "o3")

test_deprecated_denied if {
	d := llmgate.decision with input as object.union(req("enterprise", "gpt-4-32k"), {"model": {"deprecated": true}})
	d.status == 404
}

test_pro_rewrite_pinned_snapshot if {
	d := llmgate.decision with input as req("pro", "gpt-4o-2024-05-13")
	d.allow
	d.model == "gpt-4o"
}

# ---- max_tokens caps, limits and cache per tier ----

test_free_caps_and_limits if {
	d := llmgate.decision with input as free
	d.max_tokens == 512
	d.limits == {"key": {"rpm": 20, "tpm": 20000}}
	d.cache == "force"
	"budgets" in d.log
}

test_enterprise_uncapped if {
	d := llmgate.decision with input as req("enterprise", "gpt-4o")
	d.max_tokens == null
}

# ---- monthly budgets per key and org ----

test_key_budget_exhausted if {
	inp := json.patch(free, [{"op": "replace", "path": "/budgets/key/remaining_usd", "value": 0.001}])
	d := llmgate.decision with input as inp
	d.status == 429
	d.code == "insufficient_quota"
	startswith(d.reasons[0], "The key budget ($10 per month) is exhausted")
}

test_org_budget_exhausted if {
	inp := json.patch(free, [{"op": "replace", "path": "/budgets/org/remaining_usd", "value": 0}])
	d := llmgate.decision with input as inp
	d.status == 429
	startswith(d.reasons[0], "The org budget")
}

test_both_budgets_exhausted_two_reasons if {
	inp := json.patch(free, [
		{"op": "replace", "path": "/budgets/org/remaining_usd", "value": 0},
		{"op": "replace", "path": "/budgets/key/remaining_usd", "value": 0},
	])
	d := llmgate.decision with input as inp
	count(d.reasons) == 2
}

# ---- tools denied for a tier ----

test_free_no_tools if {
	d := llmgate.decision with input as object.union(free, {"request": {"tools": ["search"]}})
	d.status == 403
	d.reasons == ["Tools are not available on your tier."]
}

test_pro_tools if llmgate.decision.allow with input as object.union(req("pro", "gpt-4o"), {"request": {"tools": ["search"]}})

# ---- time-of-day rules ----

test_batch_refused_in_the_day if {
	d := llmgate.decision with input as req("batch", "gpt-4o-mini")
	d.status == 403
	d.reasons == ["Your tier may call between 22:00 and 06:00 (America/New_York)."]
}

test_batch_allowed_at_night if {
	# 2025-06-03T03:00:00Z: 23:00 in New York.
	inp := object.union(req("batch", "gpt-4o-mini"), {"time": {"unix_ns": 1748919600000000000}})
	d := llmgate.decision with input as inp
	d.allow
	d.cache == "forbid"
}

test_batch_no_streaming if {
	inp := object.union(req("batch", "gpt-4o-mini"), {"time": {"unix_ns": 1748919600000000000}, "request": {"stream": true}})
	d := llmgate.decision with input as inp
	d.reasons == ["Streaming is not available on your tier."]
}

# ---- moderation thresholds per category ----

mod(cats, scores) := object.union(free, {"moderation": {"flagged": count(cats) > 0, "categories": cats, "scores": scores}})

test_violence_below_threshold if llmgate.decision.allow with input as mod({}, {"violence": 0.5})

test_violence_above_threshold if {
	d := llmgate.decision with input as mod({}, {"violence": 0.61})
	d.status == 400
	d.code == "content_policy_violation"
	d.reasons == ["The request was flagged by the content policy: violence."]
}

test_self_harm_low_threshold if {
	d := llmgate.decision with input as mod({}, {"self-harm": 0.25, "violence": 0.1})
	d.status == 400
}

test_secrets_redacted if {
	d := llmgate.decision with input as mod({"secret/api_key": true, "pii/email": true}, {})
	d.allow
	d.redact == ["pii/email", "secret/api_key"]
}

test_ip_addresses_ignored if {
	d := llmgate.decision with input as mod({"pii/ip_address": true}, {})
	d.allow
	d.redact == null
}

test_prompt_injection_blocked if {
	d := llmgate.decision with input as mod({}, {"prompt_injection": 0.95})
	d.status == 400
}

# ---- acme's rules (acme.rego) ----

test_suspended_key if {
	d := llmgate.decision with input as object.union(free, {"principal": {"labels": {"suspended": "true"}}})
	d.status == 403
	d.code == "key_suspended"
}

test_free_single_choice if {
	d := llmgate.decision with input as object.union(free, {"request": {"n": 2}})
	d.status == 403
}

test_images_pro_only if {
	not llmgate.decision.allow with input as object.union(free, {"request": {"has_images": true}})
	llmgate.decision.allow with input as object.union(req("pro", "gpt-4o"), {"request": {"has_images": true}})
}

test_context_window if {
	d := llmgate.decision with input as object.union(free, {"tokens": {"prompt": 127900}})
	d.status == 400
	d.code == "context_length_exceeded"
}

# The window bounds each embeddings input, not their sum, which is all a
# policy sees.
embed(tier, model) := object.union(req(tier, model), {
	"request": {"endpoint": "/v1/embeddings", "n": 0, "max_tokens": 0, "messages": 0},
	"model": {"encoding": "cl100k_base", "context_window": 8191},
	"tokens": {"prompt": 20000, "max_completion": 0},
	"cost": {"estimate_usd": 0.0004},
})

test_embeddings_sum_over_context_window if llmgate.decision.allow with input as embed("free", "text-embedding-3-small")

test_embeddings_model_per_tier if {
	d := llmgate.decision with input as embed("free", "text-embedding-3-large")
	d.status == 404
	llmgate.decision.allow with input as embed("pro", "text-embedding-3-large")
}

test_embeddings_suspended_key if {
	d := llmgate.decision with input as object.union(embed("pro", "text-embedding-3-small"), {"principal": {"labels": {"suspended": "true"}}})
	d.status == 403
	d.code == "key_suspended"
}

# ---- the decision picks the most specific status ----

test_model_outranks_everything if {
	inp := object.union(req("free", "gpt-4o"), {"request": {"tools": ["x"], "n": 3}, "moderation": {"flagged": true, "categories": {"hate": true}, "scores": {}}})
	d := llmgate.decision with input as inp
	d.status == 404
	count(d.reasons) == 4
}

test_forbidden_outranks_content if {
	inp := object.union(free, {"request": {"tools": ["x"]}, "moderation": {"flagged": true, "categories": {"hate": true}, "scores": {}}})
	d := llmgate.decision with input as inp
	d.status == 403
}
