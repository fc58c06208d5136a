// Command overload is the overload experiment behind Sluice's BBR system
// rule: a CPU-bound HTTP handler on loopback is offered about three times
// what it can serve, once unprotected and once behind a BBR rule on CPU
// usage, and the goodput and latency of both runs are printed as a table.
//
//	cd benchmark && go run ./overload                   # about 55 s
//	go run ./overload -duration 5s -drain 2s            # a quick look
//	go run ./overload -work 750000 -server-procs 3      # a 50 ms handler; 3 Ps in the server
//
// The handler hashes (SHA-256, -work rounds: 150000 is about 10 ms of CPU
// here) and runs in a server process of its own (this program, started
// again with -serve), so that the load generator does not share its Go
// scheduler; each run gets a fresh server, killed after it, so that the
// handlers of requests a run gave up on do not eat into the next. The
// steps:
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
// readers every -sample; refused requests get 429 at once. "p99 after 2 s"
// leaves out the requests due in a run's first 2 s, when the protected
// server has not yet sampled the CPU as busy.
//
// Client and server share the machine's CPUs over loopback, as a sidecar
// and its service would.
package main

import (
	"bufio"
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
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
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
	verbose  = flag.Bool("v", false, "print the engine's SystemStats every second of the protected run")
	procs    = flag.Int("server-procs", 0, "GOMAXPROCS of the server process (0: the default)")
	serveAs  = flag.String("serve", "", `run as the server process: "plain" or "bbr" (the experiment starts it itself)`)
)

func main() {
	flag.Parse()
	if *serveAs != "" {
		serve(*serveAs == "bbr")
		return
	}
	fmt.Printf("GOMAXPROCS %d, CPUs available %.2f, %d SHA-256 rounds per request, BBR CPUUsage trigger %v, sample every %v\n\n",
		runtime.GOMAXPROCS(0), system.AvailableCPUs(), *work, *trigger, *interval)

	var unloaded, capacity closedResult
	onServer("plain", func(c *http.Client, url string) {
		unloaded = closedLoop(c, url, 1, 2*time.Second)
		capacity = closedLoop(c, url, 2*runtime.GOMAXPROCS(0), 3*time.Second)
	})
	offered := *factor * capacity.rate
	fmt.Printf("unloaded: p50 %v, p99 %v (one request at a time)\n", ms(unloaded.p(0.50)), ms(unloaded.p(0.99)))
	fmt.Printf("capacity: %.0f requests/s (closed loop, %d clients); offered in overload: %.0f/s\n\n",
		capacity.rate, 2*runtime.GOMAXPROCS(0), offered)

	var without, with openResult
	onServer("plain", func(c *http.Client, url string) { without = openLoop(c, url, offered) })
	onServer("bbr", func(c *http.Client, url string) { with = openLoop(c, url, offered) })

	fmt.Printf("| run (%.0f/s offered for %v) | goodput /s | of capacity | 200: p50 | p99 | p99 after 2 s | 429 /s | 429: p99 | unfinished |\n",
		offered, *duration)
	fmt.Println("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, r := range []struct {
		name string
		res  openResult
	}{{"no rule", without}, {"BBR CPUUsage rule", with}} {
		fmt.Printf("| %s | %.0f | %.0f %% | %v | %v | %v | %.0f | %v | %d |\n", r.name, r.res.goodput,
			100*r.res.goodput/capacity.rate, ms(r.res.ok.p(0.50)), ms(r.res.ok.p(0.99)), ms(r.res.steady.p(0.99)),
			r.res.rejected, ms(r.res.busy.p(0.99)), r.res.unfinished)
	}
	fmt.Printf("\nunloaded p99 %v; targets with the rule: p99 within 3× (%v), goodput >= 80 %% of capacity (%.0f/s)\n",
		ms(unloaded.p(0.99)), ms(3*unloaded.p(0.99)), 0.8*capacity.rate)
}

// onServer starts the server as a process of its own (this program with
// -serve mode), runs f against it with a fresh client, then kills it, so
// that the handlers of requests a run gave up on do not eat into the next
// run. The client and the server share the machine's CPUs, as a load
// balancer's sidecar and its service would, but not a Go scheduler.
func onServer(mode string, f func(*http.Client, string)) {
	cmd := exec.Command(os.Args[0], append(os.Args[1:], "-serve", mode)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		log.Fatalf("server did not start: %v", err)
	}
	tr := &http.Transport{MaxConnsPerHost: *conns, MaxIdleConnsPerHost: *conns}
	defer tr.CloseIdleConnections()
	f(&http.Client{Transport: tr}, "http://"+strings.TrimSpace(addr)+"/work")
}

// serve runs the CPU-bound handler on a loopback port, printing the port's
// address on stdout, until killed. With protect, each request is an Inbound
// entry under a BBR rule on CPU usage, refused with 429 when blocked.
func serve(protect bool) {
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	eng := sluice.New(sluice.WithSystemSampleInterval(*interval),
		sluice.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer eng.Close()
	if protect {
		if err := eng.LoadSystemRules([]system.Rule{{MetricType: system.CPUUsage, TriggerCount: *trigger,
			Strategy: system.BBR}}); err != nil {
			log.Fatal(err)
		}
		time.Sleep(2 * *interval) // a CPU reading needs two samples
		if *verbose {
			go report(eng)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if protect {
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
	fmt.Println(ln.Addr())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}

// report prints eng's SystemStats to stderr every second.
func report(eng *sluice.Engine) {
	for range time.Tick(time.Second) {
		st := eng.SystemStats()
		fmt.Fprintf(os.Stderr, "  CPU %.2f, in flight %d, BBR limit %.2f, pass %.0f/s, block %.0f/s, min RT %v\n",
			st.CPUUsage, st.Concurrency, st.BBRLimit, st.PassQPS, st.BlockQPS, st.MinRT)
	}
}

// latencies is a set of response times.
type latencies []time.Duration

// p returns the q-quantile (nearest rank), or -1 for none.
func (l latencies) p(q float64) time.Duration {
	if len(l) == 0 {
		return -1
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// ms formats d in milliseconds; a negative d (no sample) as "none".
func ms(d time.Duration) string {
	if d < 0 {
		return "none"
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

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
	steady     latencies // of those to requests due after the run's first 2 s
	busy       latencies // of 429 responses completed within the run
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
	steadyFrom := start.Add(2 * time.Second)
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
					if !due.Before(steadyFrom) {
						res.steady = append(res.steady, done.Sub(due))
					}
				case status == http.StatusTooManyRequests && done.Before(end):
					busy++
					res.busy = append(res.busy, done.Sub(due))
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
