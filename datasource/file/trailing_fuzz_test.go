package file_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice-go/sluice/datasource"
	"github.com/sluice-go/sluice/datasource/file"
)

// TestFileTrailingDataRefused: a rule file with anything after its value
// (issue 13, item 13: closers such as `[…]]`, a second value, garbage) is
// refused through the file source's whole path, the format its extension
// suggests included, and loads nothing.
func TestFileTrailingDataRefused(t *testing.T) {
	const rule = `{"resource":"a","threshold":1}`
	for _, tc := range []struct{ name, data string }{
		{"rules.json", `[` + rule + `]]`},
		{"rules.json", `[]}}}`},
		{"rules.json", `[` + rule + `}}0]`},
		{"rules.json", `[` + rule + "]\n" + `[{"resource":"b","threshold":2}]`},
		{"rules.json", `[` + rule + `] garbage`},
		{"rules", `[` + rule + `]]`},
		{"rules.yaml", `[` + rule + `]]`},
		{"rules.yaml", `[` + rule + `}}0]`},
		{"rules.yaml", "- resource: a\n  threshold: 1\n]\n"},
		{"rules.yml", "- resource: a\n  threshold: 1\n---\n- resource: b\n  threshold: 2\n"},
	} {
		path := filepath.Join(t.TempDir(), tc.name)
		must(t, os.WriteFile(path, []byte(tc.data), 0o644))
		eng, err := bindFlow(t, file.New(path), datasource.Auto)
		var pe *datasource.PayloadError
		if !errors.As(err, &pe) || !errors.Is(err, datasource.ErrBadPayload) {
			t.Errorf("%s %q: Wait = %v; want a *PayloadError wrapping ErrBadPayload", tc.name, tc.data, err)
		}
		if got := eng.Rules().Flow; len(got) != 0 {
			t.Errorf("%s %q: loaded %+v", tc.name, tc.data, got)
		}
	}
}
