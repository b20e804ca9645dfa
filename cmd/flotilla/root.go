package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/flotilla-run/flotilla/internal/client"
	"github.com/spf13/cobra"
)

// env is the process environment a command sees (injected for tests).
type env struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
	json           bool
	// signals, when set, replaces os/signal for tests of Ctrl-C.
	signals chan os.Signal
}

func (e *env) url() string {
	if u := e.getenv("FLOTILLA_URL"); u != "" {
		return u
	}
	return "http://127.0.0.1:8080"
}

func (e *env) client() *client.Client {
	token := e.getenv("FLOTILLA_TOKEN")
	if token == "" {
		token = loadToken(e)
	}
	return client.New(e.url(), token)
}

// configDir is where the CLI keeps its sign-in token.
func (e *env) configDir() string {
	if d := e.getenv("FLOTILLA_CONFIG_DIR"); d != "" {
		return d
	}
	if d := e.getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "flotilla")
	}
	if h := e.getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "flotilla")
	}
	return ".flotilla-cli"
}

func loadToken(e *env) string {
	b, err := os.ReadFile(filepath.Join(e.configDir(), "token"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "flotilla",
		Short: "Define containerized jobs once, run them on a cluster, watch their logs, find every run again.",
		Long: `Flotilla runs your jobs: define one (image, command, cpu, memory, env), launch it,
watch its logs live, and find every run again in the history.

The CLI talks to the server at $FLOTILLA_URL (default http://127.0.0.1:8080).
Start one on this machine with: flotilla serve`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().BoolVar(&e.json, "json", false, "print JSON instead of tables")
	root.AddCommand(serveCmd(e), definitionsCmd(e), runCmd(e), runsCmd(e), logsCmd(e), clustersCmd(e), costsCmd(e))
	root.AddCommand(schedulesCmd(e))
	root.AddCommand(loginCmd(e), doctorCmd(e))
	root.AddCommand(migrateCmd(e))
	return root
}

func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (e *env) table(header string, rows [][]string) {
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, header)
	for _, r := range rows {
		fmt.Fprintln(w, strings.Join(r, "\t"))
	}
	w.Flush()
}
