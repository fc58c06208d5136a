package system

import (
	"errors"
	"fmt"

	"github.com/shirou/gopsutil/v3/cpu"
	"github.com/shirou/gopsutil/v3/load"
	"github.com/shirou/gopsutil/v3/mem"
)

// This file reads the host's metrics through gopsutil.

// LoadReader returns a Reader of the host's 1-minute load average, through
// gopsutil (load.Avg().Load1). Linux keeps no load average per cgroup.
func LoadReader() Reader {
	return ReaderFunc(func() (float64, error) {
		a, err := load.Avg()
		if err != nil {
			return 0, fmt.Errorf("system: load average: %w", err)
		}
		return a.Load1, nil
	})
}

// hostCPUTimes returns the host's busy and total CPU time in seconds, summed
// over its CPUs, through gopsutil cpu.Times(false). Busy is total less idle
// and iowait; total leaves out guest time, which user time already counts.
func hostCPUTimes() (busy, total float64, err error) {
	ts, err := cpu.Times(false)
	if err == nil && len(ts) == 0 {
		err = errors.New("no CPU times")
	}
	if err != nil {
		return 0, 0, fmt.Errorf("system: host CPU times: %w", err)
	}
	t := ts[0]
	total = t.User + t.Nice + t.System + t.Idle + t.Iowait + t.Irq + t.Softirq + t.Steal
	return total - t.Idle - t.Iowait, total, nil
}

// hostMemory returns the host's used (total - available) and total memory,
// in bytes, through gopsutil mem.VirtualMemory().
func hostMemory() (used, total uint64, err error) {
	v, err := mem.VirtualMemory()
	if err == nil && v.Total == 0 {
		err = errors.New("total memory is 0")
	}
	if err != nil {
		return 0, 0, fmt.Errorf("system: host memory: %w", err)
	}
	if v.Available > v.Total {
		return 0, v.Total, nil
	}
	return v.Total - v.Available, v.Total, nil
}
