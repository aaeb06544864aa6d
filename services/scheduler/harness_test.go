package scheduler_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/platform/platformtest"
	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
	"github.com/lethe-gdpr/lethe/services/scheduler"
)

const inst = "inst-a"

// Bearer tokens of the tests; lethe.yaml holds their SHA-256 only.
const (
	tokRead  = "read-token"
	tokAdmin = "admin-token"
	tokErase = "erase-token"
	tokOther = "other-institution-token"
)

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func testConfig() config.File {
	return config.File{
		Tokens: []config.Token{
			{Name: "reader", SHA256: sha(tokRead), Institutions: []string{inst}, Scopes: []string{config.ScopeRead}},
			{Name: "admin", SHA256: sha(tokAdmin), Institutions: []string{inst}, Scopes: []string{config.ScopeRead, config.ScopeAdmin}},
			{Name: "dpo", SHA256: sha(tokErase), Institutions: []string{inst}, Scopes: []string{config.ScopeRead, config.ScopeErase}},
			{Name: "other", SHA256: sha(tokOther), Institutions: []string{"inst-b"}, Scopes: []string{config.ScopeRead, config.ScopeAdmin, config.ScopeErase}},
		},
		Institutions: []config.Institution{{ID: inst, InactivityMonths: 36, Mode: store.ModeSimulation}},
		MaxBodyBytes: 1 << 16,
	}
}

// harness is one store, one embedded JetStream server with the contract's streams, and a
// scheduler serving its routes on a real HTTP listener.
type harness struct {
	store store.Store
	nc    *nats.Conn
	js    jetstream.JetStream
	cfg   config.File
	svc   *scheduler.Service
	srv   *httptest.Server
}

func newHarness(t *testing.T, open func(t *testing.T) store.Store, opts ...scheduler.Option) *harness {
	t.Helper()
	h := newBareHarness(t, open, opts...)
	h.resultsAsPlanned(t)
	return h
}

// newBareHarness is a harness with nobody acting on the commands: an apply or execute run
// stays executing until the test marks its items' results itself.
func newBareHarness(t *testing.T, open func(t *testing.T) store.Store, opts ...scheduler.Option) *harness {
	t.Helper()
	h := &harness{store: open(t), cfg: testConfig()}
	_, h.js = platformtest.Bus(t)
	h.nc = h.js.Conn()
	h.svc, h.srv = h.serve(t, opts...)
	return h
}

// resultsAsPlanned stands in for the anonymiser (a service of its own, tested on its own):
// every command published from now on gets the result its plan says on its run item, as the
// anonymiser marks it after publishing the outcome.
func (h *harness) resultsAsPlanned(t *testing.T) {
	t.Helper()
	sub, err := h.nc.Subscribe("lethe.command.>", func(m *nats.Msg) {
		e, err := bus.DecodeEvent(m.Header, m.Data)
		if err != nil {
			return
		}
		cmd, err := retention.CommandOf(e)
		if err != nil {
			return
		}
		setResult(t, h.store, cmd.RunID, cmd.ContactID, "")
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := h.nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// setResult marks a run item's result: result, or "" for what the item planned.
func setResult(t *testing.T, st store.Store, runID, contact, result string) {
	items, err := st.RunItems().ForContact(context.Background(), inst, contact)
	if err != nil {
		t.Error(err)
		return
	}
	for _, it := range items {
		if it.RunID != runID {
			continue
		}
		if result == "" {
			result = map[string]string{store.OutcomeDelete: "deleted", store.OutcomeAnonymise: "anonymised"}[it.Outcome]
			if it.Outcome == store.OutcomeSkip {
				result = "skipped:" + it.Reason
			}
		}
		it.Result, it.ResultAt = result, asOf
		if err := st.RunItems().Put(context.Background(), []store.RunItem{it}); err != nil {
			t.Error(err)
		}
	}
}

// serve starts another scheduler over the harness's store and bus, with its own listener.
func (h *harness) serve(t *testing.T, opts ...scheduler.Option) (*scheduler.Service, *httptest.Server) {
	t.Helper()
	all := append([]scheduler.Option{scheduler.WithClock(func() time.Time { return asOf }), scheduler.WithBatchSize(4)}, opts...)
	svc, err := scheduler.New(platformtest.Deps(t, h.js, h.store, h.cfg), all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	mux := http.NewServeMux()
	svc.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return svc, srv
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (h *harness) do(t *testing.T, method, path, token, body, accept string) response {
	t.Helper()
	return do(t, h.srv, method, path, token, body, accept)
}

func do(t *testing.T, srv *httptest.Server, method, path, token, body, accept string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// startRun posts a run and checks the status; the run comes back as the API shows it.
func (h *harness) startRun(t *testing.T, token, body string, want int) api.RunView {
	t.Helper()
	res := h.do(t, http.MethodPost, "/v1/institutions/"+inst+"/runs", token, body, "")
	if res.status != want {
		t.Fatalf("POST runs %s = %d %s, want %d", body, res.status, res.body, want)
	}
	var v api.RunView
	res.json(t, &v)
	if loc := res.header.Get("Location"); loc != "/v1/institutions/"+inst+"/runs/"+v.ID {
		t.Fatalf("Location = %q for run %s", loc, v.ID)
	}
	return v
}

// awaitRun polls the run until it reaches state.
func awaitRun(t *testing.T, st store.Store, id, state string) store.Run {
	t.Helper()
	var run store.Run
	testkit.Eventually(t, "run "+id+" "+state, func() error {
		var err error
		run, err = st.Runs().Get(t.Context(), inst, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		if run.State == store.RunFailed {
			t.Fatalf("run %s failed: %s", id, run.Error)
		}
		return testkit.Equal("state", run.State, state)
	})
	return run
}

// streamEvents reads every message stored on a stream, without consuming it.
func streamEvents(t *testing.T, js jetstream.JetStream, name string) []storedEvent {
	t.Helper()
	ctx := t.Context()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []storedEvent
	if info.State.Msgs == 0 {
		return nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		e, err := bus.DecodeEvent(m.Header, m.Data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, storedEvent{subject: m.Subject, msgID: m.Header.Get(bus.HeaderMsgID), event: e})
	}
	if uint64(len(out)) != info.State.Msgs {
		t.Fatalf("read %d messages of %s, it holds %d", len(out), name, info.State.Msgs)
	}
	return out
}

type storedEvent struct {
	subject string
	msgID   string
	event   event.Event
}

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	return ctx, cancel
}
