package flotilla

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on definitions and launch overrides. They keep a run's container
// overrides well inside ECS's 8,192-character limit and items small.
const (
	MaxCommandBytes  = 4096
	MaxImageBytes    = 255
	MaxEnvVars       = 100
	MaxEnvValueBytes = 4096
	MaxSecrets       = 50
	// MaxSecretRefBytes fits a Secrets Manager ARN with a JSON key and
	// version suffix, or an SSM parameter ARN.
	MaxSecretRefBytes = 2048
	MaxTags           = 20
	MinCPU            = 128
	MaxCPU            = 16384
	MinMemory         = 128
	MaxMemory         = 122880
	MaxGPU            = 8
	MaxTimeoutSeconds = 7 * 24 * 3600
	MaxAttemptsLimit  = 10
	// MaxEnvBytes and MaxSecretsBytes bound the names and values of a
	// definition's (or a run's effective) env and secrets together. With
	// the other fields' limits a definition stays near 100 KiB at most, so
	// a run item (the snapshot plus its attempts) fits DynamoDB's 400 KB
	// item limit, names and values included:
	// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-items
	MaxEnvBytes     = 64 << 10
	MaxSecretsBytes = 32 << 10
	// DefaultMaxAttempts is how many attempts a run gets when infrastructure
	// fails under it (a task that could not start, a Spot interruption).
	DefaultMaxAttempts = 3
)

var (
	aliasPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	groupPattern = aliasPattern
	envPattern   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
	tagPattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9:._/=+@-]{0,63}$`)
)

// RetryPolicy bounds the attempts a run gets when infrastructure fails under
// it. A job's own non-zero exit is never retried automatically.
type RetryPolicy struct {
	MaxAttempts int `json:"max_attempts"`
}

// Definition is a job defined once and launched many times. Every change
// makes a new revision; old revisions stay readable.
type Definition struct {
	ID    string `json:"definition_id"`
	Alias string `json:"alias"`
	// Owner is who created it (the caller's stable identity); with the
	// admins, the only one who may change or delete it. "" for definitions
	// made before owners were recorded: only admins may change those.
	Owner string `json:"owner"`
	// OwnerName is the owner's display name (their verified e-mail in AWS), when known.
	OwnerName string `json:"owner_name,omitempty"`
	Group     string `json:"group_name"`
	Image     string `json:"image"`
	Command   string `json:"command"`
	CPU       int    `json:"cpu"`
	Memory    int    `json:"memory"`
	GPU       int    `json:"gpu"`
	// Architecture is the CPU architecture the job's image is built for:
	// ArchX86 (the default) or ArchARM. On ECS the task runs on it (and is
	// priced at its rates); locally it is recorded and not enforced.
	Architecture string            `json:"architecture"`
	Env          map[string]string `json:"env"`
	// Secrets maps an environment variable name to a reference
	// ("ssm:<parameter name or ARN>" or "secretsmanager:<ARN or name>"),
	// never to a value: ECS injects the value when the task starts, and the
	// local executor reads it from the server's FLOTILLA_SECRET_<NAME>.
	Secrets map[string]string `json:"secrets"`
	// TaskRoleARN is the IAM role the job's code runs as on ECS (its AWS
	// rights), instead of the deployment's shared task role; "" keeps the
	// shared one. Locally it is recorded and not used (the job runs with the
	// server's own credentials).
	TaskRoleARN string `json:"task_role_arn,omitempty"`
	// OnOutOfMemory, when set, retries an attempt that ran out of memory
	// with more memory instead of failing the run (while attempts remain).
	OnOutOfMemory *OOMPolicy `json:"on_out_of_memory,omitempty"`
	// Notify are told when a run of it ends (webhooks, e-mail addresses).
	Notify         []NotifyTarget `json:"notify,omitempty"`
	Tags           []string       `json:"tags"`
	TimeoutSeconds int            `json:"timeout_seconds"`
	Retry          RetryPolicy    `json:"retry"`
	Revision       int            `json:"revision"`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      time.Time      `json:"updated_at"`

	// ParametersSchema, when set, is the JSON Schema (draft 2020-12) of the
	// parameters a launch passes, and makes Command a template that uses
	// them (see package params). Without it the command is plain text.
	ParametersSchema json.RawMessage `json:"parameters_schema,omitempty"`
}

// DefinitionPatch is a partial update: nil fields keep their value.
type DefinitionPatch struct {
	Alias          *string            `json:"alias,omitempty"`
	Group          *string            `json:"group_name,omitempty"`
	Image          *string            `json:"image,omitempty"`
	Command        *string            `json:"command,omitempty"`
	CPU            *int               `json:"cpu,omitempty"`
	Memory         *int               `json:"memory,omitempty"`
	GPU            *int               `json:"gpu,omitempty"`
	Architecture   *string            `json:"architecture,omitempty"`
	Env            *map[string]string `json:"env,omitempty"`
	Secrets        *map[string]string `json:"secrets,omitempty"`
	TaskRoleARN    *string            `json:"task_role_arn,omitempty"`
	OnOutOfMemory  *OOMPolicy         `json:"on_out_of_memory,omitempty"` // {} clears it
	Notify         *[]NotifyTarget    `json:"notify,omitempty"`           // [] clears them
	Tags           *[]string          `json:"tags,omitempty"`
	TimeoutSeconds *int               `json:"timeout_seconds,omitempty"`
	Retry          *RetryPolicy       `json:"retry,omitempty"`

	// ParametersSchema replaces the schema; JSON null removes it.
	ParametersSchema json.RawMessage `json:"parameters_schema,omitempty"`
}

// Apply returns d with the patch applied (revision untouched).
func (p DefinitionPatch) Apply(d Definition) Definition {
	patch(&d.Alias, p.Alias)
	patch(&d.Group, p.Group)
	patch(&d.Image, p.Image)
	patch(&d.Command, p.Command)
	patch(&d.CPU, p.CPU)
	patch(&d.Memory, p.Memory)
	patch(&d.GPU, p.GPU)
	patch(&d.Architecture, p.Architecture)
	patch(&d.TimeoutSeconds, p.TimeoutSeconds)
	patch(&d.Env, p.Env)
	patch(&d.Secrets, p.Secrets)
	patch(&d.TaskRoleARN, p.TaskRoleARN)
	patch(&d.Notify, p.Notify)
	if len(d.Notify) == 0 {
		d.Notify = nil
	}
	if p.OnOutOfMemory != nil {
		d.OnOutOfMemory = p.OnOutOfMemory
		if p.OnOutOfMemory.RetryWithMemoryFactor == 0 {
			d.OnOutOfMemory = nil // {} turns it off
		}
	}
	patch(&d.Tags, p.Tags)
	patch(&d.Retry, p.Retry)
	if p.ParametersSchema != nil {
		d.ParametersSchema = p.ParametersSchema // null: Normalize removes it
	}
	return d
}

// patch sets *dst to *src when the patch gives a value (src non-nil).
func patch[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// Normalize fills defaults: empty maps and lists instead of nil, the default
// retry policy, sorted unique tags.
func (d *Definition) Normalize() {
	if d.OnOutOfMemory != nil && d.OnOutOfMemory.RetryWithMemoryFactor == 0 {
		d.OnOutOfMemory = nil // {} is no policy
	}
	if d.Env == nil {
		d.Env = map[string]string{}
	}
	if d.Secrets == nil {
		d.Secrets = map[string]string{}
	}
	d.Tags = normalizeTags(d.Tags)
	if d.Architecture == "" {
		d.Architecture = ArchX86
	}
	if d.Retry.MaxAttempts == 0 {
		d.Retry.MaxAttempts = DefaultMaxAttempts
	}
	d.Image = strings.TrimSpace(d.Image)
	d.ParametersSchema = compactJSON(d.ParametersSchema)
}

func normalizeTags(tags []string) []string {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		out = append(out, strings.TrimSpace(t))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Validate checks every field and names each one that is wrong.
func (d Definition) Validate() error {
	v := &ValidationError{}
	switch {
	case d.Alias == "":
		v.Add("alias", "is required")
	case strings.HasPrefix(d.Alias, "def_") || strings.HasPrefix(d.Alias, "run_"):
		v.Add("alias", "must not start with def_ or run_ (those prefixes are ids)")
	case !aliasPattern.MatchString(d.Alias):
		v.Add("alias", "must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	if d.Group != "" && !groupPattern.MatchString(d.Group) {
		v.Add("group_name", "must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	validateImage(v, "image", d.Image)
	validateCommand(v, "command", d.Command, true)
	validateCPU(v, "cpu", d.CPU)
	validateMemory(v, "memory", d.Memory)
	if d.GPU < 0 || d.GPU > MaxGPU {
		v.Add("gpu", "must be between 0 and %d", MaxGPU)
	}
	validateArchitecture(v, "architecture", d.Architecture)
	validateEnv(v, "env", d.Env)
	validateSecrets(v, "secrets", d.Secrets, d.Env)
	if p := d.OnOutOfMemory; p != nil && (p.RetryWithMemoryFactor <= 1 || p.RetryWithMemoryFactor > MaxMemoryFactor) {
		v.Add("on_out_of_memory.retry_with_memory_factor", "must be more than 1 and at most %d", MaxMemoryFactor)
	} else if p != nil && d.Retry.MaxAttempts < 2 {
		v.Add("on_out_of_memory", "needs retry.max_attempts of at least 2: the retry with more memory is the next attempt")
	}
	if len(d.ParametersSchema) > MaxParametersSchemaBytes {
		v.Add("parameters_schema", "must be at most %d bytes of JSON", MaxParametersSchemaBytes)
	}
	validateNotify(v, "notify", d.Notify)
	if d.TaskRoleARN != "" && !roleARNPattern.MatchString(d.TaskRoleARN) {
		v.Add("task_role_arn", "must be an IAM role ARN, arn:aws:iam::<12-digit account>:role/<name>")
	}
	validateTags(v, "tags", d.Tags)
	validateTimeout(v, "timeout_seconds", d.TimeoutSeconds)
	if d.Retry.MaxAttempts < 1 || d.Retry.MaxAttempts > MaxAttemptsLimit {
		v.Add("retry.max_attempts", "must be between 1 and %d", MaxAttemptsLimit)
	}
	return v.Err()
}

// The CPU architectures a job can run on (ECS's runtimePlatform
// cpuArchitecture values: X86_64, ARM64).
const (
	ArchX86 = "x86_64"
	ArchARM = "arm64"
)

// UnmarshalJSON reads a stored definition; one stored before definitions
// had an architecture ran on x86_64, the only one there was.
func (d *Definition) UnmarshalJSON(b []byte) error {
	type plain Definition
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if p.Architecture == "" {
		p.Architecture = ArchX86
	}
	*d = Definition(p)
	return nil
}

func validateArchitecture(v *ValidationError, field, arch string) {
	switch arch {
	case "", ArchX86, ArchARM:
	default:
		v.Add(field, "must be x86_64 or arm64, not %q", arch)
	}
}

func validateImage(v *ValidationError, field, image string) {
	switch {
	case image == "":
		v.Add(field, "is required")
	case len(image) > MaxImageBytes:
		v.Add(field, "must be at most %d bytes", MaxImageBytes)
	case !utf8.ValidString(image) || strings.ContainsFunc(image, unicode.IsControl):
		v.Add(field, "must be UTF-8 text without NUL or control characters")
	case strings.ContainsFunc(image, unicode.IsSpace):
		v.Add(field, "must not contain whitespace")
	}
}

func validateCommand(v *ValidationError, field, cmd string, required bool) {
	switch {
	case required && strings.TrimSpace(cmd) == "":
		v.Add(field, "is required")
	case len(cmd) > MaxCommandBytes:
		v.Add(field, "must be at most %d bytes", MaxCommandBytes)
	case !utf8.ValidString(cmd) || strings.ContainsRune(cmd, 0):
		v.Add(field, "must be valid UTF-8 text without NUL bytes")
	}
}

func validateCPU(v *ValidationError, field string, cpu int) {
	if cpu < MinCPU || cpu > MaxCPU {
		v.Add(field, "must be between %d and %d (ECS units, 1024 = 1 vCPU)", MinCPU, MaxCPU)
	}
}

func validateMemory(v *ValidationError, field string, mem int) {
	if mem < MinMemory || mem > MaxMemory {
		v.Add(field, "must be between %d and %d MiB", MinMemory, MaxMemory)
	}
}

func validateEnv(v *ValidationError, field string, env map[string]string) {
	if len(env) > MaxEnvVars {
		v.Add(field, "must have at most %d variables", MaxEnvVars)
		return
	}
	if n := mapBytes(env); n > MaxEnvBytes {
		v.Add(field, "names and values total %d bytes; at most %d are allowed", n, MaxEnvBytes)
		return
	}
	for k, val := range env {
		f := field + "." + k
		switch {
		case !envPattern.MatchString(k):
			v.Add(f, "name must start with a letter or _ and hold only letters, digits and _ (at most 128)")
		case strings.HasPrefix(k, "FLOTILLA_"):
			v.Add(f, "names starting with FLOTILLA_ are reserved")
		case len(val) > MaxEnvValueBytes:
			v.Add(f, "value must be at most %d bytes", MaxEnvValueBytes)
		case !utf8.ValidString(val) || strings.ContainsRune(val, 0):
			v.Add(f, "value must be valid UTF-8 text without NUL bytes")
		}
	}
}

func mapBytes(m map[string]string) int {
	n := 0
	for k, v := range m {
		n += len(k) + len(v)
	}
	return n
}

// Secret reference prefixes: where ECS reads a secret's value from.
const (
	SecretRefSSM            = "ssm:"
	SecretRefSecretsManager = "secretsmanager:"
)

// SecretSource splits a secret reference into its prefix ("ssm:" or
// "secretsmanager:") and the parameter or secret it names; ok is false for
// any other form.
func SecretSource(ref string) (prefix, name string, ok bool) {
	for _, p := range []string{SecretRefSSM, SecretRefSecretsManager} {
		if n, found := strings.CutPrefix(ref, p); found && n != "" {
			return p, n, true
		}
	}
	return "", "", false
}

func validateSecrets(v *ValidationError, field string, secrets, env map[string]string) {
	if len(secrets) > MaxSecrets {
		v.Add(field, "must have at most %d secrets", MaxSecrets)
		return
	}
	if n := mapBytes(secrets); n > MaxSecretsBytes {
		v.Add(field, "names and references total %d bytes; at most %d are allowed", n, MaxSecretsBytes)
		return
	}
	for k, ref := range secrets {
		f := field + "." + k
		_, name, ok := SecretSource(ref)
		_, inEnv := env[k]
		switch {
		case !envPattern.MatchString(k):
			v.Add(f, "name must start with a letter or _ and hold only letters, digits and _ (at most 128)")
		case strings.HasPrefix(k, "FLOTILLA_"):
			v.Add(f, "names starting with FLOTILLA_ are reserved")
		case inEnv:
			v.Add(f, "is also set in env; a variable is either a secret or a plain value")
		case len(ref) > MaxSecretRefBytes:
			v.Add(f, "reference must be at most %d bytes", MaxSecretRefBytes)
		case !ok || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) || !utf8.ValidString(name):
			v.Add(f, "reference must be ssm:<parameter name or ARN> or secretsmanager:<ARN or name>")
		}
	}
}

func validateTags(v *ValidationError, field string, tags []string) {
	if len(tags) > MaxTags {
		v.Add(field, "must have at most %d tags", MaxTags)
		return
	}
	for _, t := range tags {
		if !tagPattern.MatchString(t) {
			v.Add(field, "tag %q must be 1-64 letters, digits or :._/=+@- starting with a letter or digit", t)
		}
	}
}

func validateTimeout(v *ValidationError, field string, s int) {
	if s < 0 || s > MaxTimeoutSeconds {
		v.Add(field, "must be between 0 (no timeout) and %d", MaxTimeoutSeconds)
	}
}

// fargateSizes are the task sizes Fargate offers (reference/fargate-sizes.md,
// from the ECS Developer Guide's "Task CPU and memory"): for each cpu, the
// memory from lo to hi in steps of step MiB (cpu 256: 512, 1024, 2048).
var fargateSizes = []struct{ cpu, lo, hi, step int }{
	{256, 512, 2048, 512}, // 512, 1024, 2048: not 1536
	{512, 1024, 4096, 1024},
	{1024, 2048, 8192, 1024},
	{2048, 4096, 16384, 1024},
	{4096, 8192, 30720, 1024},
	{8192, 16384, 61440, 4096},
	{16384, 32768, 122880, 8192},
}

// fargateMemoryOK reports whether memory is one Fargate offers with the row.
func fargateMemoryOK(row struct{ cpu, lo, hi, step int }, memory int) bool {
	if row.cpu == 256 {
		return memory == 512 || memory == 1024 || memory == 2048
	}
	return memory >= row.lo && memory <= row.hi && (memory-row.lo)%row.step == 0
}

// GrownMemory is the memory of a run's next attempt after it ran out of
// memory: memory × factor, rounded up to a size Fargate offers for the cpu
// and capped at the largest (a cpu that is not a Fargate size, on EC2, is
// held to the row of the largest Fargate cpu below it). It returns memory
// itself when no larger size exists.
func GrownMemory(cpu, memory int, factor float64) int {
	row := fargateSizes[0]
	for _, r := range fargateSizes {
		if r.cpu <= cpu {
			row = r
		}
	}
	want := int(float64(memory)*factor + 0.5)
	for m := max(row.lo, want); m <= row.hi; m++ {
		if m > memory && fargateMemoryOK(row, m) {
			return m
		}
	}
	if row.hi > memory {
		return row.hi
	}
	return memory
}

// ValidateFargateSize checks cpu and memory against the task sizes Fargate
// offers (reference/fargate-sizes.md) and names the allowed memory values.
func ValidateFargateSize(cpu, memory int) error {
	var lo, hi, step int
	switch cpu {
	case 256:
		if memory == 512 || memory == 1024 || memory == 2048 {
			return nil
		}
		return Invalid("memory", "on Fargate, cpu 256 allows memory 512, 1024 or 2048 MiB, not %d", memory)
	case 512, 1024, 2048, 4096, 8192, 16384:
		for _, r := range fargateSizes {
			if r.cpu == cpu {
				lo, hi, step = r.lo, r.hi, r.step
			}
		}
	default:
		return Invalid("cpu", "on Fargate, cpu must be one of 256, 512, 1024, 2048, 4096, 8192 or 16384, not %d", cpu)
	}
	if memory < lo || memory > hi || (memory-lo)%step != 0 {
		return Invalid("memory", "on Fargate, cpu %d allows memory %d to %d MiB in steps of %d, not %d", cpu, lo, hi, step, memory)
	}
	return nil
}

// OOMPolicy says what to do when an attempt runs out of memory.
type OOMPolicy struct {
	// RetryWithMemoryFactor multiplies the memory of the next attempt
	// (rounded up to a size Fargate offers for the cpu, at most the
	// largest); 0 or absent: out of memory fails the run.
	RetryWithMemoryFactor float64 `json:"retry_with_memory_factor"`
}

// MaxMemoryFactor bounds OOMPolicy.RetryWithMemoryFactor.
const MaxMemoryFactor = 8

// roleARNPattern is an IAM role ARN (IAM User Guide, "IAM identifiers":
// arn:<partition>:iam::<account>:role/<path/><name>; names are 1-64 of
// [\w+=,.@-], paths of the same and /).
var roleARNPattern = regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$`)
