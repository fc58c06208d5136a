package datasource_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/datasource"
	"github.com/sluice-go/sluice/datasource/file"
)

// Example follows a YAML file of flow rules: the rules in it are in force
// once Wait returns, and every later edit replaces them.
func Example() {
	dir, _ := os.MkdirTemp("", "sluice-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "flow.yaml")
	os.WriteFile(path, []byte("- resource: GET /orders\n  threshold: 100\n  controlBehavior: Throttling\n  maxQueueingTime: 50ms\n"), 0o644)

	eng := sluice.New(sluice.WithLogger(quiet))
	defer eng.Close()
	b, err := datasource.Start(context.Background(), eng, file.New(path),
		datasource.Config{Kind: datasource.Flow, Logger: quiet}) // YAML, from the extension
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Wait(ctx); err != nil { // the first read failed or did not come in time
		log.Fatal(err)
	}
	for _, r := range eng.Rules().Flow {
		fmt.Printf("%s: %v/s, %v, wait at most %v\n", r.Resource, r.Threshold, r.ControlBehavior, r.MaxQueueingTime)
	}
	// Output:
	// GET /orders: 100/s, Throttling, wait at most 50ms
}

// ExampleDecode reads a Sentinel Go flow rule as it sits in a config
// centre today.
func ExampleDecode() {
	r, err := datasource.Decode(datasource.Flow, datasource.SentinelJSON, []byte(`[
	  {"resource": "GET /orders", "threshold": 100, "tokenCalculateStrategy": 0,
	   "controlBehavior": 1, "maxQueueingTimeMs": 50, "statIntervalInMs": 1000}
	]`))
	if err != nil {
		log.Fatal(err)
	}
	f := r.Flow[0]
	fmt.Printf("%s: %v/s, %v, wait at most %v\n", f.Resource, f.Threshold, f.ControlBehavior, f.MaxQueueingTime)
	// Output:
	// GET /orders: 100/s, Throttling, wait at most 50ms
}
