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

# The settings (README.md describes them).
config := data.llmgate_config

# The caller's tier; undefined for an unknown tier.
tier := data.llmgate_config.tiers[input.principal.tier]

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
	input.model.deprecated == true
	data.llmgate_config.deny_deprecated
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
	tier.hours
	h := time.clock([input.time.unix_ns, _tz])[0]
	not _hour_in(h, tier.hours.from, tier.hours.to)
	d := {
		"msg": sprintf("Your tier may call between %02d:00 and %02d:00 (%s).", [tier.hours.from, tier.hours.to, _tz]),
		"status": 403,
	}
}

denials contains d if {
	some scope, b in input.budgets
	b.remaining_usd < _need
	d := {
		"msg": sprintf("The %s budget ($%v per %s) is exhausted: $%v left, this request may cost up to $%v.", [scope, b.budget_usd, b.window, b.remaining_usd, _estimate]),
		"status": 429, "code": "insufficient_quota",
	}
}

denials contains d if {
	input.moderation
	count(blocked) > 0
	d := {
		"msg": sprintf("The request was flagged by the content policy: %s.", [concat(", ", sort(blocked))]),
		"status": 400, "code": "content_policy_violation",
	}
}

# ---- rules ----------------------------------------------------------------

# The tier's models are what it may be served: a request for a model the
# tier rewrites is allowed when the model it is rewritten to is.
model_allowed if {
	some pattern in tier.models
	glob.match(pattern, ["/"], served)
}

served := object.get(tier, ["rewrite", input.model.name], input.model.name)

default _tz := "UTC"

_tz := tier.hours.tz

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

# A scope is over budget when the worst-case cost exceeds what is left, or
# (with no estimate) when less than a millionth of a dollar is left.
default _need := 0.000001

_need := _estimate if _estimate > 0.000001

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

decision := {
	"allow": true,
	"log": data.llmgate_config.log,
	"max_tokens": object.get(tier, "max_tokens", null),
	"model": object.get(tier, ["rewrite", input.model.name], null),
	"limits": object.get(tier, "limits", null),
	"cache": object.get(tier, "cache", null),
	"redact": _redact,
} if allow

decision := {
	"allow": false,
	"reasons": sort([d.msg | some d in denials]),
	"status": _first[2],
	"code": _first[3],
	"log": data.llmgate_config.log,
} if not allow

_rank := {404: 4, 403: 3, 400: 2, 429: 1}

# The denial that sets the status: highest rank, then first message.
_first := sort([[0 - object.get(_rank, d.status, 3), d.msg, d.status, object.get(d, "code", null)] | some d in denials])[0]

default _redact := null

_redact := sort(redact) if {
	input.moderation
	count(redact) > 0
}
