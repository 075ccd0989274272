package parallax

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
)

type logLines struct {
	mu    sync.Mutex
	lines []string
	level []LogLevel
}

func (l *logLines) log(level LogLevel, message string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, message)
	l.level = append(l.level, level)
}

func (l *logLines) events() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var events []string
	for _, line := range l.lines {
		var doc struct{ Event string }
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &doc) == nil && doc.Event != "" &&
			doc.Event != "parallel_run_summary" {
			events = append(events, doc.Event)
		}
	}
	return events
}

func TestLogLinesReachTheGoFunction(t *testing.T) {
	var got logLines
	rt := newRuntime(t, "container-64c-quota2-2g", func(o *RuntimeOptions) { o.Log = got.log })
	plan := must[*Plan](t)(rt.Plan(Workload{Name: "frames", Items: 13000, BytesPerItem: 24883200}))
	must[*Plan](t)(rt.Plan(Workload{Items: 20, BytesPerItem: 1000}))
	if events := got.events(); strings.Join(events, ",") != "runtime_summary,parallel_plan_summary,parallel_plan_summary" {
		t.Fatalf("events %q", events)
	}
	got.mu.Lock()
	defer got.mu.Unlock()
	for i, line := range got.lines {
		if strings.Contains(line, "parallel_plan_summary") && strings.Contains(line, `"frames"`) {
			var summary struct {
				CPUWorkers int    `json:"cpu_workers"`
				Workload   string `json:"workload"`
			}
			check(t, json.Unmarshal([]byte(line), &summary))
			if summary.CPUWorkers != plan.CPUWorkers || got.level[i] != LogInfo {
				t.Fatalf("%s at %v", line, got.level[i])
			}
			return
		}
	}
	t.Fatalf("no plan summary for frames in %q", got.lines)
}

func TestLogLevelFilters(t *testing.T) {
	var got logLines
	rt := newRuntime(t, "tiny-2c-4g", func(o *RuntimeOptions) { o.Log, o.LogLevel = got.log, LogWarn })
	must[*Plan](t)(rt.Plan(Workload{Items: 10, BytesPerItem: 1000}))
	if len(got.events()) != 0 {
		t.Fatalf("lines below WARN: %q", got.lines)
	}
	debug := newRuntime(t, "tiny-2c-4g", func(o *RuntimeOptions) {
		o.Log, o.LogLevel, o.FaultInjection = got.log, LogDebug, "chunk=1:task_failed"
	})
	_ = debug // a fault injection rule logs a warning at creation
	got.mu.Lock()
	defer got.mu.Unlock()
	warned := false
	for i, line := range got.lines {
		warned = warned || (got.level[i] == LogWarn && strings.Contains(line, "fault"))
	}
	if !warned {
		t.Fatalf("no warning for fault injection in %q", got.lines)
	}
}

func TestAPanickingLogFunctionIsContained(t *testing.T) {
	calls := 0
	rt := newRuntime(t, "tiny-2c-4g", func(o *RuntimeOptions) {
		o.Log = func(LogLevel, string) { calls++; panic("log boom") }
	})
	plan := must[*Plan](t)(rt.Plan(Workload{Items: 10, BytesPerItem: 1000}))
	if plan.CPUWorkers != 2 || calls < 2 {
		t.Fatalf("workers %d, calls %d", plan.CPUWorkers, calls)
	}
}

func TestCallingTheRuntimeFromItsLogFunctionIsRefused(t *testing.T) {
	var rt *Runtime
	var refused []error
	rt = newRuntime(t, "tiny-2c-4g", func(o *RuntimeOptions) {
		o.Log = func(level LogLevel, message string) {
			if rt != nil && strings.Contains(message, "parallel_plan_summary") {
				_, err := rt.Plan(Workload{Items: 1, BytesPerItem: 1})
				refused = append(refused, err)
			}
		}
	})
	must[*Plan](t)(rt.Plan(Workload{Items: 10, BytesPerItem: 1000}))
	if len(refused) != 1 {
		t.Fatalf("refused %v", refused)
	}
	requireStatus(t, refused[0], ErrInvalidArgument, "own log function")
	must[*Plan](t)(rt.Plan(Workload{Items: 10, BytesPerItem: 1000})) // still usable outside
}
