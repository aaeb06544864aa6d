package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
	"github.com/lethe-gdpr/lethe/pkg/seal"
	"github.com/lethe-gdpr/lethe/pkg/server"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/mongostore"
	"github.com/lethe-gdpr/lethe/pkg/store/pebblestore"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// The end-to-end erasure test drives `lethe serve` as an operator would: events over HTTP,
// a simulation, its review, apply, the outcomes on LETHE_RESULTS. Every personal value sent
// is a unique canary; afterwards none may be found anywhere Lethe writes — the data
// directory (JetStream streams, dead letters, the embedded store), MongoDB, the logs, the
// traces — in plain text or by opening a sealed value with any key that is left.

const e2eInst = "inst-e2e"

// canaries hands out unique personal values and remembers them.
type canaries struct {
	run  string
	n    int // never reused, so that no two canaries are equal
	list []string
}

func (c *canaries) next(kind string) *string {
	c.n++
	// The trailing "x" ends the number: canary 2 must not be found inside canary 27.
	v := fmt.Sprintf("canary-%s-%s-%dx", c.run, kind, c.n)
	if kind == "birth" { // a birth date must look like one: a random day of the 1920s
		var b [2]byte
		_, _ = rand.Read(b[:])
		v = fmt.Sprintf("192%d-%02d-%02d", b[0]%10, 1+b[1]%12, 1+int(b[0]/10)%28)
	}
	if kind == "email" {
		v += "@mail.example"
	}
	c.list = append(c.list, v)
	return &v
}

func (c *canaries) profile() events.Profile {
	country, company := "FR", "Curie Lab SARL"
	return events.Profile{
		Email: c.next("email"), FirstName: c.next("first"), LastName: c.next("last"), Phone: c.next("phone"),
		Company: &company, BirthDate: c.next("birth"), Remark: c.next("remark"),
		Address: &events.Address{Line1: c.next("line1"), Line2: c.next("line2"), Postcode: c.next("postcode"), City: c.next("city"), Country: &country},
		Custom:  map[string]*string{"shoe_size": c.next("custom")},
	}
}

type e2eContact struct {
	id     string
	events []events.Data
	// planned outcome of the simulation and reason; erased: its canaries must vanish.
	outcome, reason string
	erased          bool
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 10, 0, 0, 0, time.UTC) }

// e2eInstitution: one contact per outcome, with canaries in every personal field.
func e2eInstitution(c *canaries) (erased, kept []e2eContact) {
	old := day(2019, 3, 1)
	created := func(role string) *events.ContactCreated {
		return &events.ContactCreated{Role: role, CreatedAt: old, Profile: c.profile()}
	}
	order := func(id string, at time.Time) *events.OrderPlaced {
		return &events.OrderPlaced{OrderID: id, OrderedAt: at, ContactRole: "buyer", Items: []events.Item{
			{ProductID: "show-1", Dated: true, ValidAt: at.AddDate(0, 2, 0), Beneficiary: &events.Beneficiary{FirstName: c.next("bfirst"), LastName: c.next("blast")}},
			{ProductID: "membership"},
		}}
	}
	update := &events.ContactUpdated{UpdatedAt: old.AddDate(0, 1, 0), Profile: events.Profile{Email: c.next("email")}}
	// A lifted hold (a held one would block the erasure) and a criterion: their reason and
	// value are personal like the profile.
	hold := func() *events.LegalHoldChanged {
		return &events.LegalHoldChanged{Held: false, Reason: *c.next("hold"), At: old.AddDate(0, 1, 0)}
	}
	criterion := func() *events.CriterionChanged {
		return &events.CriterionChanged{Criterion: "profession", Value: *c.next("criterion"), ChangedAt: old}
	}
	erased = []e2eContact{
		{id: "c-prospect", events: []events.Data{created("individual"), update, criterion()}, outcome: store.OutcomeDelete, erased: true},
		{id: "c-customer", events: []events.Data{created("individual"), order("o-1", old),
			&events.OptionAcquired{OptionID: "opt-1", At: old, Items: []events.Item{{ProductID: "show-2", Beneficiary: &events.Beneficiary{FirstName: c.next("ofirst")}}}},
			hold(), criterion()},
			outcome: store.OutcomeAnonymise, erased: true},
	}
	// The canaries of the contacts that are kept are not checked for absence: they must stay.
	mark := len(c.list)
	kept = []e2eContact{
		{id: "c-debt", events: []events.Data{created("relay"), order("o-2", old), &events.BalanceChanged{Balance: -1200, Currency: "EUR", At: old}},
			outcome: store.OutcomeSkip, reason: "debt"},
		{id: "c-active", events: []events.Data{created("individual"), &events.CampaignLinkClicked{CampaignID: "k", LinkID: "l", ClickedAt: day(2026, 1, 5)}}},
		{id: "c-structure", events: []events.Data{created("structure")}},
	}
	c.list = c.list[:mark]
	return erased, kept
}

func TestErasureEndToEnd(t *testing.T) {
	t.Parallel()
	t.Run("pebble", func(t *testing.T) { erasureEndToEnd(t, nil) })
	t.Run("mongo", func(t *testing.T) {
		uri := testkit.MongoURI(t)
		db := "lethe_e2e_" + randomHex(6)
		erasureEndToEnd(t, []string{"--mongo-uri", uri, "--mongo-database", db})
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func erasureEndToEnd(t *testing.T, storeArgs []string) {
	dir := t.TempDir()
	can := &canaries{run: randomHex(4)}
	erased, kept := e2eInstitution(can)
	all := append(slices.Clone(erased), kept...)

	// Serve, with every log line and every span captured.
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	masterB64 := base64.StdEncoding.EncodeToString(key)
	args := append([]string{"--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--data", dir, "--log-level", "debug",
		"--master-key", masterB64}, storeArgs...)
	cfg, err := server.Parse(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	spans := tracetest.NewInMemoryExporter()
	cfg.Spans = keepSpans{spans}
	logs := &testkit.SyncBuffer{}
	out := newLineWriter()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg, out, logs) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(90 * time.Second):
			t.Fatal("serve did not stop")
		}
	}
	t.Cleanup(stop)
	base, natsURL, token := out.find(t, reHTTP), out.find(t, reNATS), out.find(t, reToken)
	api := &apiClient{t: t, base: base, token: token}

	// Downstream: a CRM's durable consumer on LETHE_RESULTS, attached before anything happens.
	nc, err := nats.Connect(serviceURL(t, natsURL, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js := bustest.JetStream(t, nc)

	// 1. Events in, over HTTP, as one batch.
	var batch []event.Event
	for _, c := range all {
		for i, d := range c.events {
			e, err := events.New("/ticketing", e2eInst, c.id, d, events.WithID(fmt.Sprintf("%s-%d", c.id, i)))
			if err != nil {
				t.Fatalf("event %s-%d: %v", c.id, i, err)
			}
			batch = append(batch, e)
		}
	}
	body, err := events.MarshalBatch(batch)
	if err != nil {
		t.Fatal(err)
	}
	if st, b := api.do(http.MethodPost, "/v1/events", "application/cloudevents-batch+json", body); st != http.StatusAccepted {
		t.Fatalf("POST /v1/events: %d %s", st, b)
	}
	for _, c := range all {
		api.waitJSON("/v1/institutions/"+e2eInst+"/contacts/"+c.id, func(v map[string]any) bool {
			return v["recency"] != nil && v["recency"] != ""
		})
	}
	// An upstream's invalid event on the NATS inbox, in clear: its dead letter must be sealed
	// with c-customer's key, so that the erasure reaches it too.
	invalid := fmt.Sprintf(`{"role":"emperor","created_at":"2019-03-01T10:00:00Z","profile":{"email":%q,"last_name":%q}}`,
		*can.next("email"), *can.next("last"))
	inbox := &nats.Msg{Subject: bus.InboxSubject(e2eInst), Header: nats.Header{"ce-specversion": {"1.0"}, "ce-id": {"inbox-bad-1"},
		"ce-source": {"/ticketing"}, "ce-type": {events.TypeContactCreated}, "ce-subject": {"c-customer"}, "ce-time": {"2019-03-01T10:00:00Z"},
		"ce-institution": {e2eInst}, "content-type": {"application/json"}}, Data: []byte(invalid)}
	if _, err := js.PublishMsg(context.Background(), inbox); err != nil {
		t.Fatalf("publish to the inbox: %v", err)
	}
	waitDeadLetters(t, js, 1)

	// 2. A simulation as of today, reviewed item by item.
	asOf := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	sim := api.startRun(`{"mode":"simulation","inactivity_months":36,"as_of":"` + asOf.Format(time.RFC3339) + `"}`)
	sim = api.waitRun(sim["id"].(string), "planned", "completed")
	items := api.items(sim["id"].(string))
	want := map[string]string{}
	for _, c := range all {
		if c.outcome != "" {
			want[c.id] = c.outcome + "/" + c.reason
		}
	}
	if !mapsEqual(items, want) {
		t.Fatalf("simulation items %v, want %v", items, want)
	}
	for _, c := range erased { // a simulation changes nothing
		_, v := api.get("/v1/institutions/" + e2eInst + "/contacts/" + c.id)
		if v["status"] != "active" {
			t.Fatalf("after the simulation %s is %v", c.id, v["status"])
		}
	}

	// 3. Apply exactly that set.
	applied := api.post("/v1/institutions/"+e2eInst+"/runs/"+sim["id"].(string)+"/apply", "")
	applyID := applied["id"].(string)
	api.waitRun(applyID, "completed")

	// 4. Results out: one outcome per item, skips included, and the run's completion after
	// every one of them, carrying what happened.
	results, completed := applyResults(t, js, applyID)
	for _, c := range kept {
		if c.outcome != store.OutcomeSkip {
			continue
		}
		r, ok := results[c.id]
		var d events.ContactSkipped
		if ok {
			_ = json.Unmarshal(r.Data(), &d)
		}
		if !ok || r.Type() != events.TypeContactSkipped || d.Reason != c.reason {
			t.Fatalf("planned skip %s: outcome %v, want lethe.contact.skipped.v1 with reason %s", c.id, r, c.reason)
		}
	}
	var happened events.RunCounts
	for _, r := range results {
		switch r.Type() {
		case events.TypeContactDeleted:
			happened.Deleted++
		case events.TypeContactAnonymised:
			happened.Anonymised++
		case events.TypeContactSkipped:
			happened.Skipped++
		}
	}
	if completed.Counts != happened {
		t.Fatalf("run.completed counts %+v, the outcomes on LETHE_RESULTS %+v", completed.Counts, happened)
	}
	counts := map[string]int{}
	for _, c := range erased {
		r, ok := results[c.id]
		if !ok {
			t.Fatalf("no outcome for %s on LETHE_RESULTS (got %v)", c.id, results)
		}
		wantType := map[string]string{store.OutcomeDelete: events.TypeContactDeleted, store.OutcomeAnonymise: events.TypeContactAnonymised}[c.outcome]
		if r.Type() != wantType {
			t.Fatalf("%s: outcome %s, want %s", c.id, r.Type(), wantType)
		}
		counts[c.outcome]++
		if r.Type() == events.TypeContactAnonymised {
			var d events.ContactAnonymised
			_ = json.Unmarshal(r.Data(), &d)
			for _, f := range []string{"profile.email", "profile.last_name", "profile.address.city", "profile.custom.shoe_size", "orders.items.beneficiary.first_name"} {
				if !slices.Contains(d.ErasedFields, f) {
					t.Errorf("%s: erased_fields %v lacks %s", c.id, d.ErasedFields, f)
				}
			}
			if d.RunID != applyID {
				t.Errorf("%s: run_id %q, want the apply run %q", c.id, d.RunID, applyID)
			}
		}
	}
	run := api.getRun(applyID)
	runCounts, _ := run["counts"].(map[string]any)
	for outcome, n := range counts {
		if got, _ := runCounts[outcome].(float64); int(got) != n {
			t.Fatalf("apply run counts %v, but LETHE_RESULTS carried %d %s", runCounts, n, outcome)
		}
	}
	// The apply run's items carry the results.
	resultItems := api.itemResults(applyID)
	for _, c := range erased {
		wantResult := map[string]string{store.OutcomeDelete: "deleted", store.OutcomeAnonymise: "anonymised"}[c.outcome]
		if resultItems[c.id] != wantResult {
			t.Fatalf("apply item %s result %q, want %q", c.id, resultItems[c.id], wantResult)
		}
	}

	// 5. What is left in the projection.
	st, v := api.get("/v1/institutions/" + e2eInst + "/contacts/c-customer")
	if st != http.StatusOK || v["status"] != "anonymised" {
		t.Fatalf("c-customer after apply: %d %v", st, v)
	}
	if _, v := api.get("/v1/institutions/" + e2eInst + "/contacts/c-prospect"); v["status"] != "deleted" {
		t.Fatalf("c-prospect after apply: %v", v)
	}
	if _, v := api.get("/v1/institutions/" + e2eInst + "/contacts/c-debt"); v["status"] != "active" {
		t.Fatalf("c-debt after apply: %v (blocked contacts stay)", v)
	}
	// The right of access, where it is served, holds nothing personal for the erased.
	var leaks []string
	for _, c := range erased {
		for _, path := range []string{"/v1/institutions/" + e2eInst + "/contacts/" + c.id, "/v1/institutions/" + e2eInst + "/contacts/" + c.id + "/export"} {
			_, raw := api.do(http.MethodGet, path, "", nil)
			leaks = append(leaks, found(can.list, raw, path)...)
		}
	}

	// 6. Late events for the anonymised customer bring nothing back.
	late, err := events.New("/ticketing", e2eInst, "c-customer", &events.ContactUpdated{UpdatedAt: day(2026, 11, 1),
		Profile: events.Profile{Email: can.next("email")}}, events.WithID("c-customer-late"))
	if err != nil {
		t.Fatal(err)
	}
	// And a late erasure request with its reason: for an erased contact, dropped at the door.
	lateRequest, err := events.New("/ticketing", e2eInst, "c-customer", &events.ErasureRequested{RequestedAt: day(2026, 11, 2),
		Reason: *can.next("request")}, events.WithID("c-customer-late-request"))
	if err != nil {
		t.Fatal(err)
	}
	lb, err := events.MarshalBatch([]event.Event{late, lateRequest})
	if err != nil {
		t.Fatal(err)
	}
	if st, b := api.do(http.MethodPost, "/v1/events", "application/cloudevents-batch+json", lb); st != http.StatusAccepted {
		t.Fatalf("late events: %d %s", st, b)
	}
	// Nothing observable changes on the contact, so wait for the projection's consumer to
	// have folded everything, then check the contact is as the anonymiser left it.
	waitFolded(t, js)
	if _, v := api.get("/v1/institutions/" + e2eInst + "/contacts/c-customer"); v["status"] != "anonymised" {
		t.Fatalf("after a late event c-customer is %v", v["status"])
	}

	// 7. The canary sweep, with the server stopped so that every file is complete.
	var mongoDump []byte
	if len(storeArgs) > 0 {
		mongoDump = dumpMongo(t, storeArgs[1], storeArgs[3])
	}
	stop()
	leaks = append(leaks, found(can.list, []byte(logs.String()), "logs")...)
	leaks = append(leaks, spanLeaks(can.list, spans.GetSpans())...)
	leaks = append(leaks, found(can.list, mongoDump, "mongodb")...)
	leaks = append(leaks, fileLeaks(t, can.list, dir)...)
	leaks = append(leaks, openWithWhatIsLeft(t, dir, masterB64, storeArgs, can.list, erased, kept)...)
	if len(leaks) > 0 {
		t.Fatalf("personal values of erased contacts survive:\n  %s", strings.Join(leaks, "\n  "))
	}
	if len(spans.GetSpans()) == 0 || !strings.Contains(logs.String(), "level=") {
		t.Fatalf("the sweep saw %d spans and %d bytes of logs: the capture is broken", len(spans.GetSpans()), len(logs.String()))
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// found lists the canaries present in b.
func found(canaries []string, b []byte, where string) []string {
	var out []string
	for _, c := range canaries {
		if bytes.Contains(b, []byte(c)) {
			out = append(out, fmt.Sprintf("%s in %s", c, where))
		}
	}
	return out
}

func spanLeaks(canaries []string, spans tracetest.SpanStubs) []string {
	var sb strings.Builder
	for _, s := range spans {
		sb.WriteString(s.Name)
		for _, a := range s.Attributes {
			fmt.Fprintf(&sb, " %s=%s", a.Key, a.Value.Emit())
		}
		for _, e := range s.Events {
			sb.WriteString(e.Name)
			for _, a := range e.Attributes {
				fmt.Fprintf(&sb, " %s=%s", a.Key, a.Value.Emit())
			}
		}
		sb.WriteString(s.Status.Description)
		sb.WriteByte('\n')
	}
	return found(canaries, []byte(sb.String()), "traces")
}

// fileLeaks reads every file under dir (JetStream store with the dead letters, the embedded
// store, its write-ahead log) looking for a canary in plain text.
func fileLeaks(t *testing.T, canaries []string, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out = append(out, found(canaries, b, rel)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var sealedRE = regexp.MustCompile(`sealed:v1:[A-Za-z0-9+/=_-]+`)

// openWithWhatIsLeft collects every sealed value in the data directory and tries to open it
// with every key still in the store, under every field name ingest seals with: none may give
// back a canary of an erased contact. The erased contacts' keys must be tombstones.
func openWithWhatIsLeft(t *testing.T, dir, masterB64 string, storeArgs []string, canaries []string, erased, kept []e2eContact) []string {
	t.Helper()
	sealedSet := map[string]bool{}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(path)
			for _, m := range sealedRE.FindAll(b, -1) {
				sealedSet[string(m)] = true
			}
		}
		return nil
	})
	if len(sealedSet) == 0 {
		t.Fatal("no sealed value found in the data directory: the sweep cannot be trusted")
	}
	master, err := seal.MasterKeyFromConfig(masterB64)
	if err != nil {
		t.Fatalf("master key: %v", err)
	}
	ctx := context.Background()
	var st store.Store
	if len(storeArgs) > 0 {
		st, err = mongostore.Open(ctx, storeArgs[1], storeArgs[3])
	} else {
		st, err = pebblestore.Open(filepath.Join(dir, "store"))
	}
	if err != nil {
		t.Fatalf("reopen the store: %v", err)
	}
	defer st.Close(ctx)
	sealer, err := seal.New(st.Keys(), master)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range erased {
		if _, err := sealer.ForRead(ctx, e2eInst, c.id); err == nil {
			out = append(out, c.id+"'s data key can still be read")
		}
	}
	fields := []string{"profile.email", "profile.first_name", "profile.last_name", "profile.phone", "profile.birth_date", "profile.remark",
		"profile.address.line1", "profile.address.line2", "profile.address.postcode", "profile.address.city", "profile.custom.shoe_size"}
	for i := range 3 {
		for _, n := range []string{"first_name", "last_name"} {
			fields = append(fields, fmt.Sprintf("items.%d.beneficiary.%s", i, n))
		}
	}
	fields = append(fields, events.FieldLegalHoldReason, events.FieldErasureReason, events.CriterionValueField("profession"))
	everyone := append(slices.Clone(erased), kept...)
	opened := 0
	for v := range sealedSet {
		for _, c := range everyone {
			k, err := sealer.ForRead(ctx, e2eInst, c.id)
			if err != nil {
				continue
			}
			for _, f := range fields {
				if plain, err := k.Open(f, v); err == nil {
					opened++
					out = append(out, found(canaries, []byte(plain), "a sealed value opened with "+c.id+"'s key")...)
				}
			}
		}
	}
	if opened == 0 {
		t.Fatal("no sealed value opened with the kept contacts' keys: the sweep cannot be trusted")
	}
	return out
}

func dumpMongo(t *testing.T, uri, db string) []byte {
	t.Helper()
	ctx := context.Background()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	names, err := client.Database(db).ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, n := range names {
		cur, err := client.Database(db).Collection(n).Find(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		for cur.Next(ctx) {
			j, _ := bson.MarshalExtJSON(cur.Current, false, false)
			buf.Write(j)
			buf.WriteByte('\n')
		}
		_ = cur.Close(ctx)
	}
	if buf.Len() == 0 {
		t.Fatal("the Mongo database is empty: the sweep cannot be trusted")
	}
	return buf.Bytes()
}

// collectResults reads LETHE_RESULTS from the start until n contact outcomes arrived.
// applyResults reads LETHE_RESULTS in stream order and returns run's outcomes by contact and
// its lethe.run.completed.v1, failing if an outcome is there twice, if the completion is
// missing or if any outcome of the run comes after it.
func applyResults(t *testing.T, js jetstream.JetStream, run string) (map[string]event.Event, events.RunCompleted) {
	t.Helper()
	out := map[string]event.Event{}
	var completed *events.RunCompleted
	for _, m := range bustest.Stored(t, js, bus.StreamResults) {
		seq := m.Sequence
		e, err := bus.DecodeEvent(m.Header, m.Data)
		if err != nil {
			t.Fatalf("undecodable result: %v", err)
		}
		var ids struct {
			RunID string `json:"run_id"`
		}
		_ = json.Unmarshal(e.Data(), &ids)
		if ids.RunID != run {
			continue
		}
		if e.Type() == events.TypeRunCompleted {
			var d events.RunCompleted
			if err := json.Unmarshal(e.Data(), &d); err != nil {
				t.Fatal(err)
			}
			completed = &d
			continue
		}
		if completed != nil {
			t.Fatalf("outcome for %s at seq %d, after the run's lethe.run.completed.v1", e.Subject(), seq)
		}
		if _, dup := out[e.Subject()]; dup {
			t.Fatalf("two outcomes for %s", e.Subject())
		}
		out[e.Subject()] = e
	}
	if completed == nil {
		t.Fatalf("no lethe.run.completed.v1 for %s on LETHE_RESULTS", run)
	}
	return out, *completed
}

// apiClient is the operator's side of the HTTP API.
type apiClient struct {
	t     *testing.T
	base  string
	token string
}

func (a *apiClient) do(method, path, contentType string, body []byte) (int, []byte) {
	a.t.Helper()
	req, _ := http.NewRequest(method, a.base+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+a.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (a *apiClient) get(path string) (int, map[string]any) {
	a.t.Helper()
	st, b := a.do(http.MethodGet, path, "", nil)
	var v map[string]any
	_ = json.Unmarshal(b, &v)
	return st, v
}

func (a *apiClient) post(path, body string) map[string]any {
	a.t.Helper()
	st, b := a.do(http.MethodPost, path, "application/json", []byte(body))
	if st/100 != 2 {
		a.t.Fatalf("POST %s: %d %s", path, st, b)
	}
	var v map[string]any
	_ = json.Unmarshal(b, &v)
	return v
}

func (a *apiClient) waitJSON(path string, ok func(map[string]any) bool) map[string]any {
	a.t.Helper()
	var v map[string]any
	testkit.Eventually(a.t, "GET "+path, func() error {
		var st int
		if st, v = a.get(path); st != http.StatusOK || !ok(v) {
			return fmt.Errorf("still %d %v", st, v)
		}
		return nil
	})
	return v
}

func (a *apiClient) startRun(body string) map[string]any {
	return a.post("/v1/institutions/"+e2eInst+"/runs", body)
}

func (a *apiClient) getRun(id string) map[string]any {
	_, v := a.get("/v1/institutions/" + e2eInst + "/runs/" + id)
	return v
}

func (a *apiClient) waitRun(id string, states ...string) map[string]any {
	a.t.Helper()
	return a.waitJSON("/v1/institutions/"+e2eInst+"/runs/"+id, func(v map[string]any) bool {
		if v["state"] == "failed" {
			a.t.Fatalf("run %s failed: %v", id, v["error"])
		}
		s, _ := v["state"].(string)
		return slices.Contains(states, s)
	})
}

// items returns contact → "outcome/reason" of a run.
func (a *apiClient) items(run string) map[string]string {
	out := map[string]string{}
	for _, it := range a.rawItems(run) {
		out[it["contact_id"].(string)] = fmt.Sprint(it["outcome"]) + "/" + strOr(it["reason"])
	}
	return out
}

func (a *apiClient) itemResults(run string) map[string]string {
	out := map[string]string{}
	for _, it := range a.rawItems(run) {
		out[it["contact_id"].(string)] = strOr(it["result"])
	}
	return out
}

func (a *apiClient) rawItems(run string) []map[string]any {
	a.t.Helper()
	st, b := a.do(http.MethodGet, "/v1/institutions/"+e2eInst+"/runs/"+run+"/items", "", nil)
	if st != http.StatusOK {
		a.t.Fatalf("items of %s: %d %s", run, st, b)
	}
	var page struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(b, &page); err != nil {
		a.t.Fatal(err)
	}
	return page.Items
}

func strOr(v any) string {
	s, _ := v.(string)
	return s
}

// keepSpans keeps the recorded spans when serve shuts its tracer provider down (the
// in-memory exporter forgets them on Shutdown), so the sweep can read them afterwards.
type keepSpans struct{ *tracetest.InMemoryExporter }

func (keepSpans) Shutdown(context.Context) error { return nil }

// waitDeadLetters waits until LETHE_DLQ holds n dead letters.
func waitDeadLetters(t *testing.T, js jetstream.JetStream, n uint64) {
	t.Helper()
	ctx := context.Background()
	testkit.Eventually(t, "the dead letters", func() error {
		s, err := js.Stream(ctx, bus.StreamDLQ)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		return testkit.AtLeast("LETHE_DLQ messages", info.State.Msgs, n)
	})
}

// waitFolded waits until the recency service's consumer has acknowledged every activity event.
func waitFolded(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	bustest.WaitCaughtUp(t, js, bus.StreamActivity, bus.DurableRecency)
}
