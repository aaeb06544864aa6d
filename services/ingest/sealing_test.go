package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// filesContaining walks dir and returns the files whose bytes contain needle.
func filesContaining(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, needle) {
			hits = append(hits, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return hits
}

// TestCanaryNeverOnDiskInClear sends personal values that exist nowhere else and then
// searches every file of the JetStream store and of the pebble store for them. The same
// search must find values that were written in clear on purpose, or it proves nothing.
func TestCanaryNeverOnDiskInClear(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackConfig{noInbox: true})
	ctx := context.Background()
	const (
		email  = "canary-7f3a9c@lethe-canary.example"
		first  = "Quillonelle"
		last   = "Vantablackwood"
		benef  = "Zebediah-Canarysson"
		remark = "canary remark 4c1d: allergic to peanuts"
	)
	created := profileCreated(email, first, last)
	created.Profile.Phone = events.String("+33 6 99 88 77 66")
	created.Profile.Remark = events.String(remark)
	created.Profile.Custom = map[string]*string{"loyalty_nickname": events.String("Canarino-" + first)}
	es := []event.Event{
		mustEvent(t, instA, "c-canary", created),
		mustEvent(t, instA, "c-canary", orderPlaced(benef, last)),
		// A value dressed up as already sealed must not slip through in clear.
		mustEvent(t, instA, "c-canary", &events.ContactUpdated{UpdatedAt: baseTime,
			Profile: events.Profile{Email: events.String("sealed:v1:" + email)}}),
	}
	for i, e := range es {
		var r response
		switch i {
		case 0:
			r = s.postStructured(tokenA, e)
		case 1:
			r = s.postBinary(tokenA, e)
		default:
			r = s.postBatch(tokenA, []event.Event{e})
		}
		if r.status != http.StatusAccepted {
			t.Fatalf("event %d: status %d %s", i, r.status, r.body)
		}
	}
	if n := len(s.activity()); n != 3 {
		t.Fatalf("%d events on the bus, want 3", n)
	}

	// Sanity: clear values written to a test stream and to the store are found by the same
	// search, so a miss above means "sealed", not "not searched well".
	const plainBus, plainStore = "plain-bus-canary-91b2@lethe-canary.example", "plain-store-canary-0d4e@lethe-canary.example"
	if _, err := s.js.CreateStream(ctx, jetstream.StreamConfig{Name: "CANARY_TEST", Subjects: []string{"canarytest.>"},
		Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.js.Publish(ctx, "canarytest.plain", []byte(`{"email":"`+plainBus+`"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.Contacts().Put(ctx, store.Contact{Institution: instA, ID: "c-plain", Status: store.StatusActive,
		Profile: map[string]store.Field{"email": {Value: plainStore}}}); err != nil {
		t.Fatal(err)
	}

	// Stop both so that everything is on disk.
	natsDir := bustest.StoreDir(s.ns)
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	s.closeStore()

	for _, dir := range []string{natsDir, s.storeDir} {
		for _, v := range []string{email, first, last, benef, remark, "Canarino-", "+33 6 99 88 77 66"} {
			if hits := filesContaining(t, dir, []byte(v)); len(hits) > 0 {
				t.Errorf("a personal value (%d bytes) is in clear in %v", len(v), hits)
			}
		}
	}
	if hits := filesContaining(t, natsDir, []byte(plainBus)); len(hits) == 0 {
		t.Fatalf("sanity: the clear value published to a test stream is not found under %s", natsDir)
	}
	if hits := filesContaining(t, s.storeDir, []byte(plainStore)); len(hits) == 0 {
		t.Fatalf("sanity: the clear value written to the store is not found under %s", s.storeDir)
	}
	if logs := s.logs.String(); strings.Contains(logs, email) || strings.Contains(logs, first) {
		t.Errorf("a personal value is in the logs")
	}
}

func TestSealedLookalikeIsSealedAgainButAGenuineSealStays(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackConfig{})
	ctx := context.Background()
	genuine, err := s.sealer.Seal(ctx, instA, "c-1", "profile.first_name", "Ada")
	if err != nil {
		t.Fatal(err)
	}
	fake := "sealed:v1:ada@mail.example"
	e := mustEvent(t, instA, "c-1", &events.ContactUpdated{UpdatedAt: baseTime,
		Profile: events.Profile{Email: events.String(fake), FirstName: events.String(genuine), LastName: events.String("")}})
	if r := s.postStructured(tokenA, e); r.status != http.StatusAccepted {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	p := profileOf(t, s.activity()[0].event)
	if str(p.Email) == fake {
		t.Fatalf("a value that only looks sealed went through as sent")
	}
	if v, err := s.sealer.Open(ctx, instA, "c-1", "profile.email", str(p.Email)); err != nil || v != fake {
		t.Fatalf("the look-alike opens to (%v); want it sealed as sent", err)
	}
	if str(p.FirstName) != genuine {
		t.Errorf("a value genuinely sealed for this contact and field was sealed again")
	}
	if str(p.LastName) != "" {
		t.Errorf("an empty string (clearing a field) must stay empty, got %q", str(p.LastName))
	}
}

func TestUnknownExtensionsAndDataMembersAreDropped(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackConfig{})
	e := mustEvent(t, instA, "c-1", click("camp-1"), events.WithExtension("contactemail", "x@mail.example"))
	e.DataEncoded = []byte(`{"campaign_id":"camp-1","link_id":"l-1","clicked_at":"2025-03-01T10:00:00Z","note":"x@mail.example"}`)
	if r := s.postStructured(tokenA, e); r.status != http.StatusAccepted {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	got := s.activity()[0]
	if _, ok := got.event.Extensions()["contactemail"]; ok {
		t.Errorf("an unknown extension travelled on")
	}
	if events.Institution(got.event) != instA {
		t.Errorf("the institution extension was lost")
	}
	if bytes.Contains(got.raw, []byte("x@mail.example")) {
		t.Errorf("an unknown data member travelled on")
	}
}

func TestKeyDestroyedContactIsAcceptedWithoutPersonalFields(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackConfig{})
	ctx := context.Background()
	if r := s.postStructured(tokenA, mustEvent(t, instA, "c-gone", profileCreated("gone@mail.example", "Old", "Name"))); r.status != http.StatusAccepted {
		t.Fatalf("status %d", r.status)
	}
	if err := s.sealer.Destroy(ctx, instA, "c-gone"); err != nil {
		t.Fatal(err)
	}
	// Also a contact never seen before whose key was destroyed (erasure of a stranger).
	if err := s.sealer.Destroy(ctx, instA, "c-never"); err != nil {
		t.Fatal(err)
	}
	late := []event.Event{
		mustEvent(t, instA, "c-gone", &events.ContactUpdated{UpdatedAt: baseTime.AddDate(0, 1, 0),
			Profile: events.Profile{Email: events.String("back@mail.example"), Company: events.String("ACME SARL"),
				Address: &events.Address{City: events.String("Paris"), Country: events.String("FR")}}}),
		mustEvent(t, instA, "c-gone", orderPlaced("Benef", "Iciary")),
		mustEvent(t, instA, "c-never", profileCreated("stranger@mail.example", "New", "Person")),
	}
	r := s.postBatch(tokenA, late)
	if r.status != http.StatusAccepted {
		t.Fatalf("late events: status %d %s, want 202", r.status, r.body)
	}
	got := s.activity()[1:]
	if len(got) != 3 {
		t.Fatalf("%d late events on the bus", len(got))
	}
	p := profileOf(t, got[0].event)
	if p.Email != nil || p.Address == nil || p.Address.City != nil {
		t.Errorf("personal fields of a destroyed contact on the bus: email %s city %v", str(p.Email), p.Address)
	}
	if str(p.Company) != "ACME SARL" || str(p.Address.Country) != "FR" {
		t.Errorf("what stays clear was dropped too")
	}
	d, err := events.Decode(got[1].event)
	if err != nil {
		t.Fatal(err)
	}
	if o := d.(*events.OrderPlaced); o.Items[0].Beneficiary != nil || !o.Items[0].ValidAt.Equal(baseTime.AddDate(0, 2, 0)) {
		t.Errorf("order: beneficiary %v, valid_at %s: want no beneficiary and the date kept", o.Items[0].Beneficiary, o.Items[0].ValidAt)
	}
	if p := profileOf(t, got[2].event); p.Email != nil || p.FirstName != nil {
		t.Errorf("personal fields of a never-seen destroyed contact on the bus")
	}
	for _, g := range got {
		for _, v := range []string{"back@mail.example", "Benef", "stranger@mail.example", "Paris"} {
			if bytes.Contains(g.raw, []byte(v)) {
				t.Errorf("%s carries a dropped value", g.event.Type())
			}
		}
	}
	// No fresh key was made: both contacts still have only their tombstone.
	for _, c := range []string{"c-gone", "c-never"} {
		if _, err := s.store.Keys().Get(ctx, instA, c); !errors.Is(err, store.ErrKeyDestroyed) {
			t.Errorf("key of %s: %v, want the tombstone", c, err)
		}
	}
}

// countingKeys counts the key store calls the sealer makes.
type countingKeys struct {
	store.Keys
	creates, createManys atomic.Int64
}

func (k *countingKeys) Create(ctx context.Context, inst, id string, wrapped []byte) ([]byte, error) {
	k.creates.Add(1)
	return k.Keys.Create(ctx, inst, id, wrapped)
}

func (k *countingKeys) CreateMany(ctx context.Context, ks []store.NewKey) ([]store.KeyResult, error) {
	k.createManys.Add(1)
	return k.Keys.CreateMany(ctx, ks)
}

// A batch bringing many contacts never seen creates all their data keys in one write, not
// one write (and one wait for the disk) each; the events are sealed with those keys.
func TestBatchOfNewContactsCreatesTheirKeysInOneWrite(t *testing.T) {
	t.Parallel()
	counter := &countingKeys{}
	s := newStack(t, stackConfig{keys: func(k store.Keys) store.Keys { counter.Keys = k; return counter }})
	body := benchBatchBody(t, func(i int) string { return fmt.Sprintf("fresh-%04d", i) })
	if err := postBench(s.http.Client(), s.http.URL+"/v1/events", body); err != nil {
		t.Fatalf("POST: %v", err)
	}
	if n := counter.createManys.Load(); n != 1 {
		t.Fatalf("CreateMany called %d times for one batch, want 1", n)
	}
	if n := counter.creates.Load(); n != 0 {
		t.Fatalf("Create called %d times, want none: every key came from the one CreateMany", n)
	}
	// The personal values were sealed with the keys now stored: the contact of event 0 (a
	// profile) has a key that opens its sealed e-mail.
	if _, err := s.store.Keys().Get(t.Context(), instA, "fresh-0000"); err != nil {
		t.Fatalf("the key of a new contact: %v", err)
	}
}
