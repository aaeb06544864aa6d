package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

const destInst = "inst-d"

// destinationsServe starts lethe serve with two destinations following destInst (crm-a
// confirms over HTTP with its token, crm-b on its inbox subject as a bus user) and returns
// it with the tokens by name.
func destinationsServe(t *testing.T) (served, map[string]string) {
	t.Helper()
	tokens := map[string]string{"dpo": randomHex(16), "crm-a": randomHex(16), "crm-b": randomHex(16), "ticketing": randomHex(16)}
	crmB := bustest.BusUser(t, "crm-b", config.RoleConsumer, "crm-b-pw", destInst)
	yaml := fmt.Sprintf(`destinations:
  - {name: crm-a, institutions: [%[1]s]}
  - {name: crm-b, institutions: [%[1]s]}
  - {name: crm-c, institutions: [inst-other]}
tokens:
  - {name: dpo, sha256: %[2]q, institutions: [%[1]s], scopes: [ingest, read, admin, erase]}
  - {name: crm-a, sha256: %[3]q, institutions: [%[1]s, inst-other], scopes: [ingest, read], destination: crm-a}
  - {name: crm-b, sha256: %[4]q, institutions: [%[1]s], scopes: [ingest], destination: crm-b}
  - {name: ticketing, sha256: %[5]q, institutions: [%[1]s], scopes: [ingest]}
bus:
  users:
    - {name: crm-b, role: consumer, institutions: [%[1]s], password_bcrypt: '%[6]s', destination: crm-b}
`, destInst, hashHex(tokens["dpo"]), hashHex(tokens["crm-a"]), hashHex(tokens["crm-b"]), hashHex(tokens["ticketing"]), crmB.PasswordBcrypt)
	path := filepath.Join(t.TempDir(), "lethe.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServeTokens(t, t.TempDir(), false, "--config", path)
	s.token = tokens["dpo"]
	return s, tokens
}

// postEventsStatus posts es as a batch and returns the status and the body.
func postEventsStatus(t *testing.T, server, token string, es ...event.Event) (int, string) {
	t.Helper()
	body, err := events.MarshalBatch(es)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, server+"/v1/events", bytes.NewReader(body))
	req.Header.Set("Content-Type", events.MediaTypeBatch)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func confirmation(t *testing.T, id, contact, dest, outcome string) event.Event {
	t.Helper()
	e, err := events.New("/crm/"+dest, destInst, contact, events.ErasureConfirmed{Destination: dest, OutcomeID: outcome, ConfirmedAt: time.Now().UTC().Truncate(time.Second)}, events.WithID(id))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// destinations reads GET …/destinations of destInst as name → view.
func destinations(t *testing.T, s served) map[string]map[string]any {
	t.Helper()
	return destinationsOf(t, s, destInst)
}

func destinationsOf(t *testing.T, s served, inst string) map[string]map[string]any {
	t.Helper()
	code, body := get(t, s.http+"/v1/institutions/"+inst+"/destinations", s.token)
	if code != http.StatusOK {
		t.Fatalf("GET destinations = %d %v", code, body)
	}
	out := map[string]map[string]any{}
	list, _ := body["destinations"].([]any)
	for _, d := range list {
		v, _ := d.(map[string]any)
		out[fmt.Sprint(v["name"])] = v
	}
	return out
}

// backlogIs waits until each destination's confirmed/unconfirmed/unmatched counts are want.
func backlogIs(t *testing.T, s served, what string, want map[string][3]int) {
	t.Helper()
	testkit.Eventually(t, what, func() error {
		got := destinations(t, s)
		for name, w := range want {
			v := got[name]
			if v == nil {
				return fmt.Errorf("no destination %s in %v", name, got)
			}
			have := [3]int{int(v["confirmed"].(float64)), int(v["unconfirmed"].(float64)), int(v["unmatched"].(float64))}
			if have != w {
				return fmt.Errorf("%s: confirmed/unconfirmed/unmatched = %v, want %v", name, have, w)
			}
			if _, oldest := v["oldest_unconfirmed_at"]; oldest != (w[1] > 0) {
				return fmt.Errorf("%s: oldest_unconfirmed_at present %v with %d unconfirmed", name, oldest, w[1])
			}
		}
		if len(got) != len(want) {
			return fmt.Errorf("destinations %v, want %d", got, len(want))
		}
		return nil
	})
}

// outcomeIDs reads LETHE_RESULTS as a destination would and returns each contact's outcome id.
func outcomeIDs(t *testing.T, s served, n int) map[string]string {
	t.Helper()
	out := map[string]string{}
	testkit.Eventually(t, "outcomes on LETHE_RESULTS", func() error {
		for _, m := range streamMessages(t, s, bus.StreamResults) {
			if e, err := bus.DecodeEvent(m.Header, m.Data); err == nil && e.Type() != events.TypeRunCompleted {
				out[e.Subject()] = e.ID()
			}
		}
		if len(out) < n {
			return fmt.Errorf("%d outcomes, want %d", len(out), n)
		}
		return nil
	})
	return out
}

// eraseAndWait erases contact with lethe contacts erase --wait, which returns once the
// contact is erased and the request awaits the destinations, and returns the request's id.
func eraseAndWait(t *testing.T, s served, contact string) string {
	t.Helper()
	out, stderr, err := runContacts(t, map[string]string{"LETHE_SERVER": s.http, "LETHE_TOKEN": s.token}, "erase", "--wait", destInst, contact)
	if err != nil || !strings.Contains(out, "deleted") {
		t.Fatalf("erase %s: %v\n%s%s", contact, err, out, stderr)
	}
	assertLines(t, "erase "+contact, out, `(?m)^state +in_progress$`, `(?m)^awaiting +confirmation from crm-a, crm-b$`)
	id, _, _ := strings.Cut(out, "\n")
	return id
}

// requestIs waits until the request is in state, awaiting exactly the destinations named.
func requestIs(t *testing.T, s served, id, state string, awaiting ...string) {
	t.Helper()
	testkit.Eventually(t, "request "+id+" "+state, func() error {
		code, v := get(t, s.http+"/v1/requests/"+id, s.token)
		var got []string
		for _, d := range asSlice(v["awaiting_confirmation"]) {
			got = append(got, fmt.Sprint(d))
		}
		if code != http.StatusOK || v["state"] != state || strings.Join(got, ",") != strings.Join(awaiting, ",") {
			return fmt.Errorf("%d: state %v, awaiting %v; want %s awaiting %v", code, v["state"], got, state, awaiting)
		}
		return nil
	})
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

// A destination's confirmation is recorded, another destination's token and a token of no
// destination are refused, the backlog grows with each erasure and drains with each
// confirmation (HTTP and inbox), the metric follows, and an unknown outcome id is kept as
// unmatched; then the receipt of an erased contact verifies, offline and against the audit
// chain, and one with a changed byte does not.
func TestDestinationsConfirmAndReceiptsVerify(t *testing.T) {
	t.Parallel()
	s, tokens := destinationsServe(t)
	old := time.Date(2019, 3, 1, 10, 0, 0, 0, time.UTC)
	var es []event.Event
	for _, c := range []string{"c-1", "c-2"} {
		e, err := events.New("/test/dest", destInst, c, events.ContactCreated{Role: events.RoleIndividual, CreatedAt: old,
			Profile: events.Profile{Email: events.String(c + "@example.net"), LastName: events.String("Lovelace")}})
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	postEvents(t, s.http, s.token, es...)
	for _, c := range []string{"c-1", "c-2"} {
		waitContact(t, s.http+"/v1/institutions/"+destInst+"/contacts/"+c, s.token)
	}
	backlogIs(t, s, "nothing expected yet", map[string][3]int{"crm-a": {0, 0, 0}, "crm-b": {0, 0, 0}})

	// The backlog grows: each erasure is expected from both destinations.
	req1 := eraseAndWait(t, s, "c-1")
	requestIs(t, s, req1, "in_progress", "crm-a", "crm-b")
	backlogIs(t, s, "one erasure", map[string][3]int{"crm-a": {0, 1, 0}, "crm-b": {0, 1, 0}})
	req2 := eraseAndWait(t, s, "c-2")
	backlogIs(t, s, "two erasures", map[string][3]int{"crm-a": {0, 2, 0}, "crm-b": {0, 2, 0}})
	testkit.Eventually(t, "the metric", func() error {
		code, body := getText(t, s.http+"/metrics")
		if code != http.StatusOK {
			return fmt.Errorf("/metrics = %d", code)
		}
		for _, d := range []string{"crm-a", "crm-b"} {
			if !strings.Contains(body, `lethe_destination_unconfirmed{destination="`+d+`"`) {
				return fmt.Errorf("no lethe_destination_unconfirmed for %s", d)
			}
		}
		if !metricIs(body, "lethe_destination_unconfirmed", "crm-a", "2") {
			return fmt.Errorf("lethe_destination_unconfirmed{crm-a} is not 2")
		}
		if !strings.Contains(body, `lethe_destination_oldest_unconfirmed_age_seconds{destination="crm-b"`) {
			return fmt.Errorf("no lethe_destination_oldest_unconfirmed_age_seconds for crm-b")
		}
		return nil
	})
	ids := outcomeIDs(t, s, 2)

	// crm-a confirms c-1 with its own token: recorded.
	if code, body := postEventsStatus(t, s.http, tokens["crm-a"], confirmation(t, "conf-a-1", "c-1", "crm-a", ids["c-1"])); code != http.StatusAccepted {
		t.Fatalf("crm-a's confirmation = %d %s", code, body)
	}
	backlogIs(t, s, "crm-a confirmed c-1", map[string][3]int{"crm-a": {1, 1, 0}, "crm-b": {0, 2, 0}})
	requestIs(t, s, req1, "in_progress", "crm-b")

	// Refused, 403 naming why: crm-b's token confirming for crm-a, a token of no destination,
	// and crm-a for an institution crm-a does not follow.
	for _, tc := range []struct {
		name, token string
		e           event.Event
		says        string
	}{
		{"another destination's token", tokens["crm-b"], confirmation(t, "forged-1", "c-2", "crm-a", ids["c-2"]), "speaks for destination crm-b, not crm-a"},
		{"a token of no destination", tokens["ticketing"], confirmation(t, "forged-2", "c-2", "crm-a", ids["c-2"]), "speaks for no destination"},
	} {
		code, body := postEventsStatus(t, s.http, tc.token, tc.e)
		if code != http.StatusForbidden || !strings.Contains(body, tc.says) || !strings.Contains(body, "application/problem+json") && !strings.Contains(body, `"status":403`) {
			t.Errorf("%s: %d %s, want 403 saying %q", tc.name, code, body, tc.says)
		}
	}
	other, _ := events.New("/crm/crm-a", "inst-other", "c-9", events.ErasureConfirmed{Destination: "crm-a", OutcomeID: "out_x", ConfirmedAt: time.Now().UTC()})
	if code, body := postEventsStatus(t, s.http, tokens["crm-a"], other); code != http.StatusForbidden || !strings.Contains(body, "does not follow institution inst-other") {
		t.Errorf("crm-a confirming for inst-other: %d %s", code, body)
	}

	// An unknown outcome id is accepted and kept as unmatched.
	if code, body := postEventsStatus(t, s.http, tokens["crm-a"], confirmation(t, "conf-a-x", "c-2", "crm-a", "out_00000000000000000000000000000000")); code != http.StatusAccepted {
		t.Fatalf("an unknown outcome id = %d %s", code, body)
	}
	backlogIs(t, s, "an unmatched confirmation", map[string][3]int{"crm-a": {1, 1, 1}, "crm-b": {0, 2, 0}})
	// Of a contact Lethe never held, too: it creates no contact in the projection.
	if code, body := postEventsStatus(t, s.http, tokens["crm-a"], confirmation(t, "conf-a-ghost", "c-ghost", "crm-a", ids["c-1"])); code != http.StatusAccepted {
		t.Fatalf("a confirmation for an unknown contact = %d %s", code, body)
	}
	backlogIs(t, s, "a second unmatched confirmation", map[string][3]int{"crm-a": {1, 1, 2}, "crm-b": {0, 2, 0}})

	// crm-b confirms on its inbox subject, as its bus user; naming crm-a there is
	// dead-lettered, and crm-a's subject is not crm-b's to publish on.
	nc, err := bustest.ConnectAs(t, s.nats, "crm-b", "crm-b-pw")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := bus.NewPublisher(bustest.JetStream(t, nc.Conn))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"c-1", "c-2"} {
		if err := pub.Publish(context.Background(), bus.ConfirmationSubject(destInst, "crm-b"), confirmation(t, "conf-b-"+c, c, "crm-b", ids[c])); err != nil {
			t.Fatalf("crm-b's confirmation of %s on its subject: %v", c, err)
		}
	}
	if err := pub.Publish(context.Background(), bus.ConfirmationSubject(destInst, "crm-b"), confirmation(t, "forged-3", "c-2", "crm-a", ids["c-2"])); err != nil {
		t.Fatalf("publish a confirmation naming crm-a: %v", err)
	}
	if err := nc.Publish(bus.ConfirmationSubject(destInst, "crm-a"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	nc.Refused(t, "Publish", bus.ConfirmationSubject(destInst, "crm-a"))
	backlogIs(t, s, "crm-b confirmed both on the bus", map[string][3]int{"crm-a": {1, 1, 2}, "crm-b": {2, 0, 0}})
	// The request of c-1 is completed: Lethe erased and every destination confirmed.
	requestIs(t, s, req1, "completed")
	requestIs(t, s, req2, "in_progress", "crm-a")
	dead := deadLetters(t, s)
	if reason := dead["forged-3"]; !strings.Contains(reason, "only a bus user speaking for crm-a may confirm for it") {
		t.Errorf("the confirmation naming crm-a on crm-b's subject: dead letter reason %q (dead letters %v)", reason, dead)
	}

	// crm-a confirms c-2: the backlog has drained.
	if code, body := postEventsStatus(t, s.http, tokens["crm-a"], confirmation(t, "conf-a-2", "c-2", "crm-a", ids["c-2"])); code != http.StatusAccepted {
		t.Fatalf("crm-a's second confirmation = %d %s", code, body)
	}
	backlogIs(t, s, "every outcome confirmed", map[string][3]int{"crm-a": {2, 0, 2}, "crm-b": {2, 0, 0}})
	requestIs(t, s, req2, "completed")

	var table bytes.Buffer
	if err := run(context.Background(), []string{"destinations", "--server", s.http, "--token", s.token, destInst}, func(string) string { return "" }, strings.NewReader(""), &table, io.Discard); err != nil {
		t.Fatalf("lethe destinations: %v", err)
	}
	assertLines(t, "lethe destinations", table.String(), `(?m)^DESTINATION +CONFIRMED +UNCONFIRMED +OLDEST UNCONFIRMED +UNMATCHED$`,
		`(?m)^crm-a +2 +0 +— +2$`, `(?m)^crm-b +2 +0 +— +0$`)
	testkit.Eventually(t, "the metric at 0", func() error {
		_, body := getText(t, s.http+"/metrics")
		if !metricIs(body, "lethe_destination_unconfirmed", "crm-a", "0") || !metricIs(body, "lethe_destination_unconfirmed", "crm-b", "0") {
			return fmt.Errorf("lethe_destination_unconfirmed not 0")
		}
		return nil
	})

	// The receipt of c-1: fetched with the CLI, it verifies offline with the public key the
	// server serves, and against the server's audit chain.
	dir := t.TempDir()
	file := filepath.Join(dir, "c-1.receipt.json")
	env := map[string]string{"LETHE_SERVER": s.http, "LETHE_TOKEN": s.token}
	if out, stderr, err := runContacts(t, env, "receipt", "--output", file, destInst, "c-1"); err != nil {
		t.Fatalf("contacts receipt: %v\n%s%s", err, out, stderr)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var rc struct {
		ContactID string `json:"contact_id"`
		Outcome   string `json:"outcome"`
		ErasedBy  string `json:"erased_by"`
		Erased    struct{ Categories, Fields []string }
		Key       struct{ Destroyed bool } `json:"key_destruction"`
		Audit     struct {
			Seq, HeadSeq int64
			Hash         string
		} `json:"audit"`
		OutcomeEvent struct{ ID string } `json:"outcome_event"`
		Destinations []struct {
			Name      string
			Confirmed bool
		}
	}
	if err := json.Unmarshal(raw, &rc); err != nil {
		t.Fatal(err)
	}
	if rc.ContactID != "c-1" || rc.Outcome != "deleted" || !strings.HasPrefix(rc.ErasedBy, "request:") || !rc.Key.Destroyed ||
		rc.OutcomeEvent.ID != ids["c-1"] || rc.Audit.Seq < 1 || rc.Audit.Hash == "" ||
		fmt.Sprint(rc.Erased.Fields) != "[profile.email profile.last_name]" || fmt.Sprint(rc.Erased.Categories) != "[email identity]" ||
		fmt.Sprint(rc.Destinations) != "[{crm-a true} {crm-b true}]" {
		t.Errorf("the receipt says %+v:\n%s", rc, raw)
	}
	if bytes.Contains(raw, []byte("c-1@example.net")) || bytes.Contains(raw, []byte("Lovelace")) {
		t.Errorf("the receipt holds a personal value:\n%s", raw)
	}
	_, keyJSON := getText(t, s.http+"/v1/receipts/key")
	keyFile := filepath.Join(dir, "lethe.pub")
	if err := os.WriteFile(keyFile, []byte(keyJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	verify := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"receipt", "verify"}, args...), func(string) string { return "" }, strings.NewReader(""), &stdout, &stderr)
		return stdout.String() + stderr.String(), err
	}
	if out, err := verify("--public-key", keyFile, file); err != nil || !strings.Contains(out, "signature valid") || !strings.Contains(out, "destination crm-b confirmed at") {
		t.Errorf("receipt verify offline: %v\n%s", err, out)
	}
	if out, err := verify("--server", s.http, "--token", s.token, file); err != nil || !strings.Contains(out, "audit chain holds entry") || !strings.Contains(out, "audit chain intact") {
		t.Errorf("receipt verify against the server: %v\n%s", err, out)
	}
	// The register prints the same key.
	if code, reg := get(t, s.http+"/v1/institutions/"+destInst+"/register", s.token); code != http.StatusOK || !strings.Contains(keyJSON, fmt.Sprint(reg["receipt_key"].(map[string]any)["public_key"])) {
		t.Errorf("the register's receipt_key %v is not the served key %s", reg["receipt_key"], keyJSON)
	}

	// One changed byte (a digit of the audit seq) and the receipt no longer verifies.
	changed := bytes.Replace(raw, []byte(fmt.Sprintf(`"seq": %d`, rc.Audit.Seq)), []byte(fmt.Sprintf(`"seq": %d`, rc.Audit.Seq+1)), 1)
	if bytes.Equal(changed, raw) {
		t.Fatalf("the seq is not in the receipt as expected:\n%s", raw)
	}
	bad := filepath.Join(dir, "changed.json")
	if err := os.WriteFile(bad, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := verify("--public-key", keyFile, bad); err == nil || !strings.Contains(err.Error(), "signature does not verify") {
		t.Errorf("receipt verify of a changed receipt: %v\n%s", err, out)
	}

	// An active contact has no receipt.
	postEvents(t, s.http, s.token, must(events.New("/test/dest", destInst, "c-3", events.ContactCreated{Role: events.RoleIndividual, CreatedAt: old})))
	waitContact(t, s.http+"/v1/institutions/"+destInst+"/contacts/c-3", s.token)
	// The projection has folded c-3, which came after the confirmation naming c-ghost: that
	// confirmation made no contact.
	if code, _ := get(t, s.http+"/v1/institutions/"+destInst+"/contacts/c-ghost", s.token); code != http.StatusNotFound {
		t.Errorf("GET c-ghost after a confirmation naming it = %d, want 404", code)
	}
	if code, body := get(t, s.http+"/v1/institutions/"+destInst+"/contacts/c-3/receipt", s.token); code != http.StatusConflict {
		t.Errorf("the receipt of an active contact = %d %v, want 409", code, body)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func getText(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricIs reports whether the exposition holds name{destination=dest,…} value.
func metricIs(exposition, name, dest, value string) bool {
	for _, line := range strings.Split(exposition, "\n") {
		if strings.HasPrefix(line, name+"{") && strings.Contains(line, `destination="`+dest+`"`) && strings.HasSuffix(line, " "+value) {
			return true
		}
	}
	return false
}

// deadLetters reads LETHE_DLQ: each dead letter's CloudEvent id → its reason.
func deadLetters(t *testing.T, s served) map[string]string {
	t.Helper()
	out := map[string]string{}
	testkit.Eventually(t, "a dead letter", func() error {
		for _, m := range streamMessages(t, s, bus.StreamDLQ) {
			if e, err := bus.DecodeEvent(m.Header, m.Data); err == nil {
				out[e.ID()] = m.Header.Get(bus.HeaderDLQReason)
			}
		}
		if len(out) == 0 {
			ms := streamMessages(t, s, bus.StreamDLQ)
			var hs []string
			for _, m := range ms {
				hs = append(hs, fmt.Sprint(m.Header)+" "+string(m.Data))
			}
			return fmt.Errorf("no dead letter yet: %d messages %v", len(ms), hs)
		}
		return nil
	})
	return out
}

// streamMessages reads every message of a stream by sequence, as the services' user (a
// direct get: no consumer, so none is left behind).
func streamMessages(t *testing.T, s served, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	nc, err := nats.Connect(s.bus)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	st, err := bustest.JetStream(t, nc).Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		if m, err := st.GetMsg(context.Background(), seq); err == nil {
			out = append(out, m)
		}
	}
	return out
}
