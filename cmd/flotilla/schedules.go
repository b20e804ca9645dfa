package main

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/spf13/cobra"
)

func schedulesCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "schedules", Aliases: []string{"schedule", "sched"},
		Short: "Launch definitions on a cron or rate schedule: create, list, show, change, pause, resume, delete"}
	cmd.AddCommand(schedCreateCmd(e), schedListCmd(e), schedGetCmd(e), schedUpdateCmd(e), schedDeleteCmd(e),
		schedEnableCmd(e, "pause", false), schedEnableCmd(e, "resume", true))
	return cmd
}

// schedFlags are the flags shared by create and update.
type schedFlags struct {
	name, definition, cluster, expression, timezone, catchUp string
	env, params                                              []string
}

func (f *schedFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.name, "name", "", "a name for people")
	fl.StringVar(&f.definition, "definition", "", "the definition to launch (alias or id)")
	fl.StringVar(&f.cluster, "cluster", "", "the cluster to run on (default: the default cluster)")
	fl.StringVar(&f.expression, "expression", "", "when: cron(min hour day-of-month month day-of-week year) or rate(N unit), EventBridge syntax")
	fl.StringVar(&f.timezone, "timezone", "", "IANA time zone cron() times are read in (default UTC)")
	fl.StringVar(&f.catchUp, "catch-up", "", "after downtime: none (skip missed times; default) or latest (one run for the most recent)")
	fl.StringArrayVar(&f.env, "env", nil, "environment variable NAME=VALUE for the runs (repeatable)")
	fl.StringArrayVar(&f.params, "param", nil, "a template parameter NAME=VALUE for the runs, typed by the definition's parameters_schema (repeatable)")
}

// body holds the flags given, by their API field names.
func (f *schedFlags) body(cmd *cobra.Command) (map[string]any, error) {
	body := map[string]any{}
	set := func(flag, field, v string) {
		if cmd.Flags().Changed(flag) {
			body[field] = v
		}
	}
	set("name", "name", f.name)
	set("definition", "definition", f.definition)
	set("cluster", "cluster", f.cluster)
	set("expression", "expression", f.expression)
	set("timezone", "timezone", f.timezone)
	set("catch-up", "catch_up", f.catchUp)
	if cmd.Flags().Changed("env") {
		env, err := parseEnv(f.env)
		if err != nil {
			return nil, err
		}
		body["env"] = env
	}
	return body, nil
}

// withParams adds --param values to body, typed by the schema of the
// definition the schedule will launch (the one in body, else defRef).
func (f *schedFlags) withParams(cmd *cobra.Command, e *env, body map[string]any, defRef string) error {
	if !cmd.Flags().Changed("param") {
		return nil
	}
	if d, ok := body["definition"].(string); ok {
		defRef = d
	}
	p, err := parseParams(cmd.Context(), e.client(), defRef, f.params)
	if err != nil {
		return err
	}
	body["params"] = p
	return nil
}

func schedCreateCmd(e *env) *cobra.Command {
	var f schedFlags
	var paused bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a schedule",
		Example: "  flotilla schedules create --name nightly-etl --definition etl --expression 'cron(0 3 * * ? *)' --timezone Europe/Paris\n" +
			"  flotilla schedules create --name poll --definition poller --expression 'rate(15 minutes)' --catch-up latest",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := f.body(cmd)
			if err != nil {
				return err
			}
			if paused {
				body["enabled"] = false
			}
			if err := f.withParams(cmd, e, body, ""); err != nil {
				return err
			}
			var s flotilla.Schedule
			if _, err := e.client().Do(cmd.Context(), "POST", "/v1/schedules", nil, body, &s); err != nil {
				return err
			}
			return e.showSchedule(s)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&paused, "paused", false, "create it paused")
	return cmd
}

func schedUpdateCmd(e *env) *cobra.Command {
	var f schedFlags
	cmd := &cobra.Command{
		Use:   "update SCHEDULE_ID",
		Short: "Change a schedule; only the flags given change",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := f.body(cmd)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("param") {
				var cur flotilla.Schedule
				if _, err := e.client().Do(cmd.Context(), "GET", "/v1/schedules/"+url.PathEscape(args[0]), nil, nil, &cur); err != nil {
					return err
				}
				if err := f.withParams(cmd, e, body, cur.Definition); err != nil {
					return err
				}
			}
			if len(body) == 0 {
				return fmt.Errorf("nothing to change: give at least one of --name, --definition, --cluster, --expression, --timezone, --catch-up, --env, --param")
			}
			return e.patchSchedule(cmd, args[0], body)
		},
	}
	f.register(cmd)
	return cmd
}

func schedEnableCmd(e *env, verb string, enabled bool) *cobra.Command {
	short := "Pause a schedule: it makes no runs until resumed"
	if enabled {
		short = "Resume a paused schedule (the times it missed while paused are not caught up)"
	}
	return &cobra.Command{
		Use:   verb + " SCHEDULE_ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.patchSchedule(cmd, args[0], map[string]any{"enabled": enabled})
		},
	}
}

func (e *env) patchSchedule(cmd *cobra.Command, id string, body map[string]any) error {
	var s flotilla.Schedule
	if _, err := e.client().Do(cmd.Context(), "PATCH", "/v1/schedules/"+url.PathEscape(id), nil, body, &s); err != nil {
		return err
	}
	return e.showSchedule(s)
}

func schedGetCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "get SCHEDULE_ID",
		Short: "Show a schedule and its next fire times",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var s flotilla.Schedule
			if _, err := e.client().Do(cmd.Context(), "GET", "/v1/schedules/"+url.PathEscape(args[0]), nil, nil, &s); err != nil {
				return err
			}
			return e.showSchedule(s)
		},
	}
}

func schedDeleteCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "delete SCHEDULE_ID",
		Short: "Delete a schedule (the runs it made stay in the history)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := e.client().Do(cmd.Context(), "DELETE", "/v1/schedules/"+url.PathEscape(args[0]), nil, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "deleted %s\n", args[0])
			return nil
		},
	}
}

func schedListCmd(e *env) *cobra.Command {
	var def, owner string
	var enabled, paused bool
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List schedules",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"definition": def, "owner": owner} {
				if v != "" {
					q.Set(k, v)
				}
			}
			switch {
			case enabled && paused:
				return fmt.Errorf("--enabled and --paused exclude each other")
			case enabled:
				q.Set("enabled", "true")
			case paused:
				q.Set("enabled", "false")
			}
			if limit > 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			var page flotilla.Page[flotilla.Schedule]
			if _, err := e.client().Do(cmd.Context(), "GET", "/v1/schedules", q, nil, &page); err != nil {
				return err
			}
			if e.json {
				return e.printJSON(page)
			}
			var rows [][]string
			for _, s := range page.Items {
				next := "paused"
				if s.Enabled {
					next = "never"
					if len(s.NextFireTimes) > 0 {
						next = s.NextFireTimes[0].Format(time.RFC3339)
					}
				}
				rows = append(rows, []string{s.ID, s.Name, s.Definition, s.Cluster, s.Expression, s.Timezone, next, s.Owner})
			}
			e.table("SCHEDULE\tNAME\tDEFINITION\tCLUSTER\tEXPRESSION\tTIMEZONE\tNEXT\tOWNER", rows)
			if page.NextToken != "" {
				fmt.Fprintln(e.stderr, "(more: use --limit, or filter)")
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&def, "definition", "", "schedules of this definition (alias or id)")
	fl.StringVar(&owner, "owner", "", "schedules created by this owner")
	fl.BoolVar(&enabled, "enabled", false, "only enabled schedules")
	fl.BoolVar(&paused, "paused", false, "only paused schedules")
	fl.IntVar(&limit, "limit", 0, "at most this many (default 50, max 500)")
	return cmd
}

func (e *env) showSchedule(s flotilla.Schedule) error {
	if e.json {
		return e.printJSON(s)
	}
	state := "enabled"
	if !s.Enabled {
		state = "paused"
	}
	last := "never"
	if s.LastFireTime != nil {
		last = s.LastFireTime.Format(time.RFC3339)
	}
	next := make([]string, len(s.NextFireTimes))
	for i, t := range s.NextFireTimes {
		next[i] = t.Format(time.RFC3339)
	}
	rows := [][]string{
		{"id", s.ID}, {"name", s.Name}, {"definition", s.Definition}, {"cluster", s.Cluster},
		{"expression", s.Expression}, {"timezone", s.Timezone}, {"state", state}, {"catch up", string(s.CatchUp)},
		{"env", envString(s.Env)}, {"params", paramsString(s.Params)}, {"owner", s.Owner}, {"last fired", last}, {"next fires", strings.Join(next, ", ")},
	}
	e.table("FIELD\tVALUE", rows)
	return nil
}
