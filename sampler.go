package sluice

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/core/clock"
	"github.com/sluice-go/sluice/core/system"
)

// DefaultSystemSampleInterval is how often the engine samples the machine
// metrics that system rules check, unless WithSystemSampleInterval says
// otherwise.
const DefaultSystemSampleInterval = 250 * time.Millisecond

// sampler reads the machine metrics (load, CPU, memory) on a goroutine of
// its own, every interval of the engine's clock, while rules that need them
// are loaded. Readings are kept in atomics for the entry path.
type sampler struct {
	readers  system.Readers
	interval time.Duration
	clock    clock.Clock
	log      *slog.Logger

	at      atomic.Int64 // clock nanos of the last sample, 0 for none
	metrics [3]reading   // by metricLoad, metricCPU, metricMemory
	failed  [3]atomic.Bool

	running atomic.Bool // written under mu
	mu      sync.Mutex  // serialises starting and stopping; guards stopped, closed, stop and done
	stopped bool        // the goroutine ran and was stopped since New
	closed  bool
	stop    chan struct{}
	done    chan struct{}
}

const (
	metricLoad = iota
	metricCPU
	metricMemory
)

var metricNames = [3]string{"load", "CPU", "memory"}

// reading is one metric's latest value, or none.
type reading struct {
	bits atomic.Uint64 // math.Float64bits of the value
	ok   atomic.Bool
}

func (r *reading) load() (float64, bool) {
	if !r.ok.Load() {
		return 0, false
	}
	return math.Float64frombits(r.bits.Load()), true
}

func (r *reading) store(v float64, ok bool) {
	if !ok {
		r.ok.Store(false)
		return
	}
	r.bits.Store(math.Float64bits(v))
	r.ok.Store(true)
}

// run starts the sampling goroutine if on and it is not running, or stops
// it if not on; the first sample is taken before run returns. After close,
// run starts nothing.
func (s *sampler) run(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case on && !s.running.Load() && !s.closed:
		// A CPU reader measures since its previous Read; after a restart,
		// that was made before the sampler stopped, so its first reading
		// is stale: read it, but do not keep it.
		s.sample(s.stopped)
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		s.running.Store(true)
		go s.loop(s.clock.NewTimer(s.interval), s.stop, s.done)
	case !on && s.running.Load():
		s.halt()
	}
}

// close stops the goroutine for good.
func (s *sampler) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running.Load() {
		s.halt()
	}
	s.closed = true
}

// halt stops the goroutine and forgets the readings, which would go stale.
// s.mu is held.
func (s *sampler) halt() {
	close(s.stop)
	<-s.done
	s.running.Store(false)
	s.stopped = true
	for i := range s.metrics {
		s.metrics[i].store(0, false)
	}
	s.at.Store(0)
}

// loop samples when t fires, then sets the next timer, until stop is
// closed. The first timer is set by run, so that samples fall at whole
// intervals from the first one.
func (s *sampler) loop(t clock.Timer, stop, done chan struct{}) {
	defer close(done)
	for {
		select {
		case <-t.C():
			s.sample(false)
			t = s.clock.NewTimer(s.interval)
		case <-stop:
			t.Stop()
			return
		}
	}
}

// sample reads every metric once; with dropCPU, it does not keep the CPU
// reading.
func (s *sampler) sample(dropCPU bool) {
	for i, r := range [3]system.Reader{s.readers.Load, s.readers.CPU, s.readers.Memory} {
		v, ok := s.read(i, r)
		s.metrics[i].store(v, ok && !(dropCPU && i == metricCPU))
	}
	s.at.Store(max(s.clock.Nanos(), 1))
}

// read calls one reader. A failure or a panic is "no reading", logged the
// first time; ErrNotReady is not logged. A value out of range (NaN, or a
// ratio outside [0, 1]) is a failure too.
func (s *sampler) read(metric int, r system.Reader) (v float64, ok bool) {
	if r == nil {
		return 0, false
	}
	defer func() {
		if p := recover(); p != nil {
			s.fail(metric, fmt.Errorf("reader panicked: %v", p))
			v, ok = 0, false
		}
	}()
	v, err := r.Read()
	switch {
	case errors.Is(err, system.ErrNotReady):
		return 0, false
	case err == nil && (math.IsNaN(v) || v < 0 || metric != metricLoad && v > 1):
		err = fmt.Errorf("reading %v is out of range", v)
	}
	if err != nil {
		s.fail(metric, err)
		return 0, false
	}
	return v, true
}

func (s *sampler) fail(metric int, err error) {
	if s.failed[metric].CompareAndSwap(false, true) {
		s.log.Warn("sluice: system "+metricNames[metric]+" reading failed; system rules on it block nothing "+
			"while it fails (logged once)", "error", err)
	}
}

// staleAfter is how many sample intervals a sample is used for at most: a
// reader that hangs must not leave its last reading in force.
const staleAfter = 3

// current returns the latest reading of metric, or false if there is none
// or it is older than staleAfter intervals at now.
func (s *sampler) current(metric int, now int64) (float64, bool) {
	if now-s.at.Load() > staleAfter*int64(s.interval) {
		return 0, false
	}
	return s.metrics[metric].load()
}

// readings returns the latest sample, as current reads it at now.
func (s *sampler) readings(now int64) system.Readings {
	var r system.Readings
	if at := s.at.Load(); at != 0 {
		r.At = time.Unix(0, at)
	}
	r.Load, r.HasLoad = s.current(metricLoad, now)
	r.CPUUsage, r.HasCPU = s.current(metricCPU, now)
	r.MemoryUsage, r.HasMemory = s.current(metricMemory, now)
	return r
}

// sampled reports whether m is one of the metrics the sampler reads.
func sampled(m system.MetricType) bool {
	return m == system.Load || m == system.CPUUsage || m == system.MemoryUsage
}
