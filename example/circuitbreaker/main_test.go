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
	// Every goroutine run starts (callers, the engine's listener) has
	// stopped by the time it returns.
	defer goleak.VerifyNone(t)
	const duration = 3 * time.Second
	var out bytes.Buffer
	if err := run(context.Background(), &out, duration); err != nil {
		t.Fatalf("run: %v", err)
	}
	text := out.String()
	t.Log("\n" + text)

	rows := regexp.MustCompile(`(?m)^ +[\d.]+s  -- second \d+, dependency \w+ +ok +\d+ +failed +\d+ +blocked +\d+  \[ErrorRatio \w+, SlowRequestRatio \w+\]$`).FindAllString(text, -1)
	if len(rows) != 3 {
		t.Errorf("%d per-second lines, want 3", len(rows))
	}

	// Each breaker's transitions follow its state machine: it opens once the
	// dependency fails (from 30% of the run) and closes again after it
	// recovers (at 60%).
	failing, recovery := (duration * 3 / 10).Seconds(), (duration * 6 / 10).Seconds()
	changes := regexp.MustCompile(`(?m)^ +([\d.]+)s  GET /inventory  (\w+) breaker  (\w+) -> (\w+)   \(.+\)$`).
		FindAllStringSubmatch(text, -1)
	for _, strategy := range []string{"ErrorRatio", "SlowRequestRatio"} {
		state, opened, closedAfterRecovery := "Closed", false, false
		for _, m := range changes {
			if m[2] != strategy {
				continue
			}
			at, _ := strconv.ParseFloat(m[1], 64)
			from, to := m[3], m[4]
			if from != state || !validTransition[from+" -> "+to] {
				t.Errorf("%s: %s -> %s at %.2fs, while in state %s", strategy, from, to, at, state)
			}
			if from == "Closed" && at < failing {
				t.Errorf("%s: opened at %.2fs, while the dependency was healthy", strategy, at)
			}
			state = to
			opened = opened || from == "Closed" && to == "Open"
			closedAfterRecovery = closedAfterRecovery || opened && from == "HalfOpen" && to == "Closed" && at >= recovery
		}
		if !opened {
			t.Errorf("%s: no Closed -> Open transition", strategy)
		}
		if !closedAfterRecovery {
			t.Errorf("%s: no HalfOpen -> Closed transition after recovery (%.2fs)", strategy, recovery)
		}
		if !regexp.MustCompile(strategy + ` +breaker: state changes +\d+, ends Closed`).MatchString(text) {
			t.Errorf("%s: summary does not show the breaker ending Closed", strategy)
		}
	}
}

var validTransition = map[string]bool{
	"Closed -> Open": true, "Open -> HalfOpen": true, "HalfOpen -> Open": true, "HalfOpen -> Closed": true,
}

func TestRunRejectsBadDuration(t *testing.T) {
	if err := run(context.Background(), &bytes.Buffer{}, 0); err == nil {
		t.Error("run with a zero duration: no error")
	}
}
