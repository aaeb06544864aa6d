package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// store is the CRM's toy store: contact id → record, in one JSON file rewritten atomically.
// A real CRM erases in its own database; what matters is that erase is idempotent.
type store struct {
	path string
	mu   sync.Mutex
}

func openStore(path string) (*store, error) {
	s := &store{path: path}
	if _, err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *store) load() (map[string]json.RawMessage, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]json.RawMessage{}, nil
	}
	if err != nil {
		return nil, err
	}
	recs := map[string]json.RawMessage{}
	return recs, json.Unmarshal(b, &recs)
}

// erase removes the contact's record; erasing one that is not there is done already.
func (s *store) erase(contact string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs, err := s.load()
	if err != nil {
		return err
	}
	if _, ok := recs[contact]; !ok {
		return nil
	}
	delete(recs, contact)
	b, err := json.MarshalIndent(recs, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".crm-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.path)
}
