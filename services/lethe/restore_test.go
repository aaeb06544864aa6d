package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
	"github.com/lethe-gdpr/lethe/pkg/seal"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/mongostore"
	"github.com/lethe-gdpr/lethe/pkg/store/pebblestore"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// A backup of the store taken before an erasure, restored after it, brings the erased
// contact back — projection in clear and data key, so every sealed copy on the streams
// would open again. At the next start, the erasure ledger (LETHE_ERASURES, kept apart from
// the store) erases it again before anything serves; --check-restore says so beforehand.
func TestRestoredStoreIsErasedAgainFromTheLedger(t *testing.T) {
	t.Parallel()
	t.Run("pebble", func(t *testing.T) { restoreEndToEnd(t, pebbleBackup{}) })
	t.Run("mongo", func(t *testing.T) {
		uri := testkit.MongoURI(t)
		restoreEndToEnd(t, &mongoBackup{uri: uri, db: "lethe_restore_" + randomHex(6)})
	})
}

// backup is how an operator snapshots and restores one kind of store, with the server stopped.
type backup interface {
	args() []string
	snapshot(t *testing.T, dir string)
	restore(t *testing.T, dir string)
	open(t *testing.T, dir string) store.Store
}

type pebbleBackup struct{}

func (pebbleBackup) args() []string { return nil }
func (pebbleBackup) snapshot(t *testing.T, dir string) {
	copyDir(t, filepath.Join(dir, "store"), filepath.Join(dir, "store.backup"))
}
func (pebbleBackup) restore(t *testing.T, dir string) {
	if err := os.RemoveAll(filepath.Join(dir, "store")); err != nil {
		t.Fatal(err)
	}
	copyDir(t, filepath.Join(dir, "store.backup"), filepath.Join(dir, "store"))
}
func (pebbleBackup) open(t *testing.T, dir string) store.Store {
	st, err := pebblestore.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// mongoBackup dumps every collection with the driver and restores the database to the dump,
// as mongodump and a restore into an emptied database would.
type mongoBackup struct {
	uri, db string
	dump    map[string][]bson.Raw
}

func (m *mongoBackup) args() []string {
	return []string{"--mongo-uri", m.uri, "--mongo-database", m.db}
}
func (m *mongoBackup) client(t *testing.T) *mongo.Client {
	c, err := mongo.Connect(options.Client().ApplyURI(m.uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}
func (m *mongoBackup) snapshot(t *testing.T, _ string) {
	ctx, db := context.Background(), m.client(t).Database(m.db)
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	m.dump = map[string][]bson.Raw{}
	for _, n := range names {
		cur, err := db.Collection(n).Find(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		for cur.Next(ctx) {
			m.dump[n] = append(m.dump[n], bytes.Clone(cur.Current))
		}
		_ = cur.Close(ctx)
	}
}
func (m *mongoBackup) restore(t *testing.T, _ string) {
	ctx, db := context.Background(), m.client(t).Database(m.db)
	// The whole database goes back to the dump: collections created since (requests) too.
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := db.Collection(n).DeleteMany(ctx, bson.D{}); err != nil {
			t.Fatal(err)
		}
	}
	for n, docs := range m.dump {
		for _, d := range docs {
			if _, err := db.Collection(n).InsertOne(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
	}
}
func (m *mongoBackup) open(t *testing.T, _ string) store.Store {
	st, err := mongostore.Open(context.Background(), m.uri, m.db)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func restoreEndToEnd(t *testing.T, b backup) {
	dir := t.TempDir()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	master := base64.StdEncoding.EncodeToString(key)
	args := append([]string{"--master-key", master}, b.args()...)
	email, last := "restore-"+randomHex(6)+"@canary.example", "Canary"+randomHex(6)
	const contact = "c-restore"

	// 1. The contact arrives; its personal values are sealed on LETHE_ACTIVITY.
	s := startServe(t, dir, args...)
	a := &apiClient{t: t, base: s.http, token: s.token}
	e, err := events.New("/ticketing", e2eInst, contact, &events.ContactCreated{Role: "individual", CreatedAt: day(2019, 3, 1),
		Profile: events.Profile{Email: &email, LastName: &last}}, events.WithID("restore-1"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := events.MarshalBatch([]event.Event{e})
	if st, out := a.do(http.MethodPost, "/v1/events", "application/cloudevents-batch+json", body); st != http.StatusAccepted {
		t.Fatalf("POST /v1/events: %d %s", st, out)
	}
	a.waitJSON("/v1/institutions/"+e2eInst+"/contacts/"+contact, func(v map[string]any) bool { return v["recency"] != nil })
	sealed := sealedOnActivity(t, s, dir)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	// 2. The backup, server stopped.
	b.snapshot(t, dir)

	// 3. The erasure, on demand.
	s = startServe(t, dir, args...)
	a = &apiClient{t: t, base: s.http, token: s.token}
	req := a.post("/v1/institutions/"+e2eInst+"/contacts/"+contact+"/erasure", "")
	id, _ := req["id"].(string)
	a.waitJSON("/v1/requests/"+id, func(v map[string]any) bool { return v["state"] == store.RequestCompleted })
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	// 4. The restore: the erased contact is back, key included.
	b.restore(t, dir)
	st := b.open(t, dir)
	if _, err := st.Keys().Get(context.Background(), e2eInst, contact); err != nil {
		t.Fatalf("the restored store has no data key for %s (%v): the test restores nothing", contact, err)
	}
	if c, _ := st.Contacts().Get(context.Background(), e2eInst, contact); c.Status != store.StatusActive {
		t.Fatalf("the restored contact is %s, want active (restored from before the erasure)", c.Status)
	}
	_ = st.Close(context.Background())

	// 5. --check-restore reports and changes nothing.
	var out bytes.Buffer
	check := append([]string{"serve", "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--data", dir, "--check-restore"}, args...)
	if err := run(context.Background(), check, func(string) string { return "" }, strings.NewReader(""), &out, &out); err != nil {
		t.Fatalf("serve --check-restore: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "1 erasures recorded; 1 would be re-applied (1 data keys to destroy again, 1 contacts to erase again, 1 requests to complete again)") {
		t.Fatalf("--check-restore said:\n%s", out.String())
	}
	st = b.open(t, dir)
	if _, err := st.Keys().Get(context.Background(), e2eInst, contact); err != nil {
		t.Fatalf("--check-restore changed the store: %v", err)
	}
	_ = st.Close(context.Background())

	// 6. The restart re-applies the erasure before it serves.
	s = startServe(t, dir, args...)
	a = &apiClient{t: t, base: s.http, token: s.token}
	_, c := a.get("/v1/institutions/" + e2eInst + "/contacts/" + contact)
	if c["status"] != string(store.StatusDeleted) {
		t.Fatalf("after the restart the contact is %v, want deleted at once", c["status"])
	}
	// The request came after the backup: the ledger brings it back, answered.
	if _, r := a.get("/v1/requests/" + id); r["state"] != store.RequestCompleted || r["origin"] != store.OriginLedger || r["outcome"] != "deleted" {
		t.Fatalf("after the restart the request is %v, want completed (deleted), from the ledger", r)
	}
	stx, x := a.do(http.MethodGet, "/v1/institutions/"+e2eInst+"/contacts/"+contact+"/export", "", nil)
	if stx != http.StatusOK || !strings.Contains(string(x), `"status": "deleted"`) {
		t.Fatalf("export after the restart: %d %s", stx, x)
	}
	if leaks := found([]string{email, last}, x, "the export"); len(leaks) > 0 {
		t.Fatalf("the export shows what was erased: %v", leaks)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	// 7. The sealed copies on the stream no longer open: the key is destroyed again.
	st = b.open(t, dir)
	defer func() { _ = st.Close(context.Background()) }()
	mk, err := seal.MasterKeyFromConfig(master)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := seal.New(st.Keys(), mk)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range sealed {
		if plain, err := sealer.Open(context.Background(), e2eInst, contact, "profile.email", v); err == nil || !errors.Is(err, store.ErrKeyDestroyed) {
			t.Fatalf("a sealed copy on LETHE_ACTIVITY: %q, %v; want the key destroyed", plain, err)
		}
	}
}

// sealedOnActivity returns the sealed values on LETHE_ACTIVITY, checking that the e-mail
// among them opens now (so that "does not open" later means the key went).
func sealedOnActivity(t *testing.T, s served, dir string) []string {
	t.Helper()
	nc, err := nats.Connect(s.bus)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var out []string
	for _, m := range bustest.Stored(t, bustest.JetStream(t, nc), bus.StreamActivity) {
		out = append(out, sealedRE.FindAllString(string(m.Data), -1)...)
	}
	if len(out) == 0 {
		t.Fatal("no sealed value on LETHE_ACTIVITY")
	}
	return out
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		target := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o600)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", from, err)
	}
}
