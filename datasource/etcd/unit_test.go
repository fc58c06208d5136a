package etcd

import (
	"context"
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"
)

// Every test leaves no goroutine behind: each Watch has returned, and each
// client and binding has been closed, by the time its test ends. The etcd
// client leaves nothing running once closed, so nothing is ignored. Names
// are resolved by a loopback server that knows none (see noSuchHosts).
func TestMain(m *testing.M) {
	dns, err := startNoSuchHosts()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loopback DNS:", err)
		os.Exit(1)
	}
	code := m.Run()
	dns.stop()
	if err := goleak.Find(); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, "goleak:", err)
		code = 1
	}
	os.Exit(code)
}

func TestTrackerNext(t *testing.T) {
	type seen struct {
		rev     int64
		deleted bool
		want    bool
	}
	for _, tc := range []struct {
		name string
		seq  []seen
	}{
		{"first put is delivered", []seen{{5, false, true}}},
		{"first deletion is delivered", []seen{{5, true, true}}},
		{"newer puts are delivered", []seen{{5, false, true}, {6, false, true}, {9, false, true}}},
		{"same revision is dropped", []seen{{5, false, true}, {5, false, false}}},
		{"older revision is dropped", []seen{{5, false, true}, {4, false, false}, {6, false, true}}},
		{"delete after put", []seen{{5, false, true}, {6, true, true}}},
		{"second deletion in a row is dropped", []seen{{5, true, true}, {8, true, false}}},
		{"dropped deletion still moves the revision on", []seen{{5, true, true}, {8, true, false}, {7, false, false}, {9, false, true}}},
		{"re-created after delete", []seen{{5, false, true}, {6, true, true}, {7, false, true}}},
		{"older deletion is dropped", []seen{{5, false, true}, {3, true, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tr tracker
			for i, s := range tc.seq {
				assert.Equal(t, s.want, tr.next(s.rev, s.deleted), "step %d: rev %d deleted %v", i, s.rev, s.deleted)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	b := backoff{min: 100 * time.Millisecond, max: 5 * time.Second}
	bound := 100 * time.Millisecond
	for i := 0; i < 10; i++ {
		d := b.next()
		assert.True(t, d >= bound/2 && d <= bound, "wait %d: %v, want in [%v, %v]", i, d, bound/2, bound)
		bound = min(2*bound, 5*time.Second)
	}
	b.reset()
	d := b.next()
	assert.True(t, d >= 50*time.Millisecond && d <= 100*time.Millisecond, "after reset: %v", d)
}

func TestBackoffWaitHonoursContext(t *testing.T) {
	b := backoff{min: time.Hour, max: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	assert.False(t, b.wait(ctx, nil))
	assert.Less(t, time.Since(start), time.Second)

	closed := make(chan struct{})
	time.AfterFunc(20*time.Millisecond, func() { close(closed) })
	start = time.Now()
	assert.False(t, b.wait(context.Background(), closed), "a closed client ends the wait")
	assert.Less(t, time.Since(start), time.Second)

	b = backoff{min: time.Millisecond, max: time.Millisecond}
	assert.True(t, b.wait(context.Background(), make(chan struct{})))
}

// TestBackoffNearMaxDuration: doubling a step near the largest duration
// stays at max instead of overflowing.
func TestBackoffNearMaxDuration(t *testing.T) {
	b := backoff{min: time.Second, max: math.MaxInt64}
	prev := time.Duration(0)
	for i := 0; i < 100; i++ {
		b.next()
		require.GreaterOrEqual(t, b.step, prev, "step %d went from %v to %v", i, prev, b.step)
		prev = b.step
	}
	assert.Equal(t, time.Duration(math.MaxInt64), b.step)
	d := b.next()
	assert.True(t, d >= math.MaxInt64/2, "wait at max: %v", d)
}

func TestTrackerCheck(t *testing.T) {
	var tr tracker
	require.NoError(t, tr.check(1, 9))
	require.True(t, tr.next(9, false))
	require.NoError(t, tr.check(1, 9), "the same revision again")
	require.False(t, tr.next(9, false))
	require.NoError(t, tr.check(1, 12), "a newer revision")
	require.True(t, tr.next(12, true))

	// The revision went back: reported, and the state at it is news.
	err := tr.check(1, 3)
	require.ErrorIs(t, err, ErrRevisionWentBack)
	assert.ErrorContains(t, err, "revision 3, below revision 12")
	assert.True(t, tr.next(3, true), "a deletion after a deletion, at a lower revision, is delivered after the reset")
	assert.True(t, tr.next(4, false))
	require.NoError(t, tr.check(1, 5), "followed on from the reset")
	assert.True(t, tr.next(5, true))

	// Another cluster, even at a newer revision: reported and reset.
	err = tr.check(2, 40)
	require.ErrorIs(t, err, ErrRevisionWentBack)
	assert.ErrorContains(t, err, "cluster 2, no longer from cluster 1")
	assert.True(t, tr.next(40, true), "a deletion after a deletion is delivered after the reset")
	require.NoError(t, tr.check(2, 40), "the new cluster is remembered")
	assert.False(t, tr.next(40, true))

	var fresh tracker
	require.NoError(t, fresh.check(7, 1), "the first read reports nothing")
}

func TestOptions(t *testing.T) {
	s := New(nil, "/k")
	assert.Equal(t, DefaultRequestTimeout, s.timeout)
	assert.Equal(t, DefaultResync, s.resync)
	assert.Equal(t, DefaultMinBackoff, s.minBackoff)
	assert.Equal(t, DefaultMaxBackoff, s.maxBackoff)
	assert.Equal(t, "etcd /k", s.String())

	s = New(nil, "/k", WithRequestTimeout(-1), WithResync(0), WithBackoff(0, -1))
	assert.Equal(t, DefaultRequestTimeout, s.timeout)
	assert.Equal(t, DefaultResync, s.resync)
	assert.Equal(t, DefaultMinBackoff, s.minBackoff)
	assert.Equal(t, DefaultMaxBackoff, s.maxBackoff)

	s = New(nil, "/k", WithRequestTimeout(time.Second), WithResync(-1), WithBackoff(10*time.Second, time.Second))
	assert.Equal(t, time.Second, s.timeout)
	assert.Less(t, s.resync, time.Duration(0))
	assert.Equal(t, 10*time.Second, s.minBackoff)
	assert.Equal(t, 10*time.Second, s.maxBackoff, "a max below min is raised to min")
}

func TestWatchMisconfigured(t *testing.T) {
	ctx := context.Background()
	assert.ErrorContains(t, New(nil, "/k").Watch(ctx, &recorder{}), "nil client")
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:1"}, Logger: zap.NewNop()}) // dials lazily
	require.NoError(t, err)
	defer cli.Close()
	assert.ErrorContains(t, New(cli, "").Watch(ctx, &recorder{}), "empty key")
}
