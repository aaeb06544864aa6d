package retention

import "time"

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
}

// CommandID is the command's CloudEvent id and Nats-Msg-Id.
func (c Command) CommandID() string {
	origin := c.RunID
	if origin == "" {
		origin = c.RequestID
	}
	return origin + ":" + c.ContactID
}
