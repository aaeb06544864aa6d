package events

import (
	"slices"
	"strings"
)

// Event types that upstream systems send to Lethe ("events in").
const (
	TypeContactCreated      = "lethe.contact.created.v1"
	TypeContactUpdated      = "lethe.contact.updated.v1"
	TypeCriterionChanged    = "lethe.contact.criterion.changed.v1"
	TypeConsentChanged      = "lethe.consent.changed.v1"
	TypeOptionAcquired      = "lethe.option.acquired.v1"
	TypeOptionConfirmed     = "lethe.option.confirmed.v1"
	TypeOrderPlaced         = "lethe.order.placed.v1"
	TypePaymentRecorded     = "lethe.payment.recorded.v1"
	TypeBalanceChanged      = "lethe.balance.changed.v1"
	TypeSubscriptionChanged = "lethe.subscription.changed.v1"
	TypeWaitlistJoined      = "lethe.waitlist.joined.v1"
	TypeCampaignLinkClicked = "lethe.campaign.link.clicked.v1"
	TypeLegalHoldChanged    = "lethe.legalhold.changed.v1"
	TypeErasureRequested    = "lethe.erasure.requested.v1"
	// TypeErasureConfirmed is sent by a downstream destination (a CRM reading LETHE_RESULTS)
	// once it erased its copy of the contact an outcome named.
	TypeErasureConfirmed = "lethe.erasure.confirmed.v1"
)

// Event types that Lethe publishes on LETHE_RESULTS ("events out").
const (
	TypeContactAnonymised = "lethe.contact.anonymised.v1"
	TypeContactDeleted    = "lethe.contact.deleted.v1"
	TypeContactSkipped    = "lethe.contact.skipped.v1"
	TypeRunCompleted      = "lethe.run.completed.v1"
)

// Extension attribute names.
const (
	// ExtInstitution carries the tenant id; required on every event.
	ExtInstitution = "institution"
	// ExtOrganisation carries the organisation of the institution the event comes from; optional.
	ExtOrganisation = "organisation"

	// ExtClientIP, ExtUserAgent and ExtCollectedAt carry the technical data of the HTTP request
	// that brought the event (the register's technical category), which ingest records when
	// the institution's register declares that category. The IP address and the user agent
	// are sealed with the contact's key (fields TechnicalIP and TechnicalUserAgent as
	// associated data); collectedat is the RFC 3339 time ingest received the request, which
	// starts the after_collection clock. They ride as extensions because extensions survive
	// the NATS binding as ce- headers and leave the event's data as the upstream sent it.
	// Only ingest sets them: an event that arrives with one is refused, so nobody injects
	// technical data, or smuggles a value past sealing, under these names.
	ExtClientIP    = "clientip"
	ExtUserAgent   = "useragent"
	ExtCollectedAt = "collectedat"
)

// Field names of the technical data, as sealed (associated data) and as a right-of-access
// export names them.
const (
	TechnicalIP        = "technical.ip"
	TechnicalUserAgent = "technical.user_agent"
)

// TechnicalExtensions are the extensions only ingest may set.
var TechnicalExtensions = []string{ExtClientIP, ExtUserAgent, ExtCollectedAt}

// Contact roles (lethe.contact.created.v1 role).
const (
	RoleIndividual = "individual"
	RoleRelay      = "relay"
	RoleStructure  = "structure"
	RoleSupplier   = "supplier"
	RoleGuide      = "guide"
	RoleExhibitor  = "exhibitor"
	RolePartner    = "partner"
	RoleProducer   = "producer"
)

// Roles of the contact in an order (lethe.order.placed.v1 contact_role).
const (
	ContactRoleBuyer    = "buyer"
	ContactRoleAttendee = "attendee"
)

// Subscription states (lethe.subscription.changed.v1 status).
const (
	SubscriptionInitialized = "initialized"
	SubscriptionActive      = "active"
	SubscriptionSuspended   = "suspended"
	SubscriptionTerminated  = "terminated"
)

// Authorisation values (lethe.consent.changed.v1 authorisations).
const (
	AuthorisationYes   = "yes"
	AuthorisationNo    = "no"
	AuthorisationUnset = "unset"
)

// Reasons a contact was skipped (lethe.contact.skipped.v1 reason).
const (
	SkipDebt               = "debt"
	SkipCredit             = "credit"
	SkipActiveSubscription = "active_subscription"
	SkipLegalHold          = "legal_hold"
	SkipBecameActive       = "became_active"
	SkipNotInScope         = "not_in_scope"
)

// Run modes (lethe.run.completed.v1 mode), as the scheduler names them.
const (
	RunModeSimulation = "simulation"
	RunModeExecute    = "execute"
	RunModeApply      = "apply"
)

// Enumerations, in the order the contract lists them; the schemas and Validate share them.
var (
	roles = []string{RoleIndividual, RoleRelay, RoleStructure, RoleSupplier, RoleGuide,
		RoleExhibitor, RolePartner, RoleProducer}
	contactRoles       = []string{ContactRoleBuyer, ContactRoleAttendee}
	subscriptionStates = []string{SubscriptionInitialized, SubscriptionActive, SubscriptionSuspended,
		SubscriptionTerminated}
	authorisationValues = []string{AuthorisationYes, AuthorisationNo, AuthorisationUnset}
	skipReasons         = []string{SkipDebt, SkipCredit, SkipActiveSubscription, SkipLegalHold,
		SkipBecameActive, SkipNotInScope}
	runModes = []string{RunModeSimulation, RunModeExecute, RunModeApply}
)

var inTypes = []string{
	TypeContactCreated, TypeContactUpdated, TypeCriterionChanged, TypeConsentChanged,
	TypeOptionAcquired, TypeOptionConfirmed, TypeOrderPlaced, TypePaymentRecorded,
	TypeBalanceChanged, TypeSubscriptionChanged, TypeWaitlistJoined, TypeCampaignLinkClicked,
	TypeLegalHoldChanged, TypeErasureRequested, TypeErasureConfirmed,
}

var outTypes = []string{TypeContactAnonymised, TypeContactDeleted, TypeContactSkipped, TypeRunCompleted}

// InTypes lists the types upstream systems may send.
func InTypes() []string { return slices.Clone(inTypes) }

// OutTypes lists the types Lethe publishes on LETHE_RESULTS.
func OutTypes() []string { return slices.Clone(outTypes) }

// AcceptedTypes lists the types upstream systems may send, for messages: every reason that
// tells an upstream which types to send names these, so none names a type Lethe publishes.
func AcceptedTypes() string { return strings.Join(inTypes, ", ") }

// Types lists every known type, in first, then out.
func Types() []string { return append(InTypes(), outTypes...) }

// IsInType reports whether t is a type upstream systems may send; ingest accepts only these.
func IsInType(t string) bool { return slices.Contains(inTypes, t) }

// IsKnownType reports whether t is any type of this contract.
func IsKnownType(t string) bool { return newData(t) != nil }

// Data is the payload of one event type. Decode returns a pointer to one of the structs of
// this package; New takes one (value or pointer) and derives the event type from it.
type Data interface {
	EventType() string
}

// newData returns a fresh, empty data struct for t, or nil for an unknown type.
func newData(t string) decoder {
	switch t {
	case TypeContactCreated:
		return new(ContactCreated)
	case TypeContactUpdated:
		return new(ContactUpdated)
	case TypeCriterionChanged:
		return new(CriterionChanged)
	case TypeConsentChanged:
		return new(ConsentChanged)
	case TypeOptionAcquired:
		return new(OptionAcquired)
	case TypeOptionConfirmed:
		return new(OptionConfirmed)
	case TypeOrderPlaced:
		return new(OrderPlaced)
	case TypePaymentRecorded:
		return new(PaymentRecorded)
	case TypeBalanceChanged:
		return new(BalanceChanged)
	case TypeSubscriptionChanged:
		return new(SubscriptionChanged)
	case TypeWaitlistJoined:
		return new(WaitlistJoined)
	case TypeCampaignLinkClicked:
		return new(CampaignLinkClicked)
	case TypeLegalHoldChanged:
		return new(LegalHoldChanged)
	case TypeErasureRequested:
		return new(ErasureRequested)
	case TypeErasureConfirmed:
		return new(ErasureConfirmed)
	case TypeContactAnonymised:
		return new(ContactAnonymised)
	case TypeContactDeleted:
		return new(ContactDeleted)
	case TypeContactSkipped:
		return new(ContactSkipped)
	case TypeRunCompleted:
		return new(RunCompleted)
	}
	return nil
}
