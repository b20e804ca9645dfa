package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/flotilla-run/flotilla/internal/api"
	"github.com/flotilla-run/flotilla/internal/awsclient"
	"github.com/flotilla-run/flotilla/internal/awsevents"
	"github.com/flotilla-run/flotilla/internal/awslogs"
	"github.com/flotilla-run/flotilla/internal/awswire"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/runs"
)

// Hybrid mode: `flotilla serve` on the AWS adapters (DynamoDB, SQS FIFO,
// ECS, CloudWatch Logs), wired by awswire from the same FLOTILLA_*
// variables the Lambdas read. It is on when FLOTILLA_TABLE_NAME or
// FLOTILLA_DYNAMODB_ENDPOINT is set. The process plays the parts the
// Lambdas play in AWS: it serves the API, consumes each cluster's queue (the
// dispatcher), runs the sweep every --sweep-interval, and takes EventBridge
// ECS task state changes at POST /internal/eventbridge (the events
// function), from this machine only. GET /internal/aws-requests reports the
// AWS requests made so far, by service and operation. Schedules are not
// served in this mode.

// hybridMode reports whether serve should wire the AWS adapters.
func hybridMode(e *env) bool {
	return e.getenv(awswire.EnvTableName) != "" || e.getenv(awswire.EnvDynamoDBEndpoint) != ""
}

// maxEventBytes bounds one EventBridge event (EventBridge's own limit is 256 KB).
const maxEventBytes = 256 << 10

func serveHybrid(ctx context.Context, e *env, c serveConfig, log *slog.Logger) error {
	cfg, err := awswire.FromEnv(e.getenv)
	if err != nil {
		return fmt.Errorf("hybrid mode: %w", err)
	}
	ctx, cancel := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer cancel()
	counter := awsclient.NewCounter()
	w, err := awswire.Build(ctx, cfg, awswire.Options{Counter: counter, Logger: log})
	if err != nil {
		return fmt.Errorf("hybrid mode: %w", err)
	}
	svc := w.Service
	svc.StuckAfter = c.StuckAfter
	svc.Logs = awslogs.FromConfig(w.AWS, cfg.LogsEndpoint, awslogs.Config{LogGroup: cfg.LogGroup})
	for name, cl := range svc.Clusters {
		cl.QueueTimeout = c.QueueTimeout
		svc.Clusters[name] = cl
	}

	loops, stopLoops := context.WithCancel(ctx)
	defer stopLoops()
	for _, name := range w.ClusterNames() {
		go svc.Consume(loops, name)
	}
	go svc.Loop(loops, c.SweepInterval)

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", api.NewServer(api.Deps{
		Runs: svc, Store: svc.Store, Logs: svc.Logs, Log: log,
		Owner: func(*http.Request) (string, error) { return c.Owner, nil },
		UI:    uiHandler(c.UIDir),
	}))
	mux.Handle("POST /internal/eventbridge", loopbackOnly(eventBridgeHandler(svc, w.Decoder, log)))
	mux.Handle("GET /internal/aws-requests", loopbackOnly(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		json.NewEncoder(rw).Encode(counter.Snapshot())
	})))
	srv := newHTTPServer(c, mux)
	fmt.Fprintf(e.stderr, "flotilla: listening on http://%s (hybrid: table %s, clusters %v)\n", ln.Addr(), cfg.TableName, w.ClusterNames())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdownCtx, done := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer done()
	srv.Shutdown(shutdownCtx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// eventBridgeHandler is the events function's path: one EventBridge event
// per request, decoded and reconciled. A 5xx asks the sender to retry, as
// EventBridge does; events that are not Flotilla's are acknowledged.
func eventBridgeHandler(svc *runs.Service, dec awsevents.Decoder, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventBytes))
		if err != nil {
			http.Error(w, "reading the event: "+err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		ev, err := dec.Decode(body)
		switch {
		case errors.Is(err, awsevents.ErrIgnored):
			w.WriteHeader(http.StatusNoContent)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := svc.Reconcile(r.Context(), ev); err != nil {
			log.Warn("reconcile failed; the event will be retried", "run_id", ev.RunID, "cluster", ev.Cluster, "err", err)
			status := http.StatusInternalServerError
			if errors.Is(err, flotilla.ErrInvalid) {
				status = http.StatusBadRequest
			}
			http.Error(w, err.Error(), status)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// loopbackOnly refuses requests from other machines: the internal routes
// stand in for AWS's own callers and have no sign-in.
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			http.Error(w, "internal routes answer this machine only", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
