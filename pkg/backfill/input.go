package backfill

import (
	"fmt"
	"io"
	"os"
)

// Input is what a backfill reads, and where its checkpoint lives.
type Input struct {
	name  string // for messages
	r     io.Reader
	file  *os.File // nil for standard input, which cannot seek
	size  int64    // -1 when unknown
	state string   // checkpoint path; "" for none
	close func()
}

// Open opens path, or stdin when path is "-". The checkpoint is state, by default
// path.send-progress for a file; standard input has none unless state names one.
func Open(path, state string, stdin io.Reader) (*Input, error) {
	if path == "-" {
		return &Input{name: "standard input", r: stdin, size: -1, state: state, close: func() {}}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s is a directory", path)
	}
	in := &Input{name: path, r: f, file: f, size: fi.Size(), state: state, close: func() { f.Close() }}
	if !fi.Mode().IsRegular() {
		in.file, in.size = nil, -1 // a pipe or a device: read it like standard input
	}
	if in.state == "" {
		in.state = path + ".send-progress"
	}
	return in, nil
}

// Close closes the file; standard input is left open.
func (in *Input) Close() { in.close() }
