package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// DefaultPurgeInterval is how often Run purges technical data past its window. The register
// counts windows in months or days, so an hour late is well inside any of them.
const DefaultPurgeInterval = time.Hour

// maxPurgeRetries bounds the compare-and-swap loop on one contact: a conflict means recency
// folded an event into it meanwhile, and each retry re-reads.
const maxPurgeRetries = 16

// PurgeResult counts what a purge did.
type PurgeResult struct {
	// Scanned is how many contacts were looked at; Contacts how many lost records; Records
	// how many records went.
	Scanned, Contacts, Records int
}

func (r *PurgeResult) add(o PurgeResult) {
	r.Scanned += o.Scanned
	r.Contacts += o.Contacts
	r.Records += o.Records
}

// PurgeTechnical enforces the after_collection clock of every institution whose register
// declares technical data (lethe.yaml): see PurgeTechnicalOf. It goes on past an
// institution that fails and returns every error.
func (s *Service) PurgeTechnical(ctx context.Context) (PurgeResult, error) {
	var total PurgeResult
	var errs []error
	for _, in := range s.cfg.Institutions {
		if _, ok := in.TechnicalRetention(); !ok {
			continue
		}
		res, err := s.PurgeTechnicalOf(ctx, in.ID)
		total.add(res)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// PurgeTechnicalOf removes from every contact of the institution, active or not, the
// technical records (IP address, user agent) collected before now minus the register's
// after_collection window, and keeps the others. It scans the institution in id order a
// page of candidates at a time, never the whole institution in memory, and writes each
// contact by compare-and-swap, re-reading on conflict, so a fold racing with the purge
// loses nothing and brings nothing expired back. An institution without technical data in
// its register has nothing to purge.
func (s *Service) PurgeTechnicalOf(ctx context.Context, institution string) (PurgeResult, error) {
	var res PurgeResult
	in, _ := s.cfg.Institution(institution)
	window, ok := in.TechnicalRetention()
	if !ok {
		return res, nil
	}
	cutoff := window.Before(s.now())
	ctx, span := s.tracer.Start(ctx, "scheduler purge technical data")
	defer span.End()
	span.SetAttributes(attribute.String("lethe.institution", institution))

	errPage := errors.New("page full")
	after := ""
	for {
		var page []store.Contact
		last := after
		err := s.store.Contacts().Scan(ctx, institution, after, func(c store.Contact) error {
			last = c.ID
			res.Scanned++
			if expired(c.Technical, cutoff) > 0 {
				page = append(page, c)
				if len(page) >= s.batch {
					return errPage // write outside the scan, then resume after this contact
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, errPage) {
			return res, fmt.Errorf("scheduler: purge technical data of %s: scan: %w", institution, err)
		}
		for _, c := range page {
			n, perr := s.purgeContact(ctx, c, cutoff)
			if perr != nil {
				return res, fmt.Errorf("scheduler: purge technical data of %s/%s: %w", institution, c.ID, perr)
			}
			if n > 0 {
				res.Contacts++
				res.Records += n
				s.purged.Add(ctx, int64(n), metric.WithAttributes(attribute.String("institution", institution)))
			}
		}
		if !errors.Is(err, errPage) {
			break
		}
		after = last
	}
	span.SetAttributes(attribute.Int("lethe.purge.contacts", res.Contacts), attribute.Int("lethe.purge.records", res.Records))
	if res.Records > 0 {
		s.log.InfoContext(ctx, "technical data purged", "institution", institution,
			"contacts", res.Contacts, "records", res.Records, "collected_before", cutoff)
	}
	return res, nil
}

// purgeContact drops c's expired technical records with a compare-and-swap, re-reading
// and retrying when another writer was first, and returns how many went.
func (s *Service) purgeContact(ctx context.Context, c store.Contact, cutoff time.Time) (int, error) {
	for range maxPurgeRetries {
		n := expired(c.Technical, cutoff)
		if n == 0 {
			return 0, nil
		}
		kept := make([]store.Technical, 0, len(c.Technical)-n)
		for _, t := range c.Technical {
			if !t.CollectedAt.Before(cutoff) {
				kept = append(kept, t)
			}
		}
		if len(kept) == 0 {
			kept = nil
		}
		c.Technical = kept
		_, err := s.store.Contacts().Put(ctx, c)
		switch {
		case err == nil:
			return n, nil
		case !errors.Is(err, store.ErrConflict):
			return 0, err
		}
		c, err = s.store.Contacts().Get(ctx, c.Institution, c.ID)
		if errors.Is(err, store.ErrNotFound) {
			return 0, nil // deleted meanwhile: nothing left to purge
		}
		if err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("%w after %d attempts", store.ErrConflict, maxPurgeRetries)
}

// expired counts the records collected strictly before cutoff.
func expired(ts []store.Technical, cutoff time.Time) int {
	n := 0
	for _, t := range ts {
		if t.CollectedAt.Before(cutoff) {
			n++
		}
	}
	return n
}

// PurgeTechnicalEvery purges at once, then every interval, until ctx ends. Several
// schedulers may all run it: the compare-and-swap makes their purges harmless to each other.
func (s *Service) PurgeTechnicalEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.PurgeTechnical(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "technical data purge failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
