package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestRun(t *testing.T) {
	// The server, the client's connection and callers, and the engine have
	// all stopped by the time run returns.
	defer goleak.VerifyNone(t)
	var out bytes.Buffer
	if err := run(context.Background(), &out, 2*time.Second); err != nil {
		t.Fatalf("run: %v", err)
	}
	text := out.String()
	t.Log("\n" + text)

	rows := regexp.MustCompile(`(?m)^ +\d(\.\d)?s +(\d+) +(\d+) +(\d+)$`).FindAllStringSubmatch(text, -1)
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2 (one a second)", len(rows))
	}
	for _, r := range rows {
		if ok, _ := strconv.Atoi(r[2]); ok > limit*5/4 {
			t.Errorf("row %q: %d OK in a second, want about %d at most", r[0], ok, limit)
		}
	}
	m := regexp.MustCompile(`total  OK (\d+)  ResourceExhausted (\d+)  other (\d+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("no total line")
	}
	if ok, _ := strconv.Atoi(m[1]); ok == 0 {
		t.Error("no call returned OK")
	}
	if ex, _ := strconv.Atoi(m[2]); ex == 0 {
		t.Error("no call returned ResourceExhausted: offered ~50 calls/s against a limit of 20, yet nothing was refused")
	}
	if other, _ := strconv.Atoi(m[3]); other != 0 {
		t.Errorf("%d calls failed otherwise", other)
	}
}

func TestRunRejectsBadDuration(t *testing.T) {
	if err := run(context.Background(), &bytes.Buffer{}, 0); err == nil {
		t.Error("run with a zero duration: no error")
	}
}
