package file_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-go/sluice/datasource"
	"github.com/sluice-go/sluice/datasource/file"
)

// TestMissingFileAtStart: Wait says the file was not there, and the rules
// load once it is written.
func TestMissingFileAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flow.yaml")
	eng, err := bindFlow(t, file.New(path, file.WithDebounce(10*time.Millisecond)), datasource.Auto)
	if !errors.Is(err, datasource.ErrNotFound) {
		t.Fatalf("Wait: %v, want ErrNotFound", err)
	}
	replace(t, path, "- resource: GET /orders\n  threshold: 10\n")
	eventually(t, "the rules of the new file in force", func() bool { return len(eng.Rules().Flow) == 1 })
}
