package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// hashDomain starts every encoding, so an entry's hash can never be mistaken for the hash of
// anything else, and a future encoding can change it.
const hashDomain = "lethe.audit.v1"

// Hash returns the hex SHA-256 of e's canonical encoding, which covers every field but Hash
// itself, in this order:
//
//	"lethe.audit.v1", Seq, At, Institution, ContactID, Actor, Action, Reason, Fields, Key,
//	AnchorSeq, AnchorHash, PrevHash
//
// An integer is 8 bytes big-endian (two's complement); At is its Unix time in milliseconds,
// as such an integer (so the zone and sub-millisecond digits, which the stores do not all keep,
// do not count); a string is its length in bytes as such an integer, then its bytes; Fields is
// its count, then each string. Every component is length-prefixed or fixed-width, so no two
// different entries share an encoding: moving a byte from Reason to Actor changes the hash.
// A nil and an empty Fields encode alike, since MongoDB keeps neither.
func Hash(e store.AuditEntry) string {
	h := sha256.New()
	w := encoder{h: h}
	w.str(hashDomain)
	w.int(e.Seq)
	w.int(e.At.UnixMilli())
	w.str(e.Institution)
	w.str(e.ContactID)
	w.str(e.Actor)
	w.str(e.Action)
	w.str(e.Reason)
	w.int(int64(len(e.Fields)))
	for _, f := range e.Fields {
		w.str(f)
	}
	w.str(e.Key)
	w.int(e.AnchorSeq)
	w.str(e.AnchorHash)
	w.str(e.PrevHash)
	return hex.EncodeToString(h.Sum(nil))
}

type encoder struct {
	h   hash.Hash
	buf [8]byte
}

func (w *encoder) int(v int64) {
	binary.BigEndian.PutUint64(w.buf[:], uint64(v))
	_, _ = w.h.Write(w.buf[:])
}

func (w *encoder) str(s string) {
	w.int(int64(len(s)))
	_, _ = w.h.Write([]byte(s))
}
