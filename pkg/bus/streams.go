package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream names of the contract (docs/contract.md, "Streams and subjects").
const (
	StreamInbox    = "LETHE_INBOX"
	StreamActivity = "LETHE_ACTIVITY"
	StreamCommands = "LETHE_COMMANDS"
	StreamResults  = "LETHE_RESULTS"
	StreamDLQ      = "LETHE_DLQ"
	// StreamErasures is the erasure ledger: one entry per erasure, no age limit, replayed
	// onto a restored store at start (pkg/ledger).
	StreamErasures = "LETHE_ERASURES"
)

// Durable consumer names of the services, the only place they are written: replicas of a
// service share its durable, and a service that waits on another's progress (the anonymiser
// on the projection) reads that one's durable by the same name.
const (
	// DurableInbox is ingest's consumer on LETHE_INBOX, forwarding to LETHE_ACTIVITY.
	DurableInbox = "ingest-inbox"
	// DurableRecency is recency's consumer on LETHE_ACTIVITY, folding into the projection.
	DurableRecency = "recency"
	// DurableCommands is the anonymiser's consumer on LETHE_COMMANDS (a work queue).
	DurableCommands = "anonymiser"
	// DurableErasureRequests is the anonymiser's consumer of lethe.erasure.requested.v1 on
	// LETHE_ACTIVITY, turning requests into commands.
	DurableErasureRequests = "anonymiser-requests"
	// DurableConfirmations is the anonymiser's consumer of lethe.erasure.confirmed.v1 on
	// LETHE_ACTIVITY, recording downstream destinations' confirmations.
	DurableConfirmations = "anonymiser-confirmations"
)

// Subject roots; every stream captures "<root>.>".
const (
	subjectInbox    = "lethe.inbox"
	subjectActivity = "lethe.activity"
	subjectCommand  = "lethe.command"
	subjectResult   = "lethe.result"
	subjectDLQ      = "lethe.dlq"
	subjectErasure  = "lethe.erasure"
)

// MinDuplicates is the smallest dedupe window EnsureStreams accepts: a client retrying a
// publish after a timeout must still find its first attempt remembered.
const MinDuplicates = 2 * time.Minute

// Defaults used by EnsureStreams for zero StreamsConfig fields.
const (
	DefaultActivityMaxAge = 365 * 24 * time.Hour
	DefaultResultsMaxAge  = 365 * 24 * time.Hour
	DefaultInboxMaxAge    = 30 * 24 * time.Hour
	DefaultDLQMaxAge      = 30 * 24 * time.Hour
)

// ActivitySubject is where ingest publishes an accepted event of type eventType for an
// institution: lethe.activity.<institution>.<type>. The type keeps its dots, so a filter
// "lethe.activity.<institution>.>" selects one tenant.
func ActivitySubject(institution, eventType string) string {
	return subjectActivity + "." + institution + "." + eventType
}

// CommandSubject is lethe.command.<institution>.<kind>.
func CommandSubject(institution, kind string) string {
	return subjectCommand + "." + institution + "." + kind
}

// ResultSubject is lethe.result.<institution>.<outcome>.
func ResultSubject(institution, outcome string) string {
	return subjectResult + "." + institution + "." + outcome
}

// InboxSubject is lethe.inbox.<institution>, where upstream systems may publish CloudEvents.
func InboxSubject(institution string) string {
	return subjectInbox + "." + institution
}

// ConfirmationSubject is lethe.inbox.<institution>.<destination>, where a bus user speaking
// for a downstream destination publishes its lethe.erasure.confirmed.v1. NATS does not tell a
// consumer who published a message, so the subject says it: only a user whose lethe.yaml
// entry names that destination is granted it (Permissions), and ingest checks the
// confirmation's destination against the subject's.
func ConfirmationSubject(institution, destination string) string {
	return subjectInbox + "." + institution + "." + destination
}

// DLQSubject is lethe.dlq.<stream>, where dead letters of stream are kept.
func DLQSubject(stream string) string {
	return subjectDLQ + "." + stream
}

// ErasureSubject is lethe.erasure.<institution>, the institution's entries of the erasure ledger.
func ErasureSubject(institution string) string {
	return subjectErasure + "." + institution
}

// ValidToken reports whether s can stand as one subject token (an institution id, a kind,
// an outcome): not empty, no dots, wildcards or whitespace. Builders do not check it; Publish
// rejects the subjects it would break.
func ValidToken(s string) bool {
	if s == "" {
		return false
	}
	return !strings.ContainsAny(s, ".*> \t\r\n")
}

// validPublishSubject rejects subjects NATS would refuse or misroute: empty tokens,
// wildcards, whitespace.
func validPublishSubject(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty", ErrInvalidSubject)
	}
	for tok := range strings.SplitSeq(s, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return fmt.Errorf("%w: %q", ErrInvalidSubject, s)
		}
	}
	return nil
}

// StreamsConfig tunes the streams that EnsureStreams creates; zero fields take the defaults.
type StreamsConfig struct {
	// ActivityMaxAge is the register's technical-data window (default 365 days).
	ActivityMaxAge time.Duration
	// ResultsMaxAge bounds how far back downstream CRMs can replay outcomes (default 365 days).
	ResultsMaxAge time.Duration
	// InboxMaxAge bounds an unconsumed inbox backlog (default 30 days). Inbox messages are
	// raw upstream events with personal data in clear, so the inbox is a work queue: a
	// message leaves it once ingest acks it.
	InboxMaxAge time.Duration
	// DLQMaxAge bounds how long dead letters are kept (default 30 days). Their personal
	// values are sealed or dropped (WithDeadLetterRedaction for the inbox), but a dead letter
	// is still a copy, so it should not live long.
	DLQMaxAge time.Duration
	// Duplicates is the Nats-Msg-Id dedupe window of every stream (default and minimum
	// MinDuplicates; it is also capped by each stream's max age).
	Duplicates time.Duration
	// Replicas of every stream EnsureStreams creates (default 1; 3 on a cluster). An existing
	// stream with more keeps them unless ExactReplicas is set: a service started without a
	// count (or with an older one) must not take copies away from a cluster's streams.
	Replicas int
	// ExactReplicas applies Replicas to existing streams with more replicas too: an
	// operator's explicit --nats-replicas. JetStream changes the replica count in place,
	// keeping every message.
	ExactReplicas bool
	// Storage is the storage of every stream but LETHE_ACTIVITY, which always uses files
	// (default file).
	Storage jetstream.StorageType
}

func (c StreamsConfig) withDefaults() StreamsConfig {
	if c.ActivityMaxAge <= 0 {
		c.ActivityMaxAge = DefaultActivityMaxAge
	}
	if c.ResultsMaxAge <= 0 {
		c.ResultsMaxAge = DefaultResultsMaxAge
	}
	if c.InboxMaxAge <= 0 {
		c.InboxMaxAge = DefaultInboxMaxAge
	}
	if c.DLQMaxAge <= 0 {
		c.DLQMaxAge = DefaultDLQMaxAge
	}
	if c.Duplicates < MinDuplicates {
		c.Duplicates = MinDuplicates
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	return c
}

// StreamConfigs returns the JetStream configuration of the six streams, as EnsureStreams
// applies it. Exposed so that an operator tool can show or diff them.
func StreamConfigs(cfg StreamsConfig) []jetstream.StreamConfig {
	c := cfg.withDefaults()
	dup := func(maxAge time.Duration) time.Duration {
		// JetStream refuses a dedupe window longer than the max age.
		return min(c.Duplicates, maxAge)
	}
	return []jetstream.StreamConfig{
		{
			Name:        StreamInbox,
			Description: "CloudEvents published by upstream systems over NATS, until ingest validates them",
			Subjects:    []string{subjectInbox + ".>"},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     c.Storage,
			MaxAge:      c.InboxMaxAge,
			Duplicates:  dup(c.InboxMaxAge),
			Replicas:    c.Replicas,
		},
		{
			Name:        StreamActivity,
			Description: "Accepted activity events, one subject per institution and type",
			Subjects:    []string{subjectActivity + ".>"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			MaxAge:      c.ActivityMaxAge,
			Duplicates:  dup(c.ActivityMaxAge),
			Replicas:    c.Replicas,
		},
		{
			Name:        StreamCommands,
			Description: "Anonymisation and erasure commands, each done once",
			Subjects:    []string{subjectCommand + ".>"},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     c.Storage,
			Duplicates:  c.Duplicates,
			Replicas:    c.Replicas,
		},
		{
			Name:        StreamResults,
			Description: "Outcomes for downstream systems to replay with their own durable consumers",
			Subjects:    []string{subjectResult + ".>"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     c.Storage,
			MaxAge:      c.ResultsMaxAge,
			Duplicates:  dup(c.ResultsMaxAge),
			Replicas:    c.Replicas,
		},
		{
			Name:        StreamDLQ,
			Description: "Dead letters: the original message, its headers and the reason",
			Subjects:    []string{subjectDLQ + ".>"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     c.Storage,
			MaxAge:      c.DLQMaxAge,
			Duplicates:  dup(c.DLQMaxAge),
			Replicas:    c.Replicas,
		},
		{
			// No age limit and always files: the ledger must outlive every backup of the
			// store, since it is what erases again a store restored from before an erasure.
			// It holds ids, dates and kinds only.
			Name:        StreamErasures,
			Description: "The erasure ledger: ids, dates and kind of every erasure, replayed onto a restored store",
			Subjects:    []string{subjectErasure + ".>"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Duplicates:  c.Duplicates,
			Replicas:    c.Replicas,
		},
	}
}

// EnsureStreams creates the contract's streams or updates them to cfg. It is idempotent and
// meant to run at every start-up, by every service. It never deletes a stream: a change
// JetStream cannot apply in place (retention or storage of an existing stream) is returned
// as an error naming the stream, and an existing stream keeps a higher replica count than
// cfg's unless cfg.ExactReplicas.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, cfg StreamsConfig) error {
	for _, sc := range StreamConfigs(cfg) {
		if !cfg.ExactReplicas {
			s, err := js.Stream(ctx, sc.Name)
			switch {
			case err == nil:
				sc.Replicas = max(sc.Replicas, s.CachedInfo().Config.Replicas)
			case !errors.Is(err, jetstream.ErrStreamNotFound):
				return fmt.Errorf("bus: ensure stream %s: %w", sc.Name, err)
			}
		}
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("bus: ensure stream %s: %w", sc.Name, err)
		}
	}
	return nil
}
