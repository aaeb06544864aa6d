package ingest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// withRegisters gives the service the registers of cfg, as lethe.yaml would (the stack's
// own configuration holds tokens only).
func withRegisters(cfg config.File) Option {
	return func(s *Service) error {
		s.technical = recordsTechnical(cfg)
		return nil
	}
}

// technicalConfig declares technical data for inst-a only; inst-b keeps the default register.
func technicalConfig(t *testing.T) config.File {
	t.Helper()
	reg := config.DefaultRegister(36)
	reg = append(reg, config.RegisterEntry{Category: config.CategoryTechnical, Purpose: "security",
		LegalBasis: config.LegalBasisLegitimateInterest, Recipients: []string{"lethe"},
		Retention: config.Retention{AfterCollection: "P12M"}})
	cfg := config.File{Institutions: []config.Institution{{ID: instA, InactivityMonths: 36, Mode: "simulation", Register: reg}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

const canaryUA = "CanaryBrowser/7.3 (technical-canary-5e1f)"

func TestTechnicalDataIsRecordedSealedForInstitutionsThatDeclareIt(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackConfig{noInbox: true, opts: []Option{withRegisters(technicalConfig(t))}})
	ctx := context.Background()
	before := time.Now().UTC()
	h := http.Header{"User-Agent": {canaryUA}}

	// One event per mode for inst-a, and one for inst-b, whose register does not declare it.
	b, err := events.MarshalStructured(mustEvent(t, instA, "c-tech", click("camp-1")))
	if err != nil {
		t.Fatal(err)
	}
	if r := s.post(tokenA, events.MediaTypeStructured, h, b); r.status != http.StatusAccepted {
		t.Fatalf("structured: %d %s", r.status, r.body)
	}
	batch := []event.Event{mustEvent(t, instA, "c-tech", profileCreated("t@mail.example", "Tess", "Tech")), mustEvent(t, instA, "c-tech-2", click("camp-2"))}
	if b, err = events.MarshalBatch(batch); err != nil {
		t.Fatal(err)
	}
	if r := s.post(tokenA, events.MediaTypeBatch, h, b); r.status != http.StatusAccepted {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	if b, err = events.MarshalStructured(mustEvent(t, instB, "c-b", click("camp-3"))); err != nil {
		t.Fatal(err)
	}
	if r := s.post(tokenAll, events.MediaTypeStructured, h, b); r.status != http.StatusAccepted {
		t.Fatalf("inst-b: %d %s", r.status, r.body)
	}
	after := time.Now().UTC()

	got := s.activity()
	if len(got) != 4 {
		t.Fatalf("%d events on the bus, want 4", len(got))
	}
	for _, g := range got {
		exts := g.event.Extensions()
		inst := events.Institution(g.event)
		if inst == instB {
			for _, name := range events.TechnicalExtensions {
				if _, ok := exts[name]; ok {
					t.Errorf("inst-b does not declare technical data, but its event carries %s", name)
				}
			}
			continue
		}
		ip, _ := exts[events.ExtClientIP].(string)
		ua, _ := exts[events.ExtUserAgent].(string)
		at, _ := exts[events.ExtCollectedAt].(string)
		if !events.IsSealed(ip) || !events.IsSealed(ua) {
			t.Fatalf("event %s: technical data not sealed: clientip %.20q, useragent %.20q", g.event.ID(), ip, ua)
		}
		if strings.Contains(string(g.raw), canaryUA) || strings.Contains(string(g.raw), "127.0.0.1") {
			t.Errorf("event %s: technical data in clear on the bus", g.event.ID())
		}
		ck, err := s.sealer.ForRead(ctx, inst, g.event.Subject())
		if err != nil {
			t.Fatal(err)
		}
		if v, err := ck.Open(events.TechnicalIP, ip); err != nil || v != "127.0.0.1" {
			t.Errorf("clientip opens to %q, %v; want the connection's address", v, err)
		}
		if v, err := ck.Open(events.TechnicalUserAgent, ua); err != nil || v != canaryUA {
			t.Errorf("useragent opens to %q, %v", v, err)
		}
		// Bound to its field: the IP does not open as the user agent.
		if _, err := ck.Open(events.TechnicalUserAgent, ip); err == nil {
			t.Errorf("a sealed IP opened as another field")
		}
		ts, err := time.Parse(time.RFC3339Nano, at)
		if err != nil || ts.Before(before.Add(-time.Second)) || ts.After(after.Add(time.Second)) {
			t.Errorf("collectedat %q is not the time of the request (%s..%s)", at, before, after)
		}
		// The contact's key opens the technical data of its own events only.
		if other, err := s.sealer.For(ctx, instA, "someone-else"); err == nil {
			if _, err := other.Open(events.TechnicalIP, ip); err == nil {
				t.Errorf("another contact's key opened the IP")
			}
		}
	}
	if strings.Contains(s.logs.String(), canaryUA) {
		t.Errorf("the user agent is in the logs")
	}
}

func TestTechnicalDataIsNotRecordedWithoutARequest(t *testing.T) {
	t.Parallel()
	// The inbox has no HTTP request: nothing to record, even for inst-a.
	s := newStack(t, stackConfig{opts: []Option{withRegisters(technicalConfig(t))}})
	publishInbox(t, s, bus.InboxSubject(instA), mustEvent(t, instA, "c-inbox", click("camp-1")), false)
	testkit.Eventually(t, "the inbox event forwarded", func() error { return testkit.Equal("events", len(s.activity()), 1) })
	for _, name := range events.TechnicalExtensions {
		if _, ok := s.activity()[0].event.Extensions()[name]; ok {
			t.Errorf("an inbox event carries %s", name)
		}
	}
}

func TestUpstreamTechnicalExtensionsAreRefused(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackConfig{opts: []Option{withRegisters(technicalConfig(t))}})
	for _, name := range events.TechnicalExtensions {
		t.Run(name, func(t *testing.T) {
			e := mustEvent(t, instA, "c-1", click("camp-1"), events.WithExtension(name, "sealed:v1:forged"))
			r := s.postStructured(tokenA, e)
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d %s, want 400", r.status, r.body)
			}
			if !strings.Contains(fmtParams(r.prob.Errors), "/"+name) {
				t.Errorf("the problem does not point at /%s: %s", name, fmtParams(r.prob.Errors))
			}
			// A batch is refused whole, with the index of the event.
			r = s.postBatch(tokenA, []event.Event{mustEvent(t, instA, "c-2", click("camp-2")), e})
			if r.status != http.StatusBadRequest || len(r.prob.Errors) == 0 || r.prob.Errors[0].Index == nil || *r.prob.Errors[0].Index != 1 {
				t.Fatalf("batch: status %d %s", r.status, r.body)
			}
			// Through the inbox it is dead-lettered with the reason.
			before := len(s.streamMessages(bus.StreamDLQ))
			publishInbox(t, s, bus.InboxSubject(instA), e, false)
			testkit.Eventually(t, "a dead letter", func() error { return testkit.Equal("dead letters", len(s.streamMessages(bus.StreamDLQ)), before+1) })
			if reason := s.streamMessages(bus.StreamDLQ)[before].header.Get(bus.HeaderDLQReason); !strings.Contains(reason, "/"+name) {
				t.Errorf("dead-letter reason %q does not name /%s", reason, name)
			}
		})
	}
	if n := len(s.activity()); n != 0 {
		t.Errorf("%d events published, want none", n)
	}
}

func TestTechnicalDataIsNotRecordedForAnErasedContact(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackConfig{noInbox: true, opts: []Option{withRegisters(technicalConfig(t))}})
	if err := s.sealer.Destroy(context.Background(), instA, "c-gone"); err != nil {
		t.Fatal(err)
	}
	if r := s.post(tokenA, events.MediaTypeStructured, http.Header{"User-Agent": {canaryUA}}, mustStructured(t, mustEvent(t, instA, "c-gone", click("camp-1")))); r.status != http.StatusAccepted {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	for _, name := range events.TechnicalExtensions {
		if _, ok := s.activity()[0].event.Extensions()[name]; ok {
			t.Errorf("an erased contact's event carries %s", name)
		}
	}
}

func TestTechnicalDataOnTheDiskIsSealed(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackConfig{noInbox: true, opts: []Option{withRegisters(technicalConfig(t))}})
	if r := s.post(tokenA, events.MediaTypeStructured, http.Header{"User-Agent": {canaryUA}}, mustStructured(t, mustEvent(t, instA, "c-disk", click("camp-1")))); r.status != http.StatusAccepted {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	dir := bustest.StoreDir(s.ns)
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	if hits := filesContaining(t, dir, []byte("technical-canary-5e1f")); len(hits) > 0 {
		t.Errorf("the user agent is in clear in %v", hits)
	}
	// Sanity: the search finds what is there (the event's id is stored in clear).
	if hits := filesContaining(t, dir, []byte("camp-1")); len(hits) == 0 {
		t.Fatalf("sanity: the clear campaign id is not found under %s", dir)
	}
}

func mustStructured(t *testing.T, e event.Event) []byte {
	t.Helper()
	b, err := events.MarshalStructured(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	cases := []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"no proxy configured: the connection, whatever the header says", "192.0.2.1:5555", []string{"203.0.113.9"}, nil, "192.0.2.1"},
		{"an untrusted peer cannot forge its address", "192.0.2.1:5555", []string{"203.0.113.9"}, proxies, "192.0.2.1"},
		{"a trusted proxy: the right-most untrusted hop", "10.0.0.2:80", []string{"198.51.100.7, 203.0.113.9, 10.0.0.3"}, proxies, "203.0.113.9"},
		{"several headers read as one list", "10.0.0.2:80", []string{"198.51.100.7", "203.0.113.9"}, proxies, "203.0.113.9"},
		{"only proxies: the left-most", "10.0.0.2:80", []string{"10.1.1.1"}, proxies, "10.1.1.1"},
		{"a trusted proxy without the header", "10.0.0.2:80", nil, proxies, "10.0.0.2"},
		{"a malformed hop stops the walk", "10.0.0.2:80", []string{"203.0.113.9, bogus, 10.0.0.3"}, proxies, "10.0.0.3"},
		{"IPv6 loopback proxy", "[::1]:80", []string{"2001:db8::5"}, proxies, "2001:db8::5"},
		{"IPv4-mapped IPv6", "[::ffff:192.0.2.1]:1", nil, nil, "192.0.2.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v1/events", nil)
			r.RemoteAddr = c.remote
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientIP(r, c.trusted); got != c.want {
				t.Errorf("clientIP = %s, want %s", got, c.want)
			}
		})
	}
}

func TestUserAgentIsBounded(t *testing.T) {
	t.Parallel()
	s := &Service{now: time.Now}
	r := httptest.NewRequest(http.MethodPost, "/v1/events", nil)
	r.Header.Set("User-Agent", strings.Repeat("é", maxUserAgent)) // 2 bytes each
	o := s.origin(r)
	if len(o.UserAgent) > maxUserAgent || !strings.HasPrefix(strings.Repeat("é", maxUserAgent), o.UserAgent) || len(o.UserAgent) < maxUserAgent-1 {
		t.Errorf("user agent of %d bytes kept as %d bytes", 2*maxUserAgent, len(o.UserAgent))
	}
}
