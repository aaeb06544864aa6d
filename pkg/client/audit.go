package client

import (
	"context"
	"net/http"

	"github.com/lethe-gdpr/lethe/pkg/api"
)

// VerifyAudit has the server walk its audit log and check the hash chain. A broken chain is
// a 409 *APIError whose detail names the first broken seq.
func (c *Client) VerifyAudit(ctx context.Context) (api.AuditReport, error) {
	var rep api.AuditReport
	err := c.JSON(ctx, http.MethodGet, AuditVerifyPath, nil, &rep)
	return rep, err
}
