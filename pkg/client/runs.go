package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// StartRun starts a run of inst. A simulation answers once it is planned; an execute run
// once it is started.
func (c *Client) StartRun(ctx context.Context, inst string, body api.RunStart) (api.RunView, error) {
	var run api.RunView
	err := c.JSON(ctx, http.MethodPost, RunsPath(inst), body, &run)
	return run, err
}

// ApplyRun executes exactly the set of simulation run, and returns the new run.
func (c *Client) ApplyRun(ctx context.Context, inst, run string) (api.RunView, error) {
	var v api.RunView
	err := c.JSON(ctx, http.MethodPost, RunPath(inst, run)+"/apply", nil, &v)
	return v, err
}

// Run returns one run: its state and counts.
func (c *Client) Run(ctx context.Context, inst, run string) (api.RunView, error) {
	var v api.RunView
	err := c.JSON(ctx, http.MethodGet, RunPath(inst, run), nil, &v)
	return v, err
}

// Runs lists inst's runs, newest first, at most limit (0: the server's default).
func (c *Client) Runs(ctx context.Context, inst string, limit int) (api.RunsList, error) {
	var list api.RunsList
	err := c.JSON(ctx, http.MethodGet, RunsQuery(inst, limit), nil, &list)
	return list, err
}

// WaitRun polls the run until the scheduler will move it no further, riding out a server
// restart; each request is bounded by perRequest, the whole wait by ctx.
func (c *Client) WaitRun(ctx context.Context, inst, run string, perRequest time.Duration) (api.RunView, error) {
	return poll(ctx, c, RunPath(inst, run), perRequest, func(r api.RunView) bool { return store.Finished(r.State) })
}

// EachItemsPage follows the JSON pages of the run's items, pageSize a page, each request
// bounded by perRequest, and hands fn each page's items as the server wrote them.
func (c *Client) EachItemsPage(ctx context.Context, inst, run string, pageSize int, perRequest time.Duration, fn func([]json.RawMessage) error) error {
	return c.eachPage(ctx, RunPath(inst, run)+"/items", nil, "items", pageSize, perRequest, fn)
}

// eachPage follows the JSON pages of a listing at path (with the query q, which it does not
// change), pageSize a page and each request bounded by perRequest: it hands fn the array
// named list of each page, and asks for the next with the page's `next` as `after` until a
// page has none.
func (c *Client) eachPage(ctx context.Context, path string, q url.Values, list string, pageSize int, perRequest time.Duration, fn func([]json.RawMessage) error) error {
	after := ""
	for {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("limit", strconv.Itoa(pageSize))
		if after != "" {
			v.Set("after", after)
		}
		var page map[string]json.RawMessage
		rctx, cancel := context.WithTimeout(ctx, perRequest)
		err := c.JSON(rctx, http.MethodGet, path+"?"+v.Encode(), nil, &page)
		cancel()
		if err != nil {
			return err
		}
		var rows []json.RawMessage
		var next string
		if err := json.Unmarshal(page[list], &rows); err != nil && page[list] != nil {
			return fmt.Errorf("decoding the %s of GET %s: %w", list, path, err)
		}
		if err := json.Unmarshal(page["next"], &next); err != nil && page["next"] != nil {
			return fmt.Errorf("decoding the next page of GET %s: %w", path, err)
		}
		if err := fn(rows); err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		if next == after {
			return fmt.Errorf("the server sent the page after %q twice", after)
		}
		after = next
	}
}

// ExportItems copies the server's export of every item of the run in one answer, in
// mediaType (api.ContentTypeCSV or api.ContentTypeNDJSON), to w, and returns how many lines
// it wrote (for CSV, the header's included).
func (c *Client) ExportItems(ctx context.Context, inst, run, mediaType string, w io.Writer) (int, error) {
	return c.export(ctx, RunPath(inst, run)+"/items", mediaType, "run "+run, w)
}

// export copies the streamed answer to GET path (with its query) in mediaType to w and
// returns how many lines it wrote; what names the listing in the error of a cut answer.
func (c *Client) export(ctx context.Context, path, mediaType, what string, w io.Writer) (int, error) {
	resp, err := c.Do(ctx, Request{Method: http.MethodGet, Path: path, Accept: mediaType})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, mediaType) {
		return 0, fmt.Errorf("the server answered %q to a request for %s", ct, mediaType)
	}
	lc := &lineCounter{w: w}
	if _, err := io.Copy(lc, resp.Body); err != nil {
		// The server cuts the answer when it fails midway: say so rather than end quietly.
		return 0, fmt.Errorf("the export of %s was cut short after %d lines: %w", what, lc.lines, err)
	}
	return lc.lines, nil
}

// lineCounter counts the lines written through it; the exports hold ids, outcomes and
// dates, never a newline inside a value.
type lineCounter struct {
	w     io.Writer
	lines int
}

func (l *lineCounter) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	l.lines += bytes.Count(p[:n], []byte{'\n'})
	return n, err
}
