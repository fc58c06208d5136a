package system

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	fixtureCPUs = 8       // runtime.NumCPU() the fixture tests pretend to have
	hostTotal   = 1 << 40 // the host memory the fixture tests pretend to have
	hostRatio   = 0.125   // the host memory usage they pretend to see
)

func fakeHostMem() (used, total uint64, err error) { return hostTotal / 8, hostTotal, nil }

func noHostTimes() (busy, total float64, err error) {
	return 0, 0, errors.New("test: host CPU times read, want the cgroup's")
}

func fixture(name string) string { return filepath.Join("testdata", name) }

// copyFixture copies a fixture tree to a temporary directory, so a test can
// rewrite its files.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	dst := t.TempDir()
	src := fixture(name)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func writeFile(t *testing.T, file, content string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(content+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestAvailableCPUs(t *testing.T) {
	for _, tc := range []struct {
		root   string
		numCPU int
		want   float64
	}{
		{fixture("v2-quota"), fixtureCPUs, 1.5},             // 150000/100000; the parent's "max" sets none
		{fixture("v2-quota"), 1, 1},                         // a quota above NumCPU does not apply
		{fixture("v2-unlimited"), fixtureCPUs, fixtureCPUs}, // "max 100000"
		{fixture("v2-nested-parent"), fixtureCPUs, 0.5},     // parent 0.5 < child 2
		{fixture("v2-nested-child"), fixtureCPUs, 0.25},     // child 0.25 < parent 4
		{fixture("v1-quota"), fixtureCPUs, 1.5},             // cfs 150000/100000; the root's -1 sets none
		{fixture("v1-unlimited"), fixtureCPUs, fixtureCPUs}, // cfs_quota_us -1
		{fixture("v1-nested"), fixtureCPUs, 0.5},            // parent 0.5 < child 3
		{fixture("hybrid"), fixtureCPUs, 2},                 // v1's 2, not the unified mount's 0.1
		{fixture("container-v2"), fixtureCPUs, 2},           // the mount point's own cpu.max
		{fixture("container-v1"), fixtureCPUs, 0.5},         // the mount's root is the container's cgroup
		{t.TempDir(), fixtureCPUs, fixtureCPUs},             // no /proc/self/cgroup
		{fixture("no-mountinfo"), fixtureCPUs, fixtureCPUs},
		{fixture("unparsable"), fixtureCPUs, fixtureCPUs},
	} {
		if got := availableCPUs(tc.root, tc.numCPU); got != tc.want {
			t.Errorf("%s with %d CPUs: availableCPUs = %v, want %v", tc.root, tc.numCPU, got, tc.want)
		}
	}
}

func TestCgroupDetection(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		v2                    bool
		cpuDir, acctDir, mDir string // the process's directories, under the fixture
	}{
		{"v2-quota", true, "sys/fs/cgroup/app.slice/app.service", "sys/fs/cgroup/app.slice/app.service", "sys/fs/cgroup/app.slice/app.service"},
		{"v1-quota", false, "sys/fs/cgroup/cpu,cpuacct/app", "sys/fs/cgroup/cpu,cpuacct/app", "sys/fs/cgroup/memory/app"},
		{"v1-nested", false, "sys/fs/cgroup/cpu/a/b", "sys/fs/cgroup/cpuacct/a/b", "sys/fs/cgroup/memory/a/b"},
		{"hybrid", false, "sys/fs/cgroup/cpu,cpuacct/app", "sys/fs/cgroup/cpu,cpuacct/app", "sys/fs/cgroup/memory/app"},
		{"container-v2", true, "sys/fs/cgroup", "sys/fs/cgroup", "sys/fs/cgroup"},
		{"container-v1", false, "sys/fs/cgroup/cpu,cpuacct", "sys/fs/cgroup/cpu,cpuacct", "sys/fs/cgroup/memory"},
	} {
		root := fixture(tc.name)
		info, err := newCgroupInfo(root)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		for _, h := range []struct {
			what string
			h    *hierarchy
			dir  string
		}{{"cpu", info.cpu, tc.cpuDir}, {"cpuacct", info.cpuacct, tc.acctDir}, {"memory", info.memory, tc.mDir}} {
			switch {
			case h.h == nil:
				t.Errorf("%s: no %s hierarchy", tc.name, h.what)
			case h.h.v2 != tc.v2:
				t.Errorf("%s: %s v2 = %v, want %v", tc.name, h.what, h.h.v2, tc.v2)
			case h.h.dirs[0] != filepath.Join(root, h.dir):
				t.Errorf("%s: %s directory %s, want %s", tc.name, h.what, h.h.dirs[0], filepath.Join(root, h.dir))
			case h.h.dirs[len(h.h.dirs)-1] != h.h.mount:
				t.Errorf("%s: %s directories %v do not end at the mount point %s", tc.name, h.what, h.h.dirs, h.h.mount)
			}
		}
	}
	info, err := newCgroupInfo(t.TempDir())
	if err != nil || info.cpu != nil || info.cpuacct != nil || info.memory != nil {
		t.Errorf("no /proc/self/cgroup: got %+v, %v; want no hierarchies and no error", info, err)
	}
}

func TestMemoryReader(t *testing.T) {
	smallHost := func() (uint64, uint64, error) { return 750, 1500, nil }
	for _, tc := range []struct {
		name    string
		hostMem func() (uint64, uint64, error)
		want    float64
	}{
		{"v2-quota", fakeHostMem, 0.25},          // (512Mi - 256Mi inactive_file) / 1Gi
		{"v2-unlimited", fakeHostMem, hostRatio}, // memory.max "max": the host's
		{"v2-nested-parent", fakeHostMem, 0.5},   // parent: (800 - 300) / 1000
		{"v2-nested-child", fakeHostMem, 0.25},   // child: 500 / 2000
		{"v1-quota", fakeHostMem, 0.5},           // (1500 - 500 total_inactive_file) / 2000
		{"v1-quota", smallHost, 0.5},             // limit 2000 >= host total 1500: the host's 750/1500
		{"v1-unlimited", fakeHostMem, hostRatio}, // 9223372036854771712 is no limit
		{"v1-nested", fakeHostMem, 0.25},         // child: 250 / 1000
		{"hybrid", fakeHostMem, 0.5},             // v1's 1000 / 2000, not the unified mount's 10 / 10
		{"container-v2", fakeHostMem, 0.3},       // the mount point's (400 - 100) / 1000
		{"container-v1", fakeHostMem, 0},         // 900 - 1000 inactive floors at 0
		{"", fakeHostMem, hostRatio},             // no cgroup at all
	} {
		root := t.TempDir()
		if tc.name != "" {
			root = fixture(tc.name)
		}
		r := newMemoryReader(root, tc.hostMem)
		for i := 0; i < 2; i++ { // detection is cached; the second Read must agree
			got, err := r.Read()
			if err != nil || got != tc.want {
				t.Errorf("%q Read %d = %v, %v; want %v", tc.name, i, got, err, tc.want)
			}
		}
	}
}

// fakeClock returns a clock that starts at a whole second and moves only by
// advance.
func fakeClock() (now func() time.Time, advance func(time.Duration)) {
	t := time.Unix(1_700_000_000, 0)
	return func() time.Time { return t }, func(d time.Duration) { t = t.Add(d) }
}

func TestCPUReaderRatios(t *testing.T) {
	type step struct {
		usage   string        // the usage file's new content, "" to leave it
		elapsed time.Duration // clock advance before the Read
		want    float64       // -1 for ErrNotReady
	}
	v2stat := func(usec string) string { return "usage_usec " + usec + "\nuser_usec 0\nsystem_usec 0" }
	for _, tc := range []struct {
		name, file string // fixture, and its usage file
		numCPU     int
		steps      []step
	}{
		{"v2-quota", "sys/fs/cgroup/app.slice/app.service/cpu.stat", fixtureCPUs, []step{
			{"", 0, -1},                                      // first Read: usage_usec 1000000
			{v2stat("1750000"), time.Second, 0.5},            // 750 ms / (1 s × 1.5)
			{v2stat("1750000"), time.Second, 0},              // idle
			{v2stat("2125000"), 500 * time.Millisecond, 0.5}, // 375 ms / (0.5 s × 1.5)
			{v2stat("3625000"), time.Second, 1},              // 1.5 s / 1.5 s
			{v2stat("9625000"), time.Second, 1},              // 6 s / 1.5 s clamps to 1
			{v2stat("9625000"), 0, -1},                       // no time elapsed
			{v2stat("9925000"), 2 * time.Second, 0.1},        // 300 ms / (2 s × 1.5)
		}},
		{"v2-quota", "sys/fs/cgroup/app.slice/app.service/cpu.stat", 1, []step{
			{"", 0, -1},
			{v2stat("1750000"), time.Second, 0.75}, // quota CPUs = min(1.5, NumCPU 1)
		}},
		{"v2-nested-parent", "sys/fs/cgroup/a/cpu.stat", fixtureCPUs, []step{
			{"", 0, -1},
			{"usage_usec 250000", time.Second, 0.5}, // the parent's time over its 0.5 CPU
		}},
		{"container-v2", "sys/fs/cgroup/cpu.stat", fixtureCPUs, []step{
			{"", 0, -1},
			{"usage_usec 500000", time.Second, 0.25}, // 500 ms / (1 s × 2)
		}},
		{"v1-quota", "sys/fs/cgroup/cpu,cpuacct/app/cpuacct.usage", fixtureCPUs, []step{
			{"", 0, -1}, // first Read: 1e9 ns
			{"1750000000", time.Second, 0.5},
			{"1600000000", time.Second, 0}, // a counter that went back clamps to 0
			{"2350000000", time.Second, 0.5},
		}},
		{"v1-nested", "sys/fs/cgroup/cpuacct/a/cpuacct.usage", fixtureCPUs, []step{
			{"", 0, -1},
			{"250000000", time.Second, 0.5}, // cpuacct of the parent, which sets the 0.5 quota
		}},
		{"hybrid", "sys/fs/cgroup/cpu,cpuacct/app/cpuacct.usage", fixtureCPUs, []step{
			{"", 0, -1},
			{"1000000000", time.Second, 0.5}, // 1 s / (1 s × 2 CPUs of v1)
		}},
	} {
		root := copyFixture(t, tc.name)
		now, advance := fakeClock()
		r := newCPUReader(root, now, tc.numCPU, noHostTimes)
		for i, s := range tc.steps {
			if s.usage != "" {
				writeFile(t, filepath.Join(root, tc.file), s.usage)
			}
			advance(s.elapsed)
			got, err := r.Read()
			switch {
			case s.want < 0 && !errors.Is(err, ErrNotReady):
				t.Errorf("%s step %d: Read = %v, %v; want ErrNotReady", tc.name, i, got, err)
			case s.want >= 0 && (err != nil || got != s.want):
				t.Errorf("%s step %d: Read = %v, %v; want %v", tc.name, i, got, err, s.want)
			}
		}
	}
}

func TestCPUReaderHost(t *testing.T) {
	times := []struct{ busy, total float64 }{{10, 20}, {13, 26}, {13, 26}, {13, 36}, {33, 46}}
	wants := []float64{-1, 0.5, -1, 0, 1} // first Read; 3/6; no time counted; 0/10; 20/10 clamped
	for _, name := range []string{"", "v2-unlimited", "v1-unlimited"} {
		root := t.TempDir()
		if name != "" {
			root = fixture(name)
		}
		i := 0
		host := func() (float64, float64, error) { i++; return times[i-1].busy, times[i-1].total, nil }
		now, _ := fakeClock()
		r := newCPUReader(root, now, fixtureCPUs, host)
		for j, want := range wants {
			got, err := r.Read()
			switch {
			case want < 0 && !errors.Is(err, ErrNotReady):
				t.Errorf("%q Read %d = %v, %v; want ErrNotReady", name, j, got, err)
			case want >= 0 && (err != nil || got != want):
				t.Errorf("%q Read %d = %v, %v; want %v", name, j, got, err, want)
			}
		}
	}
}

func TestReaderErrors(t *testing.T) {
	for _, tc := range []struct {
		name, wantCPU, wantMem string // fixture, and the file each error must name
	}{
		{"no-mountinfo", "mountinfo", "mountinfo"},
		{"missing-usage", "cpu.stat", "memory.current"},
		{"unparsable", "cpu.max", "memory.max"},
	} {
		now, advance := fakeClock()
		cpu := newCPUReader(fixture(tc.name), now, fixtureCPUs, noHostTimes)
		mem := newMemoryReader(fixture(tc.name), fakeHostMem)
		for i := 0; i < 2; i++ {
			advance(time.Second)
			if _, err := cpu.Read(); err == nil || errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), tc.wantCPU) {
				t.Errorf("%s: CPU Read %d error = %v, want one naming %s", tc.name, i, err, tc.wantCPU)
			}
			if _, err := mem.Read(); err == nil || !strings.Contains(err.Error(), tc.wantMem) {
				t.Errorf("%s: memory Read %d error = %v, want one naming %s", tc.name, i, err, tc.wantMem)
			}
		}
	}
}

func TestParseMountinfo(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mountinfo")
	writeFile(t, file, `27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
40 31 0:37 /a\040b /sys/fs/cgroup/my\040cpu rw,relatime shared:1 master:2 - cgroup cgroup rw,cpu,cpuacct
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate`)
	got, err := parseMountinfo(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].root != "/a b" || got[0].point != "/sys/fs/cgroup/my cpu" ||
		got[0].fstype != "cgroup" || strings.Join(got[0].opts, ",") != "rw,cpu,cpuacct" ||
		got[1].fstype != "cgroup2" || got[1].point != "/sys/fs/cgroup/unified" {
		t.Errorf("parseMountinfo = %+v", got)
	}
	writeFile(t, file, "garbage")
	if _, err := parseMountinfo(file); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("bad mountinfo: error = %v, want one naming %s", err, file)
	}
}
