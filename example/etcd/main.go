// Command etcd binds an etcd key holding flow rules to a Sluice engine and
// prints each rule change as it arrives, until interrupted.
//
// It needs an etcd server. On Debian or Ubuntu:
//
//	apt-get install -y etcd-server etcd-client
//	etcd --data-dir /tmp/etcd-sluice   # serves on 127.0.0.1:2379
//
// Run it from the repository root:
//
//	go run ./example/etcd [-endpoints 127.0.0.1:2379] [-key /sluice/rules/flow]
//
// and change the rules from another terminal. The key holds a JSON array of
// flow rules in Sluice's JSON (enums by name, durations as "500ms"):
//
//	etcdctl put /sluice/rules/flow '[{"resource":"GET /orders","threshold":100}]'
//	etcdctl put /sluice/rules/flow '[{"resource":"GET /orders","threshold":20,"controlBehavior":"Throttling","maxQueueingTime":"500ms"}]'
//	etcdctl put /sluice/rules/flow '[{"resource":"GET /orders","threshold":-1}]'   # rejected: the rules in force stay
//	etcdctl del /sluice/rules/flow                                                 # deleted: the rules in force stay
//
// Each accepted change prints the revision and the flow rules then in
// force; a rejected payload or trouble reaching etcd prints the error, and
// the program goes on watching (stop etcd and start it again to see it
// recover).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/datasource"
	"github.com/sluice-go/sluice/datasource/etcd"
)

func main() {
	endpoints := flag.String("endpoints", "127.0.0.1:2379", "etcd endpoints, comma-separated")
	key := flag.String("key", "/sluice/rules/flow", "the etcd key holding the flow rules (a JSON array)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, strings.Split(*endpoints, ","), *key); err != nil {
		fmt.Fprintln(os.Stderr, "etcd example:", err)
		os.Exit(1)
	}
}

// run binds key, at the etcd endpoints, to an engine's flow rules and
// prints each change to out until ctx is done; then it stops everything it
// started and returns nil.
func run(ctx context.Context, out io.Writer, endpoints []string, key string) error {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(), // the binding reports what matters
	})
	if err != nil {
		return err
	}
	defer cli.Close()

	quiet := slog.New(slog.DiscardHandler) // this program prints for itself
	eng := sluice.New(sluice.WithLogger(quiet))
	defer eng.Close()

	src := etcd.New(cli, key)
	fmt.Fprintf(out, "Watching %s at %s for flow rules (Ctrl-C to stop).\n", src, strings.Join(endpoints, ","))
	// Every line below is printed from the binding's goroutine, in order.
	b, err := datasource.Start(ctx, eng, src, datasource.Config{
		Kind:   datasource.Flow,
		Logger: quiet,
		OnLoad: func(u datasource.Update, inForce sluice.Rules) {
			printRules(out, u, inForce)
		},
		OnDelete: func(u datasource.Update) {
			fmt.Fprintf(out, "revision %d: %s does not exist; the flow rules in force stay\n", u.Version, src)
		},
		OnError: func(err error) { fmt.Fprintf(out, "error: %v\n", err) },
	})
	if err != nil {
		return err
	}
	defer b.Close()
	<-ctx.Done()
	return nil
}

// printRules prints one change: its revision and the flow rules in force.
func printRules(out io.Writer, u datasource.Update, inForce sluice.Rules) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "revision %d: %d flow rule(s) in force\n", u.Version, len(inForce.Flow))
	for _, r := range inForce.Flow {
		j, err := json.Marshal(r)
		if err != nil {
			j = []byte(err.Error())
		}
		fmt.Fprintf(&sb, "  %s\n", j)
	}
	io.WriteString(out, sb.String())
}
