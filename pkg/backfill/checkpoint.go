package backfill

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/atomicfile"
)

// checkpoint is what a re-run needs to skip what was acknowledged: the contiguous prefix by
// byte offset (so a 10 GB file is not read again to find the resume point), and the batches
// acknowledged beyond it by event range (batches complete out of order), each with a
// checksum of its events so that a changed input is sent again rather than skipped.
type checkpoint struct {
	Version  int         `json:"version"`
	Input    string      `json:"input,omitempty"`
	Mode     inputMode   `json:"mode"`
	Offset   int64       `json:"offset"`
	Line     int64       `json:"line"`
	Events   int64       `json:"events"`
	TailLen  int         `json:"tail_len"`
	TailHash string      `json:"tail_sha256"`
	Done     []doneRange `json:"done,omitempty"`
	Sent     int64       `json:"sent"`
	Rejected int64       `json:"rejected"`
	Updated  time.Time   `json:"updated"`
}

// doneRange is input events First..Last (inclusive) acknowledged or reported; CRC is the
// CRC-32C of the valid ones' bytes.
type doneRange struct {
	First int64  `json:"first"`
	Last  int64  `json:"last"`
	CRC   uint32 `json:"crc32c"`
}

const checkpointVersion = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func loadCheckpoint(path string) (*checkpoint, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, fmt.Errorf("%w: %s is not a checkpoint: %v", ErrCheckpointMismatch, path, err)
	}
	if cp.Version != checkpointVersion {
		return nil, fmt.Errorf("%w: %s has version %d, want %d", ErrCheckpointMismatch, path, cp.Version, checkpointVersion)
	}
	switch cp.Mode {
	case modeNDJSON, modeArray, modeJSON:
	default:
		return nil, fmt.Errorf("%w: %s names no input format", ErrCheckpointMismatch, path)
	}
	if cp.Offset < 0 || cp.TailLen < 0 || cp.TailLen > tailSize || int64(cp.TailLen) > cp.Offset {
		return nil, fmt.Errorf("%w: %s is damaged", ErrCheckpointMismatch, path)
	}
	return &cp, nil
}

// saveCheckpoint replaces path atomically, and durably: a checkpoint lost in a crash means
// events sent again after the dedupe window.
func saveCheckpoint(path string, cp *checkpoint) error {
	b, err := json.MarshalIndent(cp, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Replace(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}

// seekCheckpoint moves in to the checkpoint's offset and checks the bytes before it are those
// that were acknowledged.
func seekCheckpoint(in *Input, cp *checkpoint) (position, error) {
	at := position{Offset: cp.Offset, Line: cp.Line, Events: cp.Events}
	mismatch := fmt.Errorf("%w: %s was written for another input, or the input changed before line %d; pass --restart to send it all again",
		ErrCheckpointMismatch, in.state, cp.Line)
	if in.size >= 0 && cp.Offset > in.size {
		return at, mismatch
	}
	tail := make([]byte, cp.TailLen)
	from := cp.Offset - int64(cp.TailLen)
	if in.file != nil {
		if _, err := in.file.ReadAt(tail, from); err != nil {
			return at, mismatch
		}
		if _, err := in.file.Seek(cp.Offset, io.SeekStart); err != nil {
			return at, err
		}
	} else {
		if n, err := io.CopyN(io.Discard, in.r, from); err != nil || n != from {
			return at, mismatch
		}
		if _, err := io.ReadFull(in.r, tail); err != nil {
			return at, mismatch
		}
	}
	at.remember(tail)
	if at.tailHash() != cp.TailHash {
		return at, mismatch
	}
	return at, nil
}

// keepCheckpoint writes the checkpoint a few times a second while the send runs, and once
// more at the end.
func (r *sendRun) keepCheckpoint(stop <-chan struct{}) error {
	if r.in.state == "" {
		<-stop
		return nil
	}
	write := func() error {
		cp, dirty := r.tr.snapshot(absPath(r.in.name))
		if !dirty {
			return nil
		}
		return saveCheckpoint(r.in.state, cp)
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var firstErr error
	for {
		select {
		case <-t.C:
			if err := write(); err != nil && firstErr == nil {
				firstErr = err
			}
		case <-stop:
			if err := write(); err != nil && firstErr == nil {
				firstErr = err
			}
			return firstErr
		}
	}
}

func absPath(name string) string {
	if name == "standard input" {
		return "-"
	}
	if p, err := filepath.Abs(name); err == nil {
		return p
	}
	return name
}
