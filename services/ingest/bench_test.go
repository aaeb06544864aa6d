package ingest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/lethe-gdpr/lethe/events"
)

const benchBatch = 1000

// benchBatchBody renders a batch of benchBatch events, the i-th for contact(i): a realistic mix in which a third carry personal
// data (profiles, beneficiaries) and the rest are activity without any. Event ids hold the
// placeholder "RUN-XXXXXXXX" for the poster to make unique.
func benchBatchBody(b testing.TB, contact func(i int) string) []byte {
	es := make([]event.Event, benchBatch)
	for i := range es {
		c := contact(i)
		var d events.Data
		switch i % 6 {
		case 0:
			d = profileCreated(fmt.Sprintf("person%d@mail.example", i), "Firstname", "Lastname")
		case 1:
			d = orderPlaced("Benef", "Iciary")
		case 2, 3:
			d = click("camp-1")
		case 4:
			d = &events.PaymentRecorded{Amount: 1250, Currency: "EUR", PaidAt: baseTime}
		default:
			d = &events.WaitlistJoined{WaitlistID: "w-1", JoinedAt: baseTime}
		}
		es[i] = mustEvent(b, instA, c, d, events.WithID(fmt.Sprintf("RUN-XXXXXXXX-%04d", i)))
	}
	body, err := events.MarshalBatch(es)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func postBench(client *http.Client, url string, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", events.MediaTypeBatch)
	req.Header.Set("Authorization", "Bearer "+tokenA)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// BenchmarkIngestBatch posts batches of 1,000 events over real HTTP to ingest on an
// embedded JetStream (file store) and a pebble key store, four requests in flight, and
// reports events/s.
//
//	known-contacts: 10,000 contacts whose data keys exist (the steady state).
//	new-contacts:   every batch brings 1,000 contacts never seen, so each one's data key
//	                is created and written to the store.
func BenchmarkIngestBatch(b *testing.B) {
	for _, bc := range []struct {
		name     string
		contacts int
		fresh    bool
	}{
		{"known-contacts", 10_000, false},
		{"new-contacts", 0, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := newStack(b, stackConfig{noInbox: true, quiet: true, maxBody: 64 << 20})
			url := s.http.URL + "/v1/events"
			client := s.http.Client()
			client.Transport.(*http.Transport).MaxIdleConnsPerHost = 16

			var templates [][]byte
			if bc.fresh {
				// Contact ids carry the placeholder too: each batch is 1,000 new contacts.
				templates = append(templates, benchBatchBody(b, func(i int) string { return fmt.Sprintf("n-RUN-XXXXXXXX-%04d", i) }))
			} else {
				for k := 0; k < bc.contacts/benchBatch; k++ {
					templates = append(templates, benchBatchBody(b, func(i int) string { return fmt.Sprintf("c-%07d", k*benchBatch+i) }))
				}
				// Warm up: every contact gets its key before the clock starts.
				for i, t := range templates {
					if err := postBench(client, url, bytes.ReplaceAll(t, []byte("RUN-XXXXXXXX"), fmt.Appendf(nil, "WRM-%08x", i))); err != nil {
						b.Fatal(err)
					}
				}
			}
			var seq atomic.Int64
			b.SetBytes(int64(len(templates[0])))
			b.ResetTimer()
			start := time.Now()
			b.SetParallelism(2) // 2 × GOMAXPROCS posters
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					body := bytes.ReplaceAll(templates[int(n)%len(templates)], []byte("RUN-XXXXXXXX"), fmt.Appendf(nil, "RUN-%08x", n))
					if err := postBench(client, url, body); err != nil {
						b.Error(err)
						return
					}
				}
			})
			elapsed := time.Since(start)
			b.ReportMetric(float64(b.N*benchBatch)/elapsed.Seconds(), "events/s")
		})
	}
}
