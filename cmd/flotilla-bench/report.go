package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

var docOut = flag.String("doc", "docs/benchmarks.md", "where to write the benchmark report (empty: none)")

// writeReport renders every figure in the results file — this program's
// and other producers' (AWS adapters, Lambda init) — as docs/benchmarks.md:
// each figure next to its goal and whether it meets it, the machine, and
// the command that reproduces it.
func writeReport(resultsPath, docPath string) error {
	if docPath == "" {
		return nil
	}
	b, err := os.ReadFile(resultsPath)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	all := map[string]Result{}
	if err := json.Unmarshal(b, &all); err != nil {
		return fmt.Errorf("report: %s: %w", resultsPath, err)
	}
	if err := os.MkdirAll(filepath.Dir(docPath), 0o755); err != nil {
		return err
	}
	return os.WriteFile(docPath, []byte(renderReport(all, machineInfo(), resultsPath)), 0o644)
}

// machine describes where the figures were measured.
type machine struct {
	CPUs     int
	CPUModel string
	Memory   string
	Go       string
	OS       string
	Load     string
	Date     time.Time
}

func machineInfo() machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, Date: time.Now().UTC(),
		Memory: "unknown", CPUModel: "unknown"}
	if kb, ok := procField("/proc/meminfo", "MemTotal"); ok {
		if n, err := strconv.ParseFloat(strings.Fields(kb)[0], 64); err == nil {
			m.Memory = fmt.Sprintf("%.1f GiB", n/(1<<20))
		}
	}
	if model, ok := procField("/proc/cpuinfo", "model name"); ok {
		m.CPUModel = model
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.Load = strings.Join(f[:3], " ")
		}
	}
	return m
}

// procField returns the value of the first "name : value" line of a /proc file.
func procField(path, name string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

func renderReport(all map[string]Result, m machine, resultsPath string) string {
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	sb.WriteString("# Benchmarks\n\n")
	sb.WriteString("Written by `make bench` from `" + resultsPath + "`; do not edit by hand. Every figure in that file is here,\n")
	sb.WriteString("including those other producers write (AWS adapters, Lambda init). A figure without a goal is reported only.\n\n")
	met, missed, none := 0, 0, 0
	sb.WriteString("| figure | value | goal | meets it | note |\n|---|---|---|---|---|\n")
	for _, k := range keys {
		r := all[k]
		verdict := "—"
		switch ok, known := meetsGoal(r.Value, r.Goal); {
		case !known:
			none++
		case ok:
			verdict, met = "yes", met+1
		default:
			verdict, missed = "**no**", missed+1
		}
		fmt.Fprintf(&sb, "| `%s` | %s %s | %s | %s | %s |\n", k, formatValue(r.Value), cell(r.Unit), cell(r.Goal), verdict, cell(r.Note))
	}
	fmt.Fprintf(&sb, "\n%d figures meet their goal, %d miss it, %d have no goal.\n\n", met, missed, none)
	sb.WriteString("## Machine\n\n")
	fmt.Fprintf(&sb, "- CPUs: %d (%s)\n- memory: %s\n- Go: %s, %s\n- written: %s\n", m.CPUs, m.CPUModel, m.Memory, m.Go, m.OS, m.Date.Format(time.RFC3339))
	if m.Load != "" {
		fmt.Fprintf(&sb, "- load average when written: %s (other work on the machine slows the figures)\n", m.Load)
	}
	sb.WriteString("\n## Reproduce\n\n```sh\nmake bench                                            # every scenario; writes bench/results.json and this file\n")
	sb.WriteString("go run ./cmd/flotilla-bench -bin bin/flotilla -only load_10k   # one scenario (after make build)\n```\n")
	return sb.String()
}

var goalRE = regexp.MustCompile(`(<=|>=|≤|≥|<|>)\s*([0-9][0-9,_]*(?:\.[0-9]+)?)`)

// meetsGoal reads a goal such as "p99 < 20 ms", "<= 10%" or ">= 1000/s on
// 2 cores" (in the figure's own unit) and says whether value meets it;
// known is false when there is no goal it can read.
func meetsGoal(value float64, goal string) (ok, known bool) {
	m := goalRE.FindStringSubmatch(goal)
	if m == nil {
		return false, false
	}
	limit, err := strconv.ParseFloat(strings.NewReplacer(",", "", "_", "").Replace(m[2]), 64)
	if err != nil {
		return false, false
	}
	switch m[1] {
	case "<":
		return value < limit, true
	case "<=", "≤":
		return value <= limit, true
	case ">":
		return value > limit, true
	default:
		return value >= limit, true
	}
}

func formatValue(v float64) string {
	switch {
	case v == float64(int64(v)):
		return strconv.FormatInt(int64(v), 10)
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

// cell makes text safe inside a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
