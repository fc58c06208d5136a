package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/goleak"
)

func TestRun(t *testing.T) {
	gin.SetMode(gin.TestMode)
	// The server, its connections, the load's goroutines and the client's
	// idle connections have all stopped by the time run returns.
	defer goleak.VerifyNone(t)
	var out bytes.Buffer
	if err := run(context.Background(), &out, 2*time.Second); err != nil {
		t.Fatalf("run: %v", err)
	}
	text := out.String()
	t.Log("\n" + text)

	if !regexp.MustCompile(`curl -i -H 'X-User: alice' http://127\.0\.0\.1:\d+/hello`).MatchString(text) {
		t.Error("no curl line with the server's address")
	}
	for _, col := range []string{"sent/s", "200", "429", "mallory 200", "mallory 429"} {
		if !strings.Contains(text, col) {
			t.Errorf("output has no %q column", col)
		}
	}
	rows := regexp.MustCompile(`(?m)^ +\d+s +\d+ +\d+ +\d+ +\d+ +\d+$`).FindAllString(text, -1)
	if len(rows) != 2 {
		t.Errorf("%d table rows, want 2 (one a second)", len(rows))
	}

	m := regexp.MustCompile(`Summary: (\d+) answered 200, (\d+) answered 429 \(mallory: (\d+) and (\d+)\)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("no summary line")
	}
	n := make([]int, len(m))
	for i := 1; i < len(m); i++ {
		n[i], _ = strconv.Atoi(m[i])
	}
	if n[1] == 0 {
		t.Error("no request answered 200")
	}
	if n[2] == 0 {
		t.Error("no request answered 429")
	}
	if n[1] > 2*20+15 { // 2 s at 20/s on the route, with slack for window edges
		t.Errorf("%d requests answered 200 in 2 s against a route limit of 20/s", n[1])
	}
	if strings.Contains(text, "failed") {
		t.Error("some requests failed")
	}
	if !strings.Contains(text, "Retry-After: 1 ") {
		t.Error("no 429 with Retry-After: 1")
	}
}

func TestRunRejectsBadDuration(t *testing.T) {
	if err := run(context.Background(), &bytes.Buffer{}, 0); err == nil {
		t.Error("run with a zero duration: no error")
	}
}
