// Package awsnotify is what a deployment's notifier function needs from
// AWS: a webhook's signing key from SSM Parameter Store or Secrets Manager,
// and e-mail through Amazon SES.
package awsnotify

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// SSM, SecretsManager and SES are the parts of the SDK clients used.
type SSM interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}
type SecretsManager interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}
type SES interface {
	SendEmail(ctx context.Context, in *sesv2.SendEmailInput, opts ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
}

// Keys reads signing keys.
type Keys struct {
	SSM            SSM
	SecretsManager SecretsManager
}

// SigningKey resolves "ssm:<name or ARN>" (GetParameter, decrypted: a
// SecureString's value, Systems Manager API Reference) or
// "secretsmanager:<name or ARN>" (GetSecretValue's SecretString, Secrets
// Manager API Reference).
func (k Keys) SigningKey(ctx context.Context, ref string) ([]byte, error) {
	src, name, ok := flotilla.SecretSource(ref)
	if !ok {
		return nil, fmt.Errorf("%q is not a secret reference", ref)
	}
	switch src {
	case flotilla.SecretRefSSM:
		out, err := k.SSM.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
		if err != nil {
			return nil, err
		}
		if out.Parameter == nil || aws.ToString(out.Parameter.Value) == "" {
			return nil, fmt.Errorf("parameter %s has no value", name)
		}
		return []byte(aws.ToString(out.Parameter.Value)), nil
	default:
		out, err := k.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
		if err != nil {
			return nil, err
		}
		if aws.ToString(out.SecretString) == "" {
			return nil, fmt.Errorf("secret %s has no string value", name)
		}
		return []byte(aws.ToString(out.SecretString)), nil
	}
}

// Mailer sends plain-text e-mail from From (an identity verified in SES:
// SES Developer Guide, "Verified identities") with SESv2 SendEmail.
type Mailer struct {
	SES  SES
	From string
}

// Send implements notify.Mailer.
func (m Mailer) Send(ctx context.Context, to, subject, body string) error {
	_, err := m.SES.SendEmail(ctx, &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(m.From),
		Destination:      &sestypes.Destination{ToAddresses: []string{to}},
		Content: &sestypes.EmailContent{Simple: &sestypes.Message{
			Subject: &sestypes.Content{Data: aws.String(subject), Charset: aws.String("UTF-8")},
			Body:    &sestypes.Body{Text: &sestypes.Content{Data: aws.String(body), Charset: aws.String("UTF-8")}},
		}},
	})
	return err
}
