package awsecs_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/flotilla-run/flotilla/internal/awsecs"
	"github.com/flotilla-run/flotilla/internal/awsfake"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// A reference is judged by the name IAM sees in the resource ARN, whatever
// form of it the definition uses.
func TestSecretName(t *testing.T) {
	cases := []struct{ ref, name string }{
		{"ssm:flotilla/prod/db", "flotilla/prod/db"},
		{"ssm:/flotilla/prod/db", "flotilla/prod/db"},
		{"ssm:arn:aws:ssm:us-east-1:123456789012:parameter/flotilla/prod/db", "flotilla/prod/db"},
		{"secretsmanager:flotilla/prod/api-key", "flotilla/prod/api-key"},
		{"secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:flotilla/prod/api-key-AbCdEf", "flotilla/prod/api-key-AbCdEf"},
		{"secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:flotilla/prod/creds-AbCdEf:password::", "flotilla/prod/creds-AbCdEf"},
		{"secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:payroll-AbCdEf:flotilla/prod/x::", "payroll-AbCdEf"},
	}
	for _, c := range cases {
		_, got, ok := awsecs.SecretName(c.ref)
		if !ok || got != c.name {
			t.Errorf("SecretName(%q) = %q, %v; want %q", c.ref, got, ok, c.name)
		}
	}
	for _, bad := range []string{"vault:x", "ssm:arn:aws:ssm:us-east-1:1:document/x", "secretsmanager:arn:aws:s3:::bucket"} {
		if _, name, ok := awsecs.SecretName(bad); ok {
			t.Errorf("SecretName(%q) = %q, want not ok", bad, name)
		}
	}
}

// Outside the stage's prefix a secret is refused at launch, naming the
// variable, before anything is sent to ECS; inside it the run goes on.
func TestSecretsOutsideTheStageRefusedAtLaunch(t *testing.T) {
	t.Parallel()
	b := setup(t, awsfake.ECSOptions{})
	cfg := testConfig
	cfg.SecretsPrefix = "flotilla/prod/"
	exec, err := awsecs.New(b.client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := newRun(t)
	r.Secrets = map[string]string{"DB": "ssm:/flotilla/prod/db", "KEY": "secretsmanager:flotilla/prod/key"}
	if err := exec.CheckLaunch(ctx, r); err != nil {
		t.Fatalf("secrets within flotilla/prod/ refused: %v", err)
	}
	for ref, field := range map[string]string{
		"ssm:/flotilla/dev/db":         "secrets.OTHER",
		"secretsmanager:payroll/admin": "secrets.OTHER",
		"ssm:flotilla/prodx/db":        "secrets.OTHER",
		"ssm:arn:aws:ssm:us-east-1:123456789012:parameter/flotilla/dev/db": "secrets.OTHER",
	} {
		r.Secrets = map[string]string{"DB": "ssm:/flotilla/prod/db", "OTHER": ref}
		err := exec.CheckLaunch(ctx, r)
		var v *flotilla.ValidationError
		if !errors.As(err, &v) || len(v.Fields) != 1 || v.Fields[0].Field != field || !strings.Contains(v.Fields[0].Message, "flotilla/prod/") {
			t.Errorf("%s: %v, want one refusal of %s naming flotilla/prod/", ref, err, field)
		}
	}
	if err := awsecs.CheckSecrets("", "secrets", map[string]string{"X": "ssm:anything"}); err != nil {
		t.Errorf("no prefix: %v", err)
	}
	if n := b.fake.Calls()["RunTask"]; n != 0 {
		t.Errorf("%d RunTask calls reached ECS", n)
	}
}

// A definition's role goes into its task definition (a new revision when
// it changes); a role the caller may not pass fails the start for good,
// with a reason that says what to do.
func TestTaskRolePerDefinition(t *testing.T) {
	t.Parallel()
	const allowed, other = "arn:aws:iam::123456789012:role/flotilla-job-reader", "arn:aws:iam::123456789012:role/admin"
	b := setup(t, awsfake.ECSOptions{MayPassRole: func(role string) bool {
		return role != other
	}})
	ctx := context.Background()
	r := newRun(t)
	r.DefinitionID, r.TaskRoleARN = "def_01JDTASKROLE", allowed
	if _, err := b.exec.Start(ctx, r); err != nil {
		t.Fatal(err)
	}
	family := awsecs.Family(r.DefinitionID)
	if got := b.fake.LatestTaskDefinition(family)["taskRoleArn"]; got != allowed {
		t.Errorf("task definition taskRoleArn %v, want %s", got, allowed)
	}
	shared := newRunLike(t, r)
	shared.DefinitionID, shared.TaskRoleARN = r.DefinitionID, ""
	if _, err := b.exec.Start(ctx, shared); err != nil {
		t.Fatal(err)
	}
	if got := b.fake.LatestTaskDefinition(family)["taskRoleArn"]; got != testConfig.TaskRoleARN || b.fake.Registrations(family) != 2 {
		t.Errorf("without a role of its own: taskRoleArn %v after %d registrations, want the shared %q in a second revision", got, b.fake.Registrations(family), testConfig.TaskRoleARN)
	}
	denied := newRunLike(t, r)
	denied.DefinitionID, denied.TaskRoleARN = r.DefinitionID, other
	_, err := b.exec.Start(ctx, denied)
	var refused *awsecs.RefusedError
	if !errors.As(err, &refused) || !errors.Is(err, flotilla.ErrInvalid) || !strings.Contains(refused.Reason, "task_role_arn") ||
		!strings.Contains(refused.Reason, "flotilla:job_role_prefix") || !strings.Contains(refused.Reason, other) {
		t.Errorf("a role that cannot be passed: %v, want a refusal naming task_role_arn, the prefix setting and the role", err)
	}
}

func TestCheckTaskRole(t *testing.T) {
	for _, c := range []struct{ role, want string }{
		{"", ""},
		{"arn:aws:iam::123456789012:role/flotilla-job-reader", ""},
		{"arn:aws:iam::123456789012:role/teams/ml/flotilla-job-train", "at the root path"},
		{"arn:aws:iam::999999999999:role/flotilla-job-reader", "account 999999999999"},
		{"arn:aws:iam::123456789012:role/admin", "must start with flotilla-job-"},
		{"arn:aws:iam::123456789012:role/flotilla-job-/admin", "must start with flotilla-job-"},
		{"arn:aws:iam::123456789012:user/flotilla-job-x", "IAM role ARN"},
	} {
		err := awsecs.CheckTaskRole("123456789012", "flotilla-job-", c.role)
		var v *flotilla.ValidationError
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.role, err)
		case c.want != "" && (!errors.As(err, &v) || v.Fields[0].Field != "task_role_arn" || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: %v, want a task_role_arn error saying %q", c.role, err, c.want)
		}
	}
}

func TestCheckNotifySecrets(t *testing.T) {
	ok := []flotilla.NotifyTarget{{Webhook: "https://h.example/a", Secret: "ssm:/flotilla/prod/hook"}, {Email: "a@example.com"}}
	if err := awsecs.CheckNotifySecrets("flotilla/prod/", ok); err != nil {
		t.Errorf("in scope: %v", err)
	}
	bad := append(ok, flotilla.NotifyTarget{Webhook: "https://h.example/b", Secret: "secretsmanager:payroll/key"})
	err := awsecs.CheckNotifySecrets("flotilla/prod/", bad)
	var v *flotilla.ValidationError
	if !errors.As(err, &v) || len(v.Fields) != 1 || v.Fields[0].Field != "notify[2].secret" {
		t.Errorf("out of scope: %v, want one error on notify[2].secret", err)
	}
}

func TestCheckNotifyRefusesHTTPDeployed(t *testing.T) {
	err := awsecs.CheckNotifySecrets("", []flotilla.NotifyTarget{{Webhook: "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next"}})
	var v *flotilla.ValidationError
	if !errors.As(err, &v) || v.Fields[0].Field != "notify[0].webhook" {
		t.Errorf("an http:// webhook deployed: %v", err)
	}
}
