package file_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-go/sluice/datasource/file"
)

// chdir changes the process's working directory to dir until the test
// ends. The working directory is the process's, so a test that calls it
// must not run in parallel with others.
func chdir(t *testing.T, dir string) {
	t.Helper()
	old, err := os.Getwd()
	must(t, err)
	must(t, os.Chdir(dir))
	t.Cleanup(func() { must(t, os.Chdir(old)) })
}

// TestRelativePaths follows a file named by a path relative to the working
// directory, in each form a user may write it: fsnotify names events after
// the directory as it was watched ("./rules.yaml"), so the source must
// match them on the path it resolved. The working directory changes after
// New, which must not matter.
func TestRelativePaths(t *testing.T) {
	for _, tc := range []struct {
		name string
		cwd  string // relative to the test's directory
		path string // what the user gives New
	}{
		{"bare name", "conf", "rules.yaml"},
		{"dot slash", "conf", "./rules.yaml"},
		{"dot dot", "other", "../conf/rules.yaml"},
		{"subdirectory", ".", "conf/rules.yaml"},
		{"through a symlinked directory", ".", "link/rules.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, d := range []string{"conf", "other"} {
				must(t, os.Mkdir(filepath.Join(root, d), 0o755))
			}
			must(t, os.Symlink("conf", filepath.Join(root, "link")))
			real := filepath.Join(root, "conf", "rules.yaml")
			write(t, real, "v1")

			chdir(t, filepath.Join(root, tc.cwd))
			src := file.New(tc.path, file.WithDebounce(10*time.Millisecond), file.WithResync(time.Hour))
			want := "file " + filepath.Join(root, tc.cwd, tc.path)
			if src.String() != want {
				t.Errorf("String() = %q, want %q", src.String(), want)
			}
			wantFollows(t, src, real, replace, write)
		})
	}
}

// TestPathResolvedByNew: a relative path is resolved against the working
// directory of the call to New; a later change of directory does not move
// the file followed.
func TestPathResolvedByNew(t *testing.T) {
	root := t.TempDir()
	must(t, os.Mkdir(filepath.Join(root, "conf"), 0o755))
	path := filepath.Join(root, "conf", "rules.yaml")
	write(t, path, "v1")
	chdir(t, filepath.Join(root, "conf"))
	src := file.New("rules.yaml", file.WithDebounce(10*time.Millisecond), file.WithResync(time.Hour))
	chdir(t, root)
	if want := "file " + path; src.String() != want {
		t.Errorf("String() = %q, want %q", src.String(), want)
	}
	wantFollows(t, src, path, replace)
}

// TestRelativeSymlink follows rules.yaml, a relative symlink in the
// working directory to data/rules.yaml: an edit of its target, then the
// link replaced by one to another file, as a ConfigMap volume does.
func TestRelativeSymlink(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"data", "data2"} {
		must(t, os.Mkdir(filepath.Join(root, d), 0o755))
	}
	write(t, filepath.Join(root, "data", "rules.yaml"), "v1")
	write(t, filepath.Join(root, "data2", "rules.yaml"), "v3")
	must(t, os.Symlink(filepath.Join("data", "rules.yaml"), filepath.Join(root, "rules.yaml")))
	chdir(t, root)

	rec := watch(t, file.New("rules.yaml", file.WithDebounce(10*time.Millisecond), file.WithResync(time.Hour)))
	waitStates(t, rec, "v1")
	write(t, filepath.Join(root, "data", "rules.yaml"), "v2")
	waitStates(t, rec, "v1", "v2")
	must(t, os.Symlink(filepath.Join("data2", "rules.yaml"), filepath.Join(root, ".rules.yaml.new")))
	must(t, os.Rename(filepath.Join(root, ".rules.yaml.new"), filepath.Join(root, "rules.yaml")))
	waitStates(t, rec, "v1", "v2", "v3")
}

// TestUnresolvablePath: an empty path, or a relative one while the working
// directory is gone, makes Watch fail at once, naming the path.
func TestUnresolvablePath(t *testing.T) {
	// Watch returns at once; the deadline only bounds a Watch that would not.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := file.New("").Watch(ctx, &recorder{})
	if err == nil || !strings.Contains(err.Error(), "no path") {
		t.Errorf("Watch of an empty path: %v, want an error saying no path was given", err)
	}

	gone := filepath.Join(t.TempDir(), "gone")
	must(t, os.Mkdir(gone, 0o755))
	chdir(t, gone)
	must(t, os.Remove(gone))
	err = file.New("rules.yaml").Watch(ctx, &recorder{})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "resolve rules.yaml") {
		t.Errorf("Watch with the working directory gone: %v, want a resolve error wrapping fs.ErrNotExist", err)
	}
}
