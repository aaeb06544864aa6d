package recency_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/platform/platformtest"
	"github.com/lethe-gdpr/lethe/pkg/seal"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
	"github.com/lethe-gdpr/lethe/services/ingest"
	"github.com/lethe-gdpr/lethe/services/recency"
)

// The HTTP API of the recency service is tested the way `lethe serve` composes it: events go
// in through the real ingest (so personal values are really sealed with the contact's key),
// over an embedded JetStream, into the real projection consumer, on a real store; reads go
// through the real listener with bearer tokens.

const (
	instA = "inst-a"
	instB = "inst-b"

	tokenIngest = "token-ingest-a"
	tokenRead   = "token-read-a"
	tokenReadB  = "token-read-b" // read on another institution only
	// tokenReports reads reports and projections but may not export personal data.
	tokenReports = "token-reports-a"
	readerName   = "dpo-a"
	months       = 36
)

func hashOf(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

type apiStack struct {
	t      *testing.T
	js     jetstream.JetStream
	store  store.Store
	sealer *seal.Sealer
	url    string
	logs   *testkit.SyncBuffer
}

// newAPIStack runs ingest and recency on an embedded JetStream and st, behind one listener.
func newAPIStack(t *testing.T, st store.Store) *apiStack {
	t.Helper()
	_, js := platformtest.Bus(t)
	ctx := context.Background()
	tokens := []config.Token{
		{Name: "ticketing-a", SHA256: hashOf(tokenIngest), Institutions: []string{instA}, Scopes: []string{config.ScopeIngest}},
		{Name: readerName, SHA256: hashOf(tokenRead), Institutions: []string{instA}, Scopes: []string{config.ScopeRead, config.ScopeExport}},
		{Name: "reports-a", SHA256: hashOf(tokenReports), Institutions: []string{instA}, Scopes: []string{config.ScopeRead}},
		{Name: "dpo-b", SHA256: hashOf(tokenReadB), Institutions: []string{instB}, Scopes: []string{config.ScopeRead}},
	}
	cfg := config.File{Tokens: tokens, Institutions: []config.Institution{{
		ID: instA, InactivityMonths: months, Mode: "simulation",
		Register: []config.RegisterEntry{
			{Category: "email", Purpose: "run bookings", LegalBasis: "contract", Recipients: []string{"institution", "lethe"},
				Retention: config.Retention{AfterLastActivity: "P36M"}},
			{Category: "technical", Purpose: "security and proper functioning", LegalBasis: "legitimate_interest",
				Recipients: []string{"lethe"}, Retention: config.Retention{AfterCollection: "P12M"}},
		},
	}}}
	logs := &testkit.SyncBuffer{}
	d := platformtest.Deps(t, js, st, cfg)
	d.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	in, err := ingest.New(d)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := recency.New(d)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	in.Register(mux)
	rec.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)

	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rec.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("recency Run: %v", err)
		}
	})
	return &apiStack{t: t, js: js, store: st, sealer: d.Sealer, url: hs.URL, logs: logs}
}

// send posts the events as one batch through ingest and waits until the projection has
// folded everything on the stream.
func (s *apiStack) send(es ...event.Event) {
	s.t.Helper()
	body, err := events.MarshalBatch(es)
	if err != nil {
		s.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/events", bytes.NewReader(body))
	req.Header.Set("Content-Type", events.MediaTypeBatch)
	req.Header.Set("Authorization", "Bearer "+tokenIngest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		s.t.Fatalf("POST /v1/events = %d %s", resp.StatusCode, b)
	}
	s.caughtUp()
}

// rawActivity is every message of LETHE_ACTIVITY as stored, headers and data, for canary checks.
func (s *apiStack) rawActivity() string {
	s.t.Helper()
	ctx := context.Background()
	st, err := s.js.Stream(ctx, bus.StreamActivity)
	if err != nil {
		s.t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	var b strings.Builder
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "%v %s\n", m.Header, m.Data)
	}
	return b.String()
}

// caughtUp waits until the recency consumer acknowledged every message of LETHE_ACTIVITY.
func (s *apiStack) caughtUp() {
	s.t.Helper()
	ctx := context.Background()
	testkit.Eventually(s.t, "the projection to catch up", func() error {
		st, err := s.js.Stream(ctx, bus.StreamActivity)
		if err != nil {
			return err
		}
		si, err := st.Info(ctx)
		if err != nil {
			return err
		}
		c, err := s.js.Consumer(ctx, bus.StreamActivity, bus.DurableRecency)
		if err != nil {
			return err
		}
		ci, err := c.Info(ctx)
		if err != nil {
			return err
		}
		if ci.AckFloor.Stream < si.State.LastSeq || ci.NumAckPending != 0 {
			return fmt.Errorf("acknowledged up to %d of %d, %d pending", ci.AckFloor.Stream, si.State.LastSeq, ci.NumAckPending)
		}
		return nil
	})
}

// get sends GET path with the token (none when empty) and Accept header.
func (s *apiStack) get(token, path, accept string) (int, http.Header, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("GET %s: reading the body: %v", path, err)
	}
	return resp.StatusCode, resp.Header, b
}

func (s *apiStack) getJSON(token, path string, out any) int {
	s.t.Helper()
	code, _, b := s.get(token, path, "application/json")
	if code == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("GET %s: %v in %s", path, err, b)
		}
	}
	return code
}

// contact reads the projection directly.
func (s *apiStack) contact(id string) store.Contact {
	s.t.Helper()
	c, err := s.store.Contacts().Get(context.Background(), instA, id)
	if err != nil {
		s.t.Fatalf("contact %s: %v", id, err)
	}
	return c
}

// mark writes the contact's status by hand, as the anonymiser would, with a CAS retry.
func (s *apiStack) mark(id string, edit func(*store.Contact)) {
	s.t.Helper()
	for range 10 {
		c := s.contact(id)
		edit(&c)
		if _, err := s.store.Contacts().Put(context.Background(), c); err == nil {
			return
		}
	}
	s.t.Fatalf("could not update contact %s", id)
}

// Event builders. Times are whole seconds: MongoDB keeps milliseconds.

func ev(t testing.TB, contact string, d events.Data, opts ...events.Option) event.Event {
	t.Helper()
	e, err := events.New("/test/upstream", instA, contact, d, opts...)
	if err != nil {
		t.Fatalf("events.New: %v", err)
	}
	return e
}

func created(at time.Time, p events.Profile) *events.ContactCreated {
	return &events.ContactCreated{Role: events.RoleIndividual, CreatedAt: at, Profile: p}
}

func consent(at time.Time, auth map[string]string) *events.ConsentChanged {
	return &events.ConsentChanged{Authorisations: auth, ChangedAt: at}
}
