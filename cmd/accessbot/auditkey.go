package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"strings"

	"github.com/accessbot/accessbot/store"
)

// minAuditKeyBytes is the shortest audit key accepted (the store's own
// minimum); 32 random bytes are what `head -c 32 /dev/urandom | base64`
// makes.
const minAuditKeyBytes = 16

// storeOptions returns the options every open of the database uses: the
// audit keys of ACCESSBOT_AUDIT_KEY_FILE, when set, and readOnly.
func (c Config) storeOptions(readOnly bool) (store.Options, error) {
	opts := store.Options{ReadOnly: readOnly}
	if c.AuditKeyFile == "" {
		return opts, nil
	}
	keys, err := readAuditKeys(c.AuditKeyFile)
	if err != nil {
		return opts, err
	}
	opts.AuditKey, opts.AuditKeys = keys[0], keys[1:]
	return opts, nil
}

// readAuditKeys reads the audit key file: one key per line in standard
// base64, the first the one that chains new records, the others older
// keys that still verify the records made with them. Blank lines and
// lines starting with # are skipped. Errors name the variable and the line,
// never a key.
func readAuditKeys(path string) ([][]byte, error) {
	const name = "ACCESSBOT_AUDIT_KEY_FILE"
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("configuration: %s: %w", name, err)
	}
	var keys [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		key, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return nil, fmt.Errorf("configuration: %s=%s, line %d: not base64 (make a key with `head -c 32 /dev/urandom | base64`)", name, path, line)
		}
		if len(key) < minAuditKeyBytes {
			return nil, fmt.Errorf("configuration: %s=%s, line %d: a key of %d bytes is too short: it must have at least %d (32 random bytes are best: `head -c 32 /dev/urandom | base64`)", name, path, line, len(key), minAuditKeyBytes)
		}
		keys = append(keys, key)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("configuration: %s=%s: %w", name, path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("configuration: %s=%s holds no key: put one per line, in base64 (`head -c 32 /dev/urandom | base64`)", name, path)
	}
	return keys, nil
}
