package api

// RegisterView is the register of processing activities of one institution, as
// GET /v1/institutions/{inst}/register answers in JSON.
type RegisterView struct {
	Institution string `json:"institution"`
	// Declared is false when lethe.yaml declares no register for the institution and the
	// default register (config.DefaultRegister) is shown.
	Declared         bool                `json:"declared"`
	InactivityMonths int                 `json:"inactivity_months"`
	Entries          []RegisterEntryView `json:"entries"`
	// ReceiptKey is the public key the instance's erasure receipts verify with, also served at
	// GET /v1/receipts/key; absent when the server signs none.
	ReceiptKey *ReceiptKeyView `json:"receipt_key,omitempty"`
}

// ReceiptKeyView is the receipts' public key: algorithm, id and the key (base64 of its 32 bytes).
type ReceiptKeyView struct {
	Algorithm string `json:"alg"`
	KeyID     string `json:"key_id"`
	PublicKey string `json:"public_key"`
}

// RegisterEntryView is one processing activity.
type RegisterEntryView struct {
	Category    string `json:"category"`
	Description string `json:"description"`
	// Fields are the projection's fields the category covers.
	Fields     []string      `json:"fields"`
	Purpose    string        `json:"purpose"`
	LegalBasis string        `json:"legal_basis"`
	Recipients []string      `json:"recipients"`
	Retention  RetentionView `json:"retention"`
	// RetentionText is the rule in words ("12 months after collection").
	RetentionText string `json:"retention_text"`
	// EnforcedBy says which part of the engine applies the clock.
	EnforcedBy string `json:"enforced_by"`
}

// RetentionView is the entry's clock, as lethe.yaml writes it.
type RetentionView struct {
	AfterLastActivity string `json:"after_last_activity,omitempty"`
	AfterCollection   string `json:"after_collection,omitempty"`
	UntilEvent        string `json:"until_event,omitempty"`
}
