package sluice_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/hotspot"
	"github.com/sluice-go/sluice/core/isolation"
)

// A block error says how long to wait when its rule says so.
func TestBlockErrorRetryAfter(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{
		Flow: []flow.Rule{
			{Resource: "reject", Threshold: 0, StatInterval: 2 * time.Second},
			{Resource: "throttle", Threshold: 1, ControlBehavior: flow.Throttling},
		},
		Isolation: []isolation.Rule{{Resource: "iso", Threshold: 0}},
		Hotspot:   []hotspot.Rule{{Resource: "hot", ParamIndex: 0, Threshold: 0, Duration: 3 * time.Second}},
		CircuitBreaker: []circuitbreaker.Rule{{Resource: "cb", Strategy: circuitbreaker.ErrorCount, Threshold: 1,
			MinRequestAmount: 1, RetryTimeout: 5 * time.Second}},
	})
	_ = eng.Do(context.Background(), "cb", func(context.Context) error { return errors.New("down") })
	try(eng, "throttle", 1) // takes the one slot of the second
	for _, tc := range []struct {
		resource string
		opts     []sluice.EntryOption
		want     time.Duration
	}{
		{"reject", nil, 2 * time.Second},
		{"throttle", nil, 0},
		{"iso", nil, 0},
		{"hot", []sluice.EntryOption{sluice.WithArgs("u")}, 3 * time.Second},
		{"cb", nil, 5 * time.Second},
	} {
		_, err := eng.Entry(context.Background(), tc.resource, tc.opts...)
		var be *sluice.BlockError
		if !errors.As(err, &be) {
			t.Fatalf("%s: not blocked: %v", tc.resource, err)
		}
		if be.RetryAfter != tc.want {
			t.Errorf("%s: RetryAfter %v, want %v", tc.resource, be.RetryAfter, tc.want)
		}
	}
}
