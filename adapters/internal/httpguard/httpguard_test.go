package httpguard

import (
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sluice-go/sluice"
)

func TestRetryAfterRoundsUpWithoutOverflow(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, ""},
		{-time.Second, ""},
		{math.MinInt64, ""},
		{1, "1"},
		{time.Second, "1"},
		{time.Second + 1, "2"},
		{90 * time.Minute, "5400"},
		{math.MaxInt64 - time.Second + 2, "9223372036"}, // d + 1s - 1 overflows
		{math.MaxInt64, "9223372037"},                   // 9223372036.854775807 s, rounded up
		{math.MaxInt64 / time.Second * time.Second, "9223372036"},
	} {
		h := http.Header{}
		setRetryAfter(h, c.d)
		if got := h.Get("Retry-After"); got != c.want {
			t.Errorf("Retry-After for %d ns: %q, want %q", int64(c.d), got, c.want)
		}
	}
}

func TestWriteBlockedWithTheLongestRetryAfter(t *testing.T) {
	w := httptest.NewRecorder()
	WriteBlocked(w, &sluice.BlockError{Type: sluice.BlockTypeFlow, RetryAfter: math.MaxInt64})
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "9223372037" {
		t.Fatalf("status %d, Retry-After %q, want 429 and 9223372037", w.Code, w.Header().Get("Retry-After"))
	}
}

func TestStatusErr(t *testing.T) {
	for _, status := range []int{500, 503, 999, 1000, -1} {
		if got, want := StatusErr(status).Error(), StatusError(status).Error(); got != want {
			t.Errorf("StatusErr(%d): %q, want %q", status, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = StatusErr(503) }); n != 0 {
		t.Fatalf("StatusErr(503): %v allocations", n)
	}
}
