package adaptertest

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
)

// LogBuffer is a bytes.Buffer safe for a server's goroutines.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *LogBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *LogBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// CaptureDefaultLog points slog.Default at a buffer until t ends (the
// adapters log a panicking callback there).
func CaptureDefaultLog(t testing.TB) *LogBuffer {
	t.Helper()
	old := slog.Default()
	buf := &LogBuffer{}
	slog.SetDefault(slog.New(slog.NewTextHandler(buf, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	return buf
}
