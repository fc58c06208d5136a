package system

import (
	"math"
	"runtime"
	"testing"
)

func TestHostReadersSmoke(t *testing.T) {
	m, err := MemoryReader().Read()
	if err != nil || !(m > 0 && m <= 1) {
		t.Errorf("MemoryReader().Read() = %v, %v; want a ratio in (0, 1]", m, err)
	}
	l, err := LoadReader().Read()
	if err != nil || !(l >= 0) || math.IsInf(l, 0) {
		t.Errorf("LoadReader().Read() = %v, %v; want a finite load >= 0", l, err)
	}
	if n := AvailableCPUs(); !(n > 0 && n <= float64(runtime.NumCPU())) {
		t.Errorf("AvailableCPUs() = %v, want in (0, %d]", n, runtime.NumCPU())
	}
	rs := DefaultReaders()
	if rs.Load == nil || rs.CPU == nil || rs.Memory == nil {
		t.Errorf("DefaultReaders() = %+v, want all three readers", rs)
	}
	t.Logf("memory %.3f, load %.2f, AvailableCPUs %v", m, l, AvailableCPUs())
}
