package ingest

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
)

// Route is the pattern POST /v1/events is registered under.
const Route = "POST /v1/events"

// Content modes of the CloudEvents HTTP binding.
const (
	ModeStructured = "structured"
	ModeBinary     = "binary"
	ModeBatch      = "batch"
)

// maxLoggedPointers bounds the pointers a rejection log line lists.
const maxLoggedPointers = 20

// rejection is what a refused request is logged and counted as; never a value from it.
type rejection struct {
	status   int
	reason   string
	events   int
	pointers []string
}

// postEvents is the HTTP port of AcceptEvents: it reads the body in one of the three
// content modes, has the use case accept it, and turns its errors into problem responses.
func (s *Service) postEvents(w http.ResponseWriter, r *http.Request) {
	ctx := propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := s.tracer.Start(ctx, "ingest "+Route, trace.WithSpanKind(trace.SpanKindProducer))
	defer span.End()
	r = r.WithContext(ctx)
	origin := s.origin(r)

	fail := func(rej rejection, typ string, err error) {
		s.metrics.reject(ctx, transportHTTP, typ, rej.reason, max(rej.events, 1))
		s.logRejection(r, rej, err)
		span.SetAttributes(attribute.Int("http.response.status_code", rej.status))
		span.SetStatus(codes.Error, rej.reason)
		httpapi.WriteProblem(w, r, err)
	}

	if err := httpapi.Require(ctx, config.ScopeIngest, ""); err != nil {
		fail(rejection{status: problemStatus(err), reason: ReasonForbidden}, "", err)
		return
	}
	body, err := httpapi.ReadBody(w, r, s.maxBody)
	if err != nil {
		var p *httpapi.Problem // ReadBody's errors are problems: 413, 408 or 400
		if !errors.As(err, &p) {
			p = httpapi.NewProblem(http.StatusBadRequest, "the body could not be read")
		}
		rej := rejection{status: p.Status, reason: ReasonMalformed}
		if p.Status == http.StatusRequestEntityTooLarge {
			rej.reason = ReasonTooLarge
			p.Detail += "; send smaller batches"
		}
		fail(rej, "", p)
		return
	}
	mode, es, err := parseRequest(r.Header, body)
	span.SetAttributes(attribute.String("lethe.ingest.mode", mode), attribute.Int("lethe.ingest.events", len(es)))
	if err != nil {
		var ve *events.ValidationError
		var be *events.BatchError
		switch {
		case errors.As(err, &be):
			rej := rejection{status: http.StatusBadRequest, reason: ReasonMalformed, events: len(be.Errors)}
			fail(rej, "", invalidProblem(true, 0, be, &rej))
		case errors.As(err, &ve):
			// One event, or a batch document that is not an array: no index to give.
			rej := rejection{status: http.StatusBadRequest, reason: ReasonMalformed}
			p := invalidProblem(false, 0, &events.BatchError{Errors: []events.IndexedError{{Err: ve}}}, &rej)
			if mode == ModeBatch {
				p.Detail = "the body is not a JSON array of structured CloudEvents"
			}
			fail(rej, "", p)
		default: // an unsupported media type
			fail(rejection{status: http.StatusUnsupportedMediaType, reason: ReasonMalformed}, "", err)
		}
		return
	}

	acc, err := s.accept.HandleFrom(ctx, es, func(inst string) error {
		return httpapi.Require(ctx, config.ScopeIngest, inst)
	}, s.confirmer(ctx), &origin)
	if err != nil {
		s.rejectEvents(ctx, es, err)
		rej := rejection{events: len(es)}
		var be *events.BatchError
		var p *httpapi.Problem
		var tooLarge *TooLargeError
		switch {
		case errors.As(err, &be):
			rej.status, rej.reason = http.StatusBadRequest, ReasonInvalid
			err = invalidProblem(mode == ModeBatch, len(es), be, &rej)
		case errors.As(err, &p):
			rej.status, rej.reason = p.Status, ReasonForbidden
		case errors.As(err, &tooLarge):
			rej.status, rej.reason = http.StatusRequestEntityTooLarge, ReasonTooLarge
			err = tooLargeProblem(mode == ModeBatch, len(es), tooLarge)
		case errors.Is(err, ErrUnavailable):
			rej.status, rej.reason = http.StatusServiceUnavailable, ReasonUnavailable
			p := httpapi.NewProblem(http.StatusServiceUnavailable,
				"the events could not be stored now; resend the whole request after Retry-After seconds (events already stored are deduplicated)")
			p.RetryAfter = s.retryAfter
			s.log.WarnContext(ctx, "ingest: events not stored", "events", len(es), "error", err)
			err = p
		default:
			rej.status, rej.reason = http.StatusInternalServerError, ReasonError
			s.log.ErrorContext(ctx, "ingest: events not accepted", "events", len(es), "error", err)
		}
		// The counts were taken by rejectEvents, per event type.
		s.logRejection(r, rej, err)
		span.SetAttributes(attribute.Int("http.response.status_code", rej.status))
		span.SetStatus(codes.Error, rej.reason)
		httpapi.WriteProblem(w, r, err)
		return
	}
	for typ, n := range acc.ByType {
		s.metrics.accept(ctx, transportHTTP, typ, n)
	}
	span.SetAttributes(attribute.Int("http.response.status_code", http.StatusAccepted),
		attribute.Int("lethe.ingest.personal_dropped", acc.Dropped))
	httpapi.WriteJSON(w, http.StatusAccepted, api.EventsAccepted{Accepted: acc.Events})
}

// rejectEvents counts the events of a refused request by type: in an invalid batch the
// bad ones as invalid and the others as refused with their batch.
func (s *Service) rejectEvents(ctx context.Context, es []event.Event, err error) {
	reason := ReasonError
	var be *events.BatchError
	var p *httpapi.Problem
	switch {
	case errors.As(err, &be):
		reason = ReasonBatch
	case errors.As(err, &p):
		reason = ReasonForbidden
	case errors.Is(err, ErrUnavailable):
		reason = ReasonUnavailable
	}
	bad := map[int]bool{}
	if be != nil {
		for _, ie := range be.Errors {
			bad[ie.Index] = true
		}
	}
	badReason := ReasonInvalid
	var tooLarge *TooLargeError
	if errors.As(err, &tooLarge) {
		reason, badReason = ReasonBatch, ReasonTooLarge
		for _, o := range tooLarge.Events {
			bad[o.Index] = true
		}
	}
	counts := map[[2]string]int{}
	for i := range es {
		typ, r := "", reason
		if es[i].Context != nil {
			typ = es[i].Type()
		}
		if bad[i] {
			r = badReason
		}
		counts[[2]string{typ, r}]++
	}
	for k, n := range counts {
		s.metrics.reject(ctx, transportHTTP, k[0], k[1], n)
	}
}

// parseRequest reads the events of a request in the mode its content type selects: the
// two CloudEvents media types are structured and batch mode; anything else is binary mode,
// whose ce-* headers carry the attributes (as the HTTP binding specifies).
func parseRequest(h http.Header, body []byte) (string, []event.Event, error) {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	switch {
	case mt == events.MediaTypeBatch:
		es, err := events.ParseBatch(body)
		return ModeBatch, es, err
	case mt == events.MediaTypeStructured:
		e, err := events.ParseStructured(body)
		if err != nil {
			return ModeStructured, nil, err
		}
		return ModeStructured, []event.Event{e}, nil
	case strings.HasPrefix(mt, "application/cloudevents"):
		return ModeStructured, nil, httpapi.NewProblem(http.StatusUnsupportedMediaType,
			"only the JSON event format is supported: application/cloudevents+json or application/cloudevents-batch+json")
	default:
		e, err := events.ReadBinary(h, body)
		if err != nil {
			return ModeBinary, nil, err
		}
		return ModeBinary, []event.Event{e}, nil
	}
}

// invalidProblem is the 400 for invalid events. When indexed (batch mode) every problem
// carries the index of its event; pointers are relative to that event ("/data/role"), as
// in the single-event modes. total is the batch's size when known (0 when parsing failed).
func invalidProblem(indexed bool, total int, be *events.BatchError, rej *rejection) *httpapi.Problem {
	var params []httpapi.InvalidParam
	for _, ie := range be.Errors {
		var idx *int
		if indexed {
			i := ie.Index
			idx = &i
		}
		probs := []events.Problem{{Pointer: "", Reason: "is not a valid CloudEvent"}}
		var ve *events.ValidationError
		if errors.As(ie.Err, &ve) && len(ve.Problems) > 0 {
			probs = ve.Problems
		}
		for _, p := range probs {
			params = append(params, httpapi.InvalidParam{Index: idx, Pointer: p.Pointer, Detail: p.Reason})
			if len(rej.pointers) < maxLoggedPointers {
				ptr := p.Pointer
				if idx != nil {
					ptr = "/" + strconv.Itoa(*idx) + ptr
				}
				rej.pointers = append(rej.pointers, ptr)
			}
		}
	}
	detail := "the event is invalid"
	switch {
	case indexed && total > 0:
		detail = fmt.Sprintf("%d of %d events are invalid; the batch was rejected whole", len(be.Errors), total)
	case indexed:
		detail = fmt.Sprintf("%d events of the batch are invalid; the batch was rejected whole", len(be.Errors))
	}
	p := httpapi.NewProblem(http.StatusBadRequest, detail)
	p.Errors = params
	return p
}

// tooLargeProblem is the 413 for events over the bus's payload limit: one entry per event,
// with its index in batch mode and its id (never its content). Resending cannot help, so it
// carries no Retry-After; the caller splits the event or drops it.
func tooLargeProblem(indexed bool, total int, e *TooLargeError) *httpapi.Problem {
	params := make([]httpapi.InvalidParam, 0, len(e.Events))
	for _, o := range e.Events {
		var idx *int
		if indexed {
			i := o.Index
			idx = &i
		}
		params = append(params, httpapi.InvalidParam{Index: idx, Pointer: "",
			Detail: fmt.Sprintf("event %q is %d bytes sealed and encoded, over the bus's limit of %d bytes per event", o.ID, o.Size, e.Limit)})
	}
	detail := "the event is over the bus's payload limit once sealed; it can never be stored as it is"
	if indexed {
		detail = fmt.Sprintf("%d of %d events are over the bus's payload limit once sealed; the batch was rejected whole", len(e.Events), total)
	}
	p := httpapi.NewProblem(http.StatusRequestEntityTooLarge, detail)
	p.Errors = params
	return p
}

// logRejection logs a refused request at Info with counts and pointers, never a value.
func (s *Service) logRejection(r *http.Request, rej rejection, err error) {
	attrs := []any{"status", rej.status, "reason", rej.reason, "events", rej.events}
	if len(rej.pointers) > 0 {
		attrs = append(attrs, "pointers", rej.pointers)
	}
	if p, ok := httpapi.PrincipalFrom(r.Context()); ok {
		attrs = append(attrs, "token", p.Name)
	}
	var prob *httpapi.Problem
	if errors.As(err, &prob) && rej.status != http.StatusBadRequest {
		attrs = append(attrs, "detail", prob.Detail)
	}
	s.log.InfoContext(r.Context(), "ingest: request rejected", attrs...)
}

func problemStatus(err error) int {
	var p *httpapi.Problem
	if errors.As(err, &p) {
		return p.Status
	}
	return http.StatusInternalServerError
}

// confirmer lets a token send lethe.erasure.confirmed.v1 only for the destination it speaks
// for (tokens[].destination), and only for an institution that destination follows: a 403
// naming which rule it broke.
func (s *Service) confirmer(ctx context.Context) AuthorizeConfirmation {
	return func(inst, dest string) error {
		p, _ := httpapi.PrincipalFrom(ctx)
		switch d, declared := s.config.Destination(dest); {
		case p.Destination == "":
			return httpapi.NewProblem(http.StatusForbidden, "token "+p.Name+" speaks for no destination: only a destination's own token (destination: in lethe.yaml) may send "+events.TypeErasureConfirmed)
		case p.Destination != dest:
			return httpapi.NewProblem(http.StatusForbidden, "token "+p.Name+" speaks for destination "+p.Destination+", not "+dest+": a destination confirms only its own erasures")
		case !declared || !d.Follows(inst):
			return httpapi.NewProblem(http.StatusForbidden, "destination "+dest+" does not follow institution "+inst+" (lethe.yaml destinations): it has no outcome of it to confirm")
		}
		return nil
	}
}
