package store

import (
	"context"
	"errors"
	"time"
)

// Errors every adapter returns, checked with errors.Is.
var (
	// ErrNotFound: no document under that key.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a compare-and-swap lost against a concurrent writer; the caller re-reads and retries.
	ErrConflict = errors.New("store: version conflict")
	// ErrExists: an insert-if-absent found the key taken.
	ErrExists = errors.New("store: already exists")
	// ErrKeyDestroyed: the contact's data key was destroyed (crypto-shredded); only its tombstone remains.
	ErrKeyDestroyed = errors.New("store: data key destroyed")
	// ErrDuplicate: an audit entry with the same idempotency key is already in the log, so a
	// redelivered command or a re-run purge records its outcome once.
	ErrDuplicate = errors.New("store: duplicate audit key")
)

// Store is the whole persistence port: one value per backend (MongoDB, embedded Pebble).
type Store interface {
	Contacts() Contacts
	Keys() Keys
	Runs() Runs
	RunItems() RunItems
	Audit() Audit
	Requests() Requests
	Confirmations() Confirmations
	// Ping reports whether the backend is reachable (readiness).
	Ping(ctx context.Context) error
	Close(ctx context.Context) error
}

// Contacts holds the projection: one document per (institution, contact).
type Contacts interface {
	// Get returns the contact or ErrNotFound.
	Get(ctx context.Context, institution, id string) (Contact, error)
	// Put writes c if the stored version equals c.Version (0 = must not exist yet) and returns
	// the stored copy with its version incremented. ErrConflict when another writer was first.
	// Updating the projection is read, fold, Put: no transactions needed, and a lost race retries.
	Put(ctx context.Context, c Contact) (Contact, error)
	// PutMany is Put for several distinct contacts, written together: one durable commit in
	// the embedded store, concurrent writes in MongoDB. results[i] is cs[i]'s stored copy, or
	// its error (ErrConflict when another writer was first); the others land regardless. The
	// error is for the call as a whole (store closed, context cancelled), and then nothing
	// is known: the caller re-reads and retries, which a compare-and-swap makes safe.
	PutMany(ctx context.Context, cs []Contact) (results []PutResult, err error)
	// Delete removes the contact if its stored version equals version. Deleting an absent
	// contact is not an error (idempotent).
	Delete(ctx context.Context, institution, id string, version int64) error
	// Inactive calls fn for each contact of the institution with the given status whose
	// recency is strictly before `before`, in ascending (recency, id) order. It is an index
	// range scan over (institution, status, recency): never the whole institution in memory.
	// Returning a non-nil error from fn stops the scan and is returned.
	Inactive(ctx context.Context, institution string, status Status, before time.Time, fn func(Contact) error) error
	// Candidates is Inactive reading only what a run decides on: the same contacts in the
	// same order, each as CandidateOf(contact), read from the index itself (the embedded
	// store keeps the candidate as the index entry's value; MongoDB projects the query to
	// those fields) instead of one whole contact decoded per entry.
	Candidates(ctx context.Context, institution string, status Status, before time.Time, fn func(Candidate) error) error
	// Scan calls fn for every contact of the institution in ascending id order, starting
	// strictly after afterID ("" = from the start).
	Scan(ctx context.Context, institution, afterID string, fn func(Contact) error) error
}

// Keys holds per-contact data keys, wrapped (envelope-encrypted) under the master key.
type Keys interface {
	// Create stores wrapped for the contact unless a key (or a tombstone) is already there,
	// and returns what is stored: racing replicas all end up with the same key.
	// ErrKeyDestroyed if the contact's key was destroyed.
	Create(ctx context.Context, institution, id string, wrapped []byte) ([]byte, error)
	// CreateMany is Create for several distinct contacts, written together (one durable
	// commit in the embedded store). results[i] is what is stored for ks[i] after the call:
	// its key, the key another writer created first, or ErrKeyDestroyed.
	CreateMany(ctx context.Context, ks []NewKey) (results []KeyResult, err error)
	// Get returns the wrapped key, ErrNotFound, or ErrKeyDestroyed.
	Get(ctx context.Context, institution, id string) ([]byte, error)
	// Destroy overwrites the key with a tombstone dated at. Idempotent; destroying an absent
	// key leaves a tombstone too, so a late event can never create one.
	Destroy(ctx context.Context, institution, id string, at time.Time) error
}

// PutResult is the outcome of one contact of Contacts.PutMany.
type PutResult struct {
	Contact Contact
	Err     error
}

// NewKey is one contact's wrapped data key for Keys.CreateMany.
type NewKey struct {
	Institution, ID string
	Wrapped         []byte
}

// KeyResult is what Keys.CreateMany left stored for one contact: its wrapped key, or Err
// (ErrKeyDestroyed for a tombstone).
type KeyResult struct {
	Wrapped []byte
	Err     error
}

// Runs holds retention runs.
type Runs interface {
	// Create inserts a run; ErrExists if the id is taken (this is how two schedulers elect
	// which one runs a scheduled occurrence: both derive the same id, one insert wins).
	Create(ctx context.Context, r Run) error
	// Get returns the run or ErrNotFound.
	Get(ctx context.Context, institution, id string) (Run, error)
	// Update writes r if the stored version equals r.Version, returning the stored copy with
	// its version incremented; ErrConflict otherwise.
	Update(ctx context.Context, r Run) (Run, error)
	// List returns the institution's runs, newest first, at most limit (0 = all).
	List(ctx context.Context, institution string, limit int) ([]Run, error)
	// Unfinished returns every run of every institution that is not planned, completed or
	// failed: what a scheduler resumes at start, whichever institutions its configuration
	// names (a run started with a token for every institution included).
	Unfinished(ctx context.Context) ([]Run, error)
}

// RunItems holds one item per contact a run considered.
type RunItems interface {
	// Put upserts items keyed by (run, contact): writing the same item twice is harmless.
	Put(ctx context.Context, items []RunItem) error
	// Page returns up to limit items of a run in ascending contact id order, strictly after
	// afterContact ("" = from the start).
	Page(ctx context.Context, institution, runID, afterContact string, limit int) ([]RunItem, error)
	// Get returns one run's item of a contact, or ErrNotFound: the anonymiser's check that a
	// command matches a reviewed item, once per erasure.
	Get(ctx context.Context, institution, runID, contactID string) (RunItem, error)
	// ForContact returns every run item that concerns a contact (right of access).
	ForContact(ctx context.Context, institution, contactID string) ([]RunItem, error)
}

// Audit is an append-only, hash-chained log with no personal data in it. The adapters store
// and index entries; pkg/audit computes and checks the chain.
type Audit interface {
	// Append stores e at sequence e.Seq. e.Key must not be empty. ErrDuplicate if an entry with
	// the same Key is in the log (checked first: a retried append learns it already happened);
	// ErrExists if the sequence is taken (the caller re-reads the head and retries, so
	// concurrent appenders serialise on the unique sequence without transactions).
	Append(ctx context.Context, e AuditEntry) error
	// AppendMany is Append for entries of consecutive sequences, in order, written together
	// (one durable commit in the embedded store): the group commit of concurrent appenders.
	// It appends es in order until one would fail as Append fails — a duplicate key (in the
	// log, or earlier in es) or a taken sequence — and returns how many it appended and that
	// entry's error (ErrDuplicate, ErrExists); es[n:] are not written.
	AppendMany(ctx context.Context, es []AuditEntry) (n int, err error)
	// ByKey returns the entry recorded under an idempotency key, or ErrNotFound.
	ByKey(ctx context.Context, key string) (AuditEntry, error)
	// Last returns the entry with the highest sequence, or ErrNotFound when the log is empty.
	Last(ctx context.Context) (AuditEntry, error)
	// Scan calls fn for each entry with Seq > afterSeq in ascending order.
	Scan(ctx context.Context, afterSeq int64, fn func(AuditEntry) error) error
	// ForContact returns the entries about one contact in ascending sequence order (right of
	// access). Entries without a contact are never listed.
	ForContact(ctx context.Context, institution, contactID string) ([]AuditEntry, error)
	// PurgeThrough removes every entry with Seq <= seq, in bounded batches, and returns how
	// many went. Later entries, and so the head, stay.
	PurgeThrough(ctx context.Context, seq int64) (int, error)
}
