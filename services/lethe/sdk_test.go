package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/client"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// Events as a producer using the official CloudEvents Go SDK sends them — binary mode (the
// SDK's default), structured mode, the SDK's own id and time defaulters or none at all — with
// ids as upstream systems write them (urn:uuid:…, crm:12345, ORD/2022/001), and read back
// through every route that takes an id (issue 14: `time` was required and ids were limited
// to [A-Za-z0-9_-]).
func TestGoSDKProducerWithUpstreamIDs(t *testing.T) {
	t.Parallel()
	s := startServe(t, t.TempDir())
	const inst, contact, order = e2eInst, "crm:12345", "ORD/2022/001" // apiClient speaks for e2eInst
	auth := cehttp.WithHeader("Authorization", "Bearer "+s.token)
	target := cehttp.WithTarget(s.http + "/v1/events")

	// The SDK's usual client: binary mode, ids and times filled in when missing.
	withDefaults, err := cloudevents.NewClientHTTP(target, auth)
	if err != nil {
		t.Fatal(err)
	}
	created := cloudevents.NewEvent()
	created.SetID("urn:uuid:6f1c2b7e-3d4a-4f5b-9c8d-2e1f0a9b8c7d")
	created.SetSource("urn:crm:" + inst)
	created.SetType("lethe.contact.created.v1")
	created.SetSubject(contact)
	created.SetExtension("institution", inst)
	if err := created.SetData(cloudevents.ApplicationJSON, map[string]any{
		"role": "individual", "created_at": "2019-04-02T10:00:00Z", "profile": map[string]any{"email": "sdk@example.org"},
	}); err != nil {
		t.Fatal(err)
	}
	send(t, withDefaults, context.Background(), created)

	// A bare client, no defaulters: no time at all, in structured mode; the SDK makes the id.
	p, err := cehttp.New(target, auth)
	if err != nil {
		t.Fatal(err)
	}
	bare, err := client.New(p, client.WithUUIDs())
	if err != nil {
		t.Fatal(err)
	}
	placed := cloudevents.NewEvent()
	placed.SetSource("urn:ticketing:" + inst)
	placed.SetType("lethe.order.placed.v1")
	placed.SetSubject(contact)
	placed.SetExtension("institution", inst)
	if err := placed.SetData(cloudevents.ApplicationJSON, map[string]any{
		"order_id": order, "ordered_at": "2022-03-01T09:00:00Z", "contact_role": "buyer",
		"items": []map[string]any{{"product_id": "ticketing:product:42:v2", "dated": false}},
	}); err != nil {
		t.Fatal(err)
	}
	send(t, bare, binding.WithForceStructured(context.Background()), placed)

	// Read back: the projection, the export, a run's items, an erasure.
	path := "/v1/institutions/" + inst + "/contacts/" + url.PathEscape(contact)
	var view map[string]any
	testkit.Eventually(t, "the order folded", func() error {
		var code int
		if code, view = get(t, s.http+path, s.token); code != http.StatusOK || view["kind"] != "customer" {
			return fmt.Errorf("GET = %d %v", code, view)
		}
		return nil
	})
	if src, _ := view["recency_source"].(map[string]any); src["type"] != "lethe.order.placed.v1" || !strings.HasPrefix(strOr(view["recency"]), "2022-03-01") {
		t.Fatalf("contact %s = %v, want recency from the order of 2022-03-01", contact, view)
	}
	code, export := get(t, s.http+path+"/export", s.token)
	if raw, _ := json.Marshal(export); code != http.StatusOK || !strings.Contains(string(raw), order) || !strings.Contains(string(raw), "sdk@example.org") {
		t.Fatalf("export = %d %s, want the order %s and the e-mail", code, raw, order)
	}
	api := &apiClient{t: t, base: s.http, token: s.token}
	sim := api.startRun(`{"inactivity_months": 12}`)
	items := api.items(sim["id"].(string))
	if items[contact] != "anonymise/" {
		t.Fatalf("simulation items %v, want %s to be anonymised", items, contact)
	}
	st, body := api.do(http.MethodPost, path+"/erasure", "", nil)
	if st != http.StatusAccepted {
		t.Fatalf("erasure of %s = %d %s", contact, st, body)
	}
}

func send(t *testing.T, c cloudevents.Client, ctx context.Context, e cloudevents.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res := c.Send(ctx, e)
	var hr *cehttp.Result
	if !cloudevents.IsACK(res) || !cloudevents.ResultAs(res, &hr) || hr.StatusCode != http.StatusAccepted {
		t.Fatalf("send %s: %v", e.Type(), res)
	}
}
