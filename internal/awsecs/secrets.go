package awsecs

import (
	"fmt"
	"strings"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// SecretName is the SSM parameter name or Secrets Manager secret name a
// secret reference points at, with a leading "/", an ARN's prefix and a
// Secrets Manager ARN's JSON-key, version and random suffixes taken off,
// as IAM sees it in the resource ARN: parameter/<name> (a parameter named
// "/a/b" has the ARN …:parameter/a/b) and secret:<name>-<6 random
// characters> (Systems Manager User Guide, "Working with parameter
// hierarchies"; Secrets Manager User Guide, "Secret ARNs"; ECS Developer
// Guide, "Pass sensitive data to an Amazon ECS container": valueFrom takes
// a name or an ARN, and for Secrets Manager ARN:json-key:version-stage:version-id).
func SecretName(ref string) (source, name string, ok bool) {
	source, name, ok = flotilla.SecretSource(ref)
	if !ok {
		return "", "", false
	}
	switch source {
	case flotilla.SecretRefSSM:
		if strings.HasPrefix(name, "arn:") {
			_, after, found := strings.Cut(name, ":parameter/")
			if !found {
				return "", "", false
			}
			name = after
		}
		name = strings.TrimPrefix(name, "/")
	case flotilla.SecretRefSecretsManager:
		if strings.HasPrefix(name, "arn:") {
			_, after, found := strings.Cut(name, ":secret:")
			if !found {
				return "", "", false
			}
			name, _, _ = strings.Cut(after, ":") // json-key, version stage, version id
		}
	}
	return source, name, name != ""
}

// CheckSecrets refuses every reference of refs (field.<NAME>) whose
// parameter or secret name does not start with prefix: the deployment's
// task execution role may read only those (infra/stack.go), so ECS would
// stop the task with a ResourceInitializationError at every attempt. An
// empty prefix allows any name.
func CheckSecrets(prefix, field string, refs map[string]string) error {
	if prefix == "" {
		return nil
	}
	v := &flotilla.ValidationError{}
	for k, ref := range refs {
		if _, name, ok := SecretName(ref); ok && !strings.HasPrefix(name, prefix) {
			v.Add(field+"."+k, "%q is outside this deployment's secrets: its jobs may read only SSM parameters and Secrets Manager secrets named %s… (ask an admin to create it there)", name, prefix)
		}
	}
	return v.Err()
}

// CheckTaskRole refuses a definition's task_role_arn that the deployment
// cannot pass to ECS: a role of another account than account (when known),
// or, when prefix is set, one that is not role/<prefix>…, at the root path,
// which is all the functions' iam:PassRole allows (infra/stack.go).
func CheckTaskRole(account, prefix, roleARN string) error {
	if roleARN == "" {
		return nil
	}
	parts := strings.SplitN(roleARN, ":", 6)
	if len(parts) != 6 || !strings.HasPrefix(parts[5], "role/") {
		return flotilla.Invalid("task_role_arn", "must be an IAM role ARN, arn:aws:iam::<12-digit account>:role/<name>")
	}
	if account != "" && parts[4] != account {
		return flotilla.Invalid("task_role_arn", "the role is in account %s; this deployment runs jobs in account %s and may pass only its own roles", parts[4], account)
	}
	name := strings.TrimPrefix(parts[5], "role/")
	if prefix != "" && (!strings.HasPrefix(name, prefix) || strings.Contains(name, "/")) {
		return flotilla.Invalid("task_role_arn", "the role %s is not one this deployment may pass to jobs: its name must start with %s, at the root path (cdk.json flotilla:job_role_prefix)", name, prefix)
	}
	return nil
}

// AccountOf is the account id in an ARN, "" when s is not one.
func AccountOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return ""
	}
	return parts[4]
}

// CheckNotifySecrets is a deployment's check of notify targets: webhooks
// over https only (the http:// a local server allows reaches only
// localhost, which for the notifier function is its own runtime API), and
// signing keys within prefix, as CheckSecrets does for a job's secrets
// (the notifier reads only those).
func CheckNotifySecrets(prefix string, targets []flotilla.NotifyTarget) error {
	v := &flotilla.ValidationError{}
	for i, t := range targets {
		if strings.HasPrefix(strings.ToLower(t.Webhook), "http://") {
			v.Add(fmt.Sprintf("notify[%d].webhook", i), "must be an https:// URL: a deployment's notifier does not call http:// (localhost is its own runtime)")
		}
		if t.Secret == "" || prefix == "" {
			continue
		}
		if _, name, ok := SecretName(t.Secret); ok && !strings.HasPrefix(name, prefix) {
			v.Add(fmt.Sprintf("notify[%d].secret", i), "%q is outside this deployment's secrets: its notifier may read only SSM parameters and Secrets Manager secrets named %s…", name, prefix)
		}
	}
	return v.Err()
}
