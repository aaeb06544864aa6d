package main

import (
	"errors"
	"flag"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/client"
)

// What the client commands refuse before asking anything of a server.
var (
	errNoServer = errors.New("no server: pass --server or set LETHE_SERVER")
	errNoToken  = errors.New("no token: pass --token or set LETHE_TOKEN")
)

// clientFlags are the settings every client command shares, each with its environment twin.
type clientFlags struct {
	Server  string
	Token   string
	Timeout time.Duration
}

// define adds --server, --token (its help naming the scope the command needs) and --timeout.
func (c *clientFlags) define(fs *flag.FlagSet, token string, timeout time.Duration, timeoutHelp string) {
	fs.StringVar(&c.Server, "server", "http://127.0.0.1:8080", "URL of the running lethe serve")
	fs.StringVar(&c.Token, "token", "", "bearer token with the "+token)
	fs.DurationVar(&c.Timeout, "timeout", timeout, timeoutHelp)
}

// client checks the settings and returns the client they describe.
func (c clientFlags) client() (*client.Client, error) {
	if c.Timeout <= 0 {
		return nil, errors.New("--timeout must be positive")
	}
	if c.Token == "" {
		return nil, errNoToken
	}
	if c.Server == "" {
		return nil, errNoServer
	}
	return client.New(c.Server, c.Token, client.WithUserAgent("lethe/"+version))
}
