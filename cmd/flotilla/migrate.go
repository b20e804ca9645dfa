package main

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/spf13/cobra"

	"github.com/flotilla-run/flotilla/internal/awsclient"
	"github.com/flotilla-run/flotilla/internal/awsdynamodb"
	"github.com/flotilla-run/flotilla/internal/awswire"
)

// migrateCmd is `flotilla migrate`: the one-time copy of a table of the
// earlier DynamoDB layout into the new-layout table the stack created
// (internal/awsdynamodb/doc.go, Migration; docs/deploy.md, Upgrade).
func migrateCmd(e *env) *cobra.Command {
	var from, to string
	var o awsdynamodb.MigrateOptions
	cmd := &cobra.Command{
		Use:   "migrate --from OLD_TABLE --to NEW_TABLE",
		Short: "copy a DynamoDB table of the earlier layout into the new-layout table (once, while the functions are paused)",
		Long: `migrate copies every run, definition, schedule and idempotency key of a table of
Flotilla's earlier DynamoDB layout (runs under pk RUN) into the new-layout table the stack
created, and rebuilds each cluster's slot and queue counters from the runs. Run it while
the deployment is paused (docs/deploy.md, "Upgrade from the earlier table layout").

It is safe to run again, or after it stopped half-way: it copies what is missing and
changes nothing else. Once it has finished, it refuses to run again unless --again is
given, because it would overwrite the counters of a table in use.

It uses your AWS credentials (AWS_PROFILE, AWS_REGION, …) and needs dynamodb:DescribeTable
and dynamodb:Scan on the old table, dynamodb:DescribeTable, Scan, GetItem and PutItem on the
new one. FLOTILLA_DYNAMODB_ENDPOINT points it at an emulator.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			endpoint := e.getenv(awswire.EnvDynamoDBEndpoint)
			cfg, err := awsclient.Load(ctx, awsclient.Options{StaticCredentials: e.getenv(awswire.EnvStaticCredentials) == "1"})
			if err != nil {
				return fmt.Errorf("migrate: load AWS config: %w", err)
			}
			db := dynamodb.NewFromConfig(cfg, func(d *dynamodb.Options) {
				d.BaseEndpoint = awswire.Endpoint(endpoint)
				d.DisableValidateResponseChecksum = endpoint != "" // emulators send no CRC32
			})
			if endpoint != "" && !cmd.Flags().Changed("segments") {
				// minidyn v0.8.2 ignores Segment and TotalSegments (its
				// Scan, server/client.go): every segment would read every
				// item. DynamoDB splits the table (API Reference, Scan).
				o.Segments = 1
			}
			o.Log = slog.New(slog.NewTextHandler(e.stderr, nil))
			rep, err := awsdynamodb.Migrate(ctx, db, from, to, o)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(rep)
			}
			printMigrateReport(e, rep)
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the table of the earlier layout (kept as it is)")
	cmd.Flags().StringVar(&to, "to", "", "the new-layout table the stack created (the TableName output)")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "read the old table and report what would be copied; write nothing")
	cmd.Flags().BoolVar(&o.Again, "again", false, "run over a finished migration (only while the functions are still paused)")
	cmd.Flags().IntVar(&o.Segments, "segments", 4, "parallel Scan segments of the old table (1 with FLOTILLA_DYNAMODB_ENDPOINT)")
	cmd.Flags().IntVar(&o.Writers, "writers", 16, "items written at once")
	return cmd
}

func printMigrateReport(e *env, r awsdynamodb.MigrateReport) {
	verb := "copied"
	if r.DryRun {
		verb = "dry run, nothing written"
	}
	fmt.Fprintf(e.stdout, "%s → %s (%s)\n", r.From, r.To, verb)
	statuses := make([]string, 0, len(r.ByStatus))
	for st, n := range r.ByStatus {
		statuses = append(statuses, fmt.Sprintf("%s %d", st, n))
	}
	sort.Strings(statuses)
	rows := [][]string{
		{"items read", fmt.Sprint(r.Scanned)},
		{"runs", fmt.Sprintf("%d (%s)", r.Runs, strings.Join(statuses, ", "))},
		{"life-story events", fmt.Sprint(r.Events)},
		{"definitions", fmt.Sprintf("%d, %d aliases, %d revisions", r.Definitions, r.Aliases, r.Revisions)},
		{"schedules", fmt.Sprint(r.Schedules)},
		{"idempotency keys", fmt.Sprint(r.IdempotencyKeys)},
		{"old counter items", fmt.Sprintf("%d (rebuilt from the runs)", r.OldCounters)},
		{"other items", fmt.Sprint(r.Other)},
	}
	if !r.DryRun {
		rows = append(rows, []string{"written", fmt.Sprint(r.Written)}, []string{"already there", fmt.Sprint(r.Unchanged)})
	}
	e.table("WHAT\tCOUNT", rows)
	fmt.Fprintln(e.stdout)
	var crows [][]string
	for _, c := range r.Counters {
		crows = append(crows, []string{c.Cluster, fmt.Sprint(c.Used), ownerCounts(c.Held), ownerCounts(c.Queued)})
	}
	e.table("CLUSTER\tSLOTS USED\tBY OWNER\tQUEUED BY OWNER", crows)
}

func ownerCounts(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(m))
	for o, n := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", o, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}
