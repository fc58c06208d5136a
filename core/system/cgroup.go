package system

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// This file locates the process's cgroups (v2 or v1) and parses their
// files. Every path is under a root directory, "/" outside tests.

// hierarchy is the cgroup hierarchy that holds one controller, as seen by
// this process.
type hierarchy struct {
	v2    bool
	mount string // the mount point, under root
	// dirs are the process's cgroup directory, then each ancestor up to
	// and including mount.
	dirs []string
}

// cgroupInfo holds the hierarchies of the controllers the readers use. A
// nil hierarchy means the controller was not found (no cgroup).
type cgroupInfo struct {
	cpu     *hierarchy // cpu.max, or cpu.cfs_quota_us and cpu.cfs_period_us
	cpuacct *hierarchy // cpu.stat usage_usec, or cpuacct.usage
	memory  *hierarchy
}

// mount is one line of mountinfo that mounts a cgroup hierarchy.
type mount struct {
	root, point, fstype string
	opts                []string // super options
}

// newCgroupInfo locates the cgroups of the process from root/proc/self/cgroup
// and root/proc/self/mountinfo. With no root/proc/self/cgroup (not Linux, or
// no /proc), it returns an empty cgroupInfo and no error.
func newCgroupInfo(root string) (*cgroupInfo, error) {
	info := &cgroupInfo{}
	cgFile := filepath.Join(root, "proc/self/cgroup")
	paths, err := parseProcCgroup(cgFile)
	if errors.Is(err, fs.ErrNotExist) {
		return info, nil
	}
	if err != nil {
		return nil, err
	}
	mounts, err := parseMountinfo(filepath.Join(root, "proc/self/mountinfo"))
	if err != nil {
		return nil, err
	}
	find := func(controller string) *hierarchy {
		if p, ok := paths[""]; ok {
			for _, m := range mounts {
				if m.fstype == "cgroup2" && v2Lists(filepath.Join(root, m.point), controller) {
					return newHierarchy(root, m, p, true)
				}
			}
		}
		if p, ok := paths[controller]; ok {
			for _, m := range mounts {
				if m.fstype == "cgroup" && contains(m.opts, controller) {
					return newHierarchy(root, m, p, false)
				}
			}
		}
		return nil
	}
	info.cpu = find("cpu")
	info.memory = find("memory")
	if info.cpu != nil && info.cpu.v2 {
		info.cpuacct = info.cpu // cpu.stat is in the same directories
	} else {
		info.cpuacct = find("cpuacct")
	}
	return info, nil
}

// parseProcCgroup maps each v1 controller of a /proc/self/cgroup file to its
// cgroup path, and "" to the v2 path.
func parseProcCgroup(file string) (map[string]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("system: %w", err)
	}
	paths := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			return nil, fmt.Errorf("system: %s: bad line %q", file, line)
		}
		if f[1] == "" {
			paths[""] = f[2]
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			paths[c] = f[2]
		}
	}
	return paths, nil
}

// parseMountinfo returns the cgroup and cgroup2 mounts of a mountinfo file.
func parseMountinfo(file string) ([]mount, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("system: %w", err)
	}
	var mounts []mount
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		// 35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 {
			return nil, fmt.Errorf("system: %s: bad line %q", file, sc.Text())
		}
		if g[0] != "cgroup" && g[0] != "cgroup2" {
			continue
		}
		mounts = append(mounts, mount{
			root:   unescapeMount(f[3]),
			point:  unescapeMount(f[4]),
			fstype: g[0],
			opts:   strings.Split(g[2], ","),
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("system: %s: %w", file, err)
	}
	return mounts, nil
}

// unescapeMount undoes mountinfo's octal escapes, such as \040 for a space.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// v2Lists reports whether dir/cgroup.controllers lists controller.
func v2Lists(dir, controller string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	return err == nil && contains(strings.Fields(string(b)), controller)
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// newHierarchy maps the cgroup path p to a directory: the mount point plus p
// relative to the mount's root, or the mount point itself if that directory
// does not exist (a cgroup namespace that hides the host's path).
func newHierarchy(root string, m mount, p string, v2 bool) *hierarchy {
	point := filepath.Join(root, m.point)
	dir := point
	if rel, err := filepath.Rel(m.root, p); err == nil && !strings.HasPrefix(rel, "..") {
		if d := filepath.Join(point, rel); isDir(d) {
			dir = d
		}
	}
	h := &hierarchy{v2: v2, mount: point}
	for d := dir; ; d = filepath.Dir(d) {
		h.dirs = append(h.dirs, d)
		if d == point || d == filepath.Dir(d) {
			break
		}
	}
	return h
}

func isDir(d string) bool {
	st, err := os.Stat(d)
	return err == nil && st.IsDir()
}

// readFile reads a cgroup file, trimmed. A missing file gives an error that
// wraps fs.ErrNotExist; every error names the file.
func readFile(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("system: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func parseInt(file, s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("system: %s: cannot parse %q as an integer", file, s)
	}
	return n, nil
}

func readInt(file string) (int64, error) {
	s, err := readFile(file)
	if err != nil {
		return 0, err
	}
	return parseInt(file, s)
}

// cpuQuota returns the tightest CPU quota of h's directories, in CPUs, and
// the directory that sets it; ok is false if none sets one. A directory
// without the quota files sets none.
func (h *hierarchy) cpuQuota() (cpus float64, dir string, ok bool, err error) {
	cpus = math.Inf(1)
	for _, d := range h.dirs {
		q, found, err := h.quotaOf(d)
		if err != nil {
			return 0, "", false, err
		}
		if found && q < cpus {
			cpus, dir, ok = q, d, true
		}
	}
	return cpus, dir, ok, nil
}

// quotaOf returns the CPU quota of one directory in CPUs; found is false if
// it has none (unlimited, or no quota files).
func (h *hierarchy) quotaOf(d string) (cpus float64, found bool, err error) {
	var quota, period int64
	if h.v2 {
		file := filepath.Join(d, "cpu.max")
		s, err := readFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, err
		}
		f := strings.Fields(s) // "max 100000" or "150000 100000"
		if len(f) != 2 {
			return 0, false, fmt.Errorf("system: %s: cannot parse %q", file, s)
		}
		if f[0] == "max" {
			return 0, false, nil
		}
		if quota, err = parseInt(file, f[0]); err != nil {
			return 0, false, err
		}
		if period, err = parseInt(file, f[1]); err != nil {
			return 0, false, err
		}
	} else {
		file := filepath.Join(d, "cpu.cfs_quota_us")
		quota, err = readInt(file)
		if errors.Is(err, fs.ErrNotExist) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, err
		}
		if quota == -1 {
			return 0, false, nil
		}
		if period, err = readInt(filepath.Join(d, "cpu.cfs_period_us")); err != nil {
			return 0, false, err
		}
	}
	if quota <= 0 || period <= 0 {
		return 0, false, fmt.Errorf("system: %s: bad CPU quota %d/%d", d, quota, period)
	}
	return float64(quota) / float64(period), true, nil
}

// cpuUsageDir returns the directory of h (a cpuacct hierarchy) that accounts
// for the CPU time of the cgroup in cpuDir, a directory of the cpu
// hierarchy: the same directory when both are mounted together, else the
// same path under h's mount point if it exists, else the process's own.
func (h *hierarchy) cpuUsageDir(cpu *hierarchy, cpuDir string) string {
	if h == cpu || h.mount == cpu.mount {
		return cpuDir
	}
	if rel, err := filepath.Rel(cpu.mount, cpuDir); err == nil {
		if d := filepath.Join(h.mount, rel); isDir(d) {
			return d
		}
	}
	return h.dirs[0]
}

// cpuUsage returns the CPU time, in nanoseconds, of the cgroup in dir: v2
// cpu.stat usage_usec, v1 cpuacct.usage.
func (h *hierarchy) cpuUsage(dir string) (int64, error) {
	if !h.v2 {
		return readInt(filepath.Join(dir, "cpuacct.usage"))
	}
	file := filepath.Join(dir, "cpu.stat")
	us, found, err := statKey(file, "usage_usec")
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("system: %s: no usage_usec", file)
	}
	return us * 1000, nil
}

// statKey returns the value of key in a flat-keyed file such as cpu.stat or
// memory.stat ("key value" lines).
func statKey(file, key string) (v int64, found bool, err error) {
	s, err := readFile(file)
	if err != nil {
		return 0, false, err
	}
	for _, line := range strings.Split(s, "\n") {
		k, val, _ := strings.Cut(line, " ")
		if k == key {
			v, err := parseInt(file, strings.TrimSpace(val))
			return v, err == nil, err
		}
	}
	return 0, false, nil
}

// memoryLimit returns the tightest memory limit of h's directories, in
// bytes, and the directory that sets it; ok is false if none sets one. A
// limit >= hostTotal (when hostTotal > 0) or >= 1<<62 is no limit, as is a
// directory without the limit file.
func (h *hierarchy) memoryLimit(hostTotal uint64) (limit int64, dir string, ok bool, err error) {
	name := "memory.limit_in_bytes"
	if h.v2 {
		name = "memory.max"
	}
	for _, d := range h.dirs {
		file := filepath.Join(d, name)
		s, err := readFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, "", false, err
		}
		if s == "max" {
			continue
		}
		n, err := parseInt(file, s)
		if err != nil {
			return 0, "", false, err
		}
		if n <= 0 || n >= 1<<62 || hostTotal > 0 && uint64(n) >= hostTotal {
			continue
		}
		if !ok || n < limit {
			limit, dir, ok = n, d, true
		}
	}
	return limit, dir, ok, nil
}

// workingSet returns the memory usage of the cgroup in dir, in bytes, less
// its inactive file cache, floored at 0: v2 memory.current minus memory.stat
// inactive_file, v1 memory.usage_in_bytes minus memory.stat
// total_inactive_file. A memory.stat without the key counts as 0 inactive.
func (h *hierarchy) workingSet(dir string) (int64, error) {
	usageName, key := "memory.usage_in_bytes", "total_inactive_file"
	if h.v2 {
		usageName, key = "memory.current", "inactive_file"
	}
	usage, err := readInt(filepath.Join(dir, usageName))
	if err != nil {
		return 0, err
	}
	inactive, _, err := statKey(filepath.Join(dir, "memory.stat"), key)
	if err != nil {
		return 0, err
	}
	return max(usage-inactive, 0), nil
}
