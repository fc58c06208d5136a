package benchmark

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"

	sflow "github.com/alibaba/sentinel-golang/core/flow"
	sds "github.com/alibaba/sentinel-golang/ext/datasource"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/datasource"
)

// pushPayloads returns two versions (thresholds differ) of n flow rules in
// Sentinel Go's JSON and in Sluice's: a push alternates between them, so
// neither library can skip a load as unchanged.
func pushPayloads(n int) (sentinelJSON, sluiceJSON [2][]byte) {
	for v := 0; v < 2; v++ {
		var s, o []map[string]any
		for i := 0; i < n; i++ {
			res := fmt.Sprintf("GET /push/%d", i)
			th := float64(100 + v)
			if i%2 == 0 {
				s = append(s, map[string]any{"resource": res, "threshold": th, "tokenCalculateStrategy": 0, "controlBehavior": 0})
				o = append(o, map[string]any{"resource": res, "threshold": th})
			} else {
				s = append(s, map[string]any{"resource": res, "threshold": th, "tokenCalculateStrategy": 0,
					"controlBehavior": 1, "maxQueueingTimeMs": 500, "statIntervalInMs": 1000})
				o = append(o, map[string]any{"resource": res, "threshold": th, "controlBehavior": "Throttling",
					"maxQueueingTime": "500ms"})
			}
		}
		sentinelJSON[v], _ = json.Marshal(s)
		sluiceJSON[v], _ = json.Marshal(o)
	}
	return sentinelJSON, sluiceJSON
}

// BenchmarkPush is what one push of 100 flow rules from a config centre
// costs an instance: decoding the payload and putting the rules in force.
func BenchmarkPush(b *testing.B) {
	const n = 100
	sentinelJSON, sluiceJSON := pushPayloads(n)
	b.Run("Sluice/SentinelJSON", func(b *testing.B) {
		eng := sluice.New(sluice.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		defer eng.Close()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			r, err := datasource.Decode(datasource.Flow, datasource.SentinelJSON, sentinelJSON[i%2])
			if err == nil {
				err = eng.LoadFlowRules(r.Flow)
			}
			if err != nil || len(r.Flow) != n {
				b.Fatal(err)
			}
		}
	})
	b.Run("Sluice/JSON", func(b *testing.B) {
		eng := sluice.New(sluice.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		defer eng.Close()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			r, err := datasource.Decode(datasource.Flow, datasource.JSON, sluiceJSON[i%2])
			if err == nil {
				err = eng.LoadFlowRules(r.Flow)
			}
			if err != nil || len(r.Flow) != n {
				b.Fatal(err)
			}
		}
	})
	b.Run("SentinelGo", func(b *testing.B) {
		saved := sflow.GetRules()
		b.Cleanup(func() {
			rules := make([]*sflow.Rule, len(saved))
			for i := range saved {
				rules[i] = &saved[i]
			}
			if _, err := sflow.LoadRules(rules); err != nil {
				b.Fatal(err)
			}
		})
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			parsed, err := sds.FlowRuleJsonArrayParser(sentinelJSON[i%2])
			if err != nil {
				b.Fatal(err)
			}
			if ok, err := sflow.LoadRules(parsed.([]*sflow.Rule)); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
}
