package datasource_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/datasource"
)

// suggesting is a chanSource that suggests a format.
type suggesting struct {
	*chanSource
	format datasource.Format
	why    string
}

func (s suggesting) SuggestFormat() (datasource.Format, string) { return s.format, s.why }

// TestBindingChoosesFormat: Config.Format wins, else the source's
// suggestion, else JSON; an unreadable payload's error says which format
// was used and why.
func TestBindingChoosesFormat(t *testing.T) {
	const yamlOnly = "- resource: a\n  threshold: 10\n" // JSON cannot read it
	for _, tc := range []struct {
		name       string
		configured datasource.Format
		suggests   *suggesting // nil: the source suggests nothing
		want       string      // in the error for a bad payload
	}{
		{"default", datasource.Auto, nil, "read as JSON, the default"},
		{"no suggestion", datasource.Auto, &suggesting{format: datasource.Auto}, "read as JSON, the default"},
		{"suggested", datasource.Auto, &suggesting{format: datasource.YAML, why: "from the file's extension"},
			"read as YAML, from the file's extension"},
		{"suggested without a reason", datasource.Auto, &suggesting{format: datasource.YAML},
			"read as YAML, suggested by the source"},
		{"configured", datasource.JSON, &suggesting{format: datasource.YAML, why: "from the file's extension"},
			"read as JSON, from Config.Format"},
		{"configured YAML", datasource.YAML, nil, "read as YAML, from Config.Format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startWith(t, datasource.Config{Kind: datasource.Flow, Format: tc.configured},
				func(s *chanSource) datasource.Source {
					if tc.suggests == nil {
						return s
					}
					sg := *tc.suggests
					sg.chanSource = s
					return sg
				})
			f.put(`[{"resource":`)
			err := f.b.Wait(context.Background())
			if !errors.Is(err, datasource.ErrBadPayload) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Wait: %v, want a bad payload saying %q", err, tc.want)
			}
			f.put(yamlOnly)
			isYAML := strings.Contains(tc.want, "YAML")
			if loaded := len(f.thresholds()) == 1; loaded != isYAML {
				t.Errorf("YAML payload loaded=%v, want %v", loaded, isYAML)
			}
		})
	}
}

// TestStartRefusesSuggestedFormat: a suggestion that does not go with the
// Kind fails Start as a configured one does, saying where it came from.
func TestStartRefusesSuggestedFormat(t *testing.T) {
	eng := sluice.New(sluice.WithLogger(quiet))
	defer eng.Close()
	for _, bad := range []datasource.Format{datasource.SentinelJSON, datasource.Format(9)} {
		src := suggesting{chanSource: newChanSource(), format: bad, why: "from the key's name"}
		_, err := datasource.Start(context.Background(), eng, src, datasource.Config{Kind: datasource.All})
		if !errors.Is(err, datasource.ErrUnsupported) || !strings.Contains(err.Error(), "from the key's name") {
			t.Errorf("Start(All) suggested %v: %v, want ErrUnsupported saying why the format was chosen", bad, err)
		}
	}
}

// TestDecodeAuto: Decode reads Auto as JSON, and says JSON.
func TestDecodeAuto(t *testing.T) {
	r, err := datasource.Decode(datasource.Flow, datasource.Auto, []byte(`[{"resource":"a","threshold":10}]`))
	if err != nil || len(r.Flow) != 1 || r.Flow[0].Threshold != 10 {
		t.Fatalf("Decode(Auto) of JSON: %+v, %v", r, err)
	}
	_, err = datasource.Decode(datasource.Flow, datasource.Auto, []byte("- resource: a\n"))
	if err == nil || !strings.Contains(err.Error(), "JSON") || strings.Contains(err.Error(), "Auto") {
		t.Errorf("Decode(Auto) of YAML: %v, want an error naming JSON, not Auto", err)
	}
	if got := datasource.Auto.String(); got != "Auto" {
		t.Errorf("Auto.String() = %q", got)
	}
}
