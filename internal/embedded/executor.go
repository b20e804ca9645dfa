package embedded

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// Executor runs each run attempt on this machine: as a host process under
// `sh -c` with the run's env in its own working directory, or, when a Docker
// engine answers, as a container from the run's image with its cpu and
// memory limits. Output (stdout and stderr) goes, line by line with
// timestamps, to the run's log file. Task events go to OnEvent.
//
// A run's secrets are references that only ECS can resolve, so locally the
// value of secret NAME is read when the attempt starts from the server's
// own environment variable FLOTILLA_SECRET_<NAME> (for example
// FLOTILLA_SECRET_TOKEN for TOKEN). It goes into the job's environment and
// nowhere else: not the run, the log, any event or a process argument. An
// unset variable fails the attempt to start, naming the secret.
//
// Start is idempotent per run attempt, across restarts too: the attempt's
// working directory is created with an exclusive mkdir before anything is
// started, so a second Start (or one after a crash) finds it and never
// starts the attempt again.
type Executor struct {
	dir     string
	docker  bool
	onEvent func(flotilla.TaskEvent)
	log     *slog.Logger
	// StopGrace is how long a stopped task gets between SIGTERM and SIGKILL.
	StopGrace time.Duration
	// StartFunc, when set, observes every process actually started (tests
	// count them to prove nothing starts twice).
	StartFunc func(runID string, attempt int)
	// LookupEnv reads the server's environment for secret values
	// (FLOTILLA_SECRET_<NAME>); nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// MaxLogBytes caps one run's log file (all attempts together); past it
	// a marker line says so and further output is dropped while the job
	// keeps running. Zero means DefaultMaxLogBytes.
	MaxLogBytes int64
	// OpenLogFunc opens a run's log file for appending (nil: the file at
	// LogPath, 0600); tests inject failing writers through it.
	OpenLogFunc func(path string) (io.WriteCloser, error)
	// WriteFileFunc writes an attempt's bookkeeping files (.task, .exit;
	// nil: os.WriteFile); tests inject failures through it.
	WriteFileFunc func(name string, data []byte, perm os.FileMode) error

	mu    sync.Mutex
	tasks map[string]*task
	wg    sync.WaitGroup

	// Events are delivered in order by one goroutine, never under mu, so
	// OnEvent may call back into the executor.
	outMu   sync.Mutex
	out     []flotilla.TaskEvent
	outWake chan struct{}
	outDone chan struct{}
}

type task struct {
	id        string
	runID     string
	attempt   int
	cluster   string
	cmd       *exec.Cmd
	state     flotilla.TaskState
	exitCode  *int
	stopCode  string
	reason    string
	stopping  bool
	lost      bool
	done      chan struct{}
	container string
}

var _ flotilla.Executor = (*Executor)(nil)

// NewExecutor returns an executor keeping its files under dir. With docker
// true, runs are containers (the caller checks that `docker info` works).
func NewExecutor(dir string, docker bool, onEvent func(flotilla.TaskEvent), log *slog.Logger) *Executor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Executor{dir: dir, docker: docker, onEvent: onEvent, log: log, StopGrace: 10 * time.Second, tasks: map[string]*task{},
		outWake: make(chan struct{}, 1), outDone: make(chan struct{})}
	go e.deliver()
	return e
}

func (e *Executor) deliver() {
	defer close(e.outDone)
	for range e.outWake {
		for {
			e.outMu.Lock()
			batch := e.out
			e.out = nil
			e.outMu.Unlock()
			if len(batch) == 0 {
				break
			}
			for _, ev := range batch {
				if e.onEvent != nil {
					e.onEvent(ev)
				}
			}
		}
	}
}

// DockerAvailable reports whether a Docker engine answers `docker info`.
func DockerAvailable(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "docker", "info").Run() == nil
}

func taskKey(runID string, attempt int) string { return runID + "#" + strconv.Itoa(attempt) }

func (e *Executor) workDir(runID string, attempt int) string {
	return filepath.Join(e.dir, "work", runID, strconv.Itoa(attempt))
}

// DefaultMaxLogBytes is a run's log cap when none is configured.
const DefaultMaxLogBytes int64 = 1 << 30

// LogPath is where a run's output is written.
func LogPath(dir, runID string) string { return filepath.Join(dir, "logs", runID+".log") }

func (e *Executor) engine() string {
	if e.docker {
		return flotilla.EngineDocker
	}
	return flotilla.EngineLocal
}

// Start implements flotilla.Executor.
func (e *Executor) Start(ctx context.Context, r flotilla.Run) (flotilla.Task, error) {
	key := taskKey(r.ID, r.Attempt)
	e.mu.Lock()
	defer e.mu.Unlock()
	if t, ok := e.tasks[key]; ok {
		return flotilla.Task{ID: t.id, Engine: e.engine()}, nil
	}
	wd := e.workDir(r.ID, r.Attempt)
	if err := os.MkdirAll(filepath.Dir(wd), dirMode); err != nil {
		return flotilla.Task{}, fmt.Errorf("start run %s: %w", r.ID, err)
	}
	if err := os.Mkdir(wd, dirMode); err != nil {
		if errors.Is(err, os.ErrExist) {
			// Started by an earlier life of this server: never again.
			id, _ := os.ReadFile(filepath.Join(wd, ".task"))
			return flotilla.Task{ID: strings.TrimSpace(string(id)), Engine: e.engine()}, nil
		}
		return flotilla.Task{}, fmt.Errorf("start run %s: %w", r.ID, err)
	}
	id := "local-" + strings.TrimPrefix(r.ID, "run_") + "-" + strconv.Itoa(r.Attempt)
	if err := e.writeFile(filepath.Join(wd, ".task"), []byte(id+"\n"), fileMode); err != nil {
		return flotilla.Task{}, fmt.Errorf("start run %s: %w", r.ID, err)
	}
	t := &task{id: id, runID: r.ID, attempt: r.Attempt, cluster: r.Cluster, state: flotilla.TaskPending, done: make(chan struct{})}
	e.tasks[key] = t
	if err := e.launch(r, t, wd); err != nil {
		// The attempt could not start; its end is reported like any other.
		t.stopCode = flotilla.StopCodeTaskFailedToStart
		t.reason = err.Error()
		t.state = flotilla.TaskStopped
		close(t.done)
		e.writeExit(wd, t)
		e.emit(t)
		return flotilla.Task{ID: id, Engine: e.engine()}, nil
	}
	return flotilla.Task{ID: id, Engine: e.engine()}, nil
}

// SecretEnvPrefix prefixes the server environment variable that holds a
// secret's value in local mode: FLOTILLA_SECRET_<NAME>.
const SecretEnvPrefix = "FLOTILLA_SECRET_"

// secretValues resolves a run's secrets from the server's environment, as
// NAME=value pairs sorted by name. The error names the secret, never a value.
func (e *Executor) secretValues(r flotilla.Run) ([]string, error) {
	lookup := e.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(r.Secrets)) {
		v, ok := lookup(SecretEnvPrefix + name)
		if !ok {
			return nil, fmt.Errorf("secret %s has no value: set %s%s in the server's environment", name, SecretEnvPrefix, name)
		}
		out = append(out, name+"="+v)
	}
	return out, nil
}

func (e *Executor) launch(r flotilla.Run, t *task, wd string) error {
	secrets, err := e.secretValues(r)
	if err != nil {
		return err
	}
	logPath := LogPath(e.dir, r.ID)
	if err := os.MkdirAll(filepath.Dir(logPath), dirMode); err != nil {
		return err
	}
	logFile, written, err := e.openLog(logPath)
	if err != nil {
		return err
	}
	var env []string
	for k, v := range flotilla.RunEnv(r) {
		env = append(env, k+"="+v)
	}
	for k, v := range r.Env {
		env = append(env, k+"="+v)
	}
	var cmd *exec.Cmd
	if e.docker {
		t.container = "flotilla-" + strings.ToLower(strings.TrimPrefix(r.ID, "run_")) + "-" + strconv.Itoa(r.Attempt)
		// `-e NAME` without a value: docker copies it from its own
		// environment, so no secret value is in a process argument.
		for _, kv := range secrets {
			name, _, _ := strings.Cut(kv, "=")
			env = append(env, name)
		}
		cmd = exec.Command("docker", DockerArgs(r, t.container, env)...)
		cmd.Env = append(os.Environ(), secrets...)
	} else {
		cmd = exec.Command("/bin/sh", "-c", r.Command)
		cmd.Env = append(append(baseEnv(), env...), secrets...)
	}
	cmd.Dir = wd
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logFile.Close()
		return err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return err
	}
	t.cmd = cmd
	t.state = flotilla.TaskRunning
	os.WriteFile(filepath.Join(wd, ".pgid"), []byte(strconv.Itoa(cmd.Process.Pid)), fileMode)
	if e.StartFunc != nil {
		e.StartFunc(r.ID, r.Attempt)
	}
	e.emit(t)
	maxBytes := e.MaxLogBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxLogBytes
	}
	w := &lineWriter{f: logFile, written: written, max: maxBytes}
	if r.TaskRoleARN != "" {
		// The one thing a local run cannot do as deployed: say so where
		// the job's author looks.
		w.write(fmt.Sprintf(TaskRoleNotice, r.TaskRoleARN))
	}
	var copies sync.WaitGroup
	for i, rd := range []io.Reader{stdout, stderr} {
		copies.Add(1)
		go func() { defer copies.Done(); w.copyLines(rd, i == 1) }()
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		copies.Wait() // every line is in the file before the end is reported
		err := cmd.Wait()
		if cerr := logFile.Close(); cerr != nil && w.err == nil {
			w.err, w.lost = cerr, 1
		}
		if w.err != nil {
			// The job's end is still recorded; what is missing from its
			// log is said loudly here, not discovered later.
			e.log.Error("run output could not be written to its log", "run_id", r.ID, "attempt", r.Attempt, "lines_lost", w.lost, "err", w.err)
		}
		e.finish(t, wd, err)
	}()
	return nil
}

// baseEnv is what a host-process job inherits: enough to find programs,
// nothing of the server's own configuration.
func baseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "USER", "LANG", "TZ", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// DockerArgs builds the `docker run` arguments for a run attempt. Each env
// entry is NAME=value, or a bare NAME that docker copies from its own
// environment (how secrets are passed).
func DockerArgs(r flotilla.Run, name string, env []string) []string {
	args := []string{"run", "--rm", "--name", name,
		"--cpus", strconv.FormatFloat(float64(r.CPU)/1024, 'f', 3, 64),
		"--memory", strconv.Itoa(r.Memory) + "m",
		"--label", "flotilla.run_id=" + r.ID}
	if r.GPU > 0 {
		args = append(args, "--gpus", strconv.Itoa(r.GPU))
	}
	for _, kv := range env {
		args = append(args, "-e", kv)
	}
	return append(args, "--entrypoint", "sh", r.Image, "-c", r.Command)
}

// openLog opens the run's log for appending and says how big it already is.
func (e *Executor) openLog(path string) (io.WriteCloser, int64, error) {
	if e.OpenLogFunc != nil {
		f, err := e.OpenLogFunc(path)
		return f, 0, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, fileMode)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

func (e *Executor) writeFile(name string, data []byte, perm os.FileMode) error {
	if e.WriteFileFunc != nil {
		return e.WriteFileFunc(name, data, perm)
	}
	return os.WriteFile(name, data, perm)
}

func (e *Executor) finish(t *task, wd string, waitErr error) {
	e.mu.Lock()
	code := -1
	if t.cmd.ProcessState != nil {
		ws, _ := t.cmd.ProcessState.Sys().(syscall.WaitStatus)
		switch {
		case ws.Exited():
			code = ws.ExitStatus()
		case ws.Signaled():
			code = 128 + int(ws.Signal())
		}
	}
	if code >= 0 {
		t.exitCode = &code
	}
	switch {
	case t.lost:
		t.stopCode = flotilla.StopCodeLost
		t.reason = "the server shut down while the run was running"
	case t.stopping:
		t.stopCode = flotilla.StopCodeUserInitiated
		t.reason = "stopped on request"
	case t.exitCode == nil:
		t.stopCode = flotilla.StopCodeTaskFailedToStart
		t.reason = fmt.Sprint(waitErr)
	default:
		t.stopCode = flotilla.StopCodeEssentialContainerExited
	}
	t.state = flotilla.TaskStopped
	e.writeExit(wd, t)
	close(t.done)
	e.mu.Unlock()
	e.emit(t)
}

// writeExit records the end on disk, so a restarted server can tell an
// attempt that finished from one it lost. The store is the record of a
// run's end (the event is delivered whatever happens here); this file only
// matters if the server dies before the store has it, so a failure is
// logged as an error rather than failing the run.
func (e *Executor) writeExit(wd string, t *task) {
	line := t.stopCode + "\n" + t.reason + "\n"
	if t.exitCode != nil {
		line = strconv.Itoa(*t.exitCode) + "\n" + line
	} else {
		line = "-\n" + line
	}
	if err := e.writeFile(filepath.Join(wd, ".exit"), []byte(line), fileMode); err != nil {
		e.log.Error("could not record a run attempt's end on disk; if the server stops before the store records it, the run will be judged lost",
			"run_id", t.runID, "attempt", t.attempt, "err", err)
	}
}

func (e *Executor) emit(t *task) {
	e.outMu.Lock()
	e.out = append(e.out, e.event(t))
	e.outMu.Unlock()
	select {
	case e.outWake <- struct{}{}:
	default:
	}
}

func (e *Executor) event(t *task) flotilla.TaskEvent {
	ev := flotilla.TaskEvent{RunID: t.runID, Attempt: t.attempt, TaskID: t.id, Cluster: t.cluster, State: t.state,
		At: time.Now().UTC(), StopCode: t.stopCode, StoppedReason: t.reason}
	if t.exitCode != nil {
		c := *t.exitCode
		ev.ExitCode = &c
	}
	return ev
}

// Stop implements flotilla.Executor: SIGTERM to the task's process group,
// SIGKILL after StopGrace.
func (e *Executor) Stop(ctx context.Context, r flotilla.Run) error {
	e.mu.Lock()
	t, ok := e.tasks[taskKey(r.ID, r.Attempt)]
	if !ok || t.state == flotilla.TaskStopped || t.cmd == nil {
		e.mu.Unlock()
		if ok {
			return nil
		}
		return fmt.Errorf("stop run %s: no task for attempt %d: %w", r.ID, r.Attempt, flotilla.ErrNotFound)
	}
	pid := t.cmd.Process.Pid
	// A job whose process already ended on its own (a zombie not yet
	// reaped, or reaped and about to be reported) keeps its own end: the
	// stop came second. Its leftover children are still signalled. A
	// second stop (the API's and then the dispatcher's, when a stop raced
	// the start) finds the process a zombie of the first one's signal: it
	// must not turn that stop back into an end of the job's own.
	t.stopping = t.stopping || !processEnded(pid)
	container := t.container
	e.mu.Unlock()
	if container != "" {
		exec.Command("docker", "stop", "-t", strconv.Itoa(int(e.StopGrace.Seconds())), container).Run()
		return nil
	}
	syscall.Kill(-pid, syscall.SIGTERM)
	go func() {
		select {
		case <-t.done:
		case <-time.After(e.StopGrace):
			syscall.Kill(-pid, syscall.SIGKILL)
		}
	}()
	return nil
}

// processEnded reports whether pid has exited: it is a zombie waiting to be
// reaped, or gone (/proc/<pid>/stat, Linux's proc(5)).
func processEnded(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
	f := strings.Fields(rest)
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

// Describe implements flotilla.Executor. An attempt started by an earlier
// life of this server is reported from its files: its recorded end, or lost
// (its leftover processes are killed).
func (e *Executor) Describe(ctx context.Context, r flotilla.Run) (flotilla.TaskEvent, error) {
	e.mu.Lock()
	t, ok := e.tasks[taskKey(r.ID, r.Attempt)]
	if ok {
		ev := e.event(t)
		e.mu.Unlock()
		return ev, nil
	}
	e.mu.Unlock()
	wd := e.workDir(r.ID, r.Attempt)
	idb, err := os.ReadFile(filepath.Join(wd, ".task"))
	if err != nil {
		return flotilla.TaskEvent{}, fmt.Errorf("describe run %s attempt %d: %w", r.ID, r.Attempt, flotilla.ErrNotFound)
	}
	ev := flotilla.TaskEvent{RunID: r.ID, Attempt: r.Attempt, TaskID: strings.TrimSpace(string(idb)), Cluster: r.Cluster,
		State: flotilla.TaskStopped, At: time.Now().UTC()}
	if b, err := os.ReadFile(filepath.Join(wd, ".exit")); err == nil {
		parts := strings.SplitN(string(b), "\n", 3)
		if n, err := strconv.Atoi(parts[0]); err == nil {
			ev.ExitCode = &n
		}
		if len(parts) > 1 {
			ev.StopCode = parts[1]
		}
		if len(parts) > 2 {
			ev.StoppedReason = strings.TrimSpace(parts[2])
		}
		return ev, nil
	}
	killLeftovers(wd, r.ID)
	ev.StopCode = flotilla.StopCodeLost
	ev.StoppedReason = "the server stopped while the run was running; its process was lost"
	return ev, nil
}

// killLeftovers kills what is left of the process group an earlier server
// life started for the attempt. Its shell died with the server
// (Pdeathsig), but its children may live on; a process is killed only if it
// is still in that group and still carries the run's id (pids get reused).
func killLeftovers(wd, runID string) {
	b, err := os.ReadFile(filepath.Join(wd, ".pgid"))
	if err != nil {
		return
	}
	pgid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pgid <= 1 {
		return
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, statPath := range procs {
		stat, err := os.ReadFile(statPath)
		if err != nil {
			continue
		}
		// Fields after the command's closing parenthesis: state ppid pgrp …
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
		f := strings.Fields(rest)
		if len(f) < 3 || f[2] != strconv.Itoa(pgid) {
			continue
		}
		environ, err := os.ReadFile(filepath.Join(filepath.Dir(statPath), "environ"))
		if err != nil || !strings.Contains(string(environ), "FLOTILLA_RUN_ID="+runID+"\x00") {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(statPath)))
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// Close kills every running task (their runs end as lost: the server is
// going away) and waits for their ends to be reported.
func (e *Executor) Close() {
	e.mu.Lock()
	for _, t := range e.tasks {
		if t.state != flotilla.TaskStopped && t.cmd != nil {
			t.lost = true
			syscall.Kill(-t.cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	e.mu.Unlock()
	e.wg.Wait()
	close(e.outWake)
	<-e.outDone
}

// TaskRoleNotice is the first line of a local run whose definition names
// a task role.
const TaskRoleNotice = "flotilla: task_role_arn %s is not used locally: the job runs with the server's own credentials (on ECS it runs as that role)"

// lineWriter writes whole timestamped lines to the log file; the two
// streams' lines never interleave mid-line.
//
// What a log keeps: each line's text without its line break ("\n"; a "\r"
// before it, or anywhere, is kept), as UTF-8: each run of bytes that are not
// valid UTF-8 becomes one U+FFFD (CloudWatch Logs requires UTF-8 too). A line over
// 256 KiB is split. Past the run's cap, one marker line and nothing more.
type lineWriter struct {
	mu      sync.Mutex
	f       io.Writer
	written int64
	max     int64
	capped  bool
	// err is the first write error; lost counts the lines it cost.
	err  error
	lost int
}

// maxLine splits absurdly long lines so one line cannot exhaust memory.
const maxLine = 256 << 10

func (w *lineWriter) copyLines(r io.Reader, stderr bool) {
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if err == bufio.ErrBufferFull && len(buf) < maxLine {
			continue
		}
		if len(buf) > 0 {
			w.writeStream(strings.TrimSuffix(string(buf), "\n"), stderr)
			buf = buf[:0]
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

func (w *lineWriter) write(line string) { w.writeStream(line, false) }

// StderrMark starts a log file's line that the job wrote to its standard
// error: "!<time>\t<text>". A line's time starts with a digit, so the files
// written before streams were marked read as they were.
const StderrMark = "!"

func (w *lineWriter) writeStream(line string, stderr bool) {
	rec := time.Now().UTC().Format(time.RFC3339Nano) + "\t" + strings.ToValidUTF8(line, "\uFFFD") + "\n"
	if stderr {
		rec = StderrMark + rec
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.capped {
		return
	}
	if w.written+int64(len(rec)) > w.max {
		w.capped = true
		rec = time.Now().UTC().Format(time.RFC3339Nano) + "\t" + fmt.Sprintf(LogCapMarker, w.max) + "\n"
	}
	n, err := io.WriteString(w.f, rec)
	w.written += int64(n)
	if err != nil {
		if w.err == nil {
			w.err = err
		}
		w.lost++
	}
}

// LogCapMarker is the last line of a log that reached its cap (%d: the cap
// in bytes).
const LogCapMarker = "[flotilla] this run's log reached its limit of %d bytes; later output is not kept (the job keeps running)"
