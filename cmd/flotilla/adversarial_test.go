package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// TestAdversarialRunner throws bad and edge inputs at a real `flotilla
// serve` (every route; hostile bodies, queries, ids, headers, origins and
// hosts), launches, stops and reads back a batch of runs while it does,
// and prints the figures for issue 13's closing note:
//
//	go test ./cmd/flotilla -run TestAdversarialRunner -v | grep adversarial:
//
// It fails on any 5xx, any request that hangs, any run lost (missing, not
// ended, or ended lost) and any log line lost.
func TestAdversarialRunner(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "--max-running", "4", "--read-timeout", "5s")
	client := &http.Client{Timeout: 20 * time.Second}
	var tried, fiveXX, hangs atomic.Int64
	var mu sync.Mutex
	var failures []string
	send := func(method, path, body string, header map[string]string, host string) (int, []byte) {
		tried.Add(1)
		req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		if body == "" {
			req.Body, req.ContentLength = http.NoBody, 0
		} else {
			req.Header.Set("Content-Type", "application/json")
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		if host != "" {
			req.Host = host
		}
		res, err := client.Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) && ue.Timeout() {
				hangs.Add(1)
			}
			mu.Lock()
			failures = append(failures, fmt.Sprintf("%s %.80s: %v", method, path, err))
			mu.Unlock()
			return 0, nil
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 500 {
			fiveXX.Add(1)
			mu.Lock()
			failures = append(failures, fmt.Sprintf("%s %.80s %.80q: %d %.200s", method, path, body, res.StatusCode, b))
			mu.Unlock()
		}
		return res.StatusCode, b
	}
	post := func(path, body string) (int, []byte) { return send("POST", path, body, nil, "") }

	if code, b := post("/v1/definitions", `{"alias":"base","image":"alpine:3","command":"echo hi","cpu":256,"memory":128}`); code != 201 {
		t.Fatalf("create base: %d %s", code, b)
	}

	// Work that must survive all of it: 40 runs of 500 numbered lines; a
	// quarter are stopped while they run.
	const nRuns, nLines = 40, 500
	if code, b := post("/v1/definitions", fmt.Sprintf(`{"alias":"counted","image":"alpine:3","command":"seq 1 %d; sleep 0.3","cpu":256,"memory":128}`, nLines)); code != 201 {
		t.Fatalf("create counted: %d %s", code, b)
	}
	var runIDs []string
	for i := range nRuns {
		code, b := post("/v1/runs", fmt.Sprintf(`{"definition":"counted","idempotency_key":"adv-%d"}`, i))
		var r flotilla.Run
		json.Unmarshal(b, &r)
		if code != 202 || r.ID == "" {
			t.Fatalf("launch %d: %d %s", i, code, b)
		}
		runIDs = append(runIDs, r.ID)
	}

	// Slow clients: bodies that stall after their headers. The server must
	// close each after --read-timeout.
	var stalled []net.Conn
	for range 10 {
		c, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /v1/runs HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{", strings.TrimPrefix(s.url, "http://"))
		stalled = append(stalled, c)
		tried.Add(1)
	}

	// Hostile input, from several goroutines at once.
	big := strings.Repeat("x", 5000)
	defBodies := []string{
		``, `{`, `[]`, `null`, `"s"`, `{"alias":"a"}{"alias":"b"}`, `{"alias":1}`, `{"unknown":true}`,
		`{"alias":"","image":"","command":"","cpu":0,"memory":0}`,
		`{"alias":"def_x","image":"i","command":"c","cpu":256,"memory":128}`,
		`{"alias":"-bad","image":"i","command":"c","cpu":256,"memory":128}`,
		`{"alias":"` + big + `","image":"i","command":"c","cpu":256,"memory":128}`,
		`{"alias":"ok1","image":"` + big + `","command":"c","cpu":256,"memory":128}`,
		`{"alias":"ok2","image":"alpine\u0000","command":"c","cpu":256,"memory":128}`,
		`{"alias":"ok3","image":"alp ine","command":"c","cpu":256,"memory":128}`,
		`{"alias":"ok4","image":"alpine\u001b","command":"c","cpu":256,"memory":128}`,
		`{"alias":"ok5","image":"i","command":"` + strings.Repeat("c", 5000) + `","cpu":256,"memory":128}`,
		`{"alias":"ok6","image":"i","command":"c\u0000","cpu":256,"memory":128}`,
		`{"alias":"ok7","image":"i","command":"c","cpu":256.5,"memory":128}`,
		`{"alias":"ok8","image":"i","command":"c","cpu":1e400,"memory":128}`,
		`{"alias":"ok9","image":"i","command":"c","cpu":-1,"memory":-1}`,
		`{"alias":"ok10","image":"i","command":"c","cpu":9223372036854775807,"memory":128}`,
		`{"alias":"ok11","image":"i","command":"c","cpu":"256","memory":128}`,
		`{"alias":"ok12","image":"i","command":"c","cpu":256,"memory":128,"gpu":99}`,
		`{"alias":"ok13","image":"i","command":"c","cpu":256,"memory":128,"env":{"1A":"x"}}`,
		`{"alias":"ok14","image":"i","command":"c","cpu":256,"memory":128,"env":{"FLOTILLA_X":"x"}}`,
		`{"alias":"ok15","image":"i","command":"c","cpu":256,"memory":128,"env":{"A":"` + strings.Repeat("v", 5000) + `"}}`,
		`{"alias":"ok16","image":"i","command":"c","cpu":256,"memory":128,"env":{"A":"\u0000"}}`,
		`{"alias":"ok17","image":"i","command":"c","cpu":256,"memory":128,"tags":["bad tag"]}`,
		`{"alias":"ok18","image":"i","command":"c","cpu":256,"memory":128,"tags":` + jsonList(30, "t") + `}`,
		`{"alias":"ok19","image":"i","command":"c","cpu":256,"memory":128,"timeout_seconds":-5}`,
		`{"alias":"ok20","image":"i","command":"c","cpu":256,"memory":128,"retry":{"max_attempts":99}}`,
		`{"alias":"ok21","image":"i","command":"c","cpu":256,"memory":128,"secrets":{"S":"plain"}}`,
		`{"alias":"ok22","image":"i","command":"c","cpu":256,"memory":128,"secrets":{"A":"ssm:/x"},"env":{"A":"1"}}`,
		`{"alias":"ok23","image":"i","command":"c","cpu":256,"memory":128,"env":` + jsonEnv(100, 4000) + `}`,
		"{\"alias\":\"ok24\",\"image\":\"i\",\"command\":\"\xff\xfe\",\"cpu\":256,\"memory\":128}",
		`{"alias":"ok25","image":"i","command":"\ud800","cpu":256,"memory":128}`,
		`{"alias":"ok26","group_name":"a/b","image":"i","command":"c","cpu":256,"memory":128}`,
		`{"alias":"base","image":"i","command":"c","cpu":256,"memory":128}`,
		strings.Repeat(`{"a":`, 10000) + strings.Repeat(`}`, 10000),
		`{"alias":"x","env":` + strings.Repeat(`{"a":`, 500) + `1` + strings.Repeat(`}`, 500) + `}`,
		`{"alias":"huge","command":"` + strings.Repeat("y", 1<<20) + `"}`,
	}
	runBodies := []string{
		``, `{}`, `{"definition":""}`, `{"definition":"nope"}`, `{"definition":"def_nope"}`, `{"definition":1}`,
		`{"definition":"base","cluster":"mars"}`, `{"definition":"base","cpu":256.5}`, `{"definition":"base","memory":-1}`,
		`{"definition":"base","timeout_seconds":99999999}`, `{"definition":"base","env":{"bad name":"x"}}`,
		`{"definition":"base","env":` + jsonEnv(20, 4000) + `}`, `{"definition":"base","env":` + jsonEnv(101, 1) + `}`,
		`{"definition":"base","idempotency_key":"` + strings.Repeat("k", 200) + `"}`,
		`{"definition":"base","idempotency_key":"k\u0000"}`, `{"definition":"base","idempotency_key":"k\n"}`,
		`{"definition":"counted","idempotency_key":"adv-0","env":{"DIFFERENT":"1"}}`,
		`{"definition":"base","command":"` + strings.Repeat("c", 5000) + `"}`, `{"definition":"base","tags":["a b"]}`,
		"{\"definition\":\"base\",\"env\":{\"A\":\"\xc3\"}}", `{"definition":"base","schedule_id":"sch_x"}`,
		`{"definition":"base","owner":"mallory"}`,
	}
	schedBodies := []string{
		``, `{}`, `{"name":"s","definition":"base","expression":"cron(bad)"}`, `{"name":"s","definition":"base","expression":"rate(0 minutes)"}`,
		`{"name":"s","definition":"nope","expression":"rate(1 hour)"}`, `{"name":"s","definition":"base","expression":"rate(1 hour)","timezone":"Mars/Base"}`,
		`{"name":"s","definition":"base","expression":"at(1500-01-01T00:00:00)"}`, `{"name":"` + big + `","definition":"base","expression":"rate(1 hour)"}`,
	}
	queries := []string{
		"status=BOGUS", "status=" + strings.Repeat("QUEUED,", 3000), strings.Repeat("status=RUNNING&", 9000) + "x=1",
		strings.Repeat("status=QUEUED&", 32767) + "x=1", "since=1500-01-01T00:00:00Z", "until=2300-01-01T00:00:00Z",
		"since=0001-01-01T00:00:00Z", "since=9999-12-31T23:59:59Z", "since=2562047h", "since=-5m", "since=yesterday",
		"limit=0", "limit=501", "limit=-1", "limit=abc", "limit=99999999999999999999", "next_token=YW55dGhpbmc",
		"next_token=%25%25", "next_token=cjE6cnVuX3g", "next_token=" + strings.Repeat("A", 5000), "definition=nope",
		"definition=%00", "owner=" + big, "tag=%ff%fe", "group_by=nope", "tail=0", "tail=99999", "tail=abc", "search=" + big,
	}
	ids := []string{"nope", "run_x", "run_00000000000000000000000000", "..%2F..%2Fetc", "%00", "run_" + big, "%ff", "def_x"}
	var jobs []func()
	for _, b := range defBodies {
		jobs = append(jobs, func() { post("/v1/definitions", b) }, func() { send("PATCH", "/v1/definitions/base", b, nil, "") })
	}
	for _, b := range runBodies {
		jobs = append(jobs, func() { post("/v1/runs", b) })
	}
	for _, b := range schedBodies {
		jobs = append(jobs, func() { post("/v1/schedules", b) }, func() { send("PATCH", "/v1/schedules/sch_x", b, nil, "") })
	}
	for _, q := range queries {
		for _, p := range []string{"/v1/runs", "/v1/definitions", "/v1/costs", "/v1/schedules", "/v1/runs/" + runIDs[0] + "/logs"} {
			jobs = append(jobs, func() { send("GET", p+"?"+q, "", nil, "") })
		}
	}
	for _, id := range ids {
		for _, p := range []string{"/v1/runs/%s", "/v1/runs/%s/logs", "/v1/runs/%s/events", "/v1/definitions/%s", "/v1/definitions/%s/revisions/1", "/v1/schedules/%s"} {
			jobs = append(jobs, func() { send("GET", fmt.Sprintf(p, id), "", nil, "") })
		}
		jobs = append(jobs, func() { post("/v1/runs/"+id+"/stop", "") }, func() { send("DELETE", "/v1/definitions/"+id, "", nil, "") })
	}
	hostile := []struct {
		header map[string]string
		host   string
	}{
		{map[string]string{"Content-Type": "text/plain"}, ""},
		{map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, ""},
		{map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, ""},
		{map[string]string{"Content-Type": "application/json; charset=latin1"}, ""},
		{map[string]string{"Origin": "http://evil.example"}, ""},
		{map[string]string{"Origin": "null"}, ""},
		{map[string]string{"Sec-Fetch-Site": "cross-site"}, ""},
		{nil, "evil.example"},
		{nil, "attacker.test:8080"},
	}
	var hostileAccepted atomic.Int64
	for _, h := range hostile {
		for _, p := range []string{"/v1/definitions", "/v1/runs", "/v1/runs/" + runIDs[1] + "/stop"} {
			jobs = append(jobs, func() {
				if code, _ := send("POST", p, `{"alias":"pwn","definition":"base","image":"alpine:3","command":"id","cpu":256,"memory":128}`, h.header, h.host); code < 400 {
					hostileAccepted.Add(1)
				}
			})
		}
	}
	var wg sync.WaitGroup
	work := make(chan func())
	for range 6 {
		wg.Go(func() {
			for j := range work {
				j()
			}
		})
	}
	for i, j := range jobs {
		work <- j
		if i%40 == 0 { // stop some of the counted runs as the storm goes on
			if k := i / 40; k < nRuns/4 {
				post("/v1/runs/"+runIDs[k*4]+"/stop", "")
			}
		}
	}
	close(work)
	wg.Wait()

	// Every run ends, none lost; every line of the runs that were not
	// stopped is there, once, in order.
	runsLost, linesLost := 0, 0
	deadline := time.Now().Add(3 * time.Minute)
	for _, id := range runIDs {
		var r flotilla.Run
		for {
			code, b := send("GET", "/v1/runs/"+id, "", nil, "")
			tried.Add(-1) // polling, not an input
			json.Unmarshal(b, &r)
			if code != 200 || r.Status.Terminal() || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !r.Status.Terminal() || r.ReasonCode == flotilla.ReasonLost {
			runsLost++
			t.Errorf("run %s: %s %s", id, r.Status, r.StatusReason)
			continue
		}
		out := s.mustCLI(t, "logs", id)
		if r.Status == flotilla.StatusSucceeded {
			want := ""
			for i := 1; i <= nLines; i++ {
				want += fmt.Sprintln(i)
			}
			if out != want {
				lost := nLines - strings.Count(out, "\n")
				linesLost += max(lost, 1)
				t.Errorf("run %s: %d lines, want %d", id, strings.Count(out, "\n"), nLines)
			}
		}
	}
	for _, c := range stalled {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.ReadAll(c); err != nil { // nil: the server closed it
			hangs.Add(1)
			failures = append(failures, "a stalled body was left open: "+err.Error())
		}
	}
	if _, _, code := s.cli(t, "definitions", "get", "pwn"); code == 0 {
		t.Errorf("a hostile request created a definition")
	}
	summary := fmt.Sprintf("adversarial: inputs=%d 5xx=%d hangs=%d hostile_accepted=%d runs=%d runs_lost=%d log_lines_lost=%d",
		tried.Load(), fiveXX.Load(), hangs.Load(), hostileAccepted.Load(), nRuns, runsLost, linesLost)
	t.Log(summary)
	fmt.Println(summary)
	if fiveXX.Load() != 0 || hangs.Load() != 0 || hostileAccepted.Load() != 0 || len(failures) > 0 {
		t.Errorf("%s\n%s", summary, strings.Join(failures, "\n"))
	}
}

func jsonList(n int, prefix string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("%q", fmt.Sprintf("%s%d", prefix, i))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func jsonEnv(n, size int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("%q:%q", fmt.Sprintf("V%d", i), strings.Repeat("v", size))
	}
	return "{" + strings.Join(parts, ",") + "}"
}
