package datasource_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/clock"
	"github.com/sluice-go/sluice/core/system"
	"github.com/sluice-go/sluice/datasource"
)

// One fuzz target per kind and format that Decode reads. Each checks what
// Decode promises (see fuzzDecode).

func FuzzDecodeAllJSON(f *testing.F)       { fuzzDecode(f, datasource.All, datasource.JSON) }
func FuzzDecodeAllYAML(f *testing.F)       { fuzzDecode(f, datasource.All, datasource.YAML) }
func FuzzDecodeFlowJSON(f *testing.F)      { fuzzDecode(f, datasource.Flow, datasource.JSON) }
func FuzzDecodeFlowYAML(f *testing.F)      { fuzzDecode(f, datasource.Flow, datasource.YAML) }
func FuzzDecodeFlowSentinel(f *testing.F)  { fuzzDecode(f, datasource.Flow, datasource.SentinelJSON) }
func FuzzDecodeIsolationJSON(f *testing.F) { fuzzDecode(f, datasource.Isolation, datasource.JSON) }
func FuzzDecodeIsolationYAML(f *testing.F) { fuzzDecode(f, datasource.Isolation, datasource.YAML) }
func FuzzDecodeIsolationSentinel(f *testing.F) {
	fuzzDecode(f, datasource.Isolation, datasource.SentinelJSON)
}
func FuzzDecodeBreakerJSON(f *testing.F) { fuzzDecode(f, datasource.CircuitBreaker, datasource.JSON) }
func FuzzDecodeBreakerYAML(f *testing.F) { fuzzDecode(f, datasource.CircuitBreaker, datasource.YAML) }
func FuzzDecodeBreakerSentinel(f *testing.F) {
	fuzzDecode(f, datasource.CircuitBreaker, datasource.SentinelJSON)
}
func FuzzDecodeHotspotJSON(f *testing.F) { fuzzDecode(f, datasource.Hotspot, datasource.JSON) }
func FuzzDecodeHotspotYAML(f *testing.F) { fuzzDecode(f, datasource.Hotspot, datasource.YAML) }
func FuzzDecodeHotspotSentinel(f *testing.F) {
	fuzzDecode(f, datasource.Hotspot, datasource.SentinelJSON)
}
func FuzzDecodeSystemJSON(f *testing.F) { fuzzDecode(f, datasource.System, datasource.JSON) }
func FuzzDecodeSystemYAML(f *testing.F) { fuzzDecode(f, datasource.System, datasource.YAML) }
func FuzzDecodeSystemSentinel(f *testing.F) {
	fuzzDecode(f, datasource.System, datasource.SentinelJSON)
}
func FuzzDecodeAutoIsJSON(f *testing.F)         { fuzzAutoIsJSON(f) }
func FuzzDecodeYAMLReadsJSONAlike(f *testing.F) { fuzzYAMLReadsJSON(f) }

// Seeds in Sluice's JSON, per kind: the README's and the package tests'
// examples, one of each strategy, and edge cases of the form.
var fuzzSeedsJSON = map[datasource.Kind][]string{
	datasource.All: {
		`{"flow":[{"resource":"GET /orders","threshold":100,"controlBehavior":"Throttling","maxQueueingTime":"500ms"}],` +
			`"isolation":[{"resource":"db","threshold":8}],` +
			`"circuitBreaker":[{"resource":"payments","strategy":"ErrorRatio","retryTimeout":"5s","threshold":0.5,"statInterval":"10s"}],` +
			`"hotspot":[{"resource":"GET /orders","paramKey":"user","threshold":5,"specificItems":[{"value":"vip","threshold":50}]}],` +
			`"system":[{"metricType":"CPUUsage","triggerCount":0.8,"strategy":"BBR"}]}`,
		`{}`, `{"flow":[]}`, `{"flow":null}`, `{"Flow":[]}`, `{"flow":[],"flow":[]}`, `{"flow":[]}}`,
	},
	datasource.Flow: {
		`[{"resource":"GET /orders","threshold":100,"controlBehavior":"Throttling","maxQueueingTime":"500ms"}]`,
		`[{"resource":"a","threshold":10,"strategy":"WarmUp","warmUpPeriod":"30s","warmUpColdFactor":2.5}]`,
		`[{"id":"m","resource":"a","strategy":"MemoryAdaptive","lowMemUsageThreshold":100,"highMemUsageThreshold":10,` +
			`"memLowWaterMark":1073741824,"memHighWaterMark":2147483648,"statInterval":"100ms"}]`,
		`[{"resource":"low","threshold":20,"relationStrategy":"AssociatedResource","refResource":"high"}]`,
		`[{"resource":"^GET /api/.*$","regex":true,"threshold":5}]`,
		`[{"resource":"a","threshold":1e308,"statInterval":"1ms"}]`, `[{"resource":"a","threshold":-0}]`,
		`[]`, ` [ ] `, `null`, `[null]`, `[{"resource":"a","thresold":1}]`, `[{"resource":"a\u00e9\n"}]`,
	},
	datasource.Isolation: {`[{"resource":"db","threshold":8},{"id":"x","resource":"d.*","regex":true,"threshold":0}]`, `[{"threshold":-1}]`},
	datasource.CircuitBreaker: {
		`[{"resource":"payments","strategy":"ErrorRatio","retryTimeout":"5s","threshold":0.5,"statInterval":"10s"}]`,
		`[{"resource":"a","strategy":"SlowRequestRatio","retryTimeout":"1s","maxAllowedRT":"200ms","threshold":0.2,"probeNum":3,"minRequestAmount":5,"statBuckets":4}]`,
		`[{"resource":"a","strategy":"ErrorCount","retryTimeout":"2562047h47m16.854775807s","threshold":3}]`,
	},
	datasource.Hotspot: {
		`[{"resource":"GET /orders","paramKey":"user","threshold":5,"specificItems":[{"value":"vip","threshold":50}]}]`,
		`[{"resource":"a","paramIndex":-1,"metricType":"Concurrency","threshold":2,"paramsMaxCapacity":3}]`,
		`[{"resource":"a","controlBehavior":"Throttling","threshold":3,"duration":"100ms","maxQueueingTime":"20ms",` +
			`"specificItems":[{"value":7,"threshold":1},{"value":2.5,"threshold":2},{"value":true,"threshold":0},{"value":-9223372036854775808,"threshold":1}]}]`,
		`[{"resource":"a","threshold":1,"burstCount":4,"specificItems":[{"value":1e3,"threshold":1},{"value":2.0,"threshold":1}]}]`,
	},
	datasource.System: {
		`[{"metricType":"CPUUsage","triggerCount":0.8,"strategy":"BBR"},{"metricType":"Load","triggerCount":4}]`,
		`[{"metricType":"Concurrency","triggerCount":100},{"metricType":"InboundQPS","triggerCount":1000.5},{"metricType":"AvgRT","triggerCount":50},{"id":"m","metricType":"MemoryUsage","triggerCount":0.9}]`,
	},
}

// Seeds in YAML, per kind, on top of the JSON ones (JSON is YAML too).
var fuzzSeedsYAML = map[datasource.Kind][]string{
	datasource.All: {
		"flow:\n  - resource: GET /orders\n    threshold: 100\n    controlBehavior: Throttling\n    maxQueueingTime: 500ms\n" +
			"isolation:\n  - {resource: db, threshold: 8}\ncircuitBreaker:\n  - resource: payments\n    strategy: ErrorRatio\n" +
			"    retryTimeout: 5s\n    threshold: 0.5\n    statInterval: 10s\nhotspot:\n  - resource: GET /orders\n" +
			"    paramKey: user\n    threshold: 5\n    specificItems: [{value: vip, threshold: 50}]\n" +
			"system:\n  - {metricType: CPUUsage, triggerCount: 0.8, strategy: BBR}\n",
		"# no rules yet\n{}\n", "flow: []\n---\n", "flow: &a []\nisolation: *a\n",
	},
	datasource.Flow: {
		"- resource: GET /orders\n  threshold: 100\n  controlBehavior: Throttling\n  maxQueueingTime: 500ms\n",
		"- resource: a\n  threshold: 1\n  threshold: 2\n", "- resource: 'yes'\n  threshold: 0x10\n", "[]\n...\n",
	},
	datasource.Hotspot: {
		"- resource: a\n  specificItems:\n    - {value: 2.0, threshold: 1}\n    - {value: \"2\", threshold: 1}\n    - {value: 2, threshold: 1}\n    - {value: .inf, threshold: 1}\n",
		"- resource: a\n  specificItems: [{value: ~, threshold: 1}]\n",
	},
	datasource.System: {"- metricType: Load\n  triggerCount: .nan\n"},
}

// fuzzSentinelFiles are the Sentinel Go payloads of package sentinel's
// tests, per kind.
var fuzzSentinelFiles = map[datasource.Kind][]string{
	datasource.Flow:           {"flow.json", "bad/flow_behavior.json", "bad/flow_unknown_field.json", "bad/null.json"},
	datasource.Isolation:      {"isolation.json"},
	datasource.CircuitBreaker: {"circuitbreaker.json", "bad/circuitbreaker_no_interval.json"},
	datasource.Hotspot:        {"hotspot.json", "hotspot_paramkey.json", "bad/hotspot_map_items.json"},
	datasource.System:         {"system.json", "bad/system_adaptive_strategy.json"},
}

var fuzzSeedsSentinel = map[datasource.Kind][]string{
	datasource.Flow: {`[{"resource": "GET /orders", "threshold": 100, "tokenCalculateStrategy": 0,
    "controlBehavior": 1, "maxQueueingTimeMs": 500, "statIntervalInMs": 1000}]`, `[{"Resource":"a","THRESHOLD":1}]`},
	datasource.Hotspot: {`[{"resource":"a","metricType":1,"threshold":1,"durationInSec":1,"paramsMaxCapacity":1,` +
		`"specificItems":[{"valKind":3,"valStr":"2.0","threshold":2},{"valKind":0,"valStr":"-1","threshold":1}]}]`},
}

func addSeeds(f *testing.F, k datasource.Kind, format datasource.Format) {
	for _, s := range fuzzSeedsJSON[k] {
		if format != datasource.SentinelJSON {
			f.Add([]byte(s))
		}
	}
	switch format {
	case datasource.YAML:
		for _, s := range fuzzSeedsYAML[k] {
			f.Add([]byte(s))
		}
	case datasource.SentinelJSON:
		for _, name := range fuzzSentinelFiles[k] {
			b, err := os.ReadFile(filepath.Join("sentinel", "testdata", name))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
		for _, s := range fuzzSeedsSentinel[k] {
			f.Add([]byte(s))
		}
	}
	f.Add([]byte("[] ]"))
	f.Add([]byte(""))
}

// fuzzDecode: whatever the payload, Decode(k, format) does not panic, and
//
//   - an error wraps ErrBadPayload;
//   - for one family, only that family's slice is set, and it is not nil;
//   - the rules it returns marshal to JSON that Decode reads back, as JSON
//     and (for the YAML targets) as YAML, to the same rules (a nil slice
//     and an empty one taken as equal);
//   - Decode checks the form, not the rules (see its godoc): loading the
//     rules into an engine succeeds exactly when every rule's Validate
//     does, fails with an error wrapping sluice.ErrInvalidRule otherwise,
//     and what the engine then has in force is what was decoded.
func fuzzDecode(f *testing.F, k datasource.Kind, format datasource.Format) {
	addSeeds(f, k, format)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := datasource.Decode(k, format, data)
		if err != nil {
			if !errors.Is(err, datasource.ErrBadPayload) {
				t.Fatalf("Decode(%v, %v, %q): %v, which does not wrap ErrBadPayload", k, format, data, err)
			}
			return
		}
		if k != datasource.All {
			checkOneFamily(t, k, r)
		}
		out, err := json.Marshal(family(k, r))
		if err != nil {
			t.Fatalf("%q decoded (%v %v) to %+v, which does not marshal: %v", data, k, format, r, err)
		}
		back, err := datasource.Decode(k, datasource.JSON, out)
		if err != nil {
			t.Fatalf("%q decoded (%v %v) to %+v, marshalled to %s, which does not decode: %v", data, k, format, r, out, err)
		}
		if !sameRules(r, back) {
			t.Fatalf("%q decoded (%v %v) to\n%#v\nmarshalled to %s, which decodes to\n%#v", data, k, format, r, out, back)
		}
		if format == datasource.YAML {
			// JSON is YAML: the YAML reader reads the JSON written back to
			// the same rules too. (Sluice writes no YAML of its own; a
			// YAML writer such as sigs.k8s.io/yaml.Marshal turns a float
			// without a fraction, 2.0, into 2.)
			back, err := datasource.Decode(k, datasource.YAML, out)
			if err != nil || !sameRules(r, back) {
				t.Fatalf("%q decoded (%v YAML) to\n%#v\nmarshalled to %s, which YAML decodes to\n%#v, %v", data, k, r, out, back, err)
			}
		}
		checkLoads(t, k, r)
	})
}

// fuzzAutoIsJSON: Decode reads Auto as JSON, for every kind.
func fuzzAutoIsJSON(f *testing.F) {
	for _, seeds := range fuzzSeedsJSON {
		for _, s := range seeds {
			f.Add(byte(0), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		k := datasource.Kind(kind % 6)
		auto, errA := datasource.Decode(k, datasource.Auto, data)
		js, errJ := datasource.Decode(k, datasource.JSON, data)
		if (errA == nil) != (errJ == nil) || !reflect.DeepEqual(auto, js) {
			t.Fatalf("%v %q: Auto gives %+v, %v; JSON gives %+v, %v", k, data, auto, errA, js, errJ)
		}
	})
}

// fuzzYAMLReadsJSON: JSON text is YAML, and the YAML format reads every
// JSON payload the JSON format accepts to the same rules (it may read more:
// YAML's own syntax).
func fuzzYAMLReadsJSON(f *testing.F) {
	for _, seeds := range fuzzSeedsJSON {
		for _, s := range seeds {
			f.Add(byte(1), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		k := datasource.Kind(kind % 6)
		js, err := datasource.Decode(k, datasource.JSON, data)
		if err != nil {
			return
		}
		y, err := datasource.Decode(k, datasource.YAML, data)
		if err != nil || !sameRules(js, y) {
			t.Fatalf("%v %q: JSON reads\n%#v\nYAML reads\n%#v, %v", k, data, js, y, err)
		}
	})
}

// family returns the part of r that kind k holds.
func family(k datasource.Kind, r sluice.Rules) any {
	switch k {
	case datasource.Flow:
		return r.Flow
	case datasource.Isolation:
		return r.Isolation
	case datasource.CircuitBreaker:
		return r.CircuitBreaker
	case datasource.Hotspot:
		return r.Hotspot
	case datasource.System:
		return r.System
	}
	return r
}

func checkOneFamily(t *testing.T, k datasource.Kind, r sluice.Rules) {
	t.Helper()
	got := reflect.ValueOf(family(k, r))
	if got.IsNil() {
		t.Fatalf("Decode(%v) returned a nil slice", k)
	}
	rest := r
	switch k {
	case datasource.Flow:
		rest.Flow = nil
	case datasource.Isolation:
		rest.Isolation = nil
	case datasource.CircuitBreaker:
		rest.CircuitBreaker = nil
	case datasource.Hotspot:
		rest.Hotspot = nil
	case datasource.System:
		rest.System = nil
	}
	if !reflect.DeepEqual(rest, sluice.Rules{}) {
		t.Fatalf("Decode(%v) set other families: %+v", k, rest)
	}
}

// normal returns r with empty slices made nil, at every level.
func normal(r sluice.Rules) sluice.Rules {
	nilEmpty := func(v reflect.Value) {
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
		}
	}
	r.Hotspot = append(r.Hotspot[:0:0], r.Hotspot...)
	for i := range r.Hotspot {
		nilEmpty(reflect.ValueOf(&r.Hotspot[i].SpecificItems).Elem())
	}
	v := reflect.ValueOf(&r).Elem()
	for i := range v.NumField() {
		nilEmpty(v.Field(i))
	}
	return r
}

func sameRules(a, b sluice.Rules) bool { return reflect.DeepEqual(normal(a), normal(b)) }

// fixedReader is a system reader that always reads v.
type fixedReader float64

func (v fixedReader) Read() (float64, error) { return float64(v), nil }

var fuzzQuiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// checkLoads loads r, decoded as kind k, into a new engine on a manual
// clock and with fixed system readers.
func checkLoads(t *testing.T, k datasource.Kind, r sluice.Rules) {
	t.Helper()
	var invalid error
	for _, rules := range []any{r.Flow, r.Isolation, r.CircuitBreaker, r.Hotspot, r.System} {
		v := reflect.ValueOf(rules)
		for i := range v.Len() {
			if err := v.Index(i).Addr().Interface().(interface{ Validate() error }).Validate(); err != nil && invalid == nil {
				invalid = err
			}
		}
	}
	eng := sluice.New(sluice.WithClock(clock.NewManual(time.Unix(1_700_000_000, 0))), sluice.WithLogger(fuzzQuiet),
		sluice.WithSystemReaders(system.Readers{Load: fixedReader(1), CPU: fixedReader(0.5), Memory: fixedReader(0.5)}))
	defer eng.Close()
	var err error
	switch k {
	case datasource.All:
		err = eng.LoadRules(r)
	case datasource.Flow:
		err = eng.LoadFlowRules(r.Flow)
	case datasource.Isolation:
		err = eng.LoadIsolationRules(r.Isolation)
	case datasource.CircuitBreaker:
		err = eng.LoadCircuitBreakerRules(r.CircuitBreaker)
	case datasource.Hotspot:
		err = eng.LoadHotspotRules(r.Hotspot)
	default:
		err = eng.LoadSystemRules(r.System)
	}
	switch {
	case invalid == nil && err != nil:
		t.Fatalf("rules that each validate do not load: %v\n%+v", err, r)
	case invalid != nil && err == nil:
		t.Fatalf("rules load although one does not validate (%v)\n%+v", invalid, r)
	case err != nil && !errors.Is(err, sluice.ErrInvalidRule):
		t.Fatalf("the load error %v does not wrap ErrInvalidRule", err)
	case err == nil && !sameRules(eng.Rules(), r):
		t.Fatalf("loaded\n%#v\nin force\n%#v", r, eng.Rules())
	}
}
