package pebblestore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// Contact values start with a small header (format, version, status, recency) so that a Put's
// compare-and-swap and index maintenance read the old value without decoding it; the body
// follows in the binary codec of binary.go. Runs, run items and audit entries are rare and
// stay JSON. formatCriteria is formatBinary with the criteria after the last field: the
// format byte, not the bytes left, says whether they are there, so a value cut short at that
// point is still refused. Values are written in formatCriteria; formatBinary ones still read.
const (
	formatBinary   = 2
	formatCriteria = 3
)

var errBadValue = errors.New("pebblestore: malformed value")

type contactHead struct {
	version int64
	status  string
	recency time.Time // zero: no index entry
}

func appendHead(b []byte, h contactHead) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(h.version))
	b = binary.AppendUvarint(b, uint64(len(h.status)))
	b = append(b, h.status...)
	if h.recency.IsZero() {
		return append(b, 0)
	}
	return appendTime(append(b, 1), h.recency)
}

func readHead(v []byte) (contactHead, []byte, error) {
	var h contactHead
	if len(v) < 1+8 || v[0] != formatBinary && v[0] != formatCriteria {
		return h, nil, errBadValue
	}
	h.version = int64(binary.BigEndian.Uint64(v[1:]))
	v = v[9:]
	n, w := binary.Uvarint(v)
	if w <= 0 || uint64(len(v)-w) < n+1 {
		return h, nil, errBadValue
	}
	h.status, v = string(v[w:w+int(n)]), v[w+int(n):]
	flag, v := v[0], v[1:]
	if flag == 1 {
		t, rest, err := readTime(v)
		if err != nil {
			return h, nil, errBadValue
		}
		h.recency, v = t, rest
	}
	return h, v, nil
}

func encodeContact(c store.Contact) ([]byte, error) {
	b := make([]byte, 0, 512)
	b = append(b, formatCriteria)
	b = appendHead(b, contactHead{version: c.Version, status: string(c.Status), recency: c.Recency})
	return appendContactBody(b, &c), nil
}

func decodeContact(v []byte) (store.Contact, error) {
	_, body, err := readHead(v)
	if err != nil {
		return store.Contact{}, err
	}
	return readContactBody(body, v[0] == formatCriteria)
}

func encodeJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("pebblestore: encode: %w", err)
	}
	return b, nil
}

func decodeJSON(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %w", errBadValue, err)
	}
	return nil
}
