package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
)

// SealDeadLetter is the dead-letter redaction of LETHE_INBOX, whose messages are upstream
// events with personal values in clear: a dead letter must be no copy that erasing the
// contact cannot reach. When the message can be read far enough to know its institution,
// its contact and its type, its personal values are sealed with that contact's key by the
// very code that seals a valid event (sealPersonal: dropped instead for an erased contact),
// and it is stored re-encoded in structured mode — members and extensions Lethe does not
// know dropped, like every other header, since they could hold anything. When it cannot, the
// body and the headers are dropped and the dead letter says what could not be read.
//
// It only fails when the key store is unavailable, so that the consumer retries rather than
// drops; a key that exists but cannot be used drops the body, as retrying would not help.
func (uc *ForwardInbox) SealDeadLetter(ctx context.Context, l bus.Letter, reason string) (bus.Letter, string, error) {
	e, err := bus.DecodeEvent(l.Header, l.Data)
	if err != nil {
		return l.Dropped("not a CloudEvent"), reason, nil
	}
	inst, contact := events.Institution(e), e.Subject()
	if !events.ValidInstitution(inst) || !events.ValidContactID(contact) {
		return l.Dropped("its institution or its contact could not be read"), reason, nil
	}
	if l.Subject != bus.InboxSubject(inst) && !strings.HasPrefix(l.Subject, bus.InboxSubject(inst)+".") {
		// The event contradicts the subject it came on (its institution's inbox, or one of
		// its destinations' confirmation subjects): neither institution's key is the right
		// one to seal it with.
		return l.Dropped("its institution differs from its inbox subject's"), reason, nil
	}
	d, _ := events.DecodePartial(e)
	if d == nil {
		return l.Dropped("its data could not be read as a type Lethe knows"), reason, nil
	}
	n := 0
	if p, ok := d.(events.Personal); ok {
		for _, f := range p.PersonalFields() {
			if *f.Value != "" {
				n++
			}
		}
	}
	erased, err := sealPersonal(ctx, uc.keys, &e, d)
	switch {
	case errors.Is(err, ErrUnavailable):
		return bus.Letter{}, "", err
	case err != nil:
		return l.Dropped("the contact's data key cannot be used"), reason, nil
	}
	body, err := events.MarshalStructured(e)
	if err != nil {
		return l.Dropped("it could not be re-encoded"), reason, nil
	}
	what := fmt.Sprintf("%d personal values sealed with the contact's key", n)
	if erased {
		what = fmt.Sprintf("%d personal values dropped: the contact's key was destroyed", n)
	}
	out := l
	out.Header = map[string][]string{}
	if id := l.Header.Get(bus.HeaderMsgID); id != "" {
		out.Header.Set(bus.HeaderMsgID, id)
	}
	out.Header.Set(bus.HeaderContentType, bus.ContentTypeStructured+"; charset=utf-8")
	out.Header.Set(bus.HeaderDLQDropped, what+"; unknown members, other extensions and headers dropped")
	out.Data = body
	return out, reason, nil
}

// deadLetterError is what the inbox port dead-letters an invalid event with: the problems'
// pointers and rules, with every pointer segment that is not a plain name masked, since a
// pointer names a member by its key and an upstream can put anything in a custom field's or
// an authorisation's key. It still matches events.ErrInvalid.
func deadLetterError(err error) error {
	var ve *events.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	ps := make([]string, len(ve.Problems))
	for i, p := range ve.Problems {
		ps[i] = maskPointer(p.Pointer) + " " + p.Reason
	}
	return fmt.Errorf("%w: %s", events.ErrInvalid, strings.Join(ps, "; "))
}

func maskPointer(ptr string) string {
	segs := strings.Split(ptr, "/")
	for i, s := range segs {
		if !plainName(s) {
			segs[i] = "*"
		}
	}
	return strings.Join(segs, "/")
}

// plainName: at most 64 of A-Z, a-z, 0-9, _, - and dots (member names, array indexes,
// authorisation names); "" is the root before the first slash.
func plainName(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
