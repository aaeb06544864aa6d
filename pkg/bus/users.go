package bus

import (
	"fmt"
	"slices"

	"github.com/nats-io/nats-server/v2/server"
	"golang.org/x/crypto/bcrypt"

	"github.com/lethe-gdpr/lethe/pkg/config"
)

// ServiceUser is the bus user the services connect as (config.ServiceBusUser): the only one
// that reaches LETHE_ACTIVITY, LETHE_COMMANDS, LETHE_DLQ and LETHE_ERASURES.
const ServiceUser = config.ServiceBusUser

// InboxPrefix is the reply-inbox prefix user must connect with
// (nats.CustomInboxPrefix(InboxPrefix(user))). `_INBOX.>` is shared by every connection, so
// each user may subscribe only under its own prefix: a user that could subscribe to
// `_INBOX.>` would read the replies, and so the results, of every other.
func InboxPrefix(user string) string { return "_INBOX." + user }

// ConsumerDurable is the name of user's durable consumer on LETHE_RESULTS for institution, or
// for any of its institutions when institution is "". A consumer user may create, read,
// acknowledge and delete only durables so named.
func ConsumerDurable(user, institution string) string {
	if institution == "" {
		return user
	}
	return user + "_" + institution
}

// ServerUsers turns the services' own user (full permissions, its password hashed here so the
// server keeps no plain text) and lethe.yaml's bus users into the users of a nats-server,
// each with the least privilege of its role. Pass them as EmbeddedOptions.Users; an external
// server is configured with the same permissions (deploy/nats/nats.conf).
func ServerUsers(servicePassword string, users []config.BusUser) ([]*server.User, error) {
	if servicePassword == "" {
		return nil, fmt.Errorf("%w: the service user needs a password", ErrInvalidConfig)
	}
	// The password is random and long, so the hash's cost adds nothing but start-up time.
	hash, err := bcrypt.GenerateFromPassword([]byte(servicePassword), bcrypt.MinCost)
	if err != nil {
		return nil, fmt.Errorf("bus: hash the service password: %w", err)
	}
	out := []*server.User{{Username: ServiceUser, Password: string(hash)}}
	for _, u := range users {
		if u.Name == ServiceUser {
			return nil, fmt.Errorf("%w: bus user %q is the services' own", ErrInvalidConfig, u.Name)
		}
		perms, err := Permissions(u)
		if err != nil {
			return nil, err
		}
		out = append(out, &server.User{Username: u.Name, Password: u.PasswordBcrypt, Permissions: perms})
	}
	return out, nil
}

// Permissions is what user u may publish and subscribe to, by role:
//
//   - publisher: publish to lethe.inbox.<institution> of its institutions (as a JetStream
//     publish, whose ack comes back on its inbox);
//   - consumer: create its durables on LETHE_RESULTS filtered to one of its institutions
//     ($JS.API.CONSUMER.CREATE.LETHE_RESULTS.<durable>.lethe.result.<institution>.>, the form
//     nats.go's jetstream uses for a single FilterSubject; the server refuses a filter that
//     differs from the subject's), read their info, pull, acknowledge and delete them, and
//     read the stream's and the account's info. The unfiltered create
//     ($JS.API.CONSUMER.CREATE.LETHE_RESULTS.<durable>) and the legacy durable create are not
//     granted: they would let the filter be anything, another institution's results included.
//
// A user of either role that speaks for a destination (config.BusUser.Destination) may also
// publish to ConfirmationSubject(<institution>, <destination>) of its institutions: its
// confirmations, and nothing else, as ingest checks.
//
// Both may subscribe to their own reply inbox (InboxPrefix) only.
func Permissions(u config.BusUser) (*server.Permissions, error) {
	sub := &server.SubjectPermission{Allow: []string{InboxPrefix(u.Name) + ".>"}}
	var pub []string
	switch u.Role {
	case config.RolePublisher:
		for _, in := range u.Institutions {
			pub = append(pub, InboxSubject(in))
		}
	case config.RoleConsumer:
		pub = []string{"$JS.API.INFO", "$JS.API.STREAM.INFO." + StreamResults}
		grant := func(durable string, institutions ...string) {
			for _, in := range institutions {
				pub = append(pub, fmt.Sprintf("$JS.API.CONSUMER.CREATE.%s.%s.%s.>", StreamResults, durable, resultsPrefix(in)))
			}
			for _, op := range []string{"INFO", "MSG.NEXT", "DELETE"} {
				pub = append(pub, fmt.Sprintf("$JS.API.CONSUMER.%s.%s.%s", op, StreamResults, durable))
			}
			// Acks reply to $JS.ACK.<stream>.<durable>.<counts…> (the server's default, v1 form).
			pub = append(pub, fmt.Sprintf("$JS.ACK.%s.%s.>", StreamResults, durable))
		}
		grant(ConsumerDurable(u.Name, ""), u.Institutions...)
		for _, in := range u.Institutions {
			grant(ConsumerDurable(u.Name, in), in)
		}
	default:
		return nil, fmt.Errorf("%w: bus user %q has role %q (publisher or consumer)", ErrInvalidConfig, u.Name, u.Role)
	}
	if u.Destination != "" {
		for _, in := range u.Institutions {
			pub = append(pub, ConfirmationSubject(in, u.Destination))
		}
	}
	if len(u.Institutions) == 0 {
		return nil, fmt.Errorf("%w: bus user %q has no institution", ErrInvalidConfig, u.Name)
	}
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: slices.Compact(pub)},
		Subscribe: sub,
	}, nil
}

// resultsPrefix is the subject prefix of one institution's outcomes on LETHE_RESULTS.
func resultsPrefix(institution string) string { return subjectResult + "." + institution }
