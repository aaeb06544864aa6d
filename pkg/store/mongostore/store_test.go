package mongostore_test

import (
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/storetest"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// TestContract runs the port's contract suite against MongoDB, one fresh database per subtest.
func TestContract(t *testing.T) {
	t.Parallel()
	testkit.MongoURI(t) // skip (or, in CI, fail) once rather than in every subtest
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t) })
}
