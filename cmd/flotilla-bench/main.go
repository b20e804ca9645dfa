// Command flotilla-bench measures Flotilla on this machine, over loopback,
// against the real `flotilla serve` binary, and writes the figures to
// bench/results.json ({"<name>": {"value": N, "unit": "…"}}), merged with
// what is already there, and prints a table with each figure's goal.
//
//	go run ./cmd/flotilla-bench -bin bin/flotilla -out bench/results.json
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flotilla-run/flotilla/internal/benchout"
)

// Result is one figure.
type Result struct {
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Goal  string  `json:"goal,omitempty"`
	Note  string  `json:"note,omitempty"`
}

func main() {
	bin := flag.String("bin", "bin/flotilla", "the flotilla binary")
	out := flag.String("out", "bench/results.json", "where to write the results")
	only := flag.String("only", "", "run only benchmarks whose name contains this")
	flag.Parse()
	ctx := context.Background()
	results := map[string]Result{}
	for _, b := range benchmarks {
		if *only != "" && !strings.Contains(b.name, *only) {
			continue
		}
		fmt.Fprintf(os.Stderr, "bench: %s…\n", b.name)
		start := time.Now()
		rs, err := b.run(ctx, *bin)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s failed: %v\n", b.name, err)
			os.Exit(1)
		}
		for k, v := range rs {
			results[k] = v
		}
		fmt.Fprintf(os.Stderr, "bench: %s done in %s\n", b.name, time.Since(start).Round(time.Millisecond))
	}
	if err := merge(*out, results); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if err := writeReport(*out, *docOut); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	printTable(results)
}

type benchmark struct {
	name string
	run  func(ctx context.Context, bin string) (map[string]Result, error)
}

var benchmarks = []benchmark{
	{"launch_to_start", benchLaunchToStart},
	{"handoff", benchHandoff},
	{"launches_per_s", benchLaunchThroughput},
	{"list_runs", benchListRuns},
	{"queue_position", benchQueuePosition},
	{"fairness", benchFairness},
	{"burst", benchBurst},
	{"load_10k", benchLoad},
	{"arrays", benchArrays},
	{"dependency_handoff", benchDependencyHandoff},
}

// merge writes results over what the file already holds: other producers
// (the AWS adapter tests, the browser journeys) write their own keys.
func merge(path string, results map[string]Result) error {
	return benchout.Merge(path, results)
}

func printTable(results map[string]Result) {
	keys := make([]string, 0, len(results))
	for k := range results {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "BENCHMARK\tVALUE\tUNIT\tGOAL\tNOTE\n")
	for _, k := range keys {
		r := results[k]
		fmt.Fprintf(w, "%s\t%.3f\t%s\t%s\t%s\n", k, r.Value, r.Unit, r.Goal, r.Note)
	}
	w.Flush()
	fmt.Printf("\nmachine: %d CPUs, %s/%s, %s\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// percentile returns the p-th percentile (0-100) of ds, nearest rank.
func percentile(ds []float64, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := append([]float64(nil), ds...)
	sort.Float64s(s)
	i := int(p/100*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// serverProc is a running `flotilla serve`.
type serverProc struct {
	cmd *exec.Cmd
	url string
	dir string
}

func startServer(bin, dataDir string, args ...string) (*serverProc, error) {
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--engine", "process", "--log-format", "json"}, args...)...)
	cmd.Env = append(os.Environ(), "FLOTILLA_UI_DIR=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		re := regexp.MustCompile(`listening on (http://\S+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case u := <-found:
		return &serverProc{cmd: cmd, url: u, dir: dataDir}, nil
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		return nil, fmt.Errorf("server did not start")
	}
}

func (s *serverProc) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}
