package testkit

import (
	"os"
	"strings"
	"testing"
)

// MongoURI is where the tests find MongoDB: MONGODB_URI, a real server or the harness's
// mongo-java-server (`make test` starts it and sets the variable). Without it the test is
// skipped on a laptop, but fails in CI, which must run the Mongo half of the suite: CI
// counts as set unless empty, "0" or "false", so that an unusual value errs towards running.
func MongoURI(t testing.TB) string {
	t.Helper()
	if uri := os.Getenv("MONGODB_URI"); uri != "" {
		return uri
	}
	const how = "run `make test`, which starts the MongoDB harness, or " +
		"`deploy/testing/mongo-harness.sh start && export MONGODB_URI=$(deploy/testing/mongo-harness.sh uri)`"
	if inCI() {
		t.Fatal("MONGODB_URI is not set and CI must not skip the MongoDB tests: " + how)
	}
	t.Skip("MONGODB_URI is not set: " + how)
	return ""
}

func inCI() bool {
	ci := os.Getenv("CI")
	return ci != "" && ci != "0" && !strings.EqualFold(ci, "false")
}
