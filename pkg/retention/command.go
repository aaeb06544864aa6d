package retention

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/lethe-gdpr/lethe/events"
)

// CommandType is the CloudEvent type of one erasure command on LETHE_COMMANDS, published on
// lethe.command.<institution>.erase with the event id "<run or request id>:<contact id>", so a
// republished command is deduplicated and a redelivered one is recognised.
const CommandType = "lethe.command.erase.v1"

// CommandKind is the <kind> token of the command subject.
const CommandKind = "erase"

// Command asks the anonymiser to erase one contact: re-check it with Decide (or DecideErasure
// when InactivityMonths is 0), then delete, anonymise or skip it.
type Command struct {
	Institution string `json:"institution"`
	ContactID   string `json:"contact_id"`
	// RunID is set for a retention run's command, RequestID for an on-demand erasure.
	RunID     string `json:"run_id,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	// Planned is the outcome the run planned (delete or anonymise); the anonymiser reports
	// drift when the re-check decides otherwise.
	Planned string `json:"planned,omitempty"`
	// AsOf and InactivityMonths are the run's: the contact must still be inactive as of AsOf.
	AsOf             time.Time `json:"as_of"`
	InactivityMonths int       `json:"inactivity_months,omitempty"`
	RequestedBy      string    `json:"requested_by,omitempty"`
	// Attempt numbers a request's commands: 0 the first, then one more each time a blocked
	// request resumes or a failed one is retried. Each attempt is a command of its own.
	Attempt int `json:"attempt,omitempty"`
}

// CommandID is the command's CloudEvent id and Nats-Msg-Id.
func (c Command) CommandID() string {
	origin := c.RunID
	if origin == "" {
		origin = c.RequestID
	}
	id := origin + ":" + c.ContactID
	if c.Attempt > 0 {
		id += "#" + strconv.Itoa(c.Attempt)
	}
	return id
}

// Event is the command as a CloudEvent: type CommandType, id CommandID() (also the
// Nats-Msg-Id's base), subject the contact, extension institution, data the command as JSON.
// It carries ids and dates only.
func (c Command) Event(source string, at time.Time) (event.Event, error) {
	e := event.New()
	e.SetID(c.CommandID())
	e.SetSource(source)
	e.SetType(CommandType)
	e.SetSubject(c.ContactID)
	e.SetTime(at.UTC())
	e.SetExtension(events.ExtInstitution, c.Institution)
	if err := e.SetData(event.ApplicationJSON, c); err != nil {
		return event.Event{}, fmt.Errorf("retention: encode command %s: %w", c.CommandID(), err)
	}
	return e, nil
}

// ErrNotACommand: a message on LETHE_COMMANDS that is not a well-formed erasure command.
var ErrNotACommand = errors.New("retention: not an erasure command")

// CommandOf decodes a command event, checking that its envelope agrees with its data.
func CommandOf(e event.Event) (Command, error) {
	if e.Type() != CommandType {
		return Command{}, fmt.Errorf("%w: type %q", ErrNotACommand, e.Type())
	}
	var c Command
	if err := json.Unmarshal(e.Data(), &c); err != nil {
		return Command{}, fmt.Errorf("%w: data: %v", ErrNotACommand, err)
	}
	if inst, _ := events.ExtensionsOf(&e)[events.ExtInstitution].(string); inst != c.Institution || e.Subject() != c.ContactID {
		return Command{}, fmt.Errorf("%w: envelope and data disagree on institution or contact", ErrNotACommand)
	}
	return c, nil
}
