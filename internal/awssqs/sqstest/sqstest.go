// Package sqstest runs the fauxqs SQS emulator (internal/awssqs/fauxqs,
// pinned by its package-lock.json) for tests: `node run.mjs` on a free
// loopback port, stopped when the test or the test binary ends. It never
// skips: when Node or the npm packages are missing, the test fails and says
// which make target installs them.
//
// One emulator per test binary:
//
//	func TestMain(m *testing.M) { os.Exit(sqstest.Run(m)) }
//
//	func TestX(t *testing.T) {
//		client := sqstest.Client(t, sqstest.Shared(t))
//		url := sqstest.CreateFIFOQueue(t, client, 30*time.Second)
//		...
//	}
package sqstest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/flotilla-run/flotilla/internal/awsclient"
)

// DepsTarget is the make target that installs the emulator's packages.
const DepsTarget = "fauxqs-deps"

// startTimeout bounds the emulator's start; it is ready in about half a
// second on a quiet machine.
const startTimeout = 20 * time.Second

// Emulator is a running fauxqs process.
type Emulator struct {
	// Endpoint is the emulator's base URL, e.g. http://127.0.0.1:41929.
	Endpoint string

	cmd     *exec.Cmd
	stdin   io.Closer
	stderr  *syncBuffer
	exited  chan struct{}
	stopped sync.Once
}

// Start runs a fauxqs of the test's own, stopped at the test's cleanup, and
// returns its endpoint.
func Start(t testing.TB) string {
	t.Helper()
	e, err := Launch()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	return e.Endpoint
}

var shared struct {
	once sync.Once
	emu  *Emulator
	err  error
}

// Shared returns the endpoint of the test binary's one fauxqs, starting it
// on first use. Run stops it; if the binary dies first, the emulator exits
// when its standard input closes.
func Shared(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() { shared.emu, shared.err = Launch() })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.emu.Endpoint
}

// Run runs the tests and then stops the shared emulator, returning the
// exit code for os.Exit.
func Run(m *testing.M) int {
	code := m.Run()
	if shared.emu != nil {
		shared.emu.Stop()
	}
	return code
}

// Dir returns the folder holding package.json and run.mjs.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "fauxqs")
}

var listening = regexp.MustCompile(`^fauxqs listening on (http://127\.0\.0\.1:\d+)\s*$`)

// Launch starts `node run.mjs` with PORT=0 and waits for the address it
// prints. The caller stops it with Stop.
func Launch() (*Emulator, error) {
	dir := Dir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "fauxqs", "package.json")); err != nil {
		return nil, fmt.Errorf("sqstest: fauxqs is not installed (%s/node_modules is missing): run `make %s` (npm ci in internal/awssqs/fauxqs)", dir, DepsTarget)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("sqstest: node (20 or later) is not on PATH; it runs the fauxqs SQS emulator: %w", err)
	}
	cmd := exec.Command(node, "run.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PORT=0", "FAUXQS_EXIT_ON_STDIN_EOF=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	addr := make(chan string, 1)
	e := &Emulator{cmd: cmd, stdin: stdin, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout = &lineWatcher{found: addr}
	cmd.Stderr = e.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("sqstest: start fauxqs: %w", err)
	}
	go func() { _ = cmd.Wait(); close(e.exited) }()

	select {
	case a := <-addr:
		e.Endpoint = a
		return e, nil
	case <-e.exited:
		return nil, fmt.Errorf("sqstest: fauxqs exited before listening (%s): %s", cmd.ProcessState, e.stderr.String())
	case <-time.After(startTimeout):
		e.Stop()
		return nil, fmt.Errorf("sqstest: fauxqs did not print its address within %s: %s", startTimeout, e.stderr.String())
	}
}

// Stop ends the emulator: its stdin closes and it gets SIGINT; it is
// killed if it has not exited two seconds later.
func (e *Emulator) Stop() {
	e.stopped.Do(func() {
		_ = e.stdin.Close()
		_ = e.cmd.Process.Signal(os.Interrupt)
		select {
		case <-e.exited:
		case <-time.After(2 * time.Second):
			_ = e.cmd.Process.Kill()
			<-e.exited
		}
	})
}

// lineWatcher is the emulator's stdout: it sends the address from the
// first "fauxqs listening on" line and discards the rest.
type lineWatcher struct {
	line  []byte
	sent  bool
	found chan<- string
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	for _, c := range p {
		if w.sent {
			break
		}
		if c != '\n' {
			w.line = append(w.line, c)
			continue
		}
		if m := listening.FindSubmatch(w.line); m != nil {
			w.found <- string(m[1])
			w.sent = true
		}
		w.line = w.line[:0]
	}
	return len(p), nil
}

// Client returns an SQS client for the emulator at endpoint, with the
// project's shared configuration and dummy credentials.
func Client(t testing.TB, endpoint string) *sqs.Client {
	t.Helper()
	cfg, err := awsclient.Load(context.Background(), awsclient.Options{Region: "us-east-1", StaticCredentials: true})
	if err != nil {
		t.Fatal(err)
	}
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

var queueSeq atomic.Int64

var notQueueChar = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// CreateFIFOQueue creates a FIFO queue named after the test, with the
// given visibility timeout (whole seconds, at least 1), and returns its URL.
func CreateFIFOQueue(t testing.TB, c *sqs.Client, visibility time.Duration) string {
	t.Helper()
	name := notQueueChar.ReplaceAllString(t.Name(), "-")
	name = fmt.Sprintf("%s-%d", name[max(0, len(name)-60):], queueSeq.Add(1))
	secs := max(int(visibility/time.Second), 1)
	out, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{
		QueueName: aws.String(name + ".fifo"),
		Attributes: map[string]string{
			string(types.QueueAttributeNameFifoQueue):         "true",
			string(types.QueueAttributeNameVisibilityTimeout): strconv.Itoa(secs),
		},
	})
	if err != nil {
		t.Fatalf("sqstest: create queue %s.fifo: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

// syncBuffer collects the emulator's stderr for error messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.TrimSpace(s.b.String())
}
