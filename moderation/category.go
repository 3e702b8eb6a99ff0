package moderation

// Category is one moderation category: OpenAI's 13 omni-moderation
// categories followed by llmgate's extra detector categories. Its String is
// the key used in wire.ModerationResult maps.
type Category uint8

// OpenAI's omni-moderation categories.
const (
	Harassment Category = iota
	HarassmentThreatening
	Hate
	HateThreatening
	Illicit
	IllicitViolent
	SelfHarm
	SelfHarmIntent
	SelfHarmInstructions
	Sexual
	SexualMinors
	Violence
	ViolenceGraphic

	// llmgate's extra categories (DESIGN.md contract).
	PIIEmail
	PIIPhone
	PIIPaymentCard
	PIIIBAN
	PIIUSSSN
	PIIIPAddress
	SecretAPIKey
	SecretAWSAccessKey
	SecretJWT
	PromptInjection

	// NumCategories is the number of categories; valid categories are
	// 0 <= c < NumCategories.
	NumCategories
)

var categoryNames = [NumCategories]string{
	Harassment:            "harassment",
	HarassmentThreatening: "harassment/threatening",
	Hate:                  "hate",
	HateThreatening:       "hate/threatening",
	Illicit:               "illicit",
	IllicitViolent:        "illicit/violent",
	SelfHarm:              "self-harm",
	SelfHarmIntent:        "self-harm/intent",
	SelfHarmInstructions:  "self-harm/instructions",
	Sexual:                "sexual",
	SexualMinors:          "sexual/minors",
	Violence:              "violence",
	ViolenceGraphic:       "violence/graphic",
	PIIEmail:              "pii/email",
	PIIPhone:              "pii/phone",
	PIIPaymentCard:        "pii/payment_card",
	PIIIBAN:               "pii/iban",
	PIIUSSSN:              "pii/us_ssn",
	PIIIPAddress:          "pii/ip_address",
	SecretAPIKey:          "secret/api_key",
	SecretAWSAccessKey:    "secret/aws_access_key",
	SecretJWT:             "secret/jwt",
	PromptInjection:       "prompt_injection",
}

// parent maps a subcategory to the category whose score it raises: a text
// that threatens harassment is also harassment, as in OpenAI's results.
// Categories without a parent map to NumCategories.
func parent(c Category) Category {
	switch c {
	case HarassmentThreatening:
		return Harassment
	case HateThreatening:
		return Hate
	case IllicitViolent:
		return Illicit
	case SelfHarmIntent, SelfHarmInstructions:
		return SelfHarm
	case SexualMinors:
		return Sexual
	case ViolenceGraphic:
		return Violence
	}
	return NumCategories
}

// String returns the category's wire name, such as "self-harm/intent" or
// "pii/email", or "unknown" for an invalid value.
func (c Category) String() string {
	if c < NumCategories {
		return categoryNames[c]
	}
	return "unknown"
}

// IsOpenAI reports whether c is one of OpenAI's 13 categories.
func (c Category) IsOpenAI() bool { return c <= ViolenceGraphic }

// IsRedactable reports whether c names a span of personal data or a secret
// that Redact can replace (the pii/* and secret/* categories).
func (c Category) IsRedactable() bool { return c >= PIIEmail && c <= SecretJWT }

// ParseCategory returns the category named name (its wire name).
func ParseCategory(name string) (Category, bool) {
	for i, n := range categoryNames {
		if n == name {
			return Category(i), true
		}
	}
	return 0, false
}

// Categories returns every category in order. The slice is new on each call.
func Categories() []Category {
	cs := make([]Category, NumCategories)
	for i := range cs {
		cs[i] = Category(i)
	}
	return cs
}

// Scores holds one score in [0, 1] per category, indexed by Category. The
// zero value scores everything 0.
type Scores [NumCategories]float64

// Max returns the highest score and its category (Harassment and 0 for a
// zero Scores).
func (s *Scores) Max() (Category, float64) {
	var best Category
	for c := range NumCategories {
		if s[c] > s[best] {
			best = c
		}
	}
	return best, s[best]
}

// noisyOr folds weight w into score s as independent evidence:
// 1-(1-s)(1-w). It stays in [0, 1] for inputs in [0, 1].
func noisyOr(s, w float64) float64 {
	return 1 - (1-s)*(1-w)
}

func clamp01(x float64) float64 {
	switch {
	case x != x: // NaN
		return 0
	case x < 0:
		return 0
	case x > 1:
		return 1
	}
	return x
}
