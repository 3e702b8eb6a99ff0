# llmgate's shipped policy library. The engine evaluates data.llmgate.decision
# for every request; input is documented in policy/README.md.
#
# Settings: data.llmgate_config, defaults in data.json beside this file,
# overridden (objects merge recursively) by policy.Config.Data.
#
# Extend it from another file of package llmgate: add to `denials`
#     denials contains {"msg": "...", "status": 403} if { ... }
# and the decision denies with the highest-ranked denial's status
# (404 > 403 > 400 > 429), listing every denial's message as a reason.
package llmgate

import rego.v1

# Settings live in data.llmgate_config: the library's data.json holds the
# defaults (see README.md); policy.Config.Data overrides them.
config := data.llmgate_config

tier := config.tiers[input.principal.tier]

# ---- denials --------------------------------------------------------------

denials contains {"msg": sprintf("Unknown tier %q.", [input.principal.tier]), "status": 403} if {
	not tier
}

denials contains d if {
	tier
	not model_allowed
	d := {
		"msg": sprintf("The model '%s' does not exist or you do not have access to it.", [input.request.model]),
		"status": 404, "code": "model_not_found",
	}
}

denials contains d if {
	config.deny_deprecated
	input.model.deprecated == true
	d := {
		"msg": sprintf("The model '%s' has been deprecated.", [input.request.model]),
		"status": 404, "code": "model_not_found",
	}
}

denials contains {"msg": "Tools are not available on your tier.", "status": 403} if {
	tier.tools == false
	count(input.request.tools) > 0
}

denials contains {"msg": "Streaming is not available on your tier.", "status": 403} if {
	tier.stream == false
	input.request.stream
}

denials contains d if {
	not within_hours
	d := {
		"msg": sprintf("Your tier may call between %02d:00 and %02d:00 (%s).", [tier.hours.from, tier.hours.to, _tz]),
		"status": 403,
	}
}

denials contains d if {
	some scope, b in input.budgets
	over_budget(b)
	d := {
		"msg": sprintf("The %s budget of $%.2f per %s is exhausted: $%.4f left, this request may cost up to $%.4f.", [scope, b.budget_usd, b.window, b.remaining_usd, _estimate]),
		"status": 429, "code": "insufficient_quota",
	}
}

denials contains d if {
	count(blocked) > 0
	d := {
		"msg": sprintf("The request was flagged by the content policy: %s.", [concat(", ", sort(blocked))]),
		"status": 400, "code": "content_policy_violation",
	}
}

# ---- rules ----------------------------------------------------------------

model_allowed if {
	some pattern in tier.models
	glob.match(pattern, ["/"], input.model.name)
}

default _tz := "UTC"

_tz := tier.hours.tz

default within_hours := true

within_hours := _hour_in(time.clock([input.time.unix_ns, _tz])[0], tier.hours.from, tier.hours.to) if tier.hours

_hour_in(h, from, to) if {
	from <= to
	from <= h
	h < to
}

_hour_in(h, from, to) if {
	from > to
	h >= from
}

_hour_in(h, from, to) if {
	from > to
	h < to
}

default _estimate := 0

_estimate := input.cost.estimate_usd

over_budget(b) if b.remaining_usd <= 0

over_budget(b) if _estimate > b.remaining_usd

# Categories that count: flagged by the moderator or scored at or above
# their threshold.
hit contains c if {
	some c, flagged in input.moderation.categories
	flagged
}

hit contains c if {
	some c, threshold in config.moderation.thresholds
	input.moderation.scores[c] >= threshold
}

redact := {c | some c in hit; c in config.moderation.redact; not c in config.moderation.ignore}

blocked := {c | some c in hit; not c in config.moderation.redact; not c in config.moderation.ignore}

# ---- decision -------------------------------------------------------------

default allow := false

allow if count(denials) == 0

_rank := {404: 4, 403: 3, 400: 2, 429: 1}

# The denial that sets the status: highest rank, then first message.
_first := sort([[0 - object.get(_rank, d.status, 3), d.msg, d.status, object.get(d, "code", "")] | some d in denials])[0]

decision := object.union_n([
	{"allow": true, "log": config.log},
	_cap, _rewrite, _limits, _cache, _redact,
]) if allow

decision := object.union(
	{
		"allow": false,
		"reasons": sort([d.msg | some d in denials]),
		"status": _first[2],
		"log": config.log,
	},
	_code,
) if not allow

default _cap := {}

_cap := {"max_tokens": tier.max_tokens}

default _rewrite := {}

_rewrite := {"model": m} if m := tier.rewrite[input.model.name]

default _limits := {}

_limits := {"limits": tier.limits}

default _cache := {}

_cache := {"cache": tier.cache}

default _redact := {}

_redact := {"redact": sort(redact)} if count(redact) > 0

default _code := {}

_code := {"code": _first[3]} if _first[3] != ""
