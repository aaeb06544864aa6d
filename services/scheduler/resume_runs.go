package scheduler

import (
	"context"
	"fmt"
	"slices"

	"github.com/lethe-gdpr/lethe/pkg/config"
)

// Resume picks up every run left pending, planning or publishing by a scheduler that stopped
// (this process before a restart, or another instance), and drives it on in the background:
// a plan starts over (its item writes are upserts), a publish continues after its cursor.
// It returns how many runs it resumed.
//
// The store lists runs per institution, so Resume looks at the institutions lethe.yaml
// declares and those its tokens name; a run of an institution known only to a "*" token is
// not found here.
func (s *Service) Resume(ctx context.Context) (int, error) {
	n := 0
	for _, inst := range s.knownInstitutions() {
		runs, err := s.store.Runs().List(ctx, inst, 0)
		if err != nil {
			return n, fmt.Errorf("scheduler: list runs of %s to resume: %w", inst, err)
		}
		for _, run := range runs {
			if !unfinished(run.State) {
				continue
			}
			if _, err := s.launch(run); err != nil {
				return n, err
			}
			s.log.Info("resuming run", "institution", run.Institution, "run", run.ID, "mode", run.Mode, "state", run.State, "cursor", run.Cursor)
			n++
		}
	}
	return n, nil
}

func (s *Service) knownInstitutions() []string {
	var out []string
	for _, in := range s.cfg.Institutions {
		out = append(out, in.ID)
	}
	for _, t := range s.cfg.Tokens {
		for _, in := range t.Institutions {
			if in != config.AnyInstitution {
				out = append(out, in)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
