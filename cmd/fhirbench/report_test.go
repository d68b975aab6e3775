package main

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestMachineFromProc(t *testing.T) {
	cpuinfo := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC  7B13 64-Core Processor\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13 64-Core Processor\n"
	if got := cpuModel(cpuinfo); got != "AMD EPYC 7B13 64-Core Processor" {
		t.Errorf("cpuModel: %q", got)
	}
	if got := cpuModel("processor : 0\n"); got != "" {
		t.Errorf("cpuModel without a model name: %q", got)
	}
	meminfo := "MemTotal:       24684084 kB\nMemFree:         1000 kB\n"
	if got := memTotal(meminfo); got != 24684084*1024 {
		t.Errorf("memTotal: %d", got)
	}
	m := machine{cpus: 2, model: "AMD EPYC", memBytes: 24684084 * 1024, loadAvg: "0.94 3.30 3.38"}
	want := "2 cores (nproc), AMD EPYC, 23.5 GiB, " + runtime.GOOS + "/" + runtime.GOARCH + ", " + runtime.Version() + "; load average 0.94 3.30 3.38 at start"
	if got := m.String(); got != want {
		t.Errorf("machine line:\n got %s\nwant %s", got, want)
	}
	if live := readMachine(); live.cpus != runtime.NumCPU() || live.model == "" {
		t.Errorf("readMachine: %+v", live)
	}
}

func TestTableIsMarkdownWithTheMachineLine(t *testing.T) {
	lat := []time.Duration{800 * time.Microsecond, 12345 * time.Microsecond, 250 * time.Millisecond, 1250 * time.Millisecond}
	info := runInfo{when: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC), base: "http://localhost:18090/fhir",
		patients: 1000, seed: 1, loaded: true, clients: 32, dur: 15 * time.Second,
		machine: machine{cpus: 2, model: "AMD EPYC", memBytes: 24 << 30, loadAvg: "1.00 2.00 3.00"}}
	results := []result{
		{name: "load", requests: 1000, elapsed: 10 * time.Second, lat: lat, items: 63000},
		{name: "search-obs", requests: 123456, errors: 2, elapsed: 15 * time.Second, lat: lat, items: 123456 * 4, itemsKey: "matches_per_search"},
		{name: "everything", requests: 0, errors: 5, elapsed: 15 * time.Second, itemsKey: "resources_per_record"},
	}
	var b strings.Builder
	if err := writeTable(&b, info, results); err != nil {
		t.Fatal(err)
	}
	want := "fhirbench on 2026-11-27 against http://localhost:18090/fhir: 1,000 patients (seed 1) loaded by this run; 32 clients, 15s per scenario.\n" +
		"\n" +
		"Machine: 2 cores (nproc), AMD EPYC, 24.0 GiB, " + runtime.GOOS + "/" + runtime.GOARCH + ", " + runtime.Version() + "; load average 1.00 2.00 3.00 at start.\n" +
		"\n" +
		"| scenario | requests | requests/s | p50 | p90 | p99 | errors | per request |\n" +
		"| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n" +
		"| load: POST one generated transaction Bundle per patient | 1,000 | 100 | 12.3 ms | 1.25 s | 1.25 s | 0 | 63.0 resources; 6,300 resources/s |\n" +
		"| search-obs: GET `Observation?patient=Patient/{id}&code=http://loinc.org\\|718-7` | 123,456 | 8,230 | 12.3 ms | 1.25 s | 1.25 s | 2 | 4.0 matches |\n" +
		"| everything: GET `Patient/{id}/$everything?_count=1000`, every page | 0 | 0.0 | – | – | – | 5 | 0.0 resources |\n"
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	for _, line := range strings.Split(strings.TrimSpace(want), "\n")[4:] {
		if n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|"); n != 9 {
			t.Errorf("%d cell borders in %q, want 9", n, line)
		}
	}
}

func TestTableSaysWhenDataWasNotLoadedAndTheRequestCap(t *testing.T) {
	var b strings.Builder
	info := runInfo{when: time.Now(), base: "http://x/fhir", clients: 4, dur: time.Second, max: 5000}
	if err := writeTable(&b, info, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "the data already on the server; 4 clients, 1s per scenario or 5,000 requests, whichever came first.") {
		t.Errorf("heading: %s", b.String())
	}
}

func TestNumberFormats(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{thousands(0), "0"}, {thousands(999.4), "999"}, {thousands(1000), "1,000"}, {thousands(1234567.6), "1,234,568"},
		{rateText(66.66), "66.7"}, {rateText(24066.2), "24,066"},
		{latency(0), "–"}, {latency(900 * time.Microsecond), "0.90 ms"}, {latency(6130 * time.Microsecond), "6.13 ms"},
		{latency(42 * time.Millisecond), "42.0 ms"}, {latency(420 * time.Millisecond), "420 ms"}, {latency(2 * time.Second), "2.00 s"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
