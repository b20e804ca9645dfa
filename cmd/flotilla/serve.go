package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/flotilla-run/flotilla/internal/api"
	"github.com/flotilla-run/flotilla/internal/embedded"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/notify"
	"github.com/flotilla-run/flotilla/internal/runs"
	"github.com/flotilla-run/flotilla/internal/schedules"
	"github.com/spf13/cobra"
)

// serveConfig is `flotilla serve`'s configuration. The zero value of every
// field means its documented default.
type serveConfig struct {
	// Addr is where the API and UI listen (FLOTILLA_ADDR; 127.0.0.1:8080).
	Addr string
	// DataDir keeps the database, logs and working dirs (FLOTILLA_DATA_DIR; ./.flotilla).
	DataDir string
	// MaxRunning is the default cluster's limit (FLOTILLA_MAX_RUNNING; the number of CPUs).
	MaxRunning int
	// MaxRunningPerOwner caps one owner's runs on the default cluster (FLOTILLA_MAX_RUNNING_PER_OWNER; 0 = no cap).
	MaxRunningPerOwner int
	// UIDir is the built web app (FLOTILLA_UI_DIR; web/dist when it exists).
	UIDir string
	// AllowRemote permits a non-loopback Addr (FLOTILLA_ALLOW_REMOTE=1).
	AllowRemote bool
	// AllowedHosts are Host names the server answers to besides the
	// loopback names and Addr's host (FLOTILLA_ALLOWED_HOSTS, comma
	// separated): what remote users type with --allow-remote. Any other
	// Host is refused, which defeats DNS rebinding.
	AllowedHosts []string
	// ReadTimeout bounds reading one request, body included
	// (FLOTILLA_READ_TIMEOUT; 30s): a stalled body does not hold a
	// connection open.
	ReadTimeout time.Duration
	// MaxLogBytes caps one run's log file (FLOTILLA_MAX_LOG_BYTES; 1 GiB);
	// past it a marker line is written and the job keeps running.
	MaxLogBytes int64
	// SweepInterval is how often the sweep runs (FLOTILLA_SWEEP_INTERVAL; 5s).
	SweepInterval time.Duration
	// StuckAfter is how long a started run may go without news of its task
	// before the sweep asks the engine (FLOTILLA_STUCK_AFTER; 1m).
	StuckAfter time.Duration
	// QueueTimeout fails runs that waited longer (FLOTILLA_QUEUE_TIMEOUT; 24h).
	QueueTimeout time.Duration
	// Engine is "auto" (Docker when `docker info` works, else host
	// processes), "docker" or "process" (FLOTILLA_ENGINE).
	Engine string
	// Owner is the local user runs belong to (FLOTILLA_OWNER; the OS user).
	Owner string
	// LogFormat is text or json (FLOTILLA_LOG_FORMAT).
	LogFormat string
	// clock drives the scheduler; tests set a fake one (nil: the system clock).
	clock schedules.Clock
}

func serveCmd(e *env) *cobra.Command {
	var c serveConfig
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run Flotilla on this machine: the API, the web UI, the queue, the dispatcher and the runs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), e, c)
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.Addr, "addr", envOr(e, "FLOTILLA_ADDR", "127.0.0.1:8080"), "listen address (HOST:PORT; port 0 picks a free one)")
	f.StringVar(&c.DataDir, "data-dir", envOr(e, "FLOTILLA_DATA_DIR", ".flotilla"), "where the database, logs and working directories live")
	f.IntVar(&c.MaxRunning, "max-running", envInt(e, "FLOTILLA_MAX_RUNNING", runtime.NumCPU()), "runs the default cluster runs at once")
	f.IntVar(&c.MaxRunningPerOwner, "max-running-per-owner", envInt(e, "FLOTILLA_MAX_RUNNING_PER_OWNER", 0), "runs one owner may have going on the default cluster (0: no cap)")
	f.StringVar(&c.UIDir, "ui-dir", envOr(e, "FLOTILLA_UI_DIR", ""), "the built web UI to serve (default web/dist when present)")
	f.BoolVar(&c.AllowRemote, "allow-remote", e.getenv("FLOTILLA_ALLOW_REMOTE") == "1", "allow listening on a non-loopback address")
	f.StringSliceVar(&c.AllowedHosts, "allowed-hosts", splitList(e.getenv("FLOTILLA_ALLOWED_HOSTS")), "more Host names to answer to (comma separated; loopback names and --addr's host always work)")
	f.DurationVar(&c.ReadTimeout, "read-timeout", envDuration(e, "FLOTILLA_READ_TIMEOUT", 30*time.Second), "longest time to read one request, body included")
	f.Int64Var(&c.MaxLogBytes, "max-log-bytes", int64(envInt(e, "FLOTILLA_MAX_LOG_BYTES", int(embedded.DefaultMaxLogBytes))), "largest log one run may write; later output is dropped after a marker line")
	f.DurationVar(&c.StuckAfter, "stuck-after", envDuration(e, "FLOTILLA_STUCK_AFTER", time.Minute), "how long a started run may go without news of its task before the sweep asks the engine")
	f.DurationVar(&c.SweepInterval, "sweep-interval", envDuration(e, "FLOTILLA_SWEEP_INTERVAL", 5*time.Second), "how often timeouts and waiting runs are checked")
	f.DurationVar(&c.QueueTimeout, "queue-timeout", envDuration(e, "FLOTILLA_QUEUE_TIMEOUT", flotilla.DefaultQueueTimeout), "fail runs that waited longer than this")
	f.StringVar(&c.Engine, "engine", envOr(e, "FLOTILLA_ENGINE", "auto"), "auto, docker or process")
	f.StringVar(&c.Owner, "owner", envOr(e, "FLOTILLA_OWNER", localUser()), "the user local runs belong to")
	f.StringVar(&c.LogFormat, "log-format", envOr(e, "FLOTILLA_LOG_FORMAT", "text"), "text or json")
	return cmd
}

func envOr(e *env, key, def string) string {
	if v := e.getenv(key); v != "" {
		return v
	}
	return def
}

// splitList reads a comma-separated list, dropping empty entries.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func envInt(e *env, key string, def int) int {
	if n, err := strconv.Atoi(e.getenv(key)); err == nil {
		return n
	}
	return def
}

func envDuration(e *env, key string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(e.getenv(key)); err == nil {
		return d
	}
	return def
}

func localUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "local"
}

// checkLoopback refuses to listen beyond this machine unless asked: local
// mode has no sign-in.
func checkLoopback(addr string, allow bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", addr, err)
	}
	if allow {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--addr %s is not a loopback address; local mode has no sign-in, so it listens only on this machine unless you pass --allow-remote", addr)
	}
	return nil
}

func serve(ctx context.Context, e *env, c serveConfig) error {
	if err := checkLoopback(c.Addr, c.AllowRemote); err != nil {
		return err
	}
	if c.MaxRunning < 1 {
		return fmt.Errorf("--max-running must be at least 1, not %d", c.MaxRunning)
	}
	log := newLogger(e, c.LogFormat)
	if hybridMode(e) {
		return serveHybrid(ctx, e, c, log) // aws.go: the AWS adapters instead of the embedded ones
	}
	ctx, cancel := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer cancel()

	db, err := embedded.OpenDB(ctx, c.DataDir)
	if err != nil {
		return err
	}
	defer db.Close()
	clusters := map[string]flotilla.Cluster{"default": {Name: "default", MaxRunning: c.MaxRunning,
		MaxRunningPerOwner: c.MaxRunningPerOwner, QueueTimeout: c.QueueTimeout, LaunchType: flotilla.EngineLocal}}
	names := []string{"default"}
	docker := c.Engine == "docker" || (c.Engine == "auto" && embedded.DockerAvailable(ctx))
	// Listening first: the address goes into the links runs publish.
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	defer ln.Close()
	store := embedded.NewStore(db)
	// A run's end is told to its notify targets in the background, by this
	// server: webhooks (signing keys from FLOTILLA_SECRET_<NAME>, see
	// localSigningKey); e-mail is a deployment's (SES).
	notifier := &notify.Async{D: &notify.Deliverer{Store: store, Log: log, SigningKey: localSigningKey(e.getenv), UIURL: "http://" + ln.Addr().String(),
		NoMail: "a local server sends no e-mail (a deployment sends it through SES)"}}
	svc := &runs.Service{
		Store:          runs.Publishing(store, notifier, "http://"+ln.Addr().String(), log),
		Queue:          embedded.NewQueue(db, names, 0),
		Logs:           embedded.NewLogReader(c.DataDir),
		Clusters:       clusters,
		DefaultCluster: "default",
		Log:            log,
		StuckAfter:     c.StuckAfter,
	}
	executor := embedded.NewExecutor(c.DataDir, docker, func(ev flotilla.TaskEvent) {
		// Events are applied even while shutting down: a run's end is never dropped.
		if err := svc.Reconcile(context.WithoutCancel(ctx), ev); err != nil {
			log.Error("reconcile failed", "run_id", ev.RunID, "err", err)
		}
	}, log)
	executor.MaxLogBytes = c.MaxLogBytes
	svc.Executor = executor

	// Runs left active by an earlier life of this server: finish, lose or restart them.
	if err := svc.Sweep(ctx, true); err != nil {
		log.Warn("recovery sweep", "err", err)
	}
	loops, stopLoops := context.WithCancel(ctx)
	defer stopLoops()
	for _, name := range names {
		go svc.Consume(loops, name)
	}
	go svc.Loop(loops, c.SweepInterval)
	scheduleSvc, scheduler := newLocalSchedules(db, svc, c.clock, log)
	go scheduler.Run(loops)

	handler := api.NewServer(api.Deps{
		Runs: svc, Store: svc.Store, Logs: svc.Logs, Log: log,
		Owner: func(*http.Request) (string, error) { return c.Owner, nil },
		// One local user, who may change everything.
		IsAdmin: func(*http.Request) bool { return true },
		UI:      uiHandler(c.UIDir),
		// The in-process scheduler fires /v1/schedules' schedules.
		Schedules: scheduleSvc,
	})
	if addr := e.getenv("FLOTILLA_PPROF_ADDR"); addr != "" {
		// Profiling for whoever runs the server, on a separate loopback port.
		if err := checkLoopback(addr, false); err != nil {
			return fmt.Errorf("FLOTILLA_PPROF_ADDR: %w", err)
		}
		go http.ListenAndServe(addr, http.DefaultServeMux)
	}
	srv := newHTTPServer(c, handler)
	fmt.Fprintf(e.stderr, "flotilla: listening on http://%s (engine: %s, data: %s)\n", ln.Addr(), engineName(docker), c.DataDir)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdownCtx, done := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer done()
	srv.Shutdown(shutdownCtx)
	stopLoops()
	executor.Close()
	notifier.Close(shutdownCtx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// newHTTPServer serves handler as a local server: only to its own Host
// names and never to other origins' pages (api.LocalGuard), with every
// request read within ReadTimeout.
func newHTTPServer(c serveConfig, handler http.Handler) *http.Server {
	readTimeout := c.ReadTimeout
	if readTimeout <= 0 {
		readTimeout = 30 * time.Second
	}
	return &http.Server{
		Handler:           api.LocalGuard(handler, api.LocalHosts(c.Addr, c.AllowedHosts)),
		ReadHeaderTimeout: min(10*time.Second, readTimeout),
		ReadTimeout:       readTimeout,
		IdleTimeout:       2 * time.Minute,
	}
}

func engineName(docker bool) string {
	if docker {
		return "docker"
	}
	return "host processes"
}

func newLogger(e *env, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(e.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(e.stderr, opts))
}

// uiHandler serves the built web app with a fallback to index.html, so
// every page's URL survives a reload.
func uiHandler(dir string) http.Handler {
	if dir == "" {
		if _, err := os.Stat(filepath.Join("web", "dist", "index.html")); err == nil {
			dir = filepath.Join("web", "dist")
		}
	}
	if dir == "" {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/config.json" {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"api_base_url":"","auth":null}`))
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintln(w, "The web UI is not built. Run `make run` (it builds web/dist), or use the API under /v1 and the flotilla CLI.")
		})
	}
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/config.json" {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.Write([]byte(`{"api_base_url":"","auth":null}`))
			return
		}
		path := filepath.Join(dir, filepath.FromSlash(filepath.Clean("/"+r.URL.Path)))
		if st, err := os.Stat(path); err != nil || st.IsDir() && r.URL.Path != "/" {
			http.ServeFile(w, r, filepath.Join(dir, "index.html"))
			return
		}
		files.ServeHTTP(w, r)
	})
}

// newLocalSchedules wires the schedules use case on the embedded store, with
// the in-process scheduler as its trigger; start the scheduler with Run.
func newLocalSchedules(db *embedded.DB, svc *runs.Service, clock schedules.Clock, log *slog.Logger) (*schedules.Service, *schedules.Scheduler) {
	system := clock == nil
	if system {
		clock = schedules.SystemClock()
	}
	s := &schedules.Service{Store: embedded.NewScheduleStore(db), Runs: svc, NowFunc: clock.Now, Log: log}
	scheduler := schedules.NewScheduler(s, clock, log)
	if system {
		scheduler.MaxSleep = time.Minute
	}
	s.Trigger = scheduler
	return s, scheduler
}

// localSigningKey resolves a notify target's secret reference as the local
// executor resolves a definition's secrets: from the server's environment,
// FLOTILLA_SECRET_<NAME>, NAME being the parameter's or secret's last path
// segment in upper case with other characters as _ (ssm:/flotilla/prod/hook-key
// → FLOTILLA_SECRET_HOOK_KEY).
func localSigningKey(getenv func(string) string) func(context.Context, string) ([]byte, error) {
	return func(_ context.Context, ref string) ([]byte, error) {
		_, name, ok := flotilla.SecretSource(ref)
		if !ok {
			return nil, fmt.Errorf("%q is not a secret reference", ref)
		}
		name = name[strings.LastIndexAny(name, "/:")+1:]
		env := embedded.SecretEnvPrefix + strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' {
				return r - 'a' + 'A'
			}
			if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
				return r
			}
			return '_'
		}, name)
		v := getenv(env)
		if v == "" {
			return nil, fmt.Errorf("set %s in the server's environment", env)
		}
		return []byte(v), nil
	}
}
