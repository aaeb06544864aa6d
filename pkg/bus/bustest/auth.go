package bustest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// RunAuthServer starts an embedded JetStream server, as RunServer, that only the services'
// user (with servicePassword) and users may connect to, each with the permissions of
// bus.ServerUsers; it returns the server and a connection as the services' user.
func RunAuthServer(t testing.TB, servicePassword string, users ...config.BusUser) (*server.Server, *nats.Conn) {
	t.Helper()
	su, err := bus.ServerUsers(servicePassword, users)
	if err != nil {
		t.Fatalf("bustest: users: %v", err)
	}
	s, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: t.TempDir(), Port: -1, Users: su, ReadyTimeout: time.Minute})
	if err != nil {
		t.Fatalf("bustest: start server: %v", err)
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	c, err := ConnectAs(t, s.ClientURL(), bus.ServiceUser, servicePassword)
	if err != nil {
		t.Fatalf("bustest: connect as %s: %v", bus.ServiceUser, err)
	}
	return s, c.Conn
}

// BusUser is a lethe.yaml bus user with password hashed at bcrypt's lowest cost, so tests do
// not spend seconds hashing.
func BusUser(t testing.TB, name, role, password string, institutions ...string) config.BusUser {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return config.BusUser{Name: name, Role: role, Institutions: institutions, PasswordBcrypt: string(h)}
}

// Client is a connection as one bus user, with the permission violations the server has
// reported on it (they do not close the connection; the refused message is just dropped).
type Client struct {
	*nats.Conn
	mu         sync.Mutex
	violations []string
}

// ConnectAs connects to url as user, with the reply-inbox prefix its permissions require;
// the connection is closed when the test ends.
func ConnectAs(t testing.TB, url, user, password string, opts ...nats.Option) (*Client, error) {
	t.Helper()
	c := &Client{}
	nc, err := nats.Connect(url, append([]nats.Option{
		nats.UserInfo(user, password),
		nats.CustomInboxPrefix(bus.InboxPrefix(user)),
		nats.Timeout(30 * time.Second),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				c.mu.Lock()
				c.violations = append(c.violations, err.Error())
				c.mu.Unlock()
			}
		}),
	}, opts...)...)
	if err != nil {
		return nil, err
	}
	c.Conn = nc
	t.Cleanup(nc.Close)
	return c, nil
}

// Refused waits until the server has reported that this connection may not publish to
// (op "Publish") or subscribe to (op "Subscription") subject.
func (c *Client) Refused(t testing.TB, op, subject string) {
	t.Helper()
	want := fmt.Sprintf("Permissions Violation for %s to %q", op, subject)
	testkit.Eventually(t, want, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, v := range c.violations {
			if strings.Contains(v, want) {
				return nil
			}
		}
		return fmt.Errorf("violations so far: %q", c.violations)
	})
}

// Violations are the permission violations reported so far.
func (c *Client) Violations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.violations)
}
