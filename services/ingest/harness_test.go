package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/platform"
	"github.com/lethe-gdpr/lethe/pkg/platform/platformtest"
	"github.com/lethe-gdpr/lethe/pkg/seal"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/pebblestore"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

const (
	instA = "inst-a"
	instB = "inst-b"

	tokenA      = "token-for-inst-a"    // ingest on inst-a
	tokenRead   = "token-read-only"     // read on inst-a: no ingest scope
	tokenAll    = "token-all-tenants"   // ingest on every institution
	tokenUnknwn = "token-nobody-issued" // not configured
	source      = "/test/ticketing"
)

func hashOf(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// stack is ingest on a real embedded JetStream, a real pebble store and a real HTTP
// listener, as `lethe serve` composes it.
type stack struct {
	t        testing.TB
	ns       *server.Server
	nc       *nats.Conn
	js       jetstream.JetStream
	store    *pebblestore.Store
	storeDir string
	sealer   *seal.Sealer
	svc      *Service
	http     *httptest.Server
	logs     *testkit.SyncBuffer
	metrics  *sdkmetric.ManualReader
	spans    *tracetest.SpanRecorder
	deps     platform.Deps
}

type stackConfig struct {
	maxBody int64
	opts    []Option
	noInbox bool
	quiet   bool // no log capture (benchmarks)
	// keys, when set, wraps the key store the sealer uses (to count its calls).
	keys func(store.Keys) store.Keys
}

func newStack(t testing.TB, sc stackConfig) *stack {
	t.Helper()
	ns, js := platformtest.Bus(t)
	nc := js.Conn()
	ctx := context.Background()
	storeDir := filepath.Join(t.TempDir(), "store")
	st, err := pebblestore.Open(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) }) // ErrClosed after closeStore
	logs := &testkit.SyncBuffer{}
	var logger *slog.Logger
	if sc.quiet {
		logger = slog.New(slog.DiscardHandler)
	} else {
		logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	reader := sdkmetric.NewManualReader()
	spans := tracetest.NewSpanRecorder()
	tokens := []config.Token{
		{Name: "ticketing-a", SHA256: hashOf(tokenA), Institutions: []string{instA}, Scopes: []string{config.ScopeIngest}},
		{Name: "reader-a", SHA256: hashOf(tokenRead), Institutions: []string{instA}, Scopes: []string{config.ScopeRead}},
		{Name: "all", SHA256: hashOf(tokenAll), Institutions: []string{config.AnyInstitution}, Scopes: []string{config.ScopeIngest}},
	}
	d := platformtest.Deps(t, js, st, config.File{Tokens: tokens, MaxBodyBytes: sc.maxBody})
	d.Logger = logger
	d.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	d.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	if sc.keys != nil {
		if d.Sealer, err = seal.New(sc.keys(st.Keys()), platformtest.MasterKey); err != nil {
			t.Fatal(err)
		}
	}
	sealer := d.Sealer
	svc, err := New(d, sc.opts...)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	s := &stack{t: t, ns: ns, nc: nc, js: js, store: st, storeDir: storeDir, sealer: sealer, svc: svc,
		http: hs, logs: logs, metrics: reader, spans: spans, deps: d}
	if !sc.noInbox {
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- svc.ConsumeInbox(cctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("ConsumeInbox: %v", err)
			}
		})
	}
	return s
}

// closeStore closes the pebble store so that everything it holds is on disk.
func (s *stack) closeStore() {
	s.t.Helper()
	if err := s.store.Close(context.Background()); err != nil && !errors.Is(err, pebblestore.ErrClosed) {
		s.t.Fatal(err)
	}
}

// response is what a test reads back from POST /v1/events.
type response struct {
	status int
	header http.Header
	body   []byte
	prob   httpapi.Problem
}

func (s *stack) post(token, contentType string, header http.Header, body []byte) response {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.http.URL+"/v1/events", bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.http.Client().Do(req)
	if err != nil {
		s.t.Fatalf("POST /v1/events: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, body: b}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		if err := json.Unmarshal(b, &r.prob); err != nil {
			s.t.Fatalf("problem body %q: %v", b, err)
		}
	}
	return r
}

func (s *stack) postStructured(token string, e event.Event) response {
	s.t.Helper()
	b, err := events.MarshalStructured(e)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.post(token, events.MediaTypeStructured, nil, b)
}

func (s *stack) postBinary(token string, e event.Event) response {
	s.t.Helper()
	h := http.Header{}
	b, err := events.WriteBinary(e, h.Set)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.post(token, "", h, b)
}

func (s *stack) postBatch(token string, es []event.Event) response {
	s.t.Helper()
	b, err := events.MarshalBatch(es)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.post(token, events.MediaTypeBatch, nil, b)
}

// stored is one message read back from a stream.
type stored struct {
	subject string
	header  nats.Header
	event   event.Event
	raw     []byte
}

// streamMessages reads every message of stream, in order.
func (s *stack) streamMessages(stream string) []stored {
	s.t.Helper()
	ctx := context.Background()
	st, err := s.js.Stream(ctx, stream)
	if err != nil {
		s.t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	var out []stored
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			s.t.Fatalf("get %s #%d: %v", stream, seq, err)
		}
		sm := stored{subject: m.Subject, header: m.Header, raw: m.Data}
		if stream != bus.StreamDLQ {
			e, err := bus.DecodeEvent(m.Header, m.Data)
			if err != nil {
				s.t.Fatalf("decode %s #%d: %v", stream, seq, err)
			}
			sm.event = e
		}
		out = append(out, sm)
	}
	return out
}

func (s *stack) activity() []stored { return s.streamMessages(bus.StreamActivity) }

// Event builders.

var baseTime = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func mustEvent(t testing.TB, inst, contact string, d events.Data, opts ...events.Option) event.Event {
	t.Helper()
	opts = append([]events.Option{events.WithTime(baseTime)}, opts...)
	e, err := events.New(source, inst, contact, d, opts...)
	if err != nil {
		t.Fatalf("events.New: %v", err)
	}
	return e
}

func profileCreated(email, first, last string) *events.ContactCreated {
	return &events.ContactCreated{
		Role:      events.RoleIndividual,
		CreatedAt: baseTime,
		Profile: events.Profile{
			Email: events.String(email), FirstName: events.String(first), LastName: events.String(last),
			Company: events.String("ACME SARL"),
			Address: &events.Address{Line1: events.String("1 rue " + last), City: events.String("Lyon"), Country: events.String("FR")},
		},
	}
}

func orderPlaced(first, last string) *events.OrderPlaced {
	return &events.OrderPlaced{
		OrderID: "o-1", OrderedAt: baseTime, ContactRole: events.ContactRoleBuyer,
		Items: []events.Item{{ProductID: "p-1", Dated: true, ValidAt: baseTime.AddDate(0, 2, 0),
			Beneficiary: &events.Beneficiary{FirstName: events.String(first), LastName: events.String(last)}}},
	}
}

func click(campaign string) *events.CampaignLinkClicked {
	return &events.CampaignLinkClicked{CampaignID: campaign, LinkID: "l-1", ClickedAt: baseTime}
}

// rawEvent builds an event without the contract's checks, to send invalid ones.
func rawEvent(id, typ, inst, contact string, data any) event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource(source)
	e.SetType(typ)
	e.SetTime(baseTime)
	if contact != "" {
		e.SetSubject(contact)
	}
	if inst != "" {
		e.SetExtension(events.ExtInstitution, inst)
	}
	if err := e.SetData(event.ApplicationJSON, data); err != nil {
		panic(err)
	}
	return e
}

// profileOf decodes the profile of a stored contact created/updated event.
func profileOf(t testing.TB, e event.Event) events.Profile {
	t.Helper()
	d, err := events.Decode(e)
	if err != nil {
		t.Fatalf("stored event does not validate: %v", err)
	}
	switch v := d.(type) {
	case *events.ContactCreated:
		return v.Profile
	case *events.ContactUpdated:
		return v.Profile
	}
	t.Fatalf("event %s has no profile", e.Type())
	return events.Profile{}
}

func str(p *string) string {
	if p == nil {
		return "<absent>"
	}
	return *p
}

func fmtParams(ps []httpapi.InvalidParam) string {
	var b strings.Builder
	for _, p := range ps {
		if p.Index != nil {
			fmt.Fprintf(&b, "[%d]", *p.Index)
		}
		fmt.Fprintf(&b, "%s: %s; ", p.Pointer, p.Detail)
	}
	return b.String()
}

// httptestServer serves h on a real listener for the test and returns its URL.
func httptestServer(t testing.TB, h http.Handler) string {
	t.Helper()
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs.URL
}
