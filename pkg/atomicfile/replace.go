package atomicfile

import (
	"io"
	"os"
	"path/filepath"
)

// Replace writes path through write, complete or not at all: into a temporary file of the
// same directory (mode 0600, readable by its owner only), synced, then renamed over path. A
// cut export or a crash mid-checkpoint leaves the previous file, or none, never half of one.
func Replace(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.part")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
