//go:build linux

package system

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCPUReaderMatchesKernel checks the real CPUReader against the kernel's
// figures for the same intervals, read by the test itself, so that it holds
// however busy the machine is. The figures are the ones the reader uses:
// the host's /proc/stat outside a CPU quota, the limiting cgroup's CPU time
// inside one. The test samples them just before and just after each Read,
// so the reading must lie between the lowest and the highest ratio those
// samples allow. A thread spins through each interval: this process's own
// CPU time over it (getrusage), which the host's or the cgroup's busy time
// includes, bounds the reading from below, so the spinning must show.
func TestCPUReaderMatchesKernel(t *testing.T) {
	const rounds = 3
	r := newCPUReader("/", time.Now, runtime.NumCPU(), hostCPUTimes)
	if err := r.detection.run(r.detect); err != nil { // as the first Read would
		t.Fatal(err)
	}
	sample := procStatSample
	if r.acct != nil {
		sample = func() (cpuSample, error) { return cgroupSample(r.acct.v2, r.dir, r.cpus) }
	}
	t.Logf("reader source: %s", describeSource(r))
	prev, _, err := bracketRead(t, r, sample)
	if !errors.Is(err, ErrNotReady) {
		t.Fatalf("first Read error = %v, want ErrNotReady", err)
	}
	for i := 0; i < rounds; i++ {
		own0 := ownCPUSeconds(t)
		spin(150 * time.Millisecond)
		own := ownCPUSeconds(t) - own0
		cur, got, err := bracketRead(t, r, sample)
		if err != nil {
			t.Fatalf("round %d: Read: %v", i, err)
		}
		lo := clamp01((cur.before.busy - prev.after.busy) / (cur.after.total - prev.before.total))
		hi := clamp01((cur.after.busy - prev.before.busy) / (cur.before.total - prev.after.total))
		floor := clamp01((own - cpuTimeSlack) / (cur.after.total - prev.before.total))
		t.Logf("round %d: reading %.3f, kernel's figures allow [%.3f, %.3f], own CPU %.3f s allows >= %.3f",
			i, got, lo, hi, own, floor)
		if got < lo-ratioSlack || got > hi+ratioSlack {
			t.Errorf("round %d: reading %.3f, want within the kernel's [%.3f, %.3f] ± %v", i, got, lo, hi, ratioSlack)
		}
		if got < floor {
			t.Errorf("round %d: reading %.3f, want >= %.3f: this process alone used %.3f s of CPU", i, got, floor, own)
		}
		prev = cur
	}
}

const (
	// ratioSlack covers float rounding, and /proc/stat's idle time, which
	// some kernels let step back by a tick.
	ratioSlack = 0.02
	// cpuTimeSlack is how much less CPU time than getrusage reports the
	// kernel may have charged to the host: /proc/stat counts 10 ms ticks
	// (USER_HZ = 100), which tick-based accounting also samples.
	cpuTimeSlack = 0.03
)

// cpuSample is one reading of the kernel's CPU figures, in seconds: busy
// CPU time, and the CPU time there was to use.
type cpuSample struct{ busy, total float64 }

// bracket is a reference sample taken just before a Read and one taken just
// after it.
type bracket struct{ before, after cpuSample }

// bracketRead calls r.Read between two samples.
func bracketRead(t *testing.T, r Reader, sample func() (cpuSample, error)) (bracket, float64, error) {
	t.Helper()
	var b bracket
	var err error
	if b.before, err = sample(); err != nil {
		t.Fatal(err)
	}
	got, readErr := r.Read()
	if b.after, err = sample(); err != nil {
		t.Fatal(err)
	}
	return b, got, readErr
}

// procStatSample reads the host's first /proc/stat line (cpu user nice
// system idle iowait irq softirq steal guest guest_nice, in 1/100 s):
// total is the first eight, busy leaves out idle and iowait.
func procStatSample() (cpuSample, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuSample{}, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var ticks [8]float64
	for i := range ticks {
		if ticks[i], err = strconv.ParseFloat(f[i+1], 64); err != nil {
			return cpuSample{}, fmt.Errorf("/proc/stat: %w", err)
		}
	}
	var total float64
	for _, v := range ticks {
		total += v
	}
	return cpuSample{busy: (total - ticks[3] - ticks[4]) / 100, total: total / 100}, nil
}

// cgroupSample reads the CPU time of the cgroup in dir (v2 cpu.stat
// usage_usec, v1 cpuacct.usage in ns) and the wall time since the Unix
// epoch times the cgroup's quota in CPUs.
func cgroupSample(v2 bool, dir string, cpus float64) (cpuSample, error) {
	file, key, unit := filepath.Join(dir, "cpuacct.usage"), "", 1e-9
	if v2 {
		file, key, unit = filepath.Join(dir, "cpu.stat"), "usage_usec ", 1e-6
	}
	b, err := os.ReadFile(file)
	now := time.Now()
	if err != nil {
		return cpuSample{}, err
	}
	s := strings.TrimSpace(string(b))
	if key != "" {
		i := strings.Index(s, key)
		if i < 0 {
			return cpuSample{}, fmt.Errorf("%s: no %q", file, key)
		}
		s, _, _ = strings.Cut(s[i+len(key):], "\n")
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return cpuSample{}, fmt.Errorf("%s: %w", file, err)
	}
	return cpuSample{busy: n * unit, total: float64(now.UnixNano()) * 1e-9 * cpus}, nil
}

func describeSource(r *cpuReader) string {
	if r.acct == nil {
		return "the host's /proc/stat (no cgroup CPU quota applies)"
	}
	return fmt.Sprintf("cgroup %s, quota %v CPUs", r.dir, r.cpus)
}

// ownCPUSeconds returns the user and system CPU time of this process.
func ownCPUSeconds(t *testing.T) float64 {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) * 1e-9
}

// spin keeps one OS thread busy for d.
func spin(d time.Duration) {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		x := 1.0
		for start := time.Now(); time.Since(start) < d; {
			for i := 0; i < 1000; i++ {
				x = x*1.0000001 + 1e-9
			}
		}
		_ = x
		close(done)
	}()
	<-done
}
