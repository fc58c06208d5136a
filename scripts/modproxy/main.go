// Command modproxy writes a Go module proxy directory, for GOPROXY=file://DIR,
// that serves modules of this repository from the working tree, at the
// version the nested modules require of the root module. The release check
// (scripts/release-check.sh) builds a user's module against it.
//
// Usage:
//
//	modproxy -out DIR ROOT_DIR [NESTED_DIR...]
//
// ROOT_DIR is the root module's directory; each NESTED_DIR a nested module's.
// modproxy fails, naming the go.mod and the line, if a nested module requires
// one of the given modules at a version other than the one the first nested
// module requires of the root (every release tags all of them at one version;
// see RELEASING.md). It writes, for each module, @v/list, and the version's
// .info, .mod (the module's go.mod) and .zip (the module's directory, less its
// nested modules, as golang.org/x/mod/zip makes it), then prints the version
// and the tag each module is to get, one a line.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

func main() {
	out := flag.String("out", "", "the proxy directory to write")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: modproxy -out DIR ROOT_DIR [NESTED_DIR...]")
		os.Exit(2)
	}
	if err := run(*out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "modproxy:", err)
		os.Exit(1)
	}
}

// mod is one module of the repository.
type mod struct {
	dir  string
	file *modfile.File
}

func (m mod) path() string { return m.file.Module.Mod.Path }

func run(out string, dirs []string) error {
	mods := make([]mod, len(dirs))
	for i, d := range dirs {
		f, err := parseGoMod(d)
		if err != nil {
			return err
		}
		mods[i] = mod{dir: d, file: f}
	}
	version, err := releaseVersion(mods)
	if err != nil {
		return err
	}
	fmt.Println(version)
	for _, m := range mods {
		if err := write(out, m, version); err != nil {
			return err
		}
		fmt.Println(tag(m.path(), mods[0].path(), version))
	}
	return nil
}

// tag returns the git tag that releases the module at path: the version for
// the root module (v0.1.0), the module's directory and the version for a
// nested one (adapters/gin/v0.1.0).
func tag(path, root, version string) string {
	if path == root {
		return version
	}
	return strings.TrimPrefix(path, root+"/") + "/" + version
}

func parseGoMod(dir string) (*modfile.File, error) {
	file := filepath.Join(dir, "go.mod")
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return modfile.Parse(file, b, nil)
}

// releaseVersion returns the version the first nested module requires of
// the root, after checking that every requirement among mods is on it.
func releaseVersion(mods []mod) (string, error) {
	if len(mods) < 2 {
		return "", errors.New("no nested module to take the version from")
	}
	paths := map[string]bool{}
	for _, m := range mods {
		paths[m.path()] = true
	}
	var version string
	for _, r := range mods[1].file.Require {
		if r.Mod.Path == mods[0].path() {
			version = r.Mod.Version
		}
	}
	if err := module.Check(mods[0].path(), version); err != nil || module.IsPseudoVersion(version) {
		return "", fmt.Errorf("%s/go.mod requires %s at %q: want a release version such as v0.1.0", mods[1].dir, mods[0].path(), version)
	}
	var bad []string
	for _, m := range mods {
		for _, r := range m.file.Require {
			if paths[r.Mod.Path] && r.Mod.Version != version {
				bad = append(bad, fmt.Sprintf("%s/go.mod:%d: %s %s, want %s",
					m.dir, r.Syntax.Start.Line, r.Mod.Path, r.Mod.Version, version))
			}
		}
	}
	if bad != nil {
		return "", errors.New("requirements off the release version:\n\t" + strings.Join(bad, "\n\t"))
	}
	return version, nil
}

// write adds module m at version to the proxy directory out.
func write(out string, m mod, version string) error {
	esc, err := module.EscapePath(m.path())
	if err != nil {
		return err
	}
	dir := filepath.Join(out, esc, "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{version, time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return err
	}
	goMod, err := os.ReadFile(filepath.Join(m.dir, "go.mod"))
	if err != nil {
		return err
	}
	for name, content := range map[string][]byte{"list": []byte(version + "\n"), version + ".info": info, version + ".mod": goMod} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			return err
		}
	}
	z, err := os.Create(filepath.Join(dir, version+".zip"))
	if err != nil {
		return err
	}
	if err := modzip.CreateFromDir(z, module.Version{Path: m.path(), Version: version}, m.dir); err != nil {
		z.Close()
		return fmt.Errorf("%s: %w", m.path(), err)
	}
	return z.Close()
}
