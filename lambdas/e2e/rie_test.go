//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The emulator, pinned (reference/emulators.md §3).
const (
	rieModule  = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
	rieVersion = "v0.0.0-20261030222936-bef5c4ba774d"
)

// goTool is the go command that runs the tests.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// built holds what the tests run, built once per test binary.
var built struct {
	once sync.Once
	dir  string // removed by TestMain
	rie  string
	bins map[string]string
	err  error
}

// artifacts returns the RIE binary and the bootstraps of fns by name.
func artifacts(t testing.TB) (rie string, bins map[string]string) {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "flotilla-lambdas-"); built.err != nil {
			return
		}
		var wg sync.WaitGroup
		var rieErr, binErr error
		wg.Go(func() { built.rie, rieErr = rieBinary(built.dir) })
		wg.Go(func() { built.bins, binErr = buildBootstraps(built.dir, builtFns...) })
		wg.Wait()
		built.err = errors.Join(rieErr, binErr)
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.rie, built.bins
}

// rieBinary builds aws-lambda-rie into the user cache directory, once per
// version, and returns its path.
func rieBinary(tmp string) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "flotilla", "aws-lambda-rie@"+rieVersion)
	bin := filepath.Join(dir, "aws-lambda-rie")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	// go install pkg@version builds outside this module, so go.mod is
	// untouched. The module cache is tried first as a file proxy, so it
	// works offline once the modules were downloaded (GOPROXY=off would
	// refuse: @version needs a lookup).
	env, err := exec.Command(goTool(), "env", "GOMODCACHE", "GOPROXY").Output()
	if err != nil {
		return "", fmt.Errorf("go env: %w", err)
	}
	goenv := strings.Fields(string(env))
	proxy := "file://" + filepath.ToSlash(filepath.Join(goenv[0], "cache", "download"))
	if len(goenv) > 1 && goenv[1] != "off" {
		proxy += "," + goenv[1]
	}
	cmd := exec.Command(goTool(), "install", rieModule+"@"+rieVersion)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0", "GOFLAGS=", "GOPROXY="+proxy)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build aws-lambda-rie: %w\n%s", err, out)
	}
	return bin, nil
}

// moduleRoot is the folder holding go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command(goTool(), "env", "GOMOD").Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	return filepath.Dir(string(bytes.TrimSpace(out))), nil
}

// buildBootstraps builds each function's bootstrap for the host, as `make
// lambdas` does for linux/arm64, into dir and returns their paths by name.
func buildBootstraps(dir string, names ...string) (map[string]string, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	dir = filepath.Join(dir, "bin")
	args := []string{"build", "-tags", "lambda.norpc", "-trimpath", "-o", dir + string(filepath.Separator)}
	for _, n := range names {
		args = append(args, "./lambdas/"+n)
	}
	cmd := exec.Command(goTool(), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build the bootstraps: %w\n%s", err, out)
	}
	out := map[string]string{}
	for _, n := range names {
		out[n] = filepath.Join(dir, n)
	}
	return out, nil
}

// function is one bootstrap running under its own RIE. RIE serves one
// invoke at a time (a second concurrent one crashes it), so invokes take
// a lock.
type function struct {
	name string
	url  string
	cmd  *exec.Cmd
	out  *syncBuffer

	exited chan struct{} // closed when RIE is gone

	mu      sync.Mutex
	invokes int
}

// stop kills RIE and the bootstrap, and waits for RIE.
func (f *function) stop() {
	_ = syscall.Kill(-f.cmd.Process.Pid, syscall.SIGKILL)
	<-f.exited
}

// startFunction runs bootstrap under RIE with env added to this process's.
// The two ports are picked free and then released, so another process can
// take one first: RIE then exits at once, and it is started again on others.
func startFunction(t testing.TB, rie, name, bootstrap string, env []string) *function {
	t.Helper()
	for attempt := 1; ; attempt++ {
		f, err := tryStart(rie, name, bootstrap, env)
		if err == nil {
			t.Cleanup(func() {
				f.stop()
				if t.Failed() {
					t.Logf("%s (RIE and bootstrap output):\n%s", name, f.out.String())
				}
			})
			return f
		}
		if attempt == 3 {
			t.Fatal(err)
		}
	}
}

func tryStart(rie, name, bootstrap string, env []string) (*function, error) {
	emu, err := freeAddr()
	if err != nil {
		return nil, err
	}
	api, err := freeAddr()
	if err != nil {
		return nil, err
	}
	f := &function{name: name, url: "http://" + emu + "/2015-03-31/functions/function/invocations", out: &syncBuffer{}, exited: make(chan struct{})}
	f.cmd = exec.Command(rie, "--runtime-interface-emulator-address", emu, "--runtime-api-address", api, bootstrap)
	f.cmd.Dir = filepath.Dir(bootstrap)
	f.cmd.Env = append(os.Environ(), append([]string{
		"AWS_LAMBDA_FUNCTION_NAME=flotilla-" + name, "AWS_LAMBDA_FUNCTION_TIMEOUT=30", "AWS_REGION=us-east-1",
	}, env...)...)
	f.cmd.Stdout, f.cmd.Stderr = f.out, f.out
	// Its own process group, so the bootstrap RIE starts dies with it.
	f.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := f.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start RIE for %s: %w", name, err)
	}
	go func() { _ = f.cmd.Wait(); close(f.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", emu, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		select {
		case <-f.exited:
			return nil, fmt.Errorf("RIE for %s exited: %s", name, f.out.String())
		default:
		}
		if err == nil {
			return f, nil
		}
		if time.Now().After(deadline) {
			f.stop()
			return nil, fmt.Errorf("RIE for %s did not listen on %s: %v\n%s", name, emu, err, f.out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// errFunction is a handled error the function returned.
var errFunction = errors.New("function error")

// invoke sends one event and returns the function's response. A handled
// error (RIE answers 200 with an errorMessage payload and no
// X-Amz-Function-Error header), a crash (502) or a timeout is an error.
func (f *function) invoke(ctx context.Context, event any) ([]byte, error) {
	body, err := json.Marshal(event)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.invokes++
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", f.name, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", f.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("invoke %s: %s: %s", f.name, resp.Status, out)
	}
	if bytes.HasPrefix(out, []byte("Task timed out")) {
		return nil, fmt.Errorf("invoke %s: %s", f.name, out)
	}
	var fe struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if json.Unmarshal(out, &fe) == nil && fe.ErrorType != "" {
		return nil, fmt.Errorf("invoke %s: %w: %s: %s", f.name, errFunction, fe.ErrorType, fe.ErrorMessage)
	}
	return out, nil
}

// RIE logs "INIT REPORT(durationMs: N)" when the runtime finished its init
// (on the first invoke: the start of the process up to its first call for
// the next invocation). Its REPORT line's "Init Duration" is not that: it
// is near zero whatever the init took, so it is kept only as a fallback.
var (
	initReport   = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
	initDuration = regexp.MustCompile(`REPORT RequestId: \S+\s+Init Duration: ([0-9.]+) ms`)
)

// initMillis is the init duration RIE reported for the cold invoke.
func (f *function) initMillis() (float64, bool) {
	out := f.out.String()
	m := initReport.FindStringSubmatch(out)
	if m == nil {
		m = initDuration.FindStringSubmatch(out)
	}
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
