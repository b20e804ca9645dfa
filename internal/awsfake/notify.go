package awsfake

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
)

// Secrets is a fake of SSM's GetParameter (JSON 1.1, AmazonSSM.GetParameter)
// and Secrets Manager's GetSecretValue (JSON 1.1,
// secretsmanager.GetSecretValue) over one map of names to values. A missing
// name is ParameterNotFound / ResourceNotFoundException, as the API
// references say. Only our fake shows these; serve it twice (one endpoint
// per service) or once for both.
type Secrets struct {
	mu     sync.Mutex
	values map[string]string
}

// NewSecrets returns a fake holding values by name (an SSM parameter name
// with its leading /, or a secret's name).
func NewSecrets(values map[string]string) *Secrets { return &Secrets{values: values} }

// ServeHTTP implements http.Handler.
func (f *Secrets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, typ, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
	}
	var in struct{ Name, SecretId string }
	body, _ := io.ReadAll(r.Body)
	json.Unmarshal(body, &in)
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.Header.Get("X-Amz-Target") {
	case "AmazonSSM.GetParameter":
		v, ok := f.values[in.Name]
		if !ok {
			fail(http.StatusBadRequest, "ParameterNotFound", "")
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		json.NewEncoder(w).Encode(map[string]any{"Parameter": map[string]any{"Name": in.Name, "Type": "SecureString", "Value": v, "Version": 1}})
	case "secretsmanager.GetSecretValue":
		v, ok := f.values[in.SecretId]
		if !ok {
			fail(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		json.NewEncoder(w).Encode(map[string]any{"Name": in.SecretId, "SecretString": v, "VersionId": "v1"})
	default:
		fail(http.StatusBadRequest, "UnknownOperationException", "the fake answers GetParameter and GetSecretValue only")
	}
}

// SES is a fake of SESv2's SendEmail (REST JSON, POST
// /v2/email/outbound-emails) that keeps what it is sent; a sender outside
// Verified is refused with MessageRejected ("Email address is not
// verified"), as SES refuses unverified identities. Only our fake shows this.
type SES struct {
	mu       sync.Mutex
	Verified []string
	sent     []SESMail
}

// SESMail is one e-mail as sent.
type SESMail struct {
	From, To, Subject, Body string
}

// Sent returns the e-mails accepted so far.
func (f *SES) Sent() []SESMail {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]SESMail(nil), f.sent...)
}

// ServeHTTP implements http.Handler.
func (f *SES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, typ, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-Errortype", typ)
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"message": msg})
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v2/email/outbound-emails" {
		fail(http.StatusNotFound, "NotFoundException", "the fake answers SendEmail only")
		return
	}
	var in struct {
		FromEmailAddress string
		Destination      struct{ ToAddresses []string }
		Content          struct {
			Simple struct {
				Subject struct{ Data string }
				Body    struct{ Text struct{ Data string } }
			}
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || len(in.Destination.ToAddresses) == 0 {
		fail(http.StatusBadRequest, "BadRequestException", "a destination is required")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	verified := false
	for _, v := range f.Verified {
		if v == in.FromEmailAddress || strings.HasSuffix(in.FromEmailAddress, "@"+v) {
			verified = true
		}
	}
	if !verified {
		fail(http.StatusBadRequest, "MessageRejected", "Email address is not verified. The following identities failed the check: "+in.FromEmailAddress)
		return
	}
	for _, to := range in.Destination.ToAddresses {
		f.sent = append(f.sent, SESMail{From: in.FromEmailAddress, To: to, Subject: in.Content.Simple.Subject.Data, Body: in.Content.Simple.Body.Text.Data})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"MessageId": "fake-message-id"})
}
