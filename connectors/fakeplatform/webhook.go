package fakeplatform

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/pilotx/dispatchhub/ingest/verify"
)

// WebhookCredential is the Standard Webhooks signing secret ("whsec_" + base64 of the key)
// the webhook receiver fake verifies with.
const WebhookCredential = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

const (
	webhookStateKey = "webhook.deliveries"
	webhookMaxBody  = 1 << 20
)

// NewWebhook starts a fake store endpoint receiving Standard Webhooks
// (https://www.standardwebhooks.com) on any path: a POST whose webhook-signature does not
// verify with WebhookCredential, or whose webhook-timestamp is out of the 5-minute window,
// gets 401. The signature is checked by ingest/verify's "standardwebhooks" preset, so what
// the fake accepts is what the hub's own edge accepts. The receiver de-duplicates by
// webhook-id: a new id applies "status:<data.status>" to the order data.external_ref with key
// webhook-id; the same id with the same body again is acknowledged with no effect, and the
// same id with a different body is recorded as a duplicate effect (a sender must not reuse
// an id for another message).
func NewWebhook(tb testing.TB) *Server {
	return New(tb, "webhook", WebhookCredential, webhookHandler{})
}

type webhookHandler struct{}

// rawBody keeps the bytes of a request body read before the handler, so that Order,
// Authorized and Serve read it once.
type rawBody struct {
	*bytes.Reader
	raw []byte
}

func (rawBody) Close() error { return nil }

// webhookBody returns r's body, reading it (up to webhookMaxBody) only the first time.
func webhookBody(r *http.Request) []byte {
	if rb, ok := r.Body.(rawBody); ok {
		return rb.raw
	}
	b, _ := io.ReadAll(io.LimitReader(r.Body, webhookMaxBody))
	_ = r.Body.Close()
	r.Body = rawBody{Reader: bytes.NewReader(b), raw: b}
	return b
}

func (webhookHandler) Order(r *http.Request) string {
	if r.Method != http.MethodPost {
		return ""
	}
	return gjson.GetBytes(webhookBody(r), "data.external_ref").String()
}

func (webhookHandler) Authorized(r *http.Request, credential string) bool {
	if r.Method != http.MethodPost {
		return true // answered 405 by Serve
	}
	p, ok := verify.Lookup("standardwebhooks")
	if !ok {
		return false
	}
	req := &verify.Request{Method: r.Method, URL: "http://" + r.Host + r.URL.RequestURI(), Header: r.Header,
		Body: webhookBody(r), Now: time.Now()}
	_, err := p.Verify(req, verify.Keys{Secrets: [][]byte{[]byte(credential)}}, 0)
	return err == nil
}

func (webhookHandler) Serve(s *Server, w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		WriteJSON(w, http.StatusMethodNotAllowed, `{"error":"method not allowed"}`)
		return
	}
	body := webhookBody(r)
	if !gjson.ValidBytes(body) {
		WriteJSON(w, http.StatusBadRequest, `{"error":"body is not JSON"}`)
		return
	}
	v := gjson.GetManyBytes(body, "type", "data.external_ref", "data.status")
	if v[0].String() == "" || v[1].String() == "" || v[2].String() == "" {
		WriteJSON(w, http.StatusBadRequest, `{"error":"type, data.external_ref and data.status are required"}`)
		return
	}
	id := r.Header.Get("Webhook-Id")
	sum := sha256.Sum256(body)
	var seen, same bool
	s.State(func(st map[string]any) {
		m, _ := st[webhookStateKey].(map[string][sha256.Size]byte)
		if m == nil {
			m = map[string][sha256.Size]byte{}
			st[webhookStateKey] = m
		}
		var prev [sha256.Size]byte
		prev, seen = m[id]
		same = seen && prev == sum
		if !seen {
			m[id] = sum
		}
	})
	if !same {
		s.Apply(v[1].String(), "status:"+v[2].String(), id)
	}
	WriteJSON(w, http.StatusOK, `{"received":true,"duplicate":`+strconv.FormatBool(seen)+`}`)
}

func (webhookHandler) Fail(s *Server, w http.ResponseWriter, r *http.Request, f Failure) {
	status := f.Status
	if status == 0 {
		status = http.StatusServiceUnavailable
	}
	body := f.Body
	if body == "" {
		body = `{"error":"` + http.StatusText(status) + `"}`
	}
	WriteJSON(w, status, body)
}
