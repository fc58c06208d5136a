package file_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/datasource"
	"github.com/sluice-go/sluice/datasource/datasourcetest"
	"github.com/sluice-go/sluice/datasource/file"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a datasource.Handler that keeps what it is given.
type recorder struct{ datasourcetest.Recorder }

// states returns each delivery as its data, or "<deleted>". It leaves out
// empty reads: os.WriteFile truncates before it writes, and a read may
// land in between (no test writes an empty file on purpose).
func (r *recorder) states() []string {
	out := []string{}
	for _, u := range r.Updates() {
		switch {
		case u.Deleted:
			out = append(out, "<deleted>")
		case len(u.Data) > 0:
			out = append(out, string(u.Data))
		}
	}
	return out
}

func (r *recorder) errors() []error { return r.Errors() }

// watch runs src.Watch until the test ends (see datasourcetest.Watch).
func watch(t *testing.T, src *file.Source) *recorder {
	t.Helper()
	rec := &recorder{}
	datasourcetest.Watch(t, src, rec)
	return rec
}

// eventually polls cond until it holds, failing the test after 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	datasourcetest.Eventually(t, 5*time.Second, what, cond)
}

// waitStates waits until the deliveries are exactly want.
func waitStates(t *testing.T, rec *recorder, want ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := rec.states()
		if equal(got, want) {
			return
		}
		if len(got) > len(want) || time.Now().After(deadline) {
			t.Fatalf("deliveries %q, want %q", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// replace writes data to path as editors and tools do: to a new file in
// the same directory, renamed over path.
func replace(t *testing.T, path, data string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	write(t, tmp, data)
	must(t, os.Rename(tmp, path))
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// wantFollows watches src, whose file at path holds "v1", and makes each
// change to path in turn, the first writing "v2", the next "v3" and so on:
// after each, the deliveries must be exactly the versions so far.
func wantFollows(t *testing.T, src *file.Source, path string, changes ...func(t *testing.T, path, data string)) {
	t.Helper()
	rec := watch(t, src)
	want := []string{"v1"}
	waitStates(t, rec, want...)
	for i, change := range changes {
		data := fmt.Sprintf("v%d", i+2)
		change(t, path, data)
		want = append(want, data)
		waitStates(t, rec, want...)
	}
}

func TestFollowsEditsInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.json")
	write(t, path, "v1")
	wantFollows(t, file.New(path, file.WithDebounce(20*time.Millisecond)), path, write, write)
}

func TestFollowsAtomicRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.json")
	write(t, path, "v1")
	wantFollows(t, file.New(path, file.WithDebounce(20*time.Millisecond)), path, replace, replace)
}

// TestFollowsConfigMapSwap replays how the kubelet updates a ConfigMap
// volume: rules.json is a symlink to ..data/rules.json, ..data a symlink to
// a timestamped directory, and an update renames a new ..data_tmp symlink
// over ..data. No event names rules.json.
func TestFollowsConfigMapSwap(t *testing.T) {
	dir := t.TempDir()
	version := func(name, data string) {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, name, "rules.json"), data)
	}
	version("..2026_12_01_10_00_00.1", "v1")
	must(t, os.Symlink("..2026_12_01_10_00_00.1", filepath.Join(dir, "..data")))
	must(t, os.Symlink(filepath.Join("..data", "rules.json"), filepath.Join(dir, "rules.json")))

	rec := watch(t, file.New(filepath.Join(dir, "rules.json"), file.WithDebounce(20*time.Millisecond)))
	waitStates(t, rec, "v1")

	version("..2026_12_01_10_05_00.2", "v2")
	must(t, os.Symlink("..2026_12_01_10_05_00.2", filepath.Join(dir, "..data_tmp")))
	must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	must(t, os.RemoveAll(filepath.Join(dir, "..2026_12_01_10_00_00.1")))
	waitStates(t, rec, "v1", "v2")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestFollowsDeletionAndRecreation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.json")
	rec := watch(t, file.New(path, file.WithDebounce(20*time.Millisecond)))
	waitStates(t, rec, "<deleted>") // missing at the start
	write(t, path, "v1")
	waitStates(t, rec, "<deleted>", "v1")
	must(t, os.Remove(path))
	waitStates(t, rec, "<deleted>", "v1", "<deleted>")
	write(t, path, "v1") // the same data again is news after a deletion
	waitStates(t, rec, "<deleted>", "v1", "<deleted>", "v1")
}

// TestDebounces writes the file many times in a burst: one delivery must
// carry the last write. A later, separate write then shows that nothing
// else was delivered in between.
func TestDebounces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.json")
	write(t, path, "start")
	rec := watch(t, file.New(path, file.WithDebounce(300*time.Millisecond)))
	waitStates(t, rec, "start")
	for i := 0; i < 20; i++ {
		write(t, path, "burst "+string(rune('a'+i)))
	}
	waitStates(t, rec, "start", "burst t")
	write(t, path, "after")
	waitStates(t, rec, "start", "burst t", "after")
}

// TestFollowsReplacedDirectory: once the file's directory has been
// replaced, the watch on the old one is gone; the source watches the new
// one, so a later write is seen without waiting for a resync.
func TestFollowsReplacedDirectory(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "conf")
	must(t, os.Mkdir(dir, 0o755))
	path := filepath.Join(dir, "rules.json")
	write(t, path, "v1")
	rec := watch(t, file.New(path, file.WithDebounce(10*time.Millisecond), file.WithResync(time.Hour)))
	waitStates(t, rec, "v1")

	other := filepath.Join(parent, "conf.new")
	must(t, os.Mkdir(other, 0o755))
	write(t, filepath.Join(other, "rules.json"), "v2")
	must(t, os.RemoveAll(dir))
	must(t, os.Rename(other, dir))
	eventually(t, "v2 delivered", func() bool { return last(rec) == "v2" })
	replace(t, path, "v3")
	eventually(t, "v3 delivered", func() bool { return last(rec) == "v3" })
}

func last(rec *recorder) string {
	s := rec.states()
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

// TestFollowsSymlinkTarget: path is a symlink to a file in another
// directory, edited in place there.
func TestFollowsSymlinkTarget(t *testing.T) {
	data, conf := t.TempDir(), t.TempDir()
	target := filepath.Join(data, "rules.json")
	write(t, target, "v1")
	path := filepath.Join(conf, "rules.json")
	must(t, os.Symlink(target, path))
	rec := watch(t, file.New(path, file.WithDebounce(10*time.Millisecond), file.WithResync(time.Hour)))
	waitStates(t, rec, "v1")
	write(t, target, "v2")
	waitStates(t, rec, "v1", "v2")
}

// TestResyncWithoutEvents: a write through a hard link in a directory the
// source does not watch makes no event it sees; the resync finds it.
func TestResyncWithoutEvents(t *testing.T) {
	elsewhere := filepath.Join(t.TempDir(), "rules.json")
	write(t, elsewhere, "v1")
	path := filepath.Join(t.TempDir(), "rules.json")
	must(t, os.Link(elsewhere, path))
	rec := watch(t, file.New(path, file.WithDebounce(10*time.Millisecond), file.WithResync(100*time.Millisecond)))
	waitStates(t, rec, "v1")
	write(t, elsewhere, "v2")
	waitStates(t, rec, "v1", "v2")
}

// TestOtherFilesDoNotDelay: a sibling written all the time neither delays
// the file's changes (each of its events would restart the debounce) nor
// is delivered.
func TestOtherFilesDoNotDelay(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.json")
	write(t, path, "v1")
	rec := watch(t, file.New(path, file.WithDebounce(100*time.Millisecond), file.WithResync(time.Hour)))
	waitStates(t, rec, "v1")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			os.WriteFile(filepath.Join(dir, "app.log"), []byte(strings.Repeat("x", i%100)), 0o644)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	defer func() { close(stop); <-done }()
	replace(t, path, "v2")
	waitStates(t, rec, "v1", "v2")
}

// TestCancelledContextReadsNothing: a Watch whose context is already done
// returns without a delivery.
func TestCancelledContextReadsNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.json")
	write(t, path, "v1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := &recorder{}
	if err := file.New(path).Watch(ctx, rec); !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch: %v, want context.Canceled", err)
	}
	if s := rec.states(); len(s) != 0 {
		t.Fatalf("deliveries %q, want none", s)
	}
}

func TestReadErrorIsReportedAndLastDeliveryStands(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.json")
	write(t, path, "v1")
	rec := watch(t, file.New(path, file.WithDebounce(10*time.Millisecond)))
	waitStates(t, rec, "v1")
	must(t, os.Remove(path))
	must(t, os.Mkdir(path, 0o755)) // reading a directory fails, not with ErrNotExist
	eventually(t, "a read error reported", func() bool { return len(rec.errors()) > 0 })
	must(t, os.Remove(path))
	write(t, path, "v2")
	// The directory was never delivered as a deletion or as data.
	eventually(t, "v2 delivered", func() bool { return last(rec) == "v2" })
	for _, s := range rec.states() {
		if s != "v1" && s != "v2" && s != "<deleted>" {
			t.Fatalf("unexpected delivery %q", s)
		}
	}
}

func TestWatchFailsForMissingDirectory(t *testing.T) {
	src := file.New(filepath.Join(t.TempDir(), "no", "such", "rules.json"))
	err := src.Watch(context.Background(), &recorder{})
	if err == nil {
		t.Fatal("Watch of a file in a missing directory returned nil")
	}
}

// TestBindsEngine feeds an engine from a file: a load, a bad edit that
// leaves the rules in force, and a good one.
func TestBindsEngine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flow.yaml")
	write(t, path, "- resource: GET /orders\n  threshold: 10\n")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := sluice.New(sluice.WithLogger(quiet))
	defer eng.Close()
	errs := make(chan error, 10)
	b, err := datasource.Start(context.Background(), eng, file.New(path, file.WithDebounce(10*time.Millisecond)),
		datasource.Config{Kind: datasource.Flow, Format: datasource.YAML, Logger: quiet,
			OnError: func(err error) { errs <- err }})
	must(t, err)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	must(t, b.Wait(ctx))
	if got := eng.Rules().Flow; len(got) != 1 || got[0].Threshold != 10 {
		t.Fatalf("flow rules %+v, want one with threshold 10", got)
	}

	replace(t, path, "- resource: GET /orders\n  threshold: -1\n")
	select {
	case err := <-errs:
		if !errors.Is(err, sluice.ErrInvalidRule) {
			t.Fatalf("error %v, want one wrapping ErrInvalidRule", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no error reported for an invalid rule")
	}
	if got := eng.Rules().Flow; len(got) != 1 || got[0].Threshold != 10 {
		t.Fatalf("after a bad edit, flow rules %+v, want the old ones", got)
	}

	replace(t, path, "- resource: GET /orders\n  threshold: 20\n")
	eventually(t, "threshold 20 in force", func() bool {
		got := eng.Rules().Flow
		return len(got) == 1 && got[0].Threshold == 20
	})
}
