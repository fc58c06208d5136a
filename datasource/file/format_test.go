package file_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/datasource"
	"github.com/sluice-go/sluice/datasource/file"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// bindFlow binds src's flow rules, read in format, to a new engine until
// the test ends, and returns the engine and what Wait says within 5 s.
func bindFlow(t *testing.T, src *file.Source, format datasource.Format) (*sluice.Engine, error) {
	t.Helper()
	eng := sluice.New(sluice.WithLogger(quiet))
	t.Cleanup(func() { eng.Close() })
	b, err := datasource.Start(context.Background(), eng, src,
		datasource.Config{Kind: datasource.Flow, Format: format, Logger: quiet})
	must(t, err)
	t.Cleanup(func() { b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return eng, b.Wait(ctx)
}

// TestFormatFromExtension binds files with the default Config.Format: the
// extension says how to read them, and an error says which format was
// used and why.
func TestFormatFromExtension(t *testing.T) {
	const (
		yamlRules = "- resource: a\n  threshold: 10\n"
		jsonRules = `[{"resource":"a","threshold":10}]`
	)
	for _, tc := range []struct {
		name, data string
		format     datasource.Format
		err        string // "" if it loads, else in Wait's error
	}{
		{"rules.yaml", yamlRules, datasource.Auto, ""},
		{"rules.yml", yamlRules, datasource.Auto, ""},
		{"RULES.YAML", yamlRules, datasource.Auto, ""},
		{"rules.json", jsonRules, datasource.Auto, ""},
		{"rules", jsonRules, datasource.Auto, ""},
		{"rules.yaml", "- resource: a\n  threshold: [\n", datasource.Auto, "read as YAML, from the file's extension"},
		{"rules.json", yamlRules, datasource.Auto, "read as JSON, from the file's extension"},
		{"rules.conf", yamlRules, datasource.Auto, "read as JSON, the default"},
		{"rules.yaml", jsonRules, datasource.JSON, ""},
		{"rules.yaml", yamlRules, datasource.JSON, "read as JSON, from Config.Format"},
	} {
		t.Run(tc.name+" "+tc.format.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.name)
			write(t, path, tc.data)
			eng, err := bindFlow(t, file.New(path), tc.format)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("Wait: %v", err)
			case tc.err == "" && len(eng.Rules().Flow) != 1:
				t.Fatalf("flow rules %+v, want one", eng.Rules().Flow)
			case tc.err != "" && (!errors.Is(err, datasource.ErrBadPayload) || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("Wait: %v, want a bad payload saying %q", err, tc.err)
			}
		})
	}
}
