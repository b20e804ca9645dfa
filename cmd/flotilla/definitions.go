package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/spf13/cobra"
)

func definitionsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "definitions", Aliases: []string{"definition", "defs", "def"}, Short: "Create, list, show, change and delete job definitions"}
	cmd.AddCommand(defCreateCmd(e), defListCmd(e), defGetCmd(e), defUpdateCmd(e), defDeleteCmd(e))
	return cmd
}

// defFlags are the flags shared by create and update.
type defFlags struct {
	file, alias, group, image, command, arch, taskRole string
	cpu, memory, gpu, timeout, retries                 int
	oomFactor                                          float64
	env, secrets, tags, notify                         []string
}

func (f *defFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "file", "f", "", "read the definition from a JSON file (- for stdin); flags override it")
	fl.StringVar(&f.alias, "alias", "", "a unique human name, e.g. nightly-etl")
	fl.StringVar(&f.group, "group", "", "a group name to file it under")
	fl.StringVar(&f.image, "image", "", "container image, e.g. python:3.12")
	fl.StringVar(&f.command, "command", "", "the command, run with sh -c")
	fl.IntVar(&f.cpu, "cpu", 0, "CPU units (1024 = 1 vCPU)")
	fl.IntVar(&f.memory, "memory", 0, "memory in MiB")
	fl.IntVar(&f.gpu, "gpu", 0, "GPUs")
	fl.StringVar(&f.arch, "architecture", "", "the CPU architecture the image is built for: x86_64 (default) or arm64; on ECS the task runs on it (locally it is recorded only)")
	fl.StringVar(&f.taskRole, "task-role-arn", "", "the IAM role the job runs as on ECS instead of the shared task role (deployed: a role of the deployment's account named with its job role prefix, flotilla-job-<stage>-; locally not used); \"\" on update goes back to the shared role")
	fl.Float64Var(&f.oomFactor, "retry-oom-memory-factor", 0, "retry an attempt that ran out of memory with this many times the memory (rounded up to a Fargate size for the cpu; on ECS only); 0 on update turns it off")
	fl.IntVar(&f.timeout, "timeout", 0, "fail a run after this many seconds (0: none)")
	fl.IntVar(&f.retries, "max-attempts", 0, "attempts when the infrastructure fails under a run")
	fl.StringArrayVar(&f.env, "env", nil, "environment variable NAME=VALUE (repeatable)")
	fl.StringArrayVar(&f.secrets, "secret", nil, "secret environment variable NAME=ssm:<parameter> or NAME=secretsmanager:<ARN> (repeatable); only the reference is stored, and locally the value comes from the server's FLOTILLA_SECRET_<NAME>")
	fl.StringArrayVar(&f.tags, "tag", nil, "a tag (repeatable)")
	fl.StringArrayVar(&f.notify, "notify", nil, notifyHelp+`; on update, --notify "" removes them all`)
}

// body builds the JSON body: the file's fields, then each flag given.
func (f *defFlags) body(e *env, cmd *cobra.Command) (map[string]any, error) {
	body := map[string]any{}
	if f.file != "" {
		var data []byte
		var err error
		if f.file == "-" {
			data, err = io.ReadAll(e.stdin)
		} else {
			data, err = os.ReadFile(f.file)
		}
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(data, &body); err != nil {
			return nil, fmt.Errorf("%s is not a JSON object: %w", f.file, err)
		}
	}
	set := func(flag, field string, v any) {
		if cmd.Flags().Changed(flag) {
			body[field] = v
		}
	}
	set("alias", "alias", f.alias)
	set("group", "group_name", f.group)
	set("image", "image", f.image)
	set("command", "command", f.command)
	set("cpu", "cpu", f.cpu)
	set("memory", "memory", f.memory)
	set("gpu", "gpu", f.gpu)
	set("architecture", "architecture", f.arch)
	set("task-role-arn", "task_role_arn", f.taskRole)
	if cmd.Flags().Changed("retry-oom-memory-factor") {
		body["on_out_of_memory"] = map[string]any{}
		if f.oomFactor != 0 {
			body["on_out_of_memory"] = map[string]any{"retry_with_memory_factor": f.oomFactor}
		}
	}
	set("timeout", "timeout_seconds", f.timeout)
	set("max-attempts", "retry", map[string]int{"max_attempts": f.retries})
	set("tag", "tags", f.tags)
	if cmd.Flags().Changed("env") {
		env, err := parseEnv(f.env)
		if err != nil {
			return nil, err
		}
		body["env"] = env
	}
	if cmd.Flags().Changed("notify") {
		vals := f.notify
		if len(vals) == 1 && vals[0] == "" {
			vals = nil
		}
		targets, err := parseNotify(vals)
		if err != nil {
			return nil, err
		}
		body["notify"] = targets
	}
	if cmd.Flags().Changed("secret") {
		secrets := map[string]string{}
		for _, kv := range f.secrets {
			k, ref, ok := strings.Cut(kv, "=")
			if !ok || k == "" || ref == "" {
				return nil, fmt.Errorf("--secret %q: want NAME=ssm:<parameter> or NAME=secretsmanager:<ARN>", kv)
			}
			secrets[k] = ref
		}
		body["secrets"] = secrets
	}
	return body, nil
}

// notifyHelp describes --notify.
const notifyHelp = "tell this target when a run ends: an https:// webhook URL (add ,secret=ssm:<parameter> to sign it with that key) or an e-mail address (repeatable)"

// parseNotify reads --notify values: "<url>[,secret=<ref>]" or an address.
func parseNotify(vals []string) ([]map[string]string, error) {
	out := []map[string]string{}
	for _, v := range vals {
		target, opt, _ := strings.Cut(v, ",")
		m := map[string]string{}
		switch {
		case strings.Contains(target, "://"):
			m["webhook"] = target
		case strings.Contains(target, "@"):
			m["email"] = target
		default:
			return nil, fmt.Errorf("--notify %q: want a webhook URL or an e-mail address", v)
		}
		if opt != "" {
			ref, ok := strings.CutPrefix(opt, "secret=")
			if !ok || ref == "" {
				return nil, fmt.Errorf("--notify %q: after the comma, want secret=<ssm:… or secretsmanager:…>", v)
			}
			m["secret"] = ref
		}
		out = append(out, m)
	}
	return out, nil
}

func parseEnv(kvs []string) (map[string]string, error) {
	env := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--env %q: want NAME=VALUE", kv)
		}
		env[k] = v
	}
	return env, nil
}

func defCreateCmd(e *env) *cobra.Command {
	var f defFlags
	cmd := &cobra.Command{
		Use:     "create",
		Short:   "Create a definition",
		Example: "  flotilla definitions create --alias hello --image alpine:3 --command 'echo hi' --cpu 256 --memory 128 --env K=V --tag t",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := f.body(e, cmd)
			if err != nil {
				return err
			}
			var d flotilla.Definition
			if _, err := e.client().Do(cmd.Context(), "POST", "/v1/definitions", nil, body, &d); err != nil {
				return err
			}
			return e.showDefinition(d)
		},
	}
	f.register(cmd)
	return cmd
}

func defUpdateCmd(e *env) *cobra.Command {
	var f defFlags
	cmd := &cobra.Command{
		Use:   "update REF",
		Short: "Change a definition (a new revision); only the flags given change",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := f.body(e, cmd)
			if err != nil {
				return err
			}
			var d flotilla.Definition
			if _, err := e.client().Do(cmd.Context(), "PATCH", "/v1/definitions/"+url.PathEscape(args[0]), nil, body, &d); err != nil {
				return err
			}
			return e.showDefinition(d)
		},
	}
	f.register(cmd)
	return cmd
}

func defGetCmd(e *env) *cobra.Command {
	var revision int
	cmd := &cobra.Command{
		Use:   "get REF",
		Short: "Show a definition (by id or alias)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "/v1/definitions/" + url.PathEscape(args[0])
			if revision > 0 {
				path += "/revisions/" + strconv.Itoa(revision)
			}
			var d flotilla.Definition
			if _, err := e.client().Do(cmd.Context(), "GET", path, nil, nil, &d); err != nil {
				return err
			}
			return e.showDefinition(d)
		},
	}
	cmd.Flags().IntVar(&revision, "revision", 0, "show this revision")
	return cmd
}

func defDeleteCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "delete REF",
		Short: "Delete a definition (its runs stay in the history)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := e.client().Do(cmd.Context(), "DELETE", "/v1/definitions/"+url.PathEscape(args[0]), nil, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "deleted %s\n", args[0])
			return nil
		},
	}
}

func defListCmd(e *env) *cobra.Command {
	var alias, group, tag, image string
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List definitions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"alias": alias, "group": group, "tag": tag, "image": image} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if limit > 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			var page flotilla.Page[flotilla.Definition]
			if _, err := e.client().Do(cmd.Context(), "GET", "/v1/definitions", q, nil, &page); err != nil {
				return err
			}
			if e.json {
				return e.printJSON(page)
			}
			var rows [][]string
			for _, d := range page.Items {
				rows = append(rows, []string{d.Alias, d.Group, d.Image, strconv.Itoa(d.CPU), strconv.Itoa(d.Memory), strconv.Itoa(d.Revision), d.ID})
			}
			e.table("ALIAS\tGROUP\tIMAGE\tCPU\tMEMORY\tREV\tID", rows)
			return nil
		},
	}
	cmd.Flags().StringVar(&alias, "alias", "", "alias contains")
	cmd.Flags().StringVar(&group, "group", "", "group is")
	cmd.Flags().StringVar(&tag, "tag", "", "has tag")
	cmd.Flags().StringVar(&image, "image", "", "image contains")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many")
	return cmd
}

func (e *env) showDefinition(d flotilla.Definition) error {
	if e.json {
		return e.printJSON(d)
	}
	rows := [][]string{
		{"id", d.ID}, {"alias", d.Alias}, {"group", d.Group}, {"revision", strconv.Itoa(d.Revision)},
		{"image", d.Image}, {"command", d.Command}, {"cpu", strconv.Itoa(d.CPU)}, {"memory", strconv.Itoa(d.Memory) + " MiB"},
		{"architecture", d.Architecture}, {"task role", cmp.Or(d.TaskRoleARN, "(the deployment's shared task role)")},
		{"env", envString(d.Env)}, {"secrets", envString(d.Secrets)}, {"tags", strings.Join(d.Tags, ", ")}, {"timeout", seconds(d.TimeoutSeconds)},
		{"max attempts", strconv.Itoa(d.Retry.MaxAttempts)},
	}
	if p := d.OnOutOfMemory; p != nil {
		rows = append(rows, []string{"out of memory", fmt.Sprintf("retry with %g× the memory", p.RetryWithMemoryFactor)})
	}
	if d.GPU > 0 {
		rows = append(rows, []string{"gpu", strconv.Itoa(d.GPU)})
	}
	e.table("FIELD\tVALUE", rows)
	return nil
}

func envString(env map[string]string) string {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sortStrings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + env[k]
	}
	return strings.Join(parts, " ")
}

func seconds(n int) string {
	if n == 0 {
		return "none"
	}
	return strconv.Itoa(n) + "s"
}
