package policy

import "embed"

// Library is the shipped Rego library, package llmgate, in the directory
// "library": model access by tier (glob patterns), optional denial of
// deprecated models, max_tokens caps, tools, streaming and hours per tier,
// budget checks (429 insufficient_quota), moderation (400
// content_policy_violation, or redaction of PII categories). Its settings
// come from data.llmgate_config; see README.md. A zero [Config] uses it.
//
//go:embed library/*.rego library/data.json
var Library embed.FS
