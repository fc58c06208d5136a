package system

import (
	"runtime"
	"sync"
	"time"
)

// This file chooses, for CPU and memory, between the cgroup's accounting and
// the host's.

// DefaultReaders returns the readers the engine uses unless told otherwise:
// LoadReader(), CPUReader() and MemoryReader().
func DefaultReaders() Readers {
	return Readers{Load: LoadReader(), CPU: CPUReader(), Memory: MemoryReader()}
}

// CPUReader returns a Reader of CPU usage as a ratio in [0, 1] of the CPU
// available to this process, over the time since its previous Read; its
// first Read returns ErrNotReady.
//
// Inside a cgroup with a CPU quota (v2 cpu.max, v1 cpu.cfs_quota_us /
// cpu.cfs_period_us; the tightest quota of the process's cgroup and its
// ancestors), usage is that limiting cgroup's CPU time (v2 cpu.stat
// usage_usec, v1 cpuacct.usage in ns) divided by (elapsed wall time × quota
// CPUs), where quota CPUs = min(quota/period, runtime.NumCPU()). With no
// quota (or no cgroup), it is the host's busy CPU time over its total CPU
// time between the two Reads, through gopsutil cpu.Times(false). Values are
// clamped to [0, 1].
//
// The cgroup and its quota are found once, at the first Read that can read
// them; until then Read returns the error that stopped it.
func CPUReader() Reader {
	return newCPUReader("/", time.Now, runtime.NumCPU(), hostCPUTimes)
}

// MemoryReader returns a Reader of memory usage as a ratio in [0, 1].
//
// Inside a cgroup with a memory limit (v2 memory.max, v1
// memory.limit_in_bytes; the tightest of the process's cgroup and its
// ancestors; a limit >= the host's total memory or >= 1<<62, such as v1's
// 9223372036854771712, is no limit), it is the limiting cgroup's working
// set divided by the limit. The working set is v2 memory.current or v1
// memory.usage_in_bytes, less memory.stat inactive_file (v2) or
// total_inactive_file (v1), floored at 0. Otherwise it is the host's
// (total - available) / total, through gopsutil mem.VirtualMemory().
//
// The cgroup and its limit are found once, at the first Read that can read
// them; until then Read returns the error that stopped it.
func MemoryReader() Reader {
	return newMemoryReader("/", hostMemory)
}

// AvailableCPUs returns the number of CPUs available to this process: its
// cgroup's CPU quota (quota/period, the tightest of its cgroup and its
// ancestors) if one applies and is smaller than runtime.NumCPU(), else
// runtime.NumCPU(). A fractional quota stays fractional (1.5). It looks the
// quota up on every call and returns runtime.NumCPU() if it cannot.
func AvailableCPUs() float64 {
	return availableCPUs("/", runtime.NumCPU())
}

func availableCPUs(root string, numCPU int) float64 {
	n := float64(numCPU)
	info, err := newCgroupInfo(root)
	if err != nil || info.cpu == nil {
		return n
	}
	q, _, ok, err := info.cpu.cpuQuota()
	if err != nil || !ok {
		return n
	}
	return min(q, n)
}

// cpuReader implements CPUReader.
type cpuReader struct {
	root      string
	now       func() time.Time
	numCPU    int
	hostTimes func() (busy, total float64, err error)

	detection detection
	mu        sync.Mutex // guards the fields below
	// With a quota: the hierarchy and directory holding the limiting
	// cgroup's CPU time, and the quota in CPUs (at most numCPU).
	acct *hierarchy
	dir  string
	cpus float64

	has       bool
	prevAt    time.Time
	prevUsage int64   // cgroup CPU time, ns
	prevBusy  float64 // host, s
	prevTotal float64 // host, s
}

func newCPUReader(root string, now func() time.Time, numCPU int, hostTimes func() (float64, float64, error)) *cpuReader {
	return &cpuReader{root: root, now: now, numCPU: numCPU, hostTimes: hostTimes}
}

func (r *cpuReader) detect() error {
	info, err := newCgroupInfo(r.root)
	if err != nil || info.cpu == nil {
		return err
	}
	q, dir, ok, err := info.cpu.cpuQuota()
	if err != nil || !ok {
		return err
	}
	if info.cpuacct == nil {
		return nil // a quota, but no accounting: fall back to the host
	}
	r.acct = info.cpuacct
	r.dir = info.cpuacct.cpuUsageDir(info.cpu, dir)
	r.cpus = min(q, float64(r.numCPU))
	return nil
}

// Read implements Reader.
func (r *cpuReader) Read() (float64, error) {
	if err := r.detection.run(r.detect); err != nil {
		return 0, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.acct == nil {
		busy, total, err := r.hostTimes()
		if err != nil {
			return 0, err
		}
		had, dBusy, dTotal := r.has, busy-r.prevBusy, total-r.prevTotal
		r.has, r.prevBusy, r.prevTotal = true, busy, total
		if !had || dTotal <= 0 {
			return 0, ErrNotReady
		}
		return clamp01(dBusy / dTotal), nil
	}
	usage, err := r.acct.cpuUsage(r.dir)
	if err != nil {
		return 0, err
	}
	at := r.now()
	had, dUsage, elapsed := r.has, usage-r.prevUsage, at.Sub(r.prevAt)
	r.has, r.prevUsage, r.prevAt = true, usage, at
	if !had || elapsed <= 0 {
		return 0, ErrNotReady
	}
	return clamp01(float64(dUsage) / (float64(elapsed) * r.cpus)), nil
}

// memoryReader implements MemoryReader.
type memoryReader struct {
	root    string
	hostMem func() (used, total uint64, err error)

	detection detection
	mu        sync.Mutex // guards the fields below
	// With a limit: the hierarchy and directory of the limiting cgroup.
	h     *hierarchy
	dir   string
	limit int64
}

func newMemoryReader(root string, hostMem func() (uint64, uint64, error)) *memoryReader {
	return &memoryReader{root: root, hostMem: hostMem}
}

func (r *memoryReader) detect() error {
	info, err := newCgroupInfo(r.root)
	if err != nil || info.memory == nil {
		return err
	}
	_, hostTotal, err := r.hostMem()
	if err != nil {
		hostTotal = 0 // only >= 1<<62 then counts as no limit
	}
	limit, dir, ok, err := info.memory.memoryLimit(hostTotal)
	if err != nil || !ok {
		return err
	}
	r.h, r.dir, r.limit = info.memory, dir, limit
	return nil
}

// Read implements Reader.
func (r *memoryReader) Read() (float64, error) {
	if err := r.detection.run(r.detect); err != nil {
		return 0, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.h == nil {
		used, total, err := r.hostMem()
		if err != nil {
			return 0, err
		}
		return clamp01(float64(used) / float64(total)), nil
	}
	ws, err := r.h.workingSet(r.dir)
	if err != nil {
		return 0, err
	}
	return clamp01(float64(ws) / float64(r.limit)), nil
}

func clamp01(v float64) float64 {
	if !(v > 0) { // also NaN
		return 0
	}
	return min(v, 1)
}

// detection finds a reader's cgroup, once: a failed attempt (a file that
// could not be read) is made again at the next Read, a successful one never.
type detection struct {
	mu   sync.Mutex
	done bool
}

func (d *detection) run(detect func() error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done {
		return nil
	}
	if err := detect(); err != nil {
		return err
	}
	d.done = true
	return nil
}
