package pebblestore

import (
	"encoding/binary"
	"errors"
	"math"
	"time"
)

// Collection tags: the first byte of every key. Primary documents and their secondary index
// entries live side by side and are always written in one batch.
const (
	tagMeta           = 'm' // m | name                                  → value
	tagContact        = 'c' // c | inst | id                             → contact
	tagInactive       = 'x' // x | inst | status | recency | id          → store.Candidate (index)
	tagKey            = 'k' // k | inst | id                             → wrapped key or tombstone
	tagRun            = 'r' // r | inst | id                             → run
	tagRunByCreated   = 'q' // q | inst | created_at | id                → empty (index)
	tagItem           = 'i' // i | inst | run | contact                  → run item
	tagItemByContact  = 'j' // j | inst | contact | run                  → empty: written by earlier builds, no longer read
	tagAudit          = 'a' // a | seq                                   → audit entry
	tagAuditByKey     = 'd' // d | key                                   → seq (unique index)
	tagAuditByContact = 'f' // f | inst | contact | seq                  → empty (index)
)

// timeLen is the width of an encoded time: 8 bytes of seconds, 4 of nanoseconds.
const timeLen = 12

var errBadKey = errors.New("pebblestore: malformed key")

// appendString appends s so that byte order of encodings equals byte order of strings and no
// encoding is a prefix of another: 0x00 is escaped as 0x00 0xFF and the string ends with
// 0x00 0x01 (the scheme of CockroachDB's key encoding). "c1" and "c10" thus never collide.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == 0x00 {
			b = append(b, 0x00, 0xFF)
			continue
		}
		b = append(b, s[i])
	}
	return append(b, 0x00, 0x01)
}

// readString decodes a string written by appendString and returns the rest of b.
func readString(b []byte) (string, []byte, error) {
	var out []byte
	for i := 0; i < len(b); i++ {
		if b[i] != 0x00 {
			continue
		}
		if i+1 >= len(b) {
			return "", nil, errBadKey
		}
		switch b[i+1] {
		case 0x01:
			if out == nil {
				return string(b[:i]), b[i+2:], nil
			}
			return string(append(out, b[:i]...)), b[i+2:], nil
		case 0xFF:
			out = append(out, b[:i]...)
			out = append(out, 0x00)
			b = b[i+2:]
			i = -1
		default:
			return "", nil, errBadKey
		}
	}
	return "", nil, errBadKey
}

// appendInt64 appends v big-endian with the sign bit flipped, so negatives sort first.
func appendInt64(b []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(v)^(1<<63))
}

func readInt64(b []byte) (int64, []byte, error) {
	if len(b) < 8 {
		return 0, nil, errBadKey
	}
	return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)), b[8:], nil
}

// appendTime appends t as (Unix seconds, nanoseconds): order-preserving over the whole range
// of time.Time, unlike UnixNano, which overflows outside 1678–2262.
func appendTime(b []byte, t time.Time) []byte {
	b = appendInt64(b, t.Unix())
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

func readTime(b []byte) (time.Time, []byte, error) {
	sec, rest, err := readInt64(b)
	if err != nil || len(rest) < 4 {
		return time.Time{}, nil, errBadKey
	}
	return time.Unix(sec, int64(binary.BigEndian.Uint32(rest))).UTC(), rest[4:], nil
}

// prefixEnd returns the smallest key greater than every key that starts with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // p is all 0xFF: no upper bound
}

// after returns the smallest key strictly greater than k.
func after(k []byte) []byte { return append(append([]byte(nil), k...), 0x00) }

func contactKey(inst, id string) []byte {
	return appendString(appendString([]byte{tagContact}, inst), id)
}

func contactPrefix(inst string) []byte { return appendString([]byte{tagContact}, inst) }

func inactivePrefix(inst, status string) []byte {
	return appendString(appendString([]byte{tagInactive}, inst), status)
}

func inactiveKey(inst, status string, recency time.Time, id string) []byte {
	return appendString(appendTime(inactivePrefix(inst, status), recency), id)
}

func keyKey(inst, id string) []byte { return appendString(appendString([]byte{tagKey}, inst), id) }

func runKey(inst, id string) []byte { return appendString(appendString([]byte{tagRun}, inst), id) }

func runByCreatedPrefix(inst string) []byte { return appendString([]byte{tagRunByCreated}, inst) }

func runByCreatedKey(inst string, created time.Time, id string) []byte {
	return appendString(appendTime(runByCreatedPrefix(inst), created), id)
}

func itemPrefix(inst, run string) []byte {
	return appendString(appendString([]byte{tagItem}, inst), run)
}

func itemKey(inst, run, contactID string) []byte { return appendItemKey(nil, inst, run, contactID) }

func appendItemKey(b []byte, inst, run, contactID string) []byte {
	return appendString(appendString(appendString(append(b, tagItem), inst), run), contactID)
}

func auditKey(seq int64) []byte { return appendInt64([]byte{tagAudit}, seq) }

func auditByKeyKey(key string) []byte { return appendString([]byte{tagAuditByKey}, key) }

func auditByContactPrefix(inst, contactID string) []byte {
	return appendString(appendString([]byte{tagAuditByContact}, inst), contactID)
}

func auditByContactKey(inst, contactID string, seq int64) []byte {
	return appendInt64(auditByContactPrefix(inst, contactID), seq)
}

// auditAfter is the lower bound of entries with a sequence strictly greater than seq.
func auditAfter(seq int64) []byte {
	if seq == math.MaxInt64 {
		return prefixEnd([]byte{tagAudit})
	}
	return auditKey(seq + 1)
}
