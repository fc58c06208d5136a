package file_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/datasource"
	"github.com/sluice-go/sluice/datasource/file"
)

// TestMissingFileAtStart: Wait says the file was not there, and the rules
// load once it is written.
func TestMissingFileAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flow.yaml")
	eng := sluice.New(sluice.WithLogger(quiet))
	defer eng.Close()
	b, err := datasource.Start(context.Background(), eng, file.New(path, file.WithDebounce(10*time.Millisecond)),
		datasource.Config{Kind: datasource.Flow, Logger: quiet})
	must(t, err)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Wait(ctx); !errors.Is(err, datasource.ErrNotFound) {
		t.Fatalf("Wait: %v, want ErrNotFound", err)
	}
	replace(t, path, "- resource: GET /orders\n  threshold: 10\n")
	eventually(t, "the rules of the new file in force", func() bool { return len(eng.Rules().Flow) == 1 })
}
