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
