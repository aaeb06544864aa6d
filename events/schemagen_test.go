package events

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// The schemas under schemas/ are generated from the descriptions below, so the 18 files
// share one envelope and one set of rules; `go test -run TestSchemaFiles -update`
// rewrites them. They are written by hand here, not derived from the Go validation, so
// that TestSchemasAgreeWithValidate compares two independent statements of the contract.

var update = flag.Bool("update", false, "rewrite schemas/ from schemagen_test.go")

// obj is a JSON object that keeps its members in the order written, for readable files.
type obj []kv

type kv struct {
	k string
	v any
}

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(m.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func ref(name string) obj { return obj{{"$ref", "#/$defs/" + name}} }

func desc(d string, o obj) obj { return append(obj{{"description", d}}, o...) }

func object_(required []string, props obj, extra ...kv) obj {
	o := obj{{"type", "object"}}
	if len(required) > 0 {
		o = append(o, kv{"required", required})
	}
	o = append(o, kv{"properties", props})
	return append(o, extra...)
}

const (
	// The characters of Unicode's Cc and Z categories, spelled out rather than as \p{Cc}\p{Z},
	// which not every validator's regular expressions know (Python's do not).
	notIDChars       = "\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
	patternID        = "^[^" + notIDChars + "]{1,256}$"
	patternContactID = "^[^" + notIDChars + "/]{1,256}$"
	patternToken     = `^[A-Za-z0-9_-]{1,64}$`
	patternTimestamp = `^(19|[2-9][0-9])[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	patternSealed    = `^sealed:v1:[\s\S]`
	patternEmail     = `^[^@\t\n\f\r ]+@[^@\t\n\f\r ]+$`
	patternDate      = `^[0-9]{4}-[0-9]{2}-[0-9]{2}$`
	patternName      = `^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`
	patternCustom    = `^[A-Za-z0-9_-]{1,64}$`
	patternCurrency  = `^[A-Z]{3}$`
)

// commonDefs are the rules every schema shares.
func commonDefs() obj {
	emptyOrSealed := []any{obj{{"const", ""}}, ref("sealed")}
	return obj{
		{"id", desc("An id as upstream systems write them: 1 to 256 characters, no control character or whitespace.",
			obj{{"type", "string"}, {"pattern", patternID}})},
		{"contact_id", desc("A contact id: an id without / (it stands in URL paths).",
			obj{{"type", "string"}, {"pattern", patternContactID}})},
		{"token", desc("An institution or organisation: a NATS subject token.",
			obj{{"type", "string"}, {"pattern", patternToken}})},
		{"timestamp", desc("RFC 3339, upper-case T and Z, no leap second, year 1900 or later.",
			obj{{"type", "string"}, {"format", "date-time"}, {"pattern", patternTimestamp}})},
		{"sealed", desc("A personal value sealed by Lethe's ingest (AES-GCM under the contact's key).",
			obj{{"type", "string"}, {"pattern", patternSealed}})},
		{"personal", desc("Personal: sealed by ingest before the event is stored; may be sealed already.",
			obj{{"type", "string"}})},
		{"text", desc("Clear free text.", obj{{"type", "string"}, {"maxLength", maxText}})},
		{"name", desc("Dot-separated parts of A-Z, a-z, 0-9, _ and -.",
			obj{{"type", "string"}, {"maxLength", maxName}, {"pattern", patternName}})},
		{"email", desc("Personal: an e-mail address, empty (cleared) or sealed.",
			obj{{"type", "string"}, {"anyOf", append(emptyOrSealed, obj{{"pattern", patternEmail}})}})},
		{"birth_date", desc("Personal: YYYY-MM-DD, empty (cleared) or sealed.",
			obj{{"type", "string"}, {"anyOf", append(emptyOrSealed, obj{{"format", "date"}, {"pattern", patternDate}})}})},
		{"currency", desc("ISO 4217.", obj{{"type", "string"}, {"pattern", patternCurrency}})},
		{"int64", obj{{"type", "integer"}, {"minimum", json.Number("-9223372036854775808")}, {"maximum", json.Number("9223372036854775807")}}},
		{"count", obj{{"type", "integer"}, {"minimum", 0}, {"maximum", json.Number("9223372036854775807")}}},
	}
}

func profileDefs() obj {
	personal := ref("personal")
	return obj{
		{"address", object_(nil, obj{
			{"line1", personal}, {"line2", personal}, {"postcode", personal}, {"city", personal},
			{"country", desc("Stays clear: kept after anonymisation.", ref("text"))},
		})},
		{"profile", desc("Every member optional. In an update, absent = unchanged and \"\" = cleared.",
			object_(nil, obj{
				{"email", ref("email")},
				{"first_name", personal}, {"last_name", personal}, {"phone", personal},
				{"company", desc("Stays clear: a company customer's name replaces the person's on anonymisation.", ref("text"))},
				{"address", ref("address")},
				{"birth_date", ref("birth_date")},
				{"remark", personal},
				{"custom", desc("An upstream's own fields, name → text, all personal.", obj{
					{"type", "object"},
					{"propertyNames", obj{{"pattern", patternCustom}}},
					{"additionalProperties", personal},
				})},
			}))},
	}
}

func itemDefs() obj {
	return obj{
		{"item", object_([]string{"product_id", "dated"}, obj{
			{"product_id", ref("id")},
			{"dated", obj{{"type", "boolean"}}},
			{"valid_at", desc("The product's validity or performance date; required when dated.", ref("timestamp"))},
			{"beneficiary", object_(nil, obj{{"first_name", ref("personal")}, {"last_name", ref("personal")}})},
		},
			kv{"if", obj{{"required", []string{"dated"}}, {"properties", obj{{"dated", obj{{"const", true}}}}}}},
			kv{"then", obj{{"required", []string{"valid_at"}}}},
		)},
		{"items", obj{{"type", "array"}, {"minItems", 1}, {"items", ref("item")}}},
	}
}

func outcomeProps(extra ...kv) obj {
	return append(obj{
		{"institution", ref("token")},
		{"contact_id", desc("Equals the event's subject.", ref("contact_id"))},
		{"run_id", ref("id")},
		{"request_id", ref("id")},
		{"at", ref("timestamp")},
	}, extra...)
}

var oneRunOrRequest = kv{"oneOf", []any{obj{{"required", []string{"run_id"}}}, obj{{"required", []string{"request_id"}}}}}

type schemaSpec struct {
	typ, doc string
	data     obj
	defs     obj
	// noSubject: the subject is optional (the event is not about a contact).
	noSubject bool
}

func schemaSpecs() []schemaSpec {
	ts := ref("timestamp")
	return []schemaSpec{
		{typ: TypeContactCreated, doc: "A contact was created upstream; created_at is its recency baseline.",
			data: object_([]string{"role", "created_at"}, obj{
				{"role", obj{{"enum", roles}}},
				{"created_at", ts},
				{"profile", ref("profile")},
			}), defs: profileDefs()},
		{typ: TypeContactUpdated, doc: "Profile members changed; no effect on recency.",
			data: object_([]string{"profile", "updated_at"}, obj{
				{"profile", ref("profile")},
				{"updated_at", ts},
			}), defs: profileDefs()},
		{typ: TypeCriterionChanged, doc: "A contact criterion changed; changed_at counts for recency.",
			data: object_([]string{"criterion", "value", "changed_at"}, obj{
				{"criterion", ref("name")},
				{"value", ref("personal")},
				{"changed_at", ts},
			})},
		{typ: TypeConsentChanged, doc: "Authorisations changed; counts for recency only if one is yes afterwards.",
			data: object_([]string{"authorisations", "changed_at"}, obj{
				{"authorisations", obj{
					{"type", "object"},
					{"minProperties", 1},
					{"propertyNames", obj{{"maxLength", maxName}, {"pattern", patternName}}},
					{"additionalProperties", obj{{"enum", authorisationValues}}},
				}},
				{"changed_at", ts},
			})},
		{typ: TypeOptionAcquired, doc: "An option was taken; recency is the latest over items (dated: valid_at, else at).",
			data: object_([]string{"option_id", "at", "items"}, obj{
				{"option_id", ref("id")}, {"at", ts}, {"items", ref("items")},
			}), defs: itemDefs()},
		{typ: TypeOptionConfirmed, doc: "An option was confirmed; recency as for an acquired option.",
			data: object_([]string{"option_id", "at", "items"}, obj{
				{"option_id", ref("id")}, {"at", ts}, {"items", ref("items")},
			}), defs: itemDefs()},
		{typ: TypeOrderPlaced, doc: "An order where the contact is buyer or attendee; makes the contact a customer.",
			data: object_([]string{"order_id", "ordered_at", "contact_role", "items"}, obj{
				{"order_id", ref("id")}, {"ordered_at", ts},
				{"contact_role", obj{{"enum", contactRoles}}},
				{"items", ref("items")},
			}), defs: itemDefs()},
		{typ: TypePaymentRecorded, doc: "A payment; a payment alone does not count for recency.",
			data: object_([]string{"amount", "currency", "paid_at"}, obj{
				{"amount", desc("Minor units.", ref("int64"))}, {"currency", ref("currency")}, {"paid_at", ts},
			})},
		{typ: TypeBalanceChanged, doc: "The contact's balance; a non-zero balance blocks erasure.",
			data: object_([]string{"balance", "currency", "at"}, obj{
				{"balance", desc("Minor units; negative: the contact owes.", ref("int64"))},
				{"currency", ref("currency")}, {"at", ts},
			})},
		{typ: TypeSubscriptionChanged, doc: "A subscription's state; one not terminated (or only initialized) blocks erasure.",
			data: object_([]string{"subscription_id", "status", "at"}, obj{
				{"subscription_id", ref("id")},
				{"status", obj{{"enum", subscriptionStates}}},
				{"at", ts},
			})},
		{typ: TypeWaitlistJoined, doc: "Sign-up on a waiting list; joined_at counts for recency.",
			data: object_([]string{"waitlist_id", "joined_at"}, obj{
				{"waitlist_id", ref("id")}, {"joined_at", ts},
			})},
		{typ: TypeCampaignLinkClicked, doc: "An explicit click on a tracked link; clicked_at counts for recency.",
			data: object_([]string{"campaign_id", "link_id", "clicked_at"}, obj{
				{"campaign_id", ref("id")}, {"link_id", ref("id")}, {"clicked_at", ts},
			})},
		{typ: TypeLegalHoldChanged, doc: "A legal hold was set or lifted; a hold blocks erasure.",
			data: object_([]string{"held", "at"}, obj{
				{"held", obj{{"type", "boolean"}}}, {"reason", ref("personal")}, {"at", ts},
			})},
		{typ: TypeErasureRequested, doc: "Starts an on-demand erasure of the contact.",
			data: object_([]string{"requested_at"}, obj{
				{"requested_at", ts}, {"reason", ref("personal")},
			})},
		{typ: TypeErasureConfirmed, doc: "A downstream destination erased its copy of what an outcome on LETHE_RESULTS named; the subject is that outcome's contact id.",
			data: object_([]string{"destination", "outcome_id", "confirmed_at"}, obj{
				{"destination", desc("The destination's name in lethe.yaml.", ref("token"))},
				{"outcome_id", desc("The CloudEvent id of the outcome confirmed.", ref("id"))},
				{"confirmed_at", ts},
			})},
		{typ: TypeContactAnonymised, doc: "Lethe anonymised the contact. data.institution and data.contact_id equal the institution extension and the subject.",
			data: object_([]string{"institution", "contact_id", "at", "erased_fields"}, outcomeProps(
				kv{"erased_fields", desc("Names of the erased fields, never values.", obj{
					{"type", "array"}, {"items", ref("name")},
				})},
			), oneRunOrRequest)},
		{typ: TypeContactDeleted, doc: "Lethe deleted the contact (a prospect). data.institution and data.contact_id equal the institution extension and the subject.",
			data: object_([]string{"institution", "contact_id", "at"}, outcomeProps(), oneRunOrRequest)},
		{typ: TypeContactSkipped, doc: "The contact was due but blocked. data.institution and data.contact_id equal the institution extension and the subject.",
			data: object_([]string{"institution", "contact_id", "at", "reason"}, outcomeProps(
				kv{"reason", obj{{"enum", skipReasons}}},
			), oneRunOrRequest)},
		{typ: TypeRunCompleted, doc: "A retention run finished. data.institution equals the institution extension.",
			noSubject: true,
			data: object_([]string{"institution", "run_id", "mode", "at", "counts"}, obj{
				{"institution", ref("token")},
				{"run_id", ref("id")},
				{"mode", obj{{"enum", runModes}}},
				{"at", ts},
				{"counts", object_([]string{"anonymised", "deleted", "skipped"}, obj{
					{"anonymised", ref("count")}, {"deleted", ref("count")}, {"skipped", ref("count")},
				})},
				{"skipped_by_reason", obj{
					{"type", "object"},
					{"propertyNames", obj{{"enum", skipReasons}}},
					{"additionalProperties", ref("count")},
				}},
			})},
	}
}

// absentOr accepts null and "" as well: the SDK reads both as "attribute absent".
func absentOr(s obj) obj {
	return obj{{"anyOf", []any{obj{{"type", "null"}}, obj{{"const", ""}}, s}}}
}

func buildSchema(s schemaSpec) obj {
	// time is optional, as in the CloudEvents spec: the dates that count are in data.
	required := []string{"specversion", "id", "source", "type", "subject", "institution", "data"}
	subject := desc("The contact id.", ref("contact_id"))
	if s.noSubject {
		required = []string{"specversion", "id", "source", "type", "institution", "data"}
		subject = absentOr(ref("contact_id"))
	}
	defs := commonDefs()
	defs = append(defs, s.defs...)
	defs = append(defs, kv{"data", desc("Members this version does not know are allowed, and dropped by ingest.", s.data)})
	return obj{
		{"$schema", "https://json-schema.org/draft/2020-12/schema"},
		{"$id", "https://github.com/lethe-gdpr/lethe/events/schemas/" + s.typ + ".json"},
		{"title", s.typ},
		{"description", s.doc + " A structured-mode CloudEvent 1.0 (application/cloudevents+json)."},
		{"type", "object"},
		{"required", required},
		{"propertyNames", desc("CloudEvents attribute names: lower-case letters and digits (so no data_base64: data is JSON).",
			obj{{"pattern", "^[a-z0-9]+$"}})},
		{"properties", obj{
			{"specversion", obj{{"const", "1.0"}}},
			{"id", ref("id")},
			{"source", obj{{"type", "string"}, {"minLength", 1}, {"format", "uri-reference"}}},
			{"type", obj{{"const", s.typ}}},
			{"time", absentOr(ref("timestamp"))},
			{"subject", subject},
			{"datacontenttype", absentOr(obj{{"type", "string"}, {"pattern", `^application/json(;[\s\S]*)?$`}})},
			{"dataschema", desc("An absolute URI (RFC 3986, section 4.3), as the CloudEvents SDK requires.",
				absentOr(obj{{"type", "string"}, {"pattern", "^[A-Za-z][A-Za-z0-9+.-]*:"}}))},
			{"institution", desc("The tenant id (extension attribute).", ref("token"))},
			{"organisation", desc("The organisation within the institution (extension attribute).",
				obj{{"anyOf", []any{obj{{"type", "null"}}, ref("token")}}})},
			{"data", ref("data")},
		}},
		{"additionalProperties", desc("Other extension attributes, as the CloudEvents SDK accepts them.",
			obj{{"anyOf", []any{
				obj{{"type", []string{"string", "boolean", "null"}}},
				obj{{"type", "number"}, {"minimum", -2147483648}, {"maximum", 2147483647}},
			}}})},
		{"$defs", defs},
	}
}

func TestSchemaFiles(t *testing.T) {
	specs := schemaSpecs()
	if len(specs) != len(Types()) {
		t.Fatalf("%d schema specs for %d types", len(specs), len(Types()))
	}
	for _, s := range specs {
		t.Run(s.typ, func(t *testing.T) {
			want, err := json.MarshalIndent(buildSchema(s), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, '\n')
			file := filepath.Join("schemas", s.typ+".json")
			if *update {
				if err := os.WriteFile(file, want, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := Schema(s.typ)
			if err != nil {
				t.Fatal(err)
			}
			if !*update && !bytes.Equal(got, want) {
				t.Errorf("%s is stale: run go test -run TestSchemaFiles -update", file)
			}
		})
	}
}
