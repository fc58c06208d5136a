package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-go/sluice/datasource/nacos/nacostest"
)

// runAsMain makes the test binary run main instead of the tests when it is
// started by TestProcess.
const runAsMain = "SLUICE_EXAMPLE_NACOS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsMain) == "1" {
		main()
		os.Exit(0)
	}
	code := m.Run()
	if code == 0 {
		if err := nacostest.FindLeaks(); err != nil {
			println("goleak:", err.Error())
			code = 1
		}
	}
	os.Exit(code)
}

// TestDocRunsFromRoot: the go run command in the doc comment, run from the
// repository root as it says, names this program.
func TestDocRunsFromRoot(t *testing.T) {
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	cmds := regexp.MustCompile(`go run (\S+)`).FindAllStringSubmatch(string(src), -1)
	if len(cmds) == 0 {
		t.Fatal("the doc comment has no go run command")
	}
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(here, "..", "..")
	for _, c := range cmds {
		if got := filepath.Join(root, c[1]); got != here {
			t.Errorf("go run %s from the repository root runs %s, not %s", c[1], got, here)
		}
	}
}

// TestProcess runs the program as a process, stops it with SIGTERM, as a
// service manager does, and checks that it printed each event once (and
// nothing else), exited 0, and left no temporary directory behind.
func TestProcess(t *testing.T) {
	srv := nacostest.NewServer(t)
	if err := srv.Publish("sluice-flow-rules", "", `[{"resource":"a","threshold":10}]`); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	out := &syncBuffer{}
	cmd := exec.Command(os.Args[0], "-addr", srv.Addr(), "-grpcPort", strconv.Itoa(srv.GRPCPort()), "-reconcile", "2s")
	cmd.Env = append(os.Environ(), runAsMain+"=1", "TMPDIR="+tmp)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waited := false
	defer func() { // a test that failed early does not leave the process running
		if !waited {
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	eventually(t, "initial rules printed", func() bool { return strings.Contains(out.String(), "threshold=10") })
	if err := srv.Publish("sluice-flow-rules", "", `[{"resource":"a","threshold":25}]`); err != nil {
		t.Fatal(err)
	}
	eventually(t, "published change printed", func() bool { return strings.Contains(out.String(), "threshold=25") })

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		waited = true
		if err != nil {
			t.Errorf("after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no exit within 10 s of SIGTERM:\n%s", out.String())
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("left behind in TMPDIR: %s", e.Name())
	}

	const name = "nacos public/DEFAULT_GROUP/sluice-flow-rules"
	want := []string{
		"watching " + name + " (interrupt or terminate to stop)",
		name + ": 1 flow rules in force:",
		"  resource=a threshold=10",
		name + ": 1 flow rules in force:",
		"  resource=a threshold=25",
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		if !strings.HasPrefix(line, "error: ") { // a read the SDK's rate limit refused, retried
			got = append(got, line)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("output:\n%s\nwant each event once:\n%s", out.String(), strings.Join(want, "\n"))
	}
}
