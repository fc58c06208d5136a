package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestRun(t *testing.T) {
	defer goleak.VerifyNone(t) // Close stopped the coarse clock's goroutine
	var out bytes.Buffer
	if err := run(&out, 20_000); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	lines := regexp.MustCompile(`(?m)^  (.+?) +[\d.]+ ns a call   300µs call recorded as (\S+)$`).FindAllStringSubmatch(out.String(), -1)
	if len(lines) != 2 {
		t.Fatalf("%d result lines, want 2:\n%s", len(lines), out.String())
	}
	precise, err := time.ParseDuration(strings.Replace(lines[0][2], "µs", "us", 1))
	if err != nil {
		t.Fatal(err)
	}
	// The precise engine records at least the 300 µs the call spun for.
	if precise < 300*time.Microsecond {
		t.Errorf("precise clock recorded %v for a 300µs call", precise)
	}
	if _, err := time.ParseDuration(strings.Replace(lines[1][2], "µs", "us", 1)); err != nil {
		t.Errorf("coarse clock's reading %q: %v", lines[1][2], err)
	}
}
