package sluice

import (
	"fmt"
	"log/slog"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// memorySampler caches the memory reading for MemoryAdaptive flow rules,
// refreshing it at most once per second of the engine's clock on the path
// of whichever entry finds it stale.
type memorySampler struct {
	read     func() (uint64, error)
	at       atomic.Int64  // clock nanos of the last refresh, 0 for never
	value    atomic.Uint64 // bytes
	ok       atomic.Bool
	log      *slog.Logger
	failOnce sync.Once
}

const memoryRefresh = int64(time.Second)

// usage returns the cached reading, refreshing it first if it is stale.
func (m *memorySampler) usage(now int64) (uint64, bool) {
	at := m.at.Load()
	if (at == 0 || now-at >= memoryRefresh || now < at) && m.at.CompareAndSwap(at, max(now, 1)) {
		v, err := m.safeRead()
		m.value.Store(v)
		m.ok.Store(err == nil)
	}
	return m.value.Load(), m.ok.Load()
}

// safeRead calls the reader, turning a panic into "no reading" (logged
// once): a broken reader must not break entries.
func (m *memorySampler) safeRead() (v uint64, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, err = 0, fmt.Errorf("memory reader panicked: %v", p)
		}
	}()
	v, err = m.read()
	if err != nil {
		m.failOnce.Do(func() {
			m.log.Warn("sluice: memory reading failed; MemoryAdaptive rules use LowMemUsageThreshold", "error", err)
		})
	}
	return v, err
}

var runtimeMemory = struct {
	sync.Mutex
	samples []metrics.Sample
}{samples: []metrics.Sample{
	{Name: "/memory/classes/total:bytes"},
	{Name: "/memory/classes/heap/released:bytes"},
}}

// goRuntimeMemory returns the memory the Go runtime has mapped, less what it
// has released to the OS.
func goRuntimeMemory() (uint64, error) {
	runtimeMemory.Lock()
	defer runtimeMemory.Unlock()
	metrics.Read(runtimeMemory.samples)
	return runtimeMemory.samples[0].Value.Uint64() - runtimeMemory.samples[1].Value.Uint64(), nil
}
