package ingest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/seal"
)

// Technical data (the register's technical category): when an institution's register
// declares it, ingest records the IP address and user agent of the HTTP request that
// brought each of the institution's events, sealed with the contact's key like every other
// personal value, on the event's clientip/useragent extensions with the time of collection
// on collectedat (events.ExtClientIP and the others). The recency service folds them into
// the projection and the scheduler purges them past the register's after_collection window.
// Events that come through the NATS inbox carry no request, so nothing is recorded for them.

// maxUserAgent bounds the user agent kept: the header is the client's to fill, and the
// projection keeps one per event for the whole window.
const maxUserAgent = 512

// Origin is the technical data of one HTTP request.
type Origin struct {
	IP        string
	UserAgent string
	At        time.Time
}

// AcceptOption configures NewAcceptEvents.
type AcceptOption func(*AcceptEvents)

// WithTechnicalData makes the use case record the request's technical data on the events of
// the institutions for which records returns true (those whose register declares it).
func WithTechnicalData(records func(institution string) bool) AcceptOption {
	return func(uc *AcceptEvents) { uc.records = records }
}

// recordsTechnical returns the institutions of cfg whose register declares technical data.
func recordsTechnical(cfg config.File) func(string) bool {
	set := map[string]bool{}
	for _, in := range cfg.Institutions {
		if _, ok := in.TechnicalRetention(); ok {
			set[in.ID] = true
		}
	}
	return func(inst string) bool { return set[inst] }
}

// WithTrustedProxies makes ingest take the client's address from X-Forwarded-For when the
// connection comes from one of these proxies (lethe.yaml trusted_proxies; by default none,
// and X-Forwarded-For is ignored: anyone can write that header).
func WithTrustedProxies(prefixes ...netip.Prefix) Option {
	return func(s *Service) error {
		for _, p := range prefixes {
			if !p.IsValid() {
				return errors.New("ingest: invalid trusted proxy prefix")
			}
		}
		s.proxies = slices.Clone(prefixes)
		return nil
	}
}

// origin reads the technical data of r.
func (s *Service) origin(r *http.Request) Origin {
	ua := r.Header.Get("User-Agent")
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
		for !utf8.ValidString(ua) {
			ua = ua[:len(ua)-1]
		}
	}
	return Origin{IP: clientIP(r, s.proxies), UserAgent: ua, At: s.now().UTC()}
}

// clientIP is the address of the connection, unless that is a trusted proxy: then the
// right-most address of X-Forwarded-For that is not a trusted proxy (the left part of the
// header is whatever the client chose to write, so it is never believed).
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	isTrusted := func(a netip.Addr) bool {
		return slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(a) })
	}
	if !isTrusted(addr) {
		return addr.String()
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: believe nothing further left
		}
		a = a.Unmap()
		if !isTrusted(a) {
			return a.String()
		}
		addr = a
	}
	return addr.String()
}

// injectedTechnical lists the technical extensions an incoming event carries: only ingest
// may set them.
func injectedTechnical(e event.Event) []events.Problem {
	var ps []events.Problem
	exts := events.ExtensionsOf(&e)
	for _, name := range events.TechnicalExtensions {
		if _, ok := exts[name]; ok {
			ps = append(ps, events.Problem{Pointer: "/" + name, Reason: "is set by Lethe from the request, never by the sender"})
		}
	}
	return ps
}

// sealTechnical records o on e, sealed with the contact's key. A contact whose key was
// destroyed gets nothing: erased contacts collect no new data.
func sealTechnical(ctx context.Context, keys Keys, e *event.Event, o Origin) error {
	if o.IP == "" && o.UserAgent == "" {
		return nil
	}
	ck, err := keys.For(ctx, events.Institution(*e), e.Subject())
	switch {
	case errors.Is(err, seal.ErrKeyDestroyed):
		return nil
	case errors.Is(err, seal.ErrWrappedKey), errors.Is(err, seal.ErrUnknownMasterKey):
		return fmt.Errorf("%w: event %s: %w", ErrKeys, e.ID(), err)
	case err != nil:
		return fmt.Errorf("%w: data key for event %s: %w", ErrUnavailable, e.ID(), err)
	}
	for _, f := range []struct{ ext, field, value string }{
		{events.ExtClientIP, events.TechnicalIP, o.IP},
		{events.ExtUserAgent, events.TechnicalUserAgent, o.UserAgent},
	} {
		if f.value == "" {
			continue
		}
		v, err := ck.Seal(f.field, f.value)
		if err != nil {
			return fmt.Errorf("%w: event %s: seal %s: %w", ErrKeys, e.ID(), f.field, err)
		}
		e.SetExtension(f.ext, v)
	}
	e.SetExtension(events.ExtCollectedAt, o.At.UTC().Format(time.RFC3339Nano))
	return nil
}
