// Package retry is a client-side http.RoundTripper that retries what is
// worth retrying — 408, 409, 429, 5xx and connection errors — with
// exponential backoff and full jitter, honouring the server's retry-after-ms,
// retry-after and x-should-retry headers, under a retry budget that keeps
// retries to about 10% of the load during an outage.
//
//	client := &http.Client{Transport: retry.New(retry.Config{
//		MaxAttempts:    4,
//		AttemptTimeout: 30 * time.Second,
//	})}
//
// examples/proxy puts it under its reverse proxy to the upstream. A response
// that has been returned — a stream that has started — is never retried.
package retry
