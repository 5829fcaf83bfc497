package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"luxen/bindings/host"
	"luxen/bindings/simxen"
	"luxen/toolstack"
)

// CPU % is the CPU seconds a domain used since the last sample over the
// wall time between them (of one CPU); the first frame has none to compare.
func TestTopFrameWorksOutCPUPercent(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	a := topSample{at: t0, totalKB: 1000, freeKB: 400, cpus: 2, version: "4.17",
		doms: []topDom{{name: "Domain-0", domid: 0, state: "r-----", cpu: 10, vcpus: 2, memKB: 500, maxKB: 500, running: true},
			{name: "a-very-long-name", domid: 3, state: "--p---", cpu: 1, vcpus: 1, memKB: 100, maxKB: 200, paused: true}}}
	b := a
	b.at = t0.Add(2 * time.Second)
	b.doms = []topDom{a.doms[0], a.doms[1]}
	b.doms[0].cpu = 13 // 3 s of CPU in 2 s: 150% of one CPU
	first := topFrame(a, nil)
	second := topFrame(b, &a)
	if !strings.Contains(first, "2 domains: 1 running, 0 blocked, 1 paused") || !strings.Contains(first, "600k used") {
		t.Fatalf("first frame:\n%s", first)
	}
	if !strings.Contains(second, "  Domain-0 r-----         13  150.0        500   50.0") {
		t.Fatalf("second frame:\n%s", second)
	}
	if !strings.Contains(second, "a-very-lon --p---          1    0.0        100   10.0        200      20.0     1") {
		t.Fatalf("second frame:\n%s", second)
	}
}

// In batch mode top prints -i frames one after another and stops.
func TestTopBatchOnTheSimulatedHost(t *testing.T) {
	h := host.Embedded(simxen.New(simxen.Options{}))
	defer h.Close()
	r, err := toolstack.New(toolstack.Options{Host: h, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out bytes.Buffer
	if err := runTop(context.Background(), r, &out, 10*time.Millisecond, true, 3); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "luxen top - "); n != 3 {
		t.Fatalf("%d frames:\n%s", n, out.String())
	}
	if strings.Contains(out.String(), "\x1b[") || !strings.Contains(out.String(), "  Domain-0 r-----") {
		t.Fatalf("batch output:\n%s", out.String())
	}
}
