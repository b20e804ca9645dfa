package main

import (
	"cmp"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/spf13/cobra"
)

func sortStrings(s []string) { sort.Strings(s) }

func runCmd(e *env) *cobra.Command {
	var cluster, command, key, parent, arrayItems string
	var cpu, memory, timeout, arraySize int
	var envs, tags, notifyTo, paramFlags, after, afterEach []string
	var follow, dryRun bool
	cmd := &cobra.Command{
		Use:   "run DEFINITION",
		Short: "Launch a run of a definition (by alias or id)",
		Long: `Launch a run of a definition. It prints the run id; with --follow it streams the
logs live and exits with the job's own exit code, or, when the job did not run to
its end, with one of these reserved codes (and the reason on stderr):

  ` + exitCodeTable() + `

--array N launches an array: a parent run and N children, each told its index
(FLOTILLA_ARRAY_INDEX); --array-items FILE gives each child an item instead
(FLOTILLA_ARRAY_ITEM, merged into params). It prints the parent's id; with
--follow it waits for the children and exits 0 when all succeeded, 1 when some
failed. --after RUN makes the run wait (WAITING) until RUN has succeeded.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := map[string]any{"definition": args[0]}
			fl := cmd.Flags()
			if cluster != "" {
				body["cluster"] = cluster
			}
			if fl.Changed("command") {
				body["command"] = command
			}
			if fl.Changed("cpu") {
				body["cpu"] = cpu
			}
			if fl.Changed("memory") {
				body["memory"] = memory
			}
			if fl.Changed("timeout") {
				body["timeout_seconds"] = timeout
			}
			if len(tags) > 0 {
				body["tags"] = tags
			}
			if key != "" {
				body["idempotency_key"] = key
			}
			if len(envs) > 0 {
				env, err := parseEnv(envs)
				if err != nil {
					return err
				}
				body["env"] = env
			}
			if parent != "" {
				body["parent"] = parent
			}
			if fl.Changed("array") && arrayItems != "" {
				return fmt.Errorf("--array and --array-items: give one (the items say how many children)")
			}
			if fl.Changed("array") {
				if arraySize < 1 || arraySize > flotilla.MaxArraySize {
					return fmt.Errorf("--array %d: want 1 to %d children", arraySize, flotilla.MaxArraySize)
				}
				body["array"] = map[string]int{"size": arraySize}
			}
			if arrayItems != "" {
				items, err := readArrayItems(e, arrayItems)
				if err != nil {
					return err
				}
				body["array"] = map[string]any{"items": items}
			}
			isArray := body["array"] != nil
			if len(afterEach) > 0 && !isArray {
				return fmt.Errorf("--after-each pairs an array's children with another array's: use it with --array or --array-items")
			}
			if len(after) > 0 {
				body["after"] = after
			}
			if len(afterEach) > 0 {
				body["after_each"] = afterEach
			}
			if len(notifyTo) > 0 {
				targets, err := parseNotify(notifyTo)
				if err != nil {
					return err
				}
				body["notify"] = targets
			}
			c := e.client()
			p, err := parseParams(cmd.Context(), c, args[0], paramFlags)
			if err != nil {
				return err
			}
			if p != nil {
				body["params"] = p
			}
			if dryRun {
				if follow {
					return fmt.Errorf("--dry-run launches nothing to follow")
				}
				body["dry_run"] = true
			}
			r, err := c.Launch(cmd.Context(), body)
			if err != nil {
				return &exitError{code: ExitAPIError, msg: err.Error()}
			}
			if dryRun {
				if e.json {
					return e.printJSON(r)
				}
				e.table("FIELD\tVALUE", [][]string{{"definition", fmt.Sprintf("%s (revision %d)", r.Alias, r.Revision)}, {"cluster", r.Cluster},
					{"command", r.Command}, {"params", paramsString(r.Params)}, {"image", r.Image}, {"cpu", strconv.Itoa(r.CPU)},
					{"memory", strconv.Itoa(r.Memory) + " MiB"}, {"env", envString(r.Env)}, {"estimated cost", usd(r.EstimatedCostUSD)}})
				fmt.Fprintln(e.stderr, "\ndry run: nothing was launched")
				return nil
			}
			if e.json && !follow {
				return e.printJSON(r)
			}
			fmt.Fprintln(e.stdout, r.ID)
			if !follow {
				if isArray {
					fmt.Fprintf(e.stderr, "\n%s\n", whatNextArray(r.ID))
				} else {
					fmt.Fprintf(e.stderr, "\n%s\n", whatNext(r.ID))
				}
				return nil
			}
			if isArray {
				return followArray(cmd.Context(), e, r.ID)
			}
			return followRun(cmd.Context(), e, r.ID)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cluster, "cluster", "", "cluster to run on (default: the server's default)")
	fl.StringArrayVar(&envs, "env", nil, "environment variable NAME=VALUE, over the definition's (repeatable)")
	fl.StringVar(&command, "command", "", "run this command instead of the definition's")
	fl.IntVar(&cpu, "cpu", 0, "CPU units instead of the definition's")
	fl.IntVar(&memory, "memory", 0, "memory in MiB instead of the definition's")
	fl.IntVar(&timeout, "timeout", 0, "fail after this many seconds")
	fl.StringArrayVar(&tags, "tag", nil, "add a tag (repeatable)")
	fl.StringVar(&key, "idempotency-key", "", "launching again with the same key returns the same run")
	// Inside a Flotilla job FLOTILLA_RUN_ID names the job's own run: the
	// runs it launches are its children unless --parent says otherwise.
	fl.StringVar(&parent, "parent", e.getenv("FLOTILLA_RUN_ID"), "the run this one is launched from: stopping it stops this one (default: $FLOTILLA_RUN_ID, set inside a Flotilla job; \"\" for none)")
	fl.BoolVarP(&follow, "follow", "f", false, "stream the logs and exit with the job's exit code")
	fl.StringArrayVar(&paramFlags, "param", nil, "a template parameter NAME=VALUE, typed by the definition's parameters_schema (repeatable)")
	fl.BoolVar(&dryRun, "dry-run", false, "show the run as it would be launched (params checked, command rendered) without launching it")
	fl.StringArrayVar(&notifyTo, "notify", nil, notifyHelp+", besides the definition's")
	fl.IntVar(&arraySize, "array", 0, fmt.Sprintf("launch an array of N children (1 to %d), each with its FLOTILLA_ARRAY_INDEX", flotilla.MaxArraySize))
	fl.StringVar(&arrayItems, "array-items", "", "launch an array with one child per item of FILE: a JSON array of objects, or one JSON object a line (- for stdin)")
	fl.StringArrayVar(&after, "after", nil, "wait until this run has succeeded (repeatable; WAITING until then, STOPPED if it fails)")
	fl.StringArrayVar(&afterEach, "after-each", nil, "with an array: child i waits for this array's child i (repeatable)")
	return cmd
}

func whatNextArray(id string) string {
	return fmt.Sprintf(`What next:
  flotilla runs get %[1]s             its children by status, failed indexes
  flotilla runs list --parent %[1]s   its children
  flotilla runs retry-failed %[1]s    once it has ended, run the failed ones again
  flotilla runs stop %[1]s            stop it and every child not ended`, id)
}

func whatNext(id string) string {
	return fmt.Sprintf(`What next:
  flotilla logs %[1]s -f      follow its output
  flotilla runs get %[1]s     its status (and place in line while it waits)
  flotilla runs stop %[1]s    stop it`, id)
}

func runsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "runs", Aliases: []string{"run-history"}, Short: "List, show, stop runs and read their life stories"}
	cmd.AddCommand(runsListCmd(e), runsGetCmd(e), runsStopCmd(e), runsEventsCmd(e), runsRetryFailedCmd(e))
	return cmd
}

func runsListCmd(e *env) *cobra.Command {
	var statuses []string
	var def, cluster, owner, tag, since, until, parent, after string
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List runs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			for _, s := range statuses {
				q.Add("status", s)
			}
			for k, v := range map[string]string{"definition": def, "cluster": cluster, "owner": owner, "tag": tag, "since": since, "until": until, "parent": parent, "after": after} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if limit > 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			page, err := e.client().ListRuns(cmd.Context(), q)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(page)
			}
			var rows [][]string
			for _, r := range page.Items {
				what := r.Alias
				if r.ArrayIndex != nil {
					what = fmt.Sprintf("%s[%d]", r.Alias, *r.ArrayIndex)
				}
				rows = append(rows, []string{r.ID, what, r.Cluster, string(r.Status), r.Owner, ago(r.QueuedAt), duration(r), exitCode(r), r.StatusReason})
			}
			e.table("RUN\tDEFINITION\tCLUSTER\tSTATUS\tOWNER\tQUEUED\tDURATION\tEXIT\tREASON", rows)
			if page.NextToken != "" {
				fmt.Fprintln(e.stderr, "(more: use --limit, or filter)")
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&statuses, "status", nil, statusList()+" (repeatable)")
	fl.StringVar(&def, "definition", "", "runs of this definition (alias or id)")
	fl.StringVar(&cluster, "cluster", "", "runs on this cluster")
	fl.StringVar(&owner, "owner", "", "runs of this owner")
	fl.StringVar(&tag, "tag", "", "runs with this tag")
	fl.StringVar(&parent, "parent", "", "runs launched from this run (its children; an array's in index order, highest first)")
	fl.StringVar(&after, "after", "", "runs waiting (or that waited) for this run")
	fl.StringVar(&since, "since", "", "queued at or after (RFC 3339, or a duration ago like 2h)")
	fl.StringVar(&until, "until", "", "queued before (RFC 3339, or a duration ago)")
	fl.IntVar(&limit, "limit", 0, "at most this many (default 50, max 500)")
	return cmd
}

func runsGetCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "get RUN_ID",
		Short: "Show a run",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := e.client()
			r, err := c.GetRun(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(r)
			}
			rows := [][]string{
				{"run", r.ID}, {"definition", fmt.Sprintf("%s (revision %d)", r.Alias, r.Revision)}, {"cluster", r.Cluster},
				{"status", string(r.Status)}, {"reason", r.StatusReason},
			}
			switch r.Status {
			case flotilla.StatusQueued:
				rows = append(rows, []string{"place in line", strconv.Itoa(r.QueuePosition)}, []string{"waiting because", waitText(r.WaitReason)})
			case flotilla.StatusWaiting:
				rows = append(rows, []string{"waiting because", waitText(r.WaitReason)})
			}
			if r.ReasonCode != "" {
				rows = append(rows, []string{"reason code", string(r.ReasonCode)})
			}
			rows = append(rows, pipelineRows(cmd.Context(), c, r)...)
			rows = append(rows,
				[]string{"owner", r.Owner}, []string{"parent", cmp.Or(r.Parent, "—")}, []string{"exit code", exitCode(r)}, []string{"queued", r.QueuedAt.Format(time.RFC3339)},
				[]string{"started", timeOrDash(r.StartedAt)}, []string{"finished", timeOrDash(r.FinishedAt)}, []string{"duration", duration(r)},
				[]string{"attempt", fmt.Sprintf("%d of %d", r.Attempt, r.MaxAttempts)}, []string{"engine", r.Engine},
				[]string{"image", r.Image}, []string{"command", r.Command}, []string{"params", paramsString(r.Params)}, []string{"cpu", strconv.Itoa(r.CPU)},
				[]string{"memory", strconv.Itoa(r.Memory) + " MiB"}, []string{"env", envString(r.Env)},
				[]string{"secrets", envString(r.Secrets)}, []string{"tags", strings.Join(r.Tags, ", ")},
				[]string{"estimated cost", usd(r.EstimatedCostUSD)}, []string{"cost", usd(r.CostUSD)})
			e.table("FIELD\tVALUE", rows)
			return nil
		},
	}
}

func runsStopCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "stop RUN_ID",
		Short: "Stop a run (a queued run stops at once; a started one when its task ends)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := e.client().StopRun(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(r)
			}
			fmt.Fprintf(e.stdout, "%s %s: %s\n", r.ID, r.Status, r.StatusReason)
			return nil
		},
	}
}

func runsEventsCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "events RUN_ID",
		Short: "A run's life story: every change, when, by whom and why",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out struct {
				Items []flotilla.RunEvent `json:"items"`
			}
			if _, err := e.client().Do(cmd.Context(), "GET", "/v1/runs/"+url.PathEscape(args[0])+"/events", nil, nil, &out); err != nil {
				return err
			}
			if e.json {
				return e.printJSON(out)
			}
			var rows [][]string
			for _, ev := range out.Items {
				from := string(ev.From)
				if from == "" {
					from = "-"
				}
				rows = append(rows, []string{ev.Time.Format(time.RFC3339Nano), string(ev.Source), from + " → " + string(ev.To), strconv.Itoa(ev.Attempt), ev.Reason})
			}
			e.table("TIME\tSOURCE\tSTATUS\tATTEMPT\tREASON", rows)
			return nil
		},
	}
}

func clustersCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "clusters",
		Short: "List clusters with their queued and running runs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				Items []flotilla.ClusterStats `json:"items"`
			}
			if _, err := e.client().Do(cmd.Context(), "GET", "/v1/clusters", nil, nil, &out); err != nil {
				return err
			}
			if e.json {
				return e.printJSON(out)
			}
			var rows [][]string
			for _, c := range out.Items {
				rows = append(rows, []string{c.Name, strconv.Itoa(c.Queued), strconv.Itoa(c.Running), strconv.Itoa(c.MaxRunning), cmp.Or(c.SpotFallback, "—")})
			}
			e.table("CLUSTER\tQUEUED\tRUNNING\tMAX\tSPOT FALLBACK", rows)
			return nil
		},
	}
}

func costsCmd(e *env) *cobra.Command {
	var groupBy, since, until string
	cmd := &cobra.Command{
		Use:   "costs",
		Short: "What finished runs cost, summed by owner, definition or cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{"group_by": {groupBy}}
			if since != "" {
				q.Set("since", since)
			}
			if until != "" {
				q.Set("until", until)
			}
			var out struct {
				GroupBy string `json:"group_by"`
				Items   []struct {
					Key     string  `json:"key"`
					CostUSD float64 `json:"cost_usd"`
					Runs    int     `json:"runs"`
				} `json:"items"`
				TotalUSD float64 `json:"total_usd"`
			}
			if _, err := e.client().Do(cmd.Context(), "GET", "/v1/costs", q, nil, &out); err != nil {
				return err
			}
			if e.json {
				return e.printJSON(out)
			}
			var rows [][]string
			for _, it := range out.Items {
				rows = append(rows, []string{it.Key, strconv.Itoa(it.Runs), fmt.Sprintf("$%.4f", it.CostUSD)})
			}
			rows = append(rows, []string{"total", "", fmt.Sprintf("$%.4f", out.TotalUSD)})
			e.table(strings.ToUpper(out.GroupBy)+"\tRUNS\tCOST", rows)
			return nil
		},
	}
	cmd.Flags().StringVar(&groupBy, "by", "owner", "owner, definition or cluster")
	cmd.Flags().StringVar(&since, "since", "", "runs queued at or after (RFC 3339 or a duration ago like 24h)")
	cmd.Flags().StringVar(&until, "until", "", "runs queued before")
	return cmd
}

func ago(t time.Time) string {
	d := time.Since(t).Round(time.Second)
	return d.String() + " ago"
}

func duration(r flotilla.Run) string {
	if r.StartedAt == nil {
		return "-"
	}
	end := time.Now()
	if r.FinishedAt != nil {
		end = *r.FinishedAt
	}
	return end.Sub(*r.StartedAt).Round(time.Millisecond).String()
}

func exitCode(r flotilla.Run) string {
	if r.ExitCode == nil {
		return "-"
	}
	return strconv.Itoa(*r.ExitCode)
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func usd(v *float64) string {
	if v == nil {
		return "unknown"
	}
	return fmt.Sprintf("$%.6f", *v)
}

func waitText(w flotilla.WaitReason) string {
	switch w {
	case flotilla.WaitNoFreeSlot:
		return "no free slot on the cluster"
	case flotilla.WaitEngineCapacity:
		return "the engine has no capacity right now"
	case flotilla.WaitAccountQuota:
		return "the account's quota is used up"
	case flotilla.WaitOwnerTurn:
		return "another owner's turn"
	case flotilla.WaitLaunchThrottle:
		return "launches are throttled"
	case flotilla.WaitDependencies:
		return "the runs it was launched after have not all succeeded"
	case flotilla.WaitChildren:
		return "its children are being made and run"
	case "":
		return "about to be dispatched"
	}
	return string(w)
}

// statusList names every status for help texts: "WAITING, QUEUED, … or STOPPED".
func statusList() string {
	names := make([]string, len(flotilla.AllStatuses))
	for i, st := range flotilla.AllStatuses {
		names[i] = string(st)
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
