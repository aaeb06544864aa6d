package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// Probe asks url (a /healthz or /readyz) whether the server is alive or ready: nil on 200,
// otherwise an error with the status and the start of the answer, which for /readyz names
// what does not run yet. It is what a container's healthcheck runs where the image has no
// shell nor curl.
func Probe(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe %s: %s %s", url, resp.Status, body)
	}
	return nil
}
