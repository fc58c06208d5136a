// Command nacos binds flow rules to a Nacos config and prints each change
// as it arrives, until interrupted or terminated (SIGINT, SIGTERM).
//
// Try it with a Nacos 2.x server on 127.0.0.1:8848 (HTTP; gRPC on 9848),
// from the repository root:
//
//	go run ./example/nacos -addr 127.0.0.1:8848 -dataId sluice-flow-rules -group DEFAULT_GROUP
//
// and, in another terminal, publish rules, change them, delete them:
//
//	curl -X POST 'http://127.0.0.1:8848/nacos/v1/cs/configs' \
//	  -d dataId=sluice-flow-rules -d group=DEFAULT_GROUP \
//	  --data-urlencode 'content=[{"resource":"a","threshold":10}]'
//	curl -X DELETE 'http://127.0.0.1:8848/nacos/v1/cs/configs?dataId=sluice-flow-rules&group=DEFAULT_GROUP'
//
// Each accepted change prints the flow rules then in force; a deleted config
// prints that it is gone and keeps the last rules in force; a rejected
// payload or trouble reaching Nacos prints the error. A change whose push
// the SDK loses is seen by the next reconcile read, within -reconcile. The
// program prints each of these once, itself: the engine and the binding log
// nothing.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/datasource"
	"github.com/sluice-go/sluice/datasource/nacos"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8848", "Nacos server `host:port` (the HTTP port)")
	grpcPort := flag.Int("grpcPort", 0, "Nacos gRPC `port`; 0 means the HTTP port + 1000")
	dataID := flag.String("dataId", "sluice-flow-rules", "config data id")
	group := flag.String("group", nacos.DefaultGroup, "config group")
	reconcile := flag.Duration("reconcile", nacos.DefaultReconcileInterval, "how often to read the config besides listening")
	flag.Parse()

	// On either signal run returns, and its deferred Close removes the
	// client's temporary directory.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, nacos.Server{Addr: *addr, GRPCPort: *grpcPort}, *dataID, *group, *reconcile); err != nil {
		log.Fatal(err)
	}
}

// run binds the flow rules of an engine to the config and writes a line to
// w for each change, until ctx is done.
func run(ctx context.Context, w io.Writer, server nacos.Server, dataID, group string, reconcile time.Duration) error {
	c, err := nacos.NewClient(nacos.Config{Servers: []nacos.Server{server}})
	if err != nil {
		return err
	}
	defer c.Close()
	src, err := nacos.NewSource(c, dataID, group, nacos.WithReconcileInterval(reconcile))
	if err != nil {
		return err
	}
	quiet := slog.New(slog.DiscardHandler) // the callbacks below print every event
	eng := sluice.New(sluice.WithLogger(quiet))
	defer eng.Close()

	fmt.Fprintf(w, "watching %s (interrupt or terminate to stop)\n", src)
	// Every line below is printed from the binding's goroutine, in order.
	b, err := datasource.Start(ctx, eng, src, datasource.Config{
		Kind:   datasource.Flow,
		Logger: quiet,
		OnLoad: func(_ datasource.Update, inForce sluice.Rules) {
			fmt.Fprintf(w, "%s: %d flow rules in force:\n", src, len(inForce.Flow))
			for _, r := range inForce.Flow {
				fmt.Fprintf(w, "  resource=%s threshold=%v\n", r.Resource, r.Threshold)
			}
		},
		OnDelete: func(datasource.Update) { fmt.Fprintf(w, "%s does not exist; the flow rules in force stay\n", src) },
		OnError:  func(err error) { fmt.Fprintf(w, "error: %v\n", err) },
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	return b.Close()
}
