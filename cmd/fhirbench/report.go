package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machine describes where the figures came from.
type machine struct {
	cpus     int    // as nproc counts them: the CPUs this process may use
	model    string // from /proc/cpuinfo
	memBytes int64  // MemTotal from /proc/meminfo
	loadAvg  string // the 1, 5 and 15 minute load averages at start
}

func readMachine() machine {
	m := machine{cpus: runtime.NumCPU(), model: "unknown CPU", loadAvg: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if s := cpuModel(string(b)); s != "" {
			m.model = s
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.memBytes = memTotal(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.loadAvg = strings.Join(f[:3], " ")
		}
	}
	return m
}

// cpuModel is the first "model name" of /proc/cpuinfo, or "".
func cpuModel(cpuinfo string) string {
	for line := range strings.Lines(cpuinfo) {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}

// memTotal is MemTotal of /proc/meminfo in bytes, or 0.
func memTotal(meminfo string) int64 {
	for line := range strings.Lines(meminfo) {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}

// String is the machine line of the table: "2 cores (nproc), AMD EPYC, 23.5 GiB, ...".
func (m machine) String() string {
	mem := "unknown memory"
	if m.memBytes > 0 {
		mem = fmt.Sprintf("%.1f GiB", float64(m.memBytes)/(1<<30))
	}
	return fmt.Sprintf("%d cores (nproc), %s, %s, %s/%s, %s; load average %s at start",
		m.cpus, m.model, mem, runtime.GOOS, runtime.GOARCH, runtime.Version(), m.loadAvg)
}

// run describes one invocation, for the heading of the table.
type runInfo struct {
	when     time.Time
	base     string
	patients int
	seed     int64
	loaded   bool
	clients  int
	dur      time.Duration
	max      int
	machine  machine
}

// what says in a few words what each scenario sends.
var what = map[string]string{
	"load":        "POST one generated transaction Bundle per patient",
	"read":        "GET `Patient/{id}`",
	"search-obs":  "GET `Observation?patient=Patient/{id}&code=http://loinc.org|718-7`",
	"search-name": "GET `Patient?name={2-3 letters of a family name}`",
	"everything":  "GET `Patient/{id}/$everything?_count=1000`, every page",
	"create":      "POST an Observation",
	"transaction": "POST a transaction: a Patient and an Observation (urn:uuid reference)",
}

// writeTable writes the results as a markdown table, with a heading that
// says what ran and on which machine, ready to paste into the README.
func writeTable(w io.Writer, info runInfo, results []result) error {
	bw := bufio.NewWriter(w)
	data := fmt.Sprintf("%s patients (seed %d) loaded by this run", thousands(float64(info.patients)), info.seed)
	if !info.loaded {
		data = "the data already on the server"
	}
	bound := fmt.Sprintf("%s per scenario", info.dur)
	if info.max > 0 {
		bound += fmt.Sprintf(" or %s requests, whichever came first", thousands(float64(info.max)))
	}
	fmt.Fprintf(bw, "fhirbench on %s against %s: %s; %d clients, %s.\n\n",
		info.when.Format("2006-01-02"), info.base, data, info.clients, bound)
	fmt.Fprintf(bw, "Machine: %s.\n\n", info.machine)
	fmt.Fprintln(bw, "| scenario | requests | requests/s | p50 | p90 | p99 | errors | per request |")
	fmt.Fprintln(bw, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, r := range results {
		name := r.name
		if d := what[r.name]; d != "" {
			name += ": " + d
		}
		fmt.Fprintf(bw, "| %s | %s | %s | %s | %s | %s | %s | %s |\n",
			cell(name), thousands(float64(r.requests)), rateText(r.rate()),
			latency(percentile(r.lat, 0.50)), latency(percentile(r.lat, 0.90)), latency(percentile(r.lat, 0.99)),
			thousands(float64(r.errors)), cell(perRequestText(r)))
	}
	return bw.Flush()
}

// cell escapes what would end a table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func perRequestText(r result) string {
	switch {
	case r.name == "load":
		per := 0.0
		if r.elapsed > 0 {
			per = float64(r.items) / r.elapsed.Seconds()
		}
		return fmt.Sprintf("%.1f resources; %s resources/s", r.perRequest(), thousands(per))
	case r.itemsKey == "resources_per_record":
		return fmt.Sprintf("%.1f resources", r.perRequest())
	case r.itemsKey == "matches_per_search":
		return fmt.Sprintf("%.1f matches", r.perRequest())
	}
	return ""
}

// rateText writes rates of 100 and more whole, with thousands separators,
// and smaller ones with a decimal.
func rateText(v float64) string {
	if v < 100 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return thousands(v)
}

// thousands rounds v and groups its digits: 12345.6 → "12,346".
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// latency writes a duration as the README does: "0.90 ms", "12.3 ms",
// "250 ms", "1.25 s"; "–" when nothing was measured.
func latency(d time.Duration) string {
	switch {
	case d <= 0:
		return "–"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", ms(d))
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.1f ms", ms(d))
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", ms(d))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}
