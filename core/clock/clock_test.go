package clock

import (
	"context"
	"errors"
	"testing"
	"time"
)

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestManualTimersFireOnAdvance(t *testing.T) {
	m := NewManual(start)
	a := m.NewTimer(100 * time.Millisecond)
	b := m.NewTimer(50 * time.Millisecond)
	m.Advance(49 * time.Millisecond)
	select {
	case <-b.C():
		t.Fatal("timer fired 1 ms early")
	default:
	}
	m.Advance(time.Millisecond)
	if got := <-b.C(); !got.Equal(start.Add(50 * time.Millisecond)) {
		t.Fatalf("fired with %v", got)
	}
	if m.Timers() != 1 {
		t.Fatalf("%d timers pending, want 1", m.Timers())
	}
	if !a.Stop() || a.Stop() {
		t.Fatal("Stop should report true once, then false")
	}
	m.Set(start.Add(time.Hour))
	select {
	case <-a.C():
		t.Fatal("stopped timer fired")
	default:
	}
	if m.Nanos() != start.Add(time.Hour).UnixNano() {
		t.Fatal("Nanos does not follow Set")
	}
	if z := m.NewTimer(0); z.Stop() {
		t.Fatal("a zero timer has fired already; Stop must report false")
	}
}

func TestSleep(t *testing.T) {
	m := NewManual(start)
	done := make(chan error, 1)
	go func() { done <- Sleep(context.Background(), m, time.Second) }()
	m.BlockUntilTimers(1)
	m.Advance(time.Second)
	if err := <-done; err != nil {
		t.Fatalf("full sleep returned %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- Sleep(ctx, m, time.Second) }()
	m.BlockUntilTimers(1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled sleep returned %v", err)
	}
	if m.Timers() != 0 {
		t.Fatal("cancelled sleep left its timer behind")
	}
	if err := Sleep(ctx, m, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("sleep on a done context returned %v", err)
	}
	if err := Sleep(ctx, m, 0); err != nil {
		t.Fatalf("zero sleep returned %v", err)
	}
}

func TestRealClock(t *testing.T) {
	c := Real()
	a := c.Nanos()
	if d := time.Duration(a - time.Now().UnixNano()); d > time.Second || d < -time.Second {
		t.Fatalf("Real().Nanos is %v away from the wall clock", d)
	}
	if err := Sleep(context.Background(), c, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if b := c.Nanos(); b-a < int64(time.Millisecond) {
		t.Fatalf("Nanos advanced %v over a 1 ms sleep", time.Duration(b-a))
	}
}

func BenchmarkRealNanos(b *testing.B) {
	c := Real()
	for i := 0; i < b.N; i++ {
		_ = c.Nanos()
	}
}

func BenchmarkTimeNow(b *testing.B) {
	for i := 0; i < b.N; i++ {
		_ = time.Now()
	}
}
