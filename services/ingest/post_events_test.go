package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/nats-io/nats.go"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// checkSealed asserts that every personal value of a stored created event is sealed, opens
// with the contact's key to what was sent, and that what stays clear is clear.
func checkSealed(t *testing.T, s *stack, got stored, inst, contact, email, first, last string) {
	t.Helper()
	p := profileOf(t, got.event)
	for field, want := range map[string]struct {
		v     *string
		plain string
	}{
		"profile.email":         {p.Email, email},
		"profile.first_name":    {p.FirstName, first},
		"profile.last_name":     {p.LastName, last},
		"profile.address.line1": {p.Address.Line1, "1 rue " + last},
		"profile.address.city":  {p.Address.City, "Lyon"},
	} {
		if !events.IsSealed(str(want.v)) {
			t.Errorf("%s on the bus is not sealed", field)
			continue
		}
		clear, err := s.sealer.Open(context.Background(), inst, contact, field, *want.v)
		if err != nil || clear != want.plain {
			t.Errorf("%s opens to (%v), want the value sent", field, err)
		}
	}
	if str(p.Company) != "ACME SARL" || str(p.Address.Country) != "FR" {
		t.Errorf("company %q and country %q must stay clear", str(p.Company), str(p.Address.Country))
	}
	if bytes.Contains(got.raw, []byte(email)) {
		t.Errorf("the e-mail is in clear in the stored message")
	}
}

func TestPostEventsEveryModeIsAcceptedSealedOnItsSubject(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackConfig{})
	cases := []struct {
		name string
		send func(es []event.Event) response
		n    int
	}{
		{ModeStructured, func(es []event.Event) response { return s.postStructured(tokenA, es[0]) }, 1},
		{ModeBinary, func(es []event.Event) response { return s.postBinary(tokenA, es[0]) }, 1},
		{ModeBatch, func(es []event.Event) response { return s.postBatch(tokenA, es) }, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(s.activity())
			var es []event.Event
			for i := range tc.n {
				c := fmt.Sprintf("%s-c%d", tc.name, i)
				es = append(es, mustEvent(t, instA, c, profileCreated(c+"@mail.example", "Ada"+c, "Lovelace"+c),
					events.WithOrganisation("org-1")))
			}
			r := tc.send(es)
			if r.status != http.StatusAccepted {
				t.Fatalf("status %d %s, want 202", r.status, r.body)
			}
			var ack api.EventsAccepted
			if err := json.Unmarshal(r.body, &ack); err != nil || ack.Accepted != tc.n {
				t.Fatalf("body %s, want accepted %d", r.body, tc.n)
			}
			got := s.activity()[before:]
			if len(got) != tc.n {
				t.Fatalf("%d events on LETHE_ACTIVITY, want %d", len(got), tc.n)
			}
			for i, g := range got {
				sent := es[i]
				if g.subject != bus.ActivitySubject(instA, events.TypeContactCreated) {
					t.Errorf("subject %s", g.subject)
				}
				if g.header.Get(bus.HeaderMsgID) != bus.MsgID(sent) {
					t.Errorf("Nats-Msg-Id %q, want %q", g.header.Get(bus.HeaderMsgID), bus.MsgID(sent))
				}
				if g.event.ID() != sent.ID() || events.Organisation(g.event) != "org-1" || !g.event.Time().Equal(sent.Time()) {
					t.Errorf("envelope changed: id %s org %s time %s", g.event.ID(), events.Organisation(g.event), g.event.Time())
				}
				c := sent.Subject()
				checkSealed(t, s, g, instA, c, c+"@mail.example", "Ada"+c, "Lovelace"+c)
			}
		})
	}
}

func TestPostEventsRefusalsAnswerProblemsAndPublishNothing(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackConfig{maxBody: 4 << 10})
	good := mustEvent(t, instA, "c-1", click("camp-1"))
	goodBody, _ := events.MarshalStructured(good)
	structured := func(e event.Event) []byte {
		b, err := events.MarshalStructured(e)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	clickData := map[string]any{"campaign_id": "camp-1", "link_id": "l-1", "clicked_at": baseTime}
	huge := mustEvent(t, instA, "c-1", &events.ContactCreated{Role: events.RoleIndividual, CreatedAt: baseTime,
		Profile: events.Profile{Remark: events.String(strings.Repeat("x", 8<<10))}})

	cases := []struct {
		name        string
		token       string
		contentType string
		body        []byte
		status      int
		pointer     string // an error pointer the problem must list ("" for none)
		detail      string // a substring of the problem's detail
	}{
		{"bad JSON", tokenA, events.MediaTypeStructured, []byte(`{"specversion": "1.0", "id": `), 400, "", "invalid"},
		{"unknown type", tokenA, events.MediaTypeStructured,
			structured(rawEvent("e-1", "lethe.contact.teleported.v1", instA, "c-1", clickData)), 400, "/type", ""},
		{"a type Lethe publishes", tokenA, events.MediaTypeStructured,
			structured(rawEvent("e-1", events.TypeContactDeleted, instA, "c-1", map[string]any{})), 400, "/type", ""},
		{"missing institution", tokenA, events.MediaTypeStructured,
			structured(rawEvent("e-1", events.TypeCampaignLinkClicked, "", "c-1", clickData)), 400, "/institution", ""},
		{"wrong tenant", tokenA, events.MediaTypeStructured,
			structured(mustEvent(t, instB, "c-1", click("camp-1"))), 403, "", instB},
		{"no ingest scope", tokenRead, events.MediaTypeStructured, goodBody, 403, "", "ingest"},
		{"no token", "", events.MediaTypeStructured, goodBody, 401, "", ""},
		{"unknown token", tokenUnknwn, events.MediaTypeStructured, goodBody, 401, "", ""},
		{"oversized body", tokenA, events.MediaTypeStructured, structured(huge), 413, "", "4096"},
		{"batch that is not an array", tokenA, events.MediaTypeBatch, goodBody, 400, "", "array"},
		{"binary without ce headers", tokenA, "application/json", []byte(`{}`), 400, "/specversion", ""},
		{"unsupported event format", tokenA, "application/cloudevents+xml", []byte(`<e/>`), 415, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.post(tc.token, tc.contentType, nil, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d %s, want %d", r.status, r.body, tc.status)
			}
			if r.prob.Status != tc.status {
				t.Fatalf("no problem+json body with status %d: %s", tc.status, r.body)
			}
			if tc.pointer != "" {
				found := false
				for _, p := range r.prob.Errors {
					found = found || p.Pointer == tc.pointer && p.Index == nil
				}
				if !found {
					t.Errorf("errors %s lack pointer %s", fmtParams(r.prob.Errors), tc.pointer)
				}
			}
			if !strings.Contains(r.prob.Detail, tc.detail) {
				t.Errorf("detail %q lacks %q", r.prob.Detail, tc.detail)
			}
			if tc.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
			if n := len(s.activity()); n != 0 {
				t.Fatalf("%d events published by a refused request", n)
			}
		})
	}
}

func TestPostBatchWithTwoBadEventsListsBothAndPublishesNothing(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackConfig{})
	canary := "batch-canary-5c1e@mail.example"
	es := make([]event.Event, 6)
	for i := range es {
		es[i] = mustEvent(t, instA, fmt.Sprintf("c-%d", i), profileCreated(canary, "Grace", "Hopper"))
	}
	es[1].SetType("lethe.contact.vanished.v1")
	es[4] = rawEvent("e-4", events.TypeCampaignLinkClicked, "", "c-4",
		map[string]any{"campaign_id": "camp-1", "link_id": "l-1", "clicked_at": baseTime})

	r := s.postBatch(tokenA, es)
	if r.status != http.StatusBadRequest {
		t.Fatalf("status %d %s, want 400", r.status, r.body)
	}
	byIndex := map[int][]string{}
	for _, p := range r.prob.Errors {
		if p.Index == nil {
			t.Fatalf("batch error without index: %s", fmtParams(r.prob.Errors))
		}
		byIndex[*p.Index] = append(byIndex[*p.Index], p.Pointer)
	}
	if len(byIndex) != 2 || !contains(byIndex[1], "/type") || !contains(byIndex[4], "/institution") {
		t.Fatalf("errors %s, want index 1 at /type and index 4 at /institution only", fmtParams(r.prob.Errors))
	}
	if !strings.Contains(r.prob.Detail, "2 of 6") {
		t.Errorf("detail %q", r.prob.Detail)
	}
	if n := len(s.activity()); n != 0 {
		t.Fatalf("%d events published from a rejected batch", n)
	}
	logs := s.logs.String()
	if !strings.Contains(logs, `"/1/type"`) || !strings.Contains(logs, `"/4/institution"`) {
		t.Errorf("the rejection log lacks the pointers: %s", logs)
	}
	if strings.Contains(logs, canary) || strings.Contains(string(r.body), canary) {
		t.Errorf("a personal value reached the logs or the problem")
	}
}

func TestPostBatchNeedsEveryInstitutionCovered(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackConfig{})
	es := []event.Event{
		mustEvent(t, instA, "c-1", click("camp-1")),
		mustEvent(t, instB, "c-2", click("camp-1")),
		mustEvent(t, instA, "c-3", click("camp-1")),
	}
	r := s.postBatch(tokenA, es)
	if r.status != http.StatusForbidden || !strings.Contains(r.prob.Detail, instB) {
		t.Fatalf("status %d %q, want 403 naming %s", r.status, r.prob.Detail, instB)
	}
	if n := len(s.activity()); n != 0 {
		t.Fatalf("%d events published", n)
	}
	// A token for every institution may send them all, each to its tenant's subject.
	if r := s.postBatch(tokenAll, es); r.status != http.StatusAccepted {
		t.Fatalf("status %d %s, want 202", r.status, r.body)
	}
	got := s.activity()
	if len(got) != 3 || got[1].subject != bus.ActivitySubject(instB, events.TypeCampaignLinkClicked) {
		t.Fatalf("subjects %v", got)
	}
}

func TestCloudEventsSDKClientIsAccepted(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackConfig{})
	c, err := cloudevents.NewClientHTTP(
		cehttp.WithTarget(s.http.URL+"/v1/events"),
		cehttp.WithHeader("Authorization", "Bearer "+tokenA),
	)
	if err != nil {
		t.Fatal(err)
	}
	e := mustEvent(t, instA, "c-sdk", profileCreated("sdk@mail.example", "Alan", "Turing"))
	res := c.Send(context.Background(), e)
	var hr *cehttp.Result
	if !cloudevents.ResultAs(res, &hr) || hr.StatusCode != http.StatusAccepted {
		t.Fatalf("result %v, want HTTP 202", res)
	}
	if !cloudevents.IsACK(res) {
		t.Fatalf("result %v is not an ACK", res)
	}
	got := s.activity()
	if len(got) != 1 || got[0].event.ID() != e.ID() {
		t.Fatalf("%d events on the bus", len(got))
	}
	checkSealed(t, s, got[0], instA, "c-sdk", "sdk@mail.example", "Alan", "Turing")
}

func TestJetStreamDownAnswers503AndAcceptsNothing(t *testing.T) {
	t.Run("stream gone", func(t *testing.T) {
		s := newStack(t, stackConfig{noInbox: true})
		if err := s.js.DeleteStream(context.Background(), bus.StreamActivity); err != nil {
			t.Fatal(err)
		}
		es := []event.Event{mustEvent(t, instA, "c-1", click("camp-1")), mustEvent(t, instA, "c-2", click("camp-1"))}
		r := s.postBatch(tokenA, es)
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "5" {
			t.Fatalf("status %d Retry-After %q %s, want 503 with Retry-After 5", r.status, r.header.Get("Retry-After"), r.body)
		}
		if err := bus.EnsureStreams(context.Background(), s.js, bus.StreamsConfig{}); err != nil {
			t.Fatal(err)
		}
		if n := len(s.activity()); n != 0 {
			t.Fatalf("%d events stored after a 503", n)
		}
		if r := s.postBatch(tokenA, es); r.status != http.StatusAccepted {
			t.Fatalf("the retry: status %d %s", r.status, r.body)
		}
		if n := len(s.activity()); n != 2 {
			t.Fatalf("%d events after the retry, want 2", n)
		}
	})
	t.Run("server down", func(t *testing.T) {
		s := newStack(t, stackConfig{noInbox: true})
		first := mustEvent(t, instA, "c-0", click("camp-0"))
		if r := s.postStructured(tokenA, first); r.status != http.StatusAccepted {
			t.Fatalf("status %d", r.status)
		}
		port := s.ns.Addr().(*net.TCPAddr).Port
		storeDir := bustest.StoreDir(s.ns) // read before Shutdown, which forgets it
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		testkit.Eventually(t, "the connection to notice", func() error {
			if s.nc.IsConnected() {
				return errors.New("still connected")
			}
			return nil
		})

		es := []event.Event{mustEvent(t, instA, "c-1", click("camp-1")), mustEvent(t, instA, "c-2", click("camp-1"))}
		r := s.postBatch(tokenA, es)
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Fatalf("status %d Retry-After %q, want 503 with Retry-After", r.status, r.header.Get("Retry-After"))
		}
		// Bring JetStream back on the same store: the first event is there, none of the refused batch.
		bustest.RunServerOn(t, storeDir, port)
		testkit.Eventually(t, "JetStream to come back", func() error {
			if err := testkit.Equal("connection", s.nc.Status(), nats.CONNECTED); err != nil {
				return err
			}
			_, err := s.js.Stream(context.Background(), bus.StreamActivity)
			return err
		})
		got := s.activity()
		if len(got) != 1 || got[0].event.ID() != first.ID() {
			t.Fatalf("%d events after restart, want only the one accepted before", len(got))
		}
		if r := s.postBatch(tokenA, es); r.status != http.StatusAccepted {
			t.Fatalf("the retry: status %d %s", r.status, r.body)
		}
	})
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
