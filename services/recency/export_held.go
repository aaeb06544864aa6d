package recency

import (
	"slices"
	"strings"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// ExportLegalHold is the latest legal-hold state; its reason is personal, held sealed.
type ExportLegalHold struct {
	Held   bool         `json:"held"`
	Reason *ExportValue `json:"reason,omitempty"`
	Source store.Source `json:"source"`
}

// ExportCriterion is the latest value of one contact criterion, held sealed.
type ExportCriterion struct {
	Name string `json:"name"`
	ExportValue
	SetBy store.Source `json:"set_by"`
}

// exportHeldValues fills the legal hold and the criteria of x, opening their sealed values
// under the field names ingest sealed them with; after erasure they read as erased.
func exportHeldValues(x *Export, c store.Contact, op *opener) error {
	if c.LegalHold.Source.EventID != "" {
		h := &ExportLegalHold{Held: c.LegalHold.Held, Source: c.LegalHold.Source}
		if c.LegalHold.Reason != "" {
			v, err := op.value(events.FieldLegalHoldReason, c.LegalHold.Reason, false)
			if err != nil {
				return err
			}
			h.Reason = &v
		}
		x.LegalHold = h
	}
	x.Criteria = []ExportCriterion{}
	for name, f := range c.Criteria {
		ec := ExportCriterion{Name: name, SetBy: f.Source, ExportValue: ExportValue{State: StateClear}}
		if f.Value != "" {
			v, err := op.value(events.CriterionValueField(name), f.Value, f.Sealed)
			if err != nil {
				return err
			}
			ec.ExportValue = v
		}
		x.Criteria = append(x.Criteria, ec)
	}
	slices.SortFunc(x.Criteria, func(a, b ExportCriterion) int { return strings.Compare(a.Name, b.Name) })
	return nil
}
