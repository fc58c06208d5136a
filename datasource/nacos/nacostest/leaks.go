package nacostest

import (
	"time"

	"go.uber.org/goleak"
)

// FindLeaks reports the goroutines still running other than the SDK's own
// that outlive CloseClient (below), as goleak.Find does. It is for a
// TestMain, after every SDK client has been closed: since a client whose
// server is gone sleeps up to 5 s between reconnection attempts
// (common/remote/rpc/rpc_client.go, reconnect) before it sees it is shut
// down, it looks again for up to 12 s before it reports.
func FindLeaks() error {
	err := goleak.Find(sdkGoroutines...)
	for deadline := time.Now().Add(12 * time.Second); err != nil && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		err = goleak.Find(sdkGoroutines...)
	}
	return err
}

// sdkGoroutines are the SDK's goroutines that outlive CloseClient.
var sdkGoroutines = []goleak.Option{
	// clients/config_client/config_client.go, asyncNotifyListenConfig:
	// sends on the unbuffered listenExecute channel from a goroutine of its
	// own; after CloseClient nothing receives, so it blocks forever.
	goleak.IgnoreAnyFunction("github.com/nacos-group/nacos-sdk-go/v2/clients/config_client.(*ConfigClient).asyncNotifyListenConfig.func1"),
	// gopkg.in/natefinch/lumberjack.v2 (the SDK's log file,
	// common/logger/logger.go): its mill goroutine is never stopped.
	goleak.IgnoreTopFunction("gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun"),
}
