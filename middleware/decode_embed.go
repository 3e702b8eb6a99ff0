package middleware

import (
	"strconv"

	"github.com/llmgate/llmgate/wire"
)

// decodeEmbedding decodes a /v1/embeddings body: a string model and, when
// present, an input in one of its four forms, checked as OpenAI checks it
// (no empty string, no empty array, no negative token id). Other members
// are only checked to be valid JSON.
func decodeEmbedding(d *scanner) (*wire.EmbeddingRequest, presence, error) {
	var seen presence
	r := &wire.EmbeddingRequest{}
	if err := d.expectObject(); err != nil {
		return nil, seen, err
	}
	for n := 0; ; n++ {
		key, more, err := d.obj(n)
		if err != nil {
			return nil, seen, err
		}
		if !more {
			return r, seen, nil
		}
		switch key {
		case "model":
			seen.model = true
			r.Model, err = d.reqString()
		case "input":
			seen.input = d.peek() != 'n'
			r.Input, err = decodeEmbeddingInput(d)
		default:
			err = d.other(key)
		}
		if err != nil {
			return nil, seen, at(err, key)
		}
	}
}

// decodeEmbeddingInput reads an embeddings input as decodePrompt reads a
// prompt — null reads as absent, the first element fixes the form; an
// array of objects is passed on unread, as no input (see countEmbedding) — and
// refuses what OpenAI refuses: an empty string, an empty array (the input
// or one of its token arrays) and a negative token id, each at its index.
func decodeEmbeddingInput(d *scanner) (wire.Prompt, error) {
	var p wire.Prompt
	switch d.peek() {
	case 'n':
		return p, d.word("null")
	case '"':
		s, err := d.str()
		if err == nil && s == "" {
			err = emptyString()
		}
		p.Texts = []string{s}
		return p, err
	case '[':
	default:
		return p, d.typeError(promptKinds)
	}
	var first byte
	n := 0
	for ; ; n++ {
		more, err := d.arr(n)
		if err != nil {
			return wire.Prompt{}, err
		}
		if !more {
			break
		}
		if n == 0 {
			first = d.peek()
			if first != '"' && first != '[' && first != '{' && first != '-' && (first < '0' || first > '9') {
				return wire.Prompt{}, atIdx(d.typeError("a string, an integer or an array of integers"), 0)
			}
		}
		switch first {
		case '{':
			// Objects (multimodal inputs some servers take, as
			// {"text":…} or {"image":…}) are the upstream's to read:
			// passed on, and the request estimated from its size.
			if d.peek() != '{' {
				err = d.typeError("an object")
			} else {
				err = d.skip()
			}
		case '"':
			var s string
			if s, err = d.reqString(); err == nil {
				if s == "" {
					err = emptyString()
				}
				p.Texts = append(p.Texts, s)
			}
		case '[':
			var ids []int
			if ids, err = decodeEmbeddingTokens(d); err == nil {
				p.Tokens, p.Nested = append(p.Tokens, ids), true
			}
		default:
			var id int
			if id, err = tokenID(d); err == nil {
				if p.Tokens == nil {
					p.Tokens = [][]int{nil}
				}
				p.Tokens[0] = append(p.Tokens[0], id)
			}
		}
		if err != nil {
			return wire.Prompt{}, atIdx(err, n)
		}
	}
	if n == 0 {
		return wire.Prompt{}, emptyArray()
	}
	if k := len(p.Texts) + len(p.Tokens); k > maxEmbeddingInputs && (p.Texts != nil || p.Nested) {
		return wire.Prompt{}, invalid("array too long. Expected an array with maximum length " +
			strconv.Itoa(maxEmbeddingInputs) + ", but got " + strconv.Itoa(k) + " elements instead.")
	}
	return p, nil
}

// maxEmbeddingInputs is how many inputs OpenAI embeds in one request.
const maxEmbeddingInputs = 2048

// decodeEmbeddingTokens reads a non-empty array of token ids.
func decodeEmbeddingTokens(d *scanner) ([]int, error) {
	if err := d.expectArray(); err != nil {
		return nil, err
	}
	var ids []int
	for n := 0; ; n++ {
		more, err := d.arr(n)
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		id, err := tokenID(d)
		if err != nil {
			return nil, atIdx(err, n)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, emptyArray()
	}
	return ids, nil
}

// tokenID reads a token id: an integer that is not negative.
func tokenID(d *scanner) (int, error) {
	v, err := d.reqInt()
	if err != nil {
		return 0, err
	}
	if v < 0 {
		return 0, invalid("token ids are non-negative, but got " + strconv.FormatInt(v, 10) + ".")
	}
	return int(v), nil
}

func emptyString() *fieldError {
	return invalid("empty string. Expected a non-empty string.")
}

func emptyArray() *fieldError {
	return invalid("empty array. Expected an array with minimum length 1, but got an empty array instead.")
}
