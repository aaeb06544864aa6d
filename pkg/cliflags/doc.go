// Package cliflags is the command line shared by lethe serve and the client commands: every
// flag has an environment twin (--nats-url is LETHE_NATS_URL), and the command line wins over
// the environment, which wins over the default.
package cliflags
