package wire

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Content is a message's content: absent (or null), a plain string, or an
// array of typed parts. The zero value is absent content.
//
// Use [TextContent] and [PartsContent] to build one.
type Content struct {
	// Text is the content when it was sent as a plain string.
	Text string
	// Parts is the content when it was sent as an array; nil otherwise.
	Parts []ContentPart
	form  contentForm
}

type contentForm uint8

const (
	contentAbsent contentForm = iota
	contentText
	contentParts
)

// TextContent returns content sent as a plain string.
func TextContent(s string) Content { return Content{Text: s, form: contentText} }

// PartsContent returns content sent as an array of parts.
func PartsContent(parts ...ContentPart) Content {
	if parts == nil {
		parts = []ContentPart{}
	}
	return Content{Parts: parts, form: contentParts}
}

// IsZero reports whether the content is absent or null.
func (c Content) IsZero() bool { return c.form == contentAbsent }

// IsParts reports whether the content was sent as an array of parts.
func (c Content) IsParts() bool { return c.form == contentParts }

// IsText reports whether the content was sent as a plain string.
func (c Content) IsText() bool { return c.form == contentText }

// String returns the text of the content: the string itself, or the text
// (and refusal) parts joined with no separator. Other parts contribute nothing.
func (c Content) String() string {
	if c.form != contentParts {
		return c.Text
	}
	if len(c.Parts) == 1 {
		return c.Parts[0].Text + c.Parts[0].Refusal
	}
	var b strings.Builder
	for _, p := range c.Parts {
		b.WriteString(p.Text)
		b.WriteString(p.Refusal)
	}
	return b.String()
}

// MarshalJSON encodes the content in the form it was given: null, a string
// or an array.
func (c Content) MarshalJSON() ([]byte, error) {
	switch c.form {
	case contentText:
		// Not json.Marshal, which escapes <, > and &: the encoder that
		// calls this escapes them or not, as it was told.
		return AppendString(nil, c.Text), nil
	case contentParts:
		return json.Marshal(c.Parts)
	}
	return []byte("null"), nil
}

// UnmarshalJSON accepts null, a string or an array of parts.
func (c *Content) UnmarshalJSON(b []byte) error {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return &json.UnmarshalTypeError{Value: "empty", Type: contentType}
	}
	switch b[0] {
	case 'n':
		*c = Content{}
		return nil
	case '"':
		*c = Content{form: contentText}
		return json.Unmarshal(b, &c.Text)
	case '[':
		*c = Content{form: contentParts}
		if err := json.Unmarshal(b, &c.Parts); err != nil {
			return err
		}
		if c.Parts == nil {
			c.Parts = []ContentPart{}
		}
		return nil
	}
	return &json.UnmarshalTypeError{Value: jsonKind(b[0]), Type: contentType}
}

// Content part types OpenAI accepts in chat messages.
const (
	PartText       = "text"
	PartImageURL   = "image_url"
	PartInputAudio = "input_audio"
	PartFile       = "file"
	PartRefusal    = "refusal"
)

// ContentPart is one element of array content. Type says which of the other
// fields is set.
type ContentPart struct {
	Type       string      `json:"type"`
	Text       string      `json:"text,omitempty"`
	Refusal    string      `json:"refusal,omitempty"`
	ImageURL   *ImageURL   `json:"image_url,omitempty"`
	InputAudio *InputAudio `json:"input_audio,omitempty"`
	File       *File       `json:"file,omitempty"`
}

// ImageURL is an image part: a URL or a data: URL, with the detail level
// that decides how many tokens the image costs ("auto", "low", "high").
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// InputAudio is base64 audio in a user message.
type InputAudio struct {
	Data   string `json:"data"`
	Format string `json:"format"`
}

// File is a file part: an uploaded file id or inline base64 data.
type File struct {
	FileID   string `json:"file_id,omitempty"`
	Filename string `json:"filename,omitempty"`
	FileData string `json:"file_data,omitempty"`
}

// jsonKind names the JSON type that starts with c, as encoding/json does in
// its type errors.
func jsonKind(c byte) string {
	switch c {
	case '"':
		return "string"
	case '[':
		return "array"
	case '{':
		return "object"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// AppendString appends s to dst as a JSON string, as OpenAI's responses
// have it: quotes, backslashes and control characters escaped, invalid
// UTF-8 as U+FFFD, and <, >, & left as they are (encoding/json escapes
// them unless told not to).
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < 0x80 {
			i++
			continue
		}
		if c >= 0x80 {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
