package recency

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/seal"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// States of an exported value: how Lethe holds it, so the reader knows why a value is there
// or not.
const (
	// StateDecrypted: held sealed under the contact's key, opened for this export.
	StateDecrypted = "decrypted"
	// StateClear: held in clear because it identifies no one (address country, company name).
	StateClear = "clear"
	// StateErased: held sealed, but the contact's key was destroyed: the value is gone for good.
	StateErased = "erased"
	// StateUnreadable: held sealed, but it does not open (no key, or bound to another field).
	StateUnreadable = "unreadable"
)

// AuditRecorder appends an entry to the audit log, computing its sequence and hash.
type AuditRecorder interface {
	Record(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error)
}

// KeyReader hands out a contact's data key for opening, never creating one; *seal.Sealer is
// the implementation.
type KeyReader interface {
	ForRead(ctx context.Context, institution, contact string) (*seal.ContactKey, error)
}

var _ KeyReader = (*seal.Sealer)(nil)

// ErrContactNotFound: the projection holds no document for the contact.
var ErrContactNotFound = errors.New("recency: no such contact")

// Export is the right-of-access document: everything Lethe holds about one contact, with
// personal values decrypted, and why each category is kept.
type Export struct {
	Institution string    `json:"institution"`
	ContactID   string    `json:"contact_id"`
	GeneratedAt time.Time `json:"generated_at"`
	// Summary says in one sentence what the document is, for the person reading it.
	Summary   string         `json:"summary"`
	Status    store.Status   `json:"status"`
	Erasure   *ExportErasure `json:"erasure,omitempty"`
	Known     bool           `json:"known"`
	Role      string         `json:"role,omitempty"`
	Kind      string         `json:"kind"` // customer or prospect
	InScope   bool           `json:"in_scope"`
	CreatedAt *time.Time     `json:"created_at,omitempty"`

	Profile              []ExportField         `json:"profile"`
	Authorisations       []ExportAuthorisation `json:"authorisations"`
	AuthorisationHistory []store.ConsentChange `json:"authorisation_history"`
	Organisations        []string              `json:"organisations"`
	Orders               []ExportOrder         `json:"orders"`

	Blockers      []string             `json:"blockers"`
	Balance       *store.Balance       `json:"balance,omitempty"`
	Subscriptions []ExportSubscription `json:"subscriptions"`
	LegalHold     *ExportLegalHold     `json:"legal_hold,omitempty"`
	Criteria      []ExportCriterion    `json:"criteria"`

	Recency   *ExportRecency    `json:"recency,omitempty"`
	Technical []ExportTechnical `json:"technical_data"`

	RunItems []ExportRunItem    `json:"run_items"`
	Audit    []ExportAuditEntry `json:"audit"`
	// Register is the institution's register of processing activities; RegisterDeclared is
	// false when the institution declares none and the default register applies.
	Register         []ExportRegisterEntry `json:"register"`
	RegisterDeclared bool                  `json:"register_declared"`
}

// ExportErasure says when and by what the contact was anonymised or deleted.
type ExportErasure struct {
	At *time.Time `json:"at,omitempty"`
	By string     `json:"by,omitempty"`
}

// ExportValue is one held value and how it is held (StateDecrypted, StateClear, …). Value is
// empty unless the state is decrypted or clear.
type ExportValue struct {
	Value string `json:"value,omitempty"`
	State string `json:"state"`
}

// ExportField is one profile field and the event that set it.
type ExportField struct {
	Field string `json:"field"`
	ExportValue
	// Category is the register's data category of the field (email, postal_address, …).
	Category string       `json:"category,omitempty"`
	SetBy    store.Source `json:"set_by"`
}

// ExportAuthorisation is the current value of one authorisation (consent).
type ExportAuthorisation struct {
	Name  string       `json:"name"`
	Value string       `json:"value"`
	SetBy store.Source `json:"set_by"`
}

// ExportOrder is an order or an option, with its items and their beneficiaries.
type ExportOrder struct {
	ID    string       `json:"id"`
	Kind  string       `json:"kind"`
	Role  string       `json:"role,omitempty"`
	SetBy store.Source `json:"set_by"`
	Items []ExportItem `json:"items"`
}

// ExportItem is one line of an order or option.
type ExportItem struct {
	ProductID   string             `json:"product_id"`
	Dated       bool               `json:"dated"`
	ValidAt     *time.Time         `json:"valid_at,omitempty"`
	Beneficiary *ExportBeneficiary `json:"beneficiary,omitempty"`
}

// ExportBeneficiary names the person a ticket is for.
type ExportBeneficiary struct {
	FirstName *ExportValue `json:"first_name,omitempty"`
	LastName  *ExportValue `json:"last_name,omitempty"`
}

// ExportSubscription is the latest known state of one subscription.
type ExportSubscription struct {
	ID     string       `json:"id"`
	Status string       `json:"status"`
	SetBy  store.Source `json:"set_by"`
}

// ExportRecency is the GDPR recency, the event that set it and when the contact would count
// as inactive.
type ExportRecency struct {
	Date             time.Time    `json:"date"`
	SetBy            store.Source `json:"set_by"`
	InactivityMonths int          `json:"inactivity_months"`
	InactiveFrom     time.Time    `json:"inactive_from"`
}

// ExportTechnical is technical data of one request (IP address, user agent).
type ExportTechnical struct {
	EventID     string    `json:"event_id"`
	CollectedAt time.Time `json:"collected_at"`
	// KeptUntil is the collection date plus the register's after_collection window.
	KeptUntil *time.Time   `json:"kept_until,omitempty"`
	IP        *ExportValue `json:"ip,omitempty"`
	UserAgent *ExportValue `json:"user_agent,omitempty"`
}

// ExportRunItem is what one retention run decided about the contact.
type ExportRunItem struct {
	RunID         string       `json:"run_id"`
	Outcome       string       `json:"outcome"`
	Reason        string       `json:"reason,omitempty"`
	Recency       time.Time    `json:"recency"`
	RecencySource store.Source `json:"recency_source"`
	Result        string       `json:"result,omitempty"`
	ResultAt      *time.Time   `json:"result_at,omitempty"`
}

// ExportAuditEntry is one audit entry about the contact: who did what, when.
type ExportAuditEntry struct {
	Seq    int64     `json:"seq"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Reason string    `json:"reason,omitempty"`
	Fields []string  `json:"fields,omitempty"`
}

// ExportRegisterEntry is one processing activity of the institution's register: why a
// category of data is kept, on what legal basis, for whom and for how long.
type ExportRegisterEntry struct {
	Category    string           `json:"category"`
	Description string           `json:"description,omitempty"`
	Purpose     string           `json:"purpose"`
	LegalBasis  string           `json:"legal_basis"`
	Recipients  []string         `json:"recipients"`
	Retention   config.Retention `json:"retention"`
	// RetentionText is the rule in words: "36 months after the last activity".
	RetentionText string `json:"retention_text"`
	// KeptUntil is, for an after_last_activity rule, the contact's recency plus the period:
	// the date after which this category is no longer kept unless the contact is active again.
	KeptUntil *time.Time `json:"kept_until,omitempty"`
}

// ExportContact is the right-of-access use case: it reads the contact's projection, run items
// and audit entries, opens the sealed values with the contact's key, and records the export
// in the audit log before anything is disclosed.
type ExportContact struct {
	store  store.Store
	keys   KeyReader
	audit  AuditRecorder
	cfg    config.File
	now    func() time.Time
	log    *slog.Logger
	newKey func() string
}

// NewExportContact returns the use case. now defaults to time.Now.
func NewExportContact(st store.Store, keys KeyReader, audit AuditRecorder, cfg config.File, now func() time.Time, log *slog.Logger) *ExportContact {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ExportContact{store: st, keys: keys, audit: audit, cfg: cfg, now: now, log: log, newKey: randomExportKey}
}

func randomExportKey() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails
	return "export:" + hex.EncodeToString(b)
}

// Export builds the document for actor (token:<name>), recording the export first. A value
// whose key was destroyed is reported erased, never an error.
func (uc *ExportContact) Export(ctx context.Context, institution, contactID, actor string) (Export, error) {
	c, err := uc.store.Contacts().Get(ctx, institution, contactID)
	if errors.Is(err, store.ErrNotFound) {
		return Export{}, fmt.Errorf("%w: %s/%s", ErrContactNotFound, institution, contactID)
	}
	if err != nil {
		return Export{}, fmt.Errorf("recency: export %s/%s: read contact: %w", institution, contactID, err)
	}
	now := uc.now().UTC()
	policy, _ := uc.cfg.Institution(institution)
	op := &opener{ctx: ctx, keys: uc.keys, institution: institution, contact: contactID, log: uc.log}
	x, err := uc.build(c, policy, now, op)
	if err != nil {
		return Export{}, err
	}
	items, err := uc.store.RunItems().ForContact(ctx, institution, contactID)
	if err != nil {
		return Export{}, fmt.Errorf("recency: export %s/%s: run items: %w", institution, contactID, err)
	}
	for _, it := range items {
		ri := ExportRunItem{RunID: it.RunID, Outcome: it.Outcome, Reason: it.Reason, Recency: it.Recency,
			RecencySource: it.RecencySource, Result: it.Result}
		if !it.ResultAt.IsZero() {
			at := it.ResultAt
			ri.ResultAt = &at
		}
		x.RunItems = append(x.RunItems, ri)
	}

	// Recorded before anything is disclosed: an export that cannot be audited is not made.
	if _, err := uc.audit.Record(ctx, store.AuditEntry{
		Key: uc.newKey(), At: now, Institution: institution, ContactID: contactID,
		Actor: actor, Action: "exported",
	}); err != nil {
		return Export{}, fmt.Errorf("recency: export %s/%s: audit: %w", institution, contactID, err)
	}
	entries, err := uc.store.Audit().ForContact(ctx, institution, contactID)
	if err != nil {
		return Export{}, fmt.Errorf("recency: export %s/%s: audit entries: %w", institution, contactID, err)
	}
	for _, e := range entries {
		x.Audit = append(x.Audit, ExportAuditEntry{Seq: e.Seq, At: e.At, Actor: e.Actor, Action: e.Action, Reason: e.Reason, Fields: e.Fields})
	}
	return x, nil
}

func (uc *ExportContact) build(c store.Contact, policy config.Institution, now time.Time, op *opener) (Export, error) {
	x := Export{
		Institution: c.Institution, ContactID: c.ID, GeneratedAt: now, Status: c.Status, Known: c.Created,
		Role: c.Role, Kind: "prospect", InScope: retention.InScope(c),
		Profile: []ExportField{}, Authorisations: []ExportAuthorisation{}, AuthorisationHistory: []store.ConsentChange{},
		Organisations: []string{}, Orders: []ExportOrder{}, Blockers: []string{}, Subscriptions: []ExportSubscription{},
		Technical: []ExportTechnical{}, RunItems: []ExportRunItem{}, Audit: []ExportAuditEntry{}, Register: []ExportRegisterEntry{},
	}
	if x.Status == "" {
		x.Status = store.StatusActive
	}
	if c.Customer {
		x.Kind = "customer"
	}
	if !c.CreatedAt.IsZero() {
		at := c.CreatedAt
		x.CreatedAt = &at
	}
	if x.Status != store.StatusActive || !c.ErasedAt.IsZero() {
		e := &ExportErasure{By: c.ErasedBy}
		if !c.ErasedAt.IsZero() {
			at := c.ErasedAt
			e.At = &at
		}
		x.Erasure = e
	}
	x.Summary = summary(c, x.Status, now)

	names := make([]string, 0, len(c.Profile))
	for name := range c.Profile {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		f := c.Profile[name]
		if f.Value == "" {
			continue // cleared: nothing held
		}
		v, err := op.value("profile."+name, f.Value, f.Sealed)
		if err != nil {
			return Export{}, err
		}
		x.Profile = append(x.Profile, ExportField{Field: name, ExportValue: v, Category: config.CategoryOfProfileField(name), SetBy: f.Source})
	}

	for name, a := range c.Authorisations {
		x.Authorisations = append(x.Authorisations, ExportAuthorisation{Name: name, Value: a.Value, SetBy: a.Source})
	}
	slices.SortFunc(x.Authorisations, func(a, b ExportAuthorisation) int { return strings.Compare(a.Name, b.Name) })
	x.AuthorisationHistory = append(x.AuthorisationHistory, c.Consents...)
	x.Organisations = append(x.Organisations, c.Organisations...)

	for _, o := range c.Orders {
		eo := ExportOrder{ID: o.ID, Kind: o.Kind, Role: o.Role, SetBy: o.Source, Items: []ExportItem{}}
		for i, it := range o.Items {
			ei := ExportItem{ProductID: it.ProductID, Dated: it.Dated}
			if !it.ValidAt.IsZero() {
				at := it.ValidAt
				ei.ValidAt = &at
			}
			// Beneficiary names are sealed under the field name of the event's item index,
			// which the projection keeps in the same order.
			prefix := "items." + strconv.Itoa(i) + ".beneficiary."
			var b ExportBeneficiary
			if it.BeneficiaryFirstName != "" {
				v, err := op.value(prefix+"first_name", it.BeneficiaryFirstName, false)
				if err != nil {
					return Export{}, err
				}
				b.FirstName = &v
			}
			if it.BeneficiaryLastName != "" {
				v, err := op.value(prefix+"last_name", it.BeneficiaryLastName, false)
				if err != nil {
					return Export{}, err
				}
				b.LastName = &v
			}
			if b.FirstName != nil || b.LastName != nil {
				ei.Beneficiary = &b
			}
			eo.Items = append(eo.Items, ei)
		}
		x.Orders = append(x.Orders, eo)
	}
	slices.SortFunc(x.Orders, func(a, b ExportOrder) int {
		if a.SetBy.Before(b.SetBy) {
			return -1
		}
		if b.SetBy.Before(a.SetBy) {
			return 1
		}
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.ID, b.ID))
	})

	x.Blockers = append(x.Blockers, retention.Blockers(c)...)
	if c.Balance.Source.EventID != "" {
		b := c.Balance
		x.Balance = &b
	}
	for id, s := range c.Subscriptions {
		x.Subscriptions = append(x.Subscriptions, ExportSubscription{ID: id, Status: s.Status, SetBy: s.Source})
	}
	slices.SortFunc(x.Subscriptions, func(a, b ExportSubscription) int { return strings.Compare(a.ID, b.ID) })
	if err := exportHeldValues(&x, c, op); err != nil {
		return Export{}, err
	}
	if !c.Recency.IsZero() {
		x.Recency = &ExportRecency{Date: c.Recency, SetBy: c.RecencySource, InactivityMonths: policy.InactivityMonths,
			InactiveFrom: retention.CrossesAt(c, policy.InactivityMonths)}
	}

	window, windowed := policy.TechnicalRetention()
	for _, t := range c.Technical {
		et := ExportTechnical{EventID: t.EventID, CollectedAt: t.CollectedAt}
		if windowed {
			until := AddPeriod(t.CollectedAt, window)
			et.KeptUntil = &until
		}
		if t.IP != "" {
			v, err := op.value(events.TechnicalIP, t.IP, false)
			if err != nil {
				return Export{}, err
			}
			et.IP = &v
		}
		if t.UserAgent != "" {
			v, err := op.value(events.TechnicalUserAgent, t.UserAgent, false)
			if err != nil {
				return Export{}, err
			}
			et.UserAgent = &v
		}
		x.Technical = append(x.Technical, et)
	}

	entries, declared := policy.EffectiveRegister()
	x.RegisterDeclared = declared
	for _, r := range entries {
		e := ExportRegisterEntry{Category: r.Category, Purpose: r.Purpose, LegalBasis: r.LegalBasis,
			Recipients: r.Recipients, Retention: r.Retention, RetentionText: r.RetentionText()}
		if cat, ok := config.CategoryNamed(r.Category); ok {
			e.Description = cat.Description
		}
		if e.Recipients == nil {
			e.Recipients = []string{}
		}
		if clock, _ := r.Clock(); clock == config.ClockAfterLastActivity && x.Status == store.StatusActive && !c.Recency.IsZero() {
			if p, ok := r.Period(); ok {
				until := AddPeriod(c.Recency, p)
				e.KeptUntil = &until
			}
		}
		x.Register = append(x.Register, e)
	}
	return x, nil
}

func summary(c store.Contact, status store.Status, now time.Time) string {
	day := func(t time.Time) string { return t.UTC().Format("2 January 2006") }
	switch status {
	case store.StatusAnonymised:
		s := "This contact was anonymised"
		if !c.ErasedAt.IsZero() {
			s += " on " + day(c.ErasedAt)
		}
		return s + ": its personal data was erased and its key destroyed. What follows is what is still kept " +
			"(for accounting and statistics); it no longer identifies anyone."
	case store.StatusDeleted:
		s := "This contact was deleted"
		if !c.ErasedAt.IsZero() {
			s += " on " + day(c.ErasedAt)
		}
		return s + ": only the record of its deletion is kept."
	}
	return "Everything Lethe holds about this contact on " + day(now) + ", with personal values decrypted " +
		"for this export, and the register entries that say why each category is kept and for how long."
}

// opener opens the sealed values of one contact, asking for its key once and only when a
// sealed value is met. A destroyed key makes every sealed value erased; a key missing or a
// value that does not open makes it unreadable; only a failing store is an error.
type opener struct {
	ctx                  context.Context
	keys                 KeyReader
	institution, contact string
	log                  *slog.Logger

	loaded bool
	ck     *seal.ContactKey
	state  string // StateErased or StateUnreadable when there is no usable key
}

func (o *opener) value(field, v string, sealed bool) (ExportValue, error) {
	if !sealed && !strings.HasPrefix(v, seal.Prefix) {
		return ExportValue{Value: v, State: StateClear}, nil
	}
	if !o.loaded {
		ck, err := o.keys.ForRead(o.ctx, o.institution, o.contact)
		switch {
		case err == nil:
			o.ck = ck
		case errors.Is(err, seal.ErrKeyDestroyed):
			o.state = StateErased
		case errors.Is(err, seal.ErrNoKey), errors.Is(err, seal.ErrWrappedKey), errors.Is(err, seal.ErrUnknownMasterKey):
			o.log.Warn("export: the contact's data key cannot be used", "institution", o.institution, "contact", o.contact, "err", err)
			o.state = StateUnreadable
		default:
			return ExportValue{}, fmt.Errorf("recency: export %s/%s: data key: %w", o.institution, o.contact, err)
		}
		o.loaded = true
	}
	if o.ck == nil {
		return ExportValue{State: o.state}, nil
	}
	pt, err := o.ck.Open(field, v)
	if err != nil {
		// The error names the field, never the value.
		o.log.Warn("export: a sealed value does not open", "institution", o.institution, "contact", o.contact, "field", field, "err", err)
		return ExportValue{State: StateUnreadable}, nil
	}
	return ExportValue{Value: pt, State: StateDecrypted}, nil
}

// getExport serves GET /v1/institutions/{inst}/contacts/{id}/export for a token with the export
// scope: the right-of-access document, indented for a person to read, never cached. Read is
// not enough: it is given to whoever reads reports, and this document holds the person's
// decrypted data.
func getExport(uc *ExportContact) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		inst, id := r.PathValue("inst"), r.PathValue("id")
		if err := httpapi.Require(r.Context(), config.ScopeExport, inst); err != nil {
			httpapi.WriteProblem(w, r, err)
			return
		}
		p, _ := httpapi.PrincipalFrom(r.Context())
		x, err := uc.Export(r.Context(), inst, id, "token:"+p.Name)
		if errors.Is(err, ErrContactNotFound) {
			httpapi.WriteProblem(w, r, httpapi.NewProblem(http.StatusNotFound, "no contact "+id+" in institution "+inst))
			return
		}
		if err != nil {
			uc.log.Error("export failed", "institution", inst, "contact", id, "err", err)
			httpapi.WriteProblem(w, r, err)
			return
		}
		// The export answers the contact's open access requests. One that cannot be marked
		// now is answered by the next export; the document is served either way.
		if _, err := uc.AnswerAccess(r.Context(), inst, id, "token:"+p.Name); err != nil {
			uc.log.Error("export served, but its access requests are not marked answered", "institution", inst, "err", err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(x)
	}
}
