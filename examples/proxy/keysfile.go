package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// A keys file holds API keys one JSON object per line, with the fields of
// a YAML key:
//
//	{"id": "alice", "key_sha256": "9f86d0…", "user": "alice", "org": "acme", "tier": "free"}
//	{"id": "svc-7", "key_sha256": "2c26b4…", "tier": "paid", "labels": {"team": "search"}}
//
// Blank lines and lines starting with # are skipped. It exists for
// deployments with many keys: YAML decodes a document twice into nodes
// (for the line numbers of errors), which for a million keys took 116 s
// and 5.8 GB; a keys file is read line by line.

// maxKeyLine bounds one line of a keys file.
const maxKeyLine = 64 << 10

// maxKeyErrors is how many bad lines are reported before giving up.
const maxKeyErrors = 20

// loadKeysFile appends the keys of the file at path to c.Keys, checked as
// the YAML keys are (ids unique across both). Every error names its line.
func (c *Config) loadKeysFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	keys, err := c.readKeys(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	c.Keys = slices.Concat(c.Keys, keys)
	return nil
}

// readKeys reads a keys file. It reports up to maxKeyErrors bad lines.
func (c *Config) readKeys(r io.Reader) ([]Key, error) {
	ids := make(map[string]bool, len(c.Keys))
	for _, k := range c.Keys {
		ids[k.ID] = true
	}
	var (
		keys []Key
		errs []error
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxKeyLine)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 || b[0] == '#' {
			continue
		}
		add := func(field, format string, args ...any) {
			errs = append(errs, fmt.Errorf("line %d: %s: %s", line, field, fmt.Sprintf(format, args...)))
		}
		var k Key
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&k); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", line, err))
		} else if dec.More() {
			errs = append(errs, fmt.Errorf("line %d: more than one JSON object", line))
		} else {
			c.checkKey(k, ids, add)
			keys = append(keys, k)
		}
		if len(errs) >= maxKeyErrors {
			errs = append(errs, errors.New("too many errors"))
			break
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("a line is longer than %d bytes", maxKeyLine)
		}
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return keys, nil
}
