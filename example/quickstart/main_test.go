package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestRun(t *testing.T) {
	// Every goroutine run starts (callers, the engine's listener) has
	// stopped by the time it returns.
	defer goleak.VerifyNone(t)
	var out bytes.Buffer
	if err := run(context.Background(), &out, 2*time.Second); err != nil {
		t.Fatalf("run: %v", err)
	}
	text := out.String()
	t.Log("\n" + text)

	for _, col := range []string{"resource", "passed/s", "blocked/s", "avg RT", "in flight"} {
		if !strings.Contains(text, col) {
			t.Errorf("output has no %q column", col)
		}
	}
	for _, name := range []string{"GET /orders", "POST /payments", "GET /search", "GET /report"} {
		rows := regexp.MustCompile(`(?m)^ +\d+s  `+regexp.QuoteMeta(name)+` +\d+ +\d+ `).FindAllString(text, -1)
		if len(rows) != 2 {
			t.Errorf("%s: %d table rows, want 2 (one a second)", name, len(rows))
		}
	}

	// The isolation rule is exact: never more than 4 /report calls in flight.
	report := regexp.MustCompile(`(?m)^ +\d+s  GET /report .* (\d+) +\S+$`).FindAllStringSubmatch(text, -1)
	if len(report) == 0 {
		t.Error("GET /report: no in-flight column found")
	}
	for _, m := range report {
		if n, _ := strconv.Atoi(m[1]); n > 4 {
			t.Errorf("GET /report: %d in flight, want <= 4", n)
		}
	}

	m := regexp.MustCompile(`GET /orders +passed +(\d+) +blocked +(\d+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("no summary line for GET /orders")
	}
	if passed, _ := strconv.Atoi(m[1]); passed == 0 {
		t.Error("GET /orders: nothing passed")
	}
	if blocked, _ := strconv.Atoi(m[2]); blocked == 0 {
		t.Error("GET /orders: offered ~100 req/s against a limit of 50, yet nothing was blocked")
	}
}

func TestRunRejectsBadDuration(t *testing.T) {
	if err := run(context.Background(), &bytes.Buffer{}, 0); err == nil {
		t.Error("run with a zero duration: no error")
	}
}
