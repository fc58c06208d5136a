package datasource_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-go/sluice/datasource"
)

// TestBindingMissingKeyAtStart: a first delivery of Deleted makes the
// binding ready with an error wrapping ErrNotFound, logged as a warning,
// and no rules; the key created later is loaded, and Wait still reports
// the first read.
func TestBindingMissingKeyAtStart(t *testing.T) {
	logs := &logRecorder{}
	f := start(t, datasource.Config{Kind: datasource.Flow, Logger: slog.New(logs)})
	f.deliver(datasource.Update{Deleted: true})
	err := f.b.Wait(context.Background())
	if !errors.Is(err, datasource.ErrNotFound) || !strings.Contains(err.Error(), "chan test") {
		t.Fatalf("Wait: %v, want an error naming the source and wrapping ErrNotFound", err)
	}
	f.wantThresholds(t)
	if got := logs.at(slog.LevelWarn); len(got) != 1 || !strings.Contains(got[0], "missing") {
		t.Errorf("warnings %q, want one saying the key is missing", got)
	}
	if st := f.b.Stats(); st.Deletes != 0 || st.LastError != nil {
		t.Errorf("stats %+v, want no deletion and no error: nothing was loaded or refused", st)
	}
	f.put(`[{"resource":"a","threshold":10}]`)
	f.wantThresholds(t, 10)
	if err := f.b.Wait(context.Background()); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("Wait after the key was created: %v, want still ErrNotFound (the first read)", err)
	}
}

// TestBindingLaterDeletionIsNoError: a key read first and deleted later
// leaves Wait's nil, and a deletion is no ErrNotFound.
func TestBindingLaterDeletionIsNoError(t *testing.T) {
	f := start(t, datasource.Config{Kind: datasource.Flow})
	f.put(`[{"resource":"a","threshold":10}]`)
	f.deliver(datasource.Update{Deleted: true})
	f.deliver(datasource.Update{Deleted: true})
	if err := f.b.Wait(context.Background()); err != nil {
		t.Fatalf("Wait: %v, want nil", err)
	}
	f.wantThresholds(t, 10)
	if errs := f.errors(); len(errs) != 0 {
		t.Errorf("errors %v, want none for a deletion", errs)
	}
}

// logRecorder is a slog.Handler that keeps each record's level and
// message.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r)
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// at returns the messages logged at level.
func (l *logRecorder) at(level slog.Level) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		if r.Level == level {
			out = append(out, r.Message)
		}
	}
	return out
}
