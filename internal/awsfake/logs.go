package awsfake

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// LogsOptions configure a Logs fake. The zero value is a plain, fault-free
// CloudWatch Logs.
type LogsOptions struct {
	// Now is the clock for ingestion times (default time.Now).
	Now func() time.Time
	// EmptyPages makes GetLogEvents answer this many empty pages, each with
	// a new forward token, before the events at any position, as CloudWatch
	// does when it scans stored data. Readers must stop on the same token
	// coming back, not on an empty page. FilterLogEvents then also answers
	// its first call with an empty page and a nextToken ("Partially full or
	// empty pages don't necessarily mean that pagination is finished",
	// CloudWatch Logs API Reference).
	EmptyPages int
	// FilterLogEventsTPS, when > 0, throttles FilterLogEvents beyond this
	// many calls per second (CloudWatch's hard limit is 5).
	FilterLogEventsTPS int
	// Faults injects throttles and 500s into a fraction of responses.
	Faults Faults
}

// Logs is a fake of CloudWatch Logs (X-Amz-Target Logs_20140328.*):
// CreateLogGroup, CreateLogStream, PutLogEvents, GetLogEvents with the real
// forward-token semantics, and FilterLogEvents. It is an http.Handler.
type Logs struct {
	opts    LogsOptions
	faults  *faulter
	mu      sync.Mutex
	groups  map[string]map[string]*logStream
	calls   map[string]int
	filters []time.Time
}

type logStream struct {
	events []storedEvent
}

type storedEvent struct {
	ts, ingested int64
	msg          string
}

// NewLogs returns an empty Logs fake.
func NewLogs(o LogsOptions) *Logs {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Logs{opts: o, faults: newFaulter(o.Faults), groups: map[string]map[string]*logStream{}, calls: map[string]int{}}
}

// Calls returns how many requests each operation received (faults included).
func (l *Logs) Calls() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.calls))
	for k, v := range l.calls {
		out[k] = v
	}
	return out
}

// Write appends lines to a stream, creating its group and stream when
// missing, as the awslogs driver does. Line i gets timestamp at + i ms.
func (l *Logs) Write(group, stream string, at time.Time, lines ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.ensure(group, stream)
	now := l.opts.Now().UnixMilli()
	for i, line := range lines {
		s.events = append(s.events, storedEvent{ts: at.UnixMilli() + int64(i), ingested: now, msg: line})
	}
}

// Lines returns a stream's messages in order (nil when it does not exist).
func (l *Logs) Lines(group, stream string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.groups[group][stream]
	if s == nil {
		return nil
	}
	out := make([]string, len(s.events))
	for i, e := range s.events {
		out[i] = e.msg
	}
	return out
}

// Streams returns a group's stream names, sorted.
func (l *Logs) Streams(group string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for name := range l.groups[group] {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func (l *Logs) ensure(group, stream string) *logStream {
	g := l.groups[group]
	if g == nil {
		g = map[string]*logStream{}
		l.groups[group] = g
	}
	s := g[stream]
	if s == nil {
		s = &logStream{}
		g[stream] = s
	}
	return s
}

func (l *Logs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	serveJSON(w, r, "Logs_20140328", l.handle)
}

func (l *Logs) handle(op string, body []byte) (any, *apiError) {
	l.mu.Lock()
	l.calls[op]++
	l.mu.Unlock()
	switch l.faults.draw(op) {
	case http.StatusBadRequest:
		return nil, throttled()
	case http.StatusInternalServerError:
		return nil, serverErr("ServiceUnavailableException")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch op {
	case "CreateLogGroup":
		return l.createLogGroup(body)
	case "CreateLogStream":
		return l.createLogStream(body)
	case "PutLogEvents":
		return l.putLogEvents(body)
	case "GetLogEvents":
		return l.getLogEvents(body)
	case "FilterLogEvents":
		return l.filterLogEvents(body)
	}
	return nil, clientErr("UnknownOperationException", "the Logs fake does not implement "+op)
}

func (l *Logs) createLogGroup(body []byte) (any, *apiError) {
	var in struct{ LogGroupName string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.LogGroupName == "" {
		return nil, clientErr("InvalidParameterException", "logGroupName is required")
	}
	if _, ok := l.groups[in.LogGroupName]; ok {
		return nil, clientErr("ResourceAlreadyExistsException", "The specified log group already exists")
	}
	l.groups[in.LogGroupName] = map[string]*logStream{}
	return struct{}{}, nil
}

func (l *Logs) createLogStream(body []byte) (any, *apiError) {
	var in struct{ LogGroupName, LogStreamName string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	g, ok := l.groups[in.LogGroupName]
	if !ok {
		return nil, clientErr("ResourceNotFoundException", "The specified log group does not exist.")
	}
	if _, ok := g[in.LogStreamName]; ok {
		return nil, clientErr("ResourceAlreadyExistsException", "The specified log stream already exists")
	}
	g[in.LogStreamName] = &logStream{}
	return struct{}{}, nil
}

func (l *Logs) putLogEvents(body []byte) (any, *apiError) {
	var in struct {
		LogGroupName, LogStreamName string
		LogEvents                   []struct {
			Timestamp int64
			Message   string
		}
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	s, aerr := l.stream(in.LogGroupName, "", in.LogStreamName)
	if aerr != nil {
		return nil, aerr
	}
	now := l.opts.Now().UnixMilli()
	for _, e := range in.LogEvents {
		s.events = append(s.events, storedEvent{ts: e.Timestamp, ingested: now, msg: e.Message})
	}
	return map[string]any{"nextSequenceToken": strconv.Itoa(len(s.events))}, nil
}

func (l *Logs) stream(group, groupID, name string) (*logStream, *apiError) {
	if group == "" {
		// logGroupIdentifier is a name or an ARN ending in the name.
		group = groupID
		if i := strings.LastIndex(groupID, ":log-group:"); i >= 0 {
			group = strings.TrimSuffix(groupID[i+len(":log-group:"):], ":*")
		}
	}
	g, ok := l.groups[group]
	if !ok {
		return nil, clientErr("ResourceNotFoundException", "The specified log group does not exist.")
	}
	s, ok := g[name]
	if !ok {
		return nil, clientErr("ResourceNotFoundException", "The specified log stream does not exist.")
	}
	return s, nil
}

// A token is "<f|b>/<position>/<empty pages already served>".
type logToken struct {
	forward bool
	pos, k  int
}

func (t logToken) String() string {
	d := "b"
	if t.forward {
		d = "f"
	}
	return fmt.Sprintf("%s/%020d/%d", d, t.pos, t.k)
}

func parseLogToken(s string) (logToken, bool) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 || (parts[0] != "f" && parts[0] != "b") {
		return logToken{}, false
	}
	pos, err1 := strconv.Atoi(parts[1])
	k, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || pos < 0 || k < 0 {
		return logToken{}, false
	}
	return logToken{forward: parts[0] == "f", pos: pos, k: k}, true
}

type timeRange struct{ start, end *int64 }

func (r timeRange) has(ts int64) bool {
	return (r.start == nil || ts >= *r.start) && (r.end == nil || ts < *r.end)
}

func (l *Logs) getLogEvents(body []byte) (any, *apiError) {
	var in struct {
		LogGroupName, LogGroupIdentifier, LogStreamName string
		StartTime, EndTime                              *int64
		Limit                                           *int
		NextToken                                       *string
		StartFromHead                                   *bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	s, aerr := l.stream(in.LogGroupName, in.LogGroupIdentifier, in.LogStreamName)
	if aerr != nil {
		return nil, aerr
	}
	limit := 10000
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > 10000 {
			return nil, clientErr("InvalidParameterException", "limit must be between 1 and 10000")
		}
		limit = *in.Limit
	}
	tr := timeRange{in.StartTime, in.EndTime}
	fromHead := in.StartFromHead != nil && *in.StartFromHead
	var tok logToken
	switch {
	case in.NextToken != nil:
		t, ok := parseLogToken(*in.NextToken)
		if !ok || t.pos > len(s.events) {
			return nil, clientErr("InvalidParameterException", "The specified nextToken is invalid.")
		}
		// CloudWatch pages a forward token backwards unless startFromHead
		// is true; the fake refuses, so the mistake shows up in tests.
		if t.forward && !fromHead {
			return nil, clientErr("InvalidParameterException", "a forward token needs startFromHead=true (fake's check)")
		}
		tok = t
	case fromHead:
		tok = logToken{forward: true}
	default:
		tok = logToken{forward: false, pos: len(s.events)}
	}
	if tok.forward && tok.k < l.opts.EmptyPages {
		return getLogEventsOut(nil, logToken{true, tok.pos, tok.k + 1}, logToken{false, tok.pos, 0}), nil
	}
	var page []storedEvent
	if tok.forward {
		pos := tok.pos
		for ; pos < len(s.events) && len(page) < limit; pos++ {
			if tr.has(s.events[pos].ts) {
				page = append(page, s.events[pos])
			}
		}
		fwd := logToken{forward: true, pos: pos}
		if pos == tok.pos {
			fwd = tok // the end: the same token comes back
		}
		return getLogEventsOut(page, fwd, logToken{false, tok.pos, 0}), nil
	}
	pos := tok.pos
	end := pos
	for ; pos > 0 && len(page) < limit; pos-- {
		if tr.has(s.events[pos-1].ts) {
			page = append(page, s.events[pos-1])
		}
	}
	slices.Reverse(page)
	back := logToken{forward: false, pos: pos}
	if pos == tok.pos && in.NextToken != nil {
		back = tok
	}
	return getLogEventsOut(page, logToken{true, end, 0}, back), nil
}

func getLogEventsOut(page []storedEvent, fwd, back logToken) any {
	events := make([]map[string]any, 0, len(page))
	for _, e := range page {
		events = append(events, map[string]any{"timestamp": e.ts, "ingestionTime": e.ingested, "message": e.msg})
	}
	return map[string]any{"events": events, "nextForwardToken": fwd.String(), "nextBackwardToken": back.String()}
}

func (l *Logs) filterLogEvents(body []byte) (any, *apiError) {
	if tps := l.opts.FilterLogEventsTPS; tps > 0 {
		now := time.Now()
		l.filters = slices.DeleteFunc(l.filters, func(t time.Time) bool { return now.Sub(t) >= time.Second })
		if len(l.filters) >= tps {
			return nil, throttled()
		}
		l.filters = append(l.filters, now)
	}
	var in struct {
		LogGroupName, LogGroupIdentifier string
		LogStreamNames                   []string
		LogStreamNamePrefix              string
		StartTime, EndTime               *int64
		FilterPattern                    string
		Limit                            *int
		NextToken                        *string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	group := in.LogGroupName
	if group == "" {
		group = in.LogGroupIdentifier
	}
	g, ok := l.groups[group]
	if !ok {
		return nil, clientErr("ResourceNotFoundException", "The specified log group does not exist.")
	}
	match := filterTerms(in.FilterPattern)
	tr := timeRange{in.StartTime, in.EndTime}
	type hit struct {
		stream string
		idx    int
		e      storedEvent
	}
	var hits []hit
	for name, s := range g {
		if len(in.LogStreamNames) > 0 && !slices.Contains(in.LogStreamNames, name) {
			continue
		}
		if !strings.HasPrefix(name, in.LogStreamNamePrefix) {
			continue
		}
		for i, e := range s.events {
			if tr.has(e.ts) && match(e.msg) {
				hits = append(hits, hit{name, i, e})
			}
		}
	}
	sort.Slice(hits, func(i, j int) bool {
		a, b := hits[i], hits[j]
		if a.e.ts != b.e.ts {
			return a.e.ts < b.e.ts
		}
		if a.stream != b.stream {
			return a.stream < b.stream
		}
		return a.idx < b.idx
	})
	off := 0
	if in.NextToken == nil && l.opts.EmptyPages > 0 {
		return map[string]any{"events": []any{}, "searchedLogStreams": []any{}, "nextToken": "filter/0"}, nil
	}
	if in.NextToken != nil {
		n, err := strconv.Atoi(strings.TrimPrefix(*in.NextToken, "filter/"))
		if err != nil || n < 0 || n > len(hits) || !strings.HasPrefix(*in.NextToken, "filter/") {
			return nil, clientErr("InvalidParameterException", "The specified nextToken is invalid.")
		}
		off = n
	}
	limit := 10000
	if in.Limit != nil && *in.Limit > 0 && *in.Limit < limit {
		limit = *in.Limit
	}
	end := min(off+limit, len(hits))
	events := make([]map[string]any, 0, end-off)
	for _, h := range hits[off:end] {
		events = append(events, map[string]any{"logStreamName": h.stream, "timestamp": h.e.ts, "ingestionTime": h.e.ingested,
			"message": h.e.msg, "eventId": fmt.Sprintf("%s-%d", h.stream, h.idx)})
	}
	out := map[string]any{"events": events, "searchedLogStreams": []any{}}
	if end < len(hits) {
		out["nextToken"] = "filter/" + strconv.Itoa(end)
	}
	return out, nil
}

// filterTerms is the fake's reading of a filter pattern: one term (a word
// or a quoted phrase) matched as a case-sensitive substring, or terms each
// prefixed with ? of which any may match. That is the part of CloudWatch
// Logs' filter pattern syntax Flotilla sends (CloudWatch Logs User Guide,
// "Filter pattern syntax for metric filters, subscription filters, filter
// log events, and Live Tail": "Matching terms in unstructured log events",
// the ?term OR form). JSON and space-separated patterns are not modelled.
func filterTerms(pattern string) func(string) bool {
	pattern = strings.TrimSpace(pattern)
	if !strings.HasPrefix(pattern, "?") {
		p := strings.Trim(pattern, `"`)
		return func(msg string) bool { return strings.Contains(msg, p) }
	}
	var terms []string
	for rest := pattern; rest != ""; rest = strings.TrimSpace(rest) {
		rest = strings.TrimPrefix(rest, "?")
		if strings.HasPrefix(rest, `"`) {
			end := strings.Index(rest[1:], `"`)
			if end < 0 {
				terms = append(terms, rest[1:])
				break
			}
			terms = append(terms, rest[1:end+1])
			rest = rest[end+2:]
			continue
		}
		word, after, _ := strings.Cut(rest, " ")
		terms = append(terms, word)
		rest = after
	}
	return func(msg string) bool {
		for _, t := range terms {
			if strings.Contains(msg, t) {
				return true
			}
		}
		return false
	}
}
