package system

import (
	"errors"
	"time"
)

// Reader supplies one metric of the machine (or container) the process
// runs on. The engine's sampler calls Read once per sample interval, from
// one goroutine at a time. Read must return promptly: rule loads that start
// the sampler, and Close, wait for a Read in progress; a sample older than
// three intervals is no reading.
//
// Read returns the metric's current value: a ratio in [0, 1] for CPU and
// memory usage, the 1-minute load average for load. An error means "no
// reading": system rules on that metric then block nothing until a later
// Read succeeds. ErrNotReady says a reading is not available yet (a CPU
// reader before its second sample) and is not logged; any other error is
// logged once per reader.
type Reader interface {
	Read() (float64, error)
}

// ReaderFunc adapts a function to a Reader.
type ReaderFunc func() (float64, error)

// Read calls f.
func (f ReaderFunc) Read() (float64, error) { return f() }

// ErrNotReady is returned by a Reader that has no reading yet, such as a CPU
// reader, which needs two samples to measure the time spent between them.
var ErrNotReady = errors.New("system: no reading yet")

// Readers are the sources of the machine metrics that system rules check.
// A nil Reader gives no reading for its metric.
type Readers struct {
	// Load reads the 1-minute load average.
	Load Reader
	// CPU reads the CPU usage, as a ratio in [0, 1] of the CPU time
	// available to this process over the time since its previous Read.
	CPU Reader
	// Memory reads the memory usage, as a ratio in [0, 1] of the memory
	// available to this process.
	Memory Reader
}

// Readings is one sample of the machine metrics. A metric whose reader
// failed (or has none) has its Has flag false and its value 0.
type Readings struct {
	// At is when the sample was taken, on the engine's clock; zero if none
	// was.
	At time.Time
	// Load is the 1-minute load average.
	Load    float64
	HasLoad bool
	// CPUUsage is the CPU usage ratio, in [0, 1].
	CPUUsage float64
	HasCPU   bool
	// MemoryUsage is the memory usage ratio, in [0, 1].
	MemoryUsage float64
	HasMemory   bool
}
