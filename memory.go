package sluice

import (
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// memorySampler caches the memory reading for MemoryAdaptive flow rules,
// refreshing it at most once per second of the engine's clock on the path
// of whichever entry finds it stale.
type memorySampler struct {
	read   func() (uint64, error)
	at     atomic.Int64  // clock nanos of the last refresh, 0 for never
	value  atomic.Uint64 // bytes
	ok     atomic.Bool
	failMu sync.Once
}

const memoryRefresh = int64(time.Second)

// usage returns the cached reading, refreshing it first if it is stale.
func (m *memorySampler) usage(now int64) (uint64, bool) {
	at := m.at.Load()
	if (at == 0 || now-at >= memoryRefresh || now < at) && m.at.CompareAndSwap(at, max(now, 1)) {
		v, err := m.read()
		m.value.Store(v)
		m.ok.Store(err == nil)
	}
	return m.value.Load(), m.ok.Load()
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
