package flotilla

import (
	"fmt"
	"net/mail"
	"net/url"
	"strings"
)

// NotifyTarget is where a run's end is told: a webhook (an HTTPS URL that
// gets a POST of the run's RunChange, signed with HMAC-SHA256 when Secret
// names a key) or an e-mail address. Exactly one of Webhook and Email.
type NotifyTarget struct {
	Webhook string `json:"webhook,omitempty"`
	// Secret is a secret reference (ssm:… or secretsmanager:…, as in a
	// definition's secrets) whose value signs the webhook's body.
	Secret string `json:"secret,omitempty"`
	Email  string `json:"email,omitempty"`
}

// String names the target in the life story: the webhook's host and path
// (never its query, which often holds a token) or the address.
func (n NotifyTarget) String() string {
	if n.Email != "" {
		return n.Email
	}
	u, err := url.Parse(n.Webhook)
	if err != nil {
		return "webhook"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// MaxNotifyTargets bounds a definition's (and a launch's) targets.
const MaxNotifyTargets = 5

// SourceNotifier records what the notifier did in a run's life story.
const SourceNotifier EventSource = "notifier"

func validateNotify(v *ValidationError, field string, targets []NotifyTarget) {
	if len(targets) > MaxNotifyTargets {
		v.Add(field, "must have at most %d targets", MaxNotifyTargets)
		return
	}
	for i, n := range targets {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case (n.Webhook == "") == (n.Email == ""):
			v.Add(f, "must name exactly one of webhook and email")
		case n.Webhook != "":
			u, err := url.Parse(n.Webhook)
			local := err == nil && u.Scheme == "http" && (u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1" || u.Hostname() == "::1")
			if err != nil || len(n.Webhook) > 2048 || u.Host == "" || u.User != nil || (u.Scheme != "https" && !local) {
				v.Add(f+".webhook", "must be an https:// URL of at most 2048 characters (http:// only to localhost), without credentials")
			}
			if n.Secret != "" {
				if _, _, ok := SecretSource(n.Secret); !ok {
					v.Add(f+".secret", "must be ssm:<parameter name or ARN> or secretsmanager:<ARN or name>")
				}
			}
		default:
			a, err := mail.ParseAddress(n.Email)
			if err != nil || a.Address != n.Email || len(n.Email) > 254 || strings.ContainsAny(n.Email, "\r\n") {
				v.Add(f+".email", "must be one e-mail address, like ann@example.com")
			}
			if n.Secret != "" {
				v.Add(f+".secret", "applies to webhooks only")
			}
		}
	}
}

// ValidateNotify checks a launch's notify targets (a definition's are
// checked by Validate).
func ValidateNotify(field string, targets []NotifyTarget) error {
	v := &ValidationError{}
	validateNotify(v, field, targets)
	return v.Err()
}
