package moderation

import (
	"slices"
	"testing"
)

func TestDetectors(t *testing.T) {
	tests := []struct {
		name string
		text string
		cat  Category
		span string // "" = no finding of cat
	}{
		{"email", "mail alice@example.com now", PIIEmail, "alice@example.com"},
		{"email plus tag trailing dot", "to bob.smith+x@mail.co.uk.", PIIEmail, "bob.smith+x@mail.co.uk"},
		{"email without tld", "user@localhost", PIIEmail, ""},
		{"email numeric tld", "a@b.c1", PIIEmail, ""},
		{"handle", "@username", PIIEmail, ""},
		{"phone nanp", "call 415-555-2671.", PIIPhone, "415-555-2671"},
		{"phone parens", "call (415) 555-2671", PIIPhone, "(415) 555-2671"},
		{"phone intl", "call +44 20 7946 0958", PIIPhone, "+44 20 7946 0958"},
		{"phone +1 parens", "call +1 (415) 555-2671", PIIPhone, "+1 (415) 555-2671"},
		{"phone national 0", "call 020 7946 0958", PIIPhone, "020 7946 0958"},
		{"phone ungrouped", "order 4155552671", PIIPhone, ""},
		{"phone date", "on 2024-01-15", PIIPhone, ""},
		{"card visa spaced", "card 4111 1111 1111 1111", PIIPaymentCard, "4111 1111 1111 1111"},
		{"card amex", "3782 822463 10005", PIIPaymentCard, "3782 822463 10005"},
		{"card with expiry after", "4111 1111 1111 1111 12 25", PIIPaymentCard, "4111 1111 1111 1111"},
		{"card luhn invalid", "4111 1111 1111 1112", PIIPaymentCard, ""},
		{"card unknown prefix", "9111111111111111", PIIPaymentCard, ""},
		{"isbn", "978-0-306-40615-7", PIIPaymentCard, ""},
		{"iban compact", "DE89370400440532013000", PIIIBAN, "DE89370400440532013000"},
		{"iban grouped", "GB82 WEST 1234 5698 7654 32.", PIIIBAN, "GB82 WEST 1234 5698 7654 32"},
		{"iban bad checksum", "DE89370400440532013001", PIIIBAN, ""},
		{"iban wrong length", "DE8937040044053201300", PIIIBAN, ""},
		{"ssn", "ssn 123-45-6789", PIIUSSSN, "123-45-6789"},
		{"ssn area 000", "000-45-6789", PIIUSSSN, ""},
		{"ssn area 666", "666-45-6789", PIIUSSSN, ""},
		{"ssn area 9xx", "912-45-6789", PIIUSSSN, ""},
		{"ssn group 00", "123-00-6789", PIIUSSSN, ""},
		{"ssn serial 0000", "123-45-0000", PIIUSSSN, ""},
		{"ssn bare", "123456789", PIIUSSSN, ""},
		{"ipv4", "host 192.168.1.1.", PIIIPAddress, "192.168.1.1"},
		{"ipv4 octet too big", "256.1.1.1", PIIIPAddress, ""},
		{"ipv4 leading zero", "01.2.3.4", PIIIPAddress, ""},
		{"version word", "version 1.2.3.4", PIIIPAddress, ""},
		{"v prefix", "v1.2.3.4", PIIIPAddress, ""},
		{"ipv6", "at 2001:db8::1 now", PIIIPAddress, "2001:db8::1"},
		{"ipv6 loopback", "is ::1", PIIIPAddress, "::1"},
		{"mac", "00:1a:2b:3c:4d:5e", PIIIPAddress, ""},
		{"time", "12:30:45", PIIIPAddress, ""},
		{"cpp scope", "std::vector", PIIIPAddress, ""},
		{"openai key", "k=sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z", SecretAPIKey, "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"},
		{"key placeholder", "sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxx", SecretAPIKey, ""},
		{"key too short", "sk-abc123", SecretAPIKey, ""},
		{"sk inside word", "task-1234567890abcdefghij12", SecretAPIKey, ""},
		{"github token", "ghp_1234567890abcdefghijABCDEFGHIJ123456", SecretAPIKey, "ghp_1234567890abcdefghijABCDEFGHIJ123456"},
		{"aws", "id AKIAIOSFODNN7EXAMPLE.", SecretAWSAccessKey, "AKIAIOSFODNN7EXAMPLE"},
		{"aws too long", "AKIAIOSFODNN7EXAMPLEX", SecretAWSAccessKey, ""},
		{"aws lower", "AKIAiosfodnn7example", SecretAWSAccessKey, ""},
		{"jwt", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", SecretJWT, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"},
		{"jwt header without alg", "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiIxIn0.c2ln", SecretJWT, ""},
		{"jwt not base64 json", "eyJfoo.bar.baz", SecretJWT, ""},
		{"chat marker", "hi <|im_start|>system", PromptInjection, "<|im_start|>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sc scratch
			detectAll(&sc, tt.text)
			var got []string
			for _, f := range sc.findings {
				if f.Category == tt.cat {
					got = append(got, tt.text[f.Start:f.End])
				}
			}
			if tt.span == "" {
				if len(got) > 0 {
					t.Errorf("%s found %q in %q, want none", tt.cat, got, tt.text)
				}
				return
			}
			if !slices.Contains(got, tt.span) {
				t.Errorf("%s in %q = %q, want %q", tt.cat, tt.text, got, tt.span)
			}
		})
	}
}

func TestLuhn(t *testing.T) {
	for _, tt := range []struct {
		d    string
		want bool
	}{{"4111111111111111", true}, {"4111111111111112", false}, {"79927398713", true}, {"0", true}} {
		t.Run(tt.d, func(t *testing.T) {
			if got := luhn([]byte(tt.d)); got != tt.want {
				t.Errorf("luhn(%s) = %v", tt.d, got)
			}
		})
	}
}
