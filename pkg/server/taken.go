package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
)

// lockData takes <data>/lethe.lock for this process, so that a second lethe serve on the same
// --data stops at once saying so, instead of waiting on the embedded server's port or failing
// on the store's own lock with "resource temporarily unavailable". The lock is the kernel's
// (flock): it goes with the process, kill -9 included.
func lockData(data string) (release func(), err error) {
	path := filepath.Join(data, "lethe.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--data %s: %w", data, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("--data %s is in use by another lethe serve (it holds %s): stop that one, or give this one another --data", data, path)
		}
		return nil, fmt.Errorf("--data %s: lock %s: %w", data, path, err)
	}
	return func() { _ = f.Close() }, nil
}

// portTaken explains a listen address already in use: which flag, and what to pass instead.
func portTaken(flag, addr string, err error) error {
	if !errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s %s: %w", flag, addr, err)
	}
	host, _, _ := net.SplitHostPort(addr)
	return fmt.Errorf("%s %s: the port is taken (another lethe serve?): stop it, or pass %s %s:0 for any free port", flag, addr, flag, host)
}

// checkPortFree refuses, before anything starts, a listen address another process holds, so
// that the embedded NATS server does not wait for its readiness on a port it cannot have.
func checkPortFree(flag, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "0" {
		return nil // nothing to check; the listener names the problem
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return portTaken(flag, addr, err)
	}
	return ln.Close()
}
