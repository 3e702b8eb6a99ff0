package middleware

import "github.com/llmgate/llmgate/wire"

// completionBlock is chatBlock for legacy completions.
type completionBlock struct {
	req  wire.CompletionRequest
	f    [4]float64 // temperature, top_p, presence_penalty, frequency_penalty
	n    [4]int     // max_tokens, n, logprobs, best_of
	seed int64
	so   wire.StreamOptions
}

// decodeCompletion decodes a /v1/completions body.
func decodeCompletion(d *scanner) (*wire.CompletionRequest, presence, error) {
	var seen presence
	blk := &completionBlock{}
	r := &blk.req
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
		case "prompt":
			seen.prompt = d.peek() != 'n'
			r.Prompt, err = decodePrompt(d)
		case "suffix":
			r.Suffix, err = d.getString()
		case "temperature":
			r.Temperature, err = d.floatField(&blk.f[0])
		case "top_p":
			r.TopP, err = d.floatField(&blk.f[1])
		case "presence_penalty":
			r.PresencePenalty, err = d.floatField(&blk.f[2])
		case "frequency_penalty":
			r.FrequencyPenalty, err = d.floatField(&blk.f[3])
		case "max_tokens":
			r.MaxTokens, err = d.intField(&blk.n[0])
		case "n":
			r.N, err = d.intField(&blk.n[1])
		case "logprobs":
			r.Logprobs, err = d.intField(&blk.n[2])
		case "best_of":
			r.BestOf, err = d.intField(&blk.n[3])
		case "seed":
			var v int64
			var ok bool
			if v, ok, err = d.getInt(); ok {
				blk.seed = v
				r.Seed = &blk.seed
			}
		case "stream":
			r.Stream, _, err = d.getBool()
		case "stream_options":
			r.StreamOptions, err = decodeStreamOptions(d, &blk.so)
		case "echo":
			r.Echo, _, err = d.getBool()
		case "stop":
			r.Stop, err = d.getStop()
		case "logit_bias":
			r.LogitBias, err = d.getLogitBias()
		case "user":
			r.User, err = d.getString()
		default:
			err = d.other(key)
		}
		if err != nil {
			return nil, seen, at(err, key)
		}
	}
}

const promptKinds = "a string, an array of strings, an array of integers or an array of arrays of integers"

// decodePrompt reads a prompt in any of its four forms; null reads as
// absent. The form is fixed by the first element; a later element of
// another type is a type error at its index.
func decodePrompt(d *scanner) (wire.Prompt, error) {
	var p wire.Prompt
	switch d.peek() {
	case 'n':
		return p, d.word("null")
	case '"':
		s, err := d.str()
		p.Texts = []string{s}
		return p, err
	case '[':
	default:
		return p, d.typeError(promptKinds)
	}
	var first byte
	for n := 0; ; n++ {
		more, err := d.arr(n)
		if err != nil {
			return wire.Prompt{}, err
		}
		if !more {
			break
		}
		if n == 0 {
			first = d.peek()
		}
		switch first {
		case '"':
			var s string
			if s, err = d.reqString(); err == nil {
				p.Texts = append(p.Texts, s)
			}
		case '[':
			var ids []int
			if ids, err = decodeTokenIDs(d); err == nil {
				p.Tokens, p.Nested = append(p.Tokens, ids), true
			}
		default:
			var v int64
			if v, err = d.reqInt(); err == nil {
				if p.Tokens == nil {
					p.Tokens = [][]int{nil}
				}
				p.Tokens[0] = append(p.Tokens[0], int(v))
			}
		}
		if err != nil {
			return wire.Prompt{}, atIdx(err, n)
		}
	}
	if p.Texts == nil && p.Tokens == nil {
		p.Texts = []string{}
	}
	return p, nil
}

// reqInt reads an integer that may not be null.
func (d *scanner) reqInt() (int64, error) {
	if d.peek() == 'n' {
		return 0, d.typeError("an integer")
	}
	v, _, err := d.getInt()
	return v, err
}

func decodeTokenIDs(d *scanner) ([]int, error) {
	if err := d.expectArray(); err != nil {
		return nil, err
	}
	ids := []int{}
	for n := 0; ; n++ {
		more, err := d.arr(n)
		if err != nil || !more {
			return ids, err
		}
		v, err := d.reqInt()
		if err != nil {
			return nil, atIdx(err, n)
		}
		ids = append(ids, int(v))
	}
}

// decodeModeration decodes a /v1/moderations body.
func decodeModeration(d *scanner) (*wire.ModerationRequest, presence, error) {
	var seen presence
	r := &wire.ModerationRequest{}
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
			r.Input, err = decodeModerationInput(d)
		default:
			err = d.other(key)
		}
		if err != nil {
			return nil, seen, at(err, key)
		}
	}
}

const inputKinds = "a string, an array of strings or an array of objects"

// decodeModerationInput reads a string, an array of strings or an array of
// text / image_url parts; null reads as absent.
func decodeModerationInput(d *scanner) (wire.ModerationInput, error) {
	var in wire.ModerationInput
	switch d.peek() {
	case 'n':
		return in, d.word("null")
	case '"':
		s, err := d.str()
		in.Texts = []string{s}
		return in, err
	case '[':
	default:
		return in, d.typeError(inputKinds)
	}
	var first byte
	for n := 0; ; n++ {
		more, err := d.arr(n)
		if err != nil {
			return wire.ModerationInput{}, err
		}
		if !more {
			break
		}
		if n == 0 {
			first = d.peek()
		}
		if first == '{' {
			in.Parts = append(in.Parts, wire.ModerationPart{})
			err = decodeModerationPart(d, &in.Parts[n])
		} else {
			var s string
			if s, err = d.reqString(); err == nil {
				in.Texts = append(in.Texts, s)
			}
		}
		if err != nil {
			return wire.ModerationInput{}, atIdx(err, n)
		}
	}
	if in.Parts == nil && in.Texts == nil {
		in.Texts = []string{}
	}
	return in, nil
}

func decodeModerationPart(d *scanner, p *wire.ModerationPart) error {
	if err := d.expectObject(); err != nil {
		return err
	}
	hasType, hasText := false, false
	for n := 0; ; n++ {
		key, more, err := d.obj(n)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch key {
		case "type":
			hasType = true
			p.Type, err = d.reqString()
		case "text":
			hasText = true
			p.Text, err = d.reqString()
		case "image_url":
			p.ImageURL = &wire.ImageURL{}
			err = decodeImageURL(d, p.ImageURL)
		default:
			err = d.other(key)
		}
		if err != nil {
			return at(err, key)
		}
	}
	switch {
	case !hasType:
		return at(missing(), "type")
	case p.Type == wire.PartText && !hasText:
		return at(missing(), "text")
	case p.Type == wire.PartImageURL && p.ImageURL == nil:
		return at(missing(), "image_url")
	case p.Type == wire.PartImageURL && p.ImageURL.URL == "":
		return at(at(missing(), "url"), "image_url")
	case p.Type != wire.PartText && p.Type != wire.PartImageURL:
		return at(invalidEnum(p.Type, "'text' and 'image_url'"), "type")
	}
	return nil
}
