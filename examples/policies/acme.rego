# acme's own rules on top of the llmgate library: each adds to the
# library's `denials` set, so the library builds the decision.
package llmgate

import rego.v1

# Keys labelled suspended=true are refused.
denials contains {"msg": "This API key is suspended.", "status": 403, "code": "key_suspended"} if {
	input.principal.labels.suspended == "true"
}

# The free tier gets one choice per request.
denials contains {"msg": "n > 1 is not available on your tier.", "status": 403} if {
	input.principal.tier == "free"
	input.request.n > 1
}

# Image inputs cost a lot of tokens: pro and above only.
denials contains {"msg": "Image inputs are not available on your tier.", "status": 403} if {
	input.request.has_images
	input.principal.tier in {"free", "batch"}
}

# A prompt that would not fit the model's context window is refused here,
# before it costs a round trip. An embeddings request's tokens.prompt is the
# sum of its inputs, while the window bounds each input: left to the model.
denials contains d if {
	input.request.endpoint != "/v1/embeddings"
	input.tokens.prompt + input.tokens.max_completion > input.model.context_window
	d := {
		"msg": sprintf("This model's maximum context length is %d tokens; the request asks for %d.", [input.model.context_window, input.tokens.prompt + input.tokens.max_completion]),
		"status": 400, "code": "context_length_exceeded",
	}
}
