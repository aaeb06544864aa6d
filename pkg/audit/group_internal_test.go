package audit

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// heldAudit holds its first AppendMany until released, and records the size of each one.
type heldAudit struct {
	store.Audit
	entered, release chan struct{}
	once             sync.Once
	mu               sync.Mutex
	sizes            []int
}

func (h *heldAudit) AppendMany(ctx context.Context, es []store.AuditEntry) (int, error) {
	h.mu.Lock()
	h.sizes = append(h.sizes, len(es))
	h.mu.Unlock()
	h.once.Do(func() { close(h.entered); <-h.release })
	return h.Audit.AppendMany(ctx, es)
}

// TestRecordsWaitingForTheDiskGoTogether: while one append waits for the store, the Records
// that arrive queue up, and all of them go to the store in one AppendMany after it.
func TestRecordsWaitingForTheDiskGoTogether(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		h := &heldAudit{Audit: s.Audit(), entered: make(chan struct{}), release: make(chan struct{})}
		l := New(h)
		rec := func(i int) {
			e := store.AuditEntry{Institution: "i", ContactID: fmt.Sprint("c", i), Actor: "run:r", Action: "deleted", Key: fmt.Sprint("erase:", i)}
			if _, err := l.Record(ctx, e); err != nil {
				t.Error(err)
			}
		}
		var wg sync.WaitGroup
		wg.Go(func() { rec(0) })
		<-h.entered
		const waiting = 30
		for i := 1; i <= waiting; i++ {
			wg.Go(func() { rec(i) })
		}
		testkit.Eventually(t, "every Record queued behind the held append", func() error {
			l.qmu.Lock()
			defer l.qmu.Unlock()
			return testkit.AtLeast("queued", len(l.queue), waiting)
		})
		close(h.release)
		wg.Wait()
		h.mu.Lock()
		defer h.mu.Unlock()
		if len(h.sizes) != 2 || h.sizes[0] != 1 || h.sizes[1] != waiting {
			t.Fatalf("appends of sizes %v, want [1 %d]", h.sizes, waiting)
		}
		if r, err := Verify(ctx, s.Audit()); err != nil || !r.Intact || r.HeadSeq != waiting+1 {
			t.Fatalf("Verify = %+v, %v", r, err)
		}
	})
}
