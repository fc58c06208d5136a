// Command overload is the overload experiment behind Sluice's BBR system
// rule: a CPU-bound HTTP handler on loopback is offered about three times
// what it can serve, once unprotected and once behind a BBR rule on CPU
// usage, and the goodput and latency of both runs are printed as a table.
//
//	cd benchmark && go run ./overload            # about 70 s
//	go run ./overload -duration 5s -drain 2s     # a quick look
//
// The steps:
//
//  1. unloaded: one client, one request at a time, for 2 s: the unloaded
//     latency of the handler;
//  2. capacity: a closed loop of 2 × GOMAXPROCS clients for 3 s: the
//     requests per second the handler completes flat out;
//  3. overload, unprotected, then protected: an open loop that sends
//     -factor × capacity requests per second, evenly spaced, for
//     -duration. Latency is measured from the moment each request was due,
//     not from when it was sent, so a client held up by a slow server does
//     not hide the wait (no coordinated omission). After -duration, the
//     requests still open get -drain to finish and are then cancelled and
//     counted as unfinished.
//
// Goodput is the rate of 200 responses completed within -duration. The
// protected run has a system.Rule{MetricType: CPUUsage, TriggerCount:
// -trigger, Strategy: BBR}, read by the engine's default, cgroup-aware
// readers; refused requests get 429 at once.
//
// Client and server share the machine (loopback only), as a sidecar and
// its service would.
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/system"
)

var (
	duration = flag.Duration("duration", 20*time.Second, "how long each overload run offers traffic")
	drain    = flag.Duration("drain", 5*time.Second, "how long requests still open after a run may take to finish")
	factor   = flag.Float64("factor", 3, "offered load as a multiple of the measured capacity")
	work     = flag.Int("work", 20000, "SHA-256 rounds per request: the handler's CPU cost")
	trigger  = flag.Float64("trigger", 0.8, "TriggerCount of the BBR CPUUsage rule")
	interval = flag.Duration("sample", sluice.DefaultSystemSampleInterval, "the engine's system sample interval")
	conns    = flag.Int("conns", 512, "the client's connection limit to the server")
)

func main() {
	flag.Parse()
	eng := sluice.New(sluice.WithSystemSampleInterval(*interval),
		sluice.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer eng.Close()
	var protect atomic.Bool
	srv, url := serve(eng, &protect)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: *conns, MaxIdleConnsPerHost: *conns}}

	fmt.Printf("GOMAXPROCS %d, CPUs available %.2f, %d SHA-256 rounds per request, BBR CPUUsage trigger %v, sample every %v\n\n",
		runtime.GOMAXPROCS(0), system.AvailableCPUs(), *work, *trigger, *interval)

	unloaded := closedLoop(client, url, 1, 2*time.Second)
	capacity := closedLoop(client, url, 2*runtime.GOMAXPROCS(0), 3*time.Second)
	offered := *factor * capacity.rate
	fmt.Printf("unloaded: p50 %v, p99 %v (one request at a time)\n", ms(unloaded.p(0.50)), ms(unloaded.p(0.99)))
	fmt.Printf("capacity: %.0f requests/s (closed loop, %d clients); offered in overload: %.0f/s\n\n",
		capacity.rate, 2*runtime.GOMAXPROCS(0), offered)

	without := openLoop(client, url, offered)
	if err := eng.LoadSystemRules([]system.Rule{{MetricType: system.CPUUsage, TriggerCount: *trigger,
		Strategy: system.BBR}}); err != nil {
		log.Fatal(err)
	}
	protect.Store(true)
	time.Sleep(2 * *interval) // a CPU reading needs two samples
	with := openLoop(client, url, offered)

	fmt.Printf("| run (%.0f/s offered for %v) | goodput /s | of capacity | 429 /s | p50 | p99 | p99 of the last 5 s | unfinished |\n",
		offered, *duration)
	fmt.Println("|---|--:|--:|--:|--:|--:|--:|--:|")
	for _, r := range []struct {
		name string
		res  openResult
	}{{"no rule", without}, {"BBR CPUUsage rule", with}} {
		fmt.Printf("| %s | %.0f | %.0f %% | %.0f | %v | %v | %v | %d |\n", r.name, r.res.goodput,
			100*r.res.goodput/capacity.rate, r.res.rejected, ms(r.res.ok.p(0.50)), ms(r.res.ok.p(0.99)),
			ms(r.res.tail.p(0.99)), r.res.unfinished)
	}
	fmt.Printf("\nunloaded p99 %v; targets with the rule: p99 within 3× (%v), goodput >= 80 %% of capacity (%.0f/s)\n",
		ms(unloaded.p(0.99)), ms(3*unloaded.p(0.99)), 0.8*capacity.rate)
}

// serve starts the CPU-bound handler on a loopback port. While protect is
// set, each request is an Inbound entry of eng, refused with 429 when
// blocked.
func serve(eng *sluice.Engine, protect *atomic.Bool) (*http.Server, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if protect.Load() {
			p, err := eng.Entry(r.Context(), "GET /work", sluice.WithTrafficType(sluice.Inbound))
			if err != nil {
				http.Error(w, "overloaded", http.StatusTooManyRequests)
				return
			}
			defer p.Exit()
		}
		sum := sha256.Sum256([]byte(r.URL.Path))
		for i := 0; i < *work; i++ {
			sum = sha256.Sum256(sum[:])
		}
		fmt.Fprintf(w, "%x\n", sum[:4])
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, "http://" + ln.Addr().String() + "/work"
}

// latencies is a set of response times.
type latencies []time.Duration

// p returns the q-quantile (nearest rank), or 0 for none.
func (l latencies) p(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// get sends one request and reports its status (0 for a transport error).
func get(ctx context.Context, client *http.Client, url string) int {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

type closedResult struct {
	lat  latencies
	rate float64 // 200 responses per second
}

func (c closedResult) p(q float64) time.Duration { return c.lat.p(q) }

// closedLoop runs clients that each send a request as soon as the last one
// is answered, for d.
func closedLoop(client *http.Client, url string, clients int, d time.Duration) closedResult {
	var (
		mu  sync.Mutex
		res closedResult
		wg  sync.WaitGroup
	)
	end := time.Now().Add(d)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				t := time.Now()
				if get(context.Background(), client, url) != http.StatusOK {
					continue
				}
				mu.Lock()
				res.lat = append(res.lat, time.Since(t))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.rate = float64(len(res.lat)) / d.Seconds()
	return res
}

type openResult struct {
	ok         latencies // of 200 responses completed within the run
	tail       latencies // of 200 responses to requests due in the run's last 5 s
	goodput    float64   // 200 responses per second within the run
	rejected   float64   // 429 responses per second within the run
	unfinished int       // requests still open after the drain
}

// openLoop sends rate requests per second, evenly spaced, for *duration,
// each on its own goroutine, whatever became of the earlier ones.
func openLoop(client *http.Client, url string, rate float64) openResult {
	var (
		mu   sync.Mutex
		res  openResult
		wg   sync.WaitGroup
		good int
		busy int
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	spacing := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	end := start.Add(*duration)
	tailFrom := end.Add(-5 * time.Second)
	for i := 0; ; {
		now := time.Now()
		if !now.Before(end) {
			break
		}
		for due := start.Add(time.Duration(i) * spacing); !due.After(now); due = start.Add(time.Duration(i) * spacing) {
			i++
			wg.Add(1)
			go func(due time.Time) {
				defer wg.Done()
				status := get(ctx, client, url)
				done := time.Now()
				mu.Lock()
				defer mu.Unlock()
				switch {
				case status == 0 && errors.Is(ctx.Err(), context.Canceled):
					res.unfinished++
				case status == http.StatusOK && done.Before(end):
					good++
					res.ok = append(res.ok, done.Sub(due))
				case status == http.StatusTooManyRequests && done.Before(end):
					busy++
				}
				if status == http.StatusOK && !due.Before(tailFrom) {
					res.tail = append(res.tail, done.Sub(due))
				}
			}(due)
		}
		time.Sleep(time.Millisecond)
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(*drain):
		cancel()
		<-finished
	}
	res.goodput = float64(good) / duration.Seconds()
	res.rejected = float64(busy) / duration.Seconds()
	return res
}

