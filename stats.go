package sluice

import (
	"slices"
	"time"
)

// ResourceStats is a reading of one resource's statistics over the engine's
// statistics window (by default the last second, in 100 ms buckets).
type ResourceStats struct {
	Resource string
	// PassQPS, BlockQPS, CompleteQPS and ErrorQPS are permits (entries
	// times batch count) admitted, blocked, exited and exited with an error,
	// per second over the window.
	PassQPS, BlockQPS, CompleteQPS, ErrorQPS float64
	// AvgRT is the mean response time (Entry to Exit) of the entries that
	// exited in the window, and MinRT the smallest; both are 0 if none did.
	AvgRT, MinRT time.Duration
	// Concurrency is the number of entries in flight now.
	Concurrency int64
}

// Stats returns the statistics of a tracked resource, and false if the
// engine has never tracked it.
func (e *Engine) Stats(name string) (ResourceStats, bool) {
	v, ok := e.resources.Load(name)
	if !ok {
		return ResourceStats{}, false
	}
	return e.stats(v.(*resource)), true
}

// Resources returns the names of every tracked resource, sorted.
func (e *Engine) Resources() []string {
	var names []string
	e.resources.Range(func(k, _ any) bool {
		names = append(names, k.(string))
		return true
	})
	slices.Sort(names)
	return names
}

func (e *Engine) stats(r *resource) ResourceStats {
	w := r.node.Window()
	c := w.Read(e.clock.Nanos())
	secs := w.Interval().Seconds()
	s := ResourceStats{
		Resource:    r.name,
		PassQPS:     float64(c.Pass) / secs,
		BlockQPS:    float64(c.Block) / secs,
		CompleteQPS: float64(c.Complete) / secs,
		ErrorQPS:    float64(c.Error) / secs,
		MinRT:       c.MinRT,
		Concurrency: r.node.Concurrency(),
	}
	if c.RTCount > 0 {
		s.AvgRT = c.RTSum / time.Duration(c.RTCount)
	}
	return s
}
